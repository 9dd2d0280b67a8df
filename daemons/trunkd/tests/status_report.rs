//! trunkd's span reports against a stand-in for pbxd's control socket (a
//! real Unix socket speaking the control protocol): the report arrives
//! after the hello, a change is sent, and when pbxd goes away (restarts)
//! the reporter connects again and says it all anew (decision 0024).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use dering_control::{
    ChannelCounts, Reply, Request, Response, SpanAlarm, SpanKind, SpanReport, SpanSide, PROTOCOL,
};
use trunkd::status::{Reporter, REPORTER};

fn report(alarm: SpanAlarm) -> SpanReport {
    SpanReport {
        name: "telkom".into(),
        kind: SpanKind::E1,
        side: SpanSide::User,
        alarm,
        dchannel_up: Some(alarm == SpanAlarm::None),
        channels: ChannelCounts {
            idle: 30,
            ..ChannelCounts::default()
        },
    }
}

/// One accepted client, as pbxd serves it.
struct Conn {
    rd: BufReader<UnixStream>,
    wr: UnixStream,
}

impl Conn {
    fn accept(l: &UnixListener) -> Conn {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Conn {
            rd: BufReader::new(s.try_clone().unwrap()),
            wr: s,
        };
        assert_eq!(c.request(), Request::Hello { protocol: PROTOCOL });
        c.reply(Response::Hello {
            protocol: PROTOCOL,
            pbxd: "test".into(),
        });
        c
    }

    fn request(&mut self) -> Request {
        let mut line = String::new();
        let n = self.rd.read_line(&mut line).unwrap();
        assert!(n > 0, "the reporter closed the connection");
        serde_json::from_str(&line).unwrap()
    }

    fn reply(&mut self, r: Response) {
        let line = Reply::new(Ok(r)).line() + "\n";
        self.wr.write_all(line.as_bytes()).unwrap();
    }

    /// The next report naming a span (the very first may be sent before
    /// the shell offered any), acknowledged.
    fn report(&mut self) -> Vec<SpanReport> {
        for _ in 0..4 {
            let Request::ReportSpans { reporter, spans } = self.request() else {
                panic!("not a report")
            };
            assert_eq!(reporter, REPORTER);
            self.reply(Response::Done);
            if !spans.is_empty() {
                return spans;
            }
        }
        panic!("no report with a span")
    }
}

#[test]
fn reports_follow_changes_and_survive_a_pbxd_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dering_control::client::socket_path(dir.path());
    let listener = UnixListener::bind(&path).unwrap();
    let reporter = Reporter::start(dir.path().to_path_buf()).unwrap();
    reporter.offer(vec![report(SpanAlarm::None)]);

    let mut c = Conn::accept(&listener);
    assert_eq!(c.report(), [report(SpanAlarm::None)]);
    reporter.offer(vec![report(SpanAlarm::Red)]);
    assert_eq!(c.report(), [report(SpanAlarm::Red)]);

    // pbxd restarts: the socket is closed and made anew.
    drop(c);
    drop(listener);
    std::fs::remove_file(&path).unwrap();
    let listener = UnixListener::bind(&path).unwrap();
    let mut c = Conn::accept(&listener);
    assert_eq!(
        c.report(),
        [report(SpanAlarm::Red)],
        "the new pbxd hears the spans as they are"
    );
    // The heartbeat: the same report again, unasked.
    assert_eq!(c.report(), [report(SpanAlarm::Red)]);
}
