//! simpel-sim: a SIMPEL-like ticket API for tests and the demo box
//! (SYNC-4). SIMPEL's real API is not public; this one is what the
//! default `[sync]` mapping speaks. It keeps its state in its own SQLite
//! file, honours `Idempotency-Key` (the same key gets the same answer and
//! never a second write), makes status changes on its side on request,
//! and fails on purpose as its fault plan says.
//!
//! ```text
//! simpel-sim --listen 127.0.0.1:8700 --db sim.db [--faults plan.json] [--api-key KEY]
//! ```
//! It prints `listening on ADDR` once it serves.

mod db;
mod faults;
mod http;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "A SIMPEL-like ticket API with scripted faults")]
struct Args {
    /// Address to serve on (loopback for tests).
    #[arg(long, default_value = "127.0.0.1:8700")]
    listen: std::net::SocketAddr,
    /// The SQLite file of its state.
    #[arg(long)]
    db: PathBuf,
    /// A fault plan (JSON, see `faults.rs`); `PUT /admin/faults` replaces it.
    #[arg(long)]
    faults: Option<PathBuf>,
    /// When set, `/api` requests need this in `X-API-Key`.
    #[arg(long)]
    api_key: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simpel-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let plan = match &args.faults {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)?,
        None => faults::Plan::default(),
    };
    let db = db::Db::open(&args.db)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(http::serve(args.listen, db, plan, args.api_key))
}
