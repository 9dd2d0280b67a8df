//! syncd tells the outbox page how its link to SIMPEL stands (SYNC-3):
//! with SIMPEL down its heartbeat says the breaker is open, with
//! the error and until when; once SIMPEL answers again the probe closes
//! the breaker, the rows go, and the heartbeat says when the last one was
//! accepted. A real syncd, a real SQLite file and a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dering_store::tickets::{self, BreakerState, NewTicket, Sla, SyncdBeat};

fn beat(db: &Path) -> Option<SyncdBeat> {
    let store = rusqlite::Connection::open(db).ok()?;
    tickets::syncd_beat(&store).ok()?
}

fn wait_for(db: &Path, what: &str, ok: impl Fn(&SyncdBeat) -> bool) -> SyncdBeat {
    let t = Instant::now();
    loop {
        if let Some(b) = beat(db).filter(|b| ok(b)) {
            return b;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{what}: the last heartbeat was {:?}",
            beat(db)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A SIMPEL on `listener` that, while `up`, accepts every request with a
/// new id, one connection at a time, until the test ends; while not, it
/// closes each connection unanswered (a reset), as a SIMPEL whose
/// service is down behind its load balancer does. The port stays bound
/// throughout, so nothing else on the machine can take it meanwhile.
fn serve_simpel(listener: TcpListener, up: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(conn) = conn else { continue };
            if !up.load(Ordering::SeqCst) {
                drop(conn);
                continue;
            }
            let mut r = BufReader::new(conn);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = r.read_exact(&mut body);
            let answer = format!("{{\"id\": \"SIMPEL-{n}\"}}");
            let _ = write!(
                r.get_mut(),
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
}

#[test]
fn the_heartbeat_says_the_breaker_opened_and_closed_again() {
    let dir = tempfile::tempdir().unwrap();
    // SIMPEL is down: every attempt is cut unanswered.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let up = Arc::new(AtomicBool::new(false));
    serve_simpel(listener, up.clone());
    support::configure(
        dir.path(),
        &format!(
            "endpoint = \"http://127.0.0.1:{port}\"\ntimeout_ms = 2000\n\
             breaker_failures = 2\nbreaker_open_ms = 1500\nbackoff_base_ms = 100\n\
             backoff_max_ms = 400\npoll_interval_ms = 600000"
        ),
    );
    let db = dir.path().join("data/dering.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let mut store = dering_store::Store::open(&db).unwrap();
    for phone in ["0811000001", "0811000002", "0811000003"] {
        let t = NewTicket::complaint("Siti", phone, "izin tertahan");
        store
            .create_ticket(&t, "agent1", &Sla::default(), 1)
            .unwrap();
    }
    drop(store);

    let mut syncd = support::syncd(dir.path()).spawn().unwrap();
    support::wait_serving(dir.path(), &mut syncd);

    let open = wait_for(&db, "the breaker never opened", |b| {
        b.link.as_ref().map(|l| l.breaker) == Some(BreakerState::Open)
    });
    let link = open.link.unwrap();
    assert!(!open.stopped);
    assert!(link.failures >= 2, "{link:?}");
    assert!(
        link.open_until_ms.is_some_and(|t| t > 0),
        "an open breaker says until when: {link:?}"
    );
    let error = link.last_error.clone().unwrap_or_default();
    assert!(!error.is_empty(), "{link:?}");
    assert!(link.last_error_ms.is_some(), "{link:?}");
    assert_eq!(link.last_delivered_ms, None, "nothing reached SIMPEL");

    // SIMPEL is back: the probe closes the breaker and every row goes.
    up.store(true, Ordering::SeqCst);
    let closed = wait_for(&db, "the breaker never closed", |b| {
        b.link.as_ref().is_some_and(|l| {
            l.breaker == BreakerState::Closed && l.last_delivered_ms.is_some() && l.failures == 0
        })
    });
    let link = closed.link.unwrap();
    assert_eq!(link.open_until_ms, None);
    assert_eq!(
        link.last_error.as_deref(),
        Some(error.as_str()),
        "the last failure stays for the technician"
    );
    let t = Instant::now();
    loop {
        let c = rusqlite::Connection::open(&db).unwrap();
        if tickets::outbox_counts(&c).unwrap().pending == 0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "rows still pending");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = syncd.kill();
    let _ = syncd.wait();
}
