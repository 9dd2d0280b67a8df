//! What signalling asks of a relay thread. Each command names its call;
//! the thread applies it between two waits for packets, so signalling
//! never waits for the thread.

use std::net::UdpSocket;
use std::sync::{mpsc, Arc};

use dering_media::codec::Codec;
use dering_media::mix::Role;

use super::leg::Leg;
use crate::endpoint::LocalMedia;
use crate::recorder::RecMsg;

pub(super) enum Command {
    /// A call's sockets (caller's RTP, callee's RTP, caller's RTCP,
    /// callee's RTCP) and its legs.
    Open {
        call: u64,
        socks: [UdpSocket; 4],
        legs: [Arc<Leg>; 2],
    },
    Close {
        call: u64,
    },
    /// The caller's leg ends at a local endpoint (a flow) until `Bridge`.
    Local {
        call: u64,
        media: Box<LocalMedia>,
    },
    Play {
        call: u64,
        audio: Vec<Arc<[i16]>>,
        interruptible: bool,
    },
    Stop {
        call: u64,
    },
    /// Keep the caller's audio at the local endpoint (a prompt's take).
    Capture {
        call: u64,
        max_samples: usize,
    },
    /// End the capture and report what was kept.
    EndCapture {
        call: u64,
    },
    /// Music under the local endpoint's prompts, looped (empty: none).
    Music {
        call: u64,
        audio: Vec<Arc<[i16]>>,
    },
    /// Relay the caller to the callee from now on.
    Bridge {
        call: u64,
    },
    /// Music on hold to leg `side` (`None`: stop it and relay again).
    Hold {
        call: u64,
        side: usize,
        music: Option<Box<LocalMedia>>,
    },
    /// Record both legs into `sink` (the recorder thread).
    Record {
        call: u64,
        sink: mpsc::SyncSender<RecMsg>,
    },
    /// Leg `side` of `call` joins (or changes its role in) mixing room
    /// `room`, talking `law`.
    Join {
        room: u64,
        call: u64,
        side: usize,
        codec: Codec,
        role: Role<u64>,
    },
    /// The legs talk different codecs (caller's, callee's).
    Transcode {
        call: u64,
        codecs: [Codec; 2],
    },
    /// Both legs of `call` leave whatever room they are in.
    Leave {
        call: u64,
    },
    /// Report the keys each leg sends as telephone-events with these
    /// payload types (caller's, callee's).
    WatchKeys {
        call: u64,
        pts: [Option<u8>; 2],
        codes: Arc<[String]>,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("relay command")
    }
}
