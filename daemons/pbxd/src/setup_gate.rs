//! Nothing serves SIP on a public address until first-boot setup is done
//! (issue 17 §3, decision 0034). A box fresh from its image binds every
//! address (`[sip] bind = "0.0.0.0"`) and takes DHCP on every wired port,
//! but has no admin yet and only the demo's extensions: until the store
//! says setup is finished, pbxd binds loopback instead, and says so
//! loudly. When the setup's last step marks it done, pbxd stops cleanly
//! and exits with [`RESTART_EXIT`], which its unit restarts at once
//! (`RestartForceExitStatus=`), to bind the configured address: the
//! sockets are bound once at start, and a restart right after setup has no
//! calls to cut.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// The exit status that asks systemd for a restart after setup
/// (EX_TEMPFAIL: "try again"; the unit lists it as a success too, so it
/// is not counted as a failure).
pub const RESTART_EXIT: u8 = 75;

/// How often a gated pbxd looks whether setup is done.
const POLL: Duration = Duration::from_secs(1);

/// The address to bind: `configured`, or loopback of its family while
/// setup is not done and `configured` is not loopback already.
pub fn address(configured: IpAddr, setup_done: bool) -> IpAddr {
    if setup_done || configured.is_loopback() {
        return configured;
    }
    match configured {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// Resolves once the store at `db` says setup is done. A database that
/// cannot be read is logged and tried again: the gate stays shut.
pub async fn setup_finished(db: PathBuf) {
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        let path = db.clone();
        let done = tokio::task::spawn_blocking(move || {
            dering_store::Store::open(&path).and_then(|s| s.setup_done())
        })
        .await;
        match done {
            Ok(Ok(Some(done))) => {
                tracing::warn!(by = %done.by, "first-boot setup is done: restarting to serve SIP on the configured address");
                return;
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read whether setup is done"),
            Err(e) => tracing::warn!(error = %e, "setup check task"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_box_set_up_binds_a_public_address() {
        let any4 = IpAddr::from([0, 0, 0, 0]);
        let lan = IpAddr::from([192, 0, 2, 10]);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let lo = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(address(any4, false), lo);
        assert_eq!(address(lan, false), lo);
        assert_eq!(address(any6, false), IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(address(any4, true), any4);
        assert_eq!(address(lan, true), lan);
        let lo2 = IpAddr::from([127, 0, 0, 2]);
        assert_eq!(address(lo2, false), lo2);
    }

    #[tokio::test]
    async fn the_wait_ends_when_setup_is_marked_done() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("dering.db");
        let store = dering_store::Store::open(&db).expect("open");
        let wait = tokio::spawn(setup_finished(db));
        store.mark_setup_done(1, "test").expect("mark");
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("the wait ended")
            .expect("task");
    }
}
