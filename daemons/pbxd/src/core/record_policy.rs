//! Which calls are recorded (REC-2): the `[recording]` default share and
//! the rules that override it for an extension, a dialed number, a flow,
//! an ACD queue or a carrier trunk (the call came in or went out through
//! it), each within weekly windows in local time (WIB). The first rule
//! that matches a call at that moment decides; a rule outside its windows
//! does not match, so "record the 137 line in office hours" is one rule
//! over a default of 0.

use dering_flow::{LocalTime, Schedule};

use dering_control::CallEventKind;

use super::call::{CallChange, StateEvent};
use super::{Core, MediaCmd, Now, Output, RecordMeta};
use crate::config::Recording;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Extension(String),
    Number(String),
    Flow(String),
    Queue(String),
    Trunk(String),
}

#[derive(Debug)]
struct Rule {
    selector: Selector,
    percent: u8,
    windows: Schedule,
}

/// The recording policy of the box.
#[derive(Debug)]
pub(super) struct RecordPolicy {
    default: u8,
    rules: Vec<Rule>,
}

/// What a call is matched on.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallFacts<'a> {
    pub caller: &'a str,
    /// The number dialed (a service number, a room, an extension).
    pub dialed: &'a str,
    /// The extension a flow connected the caller to.
    pub connected: Option<&'a str>,
    pub flow: Option<&'a str>,
    /// The ACD queue an agent took the call from.
    pub queue: Option<&'a str>,
    /// The carrier trunk the call came in or went out through.
    pub trunk: Option<&'a str>,
}

impl RecordPolicy {
    pub(super) fn new(cfg: &Recording) -> RecordPolicy {
        RecordPolicy {
            default: cfg.percent.min(100),
            rules: cfg
                .rules
                .iter()
                .filter_map(|r| {
                    let selector = match (&r.extension, &r.number, &r.flow, &r.queue, &r.trunk) {
                        (Some(e), ..) => Selector::Extension(e.clone()),
                        (_, Some(n), ..) => Selector::Number(n.clone()),
                        (_, _, Some(f), ..) => Selector::Flow(f.clone()),
                        (_, _, _, Some(q), _) => Selector::Queue(q.clone()),
                        (.., Some(t)) => Selector::Trunk(t.clone()),
                        _ => return None,
                    };
                    Some(Rule {
                        selector,
                        percent: r.percent.min(100),
                        windows: Schedule {
                            weekly: r.windows.clone(),
                            holidays: Vec::new(),
                            always_open: r.windows.is_empty(),
                        },
                    })
                })
                .collect(),
        }
    }

    /// The share of calls like `call` at `t` to record, and the rule (by
    /// position) that said so, `None` for the default.
    pub(super) fn percent(&self, call: CallFacts<'_>, t: LocalTime) -> (u8, Option<usize>) {
        for (i, r) in self.rules.iter().enumerate() {
            let matches = match &r.selector {
                Selector::Extension(e) => {
                    call.caller == e || call.dialed == e || call.connected == Some(e.as_str())
                }
                Selector::Number(n) => call.dialed == n,
                Selector::Flow(f) => call.flow == Some(f.as_str()),
                Selector::Queue(q) => call.queue == Some(q.as_str()),
                Selector::Trunk(t) => call.trunk == Some(t.as_str()),
            };
            if matches && r.windows.is_open(t) {
                return (r.percent, Some(i));
            }
        }
        (self.default, None)
    }

    /// Whether to record a call given its share and a draw in `0..100`
    /// (from the core's generator).
    pub(super) fn pick(percent: u8, draw: u8) -> bool {
        match percent {
            0 => false,
            100.. => true,
            p => draw < p,
        }
    }
}

impl Core {
    /// The recording policy's share of the call events: a call answered
    /// is recorded if the policy picks it. A party the box added to a
    /// three-way call has no caller's leg of its own: the host call is
    /// recorded.
    pub(super) fn record_call_event(&mut self, now: Now, event: CallChange<'_>) {
        if let CallChange::Moved(call, StateEvent::Answered) = event {
            if self.calls.get(&call).is_some_and(|c| c.a.is_live()) {
                self.maybe_record(now, call);
            }
        }
    }

    /// The carrier trunk call `call` (whose caller's leg is `a_call_id`)
    /// went out or came in through.
    fn call_trunk(&self, call: u64, a_call_id: &str) -> Option<String> {
        self.outside
            .trunk_of(call)
            .or_else(|| self.trusted.trunk_in(a_call_id))
            .map(str::to_string)
    }

    /// Starts recording `call` if the policy picks it.
    fn maybe_record(&mut self, now: Now, call: u64) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let queue = c.queue.as_deref();
        let trunk = self.call_trunk(call, &c.a.call_id);
        let facts = CallFacts {
            caller: &c.parties.caller,
            dialed: &c.parties.callee,
            connected: c.connected.as_deref(),
            flow: c.flow().map(|f| f.flow_name()),
            queue: queue
                .filter(|q| q.agent.is_some())
                .map(|q| q.queue.as_str()),
            trunk: trunk.as_deref(),
        };
        let t = dering_flow::LocalTime::from_wall_ms(now.wall_ms, self.flows.utc_offset());
        let (percent, rule) = self.record_policy.percent(facts, t);
        if !RecordPolicy::pick(percent, self.listen.tokens.percent()) {
            tracing::debug!(call, percent, ?rule, "not recorded");
            return;
        }
        let agent = queue
            .and_then(|q| q.agent.clone())
            .or_else(|| c.connected.clone())
            .or_else(|| {
                self.users
                    .contains_key(&c.parties.callee)
                    .then(|| c.parties.callee.clone())
            });
        let meta = RecordMeta {
            uuid: c.parties.uuid.clone(),
            caller: c.parties.caller.clone(),
            callee: c.parties.callee.clone(),
            agent,
            service: queue
                .map(|q| q.queue.clone())
                .or_else(|| c.flow().map(|f| f.flow_name().to_string())),
            at_ms: now.wall_ms,
        };
        self.out
            .push_back(Output::Media(MediaCmd::Record { call, meta }));
        self.call_event(now, call, CallEventKind::Recorded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &str, default: u8) -> RecordPolicy {
        let text = format!(
            "{}\n{rules}",
            crate::config::DEFAULT_TOML.replace("percent = 100", &format!("percent = {default}"))
        );
        let cfg = crate::config::Config::parse(&text, "t.toml").unwrap();
        RecordPolicy::new(&cfg.recording)
    }

    const WIB: i32 = 7 * 60;
    /// 2026-11-23 (a Monday) at `hh`:00 WIB.
    fn monday(hh: i64) -> LocalTime {
        let midnight_wib_utc_ms = 20_780 * 86_400_000 - 7 * 3_600_000;
        LocalTime::from_wall_ms(midnight_wib_utc_ms + hh * 3_600_000, WIB)
    }

    fn call<'a>(caller: &'a str, dialed: &'a str, flow: Option<&'a str>) -> CallFacts<'a> {
        CallFacts {
            caller,
            dialed,
            connected: None,
            flow,
            queue: None,
            trunk: None,
        }
    }

    #[test]
    fn first_matching_rule_decides_else_the_default() {
        let p = policy(
            "[[recording.rule]]\nextension = \"1002\"\npercent = 0\n\n[[recording.rule]]\nnumber = \"137\"\npercent = 100\n",
            30,
        );
        assert_eq!(
            p.percent(call("1001", "1002", None), monday(9)),
            (0, Some(0))
        );
        assert_eq!(
            p.percent(call("1002", "1005", None), monday(9)),
            (0, Some(0))
        );
        assert_eq!(
            p.percent(call("1001", "137", None), monday(9)),
            (100, Some(1))
        );
        assert_eq!(p.percent(call("1001", "1003", None), monday(9)), (30, None));
        // A flow's connected officer counts as the extension.
        let mut c = call("1001", "137", Some("layanan-pengaduan"));
        c.connected = Some("1002");
        assert_eq!(p.percent(c, monday(9)), (0, Some(0)));
    }

    /// REC-2: a queue's calls, recorded whatever the flow before it.
    #[test]
    fn a_queue_rule_records_the_calls_agents_took_from_it() {
        let p = policy(
            "[[recording.rule]]\nqueue = \"pengaduan\"\npercent = 100\n",
            0,
        );
        let mut c = call("1001", "137", Some("layanan-pengaduan"));
        assert_eq!(p.percent(c, monday(9)), (0, None));
        c.queue = Some("pengaduan");
        assert_eq!(p.percent(c, monday(9)), (100, Some(0)));
        c.queue = Some("pajak");
        assert_eq!(p.percent(c, monday(9)), (0, None));
    }

    /// REC-2, issue 13: a trunk's calls, whichever way they went; the
    /// rule names a configured trunk.
    #[test]
    fn a_trunk_rule_records_the_calls_through_that_trunk() {
        let trunk = "[[trunk]]\nname = \"telkom\"\nkind = \"ip\"\nhost = \"127.0.0.1\"\naddresses = [\"127.0.0.1\"]\n\n";
        let p = policy(
            &format!("{trunk}[[recording.rule]]\ntrunk = \"telkom\"\npercent = 100\n"),
            0,
        );
        let mut c = call("+6281234567", "137", Some("layanan-pengaduan"));
        assert_eq!(p.percent(c, monday(9)), (0, None));
        c.trunk = Some("telkom");
        assert_eq!(p.percent(c, monday(9)), (100, Some(0)));
        c.trunk = Some("indosat");
        assert_eq!(p.percent(c, monday(9)), (0, None));
    }

    #[test]
    fn windows_hold_a_rule_to_its_hours_in_wib() {
        let p = policy(
            "[[recording.rule]]\nflow = \"layanan-pengaduan\"\npercent = 100\nwindows = [{ days = [\"mon\", \"tue\"], from = \"08:00\", to = \"16:00\" }]\n",
            0,
        );
        let c = call("1001", "137", Some("layanan-pengaduan"));
        assert_eq!(p.percent(c, monday(8)), (100, Some(0)));
        assert_eq!(p.percent(c, monday(15)), (100, Some(0)));
        assert_eq!(p.percent(c, monday(16)), (0, None), "to is exclusive");
        assert_eq!(p.percent(c, monday(7)), (0, None));
        // Sunday 10:00 (the day before).
        assert_eq!(p.percent(c, monday(10 - 24)), (0, None));
        assert!(!RecordPolicy::pick(0, 0));
        assert!(RecordPolicy::pick(100, 99));
        assert!(RecordPolicy::pick(30, 29));
        assert!(!RecordPolicy::pick(30, 30));
    }
}
