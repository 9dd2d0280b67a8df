//! Calls that leave the box through a carrier trunk (TEL-5, TRK-3;
//! decision 0015). The dial plan (`dialplan::outside`) has decided that
//! the caller may dial the number and which route carries it; this module
//! carries it out: the route's trunks in order (or by weight), those down,
//! full or at their call-rate cap skipped; the number written as the
//! carrier wants it; the caller-ID headers the trunk asks for; the codecs
//! in the trunk's order; the next trunk tried on a failure the trunk's (or
//! route's) `failover_on` names, and never on the callee's own answer;
//! refusals recorded with their reason; a burst of outside calls from one
//! extension raised as an alarm.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dering_media::speech::Lang;
use dering_sip::build::header;
use dering_sip::dialog::Dialog;
use dering_sip::sdp::{AudioSdp, Format};
use dering_sip::transaction::{Peer, Transport};
use dering_sip::uac::Credential;
use dering_sip::Message;
use dering_store::{CallEnd, CallOutside, CallParties, Disposition, Op};
use dering_telco::{classify_dialled_at, for_carrier, DialledClass, Permission};
use dering_trunk::{try_order, Order, RouteTrunk};

use super::dialplan::{Caller, Deny, OutsidePlan, Outward};
use super::target::{Target, TargetKind};
use super::trunk_state::TrunkStates;
use super::trusted::Trusted;
use super::{callee_offer, known_formats, BLegSpec, Core, Inbound, Now, Side};
use crate::config::{
    CallerIdHeader, Config, FailoverCause, Limits, Presentation, RedirectHeader, Route, Trunk,
    TrunkKind,
};
use dering_trunk::Target as ResolvedTarget;

/// What the running configuration says about calls going out, and the
/// live state of trunks and outside calls.
#[derive(Debug, Default)]
pub(super) struct Outside {
    pub plan: OutsidePlan,
    trunks: HashMap<String, Trunk>,
    routes: HashMap<String, Route>,
    /// Each extension's permission, limits and presented number.
    extensions: HashMap<String, (Permission, Limits, Option<Presentation>)>,
    /// Agents' own permissions, by agent id.
    agents: HashMap<String, Permission>,
    /// What each queue's callbacks may dial, by queue.
    callbacks: HashMap<String, Permission>,
    /// Calls the box placed whose outside leg has a permission of its own
    /// (a queue callback's), by call id.
    permit: HashMap<u64, Permission>,
    burst: (u32, Duration),
    utc_offset_minutes: i32,
    /// Up or down, and the call-rate windows, per trunk.
    pub states: TrunkStates,
    /// The outside calls up, by call id.
    legs: HashMap<u64, OutsideLeg>,
    /// When each extension's recent outside calls started (burst alarm).
    recent: HashMap<String, VecDeque<Instant>>,
    /// Refused calls hearing why in early media, and the final answer
    /// they get when it has been said.
    refusing: HashMap<u64, u16>,
    /// Each extension's answered outside time today: (local day, ms).
    talked: HashMap<String, (i64, i64)>,
    /// The extensions configured to hear the box in a language of their
    /// own (`extension.language`).
    languages: HashMap<String, Lang>,
}

/// The language a phone asks for in its INVITE's Accept-Language (RFC
/// 3261 §20.3), the first of ours it names, quality aside: a phone set to
/// English says `en`, so its caller hears the refusal in English whatever
/// the extension's configuration says.
fn phone_language(req: &Message) -> Option<Lang> {
    req.all("Accept-Language")
        .flat_map(|v| v.split(','))
        .filter_map(|tag| {
            let tag = tag.split(';').next()?.trim().to_ascii_lowercase();
            Lang::parse(tag.split('-').next()?)
        })
        .next()
}

/// The header naming extension `ext` (at `realm`) that forwarded a call
/// now going to `callee` through trunk `t`: Diversion (RFC 5806) or
/// History-Info (RFC 7044: the extension first, then the number it was
/// retargeted to with the 302 that stands for the forwarding, `mp` saying
/// the new target was mapped from index 1).
fn redirect_header(t: &Trunk, ext: &str, realm: &str, callee: &str) -> rsip::Header {
    match t.redirect_header {
        RedirectHeader::Diversion => header(
            "Diversion",
            format!("<sip:{ext}@{realm}>;reason=unconditional"),
        ),
        RedirectHeader::HistoryInfo => header(
            "History-Info",
            format!(
                "<sip:{ext}@{realm}>;index=1, <sip:{callee}@{}?Reason=SIP%3Bcause%3D302>;index=1.1;mp=1",
                t.host
            ),
        ),
    }
}

/// A B leg through a trunk, as built for one try.
pub(super) struct TrunkLeg {
    pub target: Target,
    /// The number as the carrier writes it (the Request-URI's user).
    pub callee: String,
    pub from: String,
    pub display: String,
    pub extra: Vec<rsip::Header>,
    pub formats: Vec<Format>,
}

/// An outside call: what it needs to try the next trunk.
#[derive(Debug, Clone)]
struct OutsideLeg {
    /// The extension (or trusted peer's caller) that dialled.
    caller: String,
    outward: Outward,
    /// A forwarded call: the extension it was forwarded from (Diversion,
    /// RFC 5806).
    diverted_from: Option<String>,
    /// The trunk being tried, and those left to try.
    trunk: String,
    left: Vec<String>,
}

impl Outside {
    pub(super) fn new(cfg: &Config) -> Outside {
        let mut o = Outside::default();
        o.reconfigure(cfg);
        o
    }

    /// Takes a new configuration; calls up keep their trunk, a trunk
    /// removed keeps no state.
    pub(super) fn reconfigure(&mut self, cfg: &Config) {
        self.plan = OutsidePlan::new(cfg);
        self.trunks = cfg
            .trunks
            .iter()
            .map(|t| (t.name.clone(), t.clone()))
            .collect();
        self.routes = cfg
            .routes
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect();
        self.extensions = cfg
            .extensions
            .iter()
            .map(|e| {
                (
                    e.number.clone(),
                    (e.permission, e.limits, e.caller_id.clone()),
                )
            })
            .collect();
        self.languages = cfg
            .extensions
            .iter()
            .filter_map(|e| Some((e.number.clone(), Lang::parse(e.language.as_deref()?)?)))
            .collect();
        self.agents = cfg
            .agents
            .iter()
            .filter_map(|a| Some((a.id.clone(), a.permission?)))
            .collect();
        self.callbacks = cfg
            .queues
            .iter()
            .map(|q| (q.name.clone(), q.callback_permission))
            .collect();
        self.burst = (
            cfg.outbound.burst_calls,
            Duration::from_secs(u64::from(cfg.outbound.burst_seconds)),
        );
        self.utc_offset_minutes = cfg.flows.utc_offset_minutes;
        let names: HashSet<&str> = cfg.trunks.iter().map(|t| t.name.as_str()).collect();
        self.states.keep_only(&names);
    }

    /// Whether call `call` is a refused outside call hearing why (its
    /// INVITE still unanswered).
    pub(super) fn is_refusing(&self, call: u64) -> bool {
        self.refusing.contains_key(&call)
    }

    /// Outside calls up through `trunk` (its calls in are counted by
    /// `trusted.rs`; `Core::trunk_busy` is both).
    pub(super) fn busy(&self, trunk: &str) -> u32 {
        let n = self.legs.values().filter(|l| l.trunk == trunk).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The trunk call `call` is going out through, if it is an outside
    /// call (recording rules by trunk, REC-2).
    pub(super) fn trunk_of(&self, call: u64) -> Option<&str> {
        self.legs.get(&call).map(|l| l.trunk.as_str())
    }

    /// The failures of a try through `trunk` on `route` that send the call
    /// on: the route's list, else the trunk's.
    fn failover_on(&self, route: &str, trunk: &str) -> Vec<FailoverCause> {
        self.routes
            .get(route)
            .and_then(|r| r.failover_on.clone())
            .or_else(|| self.trunks.get(trunk).map(|t| t.failover_on.clone()))
            .unwrap_or_default()
    }
}

/// Where a trunk's INVITE goes: its address, or for a host name the
/// address the resolver found (`resolved`, RFC 3263; none yet: the trunk
/// cannot be tried). The Request-URI keeps the carrier's name.
fn trunk_target(t: &Trunk, number: &str, resolved: Option<ResolvedTarget>) -> Option<Target> {
    let (addr, host) = match t.host.parse::<IpAddr>() {
        Ok(ip) => (
            SocketAddr::new(ip, t.default_port()),
            match ip {
                IpAddr::V6(_) => format!("[{ip}]"),
                IpAddr::V4(_) => ip.to_string(),
            },
        ),
        Err(_) => (resolved?.addr, t.host.clone()),
    };
    let (scheme, param) = match t.transport {
        Transport::Udp => ("sip", ""),
        Transport::Tcp => ("sip", ";transport=tcp"),
        Transport::Tls => ("sips", ""),
    };
    let credential = match &t.kind {
        TrunkKind::Register(a) => Some(Credential {
            username: a
                .auth_username
                .clone()
                .unwrap_or_else(|| a.username.clone()),
            password: a.password.clone(),
            realm: a.realm.clone(),
        }),
        TrunkKind::Ip => None,
    };
    Some(Target {
        uri: format!("{scheme}:{number}@{host}:{}{param}", addr.port()),
        peer: Peer {
            transport: t.transport,
            addr,
        },
        kind: TargetKind::Static,
        credential,
    })
}

/// The caller's formats for the carrier: the trunk's codecs in its order
/// (what the caller offered first among equals), then RFC 4733 events.
fn trunk_formats(t: &Trunk, offer: &AudioSdp) -> Vec<Format> {
    let all = callee_offer(offer);
    let mut out: Vec<Format> = t
        .codecs
        .iter()
        .filter_map(|c| all.iter().find(|f| f.name.eq_ignore_ascii_case(c)).cloned())
        .collect();
    if out.is_empty() {
        return out;
    }
    out.extend(offer.telephone_event().cloned());
    out
}

/// What the carrier is told about the caller: the user of From, its
/// display name, and the identity headers.
fn presentation(
    t: &Trunk,
    own: Option<&Presentation>,
    caller: &str,
    area_code: u16,
    realm: &str,
) -> (String, String, Vec<rsip::Header>) {
    let withheld = matches!(own, Some(Presentation::Withheld));
    let number = match own {
        Some(Presentation::Number(n)) => n.clone(),
        _ => t
            .caller_id
            .number
            .clone()
            .or_else(|| match &t.kind {
                TrunkKind::Register(a) => Some(a.username.clone()),
                TrunkKind::Ip => None,
            })
            .unwrap_or_else(|| caller.to_string()),
    };
    let d = classify_dialled_at(&number, area_code);
    let number = if d.class == DialledClass::Invalid {
        number
    } else {
        for_carrier(&d.number, t.number_format, &t.international_prefix)
    };
    let headers = &t.caller_id.headers;
    let mut extra = Vec::new();
    if headers.contains(&CallerIdHeader::PAssertedIdentity) {
        extra.push(header(
            "P-Asserted-Identity",
            format!("<sip:{number}@{realm}>"),
        ));
    }
    if headers.contains(&CallerIdHeader::RemotePartyId) {
        let privacy = if withheld { "full" } else { "off" };
        extra.push(header(
            "Remote-Party-ID",
            format!("<sip:{number}@{realm}>;party=calling;screen=yes;privacy={privacy}"),
        ));
    }
    if withheld {
        extra.push(header("Privacy", "id"));
        return ("anonymous".into(), "Anonymous".into(), extra);
    }
    let from = if headers.contains(&CallerIdHeader::From) {
        number.clone()
    } else {
        caller.to_string()
    };
    (from.clone(), from, extra)
}

impl Core {
    /// Who is dialling, for the dial plan: a trusted peer's route class, a
    /// logged-in agent's own permission, the extension's, or nothing
    /// outside for anyone else.
    pub(super) fn dial_caller(&self, now: Now, caller: &str, trusted: Option<&Trusted>) -> Caller {
        let permission = match trusted {
            Some(t) => Permission::from_name(&t.route_class).unwrap_or(Permission::Internal),
            None => self.permission_of(caller),
        };
        Caller {
            permission,
            at: dering_flow::LocalTime::from_wall_ms(now.wall_ms, self.outside.utc_offset_minutes),
        }
    }

    /// An extension's permission, or its logged-in agent's when the agent
    /// has one of its own.
    fn permission_of(&self, ext: &str) -> Permission {
        let agent = self
            .queues
            .acd
            .agent_at(ext)
            .and_then(|a| self.outside.agents.get(a).copied());
        agent
            .or_else(|| self.outside.extensions.get(ext).map(|e| e.0))
            .unwrap_or(Permission::Internal)
    }

    /// A number the dial plan sends nowhere: the SIP answer and, for an
    /// outside call the caller may not make, a call record with the
    /// reason and the refusal spoken in early media before the 403
    /// (nothing reaches a carrier).
    pub(super) fn refuse_outside(&mut self, now: Now, call: Inbound, deny: Deny) {
        let code = deny.sip_code();
        let (Deny::Forbidden(class), Some(reason)) = (deny, deny.reason()) else {
            self.respond(now, &call.key, &call.req, code, vec![]);
            return;
        };
        let uuid = format!("{:x}-{}", now.wall_ms, self.listen.tokens.token(12));
        let e164 = classify_dialled_at(&call.number, self.outside.plan.area_code).number;
        tracing::info!(
            %uuid,
            from = %dering_daemon::redact::number(&call.caller),
            class = class.name(),
            reason,
            "outside call refused"
        );
        let parties = CallParties {
            uuid: uuid.clone(),
            caller: call.caller.clone(),
            caller_name: self.users.get(&call.caller).map(|u| u.name.clone()),
            callee: call.number.clone(),
            callee_name: None,
            start_ms: now.wall_ms,
            answer_ms: None,
        };
        self.store(Op::CallStart(parties.clone()));
        self.store(Op::CallOutside(CallOutside {
            uuid: uuid.clone(),
            number_class: class.name().into(),
            callee_e164: e164,
            trunk: None,
            route: None,
            refused: Some(reason.into()),
        }));
        let warning = format!("399 dering \"outside call refused: {reason}\"");
        let Some(call) = self.say_refusal(now, call, parties, code) else {
            return;
        };
        self.store(Op::CallEnd(CallEnd {
            uuid,
            end_ms: now.wall_ms,
            disposition: Disposition::Failed,
            hangup_by: "system".into(),
            hangup_cause: format!("outside call refused: {reason}"),
            sip_code: Some(code),
        }));
        self.respond(
            now,
            &call.key,
            &call.req,
            code,
            vec![header("Warning", warning)],
        );
    }

    /// Plays the refusal to the caller in early media (183 with the box's
    /// SDP, as a carrier's announcement would): the caller hears why, and
    /// gets `code` once it has been said ([`Core::refusal_said`]). Gives
    /// the INVITE back when the caller offered nothing the box can play
    /// to.
    fn say_refusal(
        &mut self,
        now: Now,
        call: Inbound,
        parties: CallParties,
        code: u16,
    ) -> Option<Inbound> {
        let Ok(offer) = AudioSdp::parse(&call.req.body) else {
            return Some(call);
        };
        let (Some((codec, format)), Ok(a_sock)) =
            (known_formats(&offer).into_iter().next(), offer.addr_port())
        else {
            return Some(call);
        };
        let Some((a_port, b_port)) = self.take_ports(now) else {
            return Some(call);
        };
        let lang = phone_language(&call.req)
            .or_else(|| self.outside.languages.get(&call.caller).copied())
            .unwrap_or(Lang::Id);
        let Inbound { peer, key, req, .. } = call;
        let id = self.next_call;
        self.next_call += 1;
        let a = Dialog::from_invite(&req, peer, self.listen.tokens.token(10));
        self.by_call_id.insert(a.call_id.clone(), (id, Side::A));
        self.by_a_key.insert(key.clone(), id);
        self.a_invites.insert(key.clone(), req.clone());
        let b = Dialog::placeholder(peer);
        let mut c = super::Call::new(id, parties, (a, b), req, offer, (a_port, b_port), now.at)
            .starting_in(super::CallState::Flow);
        c.a.invite_key = key;
        c.a.codec = Some(codec);
        c.a.formats = vec![format.clone()];
        c.b.life = super::Life::Absent;
        self.calls.insert(id, c);
        self.open_media(id, a_port, b_port, a_sock, id);
        self.out
            .push_back(super::Output::Media(super::MediaCmd::Local {
                call: id,
                codec,
                event_pt: None,
            }));
        let body = self.a_sdp(id, vec![format], dering_sip::sdp::Direction::SendOnly);
        if let Some((a_key, data)) = self.response_to_a(id, 183, &body, vec![]) {
            self.tx.respond(now.at, &a_key, 183, data);
        }
        self.outside.refusing.insert(id, code);
        self.announce_and_hang_up_in(id, "outside_refused", lang);
        None
    }

    /// The box's goodbye to call `call` has been said: a refused outside
    /// call gets its final answer instead of a BYE. Returns whether it was
    /// one.
    pub(super) fn refusal_said(&mut self, now: Now, call: u64) -> bool {
        let Some(code) = self.outside.refusing.remove(&call) else {
            return false;
        };
        let ending = super::Ending::new(
            Disposition::Failed,
            "system",
            "outside call refused: permission",
            Some(code),
        );
        self.end_call(now, call, ending, code);
        true
    }

    /// The route's trunks that may take a call now, in the order to try
    /// them.
    fn trunks_to_try(&mut self, now: Now, route: &str) -> Vec<String> {
        let Some(r) = self.outside.routes.get(route) else {
            return Vec::new();
        };
        let mut candidates = Vec::new();
        for (i, name) in r.trunks.iter().enumerate() {
            let Some(t) = self.outside.trunks.get(name).filter(|t| t.enabled) else {
                continue;
            };
            let busy = self.trunk_busy(name);
            let usable = self
                .outside
                .states
                .check(name, (busy, t.channels), t.cps, now.at)
                .map_err(|why| tracing::debug!(trunk = %name, ?why, "trunk skipped"))
                .is_ok();
            candidates.push(RouteTrunk {
                trunk: name.clone(),
                weight: r.weights.get(i).copied().unwrap_or(1),
                usable,
            });
        }
        let order = if r.weights.is_empty() {
            Order::InOrder
        } else {
            Order::Weighted
        };
        self.listen
            .tokens
            .with_rng(|rng| try_order(&candidates, order, rng))
    }

    /// The parts of a B leg through `trunk` for `leg`: where it goes, the
    /// number as the carrier writes it, the presented caller and its
    /// headers, the codecs in the trunk's order.
    fn trunk_leg(&self, trunk: &str, leg: &OutsideLeg, offer: &AudioSdp) -> Option<TrunkLeg> {
        let t = self.outside.trunks.get(trunk)?;
        let callee = for_carrier(
            &leg.outward.dialled.number,
            t.number_format,
            &t.international_prefix,
        );
        let Some(target) = trunk_target(t, &callee, self.trunk_target(trunk)) else {
            tracing::warn!(trunk = %trunk, host = %t.host, "trunk host not resolved yet");
            return None;
        };
        let formats = trunk_formats(t, offer);
        if formats.is_empty() {
            tracing::info!(trunk = %trunk, "caller offered none of the trunk's codecs");
            return None;
        }
        let own = self
            .outside
            .extensions
            .get(&leg.caller)
            .and_then(|e| e.2.clone());
        let (from, display, mut extra) = presentation(
            t,
            own.as_ref(),
            &leg.caller,
            self.outside.plan.area_code,
            &self.realm,
        );
        if let Some(ext) = &leg.diverted_from {
            extra.push(redirect_header(t, ext, &self.realm, &callee));
        }
        Some(TrunkLeg {
            target,
            callee,
            from,
            display,
            extra,
            formats,
        })
    }

    /// Builds and sends the INVITE of call `call`'s B leg through `trunk`.
    fn invite_trunk(
        &mut self,
        now: Now,
        call: u64,
        trunk: &str,
        leg: &OutsideLeg,
        offer: &AudioSdp,
        b_port: u16,
    ) -> Option<(Dialog, String, Message)> {
        let t = self.trunk_leg(trunk, leg, offer)?;
        let spec = BLegSpec {
            call,
            caller: &t.from,
            display: &t.display,
            callee: &t.callee,
            target: &t.target,
            formats: t.formats,
            direction: offer.direction,
            ptime: offer.ptime,
            b_port,
            extra: t.extra,
        };
        let invite = self.invite_b(now, spec)?;
        self.outside.states.started(trunk, now.at);
        self.trunk_call_started(now, trunk);
        tracing::info!(call, trunk = %trunk, route = %leg.outward.route, "outside call sent to trunk");
        Some(invite)
    }

    /// A blind transfer by `by` hands a party to outside `number`: the B
    /// leg's parts through the first trunk of its route that can take it
    /// now, under `by`'s permission (TEL-5: a transfer is no way around
    /// it). Counted against the trunk's call rate, and in the call record.
    pub(super) fn transfer_leg(
        &mut self,
        now: Now,
        call: u64,
        by: &str,
        number: &str,
        offer: &AudioSdp,
    ) -> Result<TrunkLeg, &'static str> {
        let outward = self
            .outward_for(now, by, number, None)
            .map_err(|_| "not permitted or no route")?;
        let mut leg = OutsideLeg {
            caller: by.to_string(),
            outward,
            diverted_from: None,
            trunk: String::new(),
            left: Vec::new(),
        };
        self.burst_check(now, by);
        for trunk in self.trunks_to_try(now, &leg.outward.route) {
            let Some(t) = self.trunk_leg(&trunk, &leg, offer) else {
                continue;
            };
            self.outside.states.started(&trunk, now.at);
            leg.trunk = trunk;
            if let Some(uuid) = self.calls.get(&call).map(|c| c.parties.uuid.clone()) {
                self.store(self.outside_record(&uuid, &leg));
            }
            self.outside.legs.insert(call, leg);
            return Ok(t);
        }
        Err("no trunk can take the call")
    }

    /// A call the dial plan sends out through route `outward.route`.
    pub(super) fn start_trunk_call(&mut self, now: Now, call: Inbound, outward: Outward) {
        let caller = call.caller.clone();
        self.start_outside(now, call, outward, caller, None);
    }

    /// A call to an extension forwarded (unconditionally) to an outside
    /// number: it goes out under the forwarding extension's permission,
    /// with a Diversion naming it. The INVITE comes back, unanswered,
    /// when that extension may not reach the number now.
    pub(super) fn forward_out(
        &mut self,
        now: Now,
        call: Inbound,
        from: &str,
        number: &str,
    ) -> Option<Inbound> {
        match self.outward_for(now, from, number, None) {
            Ok(outward) => {
                self.start_outside(now, call, outward, from.to_string(), Some(from.to_string()));
                None
            }
            Err(_) => Some(call),
        }
    }

    /// An outside call from `caller` (whose permission, limits and
    /// presented number apply), diverted from an extension or not.
    fn start_outside(
        &mut self,
        now: Now,
        call: Inbound,
        outward: Outward,
        caller: String,
        diverted_from: Option<String>,
    ) {
        self.outside
            .legs
            .retain(|id, _| self.calls.contains_key(id));
        self.outside
            .refusing
            .retain(|id, _| self.calls.contains_key(id));
        // Emergency calls are never limited.
        let limited = outward.dialled.class != DialledClass::Emergency;
        if let Some((_, limits, _)) = self.outside.extensions.get(&caller).filter(|_| limited) {
            let up = self
                .outside
                .legs
                .values()
                .filter(|l| l.caller == caller)
                .count();
            if limits.outside_calls.is_some_and(|max| up >= max as usize) {
                tracing::info!(from = %dering_daemon::redact::number(&call.caller), "outside call limit reached");
                self.respond(now, &call.key, &call.req, 486, vec![]);
                return;
            }
            let today = self.dial_caller(now, &caller, None).at.day;
            let talked = match self.outside.talked.get(&caller) {
                Some((day, ms)) if *day == today => *ms,
                _ => 0,
            };
            if limits
                .outside_minutes_per_day
                .is_some_and(|m| talked >= i64::from(m) * 60_000)
            {
                tracing::info!(from = %dering_daemon::redact::number(&call.caller), "outside minutes for today used up");
                let warning = "399 dering \"outside minutes for today used up\"";
                self.respond(
                    now,
                    &call.key,
                    &call.req,
                    403,
                    vec![header("Warning", warning)],
                );
                return;
            }
        }
        self.burst_check(now, &caller);
        let mut order = self.trunks_to_try(now, &outward.route);
        if order.is_empty() {
            tracing::warn!(route = %outward.route, "no trunk of the route can take a call now");
            self.respond(now, &call.key, &call.req, 503, vec![]);
            return;
        }
        let Ok(offer) = AudioSdp::parse(&call.req.body) else {
            self.respond(now, &call.key, &call.req, 488, vec![]);
            return;
        };
        let (Ok(a_sock), false) = (offer.addr_port(), known_formats(&offer).is_empty()) else {
            self.respond(now, &call.key, &call.req, 488, vec![]);
            return;
        };
        let Some((a_port, b_port)) = self.take_ports(now) else {
            tracing::error!("RTP port range exhausted");
            self.respond(now, &call.key, &call.req, 503, vec![]);
            return;
        };
        let id = self.next_call;
        let mut leg = OutsideLeg {
            caller,
            outward,
            diverted_from,
            trunk: String::new(),
            left: Vec::new(),
        };
        let mut invite = None;
        while !order.is_empty() {
            let trunk = order.remove(0);
            if let Some(i) = self.invite_trunk(now, id, &trunk, &leg, &offer, b_port) {
                leg.trunk = trunk;
                invite = Some(i);
                break;
            }
        }
        let Some(b) = invite else {
            self.ports.unused([a_port, b_port]);
            self.respond(now, &call.key, &call.req, 503, vec![]);
            return;
        };
        leg.left = order;
        self.next_call += 1;
        let Inbound {
            peer,
            key,
            req,
            caller,
            number,
            source,
        } = call;
        let uuid = format!("{:x}-{}", now.wall_ms, self.listen.tokens.token(12));
        let a = Dialog::from_invite(&req, peer, self.listen.tokens.token(10));
        let parties = CallParties {
            uuid: uuid.clone(),
            caller_name: self.users.get(&caller).map(|u| u.name.clone()),
            caller,
            callee: number,
            callee_name: None,
            start_ms: now.wall_ms,
            answer_ms: None,
        };
        self.store(Op::CallStart(parties.clone()));
        self.store(self.outside_record(&uuid, &leg));
        if let Some(s) = &source {
            self.tag_source(now, &uuid, s);
        }
        self.open_media(id, a_port, b_port, a_sock, id);
        self.by_call_id.insert(a.call_id.clone(), (id, Side::A));
        self.by_a_key.insert(key.clone(), id);
        self.a_invites.insert(key.clone(), req);
        let mut c = self.ringing(now, id, parties, (a, offer), b, (a_port, b_port));
        c.a.invite_key = key;
        self.calls.insert(id, c);
        self.outside.legs.insert(id, leg);
        self.call_started(now, id);
    }

    /// The route that takes `caller`'s call to outside `number` now, with
    /// the caller's own permission or `permission` (a queue callback's).
    pub(super) fn outward_for(
        &self,
        now: Now,
        caller: &str,
        number: &str,
        permission: Option<Permission>,
    ) -> Result<Outward, Deny> {
        let mut who = self.dial_caller(now, caller, None);
        if let Some(p) = permission {
            who.permission = p;
        }
        match super::dialplan::outside(&self.outside.plan, who, number) {
            super::dialplan::Route::Trunk(o) => Ok(o),
            super::dialplan::Route::Deny(d) => Err(d),
            _ => Err(Deny::NotFound),
        }
    }

    /// What a queue's callbacks may dial.
    pub(super) fn callback_permission(&self, queue: &str) -> Permission {
        self.outside
            .callbacks
            .get(queue)
            .copied()
            .unwrap_or(Permission::National)
    }

    /// Forgets call `call`'s outside leg, which failed for good while the
    /// call goes on (a flow's connection to an outside number): its trunk
    /// is no longer busy with it and no failover starts from it.
    pub(super) fn drop_outside_leg(&mut self, call: u64) {
        self.outside.legs.remove(&call);
    }

    /// Gives call `call` (one the box placed, or a forwarded one) a
    /// permission of its own for the outside leg it will ring.
    pub(super) fn permit_outside(&mut self, call: u64, permission: Permission) {
        self.outside.permit.insert(call, permission);
    }

    /// Rings outside `number` as the B leg of call `call`, which is
    /// ringing (a forward) or whose caller has answered (click-to-dial, a
    /// callback): `caller`'s permission (or the call's own, see
    /// [`Core::permit_outside`]) and the route decide, as when dialled.
    /// `diverted_from` names the extension a forwarded call came to.
    /// Returns whether a trunk is ringing.
    pub(super) fn ring_outside(
        &mut self,
        now: Now,
        call: u64,
        caller: &str,
        number: &str,
        diverted_from: Option<String>,
    ) -> bool {
        let permission = self.outside.permit.remove(&call);
        let outward = match self.outward_for(now, caller, number, permission) {
            Ok(o) => o,
            Err(deny) => {
                tracing::info!(call, ?deny, "outside leg not permitted or not routed");
                return false;
            }
        };
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let (offer, b_port, old_call_id, old_key, uuid) = (
            c.offer.clone(),
            c.b.port,
            c.b.call_id.clone(),
            c.b.invite_key.clone(),
            c.parties.uuid.clone(),
        );
        self.outside
            .legs
            .retain(|id, _| self.calls.contains_key(id));
        self.burst_check(now, caller);
        let mut order = self.trunks_to_try(now, &outward.route);
        let mut leg = OutsideLeg {
            caller: caller.to_string(),
            outward,
            diverted_from,
            trunk: String::new(),
            left: Vec::new(),
        };
        while !order.is_empty() {
            let trunk = order.remove(0);
            let Some(invite) = self.invite_trunk(now, call, &trunk, &leg, &offer, b_port) else {
                continue;
            };
            self.by_call_id.remove(&old_call_id);
            self.clients.remove(&old_key);
            if self.ring_b(now, call, invite).is_none() {
                return false;
            }
            leg.trunk = trunk;
            leg.left = order;
            self.store(self.outside_record(&uuid, &leg));
            self.outside.legs.insert(call, leg);
            return true;
        }
        false
    }

    fn outside_record(&self, uuid: &str, leg: &OutsideLeg) -> Op {
        Op::CallOutside(CallOutside {
            uuid: uuid.to_string(),
            number_class: leg.outward.dialled.class.name().into(),
            callee_e164: leg.outward.dialled.number.clone(),
            trunk: Some(leg.trunk.clone()),
            route: Some(leg.outward.route.clone()),
            refused: None,
        })
    }

    /// The B leg of an outside call failed with `status` (`None`: no
    /// answer in time): tries the route's next trunk when the failure is
    /// one to fail over on. Returns whether it did.
    pub(super) fn trunk_failed(&mut self, now: Now, call: u64, status: Option<u16>) -> bool {
        let Some(mut leg) = self.outside.legs.get(&call).cloned() else {
            return false;
        };
        let causes = self.outside.failover_on(&leg.outward.route, &leg.trunk);
        if !causes.iter().any(|c| c.covers(status)) {
            return false;
        }
        let Some(c) = self
            .calls
            .get(&call)
            // A call answered at the box (a queue's backup, OPS-3) rings
            // its outside leg while in its flow.
            .filter(|c| {
                matches!(
                    c.state(),
                    super::CallState::Ringing | super::CallState::Flow
                ) && c.a.is_live()
            })
        else {
            return false;
        };
        let (offer, b_port, old_call_id, old_key, uuid) = (
            c.offer.clone(),
            c.b.port,
            c.b.call_id.clone(),
            c.b.invite_key.clone(),
            c.parties.uuid.clone(),
        );
        let failed = std::mem::take(&mut leg.trunk);
        while !leg.left.is_empty() {
            let next = leg.left.remove(0);
            let busy = self.trunk_busy(&next);
            let Some(t) = self.outside.trunks.get(&next) else {
                continue;
            };
            let (channels, cps) = (t.channels, t.cps);
            if self
                .outside
                .states
                .check(&next, (busy, channels), cps, now.at)
                .is_err()
            {
                continue;
            }
            let Some(invite) = self.invite_trunk(now, call, &next, &leg, &offer, b_port) else {
                continue;
            };
            self.by_call_id.remove(&old_call_id);
            self.clients.remove(&old_key);
            if self.ring_b(now, call, invite).is_none() {
                return false;
            }
            tracing::info!(call, from = %failed, to = %next, ?status, "outside call failed over");
            leg.trunk = next.clone();
            self.store(Op::CallEvent {
                uuid: uuid.clone(),
                at_ms: now.wall_ms,
                kind: "trunk_failover".into(),
                detail: Some(format!(
                    "{failed} -> {next} ({})",
                    status.map_or("timeout".to_string(), |s| s.to_string())
                )),
            });
            self.store(self.outside_record(&uuid, &leg));
            self.outside.legs.insert(call, leg);
            return true;
        }
        false
    }

    /// Counts an outside call from `caller` and raises the burst alarm
    /// when it makes `burst_calls` within `burst_seconds` (the toll-fraud
    /// pattern: a hijacked phone dialling abroad fast).
    fn burst_check(&mut self, now: Now, caller: &str) {
        let (calls, window) = self.outside.burst;
        if calls == 0 {
            return;
        }
        let recent = self.outside.recent.entry(caller.to_string()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.at.saturating_duration_since(*t) >= window)
        {
            recent.pop_front();
        }
        recent.push_back(now.at);
        if recent.len() == calls as usize {
            tracing::warn!(
                extension = %caller,
                calls,
                seconds = window.as_secs(),
                "burst of outside calls: possible toll fraud"
            );
            self.out.push_back(super::Output::Publish(
                dering_control::Event::OutsideBurst {
                    at_ms: now.wall_ms,
                    extension: caller.to_string(),
                    calls,
                    seconds: u32::try_from(window.as_secs()).unwrap_or(u32::MAX),
                },
            ));
        }
    }

    /// Call `c` ended: an outside call's answered time counts against its
    /// caller's minutes of the day.
    pub(super) fn outside_gone(&mut self, now: Now, c: &super::Call) {
        let Some(leg) = self.outside.legs.remove(&c.id) else {
            return;
        };
        self.outside.permit.remove(&c.id);
        let Some(answered) = c.parties.answer_ms else {
            return;
        };
        let today = self.dial_caller(now, &leg.caller, None).at.day;
        let t = self.outside.talked.entry(leg.caller).or_insert((today, 0));
        if t.0 != today {
            *t = (today, 0);
        }
        t.1 += (now.wall_ms - answered).max(0);
    }

    /// Each extension's outside minutes of today, recounted after a
    /// restart from the call records (`rows`: caller, answer and end in
    /// wall ms, as `Store::outside_talk_since` gives them), so a limit
    /// per day (TEL-5) is not reset by restarting the box. Calls answered
    /// before today's local midnight (WIB) are left out. Returns how many
    /// calls counted.
    pub fn restore_outside_minutes(&mut self, now: Now, rows: &[(String, i64, i64)]) -> usize {
        let offset = self.outside.utc_offset_minutes;
        let today = dering_flow::LocalTime::from_wall_ms(now.wall_ms, offset).day;
        let mut n = 0;
        for (caller, answered, ended) in rows {
            if dering_flow::LocalTime::from_wall_ms(*answered, offset).day != today {
                continue;
            }
            let t = self
                .outside
                .talked
                .entry(caller.clone())
                .or_insert((today, 0));
            if t.0 != today {
                *t = (today, 0);
            }
            t.1 += (ended - answered).max(0);
            n += 1;
        }
        n
    }

    /// The keep-alive found trunk `name`'s carrier gone: routes skip it
    /// until [`Core::trunk_up`].
    pub fn trunk_down(&mut self, name: &str) {
        self.outside.states.trunk_down(name);
    }

    /// Trunk `name`'s carrier answers again.
    pub fn trunk_up(&mut self, name: &str) {
        self.outside.states.trunk_up(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(accept: &str) -> Message {
        let text = format!("INVITE sip:001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\nFrom: <sip:1010@127.0.0.1>;tag=a\r\nTo: <sip:001@127.0.0.1>\r\nCall-ID: l1\r\nCSeq: 1 INVITE\r\n{accept}Content-Length: 0\r\n\r\n");
        Message::parse_datagram(text.as_bytes()).unwrap()
    }

    /// The phone's own language (Accept-Language) for the refusal.
    #[test]
    fn the_phones_accept_language_names_the_refusals_language() {
        assert_eq!(phone_language(&invite("")), None);
        assert_eq!(
            phone_language(&invite("Accept-Language: en-US;q=0.9, id\r\n")),
            Some(Lang::En)
        );
        assert_eq!(
            phone_language(&invite("Accept-Language: fr, id-ID\r\n")),
            Some(Lang::Id)
        );
        assert_eq!(phone_language(&invite("Accept-Language: fr\r\n")), None);
    }
}
