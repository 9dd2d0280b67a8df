//! What powerd reads from upsd (NUT's network protocol, decision 0005's own
//! client): the lines of a session, fed to one `Exchange` per request in
//! the order powerd asks (USERNAME, PASSWORD, LOGIN, then LIST VAR), each
//! line cut as powerd's `read_line` over `take(MAX_LINE + 1)` cuts it; the
//! variables then made a `Reading` and given to the shutdown policy, whose
//! snapshot the NOC reads.
#![no_main]

use std::time::{Duration, Instant};

use dering_power::nut::{Answer, Command, Exchange, MAX_LINE};
use dering_power::{Policy, Reading, Settings};
use libfuzzer_sys::fuzz_target;

/// The next line as powerd reads it: up to and including `\n`, at most
/// `MAX_LINE + 1` bytes; `None` at the end or on bytes that are not UTF-8
/// (tokio's `read_line` fails on those, and powerd drops the connection).
fn next_line<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    if rest.is_empty() {
        return None;
    }
    let limit = rest.len().min(MAX_LINE + 1);
    let end = rest[..limit]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(limit, |i| i + 1);
    let (line, tail) = rest.split_at(end);
    *rest = tail;
    std::str::from_utf8(line).ok()
}

fuzz_target!(|data: &[u8]| {
    let ups = "ups";
    let mut rest = data;
    let mut vars = None;
    for command in [
        Command::Username("monuser".into()),
        Command::Password("secret \"x\"".into()),
        Command::Login(ups.into()),
        Command::ListVar(ups.into()),
    ] {
        let _ = command.line();
        let mut x = Exchange::new(command);
        let answer = loop {
            let Some(line) = next_line(&mut rest) else {
                return;
            };
            match x.feed(line) {
                Ok(Some(a)) => break a,
                Ok(None) => {}
                Err(_) => return,
            }
        };
        if let Answer::Vars(v) = answer {
            vars = Some(v);
        }
    }
    let Some(vars) = vars else {
        return;
    };
    let reading = Reading::from_vars(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let _ = reading.describe();
    let now = Instant::now();
    let mut policy = Policy::new(Settings {
        shutdown_runtime: Duration::from_secs(300),
        grace: Duration::from_secs(120),
        required_runtime: Duration::from_secs(8 * 3600),
        step_timeout: Duration::from_secs(30),
    });
    policy.handle_reading(now, reading);
    while policy.poll_output().is_some() {}
    let _ = policy.snapshot(now);
});
