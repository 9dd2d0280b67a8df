//! Captures of the D-channel decode cleanly in an independent decoder
//! (issue 14: "captures decode cleanly in tshark"). A call runs between
//! our user and network stacks in virtual time, with the frames around
//! it (link establishment, STATUS ENQUIRY, RESTART); every frame is
//! written to a pcap with the LINUX_LAPD link type, seen from the
//! network side, and Wireshark's `tshark` reads it back: every frame must
//! be LAPD, every I-frame Q.931 of the message type we sent, and no frame
//! may carry a malformed-packet mark or a warning or error expert note.
// Helpers outside #[test] functions fail the test on a broken setup
// (no tshark); clippy.toml's test allowance does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use dering_isdn::q931::Cause;
use support::{Frame, Stack};

/// LINKTYPE_LINUX_LAPD: a 16-byte pseudo-header (Linux's sockaddr_ll
/// shape) carrying the direction and whether the capturing side is the
/// network, so the decoder tells commands from responses.
const LINKTYPE_LINUX_LAPD: u32 = 177;
/// ARPHRD_LAPD, the header's hardware type.
const ARPHRD_LAPD: u16 = 8445;
/// ETH_P_LAPD, the header's protocol.
const ETH_P_LAPD: u16 = 0x0030;

/// The pcap file (classic format, microsecond stamps) of `frames` as the
/// network side saw them: its own frames outgoing, the user's incoming.
fn pcap(frames: &[&Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4_u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend(0i32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(65_535u32.to_le_bytes());
    out.extend(LINKTYPE_LINUX_LAPD.to_le_bytes());
    let start = frames.first().map(|f| f.at);
    for f in frames {
        let since = start.map(|s| f.at - s).unwrap_or_default();
        let mut rec = Vec::new();
        // sll_pkttype: 0 addressed to us, 4 sent by us.
        rec.extend(if f.from_user { 0u16 } else { 4u16 }.to_be_bytes());
        rec.extend(ARPHRD_LAPD.to_be_bytes());
        rec.extend(1u16.to_be_bytes());
        // sll_addr[0] = 1: the capturing side is the network.
        rec.extend([1, 0, 0, 0, 0, 0, 0, 0]);
        rec.extend(ETH_P_LAPD.to_be_bytes());
        rec.extend(&f.bytes);
        let len = u32::try_from(rec.len()).unwrap();
        out.extend(u32::try_from(since.as_secs()).unwrap().to_le_bytes());
        out.extend(since.subsec_micros().to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend(rec);
    }
    out
}

/// tshark's fields for each frame, one line each, tab separated.
fn tshark(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(file).args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark is not installed: run `bash .ci/install-peers`");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn a_call_captured_as_linux_lapd_decodes_cleanly_in_tshark() {
    let mut s = Stack::up();
    let (n, u) = s.active_call();
    s.net.cc.status_enquiry(s.now, n).unwrap();
    s.pump();
    s.user
        .cc
        .disconnect(s.now, u, Cause::NormalClearing)
        .unwrap();
    s.pump();
    s.net.cc.restart(s.now, Some(1));
    s.pump();
    assert_eq!((s.user.cc.state(u), s.net.cc.state(n)), (0, 0));

    let frames: Vec<&Frame> = s.frames.iter().filter(|f| !f.lost).collect();
    let sent: Vec<Option<u8>> = frames.iter().map(|f| f.q931_type()).collect();
    // The messages of the call, in order, as the stacks sent them.
    let messages: Vec<u8> = sent.iter().flatten().copied().collect();
    assert_eq!(
        messages,
        [
            0x05, 0x02, 0x01, 0x07, 0x0F, // SETUP .. CONNECT ACK
            0x75, 0x7D, // STATUS ENQUIRY, STATUS
            0x45, 0x4D, 0x5A, // DISCONNECT, RELEASE, RELEASE COMPLETE
            0x46, 0x4E, // RESTART, RESTART ACK
        ]
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("call.pcap");
    std::fs::write(&file, pcap(&frames)).unwrap();
    let rows = tshark(
        &file,
        &[
            "frame.protocols",
            "q931.message_type",
            "_ws.malformed",
            "_ws.expert.severity",
        ],
    );
    assert_eq!(rows.len(), frames.len(), "one decoded row per frame");
    for (i, (row, want)) in rows.iter().zip(&sent).enumerate() {
        let [protocols, message, malformed, expert] = &row[..] else {
            panic!("frame {}: fields {row:?}", i + 1);
        };
        assert!(
            protocols.contains("lapd"),
            "frame {} is not LAPD: {protocols}",
            i + 1
        );
        assert!(malformed.is_empty(), "frame {} is malformed", i + 1);
        assert!(
            expert.is_empty(),
            "frame {} has expert notes ({expert}): {protocols}",
            i + 1
        );
        match want {
            Some(t) => {
                assert!(protocols.ends_with("q931"), "frame {}: {protocols}", i + 1);
                assert_eq!(
                    message,
                    &format!("0x{t:02x}"),
                    "frame {}: message type",
                    i + 1
                );
            }
            None => assert!(message.is_empty(), "frame {}: {message}", i + 1),
        }
    }
}
