//! The core's own harness at scale (issue 12, performance): a suite of
//! 10,000 simulated calls through pbxd's `Core` in virtual time (the
//! harness of `tests/sim/mod.rs`: phones exchanging parsed datagrams with
//! the core in memory, no socket, no sleep), a mix of answered calls hung
//! up by either side, cancelled calls, busy callees, calls nobody answers
//! and calls put on hold and resumed. Prints calls per second of wall time
//! beside the baseline measured in the same run: the same number of plain
//! answered calls (INVITE, 407, INVITE, 180, 200, ACK, BYE, 200), so the
//! ratio says what the rest of the mix costs and stays readable on a noisy
//! machine.
//!
//! Run: `cargo bench -p pbxd --bench core_sim` (release build);
//! `BENCH_SIM_CALLS` changes the count. Every call's outcome is checked
//! (the harness panics on any unexpected message) and the call records'
//! dispositions are counted, so a fast wrong run cannot pass for a fast
//! one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sim::{answered_call, sdp, Phone, Sim};

/// Extensions of the phone pool: 20 callers and 20 callees.
const POOL: std::ops::Range<u32> = 3000..3040;

/// How often (virtual time) every phone registers again, well inside the
/// box's 3,600 s `max_expires`.
const REREGISTER: Duration = Duration::from_secs(1800);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    AnsweredCallerHangsUp,
    AnsweredCalleeHangsUp,
    Cancelled,
    Busy,
    NoAnswer,
    HoldResume,
}

/// The mix: every sixth call of each kind.
const MIX: [Kind; 6] = [
    Kind::AnsweredCallerHangsUp,
    Kind::AnsweredCalleeHangsUp,
    Kind::Cancelled,
    Kind::Busy,
    Kind::NoAnswer,
    Kind::HoldResume,
];

/// A box with the pool's extensions and its phones, registered.
struct Bench {
    s: Sim,
    phones: Vec<Phone>,
    registered_at: Instant,
    /// Call records' dispositions seen so far.
    ends: BTreeMap<String, u64>,
}

impl Bench {
    fn new() -> Bench {
        let mut s = Sim::new(|mut t| {
            for n in POOL {
                t.push_str(&format!(
                    "\n[[extension]]\nnumber = \"{n}\"\nname = \"Sim {n}\"\npassword = \"demo-{n}\"\n"
                ));
            }
            t
        });
        let phones = POOL
            .map(|n| {
                let mut p = Phone::new(&mut s, &n.to_string());
                p.register(&mut s, 3600);
                p
            })
            .collect();
        let registered_at = s.now;
        Bench {
            s,
            phones,
            registered_at,
            ends: BTreeMap::new(),
        }
    }

    /// Answers whatever the box sent every phone meanwhile (qualify
    /// probes), registers them again when due, and forgets what the shell
    /// was asked to do, counting call records' ends: the harness's logs
    /// would otherwise grow with every call.
    fn tidy(&mut self) {
        for p in &mut self.phones {
            p.settle(&mut self.s);
        }
        if self.s.now.duration_since(self.registered_at) >= REREGISTER {
            for p in &mut self.phones {
                p.register(&mut self.s, 3600);
            }
            self.registered_at = self.s.now;
        }
        for (_, disposition, _) in self.s.ends() {
            *self.ends.entry(disposition).or_default() += 1;
        }
        self.s.writes.clear();
        self.s.media.clear();
        self.s.events.clear();
    }

    /// Call `i` of kind `k`, between a caller and a callee of the pool.
    fn call(&mut self, i: usize, k: Kind) {
        let half = self.phones.len() / 2;
        let (left, right) = self.phones.split_at_mut(half);
        let (left_a, rest_a) = left.split_at_mut(i % half);
        let (a, after_a) = rest_a.split_first_mut().unwrap();
        let (left_b, rest_b) = right.split_at_mut(i % half);
        let (b, after_b) = rest_b.split_first_mut().unwrap();
        // Every phone of the pool but this call's two.
        let mut others: Vec<&mut Phone> = left_a
            .iter_mut()
            .chain(after_a.iter_mut())
            .chain(left_b.iter_mut())
            .chain(after_b.iter_mut())
            .collect();
        let s = &mut self.s;
        match k {
            Kind::AnsweredCallerHangsUp => {
                let (mut da, _) = answered_call(s, a, b);
                s.advance(Duration::from_secs(1));
                a.in_dialog(s, &mut da, "BYE", "", "");
                let bye = b.expect_request(s, "BYE");
                b.respond(s, &bye, 200, "", "");
                a.expect_response(s, 200);
            }
            Kind::AnsweredCalleeHangsUp => {
                let (_, mut db) = answered_call(s, a, b);
                s.advance(Duration::from_secs(1));
                b.in_dialog(s, &mut db, "BYE", "", "");
                let bye = a.expect_request(s, "BYE");
                a.respond(s, &bye, 200, "", "");
                b.expect_response(s, 200);
            }
            Kind::Cancelled => {
                let da = a.invite(s, &b.ext.clone());
                let inv = b.expect_request(s, "INVITE");
                b.respond(s, &inv, 180, "", "");
                a.expect_response(s, 180);
                a.cancel(s, &da);
                a.expect_response(s, 200);
                let cancel = b.expect_request(s, "CANCEL");
                b.respond(s, &cancel, 200, "", "");
                b.respond(s, &inv, 487, "", "");
                b.expect_request(s, "ACK");
                let r = a.expect_response(s, 487);
                a.ack_final(s, &da, &r);
            }
            Kind::Busy => {
                let da = a.invite(s, &b.ext.clone());
                let inv = b.expect_request(s, "INVITE");
                b.respond(s, &inv, 486, "", "");
                b.expect_request(s, "ACK");
                let r = a.expect_response(s, 486);
                a.ack_final(s, &da, &r);
            }
            Kind::NoAnswer => {
                let da = a.invite(s, &b.ext.clone());
                let inv = b.expect_request(s, "INVITE");
                b.respond(s, &inv, 180, "", "");
                a.expect_response(s, 180);
                // The demo rings for 30 s, then gives up; meanwhile the
                // phones answer the box's probes, as phones do.
                for step in [10, 10, 11] {
                    s.advance(Duration::from_secs(step));
                    for p in others.iter_mut() {
                        answer_probes(s, p);
                    }
                    answer_probes(s, a);
                    answer_probes(s, b);
                }
                let cancel = b.expect_request(s, "CANCEL");
                b.respond(s, &cancel, 200, "", "");
                b.respond(s, &inv, 487, "", "");
                let r = a.expect_response(s, 480);
                a.ack_final(s, &da, &r);
            }
            Kind::HoldResume => {
                let (mut da, _) = answered_call(s, a, b);
                for (offer, answer) in [("sendonly", "recvonly"), ("sendrecv", "sendrecv")] {
                    a.in_dialog(s, &mut da, "INVITE", "", &sdp(30_000, offer));
                    let re = b.expect_request(s, "INVITE");
                    b.respond(s, &re, 200, "", &sdp(31_000, answer));
                    b.expect_request(s, "ACK");
                    let ok = a.expect_response(s, 200);
                    a.ack_2xx(s, &mut da, &ok);
                }
                a.in_dialog(s, &mut da, "BYE", "", "");
                let bye = b.expect_request(s, "BYE");
                b.respond(s, &bye, 200, "", "");
                a.expect_response(s, 200);
            }
        }
        // Transactions wind down (timers J and K) between calls.
        s.advance(Duration::from_secs(1));
        self.tidy();
    }
}

/// Answers the qualify probes (OPTIONS) waiting for `p`, leaving the
/// rest for it to read in order.
fn answer_probes(s: &mut Sim, p: &mut Phone) {
    let mut keep = Vec::new();
    while let Some(m) = p.try_msg(s) {
        if m.method().map(|x| x.to_string()).as_deref() == Some("OPTIONS") {
            p.respond(s, &m, 200, "", "");
        } else {
            keep.push(m);
        }
    }
    for m in keep.into_iter().rev() {
        s.unread(p.addr, m);
    }
}

/// Runs `calls` calls, call `i` of kind `kind(i)`, on a fresh box; the
/// wall time (the box's start and registrations excluded) and the call
/// records' dispositions.
fn run(calls: usize, kind: impl Fn(usize) -> Kind) -> (Duration, BTreeMap<String, u64>) {
    let mut b = Bench::new();
    b.tidy();
    b.ends.clear();
    let t = Instant::now();
    for i in 0..calls {
        b.call(i, kind(i));
    }
    let wall = t.elapsed();
    assert_eq!(b.s.core.active_calls(), 0, "every call ended");
    (wall, b.ends)
}

fn main() {
    let calls: usize = std::env::var("BENCH_SIM_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!("# pbxd core in virtual time, {calls} calls per suite\n");
    println!("| suite | calls | wall | calls/s of wall time | against plain answered calls | call records |\n|---|---|---|---|---|---|");
    let (plain, plain_ends) = run(calls, |_| Kind::AnsweredCallerHangsUp);
    let (mixed, mixed_ends) = run(calls, |i| MIX[i % MIX.len()]);
    let row = |name: &str, wall: Duration, ends: &BTreeMap<String, u64>| {
        let total: u64 = ends.values().sum();
        assert_eq!(total, calls as u64, "one call record per call: {ends:?}");
        let list: Vec<String> = ends.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "| {name} | {calls} | {:.2} s | {:.0} | {:.2}× the time | {} |",
            wall.as_secs_f64(),
            calls as f64 / wall.as_secs_f64(),
            wall.as_secs_f64() / plain.as_secs_f64(),
            list.join(", ")
        );
    };
    row("answered, caller hangs up (baseline)", plain, &plain_ends);
    row(
        "mix: answered (either side hangs up), cancel, busy, no answer, hold/resume",
        mixed,
        &mixed_ends,
    );
}
