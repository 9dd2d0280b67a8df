//! The shutdown steps, each carried out on its own task and reported back
//! to the loop; and the two things powerd asks of pbxd on the way.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use dering_config::Power;
use dering_control::client::{self, ClientError};
use dering_control::{Event, Request};
use dering_power::Step;
use dering_store::PowerEventRow;
use tokio::sync::mpsc;

/// Stops the daemons other than pbxd and powerd. A real box runs
/// `[power] stop_command`; `dering up` stops its in-process daemons.
pub type StopOthers =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// `[power] stop_command` as a [`StopOthers`].
pub fn stop_command(argv: Vec<String>) -> StopOthers {
    Arc::new(move || {
        let argv = argv.clone();
        Box::pin(async move { run_command(&argv).await })
    })
}

/// Retry-After given to callers while intake is closed: past the grace
/// period and the power-off, so phones do not hammer a stopping box.
const RETRY_AFTER: u32 = 600;

pub struct Runner {
    data_dir: PathBuf,
    power: Power,
    stop_others: StopOthers,
}

impl Runner {
    pub fn new(data_dir: PathBuf, power: Power, stop_others: StopOthers) -> Runner {
        Runner {
            data_dir,
            power,
            stop_others,
        }
    }

    pub fn spawn(&self, step: Step, done: mpsc::Sender<(Step, Result<(), String>)>) {
        let data_dir = self.data_dir.clone();
        let poweroff = self.power.poweroff_command.clone();
        let stop_others = self.stop_others.clone();
        tracing::warn!(?step, "shutdown step");
        tokio::spawn(async move {
            let r = match step {
                Step::CloseIntake => {
                    control(
                        &data_dir,
                        Request::CloseIntake {
                            retry_after_seconds: RETRY_AFTER,
                        },
                    )
                    .await
                }
                Step::ReopenIntake => control(&data_dir, Request::OpenIntake).await,
                Step::StopPbx => stop_pbx(&data_dir).await,
                Step::StopDaemons => stop_others().await,
                Step::PowerOff => run_command(&poweroff).await,
            };
            if let Err(e) = &r {
                tracing::error!(?step, error = %e, "shutdown step failed");
            }
            let _ = done.send((step, r)).await;
        });
    }
}

async fn control(data_dir: &Path, req: Request) -> Result<(), String> {
    let mut c = client::Client::connect(data_dir)
        .await
        .map_err(|e| e.to_string())?;
    c.act(&req).await.map_err(|e| e.to_string())
}

async fn stop_pbx(data_dir: &Path) -> Result<(), String> {
    match client::shutdown(data_dir, "power: UPS battery running out").await {
        Ok(s) if s.checkpointed => {
            tracing::warn!(calls_ended = s.calls_ended, "pbxd stopped and checkpointed");
            Ok(())
        }
        Ok(s) => Err(format!(
            "pbxd stopped ({} calls ended) but the database checkpoint failed",
            s.calls_ended
        )),
        // Already gone: nothing is left to stop, but say so.
        Err(ClientError::Connect { .. }) => Err("pbxd was not running".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// pbxd's calls in progress, when pbxd answers.
pub async fn active_calls(data_dir: &Path) -> Option<usize> {
    client::status(data_dir).await.ok().map(|s| s.active_calls)
}

/// Publishes a stored power event on pbxd's event stream (best effort:
/// the row in SQLite is the record).
pub async fn publish(data_dir: &Path, row: PowerEventRow) {
    let event = Event::Power {
        at_ms: row.at_ms,
        kind: row.kind,
        alarm: row.alarm,
        detail: row.detail,
    };
    if let Err(e) = client::publish(data_dir, event).await {
        tracing::debug!(error = %e, "power event not published");
    }
}

/// Runs `argv` (no shell) and waits for it.
pub async fn run_command(argv: &[String]) -> Result<(), String> {
    let Some((prog, args)) = argv.split_first() else {
        return Err("empty command".into());
    };
    let status = tokio::process::Command::new(prog)
        .args(args)
        .status()
        .await
        .map_err(|e| format!("{prog}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{prog}: {status}"))
    }
}
