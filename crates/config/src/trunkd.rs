//! trunkd's settings (TRK-1, issue 14): where it serves SIP on loopback,
//! where pbxd is, and the E1 spans it opens. Read by trunkd alone; pbxd
//! sees trunkd only as a `[[trusted_peer]]` (decision 0022).

use std::net::SocketAddr;
use std::path::PathBuf;

/// `[trunkd]` and its `[[span]]`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunkd {
    /// The loopback address and port trunkd serves SIP on.
    pub sip: SocketAddr,
    /// pbxd's SIP address; by default 127.0.0.1 and `[sip] udp_port`.
    pub pbx: SocketAddr,
    /// The RTP ports of the B-channels: two (RTP, RTCP) per channel,
    /// from this even port on, in the order of the spans and channels.
    pub rtp_port_min: u16,
    pub spans: Vec<SpanConfig>,
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
}
