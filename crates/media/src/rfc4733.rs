//! RFC 4733 telephone-events (DTMF as RTP, "RFC 2833"): the payload, a
//! sender that produces the packets of one key press, and a receiver that
//! turns a stream of reports (with retransmitted ends, lost starts and
//! long events cut into segments) into exactly one press per key.
//!
//! Timestamps and durations are in RTP clock units (8 kHz for
//! telephone-event/8000).

/// The event codes 0–15: digits, `*`, `#`, A–D (RFC 4733 §3.2).
pub const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

/// The digit of an event code, if it is one.
pub fn digit_of(event: u8) -> Option<char> {
    DIGITS.get(usize::from(event)).map(|c| char::from(*c))
}

pub fn event_of(digit: char) -> Option<u8> {
    DIGITS
        .iter()
        .position(|c| char::from(*c) == digit.to_ascii_uppercase())
        .map(|p| p as u8)
}

/// One event report (the 4-byte payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub event: u8,
    pub end: bool,
    /// Power level, 0 to −63 dBm0, as a positive number.
    pub volume: u8,
    pub duration: u16,
}

impl Report {
    pub fn parse(payload: &[u8]) -> Option<Report> {
        let p: &[u8; 4] = payload.get(..4)?.try_into().ok()?;
        Some(Report {
            event: p[0],
            end: p[1] & 0x80 != 0,
            volume: p[1] & 0x3F,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// A packet the sender wants on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutPacket {
    /// The RTP timestamp: the event's start (the segment's, for long ones).
    pub timestamp: u32,
    /// The RTP marker bit: set on the first packet of an event.
    pub marker: bool,
    pub report: Report,
}

/// The packets of one key press of `duration` clock units starting at
/// `timestamp`: a report every `interval` units (50 ms is usual), then
/// the end report three times (§2.5.1.4). Presses longer than the 16-bit
/// duration field are cut into segments, each with a new timestamp and
/// no end bit but on the last (§2.5.1.3).
pub fn press(
    event: u8,
    timestamp: u32,
    duration: u32,
    interval: u32,
    volume: u8,
) -> Vec<OutPacket> {
    const MAX: u32 = 0xFFFF;
    let mut out = Vec::new();
    let mut seg_start = timestamp;
    let mut left = duration.max(1);
    let mut first = true;
    while left > 0 {
        let seg = left.min(MAX);
        let last_segment = seg == left;
        let mut d = interval.min(seg);
        loop {
            let done = d >= seg;
            let end = done && last_segment;
            let report = Report {
                event,
                end,
                volume,
                duration: d.min(MAX) as u16,
            };
            let copies = if end { 3 } else { 1 };
            for _ in 0..copies {
                out.push(OutPacket {
                    timestamp: seg_start,
                    marker: first,
                    report,
                });
                first = false;
            }
            if done {
                break;
            }
            d = (d + interval).min(seg);
        }
        seg_start = seg_start.wrapping_add(seg);
        left -= seg;
    }
    out
}

/// What the receiver makes of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// A key went down (reported once, at the first report seen).
    Down { digit: char, timestamp: u32 },
    /// The key came up after `duration` clock units (reported once).
    Up { digit: char, duration: u32 },
}

/// Turns reports into key presses.
#[derive(Debug, Default)]
pub struct Receiver {
    current: Option<Current>,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    event: u8,
    /// The timestamp of the segment being reported.
    timestamp: u32,
    /// Duration of the segments before this one.
    before: u32,
    duration: u16,
    ended: bool,
}

impl Receiver {
    pub fn new() -> Receiver {
        Receiver::default()
    }

    /// Takes the report of an RTP packet with `timestamp`. Reports of
    /// unknown events (not 0–15) are ignored.
    pub fn on_report(&mut self, timestamp: u32, r: Report) -> Vec<KeyEvent> {
        let mut out = Vec::new();
        let Some(digit) = digit_of(r.event) else {
            return out;
        };
        match self.current {
            Some(c) if c.timestamp == timestamp && c.event == r.event => {
                // The same segment: a retransmission, an update or its end.
                let c = self.current.as_mut().map(|c| {
                    c.duration = c.duration.max(r.duration);
                    *c
                });
                if let Some(c) = c {
                    if r.end && !c.ended {
                        out.push(KeyEvent::Up {
                            digit,
                            duration: c.before + u32::from(c.duration),
                        });
                        self.mark_ended();
                    }
                }
                return out;
            }
            Some(c)
                if !c.ended
                    && c.event == r.event
                    && timestamp == c.timestamp.wrapping_add(u32::from(c.duration)) =>
            {
                // The next segment of a long press.
                self.current = Some(Current {
                    event: r.event,
                    timestamp,
                    before: c.before + u32::from(c.duration),
                    duration: r.duration,
                    ended: false,
                });
                if r.end {
                    out.push(KeyEvent::Up {
                        digit,
                        duration: c.before + u32::from(c.duration) + u32::from(r.duration),
                    });
                    self.mark_ended();
                }
                return out;
            }
            Some(c) if !c.ended && timestamp_before(timestamp, c.timestamp) => {
                // A late report of an older event: already handled.
                return out;
            }
            Some(c) if !c.ended => {
                // A new event while the last never ended (its end packets
                // were all lost): the last one is up.
                if let Some(d) = digit_of(c.event) {
                    out.push(KeyEvent::Up {
                        digit: d,
                        duration: c.before + u32::from(c.duration),
                    });
                }
            }
            Some(c) if !timestamp_before(c.timestamp, timestamp) => {
                // Ended already, and this is not newer: a late copy.
                return out;
            }
            _ => {}
        }
        out.push(KeyEvent::Down { digit, timestamp });
        self.current = Some(Current {
            event: r.event,
            timestamp,
            before: 0,
            duration: r.duration,
            ended: false,
        });
        if r.end {
            out.push(KeyEvent::Up {
                digit,
                duration: u32::from(r.duration),
            });
            self.mark_ended();
        }
        out
    }

    fn mark_ended(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.ended = true;
        }
    }
}

/// Whether RTP timestamp `a` is before `b`, modulo wrap-around.
fn timestamp_before(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut Receiver, packets: &[OutPacket]) -> Vec<KeyEvent> {
        packets
            .iter()
            .flat_map(|p| r.on_report(p.timestamp, p.report))
            .collect()
    }

    #[test]
    fn payload_layout_of_section_2_3() {
        // Event 5, end bit, volume 10, duration 800 (100 ms).
        let r = Report {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(r.to_bytes(), [5, 0x8A, 0x03, 0x20]);
        assert_eq!(Report::parse(&r.to_bytes()), Some(r));
        assert_eq!(Report::parse(&[1, 2, 3]), None);
        assert_eq!(event_of('#'), Some(11));
        assert_eq!(digit_of(11), Some('#'));
        assert_eq!(digit_of(16), None);
    }

    #[test]
    fn a_press_is_reported_once_despite_three_end_packets() {
        let p = press(1, 1000, 800, 400, 10);
        assert!(p[0].marker && p[1..].iter().all(|x| !x.marker));
        assert_eq!(p.iter().filter(|x| x.report.end).count(), 3);
        let mut r = Receiver::new();
        let ev = feed(&mut r, &p);
        assert_eq!(
            ev,
            [
                KeyEvent::Down {
                    digit: '1',
                    timestamp: 1000
                },
                KeyEvent::Up {
                    digit: '1',
                    duration: 800
                }
            ]
        );
        // The same press retransmitted again changes nothing.
        assert!(feed(&mut r, &p).is_empty());
    }

    #[test]
    fn the_same_digit_twice_is_two_presses() {
        let mut r = Receiver::new();
        let mut p = press(7, 0, 800, 400, 10);
        p.extend(press(7, 1600, 800, 400, 10));
        let downs = feed(&mut r, &p)
            .into_iter()
            .filter(|e| matches!(e, KeyEvent::Down { .. }))
            .count();
        assert_eq!(downs, 2);
    }

    #[test]
    fn lost_start_and_lost_end_still_give_one_press_each() {
        let mut r = Receiver::new();
        let a = press(2, 0, 1200, 400, 10);
        let b = press(3, 2000, 800, 400, 10);
        // The first press loses its first packet and all its ends.
        let mut got = feed(&mut r, &a[1..a.len() - 3]);
        got.extend(feed(&mut r, &b));
        assert_eq!(
            got,
            [
                KeyEvent::Down {
                    digit: '2',
                    timestamp: 0
                },
                KeyEvent::Up {
                    digit: '2',
                    duration: 800
                },
                KeyEvent::Down {
                    digit: '3',
                    timestamp: 2000
                },
                KeyEvent::Up {
                    digit: '3',
                    duration: 800
                },
            ]
        );
    }

    #[test]
    fn a_long_press_in_segments_is_one_press() {
        // 10 s: more than the 16-bit duration (8.19 s at 8 kHz).
        let p = press(0, 5000, 80_000, 400, 10);
        let timestamps: std::collections::BTreeSet<u32> = p.iter().map(|x| x.timestamp).collect();
        assert_eq!(
            timestamps.into_iter().collect::<Vec<_>>(),
            [5000, 5000 + 0xFFFF]
        );
        assert_eq!(p.iter().filter(|x| x.report.end).count(), 3);
        let mut r = Receiver::new();
        assert_eq!(
            feed(&mut r, &p),
            [
                KeyEvent::Down {
                    digit: '0',
                    timestamp: 5000
                },
                KeyEvent::Up {
                    digit: '0',
                    duration: 80_000
                }
            ]
        );
    }

    #[test]
    fn late_reports_and_unknown_events_are_ignored() {
        let mut r = Receiver::new();
        let a = press(4, 100, 800, 400, 10);
        let b = press(5, 2000, 800, 400, 10);
        feed(&mut r, &a);
        feed(&mut r, &b[..1]);
        // A late copy of the first press arrives after the second began.
        assert!(feed(&mut r, &a[..1]).is_empty());
        // Event 20 (a tone, not a key).
        let tone = Report {
            event: 20,
            end: false,
            volume: 10,
            duration: 160,
        };
        assert!(r.on_report(9000, tone).is_empty());
    }
}
