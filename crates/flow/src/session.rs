//! One call's walk through a flow, sans-IO. The shell carries out the
//! actions and reports back: playback finished, a key, a timer, a
//! connection that failed.

use std::collections::BTreeMap;
use std::sync::Arc;

use dering_media::speech::Lang;

use crate::clock::{Calendars, LocalTime};
use crate::{Flow, Node};

/// Where a call is handed over to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Extension(String),
    RingGroup(Vec<String>),
    Queue(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play these prompts in `lang`, one after the other; keys stop the
    /// playback when `interruptible`.
    Play {
        lang: Lang,
        prompts: Vec<String>,
        interruptible: bool,
    },
    StopPlayback,
    /// Report [`Session::on_timeout`] with `id` after `seconds`, unless
    /// a newer timer replaced it.
    Timer {
        id: u64,
        seconds: u32,
    },
    Connect(Target),
    Hangup,
    /// For the flow's counters (ACD-8): a node entered, or a menu choice.
    Count {
        node: String,
        choice: Option<char>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Wait {
    /// Playing a node's prompts.
    Playing,
    /// A menu or collect node waiting for keys after its prompts.
    Keys,
    Connecting,
    Done,
}

/// Transitions allowed without waiting for anything: a flow that loops
/// through nodes that neither play nor wait is cut off here.
const MAX_STEPS: u32 = 64;

#[derive(Debug)]
pub struct Session {
    flow: Arc<Flow>,
    version: i64,
    node: String,
    lang: Lang,
    wait: Wait,
    retries: u32,
    digits: String,
    vars: BTreeMap<String, String>,
    timer: u64,
    /// The configuration's calendars when the call started, for time
    /// nodes that name one.
    calendars: Arc<Calendars>,
}

impl Session {
    /// Starts a call on `flow` (version `version`) at local time `now`.
    pub fn start(flow: Arc<Flow>, version: i64, now: LocalTime) -> (Session, Vec<Action>) {
        Session::start_with(flow, version, now, Arc::default())
    }

    /// Starts a call as [`Session::start`] does, with the configuration's
    /// named calendars for the flow's time nodes.
    pub fn start_with(
        flow: Arc<Flow>,
        version: i64,
        now: LocalTime,
        calendars: Arc<Calendars>,
    ) -> (Session, Vec<Action>) {
        let mut s = Session {
            calendars,
            lang: flow.language,
            node: flow.start.clone(),
            flow,
            version,
            wait: Wait::Done,
            retries: 0,
            digits: String::new(),
            vars: BTreeMap::new(),
            timer: 0,
        };
        let mut out = Vec::new();
        let start = s.flow.start.clone();
        s.enter(&start, now, &mut out);
        (s, out)
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn flow_name(&self) -> &str {
        &self.flow.name
    }

    /// What the flow may dial outside the box, if anything.
    pub fn outside_permission(&self) -> Option<dering_telco::Permission> {
        self.flow.outside_permission
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    pub fn is_done(&self) -> bool {
        self.wait == Wait::Done
    }

    /// Variables collected so far.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    fn current(&self) -> Option<Node> {
        self.flow.nodes.get(&self.node).cloned()
    }

    fn enter(&mut self, name: &str, now: LocalTime, out: &mut Vec<Action>) {
        let mut name = name.to_string();
        for _ in 0..MAX_STEPS {
            self.node = name.clone();
            self.retries = 0;
            self.digits.clear();
            let Some(node) = self.flow.nodes.get(&name).cloned() else {
                // Validation prevents this; a bad document still ends well.
                out.push(Action::Hangup);
                self.wait = Wait::Done;
                return;
            };
            out.push(Action::Count {
                node: name.clone(),
                choice: None,
            });
            match node {
                Node::Language { language, next } => {
                    self.lang = language;
                    name = next;
                }
                Node::Time {
                    schedule,
                    calendar,
                    open,
                    closed,
                } => {
                    let is_open = match &calendar {
                        // An unknown calendar (removed since publishing)
                        // answers as closed: the safe side for a service.
                        Some(c) => self.calendars.get(c).is_some_and(|s| s.is_open(now)),
                        None => schedule.is_open(now),
                    };
                    name = if is_open { open } else { closed };
                }
                Node::Play { prompts, .. } => {
                    self.play(prompts, false, out);
                    return;
                }
                Node::Menu { prompts, .. } | Node::Collect { prompts, .. } => {
                    self.play(prompts, true, out);
                    return;
                }
                Node::Extension { number, .. } => {
                    self.wait = Wait::Connecting;
                    out.push(Action::Connect(Target::Extension(number)));
                    return;
                }
                Node::RingGroup { members, .. } => {
                    self.wait = Wait::Connecting;
                    out.push(Action::Connect(Target::RingGroup(members)));
                    return;
                }
                Node::Queue { queue, .. } => {
                    self.wait = Wait::Connecting;
                    out.push(Action::Connect(Target::Queue(queue)));
                    return;
                }
                Node::Hangup {} => {
                    self.wait = Wait::Done;
                    out.push(Action::Hangup);
                    return;
                }
            }
        }
        out.push(Action::Hangup);
        self.wait = Wait::Done;
    }

    fn play(&mut self, prompts: Vec<String>, interruptible: bool, out: &mut Vec<Action>) {
        self.wait = Wait::Playing;
        out.push(Action::Play {
            lang: self.lang,
            prompts,
            interruptible,
        });
    }

    fn arm_timer(&mut self, seconds: u32, out: &mut Vec<Action>) {
        self.timer += 1;
        out.push(Action::Timer {
            id: self.timer,
            seconds,
        });
    }

    /// The prompts of the current node finished playing.
    pub fn on_playback_done(&mut self, now: LocalTime) -> Vec<Action> {
        let mut out = Vec::new();
        if self.wait != Wait::Playing {
            return out;
        }
        match self.current() {
            Some(Node::Play { next, .. }) => self.enter(&next, now, &mut out),
            Some(Node::Menu {
                timeout_seconds, ..
            })
            | Some(Node::Collect {
                timeout_seconds, ..
            }) => {
                self.wait = Wait::Keys;
                self.arm_timer(timeout_seconds, &mut out);
            }
            _ => {}
        }
        out
    }

    /// A key from the caller (RFC 4733 or in-band).
    pub fn on_digit(&mut self, key: char, now: LocalTime) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(self.wait, Wait::Playing | Wait::Keys) {
            return out;
        }
        match self.current() {
            Some(Node::Menu {
                prompts,
                choices,
                retries,
                invalid,
                on_fail,
                ..
            }) => {
                if self.wait == Wait::Playing {
                    out.push(Action::StopPlayback);
                }
                // Any pending timer is void from here.
                self.timer += 1;
                if let Some(to) = choices.get(&key) {
                    out.push(Action::Count {
                        node: self.node.clone(),
                        choice: Some(key),
                    });
                    let to = to.clone();
                    self.enter(&to, now, &mut out);
                } else {
                    self.retry(retries, invalid, prompts, on_fail, now, &mut out);
                }
            }
            Some(Node::Collect {
                max_digits,
                variable,
                next,
                ..
            }) => {
                if self.wait == Wait::Playing {
                    out.push(Action::StopPlayback);
                    self.wait = Wait::Keys;
                }
                if key == '#' || {
                    self.digits.push(key);
                    self.digits.len() >= max_digits as usize
                } {
                    self.timer += 1;
                    self.vars.insert(variable, std::mem::take(&mut self.digits));
                    self.enter(&next, now, &mut out);
                } else if let Some(Node::Collect {
                    timeout_seconds, ..
                }) = self.current()
                {
                    self.arm_timer(timeout_seconds, &mut out);
                }
            }
            _ => {}
        }
        out
    }

    fn retry(
        &mut self,
        retries: u32,
        before: Vec<String>,
        prompts: Vec<String>,
        on_fail: String,
        now: LocalTime,
        out: &mut Vec<Action>,
    ) {
        self.retries += 1;
        if self.retries > retries {
            self.enter(&on_fail, now, out);
        } else {
            let kept = self.retries;
            let mut all = before;
            all.extend(prompts);
            self.play(all, true, out);
            self.retries = kept;
        }
    }

    /// Timer `id` fired.
    pub fn on_timeout(&mut self, id: u64, now: LocalTime) -> Vec<Action> {
        let mut out = Vec::new();
        if id != self.timer || self.wait != Wait::Keys {
            return out;
        }
        match self.current() {
            Some(Node::Menu {
                prompts,
                retries,
                no_input,
                on_fail,
                ..
            }) => self.retry(retries, no_input, prompts, on_fail, now, &mut out),
            Some(Node::Collect { variable, next, .. }) => {
                self.vars.insert(variable, std::mem::take(&mut self.digits));
                self.enter(&next, now, &mut out);
            }
            _ => {}
        }
        out
    }

    /// The connection asked for could not be made (nobody answered, busy,
    /// unregistered).
    pub fn on_connect_failed(&mut self, now: LocalTime) -> Vec<Action> {
        let mut out = Vec::new();
        if self.wait != Wait::Connecting {
            return out;
        }
        match self.current() {
            Some(Node::Extension { on_fail, .. })
            | Some(Node::RingGroup { on_fail, .. })
            | Some(Node::Queue { on_fail, .. }) => self.enter(&on_fail, now, &mut out),
            _ => {}
        }
        out
    }

    /// The connection was made: the flow's part is over.
    pub fn on_connected(&mut self) {
        self.wait = Wait::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> LocalTime {
        // Monday 10:00.
        LocalTime {
            weekday: 0,
            minute: 600,
            day: 20_000,
        }
    }

    fn plays(a: &[Action]) -> Vec<(Lang, Vec<String>)> {
        a.iter()
            .filter_map(|x| match x {
                Action::Play { lang, prompts, .. } => Some((*lang, prompts.clone())),
                _ => None,
            })
            .collect()
    }

    fn timer(a: &[Action]) -> u64 {
        a.iter()
            .find_map(|x| match x {
                Action::Timer { id, .. } => Some(*id),
                _ => None,
            })
            .expect("a timer")
    }

    fn demo() -> Session {
        Session::start(Arc::new(Flow::demo()), 1, now()).0
    }

    #[test]
    fn greeting_menu_and_information_then_back() {
        let (mut s, a) = Session::start(Arc::new(Flow::demo()), 3, now());
        assert_eq!(s.version(), 3);
        assert_eq!(plays(&a), [(Lang::Id, vec!["greeting".to_string()])]);
        let a = s.on_playback_done(now());
        assert_eq!(plays(&a), [(Lang::Id, vec!["menu".to_string()])]);
        assert_eq!(s.node(), "menu");
        let a = s.on_digit('1', now());
        assert_eq!(a[0], Action::StopPlayback, "a key cuts the menu short");
        assert!(a.contains(&Action::Count {
            node: "menu".into(),
            choice: Some('1')
        }));
        assert_eq!(plays(&a), [(Lang::Id, vec!["information".to_string()])]);
        // Keys during a non-interruptible announcement are ignored.
        assert!(plays(&s.on_digit('2', now())).is_empty());
        let a = s.on_playback_done(now());
        assert_eq!(s.node(), "menu");
        assert_eq!(plays(&a), [(Lang::Id, vec!["menu".to_string()])]);
    }

    #[test]
    fn language_choice_switches_the_prompts() {
        let mut s = demo();
        s.on_playback_done(now());
        s.on_playback_done(now());
        let a = s.on_digit('9', now());
        assert_eq!(s.lang(), Lang::En);
        assert_eq!(plays(&a), [(Lang::En, vec!["menu".to_string()])]);
    }

    #[test]
    fn wrong_keys_and_silence_retry_then_fail() {
        let mut s = demo();
        s.on_playback_done(now());
        s.on_playback_done(now());
        let a = s.on_digit('5', now());
        assert_eq!(
            plays(&a),
            [(Lang::Id, vec!["invalid".to_string(), "menu".to_string()])]
        );
        let a = s.on_playback_done(now());
        let t = timer(&a);
        let a = s.on_timeout(t, now());
        assert_eq!(
            plays(&a),
            [(Lang::Id, vec!["no_input".to_string(), "menu".to_string()])]
        );
        // A stale timer does nothing.
        assert!(s.on_timeout(t, now()).is_empty());
        s.on_playback_done(now());
        // Third failure: retries (2) used up → goodbye, then hang up.
        let a = s.on_digit('7', now());
        assert_eq!(plays(&a), [(Lang::Id, vec!["goodbye".to_string()])]);
        let a = s.on_playback_done(now());
        assert_eq!(a.last(), Some(&Action::Hangup));
        assert!(s.is_done());
    }

    /// ACD-2: option 2 queues the caller for an officer; when the queue
    /// gives up (no agent logged in), the desk phones ring; when they do
    /// not answer, the caller hears so.
    #[test]
    fn officer_queues_then_rings_the_group_and_falls_back() {
        let mut s = demo();
        s.on_playback_done(now());
        s.on_playback_done(now());
        s.on_digit('2', now());
        let a = s.on_playback_done(now());
        assert!(a.contains(&Action::Connect(Target::Queue("pengaduan".into()))));
        let a = s.on_connect_failed(now());
        assert!(a.contains(&Action::Connect(Target::RingGroup(
            ["1001", "1002", "1003", "1004"].map(String::from).to_vec()
        ))));
        let a = s.on_connect_failed(now());
        assert_eq!(plays(&a), [(Lang::Id, vec!["unavailable".to_string()])]);
    }

    #[test]
    fn closed_hours_answer_with_the_closed_message() {
        let mut f = Flow::demo();
        if let Some(Node::Time { schedule, .. }) = f.nodes.get_mut("hours") {
            schedule.always_open = false;
        }
        let sunday = LocalTime {
            weekday: 6,
            minute: 600,
            day: 20_006,
        };
        let (_, a) = Session::start(Arc::new(f), 1, sunday);
        assert_eq!(plays(&a), [(Lang::Id, vec!["closed".to_string()])]);
    }

    /// A flow whose time node names a calendar follows it: open in its
    /// hours, closed on one of its holidays at the same hour of the week
    /// (ACD-9), and closed when the calendar is unknown.
    #[test]
    fn a_holiday_of_the_named_calendar_takes_the_closed_branch() {
        let f = Flow::from_json(
            r#"{"name":"h","start":"hours","nodes":{
                "hours":{"type":"time","calendar":"kantor","open":"hello","closed":"shut"},
                "hello":{"type":"play","prompts":["welcome"],"next":"bye"},
                "shut":{"type":"play","prompts":["closed"],"next":"bye"},
                "bye":{"type":"hangup"}}}"#,
        )
        .unwrap();
        f.validate(|_, _| true).unwrap();
        assert_eq!(f.calendars().into_iter().collect::<Vec<_>>(), ["kantor"]);
        let f = Arc::new(f);
        let kantor = crate::Schedule {
            weekly: vec![crate::WeeklyHours {
                days: ["mon", "tue", "wed", "thu", "fri"]
                    .map(String::from)
                    .to_vec(),
                from: "08:00".into(),
                to: "16:00".into(),
            }],
            // Friday 2026-12-25, Christmas.
            holidays: vec!["2026-12-25".into()],
            always_open: false,
        };
        let calendars = Arc::new(Calendars::from([("kantor".to_string(), kantor)]));
        const WIB: i32 = 420;
        // Friday 2026-12-18 10:00 WIB (03:00 UTC) and a week later.
        let day_ms = |days_since_epoch: i64| (days_since_epoch * 1440 + 3 * 60) * 60_000;
        let friday = LocalTime::from_wall_ms(day_ms(20_805), WIB);
        let christmas = LocalTime::from_wall_ms(day_ms(20_812), WIB);
        assert_eq!((friday.weekday, friday.minute), (4, 600));
        assert_eq!((christmas.weekday, christmas.minute), (4, 600));
        let (_, a) = Session::start_with(f.clone(), 1, friday, calendars.clone());
        assert_eq!(plays(&a), [(Lang::Id, vec!["welcome".to_string()])]);
        let (_, a) = Session::start_with(f.clone(), 1, christmas, calendars);
        assert_eq!(plays(&a), [(Lang::Id, vec!["closed".to_string()])]);
        let (_, a) = Session::start(f, 1, friday);
        assert_eq!(plays(&a), [(Lang::Id, vec!["closed".to_string()])]);
    }

    #[test]
    fn collect_ends_on_hash_max_digits_or_timeout() {
        let f = Flow::from_json(
            r#"{"name":"c","start":"ask","nodes":{
                "ask":{"type":"collect","prompts":["enter_digits"],"max_digits":4,"variable":"ticket","next":"bye"},
                "bye":{"type":"hangup"}}}"#,
        )
        .unwrap();
        let f = Arc::new(f);
        let (mut s, _) = Session::start(f.clone(), 1, now());
        s.on_digit('4', now());
        s.on_digit('2', now());
        let a = s.on_digit('#', now());
        assert_eq!(s.vars()["ticket"], "42");
        assert_eq!(a.last(), Some(&Action::Hangup));

        let (mut s, _) = Session::start(f.clone(), 1, now());
        for k in "1234".chars() {
            s.on_digit(k, now());
        }
        assert_eq!(s.vars()["ticket"], "1234");

        let (mut s, _) = Session::start(f, 1, now());
        let a = s.on_playback_done(now());
        s.on_digit('7', now());
        let _ = a;
        let t = s.timer;
        s.on_timeout(t, now());
        assert_eq!(s.vars()["ticket"], "7");
    }

    #[test]
    fn a_loop_that_never_waits_is_cut_off() {
        let f = Flow::from_json(
            r#"{"name":"l","start":"a","nodes":{
                "a":{"type":"language","language":"en","next":"b"},
                "b":{"type":"language","language":"id","next":"a"}}}"#,
        )
        .unwrap();
        let (s, a) = Session::start(Arc::new(f), 1, now());
        assert_eq!(a.last(), Some(&Action::Hangup));
        assert!(s.is_done());
    }
}
