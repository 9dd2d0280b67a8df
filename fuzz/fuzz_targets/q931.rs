//! What trunkd takes from the D-channel for Q.931: each I-frame's payload
//! decoded as a message (`Message::decode`, which must never panic, and
//! whose result must encode and decode back to itself), then fed to a
//! user-side and a network-side call machine, with the owner's requests
//! and the passing of time mixed in, and every message the machines send
//! fed to the other.
//!
//! The input is a run of chunks, each preceded by one byte: its low 6 bits
//! are the chunk's length; its top 2 bits pick what the chunk is: 0 or 1
//! a message to the user or the network side, 2 an owner request (chunk
//! byte 0 picks it, byte 1 the call reference), 3 a jump in time of the
//! chunk's first byte in seconds.
#![no_main]

use std::time::{Duration, Instant};

use dering_isdn::q931::{
    CallControl, CallId, Cause, ChannelId, ChannelSel, Message, PartyNumber, SetupRequest, Side,
    Timers, TypeOfNumber,
};
use libfuzzer_sys::fuzz_target;

fn request(m: &mut CallControl, now: Instant, op: u8, value: u16) {
    let call = CallId {
        value,
        ours: op & 0x80 != 0,
    };
    let cause = Cause::from_value(op);
    let _ = match op % 8 {
        0 => m
            .setup(
                now,
                SetupRequest {
                    called: PartyNumber::e164(TypeOfNumber::National, "137"),
                    calling: None,
                    channel: ChannelId {
                        exclusive: op & 0x10 != 0,
                        channel: ChannelSel::BChannel(op & 0x1F),
                    },
                    sending_complete: op & 0x20 != 0,
                },
            )
            .map(|_| ()),
        1 => m.proceeding(now, call, Some(op & 0x1F)),
        2 => m.alerting(now, call),
        3 => m.connect(now, call),
        4 => m.disconnect(now, call, cause),
        5 => m.release(now, call, cause),
        6 => {
            m.restart(now, (op & 0x40 != 0).then_some(op & 0x1F));
            Ok(())
        }
        _ => Ok(()),
    };
}

/// Carries what the machines send to each other, a bounded number of
/// rounds (two machines may answer each other's STATUS forever).
fn pump(user: &mut CallControl, net: &mut CallControl, now: Instant) {
    for _ in 0..16 {
        let mut moved = false;
        while let Some(m) = user.poll_message() {
            moved = true;
            net.handle_bytes(now, &m.encode());
        }
        while let Some(m) = net.poll_message() {
            moved = true;
            user.handle_bytes(now, &m.encode());
        }
        while user.poll_event().is_some() {}
        while net.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut user = CallControl::new(Side::User, Timers::default());
    let mut net = CallControl::new(Side::Network, Timers::default());
    let mut rest = data;
    while let Some((&head, tail)) = rest.split_first() {
        let (chunk, tail) = tail.split_at(usize::from(head & 0x3F).min(tail.len()));
        rest = tail;
        match head >> 6 {
            0 | 1 => {
                if let Ok(m) = Message::decode(chunk) {
                    let again = Message::decode(&m.encode());
                    assert_eq!(again.as_ref(), Ok(&m), "re-encoded message differs");
                }
                let to = if head >> 6 == 0 { &mut user } else { &mut net };
                to.handle_bytes(now, chunk);
            }
            2 => {
                let op = chunk.first().copied().unwrap_or(0);
                let value = u16::from(chunk.get(1).copied().unwrap_or(1));
                let m = if op & 0x40 != 0 { &mut net } else { &mut user };
                request(m, now, op, value);
            }
            _ => {
                now += Duration::from_secs(u64::from(chunk.first().copied().unwrap_or(1)));
                user.handle_timeout(now);
                net.handle_timeout(now);
            }
        }
        pump(&mut user, &mut net, now);
    }
});
