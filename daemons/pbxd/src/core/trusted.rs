//! SIP peers trusted by their source address (issue 12 §5, issue 13): the
//! trunk gateway on loopback (`[[trusted_peer]]`) and the carriers'
//! trunks (`[[trunk]]`: an `ip` trunk's addresses, a `register` trunk's
//! host and port, as configured or resolved: the port too, because a
//! phone may share the carrier's address, as on loopback). Their INVITEs reach the dial plan without a digest challenge,
//! which a gateway or a carrier cannot answer; the caller is who their
//! P-Asserted-Identity or From says, and the call carries the source's
//! name for records and, later, outbound routing.
//!
//! Carriers write numbers their own way (`0812…`, `62812…`, `+62 812…`,
//! `tel:` URIs, the DID in the Request-URI or only in To): the numbers of
//! a call from here are brought to E.164 (TEL-10) so that the DIDs, the
//! block list and the priorities by number class (ACD-5, ACD-6) see one
//! form, and the raw ones are kept in the call's record.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use dering_sip::nameaddr::NameAddr;
use dering_sip::uri::Uri;
use dering_sip::Message;

use dering_store::CallInbound;

use super::{Core, Now, Op, Peer};
use crate::config::{Config, TrunkKind};

/// What kind of source a trusted caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A `[[trusted_peer]]`: a gateway of our own.
    Peer,
    /// A carrier's `[[trunk]]`.
    Trunk,
}

/// One trusted source, as the dial plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Trusted {
    pub name: String,
    pub route_class: String,
    pub kind: Kind,
    /// A trunk's lines: its calls in at once (it counts its calls out
    /// too); `None` for a peer.
    pub channels: Option<u32>,
    /// A `register` trunk's account: the user part the carrier puts in
    /// the Request-URI (the registered contact), not the number called.
    pub account: Option<String>,
}

/// The trusted peers and trunks of the configuration, and the calls in
/// on each trunk.
#[derive(Debug, Default)]
pub(super) struct TrustedPeers {
    networks: Vec<(ipnet::IpNet, Trusted)>,
    /// `register` trunks, by name, and the carrier's address and port
    /// when the host is an address.
    registering: HashMap<String, (Trusted, Option<SocketAddr>)>,
    /// Where the shell's resolver found a `register` trunk's host named
    /// by a name (RFC 3263), by trunk ([`TrustedPeers::resolved`]).
    resolved: HashMap<String, Vec<SocketAddr>>,
    /// Per trunk, the Call-IDs of its calls in; one that no longer names
    /// a call is dropped when the trunk's calls are counted.
    calls_in: HashMap<String, Vec<String>>,
    /// trunkd's SIP address (`[trunkd] sip`): the one source whose
    /// `X-Dering-Channel` is believed.
    trunkd: Option<SocketAddr>,
}

impl TrustedPeers {
    pub(super) fn new(cfg: &Config) -> TrustedPeers {
        let mut networks: Vec<(ipnet::IpNet, Trusted)> = cfg
            .trusted_peers
            .iter()
            .flat_map(|p| {
                let t = Trusted {
                    name: p.name.clone(),
                    route_class: p.route_class.clone(),
                    kind: Kind::Peer,
                    channels: None,
                    account: None,
                };
                p.addresses.iter().map(move |n| (*n, t.clone()))
            })
            .collect();
        let mut registering = HashMap::new();
        for trunk in cfg.trunks.iter().filter(|t| t.enabled) {
            let t = Trusted {
                name: trunk.name.clone(),
                // A carrier's callers call in; they call nothing out.
                route_class: "internal".into(),
                kind: Kind::Trunk,
                channels: Some(trunk.channels),
                account: match &trunk.kind {
                    TrunkKind::Register(a) => Some(a.username.clone()),
                    TrunkKind::Ip => None,
                },
            };
            networks.extend(trunk.addresses.iter().map(|n| (*n, t.clone())));
            if let TrunkKind::Register(_) = trunk.kind {
                let at = trunk
                    .host
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, trunk.default_port()));
                registering.insert(trunk.name.clone(), (t, at));
            }
        }
        TrustedPeers {
            networks,
            registering,
            resolved: HashMap::new(),
            calls_in: HashMap::new(),
            trunkd: cfg.trunkd.as_ref().map(|t| t.sip),
        }
    }

    /// A new configuration: the sources anew; the names resolved and the
    /// calls in on trunks that remain are kept.
    pub(super) fn reconfigure(&mut self, cfg: &Config) {
        let mut fresh = TrustedPeers::new(cfg);
        let mut resolved = std::mem::take(&mut self.resolved);
        resolved.retain(|name, _| fresh.registering.contains_key(name));
        fresh.resolved = resolved;
        fresh.calls_in = std::mem::take(&mut self.calls_in);
        *self = fresh;
    }

    /// The addresses and ports `trunk`'s host resolved to (RFC 3263, by
    /// the shell): its calls in come from these.
    pub(super) fn resolved(&mut self, trunk: &str, addrs: Vec<SocketAddr>) {
        if self.registering.contains_key(trunk) {
            self.resolved.insert(trunk.to_string(), addrs);
        }
    }

    /// The span and channel `msg` names, when it comes from trunkd's
    /// address (decision 0024); anyone else's header is ignored, so a
    /// carrier or a phone cannot write into the record.
    pub(super) fn trunkd_channel(&self, from: SocketAddr, msg: &Message) -> Option<(String, u32)> {
        if self.trunkd != Some(from) {
            return None;
        }
        msg.get("X-Dering-Channel").and_then(parse_channel)
    }

    /// The source `from` belongs to: a `register` trunk's carrier by its
    /// address and port, else the most specific network.
    pub(super) fn find(&self, from: SocketAddr) -> Option<&Trusted> {
        let carrier = self.registering.iter().find(|(name, (_, at))| {
            *at == Some(from) || self.resolved.get(*name).is_some_and(|r| r.contains(&from))
        });
        if let Some((_, (t, _))) = carrier {
            return Some(t);
        }
        let ip = from.ip();
        self.networks
            .iter()
            .filter(|(n, _)| n.contains(&ip))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(_, t)| t)
    }

    /// Takes one of `trunk`'s lines for the call `call_id` unless all of
    /// `channels` are busy with `out` calls out and its calls in; `live`
    /// says whether a Call-ID still names a call of the box.
    pub(super) fn take_line(
        &mut self,
        trunk: &str,
        (out, channels): (u32, u32),
        call_id: &str,
        live: impl Fn(&str) -> bool,
    ) -> bool {
        let calls = self.calls_in.entry(trunk.to_string()).or_default();
        calls.retain(|c| live(c));
        if out.saturating_add(count(calls.len())) >= channels {
            return false;
        }
        calls.push(call_id.to_string());
        true
    }

    /// The trunk whose line the call `call_id` took, if it came in by one.
    pub(super) fn trunk_in(&self, call_id: &str) -> Option<&str> {
        self.calls_in
            .iter()
            .find(|(_, calls)| calls.iter().any(|c| c == call_id))
            .map(|(trunk, _)| trunk.as_str())
    }

    /// `trunk`'s calls in now (with `live` as in [`Self::take_line`]).
    pub(super) fn calls_in(&self, trunk: &str, live: impl Fn(&str) -> bool) -> u32 {
        self.calls_in
            .get(trunk)
            .map_or(0, |calls| count(calls.iter().filter(|c| live(c)).count()))
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where a trusted call came from, and its numbers.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub peer: Trusted,
    pub numbers: Numbers,
    /// The trunkd span and channel the call came on, when trunkd says.
    pub channel: Option<(String, u32)>,
}

/// `span=NAME;channel=N` (trunkd's `X-Dering-Channel`): a name of
/// printable characters, at most 64, and a channel from 1 to 1024.
fn parse_channel(value: &str) -> Option<(String, u32)> {
    let (mut span, mut channel) = (None, None);
    for part in value.split(';') {
        let (k, v) = part.split_once('=')?;
        match k.trim() {
            "span" => span = Some(v.trim()),
            "channel" => channel = v.trim().parse::<u32>().ok(),
            _ => {}
        }
    }
    let span =
        span.filter(|s| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_graphic()))?;
    let channel = channel.filter(|c| (1..=1024).contains(c))?;
    Some((span.to_string(), channel))
}

impl Core {
    /// The trusted peer or trunk `req` came from, with its numbers; `None`
    /// for anyone else (who must authenticate).
    pub(super) fn trusted_source(&self, peer: Peer, req: &Message) -> Option<Box<Source>> {
        let t = self.trusted.find(peer.addr)?.clone();
        let numbers = numbers(req, &t, self.flows.area_code());
        let channel = self.trusted.trunkd_channel(peer.addr, req);
        Some(Box::new(Source {
            peer: t,
            numbers,
            channel,
        }))
    }

    /// Takes a line of the trunk `source` for `req`'s call; `false` (and
    /// a warning) when every line is busy. Peers have no lines to count.
    pub(super) fn take_trunk_line(&mut self, source: &Trusted, req: &Message) -> bool {
        let Some(channels) = source.channels else {
            return true;
        };
        let call_id = req.call_id().unwrap_or_default();
        let out = self.outside.busy(&source.name);
        let live = &self.by_call_id;
        let took = self
            .trusted
            .take_line(&source.name, (out, channels), call_id, |c| {
                live.contains_key(c)
            });
        if !took {
            tracing::warn!(trunk = %source.name, channels, "every line of the trunk busy: call refused");
        }
        took
    }

    /// The record of a trusted call: the trunk or peer it came by (an
    /// event), and its numbers as sent and in E.164 (the call's row).
    pub(super) fn tag_source(&mut self, now: Now, uuid: &str, source: &Source) {
        let p = &source.peer;
        if matches!(p.kind, Kind::Trunk) {
            // Today's calls of a trunk count both ways, as its lines do.
            self.trunk_call_started(now, &p.name);
        }
        let (kind, detail) = match p.kind {
            Kind::Trunk => ("trunk", p.name.clone()),
            Kind::Peer => (
                "trusted_peer",
                format!("{} route_class={}", p.name, p.route_class),
            ),
        };
        self.store(Op::CallEvent {
            uuid: uuid.to_string(),
            at_ms: now.wall_ms,
            kind: kind.into(),
            detail: Some(detail),
        });
        if let Some((span, channel)) = source.channel.clone() {
            self.store(Op::CallChannel {
                uuid: uuid.to_string(),
                span,
                channel,
            });
        }
        let n = &source.numbers;
        self.store(Op::CallInbound(CallInbound {
            uuid: uuid.to_string(),
            trunk: (p.kind == Kind::Trunk).then(|| p.name.clone()),
            caller_raw: n.caller_raw.clone(),
            caller_e164: n.caller.clone(),
            callee_raw: n.called_raw.clone(),
            callee_e164: n.called.clone(),
        }));
    }

    /// A B leg's answer from trunkd names the span and channel the call
    /// took out: written into the call's record (the first provisional
    /// answer and the 2xx, whichever say it).
    pub(super) fn note_trunkd_channel(&mut self, call: u64, code: u16, msg: &Message) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let first = if code < 200 {
            code > 100 && !c.b.got_provisional
        } else {
            (200..300).contains(&code) && c.b.ack.is_none()
        };
        if !first {
            return;
        }
        if let Some((span, channel)) = self.trusted.trunkd_channel(c.b.dialog.peer.addr, msg) {
            let uuid = c.parties.uuid.clone();
            self.store(Op::CallChannel {
                uuid,
                span,
                channel,
            });
        }
    }

    /// The addresses and ports a `register` trunk's host resolved to
    /// (RFC 3263, from `Core::trunk_resolved`): calls from them are that
    /// trunk's.
    pub(super) fn trunk_sources_resolved(&mut self, trunk: &str, addrs: Vec<SocketAddr>) {
        self.trusted.resolved(trunk, addrs);
    }

    /// The calls in on `trunk` now (its lines taken by callers).
    pub fn trunk_calls_in(&self, trunk: &str) -> u32 {
        self.trusted
            .calls_in(trunk, |c| self.by_call_id.contains_key(c))
    }

    /// `trunk`'s lines in use: its calls out and in, one channel limit
    /// for both (TRK-3).
    pub(super) fn trunk_busy(&self, trunk: &str) -> u32 {
        self.outside
            .busy(trunk)
            .saturating_add(self.trunk_calls_in(trunk))
    }
}

/// The numbers of a call from a trusted source, raw and in E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Numbers {
    /// The caller as the source wrote it (P-Asserted-Identity, else
    /// From); empty when there is none.
    pub caller_raw: String,
    /// In E.164; `None` when withheld or no number.
    pub caller: Option<String>,
    /// The number called as the source wrote it (Request-URI, else To).
    pub called_raw: String,
    pub called: Option<String>,
}

impl Numbers {
    /// Who the call is from, for the record, the block list and the
    /// priorities: the E.164 form, else `anonymous`.
    pub(super) fn caller(&self) -> String {
        self.caller
            .clone()
            .unwrap_or_else(|| "anonymous".to_string())
    }
}

/// The numbers of `req` from `source`, for a box in `area_code`. The
/// caller is the first P-Asserted-Identity with a number (carriers put
/// the real number there and may withhold From), else From. The number
/// called is the Request-URI's user, unless that is not a number or is a
/// `register` trunk's account (the carrier calls the registered contact)
/// and To has one: then To's.
pub(super) fn numbers(req: &Message, source: &Trusted, area_code: u16) -> Numbers {
    let e164 = |n: &str| dering_telco::inbound_e164(n, area_code);
    let caller_raw = req
        .all("P-Asserted-Identity")
        .flat_map(|v| v.split(','))
        .filter_map(header_number)
        .find(|n| e164(n).is_some())
        .or_else(|| req.get("From").and_then(header_number))
        .unwrap_or_default();
    let ruri = req.request_uri().and_then(uri_number).unwrap_or_default();
    let to = req.get("To").and_then(header_number);
    let ruri_is_number = e164(&ruri).is_some() && source.account.as_deref() != Some(ruri.as_str());
    let called_raw = match to {
        Some(to) if !ruri_is_number && e164(&to).is_some() => to,
        _ => ruri,
    };
    Numbers {
        caller: e164(&caller_raw),
        caller_raw,
        called: e164(&called_raw),
        called_raw,
    }
}

/// The number of a From, To or P-Asserted-Identity value.
fn header_number(value: &str) -> Option<String> {
    uri_number(&NameAddr::parse(value.trim()).ok()?.uri)
}

/// The user of a `sip:`/`sips:` URI, or the number of a `tel:` URI
/// (RFC 3966, parameters dropped).
fn uri_number(uri: &str) -> Option<String> {
    if uri.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("tel:")) {
        return uri[4..]
            .split(';')
            .next()
            .map(str::to_string)
            .filter(|n| !n.is_empty());
    }
    Uri::parse(uri)
        .ok()?
        .user_unescaped()
        .filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(extra: &str) -> Config {
        Config::parse(
            &format!("{}\n{extra}", crate::config::DEFAULT_TOML),
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn the_most_specific_network_wins_and_strangers_are_not_trusted() {
        let cfg = with("[[trusted_peer]]\nname = \"carrier\"\naddresses = [\"203.0.113.0/24\"]\nroute_class = \"national\"\n\n[[trusted_peer]]\nname = \"gateway\"\naddresses = [\"203.0.113.7\", \"::1\"]\n");
        let t = TrustedPeers::new(&cfg);
        let name = |ip: &str| {
            t.find(SocketAddr::new(ip.parse().unwrap(), 5060))
                .map(|t| t.name.as_str())
        };
        assert_eq!(name("203.0.113.9"), Some("carrier"));
        assert_eq!(name("203.0.113.7"), Some("gateway"));
        assert_eq!(name("::1"), Some("gateway"));
        assert_eq!(name("198.51.100.1"), None);
        assert_eq!(
            t.find("203.0.113.9:5060".parse().unwrap())
                .map(|t| t.route_class.as_str()),
            Some("national")
        );
    }

    const TRUNKS: &str = "[[trunk]]\nname = \"telkom\"\nkind = \"ip\"\nhost = \"198.51.100.10\"\naddresses = [\"198.51.100.0/28\"]\nchannels = 2\n\n[[trunk]]\nname = \"indosat\"\nkind = \"register\"\nhost = \"sip.indosat.example\"\nusername = \"0215550001\"\npassword = \"x\"\n\n[[trunk]]\nname = \"xl\"\nkind = \"register\"\nhost = \"192.0.2.20\"\nusername = \"0215550002\"\npassword = \"x\"\n";

    #[test]
    fn trunks_are_known_by_their_addresses_and_resolved_hosts() {
        let mut t = TrustedPeers::new(&with(TRUNKS));
        let find = |t: &TrustedPeers, at: &str| {
            t.find(at.parse().unwrap())
                .map(|t| (t.name.clone(), t.kind, t.channels))
        };
        // An ip trunk's network, from any port.
        assert_eq!(
            find(&t, "198.51.100.3:5099"),
            Some(("telkom".into(), Kind::Trunk, Some(2)))
        );
        // A register trunk's carrier at its host and port; a phone at the
        // same address is not the carrier.
        assert_eq!(find(&t, "192.0.2.20:5060").map(|f| f.0), Some("xl".into()));
        assert_eq!(find(&t, "192.0.2.20:5062"), None);
        // The named host is nobody until resolved.
        assert_eq!(find(&t, "203.0.113.50:5060"), None);
        t.resolved("indosat", vec!["203.0.113.50:5080".parse().unwrap()]);
        assert_eq!(
            find(&t, "203.0.113.50:5080").map(|f| f.0),
            Some("indosat".into())
        );
        // The demo's disabled trunk and strangers are not trusted.
        assert_eq!(find(&t, "198.51.100.99:5060"), None);
        // A new configuration keeps what was resolved.
        t.reconfigure(&with(TRUNKS));
        assert_eq!(
            find(&t, "203.0.113.50:5080").map(|f| f.0),
            Some("indosat".into())
        );
    }

    #[test]
    fn a_trunk_has_as_many_calls_in_as_lines() {
        let mut t = TrustedPeers::new(&with(TRUNKS));
        let live = ["a", "b"];
        let is_live = |c: &str| live.contains(&c);
        assert!(t.take_line("telkom", (0, 2), "a", is_live));
        assert!(t.take_line("telkom", (0, 2), "b", is_live));
        assert!(
            !t.take_line("telkom", (0, 2), "c", is_live),
            "both lines busy"
        );
        assert_eq!(t.calls_in("telkom", is_live), 2);
        // Call a ended: its line is free again, unless a call out took it.
        assert!(!t.take_line("telkom", (1, 2), "c", |c| c != "a"));
        assert!(t.take_line("telkom", (0, 2), "c", |c| c != "a"));
        assert_eq!(t.calls_in("telkom", |c| c != "a"), 2);
    }

    fn invite(ruri: &str, headers: &str) -> Message {
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.3;branch=z9hG4bK1\r\n{headers}Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    fn trunk(account: Option<&str>) -> Trusted {
        Trusted {
            name: "telkom".into(),
            route_class: "internal".into(),
            kind: Kind::Trunk,
            channels: Some(30),
            account: account.map(str::to_string),
        }
    }

    #[test]
    fn a_carriers_numbers_in_e164_and_as_sent() {
        let m = invite(
            "sip:0211500137@192.0.2.1",
            "From: <sip:081234567890@carrier>;tag=1\r\nTo: <sip:0211500137@192.0.2.1>\r\n",
        );
        let n = numbers(&m, &trunk(None), 21);
        assert_eq!(n.caller.as_deref(), Some("+6281234567890"));
        assert_eq!(n.called.as_deref(), Some("+62211500137"));
        assert_eq!(
            (n.caller_raw.as_str(), n.called_raw.as_str()),
            ("081234567890", "0211500137")
        );

        // P-Asserted-Identity (a tel: URI among others) beats a withheld From.
        let m = invite(
            "sip:+62-21-1500137@192.0.2.1;user=phone",
            "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:x@y>\r\nP-Asserted-Identity: <sip:carrier@carrier>, <tel:+62-812-3456-7890>\r\n",
        );
        let n = numbers(&m, &trunk(None), 21);
        assert_eq!(n.caller(), "+6281234567890");
        assert_eq!(n.caller_raw, "+62-812-3456-7890");
        assert_eq!(n.called.as_deref(), Some("+62211500137"));

        // Withheld everywhere.
        let m = invite(
            "sip:137@192.0.2.1",
            "From: <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:137@192.0.2.1>\r\n",
        );
        let n = numbers(&m, &trunk(None), 21);
        assert_eq!(n.caller(), "anonymous");
        assert_eq!(n.called.as_deref(), Some("+6221137"));
    }

    #[test]
    fn the_did_comes_from_to_when_the_request_uri_has_none() {
        let to = "To: <tel:0800-1-500-137>\r\nFrom: <sip:0215551234@c>;tag=1\r\n";
        // The registered contact's account, then no user at all.
        for (ruri, account) in [
            ("sip:0215550001@192.0.2.1", Some("0215550001")),
            ("sip:dering@192.0.2.1", None),
            ("sip:192.0.2.1", None),
        ] {
            let n = numbers(&invite(ruri, to), &trunk(account), 21);
            assert_eq!(n.called.as_deref(), Some("+628001500137"), "{ruri}");
            assert_eq!(n.called_raw, "0800-1-500-137");
        }
        // A number in the Request-URI is the number called.
        let n = numbers(&invite("sip:1500137@192.0.2.1", to), &trunk(None), 21);
        assert_eq!(n.called.as_deref(), Some("+62211500137"));
    }

    #[test]
    fn only_trunkd_names_a_span_and_channel() {
        let text = format!(
            "{}\n[trunkd]\nsip = \"127.0.0.1:5090\"\n\n[[span]]\nname = \"telkom\"\nspan = 1\n",
            crate::config::DEFAULT_TOML
        );
        let t = TrustedPeers::new(&Config::parse(&text, "t.toml").unwrap());
        let m = invite(
            "sip:137@127.0.0.1",
            "From: <sip:0812@x>;tag=1\r\nTo: <sip:137@y>\r\nX-Dering-Channel: span=telkom;channel=5\r\n",
        );
        let trunkd = "127.0.0.1:5090".parse().unwrap();
        assert_eq!(t.trunkd_channel(trunkd, &m), Some(("telkom".into(), 5)));
        // Another source on the same address, or a box without trunkd.
        assert_eq!(
            t.trunkd_channel("127.0.0.1:5091".parse().unwrap(), &m),
            None
        );
        assert_eq!(
            TrustedPeers::new(&with("")).trunkd_channel(trunkd, &m),
            None
        );

        assert_eq!(
            parse_channel(" span = lab ; channel = 31 "),
            Some(("lab".into(), 31))
        );
        for bad in [
            "span=;channel=1",
            "span=a b;channel=1",
            "span=x;channel=0",
            "span=x;channel=99999",
            "telkom/1",
            "span=x",
        ] {
            assert_eq!(parse_channel(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_bad_address_names_its_line() {
        let text = format!(
            "{}\n[[trusted_peer]]\nname = \"x\"\naddresses = [\"10.0.0.300\"]\n",
            crate::config::DEFAULT_TOML
        );
        let e = Config::parse(&text, "t.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let line = text.lines().count();
        assert!(e.starts_with(&format!("t.toml:{line}:")), "{e}");
        assert!(e.contains("trusted_peer.addresses"), "{e}");
    }
}
