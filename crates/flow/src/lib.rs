//! Call flows (IVR-1..3, ACD-3, ACD-8, ACD-9): what the box does with a
//! call to one of its numbers before (or instead of) an agent.
//!
//! A flow is a JSON document: a graph of named nodes and a start node.
//! [`Flow::validate`] refuses dangling edges, unreachable nodes and
//! missing prompts, naming each. [`Session`] runs one call through a flow,
//! sans-IO: digits, the end of playback and timeouts go in; actions (play,
//! connect, hang up, count) come out. A session holds its flow by `Arc`,
//! so publishing a new version never disturbs a call in progress.

mod clock;
mod session;

use std::collections::{BTreeMap, BTreeSet};

use dering_media::speech::Lang;
use dering_telco::Permission;
use serde::{Deserialize, Serialize};

pub use clock::{is_date, Calendars, LocalTime, Schedule, WeeklyHours};
pub use session::{Action, Session, Target};

/// A call flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub name: String,
    /// The language a call starts in.
    #[serde(default = "default_lang")]
    pub language: Lang,
    pub start: String,
    pub nodes: BTreeMap<String, Node>,
    /// What the flow's `extension` nodes may dial outside the box (TEL-5,
    /// OPS-3: a backup site or mobile agents through the outbound
    /// routes). None, the default: extensions only, so a flow edited
    /// carelessly never becomes a way out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_permission: Option<Permission>,
}

fn default_lang() -> Lang {
    Lang::Id
}

fn default_timeout() -> u32 {
    5
}

fn default_retries() -> u32 {
    2
}

fn default_invalid() -> Vec<String> {
    vec!["invalid".into()]
}

fn default_no_input() -> Vec<String> {
    vec!["no_input".into()]
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// Plays prompts, then goes on.
    Play {
        prompts: Vec<String>,
        next: String,
    },
    /// Plays prompts and waits for one key: `choices` maps keys to nodes.
    /// A wrong key plays `invalid`, silence for `timeout_seconds` plays
    /// `no_input`; either repeats the menu up to `retries` times, then
    /// goes to `on_fail`.
    Menu {
        prompts: Vec<String>,
        choices: BTreeMap<char, String>,
        #[serde(default = "default_timeout")]
        timeout_seconds: u32,
        #[serde(default = "default_retries")]
        retries: u32,
        #[serde(default = "default_invalid")]
        invalid: Vec<String>,
        #[serde(default = "default_no_input")]
        no_input: Vec<String>,
        on_fail: String,
    },
    /// Collects up to `max_digits` keys (ended early by `#`) into the
    /// call's variable `variable`.
    Collect {
        prompts: Vec<String>,
        max_digits: u32,
        #[serde(default = "default_timeout")]
        timeout_seconds: u32,
        variable: String,
        next: String,
    },
    /// Switches the call's language (prompts are looked up in it).
    Language {
        language: Lang,
        next: String,
    },
    /// Goes to `open` within the schedule, else to `closed` (ACD-9). The
    /// hours are the named `calendar` of the configuration when one is
    /// given (its holidays closed), else the node's own `schedule`.
    Time {
        #[serde(default, skip_serializing_if = "Schedule::is_empty")]
        schedule: Schedule,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        calendar: Option<String>,
        open: String,
        closed: String,
    },
    /// Rings an extension, or an outside number when the flow has an
    /// `outside_permission` that allows it; `on_fail` when it cannot be
    /// reached.
    Extension {
        number: String,
        on_fail: String,
    },
    /// Rings a group of extensions, all at once.
    RingGroup {
        members: Vec<String>,
        on_fail: String,
    },
    /// Hands the call to an ACD queue.
    Queue {
        queue: String,
        on_fail: String,
    },
    Hangup {},
}

impl Node {
    /// The nodes this one can go to, with what leads there.
    pub fn edges(&self) -> Vec<(String, &str)> {
        match self {
            Node::Play { next, .. } | Node::Collect { next, .. } | Node::Language { next, .. } => {
                vec![("next".into(), next)]
            }
            Node::Menu {
                choices, on_fail, ..
            } => choices
                .iter()
                .map(|(k, v)| (format!("choice {k}"), v.as_str()))
                .chain([("on_fail".to_string(), on_fail.as_str())])
                .collect(),
            Node::Time { open, closed, .. } => {
                vec![("open".into(), open), ("closed".into(), closed)]
            }
            Node::Extension { on_fail, .. }
            | Node::RingGroup { on_fail, .. }
            | Node::Queue { on_fail, .. } => vec![("on_fail".into(), on_fail)],
            Node::Hangup {} => vec![],
        }
    }

    /// The prompts this node may play.
    pub fn prompts(&self) -> Vec<&str> {
        match self {
            Node::Play { prompts, .. } | Node::Collect { prompts, .. } => {
                prompts.iter().map(String::as_str).collect()
            }
            Node::Menu {
                prompts,
                invalid,
                no_input,
                ..
            } => prompts
                .iter()
                .chain(invalid)
                .chain(no_input)
                .map(String::as_str)
                .collect(),
            _ => vec![],
        }
    }
}

/// What is wrong with a flow: every problem, each naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow {flow}: {}", problems.join("; "))]
pub struct Invalid {
    pub flow: String,
    pub problems: Vec<String>,
}

impl Flow {
    pub fn from_json(text: &str) -> Result<Flow, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the graph and that every prompt exists in both languages
    /// (`has_prompt(lang, name)`).
    pub fn validate(&self, has_prompt: impl Fn(Lang, &str) -> bool) -> Result<(), Invalid> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push("the flow has no name".to_string());
        }
        if !self.nodes.contains_key(&self.start) {
            problems.push(format!("start node `{}` does not exist", self.start));
        }
        for (name, node) in &self.nodes {
            for (what, to) in node.edges() {
                if !self.nodes.contains_key(to) {
                    problems.push(format!("node `{name}` {what} → `{to}`: no such node"));
                }
            }
            for p in node.prompts() {
                for lang in [Lang::Id, Lang::En] {
                    if !has_prompt(lang, p) {
                        problems.push(format!(
                            "node `{name}` plays `{p}`, which has no {} prompt",
                            lang.code()
                        ));
                    }
                }
            }
            match node {
                Node::Menu { choices, .. } => {
                    for k in choices.keys() {
                        if dering_media::rfc4733::event_of(*k).is_none() {
                            problems.push(format!("node `{name}`: `{k}` is not a phone key"));
                        }
                    }
                    if choices.is_empty() {
                        problems.push(format!("node `{name}`: a menu without choices"));
                    }
                }
                Node::Collect { max_digits, .. } if *max_digits == 0 || *max_digits > 32 => {
                    problems.push(format!("node `{name}`: max_digits must be 1 to 32"));
                }
                Node::Time {
                    schedule, calendar, ..
                } => {
                    if let Err(e) = schedule.check() {
                        problems.push(format!("node `{name}`: {e}"));
                    }
                    match calendar {
                        Some(c) if !schedule.is_empty() => problems.push(format!(
                            "node `{name}`: names calendar `{c}` and has its own schedule; keep one"
                        )),
                        Some(c) if c.trim().is_empty() => {
                            problems.push(format!("node `{name}`: an empty calendar name"));
                        }
                        _ => {}
                    }
                }
                Node::RingGroup { members, .. } if members.is_empty() => {
                    problems.push(format!("node `{name}`: a ring group without members"));
                }
                _ => {}
            }
        }
        let reachable = self.reachable();
        let unreachable: Vec<&str> = self
            .nodes
            .keys()
            .filter(|n| !reachable.contains(n.as_str()))
            .map(String::as_str)
            .collect();
        if !unreachable.is_empty() {
            problems.push(format!(
                "unreachable from `{}`: {}",
                self.start,
                unreachable
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                flow: self.name.clone(),
                problems,
            })
        }
    }

    /// The calendars the flow's time nodes name: a publisher checks them
    /// against the configuration's `[[calendar]]`s (a call meeting an
    /// unknown one goes the closed way).
    pub fn calendars(&self) -> BTreeSet<&str> {
        self.nodes
            .values()
            .filter_map(|n| match n {
                Node::Time {
                    calendar: Some(c), ..
                } => Some(c.as_str()),
                _ => None,
            })
            .collect()
    }

    fn reachable(&self) -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.start.as_str()];
        while let Some(n) = todo.pop() {
            if !seen.insert(n) {
                continue;
            }
            if let Some(node) = self.nodes.get(n) {
                for (_, to) in node.edges() {
                    todo.push(to);
                }
            }
        }
        seen
    }

    /// The demo's flow (`137` and its sibling numbers): greeting, a menu
    /// with 1 information, 2 an officer, 9 the other language; closed
    /// hours answered by a message.
    pub fn demo() -> Flow {
        let text = include_str!("demo.json");
        // The document is part of the build and covered by a test.
        Flow::from_json(text).unwrap_or_else(|_| Flow {
            name: "broken demo".into(),
            language: Lang::Id,
            start: "hangup".into(),
            nodes: BTreeMap::from([("hangup".into(), Node::Hangup {})]),
            outside_permission: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_prompts(_: Lang, _: &str) -> bool {
        true
    }

    #[test]
    fn the_demo_flow_is_valid_with_the_shipped_prompts() {
        let f = Flow::demo();
        assert_eq!(f.name, "layanan-pengaduan");
        let prompts = dering_media::prompts::Prompts::builtin().unwrap();
        f.validate(|l, p| prompts.contains(l, p)).unwrap();
        // And it survives a JSON round trip.
        assert_eq!(Flow::from_json(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn problems_are_named_precisely() {
        let f = Flow::from_json(
            r#"{
              "name": "t", "start": "menu",
              "nodes": {
                "menu": {"type": "menu", "prompts": ["menu", "nope"],
                         "choices": {"1": "info", "2": "gone", "x": "info"},
                         "on_fail": "bye"},
                "info": {"type": "play", "prompts": ["information"], "next": "bye"},
                "bye": {"type": "hangup"},
                "orphan": {"type": "hangup"}
              }
            }"#,
        )
        .unwrap();
        let e = f.validate(|_, p| p != "nope").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("node `menu` choice 2 → `gone`: no such node"),
            "{text}"
        );
        assert!(
            text.contains("node `menu` plays `nope`, which has no id prompt"),
            "{text}"
        );
        assert!(
            text.contains("node `menu`: `x` is not a phone key"),
            "{text}"
        );
        assert!(text.contains("unreachable from `menu`: `orphan`"), "{text}");
        assert_eq!(e.problems.len(), 5, "{text}");
    }

    /// A flow dials outside only when given a permission (OPS-3); the
    /// field is left out of a flow without one, and a permission not of
    /// the plan is refused.
    #[test]
    fn the_outside_permission_is_opt_in() {
        let none =
            Flow::from_json(r#"{"name":"t","start":"a","nodes":{"a":{"type":"hangup"}}}"#).unwrap();
        assert_eq!(none.outside_permission, None);
        assert!(!none.to_json().contains("outside_permission"));
        let some = Flow::from_json(
            r#"{"name":"t","start":"a","outside_permission":"national","nodes":{"a":{"type":"hangup"}}}"#,
        )
        .unwrap();
        assert_eq!(some.outside_permission, Some(Permission::National));
        assert_eq!(Flow::from_json(&some.to_json()).unwrap(), some);
        assert!(Flow::from_json(
            r#"{"name":"t","start":"a","outside_permission":"moon","nodes":{"a":{"type":"hangup"}}}"#
        )
        .is_err());
    }

    #[test]
    fn unknown_fields_and_node_types_are_refused() {
        assert!(Flow::from_json(
            r#"{"name":"t","start":"a","nodes":{"a":{"type":"hangup","x":1}}}"#
        )
        .is_err());
        assert!(
            Flow::from_json(r#"{"name":"t","start":"a","nodes":{"a":{"type":"fax"}}}"#).is_err()
        );
        let ok =
            Flow::from_json(r#"{"name":"t","start":"a","nodes":{"a":{"type":"hangup"}}}"#).unwrap();
        ok.validate(all_prompts).unwrap();
        let missing_start = Flow {
            start: "b".into(),
            ..ok
        };
        assert!(missing_start
            .validate(all_prompts)
            .unwrap_err()
            .to_string()
            .contains("start node `b` does not exist"));
    }
}
