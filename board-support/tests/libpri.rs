//! libpri, the PRI stack of Asterisk, as the network side (the carrier's
//! exchange) on the far end of the simulated board's D-channel, and our
//! Q.921/Q.931 user side on the near end, driven through the `DChannel`
//! trait as trunkd drives it (TRK-1, issue 14). The harness is the one the
//! isdn crate's interop test builds (`crates/isdn/tests/libpri/`), here
//! listening on a socket the simulated span connects to.
//!
//! A call is placed and answered; then the line is cut: the span goes red,
//! the D-channel and the call's B-channel report the alarm, and the data
//! link fails over its own timers. The line is mended: NOALARM, the link
//! is brought up again, the call that was active survives (T309), and a
//! second call is answered.
// The helpers outside #[test] functions fail the test on a broken setup
// (no socket, no gcc); clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dering_board::sim::{connect_seqpacket, SimE1};
use dering_board::{Alarms, BChannel, ChannelEvent, DChannel, Incoming, Span, BLOCK_LEN};
use dering_isdn::q921::{self, Config, Link, Role};
use dering_isdn::q931::{
    self, CallControl, CallId, ChannelId, ChannelSel, PartyNumber, SetupRequest, Side, Timers,
    TypeOfNumber,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Kills the harness when the test ends, however it ends.
struct Harness(Child, PathBuf);

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Harness {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

fn start_harness(dir: &Path, sock: &Path) -> Harness {
    assert!(
        Path::new("/usr/include/libpri.h").exists(),
        "libpri-dev is not installed: run `bash .ci/install-peers` (the README's test command does)"
    );
    let bin = dir.join("pri_harness");
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/isdn/tests/libpri/pri_harness.c");
    let out = Command::new("gcc")
        .args(["-O1", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg("-lpri")
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.join("harness.log");
    let child = Command::new(&bin)
        .args(["-m", "net", "-l", "-t", "60", "-s"])
        .arg(sock)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Harness(child, log)
}

/// Our user side of the PRI: the span, the data link and call control,
/// carried the way trunkd carries them.
struct UserSide {
    e1: SimE1,
    link: Link,
    cc: CallControl,
    /// Whether call control was told the link is up.
    up: bool,
    link_events: Vec<q921::Event>,
    call_events: Vec<q931::Event>,
    d_events: Vec<ChannelEvent>,
}

impl UserSide {
    /// One round: what the D-channel has, the timers, what the machines
    /// want sent; then wait up to 20 ms for the far end.
    fn step(&mut self) {
        let now = Instant::now();
        while let Some(got) = self.e1.dchannel.recv().unwrap() {
            match got {
                Incoming::Data(frame) => self.link.handle_frame(now, &frame),
                Incoming::Event(e) => {
                    // The span is back: bring the link up at once rather
                    // than wait for the peer.
                    if e == ChannelEvent::NoAlarm && !self.link.is_established() {
                        self.link.establish(now);
                    }
                    self.d_events.push(e);
                }
            }
        }
        self.link.handle_timeout(now);
        self.cc.handle_timeout(now);
        while let Some(e) = self.link.poll_event() {
            if let q921::Event::Data(d) = &e {
                self.cc.handle_bytes(now, d);
            }
            self.link_events.push(e);
        }
        if self.link.is_established() != self.up {
            self.up = self.link.is_established();
            if self.up {
                self.cc.link_up(now);
            } else {
                self.cc.link_down(now);
            }
        }
        while let Some(m) = self.cc.poll_message() {
            self.link.send(now, m.encode()).unwrap();
        }
        while let Some(f) = self.link.poll_transmit() {
            self.e1.dchannel.send(&f).unwrap();
        }
        while let Some(e) = self.cc.poll_event() {
            self.call_events.push(e);
        }
        let mut fds = [PollFd::new(self.e1.dchannel.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(20u8));
    }

    /// Steps until `done` or `limit`; whether `done` held.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&UserSide) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    fn call(&mut self, ts: u8) -> CallId {
        self.cc
            .setup(
                Instant::now(),
                SetupRequest {
                    called: PartyNumber::e164(TypeOfNumber::Unknown, "137"),
                    calling: Some(PartyNumber::e164(TypeOfNumber::National, "215550")),
                    channel: ChannelId {
                        exclusive: true,
                        channel: ChannelSel::BChannel(ts),
                    },
                    sending_complete: true,
                },
            )
            .unwrap()
    }

    fn connected(&self, call: CallId) -> bool {
        self.call_events.contains(&q931::Event::Connected { call })
    }
}

#[test]
fn libpri_network_side_over_the_simulated_d_channel_survives_a_line_cut() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("board-libpri");
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("pri.sock");
    let _ = std::fs::remove_file(&sock);
    let harness = start_harness(&dir, &sock);
    let deadline = Instant::now() + Duration::from_secs(10);
    let far = loop {
        match connect_seqpacket(&sock) {
            Ok(fd) => break fd,
            Err(e) => assert!(
                Instant::now() < deadline,
                "harness never listened ({e}):\n{}",
                harness.log()
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let now = Instant::now();
    // T203 shortened so the cut is noticed in seconds, not tens of them.
    let config = Config {
        t203: Duration::from_secs(2),
        ..Config::default()
    };
    let mut us = UserSide {
        e1: SimE1::new(1, far).unwrap(),
        link: Link::new(Role::User, config, now),
        cc: CallControl::new(Side::User, Timers::default()),
        up: false,
        link_events: Vec::new(),
        call_events: Vec::new(),
        d_events: Vec::new(),
    };
    us.link.establish(now);
    let up = us.run_until(Duration::from_secs(10), |u| u.link.is_established());
    assert!(up, "no link; {:?}\n{}", us.link_events, harness.log());
    // libpri's own SABME went out before we connected; the collision
    // settles within its T200 (see the isdn crate's libpri test): wait
    // until the link has been quiet for more than that T200 (1 s).
    let t = Instant::now();
    loop {
        let before = us.link_events.len();
        us.run_until(Duration::from_millis(1200), |_| false);
        if us.link_events.len() == before || t.elapsed() > Duration::from_secs(6) {
            break;
        }
    }

    // A call on timeslot 1, answered by libpri.
    let first = us.call(1);
    let answered = us.run_until(Duration::from_secs(10), |u| u.connected(first));
    assert!(
        answered,
        "no CONNECT; {:?}\n{}",
        us.call_events,
        harness.log()
    );
    assert!(us.call_events.contains(&q931::Event::Proceeding {
        call: first,
        channel: Some(1)
    }));
    let b1 = &mut us.e1.bchannels[0];
    us.e1.line.send_audio(1, &[0x55; BLOCK_LEN]);
    assert_eq!(b1.recv().unwrap(), Some(Incoming::Data([0x55; BLOCK_LEN])));

    // The line is cut mid-call.
    us.e1.line.cut();
    let alarms = us.e1.span.status().unwrap().alarms;
    assert!(alarms.contains(Alarms::RED | Alarms::LOS), "{alarms:?}");
    assert_eq!(
        us.e1.bchannels[0].recv().unwrap(),
        Some(Incoming::Event(ChannelEvent::Alarm))
    );
    us.e1.line.send_audio(1, &[0x55; BLOCK_LEN]);
    assert_eq!(
        us.e1.bchannels[0].recv().unwrap(),
        None,
        "audio after the cut"
    );
    let lost = us.run_until(Duration::from_secs(15), |u| !u.link.is_established());
    assert!(lost, "link still up after the cut; {:?}", us.link_events);
    assert!(
        us.d_events.contains(&ChannelEvent::Alarm),
        "{:?}",
        us.d_events
    );
    // Active when the link went: kept for T309 (Q.931 5.8.8).
    assert_eq!(us.cc.state(first), 10);

    // Mended: NOALARM, the link comes back, the call is still there, and
    // a second call goes through.
    us.e1.line.restore();
    assert!(us.e1.span.status().unwrap().alarms.is_clear());
    let back = us.run_until(Duration::from_secs(10), |u| u.link.is_established());
    assert!(
        back,
        "link not re-established; {:?}\n{}",
        us.link_events,
        harness.log()
    );
    assert_eq!(us.d_events.last(), Some(&ChannelEvent::NoAlarm));
    let second = us.call(2);
    let answered = us.run_until(Duration::from_secs(10), |u| u.connected(second));
    assert!(
        answered,
        "no CONNECT after the repair; {:?}\n{}",
        us.call_events,
        harness.log()
    );
    assert_eq!(us.cc.state(first), 10, "{:?}", us.call_events);
    let log = harness.log();
    assert!(!log.contains("libpri ERROR"), "{log}");
}
