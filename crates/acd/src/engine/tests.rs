//! The ACD on virtual time: every strategy, priorities, overflow and
//! limits, ring-timeout rotation, missed offers, wrap-up, abandons and
//! callbacks (ACD-1..7, pitfalls 1, 3, 7, 8, 10).

use super::*;
use crate::metrics::QueueStats;

struct Bench {
    acd: Acd,
    now: Instant,
    events: Vec<Event>,
}

fn agent(id: &str, skills: &[(&str, u8)]) -> AgentConfig {
    AgentConfig {
        id: id.into(),
        name: format!("Agent {id}"),
        pin: "1234".into(),
        skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
    }
}

impl Bench {
    fn new(queues: Vec<QueueConfig>, agents: Vec<AgentConfig>) -> Bench {
        let now = Instant::now();
        Bench {
            acd: Acd::new(queues, agents, Duration::from_secs(5), 2, now),
            now,
            events: Vec::new(),
        }
    }

    fn one_queue(strategy: Strategy, agents: &[&str]) -> Bench {
        let mut q = QueueConfig::new("pengaduan");
        q.strategy = strategy;
        Bench::new(vec![q], agents.iter().map(|a| agent(a, &[])).collect())
    }

    /// Moves time on by `secs`, firing every timer due on the way.
    fn wait(&mut self, secs: f64) {
        let until = self.now + Duration::from_secs_f64(secs);
        while let Some(t) = self.acd.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.acd.handle_timeout(self.now);
        }
        self.now = until;
        self.acd.handle_timeout(self.now);
    }

    fn actions(&mut self) -> Vec<Action> {
        while let Some(e) = self.acd.poll_event() {
            self.events.push(e);
        }
        std::iter::from_fn(|| self.acd.poll_action()).collect()
    }

    /// The agents offered something since the last look, in order.
    fn offers(&mut self) -> Vec<(u64, String)> {
        self.actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Offer { call, agent } => Some((call, agent)),
                _ => None,
            })
            .collect()
    }

    fn login_all(&mut self, agents: &[&str]) {
        for (i, a) in agents.iter().enumerate() {
            self.acd
                .login(a, "1234", &format!("10{:02}", i + 1), self.now)
                .unwrap();
            // Distinct idle times, in login order.
            self.wait(1.0);
        }
    }

    /// A call answered by whoever it was offered to, talked `secs`, ended.
    fn serve(&mut self, call: u64, secs: f64) -> String {
        self.acd.enqueue(call, "pengaduan", 0, self.now).unwrap();
        let offers = self.offers();
        let (c, agent) = offers.first().cloned().expect("an offer");
        assert_eq!(c, call);
        self.acd.answered(call, &agent, self.now);
        self.wait(secs);
        self.acd.completed(call, self.now);
        agent
    }

    /// `call` stopped ringing `from` and rings `to` now.
    fn assert_moved(&mut self, call: u64, from: &str, to: &str) {
        let acts = self.actions();
        let cancel = Action::CancelOffer {
            call,
            agent: from.into(),
        };
        let offer = Action::Offer {
            call,
            agent: to.into(),
        };
        assert!(acts.contains(&cancel) && acts.contains(&offer), "{acts:?}");
    }

    fn state(&self, a: &str) -> AgentState {
        self.acd.agent_state(a).cloned().unwrap()
    }

    fn stats(&mut self) -> QueueStats {
        self.actions();
        let mut s = QueueStats::default();
        for e in &self.events {
            s.apply("pengaduan", 20_000, e);
        }
        s
    }
}

#[test]
fn longest_idle_goes_to_the_agent_free_longest() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001", "2002", "2003"]);
    b.login_all(&["2001", "2002", "2003"]);
    assert_eq!(b.serve(1, 10.0), "2001");
    // 2001 is in wrap-up; 2002 has been idle longest.
    assert_eq!(b.serve(2, 10.0), "2002");
    b.wait(30.0);
    // All ready again: 2003 was never used, free since login.
    assert_eq!(b.serve(3, 1.0), "2003");
    assert_eq!(b.serve(4, 1.0), "2001");
}

#[test]
fn round_robin_remembers_who_was_last() {
    let mut b = Bench::one_queue(Strategy::RoundRobin, &["2001", "2002", "2003"]);
    b.queue_wrapup_zero();
    b.login_all(&["2001", "2002", "2003"]);
    let order: Vec<String> = (1..=5).map(|c| b.serve(c, 1.0)).collect();
    assert_eq!(order, ["2001", "2002", "2003", "2001", "2002"]);
}

impl Bench {
    fn queue_wrapup_zero(&mut self) {
        if let Some(q) = self.acd.queues.get_mut("pengaduan") {
            q.wrapup = Duration::ZERO;
        }
    }
}

#[test]
fn fewest_calls_and_least_talk_time() {
    let mut b = Bench::one_queue(Strategy::FewestCalls, &["2001", "2002"]);
    b.queue_wrapup_zero();
    b.login_all(&["2001", "2002"]);
    assert_eq!(b.serve(1, 100.0), "2001");
    assert_eq!(b.serve(2, 1.0), "2002");
    // Both took one call: the longest idle of the two (2001 finished
    // first).
    assert_eq!(b.serve(3, 1.0), "2001");
    assert_eq!(b.serve(4, 1.0), "2002");

    let mut b = Bench::one_queue(Strategy::LeastTalkTime, &["2001", "2002"]);
    b.queue_wrapup_zero();
    b.login_all(&["2001", "2002"]);
    assert_eq!(b.serve(1, 100.0), "2001");
    assert_eq!(b.serve(2, 1.0), "2002");
    // 2002 has talked 1 s, 2001 100 s.
    assert_eq!(b.serve(3, 1.0), "2002");
    assert_eq!(b.serve(4, 1.0), "2002");
}

#[test]
fn ring_all_rings_everyone_and_the_first_answer_takes_it() {
    let mut b = Bench::one_queue(Strategy::RingAll, &["2001", "2002", "2003"]);
    b.login_all(&["2001", "2002", "2003"]);
    b.acd.not_ready("2003", "break", b.now).unwrap();
    b.acd.enqueue(7, "pengaduan", 0, b.now).unwrap();
    let mut rung: Vec<String> = b.offers().into_iter().map(|(_, a)| a).collect();
    rung.sort();
    assert_eq!(rung, ["2001", "2002"], "not the agent on break");
    b.acd.answered(7, "2002", b.now);
    let acts = b.actions();
    assert_eq!(
        acts,
        [Action::CancelOffer {
            call: 7,
            agent: "2001".into()
        }]
    );
    assert_eq!(b.state("2001"), AgentState::Ready, "cancelled, not missed");
    assert_eq!(b.state("2002"), AgentState::OnCall { call: 7 });
    assert!(!b.events.iter().any(|e| matches!(e, Event::Missed { .. })));
}

#[test]
fn random_picks_only_ready_agents_and_replays() {
    let run = || {
        let mut b = Bench::one_queue(Strategy::Random, &["2001", "2002", "2003", "2004"]);
        b.queue_wrapup_zero();
        b.login_all(&["2001", "2002", "2003", "2004"]);
        b.acd.not_ready("2004", "lunch", b.now).unwrap();
        (1..=30).map(|c| b.serve(c, 1.0)).collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a, run(), "deterministic");
    assert!(!a.iter().any(|x| x == "2004"));
    for x in ["2001", "2002", "2003"] {
        assert!(a.iter().any(|y| y == x), "{x} never chosen: {a:?}");
    }
}

#[test]
fn skills_qualify_and_the_best_match_wins() {
    let mut q = QueueConfig::new("pengaduan");
    q.strategy = Strategy::SkillsBestMatch;
    q.skills = vec![("pajak".into(), 3), ("bahasa-jawa".into(), 1)];
    let mut b = Bench::new(
        vec![q],
        vec![
            agent("2001", &[("pajak", 5)]),                     // no Javanese
            agent("2002", &[("pajak", 3), ("bahasa-jawa", 2)]), // 5
            agent("2003", &[("pajak", 9), ("bahasa-jawa", 1)]), // 10
            agent("2004", &[("pajak", 2), ("bahasa-jawa", 9)]), // pajak too low
        ],
    );
    b.login_all(&["2001", "2002", "2003", "2004"]);
    assert_eq!(b.serve(1, 1.0), "2003");
    assert_eq!(b.serve(2, 1.0), "2002");
    // Nobody else qualifies: the third caller waits.
    b.acd.enqueue(3, "pengaduan", 0, b.now).unwrap();
    assert!(b.offers().is_empty());
    assert_eq!(b.acd.position(3), Some(1));
}

#[test]
fn higher_priority_goes_first_at_once_and_across_queues() {
    let mut vip = QueueConfig::new("vip");
    vip.wrapup = Duration::ZERO;
    let mut q = QueueConfig::new("pengaduan");
    q.wrapup = Duration::ZERO;
    let mut b = Bench::new(vec![q, vip], vec![agent("2001", &[])]);
    b.login_all(&["2001"]);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    let first = b.offers();
    b.acd.answered(1, "2001", b.now);
    b.wait(1.0);
    // While 2001 talks: two fixed-line callers, then a mobile (priority
    // 5), then a VIP in another queue (priority 9).
    b.acd.enqueue(2, "pengaduan", 0, b.now).unwrap();
    b.wait(1.0);
    b.acd.enqueue(3, "pengaduan", 0, b.now).unwrap();
    b.wait(1.0);
    b.acd.enqueue(4, "pengaduan", 5, b.now).unwrap();
    b.acd.enqueue(5, "vip", 9, b.now).unwrap();
    assert_eq!(first, [(1, "2001".to_string())]);
    assert_eq!(
        b.acd.position(4),
        Some(1),
        "ahead of earlier, lower callers"
    );
    assert_eq!(b.acd.position(2), Some(2));
    let mut order = Vec::new();
    b.acd.completed(1, b.now);
    for _ in 0..4 {
        let (call, agent) = b.offers().first().cloned().expect("offer");
        order.push(call);
        b.acd.answered(call, &agent, b.now);
        b.wait(1.0);
        b.acd.completed(call, b.now);
    }
    assert_eq!(order, [5, 4, 2, 3]);
}

#[test]
fn ring_timeout_rotates_and_repeated_misses_put_the_agent_not_ready() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001", "2002"]);
    b.login_all(&["2001", "2002"]);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    assert_eq!(b.offers(), [(1, "2001".to_string())]);
    b.wait(15.0);
    // 2001 rang 15 s: cancelled, missed once, the call goes to 2002.
    b.assert_moved(1, "2001", "2002");
    assert_eq!(b.state("2001"), AgentState::Ready);
    // 2002 refuses: only 2001 is left, it rings again.
    b.acd.missed(1, "2002", b.now);
    assert_eq!(b.offers(), [(1, "2001".to_string())]);
    b.wait(15.0);
    // Second miss in a row: 2001 goes not ready ("missed", max 2).
    assert_eq!(
        b.state("2001"),
        AgentState::NotReady {
            reason: "missed".into()
        }
    );
    assert_eq!(b.offers(), [(1, "2002".to_string())]);
    b.acd.answered(1, "2002", b.now);
    let missed = b
        .events
        .iter()
        .filter(|e| matches!(e, Event::Missed { .. }))
        .count();
    assert_eq!(missed, 3);
    // Back to ready: the count starts again.
    b.acd.ready("2001", b.now).unwrap();
    assert_eq!(b.state("2001"), AgentState::Ready);
}

#[test]
fn one_wrapup_timer_whatever_the_queues_and_state_asked_during_it_waits() {
    let mut other = QueueConfig::new("informasi");
    other.wrapup = Duration::from_secs(60);
    let mut b = Bench::new(
        vec![QueueConfig::new("pengaduan"), other],
        vec![agent("2001", &[])],
    );
    b.login_all(&["2001"]);
    assert_eq!(b.serve(1, 30.0), "2001");
    assert_eq!(b.state("2001"), AgentState::Wrapup { call: 1 });
    // A caller of another queue while 2001 wraps up: not offered (ACW is
    // its own state, pitfall 7).
    b.acd.enqueue(2, "informasi", 0, b.now).unwrap();
    assert!(b.offers().is_empty());
    // Asking for lunch during wrap-up: taken when it ends.
    b.acd.not_ready("2001", "lunch", b.now).unwrap();
    b.wait(14.0);
    assert_eq!(b.state("2001"), AgentState::Wrapup { call: 1 });
    b.wait(1.0);
    assert_eq!(
        b.state("2001"),
        AgentState::NotReady {
            reason: "lunch".into()
        }
    );
    b.acd.ready("2001", b.now).unwrap();
    assert_eq!(b.offers(), [(2, "2001".to_string())]);
    b.acd.answered(2, "2001", b.now);
    b.wait(5.0);
    b.acd.completed(2, b.now);
    // This queue's 60 s wrap-up, ended early with *75.
    b.wait(10.0);
    assert_eq!(b.state("2001"), AgentState::Wrapup { call: 2 });
    b.acd.end_wrapup("2001", b.now).unwrap();
    assert_eq!(b.state("2001"), AgentState::Ready);
}

#[test]
fn overflow_maximum_wait_full_and_empty_queues() {
    let mut q = QueueConfig::new("pengaduan");
    q.overflow_after = Some(Duration::from_secs(60));
    q.overflow_to = Destination::Queue("cadangan".into());
    q.max_len = Some(2);
    q.exit_to = Destination::Flow("voicemail".into());
    q.join_empty = false;
    q.leave_when_empty = true;
    let mut b = Bench::new(vec![q], vec![agent("2001", &[])]);
    // Nobody logged in: turned away.
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    assert_eq!(
        b.actions(),
        [Action::Exit {
            call: 1,
            to: Destination::Flow("voicemail".into()),
            reason: ExitReason::Empty
        }]
    );
    b.login_all(&["2001"]);
    b.acd.not_ready("2001", "meeting", b.now).unwrap();
    b.acd.enqueue(2, "pengaduan", 0, b.now).unwrap();
    b.acd.enqueue(3, "pengaduan", 0, b.now).unwrap();
    b.acd.enqueue(4, "pengaduan", 0, b.now).unwrap();
    let acts = b.actions();
    assert!(acts.contains(&Action::Exit {
        call: 4,
        to: Destination::Flow("voicemail".into()),
        reason: ExitReason::Full
    }));
    b.wait(59.0);
    assert!(b.actions().is_empty());
    b.wait(1.0);
    let acts = b.actions();
    for call in [2, 3] {
        assert!(acts.contains(&Action::Exit {
            call,
            to: Destination::Queue("cadangan".into()),
            reason: ExitReason::Overflow
        }));
    }
    // Leave when empty: the last agent logs out, the waiting go.
    b.acd.enqueue(5, "pengaduan", 0, b.now).unwrap();
    b.acd.logout("2001", b.now).unwrap();
    assert!(b.actions().contains(&Action::Exit {
        call: 5,
        to: Destination::Flow("voicemail".into()),
        reason: ExitReason::Empty
    }));
    let s = b.stats();
    assert_eq!((s.offered, s.overflowed, s.turned_away), (3, 2, 3));
}

#[test]
fn maximum_wait_times_out() {
    let mut q = QueueConfig::new("pengaduan");
    q.max_wait = Some(Duration::from_secs(120));
    let mut b = Bench::new(vec![q], vec![agent("2001", &[])]);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    b.wait(119.0);
    assert!(b.actions().is_empty());
    b.wait(1.0);
    assert_eq!(
        b.actions(),
        [Action::Exit {
            call: 1,
            to: Destination::Hangup,
            reason: ExitReason::Timeout
        }]
    );
    assert_eq!(b.stats().timed_out, 1);
}

#[test]
fn abandons_are_counted_with_position_and_wait_and_short_ones_apart() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001"]);
    b.login_all(&["2001"]);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    assert_eq!(b.offers(), [(1, "2001".to_string())]);
    b.acd.answered(1, "2001", b.now);
    b.acd.enqueue(2, "pengaduan", 0, b.now).unwrap();
    b.acd.enqueue(3, "pengaduan", 0, b.now).unwrap();
    b.acd.enqueue(4, "pengaduan", 0, b.now).unwrap();
    b.wait(3.0);
    b.acd.abandon(4, b.now); // after 3 s: short
    b.wait(27.0);
    b.acd.abandon(3, b.now); // after 30 s at position 2
    b.wait(10.0);
    b.acd.completed(1, b.now);
    b.wait(15.0);
    // 2 is offered after 2001's wrap-up, answered after 55 s.
    assert_eq!(b.offers(), [(2, "2001".to_string())]);
    b.acd.answered(2, "2001", b.now);
    let abandoned: Vec<(u64, usize, u64, bool)> = b
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Abandoned {
                call,
                position,
                wait_ms,
                short,
                ..
            } => Some((*call, *position, *wait_ms, *short)),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned, [(4, 3, 3_000, true), (3, 2, 30_000, false)]);
    let s = b.stats();
    assert_eq!(
        (s.offered, s.answered, s.abandoned, s.short_abandoned),
        (4, 2, 1, 1)
    );
    // Within 20 s: only call 1. Short abandons leave the base: 1 / 3.
    assert_eq!(s.answered_within_threshold, 1);
    let sl = s.service_level().unwrap();
    assert!((sl - 100.0 / 3.0).abs() < 1e-9, "{sl}");
}

#[test]
fn callback_keeps_its_place_and_comes_back_as_a_callback() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001"]);
    b.login_all(&["2001"]);
    b.acd.not_ready("2001", "break", b.now).unwrap();
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    b.acd.enqueue(2, "pengaduan", 0, b.now).unwrap();
    b.acd.enqueue(3, "pengaduan", 0, b.now).unwrap();
    b.acd.request_callback(2, "081234567890", b.now).unwrap();
    assert_eq!(b.acd.position(2), Some(2), "not ahead, not behind");
    b.acd.ready("2001", b.now).unwrap();
    assert_eq!(b.offers(), [(1, "2001".to_string())]);
    b.acd.answered(1, "2001", b.now);
    b.acd.completed(1, b.now);
    b.wait(15.0);
    assert_eq!(
        b.actions(),
        [Action::Callback {
            call: 2,
            agent: "2001".into(),
            number: "081234567890".into()
        }]
    );
    assert_eq!(b.stats().callbacks, 1);
}

#[test]
fn a_lost_phone_logs_its_agent_out_and_the_call_rings_the_next() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001", "2002"]);
    b.login_all(&["2001", "2002"]);
    assert_eq!(b.acd.agent_at("1001"), Some("2001"));
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    assert_eq!(b.offers(), [(1, "2001".to_string())]);
    b.acd.phone_lost("1001", b.now);
    b.assert_moved(1, "2001", "2002");
    assert_eq!(b.state("2001"), AgentState::LoggedOut);
    assert!(!b.events.iter().any(|e| matches!(e, Event::Missed { .. })));
}

#[test]
fn logins_check_the_pin_and_free_seating_moves_the_phone() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001", "2002"]);
    assert_eq!(
        b.acd.login("2001", "9999", "1001", b.now),
        Err(AcdError::WrongPin("2001".into()))
    );
    assert_eq!(
        b.acd.login("2099", "1234", "1001", b.now),
        Err(AcdError::NoAgent("2099".into()))
    );
    b.acd.login("2001", "1234", "1001", b.now).unwrap();
    // 2002 sits down at the same phone: 2001 is logged out.
    b.acd.login("2002", "1234", "1001", b.now).unwrap();
    assert_eq!(b.state("2001"), AgentState::LoggedOut);
    assert_eq!(b.acd.agent_at("1001"), Some("2002"));
    // 2002 moves to another desk.
    b.acd.login("2002", "1234", "1005", b.now).unwrap();
    assert_eq!(b.acd.extension_of("2002"), Some("1005"));
    assert_eq!(b.acd.agent_at("1001"), None);
    assert_eq!(
        b.acd.ready("2001", b.now),
        Err(AcdError::NotLoggedIn("2001".into()))
    );
}

#[test]
fn hold_time_is_booked_apart_from_talk() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001"]);
    b.login_all(&["2001"]);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    b.acd.answered(1, "2001", b.now);
    b.wait(10.0);
    b.acd.hold(1, true, b.now);
    assert_eq!(b.state("2001"), AgentState::OnHold { call: 1 });
    b.wait(30.0);
    b.acd.hold(1, false, b.now);
    b.wait(5.0);
    b.acd.completed(1, b.now);
    let s = b.stats();
    assert_eq!((s.talk_ms, s.hold_ms), (15_000, 30_000));
    assert_eq!(s.average_handle_ms(), Some(45_000));
}

#[test]
fn busy_on_a_private_call_is_busy_for_the_queues() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001"]);
    b.login_all(&["2001"]);
    b.acd.agent_busy("2001", true, b.now);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    assert!(b.offers().is_empty());
    b.acd.agent_busy("2001", false, b.now);
    assert_eq!(b.offers(), [(1, "2001".to_string())]);
}

/// ACD-10: after a restart agents are put back as they were (ready, or
/// not ready with their reason) at their phone, and take calls at once;
/// the journal says where each agent is.
#[test]
fn agents_resume_after_a_restart() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001", "2002"]);
    b.acd.resume("2001", "1001", None, b.now).unwrap();
    b.acd
        .resume("2002", "1002", Some("rapat".into()), b.now)
        .unwrap();
    assert_eq!(b.state("2001"), AgentState::Ready);
    assert_eq!(
        b.state("2002"),
        AgentState::NotReady {
            reason: "rapat".into()
        }
    );
    assert_eq!(b.acd.extension_of("2002"), Some("1002"));
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    assert_eq!(b.offers(), [(1, "2001".to_string())]);
    assert!(b.events.contains(&Event::AgentState {
        agent: "2001".into(),
        extension: Some("1001".into()),
        state: AgentState::Ready
    }));
    assert_eq!(
        b.acd.resume("9999", "1003", None, b.now),
        Err(AcdError::NoAgent("9999".into()))
    );
}

/// A new configuration while calls are in progress (TEL-8): a removed
/// agent on a call finishes it and is gone without wrap-up; a removed
/// idle agent is logged out at once; a new agent can log in; a changed
/// strategy decides the next offer; callers keep their places.
#[test]
fn reconfigure_keeps_calls_and_follows_the_new_rules() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001", "2002", "2003"]);
    b.login_all(&["2001", "2002", "2003"]);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    let offers = b.offers();
    assert_eq!(offers, vec![(1, "2001".to_string())]);
    b.acd.answered(1, "2001", b.now);
    b.acd.enqueue(2, "pengaduan", 0, b.now).unwrap();
    assert_eq!(b.offers(), vec![(2, "2002".to_string())]);

    // 2001 (on call 1) and 2003 (idle) removed, 2004 added, ring-all.
    let mut q = QueueConfig::new("pengaduan");
    q.strategy = Strategy::RingAll;
    b.acd.reconfigure(
        vec![q],
        vec![agent("2002", &[]), agent("2004", &[])],
        Duration::from_secs(5),
        2,
        b.now,
    );
    assert_eq!(b.state("2001"), AgentState::OnCall { call: 1 });
    assert!(
        b.acd.agent_state("2003").is_none(),
        "idle removed agent is gone"
    );
    assert_eq!(b.state("2004"), AgentState::LoggedOut);
    assert!(b.acd.login("2003", "1234", "1003", b.now).is_err());
    // Call 2 still rings 2002 where it was.
    assert_eq!(b.state("2002"), AgentState::Offered { call: 2 });

    // 2001 finishes its call: logged out and forgotten, no wrap-up.
    b.acd.completed(1, b.now);
    assert!(b.acd.agent_state("2001").is_none());
    b.actions();
    assert!(b.events.iter().any(|e| matches!(e,
        Event::AgentState { agent, state: AgentState::LoggedOut, .. } if agent == "2001")));
    assert!(b.events.iter().any(|e| matches!(e,
        Event::Completed { call: 1, agent, .. } if agent == "2001")));

    // The new strategy: ring-all offers the next caller to every ready agent.
    b.acd.answered(2, "2002", b.now);
    b.acd.login("2004", "1234", "1004", b.now).unwrap();
    b.acd.completed(2, b.now);
    b.wait(20.0);
    b.acd.enqueue(3, "pengaduan", 0, b.now).unwrap();
    let mut offered: Vec<String> = b.offers().into_iter().map(|(_, a)| a).collect();
    offered.sort();
    assert_eq!(offered, ["2002", "2004"]);
}

/// A queue removed while a caller waits keeps that caller (who is still
/// served) but takes no new one, and is gone once empty.
#[test]
fn a_removed_queue_drains_then_goes() {
    let mut b = Bench::one_queue(Strategy::LongestIdle, &["2001"]);
    b.acd.enqueue(1, "pengaduan", 0, b.now).unwrap();
    b.acd.reconfigure(
        vec![QueueConfig::new("informasi")],
        vec![agent("2001", &[])],
        Duration::from_secs(5),
        2,
        b.now,
    );
    assert_eq!(
        b.acd.enqueue(2, "pengaduan", 0, b.now),
        Err(AcdError::NoQueue("pengaduan".into()))
    );
    assert_eq!(b.acd.position(1), Some(1));
    b.acd.login("2001", "1234", "1001", b.now).unwrap();
    assert_eq!(b.offers(), vec![(1, "2001".to_string())]);
    b.acd.answered(1, "2001", b.now);
    assert!(b.acd.queue_names().all(|q| q != "pengaduan"));
    assert!(b.acd.queue_names().any(|q| q == "informasi"));
}
