//! RFC 4733 telephone-events as pbxd receives them: the RTP packet parsed,
//! its payload read as a report when its type is the leg's negotiated
//! telephone-event, and the report given to the leg's `Receiver`, which
//! turns retransmissions, lost packets and long-press segments into key
//! presses (the IVR's `LocalMedia::on_rtp`, the relay's in-call key watch).
//!
//! The input is a run of RTP packets, each preceded by its length in one
//! byte; payload type 101 is telephone-event, as Dering offers it.
#![no_main]

use dering_media::rfc4733::{digit_of, KeyEvent, Receiver, Report};
use dering_media::rtp::parse_rtp;
use libfuzzer_sys::fuzz_target;

const EVENT_PT: u8 = 101;

fuzz_target!(|data: &[u8]| {
    let mut receiver = Receiver::new();
    // Whether a key is down: every Up must follow a Down of that key.
    let mut down: Option<char> = None;
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (pkt, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        let Some(rtp) = parse_rtp(pkt).filter(|r| r.pt == EVENT_PT) else {
            continue;
        };
        let Some(report) = Report::parse(rtp.payload) else {
            continue;
        };
        assert_eq!(Report::parse(&report.to_bytes()), Some(report));
        for e in receiver.on_report(rtp.timestamp, report) {
            match e {
                KeyEvent::Down { digit, .. } => {
                    assert_eq!(down, None, "{digit} down while {down:?} is");
                    assert!(digit_of(report.event).is_some());
                    down = Some(digit);
                }
                KeyEvent::Up { digit, .. } => {
                    assert_eq!(down, Some(digit), "{digit} up without its down");
                    down = None;
                }
            }
        }
    }
});
