//! trunkd's settings (TRK-1, TRK-2, issue 14): where it serves SIP on
//! loopback, where pbxd is, the E1 spans and the analog CO lines it opens. Read by trunkd alone; pbxd
//! sees trunkd only as a `[[trusted_peer]]` (decision 0022).

use std::net::SocketAddr;
use std::path::PathBuf;

/// `[trunkd]`, its `[[span]]`s and its `[[line]]`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunkd {
    /// The loopback address and port trunkd serves SIP on.
    pub sip: SocketAddr,
    /// pbxd's SIP address; by default 127.0.0.1 and `[sip] udp_port`.
    pub pbx: SocketAddr,
    /// The RTP ports of the B-channels and lines: two (RTP, RTCP) per
    /// channel, from this even port on, in the order of the spans and
    /// channels, then two per line in the order of the lines.
    pub rtp_port_min: u16,
    pub spans: Vec<SpanConfig>,
    pub lines: Vec<LineConfig>,
}

/// What carries a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanDevice {
    /// A DAHDI card's span, by its number.
    Dahdi,
    /// The simulated board, its D-channel's far end reached at this
    /// `SOCK_SEQPACKET` socket (a libpri test peer).
    Simulated { socket: PathBuf },
}

/// Which end of the PRI the box is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanSide {
    /// The carrier's customer (CPE): the usual case.
    User,
    /// The network side, feeding a PRI to a downstream PBX.
    Network,
}

/// The order outbound calls take the idle channels of a span in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hunting {
    /// The lowest idle channel (carriers usually hunt from the top, so
    /// glare is rare).
    Ascending,
    Descending,
    /// The next idle channel after the one taken last.
    RoundRobin,
}

/// One `[[span]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanConfig {
    pub name: String,
    /// DAHDI's span number (from 1).
    pub span: u32,
    pub device: SpanDevice,
    pub side: SpanSide,
    /// The B-channels (timeslots 1–15, 17–31) in service, ascending.
    pub channels: Vec<u8>,
    pub hunting: Hunting,
    /// Overlap receiving: a call whose number is not complete is offered
    /// to pbxd this long after its last digit (en bloc to pbxd).
    pub digit_timeout_ms: u32,
    /// Calls at once on the span, at most its channels.
    pub max_calls: u32,
    /// The country code a national number gets in a SIP URI (`62`).
    pub country_code: String,
}

/// What carries an analog CO line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineDevice {
    /// A DAHDI FXO port (`fxsks=`/`fxsls=` in `system.conf`), by its
    /// channel number.
    Dahdi { channel: u32 },
    /// The simulated board's FXO port, whose CO a test plays.
    Simulated,
}

/// The caller-ID signalling a line is listened to for (Asterisk's
/// `cidsignalling`); `Auto` hears every form at once (decision 0021).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineCallerId {
    Auto,
    V23,
    Bell202,
    Dtmf,
    /// The line sends none: calls are offered at the first ring.
    None,
}

/// The line's start signalling: kewlstart also reports the CO's
/// disconnect by loop-current loss, loop start does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStart {
    Kewlstart,
    LoopStart,
}

/// When a call out on an analog line counts as answered: the line gives
/// no answer signal unless the exchange reverses polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineAnswer {
    /// As soon as the digits are dialled (the far end's ringback, busy
    /// tone or voice is heard through the call either way).
    Dialled,
    /// On the exchange's polarity reversal.
    Polarity,
}

/// One `[[line]]`: an analog CO line on an FXO port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineConfig {
    pub name: String,
    pub device: LineDevice,
    /// The line's own number (`137`, `1500137`, `0215550137`): a call in
    /// carries no called number, so it is offered to pbxd for this one.
    pub number: String,
    pub caller_id: LineCallerId,
    pub start: LineStart,
    /// A polarity reversal during a call is the far end hanging up.
    pub hangup_on_polarity: bool,
    /// Reversals this soon after the answer are not a disconnect.
    pub answer_guard_ms: u32,
    /// Busy or congestion bursts that end a call (`busycount`).
    pub busy_count: u32,
    pub answer: LineAnswer,
    /// Calls out are placed on a free line of a group, hunted in the
    /// group's order.
    pub group: String,
    pub hunting: Hunting,
    /// The country code a `+` number of the country is dialled without.
    pub country_code: String,
}

/// Reads a channel list in DAHDI's form, `1-15,17-31`: ascending,
/// without duplicates, none the D-channel's 16. `None` when it is not one.
pub fn parse_channels(text: &str) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u8>().ok()?, b.trim().parse::<u8>().ok()?),
            None => {
                let n = part.parse::<u8>().ok()?;
                (n, n)
            }
        };
        if lo > hi {
            return None;
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    let dup = out.windows(2).any(|w| w[0] == w[1]);
    let bad = out.iter().any(|&c| c == 0 || c == 16 || c > 31);
    (!out.is_empty() && !dup && !bad).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_lists_read_as_dahdi_writes_them() {
        let all = parse_channels("1-15,17-31").unwrap();
        assert_eq!(all.len(), 30);
        assert!(!all.contains(&16));
        assert_eq!(parse_channels("3, 1"), Some(vec![1, 3]));
        for bad in ["", "16", "1-16", "0", "32", "5-3", "1,1", "a"] {
            assert_eq!(parse_channels(bad), None, "{bad}");
        }
    }

    fn parse(extra: &str) -> Result<crate::Config, crate::ConfigError> {
        crate::Config::parse(&format!("{}\n{extra}", crate::DEFAULT_TOML), "t.toml")
    }

    #[test]
    fn spans_read_back_with_their_defaults() {
        let c = parse(
            "[trunkd]\nsip = \"127.0.0.1:5090\"\n\n[[span]]\nname = \"telkom\"\nspan = 1\n\n[[span]]\nname = \"lab\"\nspan = 2\ndevice = \"simulated\"\nsocket = \"/run/x.sock\"\nside = \"network\"\nchannels = \"1-4\"\nhunting = \"round-robin\"\nmax_calls = 2\ndigit_timeout_ms = 1500\n",
        )
        .unwrap();
        let t = c.trunkd.unwrap();
        assert_eq!(t.pbx, SocketAddr::from(([127, 0, 0, 1], c.sip.udp_port)));
        assert_eq!(t.spans[0].device, SpanDevice::Dahdi);
        assert_eq!(t.spans[0].side, SpanSide::User);
        assert_eq!(t.spans[0].hunting, Hunting::Descending);
        assert_eq!((t.spans[0].channels.len(), t.spans[0].max_calls), (30, 30));
        let lab = &t.spans[1];
        assert_eq!(
            lab.device,
            SpanDevice::Simulated {
                socket: "/run/x.sock".into()
            }
        );
        assert_eq!(
            (lab.side, lab.hunting),
            (SpanSide::Network, Hunting::RoundRobin)
        );
        assert_eq!((lab.channels.clone(), lab.max_calls), (vec![1, 2, 3, 4], 2));
        assert_eq!(lab.digit_timeout_ms, 1500);
        assert_eq!(parse("").unwrap().trunkd, None);
    }

    #[test]
    fn each_refusal_names_its_line_and_key() {
        let base = "[[span]]\nname = \"a\"\nspan = 1\n";
        let cases = [
            ("[trunkd]\nsip = \"192.0.2.1:5090\"\n", "trunkd.sip"),
            ("[trunkd]\npbx = \"192.0.2.1:5060\"\n", "trunkd.pbx"),
            ("[trunkd]\nrtp_port_min = 40001\n", "trunkd.rtp_port_min"),
            ("[trunkd]\nrtp_port_min = 29990\n", "trunkd.rtp_port_min"),
            ("[[span]]\nname = \"a\"\nspan = 2\n", "span.name"),
            ("[[span]]\nname = \"b\"\nspan = 1\n", "span.span"),
            (
                "[[span]]\nname = \"b\"\nspan = 2\ndevice = \"simulated\"\n",
                "span.device",
            ),
            (
                "[[span]]\nname = \"b\"\nspan = 2\nside = \"both\"\n",
                "span.side",
            ),
            (
                "[[span]]\nname = \"b\"\nspan = 2\nchannels = \"1-16\"\n",
                "span.channels",
            ),
            (
                "[[span]]\nname = \"b\"\nspan = 2\nhunting = \"up\"\n",
                "span.hunting",
            ),
            (
                "[[span]]\nname = \"b\"\nspan = 2\nmax_calls = 31\n",
                "span.max_calls",
            ),
            (
                "[[span]]\nname = \"b\"\nspan = 2\ndigit_timeout_ms = 10\n",
                "span.digit_timeout_ms",
            ),
            (
                "[[span]]\nname = \"b\"\nspan = 2\ncountry_code = \"+62\"\n",
                "span.country_code",
            ),
        ];
        for (extra, key) in cases {
            let text = format!("{base}\n{extra}");
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
            let last = crate::DEFAULT_TOML.lines().count() + 1 + text.lines().count();
            let line: usize = err.split(':').nth(1).unwrap().parse().unwrap();
            assert!(
                line > crate::DEFAULT_TOML.lines().count() && line <= last,
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn lines_read_back_with_their_defaults() {
        let c = parse(
            "[[line]]\nname = \"co1\"\nchannel = 33\nnumber = \"137\"\n\n[[line]]\nname = \"lab\"\ndevice = \"simulated\"\nnumber = \"0215550137\"\ncaller_id = \"dtmf\"\nsignalling = \"loopstart\"\nhangup_on_polarity = false\nanswer_guard_ms = 900\nbusy_count = 6\nanswer = \"polarity\"\ngroup = \"backup\"\nhunting = \"round-robin\"\n",
        )
        .unwrap();
        let t = c.trunkd.unwrap();
        assert!(t.spans.is_empty());
        let co1 = &t.lines[0];
        assert_eq!(co1.device, LineDevice::Dahdi { channel: 33 });
        assert_eq!(
            (co1.caller_id, co1.start, co1.answer),
            (
                LineCallerId::Auto,
                LineStart::Kewlstart,
                LineAnswer::Dialled
            )
        );
        assert!(co1.hangup_on_polarity);
        assert_eq!((co1.answer_guard_ms, co1.busy_count), (600, 4));
        assert_eq!(
            (co1.group.as_str(), co1.hunting),
            ("lines", Hunting::Ascending)
        );
        let lab = &t.lines[1];
        assert_eq!(lab.device, LineDevice::Simulated);
        assert_eq!(lab.number, "0215550137");
        assert_eq!(
            (lab.caller_id, lab.start, lab.answer),
            (
                LineCallerId::Dtmf,
                LineStart::LoopStart,
                LineAnswer::Polarity
            )
        );
        assert!(!lab.hangup_on_polarity);
        assert_eq!((lab.answer_guard_ms, lab.busy_count), (900, 6));
        assert_eq!(
            (lab.group.as_str(), lab.hunting),
            ("backup", Hunting::RoundRobin)
        );
    }

    #[test]
    fn each_line_refusal_names_its_line_and_key() {
        let base = "[[span]]\nname = \"telkom\"\nspan = 1\n\n[[line]]\nname = \"a\"\nchannel = 33\nnumber = \"137\"\n";
        let line = |extra: &str| format!("[[line]]\nname = \"b\"\n{extra}");
        let cases = [
            (
                line("channel = 34\nnumber = \"1\"\n").replace("\"b\"", "\"a\""),
                "line.name",
            ),
            (line("number = \"1\"\n"), "line.channel"),
            (line("channel = 33\nnumber = \"1\"\n"), "line.channel"),
            (line("channel = 0\nnumber = \"1\"\n"), "line.channel"),
            (
                line("device = \"simulated\"\nchannel = 3\nnumber = \"1\"\n"),
                "line.channel",
            ),
            (line("device = \"usb\"\nnumber = \"1\"\n"), "line.device"),
            (line("channel = 34\nnumber = \"13a\"\n"), "line.number"),
            (
                line("channel = 34\nnumber = \"1\"\ncaller_id = \"fsk\"\n"),
                "line.caller_id",
            ),
            (
                line("channel = 34\nnumber = \"1\"\nsignalling = \"ground\"\n"),
                "line.signalling",
            ),
            (
                line("channel = 34\nnumber = \"1\"\nanswer_guard_ms = 9000\n"),
                "line.answer_guard_ms",
            ),
            (
                line("channel = 34\nnumber = \"1\"\nbusy_count = 1\n"),
                "line.busy_count",
            ),
            (
                line("channel = 34\nnumber = \"1\"\nanswer = \"never\"\n"),
                "line.answer",
            ),
            (
                line("channel = 34\nnumber = \"1\"\ngroup = \"telkom\"\n"),
                "line.group",
            ),
            (
                line("channel = 34\nnumber = \"1\"\nhunting = \"descending\"\n"),
                "line.hunting",
            ),
            (
                line("channel = 34\nnumber = \"1\"\ncountry_code = \"x\"\n"),
                "line.country_code",
            ),
        ];
        for (extra, key) in cases {
            let text = format!("{base}\n{extra}");
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
            let last = crate::DEFAULT_TOML.lines().count() + 1 + text.lines().count();
            let line: usize = err.split(':').nth(1).unwrap().parse().unwrap();
            let first_of_b = last - extra.lines().count();
            assert!(
                line > crate::DEFAULT_TOML.lines().count() && line <= last,
                "{key}: {err}"
            );
            if key != "line.name" {
                assert!(line >= first_of_b, "{key} on line b: {err}");
            }
        }
    }
}
