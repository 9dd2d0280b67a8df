//! Caller-ID messages: what a spill says, and how the bytes of an FSK
//! spill (ETSI EN 300 659-3 and Telcordia GR-30, which share the layout)
//! and the digits of a DTMF spill (EN 300 659-1 Annex B) are read.
//!
//! An FSK message is `type, length, body…, checksum`, the checksum making
//! the sum of every byte 0 modulo 256. A message whose checksum fails is
//! never read: "caller ID unavailable" is better than a wrong number.

/// Why a spill named no number (or no name): the `O` and `P` of the
/// standards, and the DTMF forms' codes for the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absence {
    /// `P`: the caller withheld it (presentation restricted).
    Private,
    /// `O`: the network does not have it (out of area, international,
    /// technical reasons).
    Unavailable,
}

/// The date and time of a spill (local time of the exchange; no year).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
}

/// How the spill came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// ETSI V.23 FSK (1300/2100 Hz).
    V23,
    /// Bell 202 FSK (1200/2200 Hz).
    Bell202,
    /// DTMF CLIP.
    Dtmf,
}

/// A caller ID read from a good spill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// The calling number, digits as sent.
    pub number: Option<String>,
    /// Why there is no number, when the spill says.
    pub number_absent: Option<Absence>,
    /// The calling party's name.
    pub name: Option<String>,
    /// Why there is no name, when the spill says.
    pub name_absent: Option<Absence>,
    pub date_time: Option<DateTime>,
    pub signal: Signal,
}

impl CallerId {
    fn empty(signal: Signal) -> CallerId {
        CallerId {
            number: None,
            number_absent: None,
            name: None,
            name_absent: None,
            date_time: None,
            signal,
        }
    }
}

/// Why no caller ID came with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// No spill was heard.
    NotSent,
    /// A spill came with a bad checksum.
    BadChecksum,
    /// A spill came but was cut short or could not be read.
    Malformed,
}

/// What a spill gave: a caller ID, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Received(CallerId),
    Unavailable(Unavailable),
}

/// Message types (the first byte) that carry a caller ID.
const SDMF_CALLER_ID: u8 = 0x04;
const MDMF_CALLER_ID: u8 = 0x80;

/// MDMF parameter types (EN 300 659-3 §5.4; GR-30 uses the same).
const P_DATE_TIME: u8 = 0x01;
const P_NUMBER: u8 = 0x02;
const P_NUMBER_ABSENT: u8 = 0x04;
const P_NAME: u8 = 0x07;
const P_NAME_ABSENT: u8 = 0x08;

/// How many bytes a whole message takes, once its first two are known.
pub fn fsk_message_len(head: &[u8]) -> Option<usize> {
    head.get(1).map(|len| usize::from(*len) + 3)
}

/// Whether `b` starts a message this crate reads (others, message
/// waiting for one, are skipped whole).
pub fn is_fsk_message_type(b: u8) -> bool {
    matches!(
        b,
        SDMF_CALLER_ID | MDMF_CALLER_ID | 0x06 | 0x82 | 0x86 | 0x89
    )
}

/// Reads one whole FSK message (`type, length, body, checksum`). `None`
/// for a good message that carries no caller ID (message waiting).
pub fn parse_fsk(msg: &[u8], signal: Signal) -> Option<Outcome> {
    if msg.len() < 3 || fsk_message_len(msg) != Some(msg.len()) {
        return Some(Outcome::Unavailable(Unavailable::Malformed));
    }
    let sum = msg.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    if sum != 0 {
        return Some(Outcome::Unavailable(Unavailable::BadChecksum));
    }
    let body = &msg[2..msg.len() - 1];
    let id = match msg[0] {
        SDMF_CALLER_ID => parse_sdmf(body, signal),
        MDMF_CALLER_ID => parse_mdmf(body, signal),
        _ => return None,
    };
    Some(id.map_or(
        Outcome::Unavailable(Unavailable::Malformed),
        Outcome::Received,
    ))
}

/// SDMF: eight digits of date and time, then the number or `O`/`P`.
fn parse_sdmf(body: &[u8], signal: Signal) -> Option<CallerId> {
    let mut id = CallerId::empty(signal);
    let (date, number) = (body.get(..8)?, body.get(8..)?);
    id.date_time = Some(date_time(date)?);
    match number {
        b"P" => id.number_absent = Some(Absence::Private),
        b"O" => id.number_absent = Some(Absence::Unavailable),
        n => id.number = Some(digits(n)?),
    }
    Some(id)
}

/// MDMF: parameters `type, length, value`; unknown ones are skipped.
fn parse_mdmf(mut body: &[u8], signal: Signal) -> Option<CallerId> {
    let mut id = CallerId::empty(signal);
    while !body.is_empty() {
        let (kind, len) = (*body.first()?, usize::from(*body.get(1)?));
        let value = body.get(2..2 + len)?;
        body = &body[2 + len..];
        match kind {
            P_DATE_TIME => id.date_time = Some(date_time(value)?),
            P_NUMBER => id.number = Some(digits(value)?),
            P_NUMBER_ABSENT => id.number_absent = Some(absence(value)?),
            P_NAME => id.name = Some(text(value)?),
            P_NAME_ABSENT => id.name_absent = Some(absence(value)?),
            _ => {}
        }
    }
    Some(id)
}

fn absence(v: &[u8]) -> Option<Absence> {
    match v {
        b"P" => Some(Absence::Private),
        b"O" => Some(Absence::Unavailable),
        _ => None,
    }
}

/// A number: digits, and the few other characters dial strings carry.
fn digits(v: &[u8]) -> Option<String> {
    let ok = |c: &u8| c.is_ascii_digit() || matches!(c, b'*' | b'#' | b'+');
    (!v.is_empty() && v.iter().all(ok)).then(|| String::from_utf8_lossy(v).into_owned())
}

/// A name: printable ASCII (the standards' IA5 subset).
fn text(v: &[u8]) -> Option<String> {
    v.iter()
        .all(|c| (0x20..0x7F).contains(c))
        .then(|| String::from_utf8_lossy(v).into_owned())
}

/// `MMDDHHMM` in ASCII digits, checked for range.
fn date_time(v: &[u8]) -> Option<DateTime> {
    if v.len() != 8 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let two = |i: usize| (v[i] - b'0') * 10 + (v[i + 1] - b'0');
    let dt = DateTime {
        month: two(0),
        day: two(2),
        hour: two(4),
        minute: two(6),
    };
    ((1..=12).contains(&dt.month) && (1..=31).contains(&dt.day) && dt.hour < 24 && dt.minute < 60)
        .then_some(dt)
}

/// Reads a whole DTMF spill, start code to terminator, in the forms
/// EN 300 659-1 Annex B and its national variants use:
///
/// - `A<number>[D<redirecting>][B<code>]C`, code `00` unavailable and
///   `10` private;
/// - `A<number>#`, or `D<code>#` with `1` private and `2`/`3` unavailable;
/// - `D<number>C` (the Taiwanese form).
pub fn parse_dtmf(spill: &str) -> Outcome {
    parse_dtmf_fields(spill).map_or(
        Outcome::Unavailable(Unavailable::Malformed),
        Outcome::Received,
    )
}

fn parse_dtmf_fields(spill: &str) -> Option<CallerId> {
    let mut id = CallerId::empty(Signal::Dtmf);
    let number = |s: &str| digits(s.as_bytes());
    if let Some(rest) = spill.strip_suffix('#') {
        if let Some(n) = rest.strip_prefix('A') {
            id.number = Some(number(n)?);
        } else {
            id.number_absent = Some(match rest.strip_prefix('D')? {
                "1" => Absence::Private,
                "2" | "3" => Absence::Unavailable,
                _ => return None,
            });
        }
        return Some(id);
    }
    let body = spill.strip_suffix('C')?;
    if let Some(n) = body.strip_prefix('D') {
        id.number = Some(number(n)?);
        return Some(id);
    }
    // Fields A, D, B, each a letter then its digits, in any order.
    let mut rest = body;
    while let Some(code) = rest.chars().next() {
        let end = rest[1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(rest.len(), |i| i + 1);
        let value = &rest[1..end];
        match code {
            'A' => id.number = Some(number(value)?),
            'D' => {} // redirecting number: not ours to present
            'B' => {
                id.number_absent = Some(match value {
                    "00" => Absence::Unavailable,
                    "10" => Absence::Private,
                    _ => return None,
                })
            }
            _ => return None,
        }
        rest = &rest[end..];
    }
    (id.number.is_some() || id.number_absent.is_some()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_checksum(mut m: Vec<u8>) -> Vec<u8> {
        let sum = m.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        m.push(sum.wrapping_neg());
        m
    }

    #[test]
    fn mdmf_with_date_number_and_name() {
        let mut m = vec![0x80, 0];
        m.extend([0x01, 8]);
        m.extend(b"12041620");
        m.extend([0x02, 4]);
        m.extend(b"0137");
        m.extend([0x07, 3]);
        m.extend(b"ORI");
        m[1] = (m.len() - 2) as u8;
        let Some(Outcome::Received(id)) = parse_fsk(&with_checksum(m.clone()), Signal::V23) else {
            panic!("not read");
        };
        assert_eq!(id.number.as_deref(), Some("0137"));
        assert_eq!(id.name.as_deref(), Some("ORI"));
        assert_eq!(
            id.date_time,
            Some(DateTime {
                month: 12,
                day: 4,
                hour: 16,
                minute: 20
            })
        );
        // One bit flipped anywhere: the checksum catches it.
        let mut bad = with_checksum(m);
        bad[12] ^= 0x02;
        assert_eq!(
            parse_fsk(&bad, Signal::V23),
            Some(Outcome::Unavailable(Unavailable::BadChecksum))
        );
    }

    #[test]
    fn dtmf_forms() {
        let num = |s: &str| match parse_dtmf(s) {
            Outcome::Received(id) => (id.number, id.number_absent),
            Outcome::Unavailable(u) => panic!("{s}: {u:?}"),
        };
        assert_eq!(num("A0215551234C"), (Some("0215551234".into()), None));
        assert_eq!(
            num("A0215551234D021999C"),
            (Some("0215551234".into()), None)
        );
        assert_eq!(num("B10C"), (None, Some(Absence::Private)));
        assert_eq!(num("B00C"), (None, Some(Absence::Unavailable)));
        assert_eq!(num("A0811#"), (Some("0811".into()), None));
        assert_eq!(num("D1#"), (None, Some(Absence::Private)));
        assert_eq!(num("D3#"), (None, Some(Absence::Unavailable)));
        assert_eq!(num("D0215551234C"), (Some("0215551234".into()), None));
        for bad in ["A12B77C", "AC", "D9#", "A12"] {
            assert_eq!(
                parse_dtmf(bad),
                Outcome::Unavailable(Unavailable::Malformed),
                "{bad}"
            );
        }
    }
}
