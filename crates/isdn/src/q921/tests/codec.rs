//! The frame codec against the bytes of a real trace, round trips over
//! every control field, and the typed errors.

use std::time::Instant;

use crate::q921::{Config, DecodeError, Frame, Kind, Link, Role};

fn frame(cr: bool, kind: Kind, info: &[u8]) -> Frame {
    Frame {
        sapi: 0,
        cr,
        tei: 0,
        kind,
        info: info.to_vec(),
    }
}

#[test]
fn establishment_frames_match_a_real_trace() {
    let now = Instant::now();
    let mut net = Link::new(Role::Network, Config::default(), now);
    let mut user = Link::new(Role::User, Config::default(), now);
    net.establish(now);
    let sabme = net.poll_transmit().unwrap();
    assert_eq!(sabme, [0x02, 0x01, 0x7F], "network SABME");
    user.handle_frame(now, &sabme);
    assert_eq!(user.poll_transmit().unwrap(), [0x02, 0x01, 0x73], "user UA");

    let mut user = Link::new(Role::User, Config::default(), now);
    user.establish(now);
    assert_eq!(
        user.poll_transmit().unwrap(),
        [0x00, 0x01, 0x7F],
        "user SABME"
    );
}

#[test]
fn encodes_each_kind_as_q921_says() {
    let cases: [(Kind, &[u8]); 11] = [
        (
            Kind::I {
                ns: 5,
                nr: 9,
                pf: true,
            },
            &[0x0A, 0x13],
        ),
        (Kind::Rr { nr: 127, pf: false }, &[0x01, 0xFE]),
        (Kind::Rnr { nr: 1, pf: true }, &[0x05, 0x03]),
        (Kind::Rej { nr: 2, pf: false }, &[0x09, 0x04]),
        (Kind::Sabme { pf: false }, &[0x6F]),
        (Kind::Dm { pf: true }, &[0x1F]),
        (Kind::Ui { pf: false }, &[0x03]),
        (Kind::Disc { pf: true }, &[0x53]),
        (Kind::Ua { pf: false }, &[0x63]),
        (Kind::Frmr { pf: false }, &[0x87]),
        (Kind::Xid { pf: true }, &[0xBF]),
    ];
    for (kind, control) in cases {
        let f = frame(true, kind, &[]);
        let bytes = f.encode();
        assert_eq!(&bytes[..2], [0x02, 0x01]);
        assert_eq!(&bytes[2..], control, "{:?}", f.kind);
        assert_eq!(Frame::decode(&bytes, 260), Ok(f));
    }
    let i = frame(
        false,
        Kind::I {
            ns: 0,
            nr: 0,
            pf: false,
        },
        b"\x08\x02\x00\x01\x05",
    );
    assert_eq!(i.encode(), b"\x00\x01\x00\x00\x08\x02\x00\x01\x05");
}

/// Every two-byte control field after both address bytes either decodes
/// and encodes back to the same bytes or is a typed error: no panic, no
/// lossy parse.
#[test]
fn every_control_field_round_trips_or_errors() {
    for cr in [0x00, 0x02] {
        for c1 in 0..=255u8 {
            for c2 in 0..=255u8 {
                let bytes = [cr, 0x01, c1, c2];
                if let Ok(f) = Frame::decode(&bytes, 260) {
                    assert_eq!(f.encode(), bytes);
                }
                if let Ok(f) = Frame::decode(&bytes[..3], 260) {
                    assert_eq!(f.encode(), bytes[..3]);
                }
            }
        }
    }
}

#[test]
fn malformed_frames_are_typed_errors() {
    assert_eq!(Frame::decode(&[], 260), Err(DecodeError::TooShort(0)));
    assert_eq!(
        Frame::decode(&[0x02, 0x01], 260),
        Err(DecodeError::TooShort(2))
    );
    // Extension bit set in the first address byte / clear in the second.
    assert_eq!(
        Frame::decode(&[0x03, 0x01, 0x7F], 260),
        Err(DecodeError::BadAddress)
    );
    assert_eq!(
        Frame::decode(&[0x02, 0x00, 0x7F], 260),
        Err(DecodeError::BadAddress)
    );
    assert_eq!(
        Frame::decode(&[0x02, 0x01, 0x0D, 0x00], 260),
        Err(DecodeError::UndefinedControl(0x0D))
    );
    assert_eq!(
        Frame::decode(&[0x02, 0x01, 0x2F], 260),
        Err(DecodeError::UndefinedControl(0x2F))
    );
    assert_eq!(
        Frame::decode(&[0x02, 0x01, 0x01], 260),
        Err(DecodeError::WrongLength { what: "RR", len: 3 })
    );
    assert_eq!(
        Frame::decode(&[0x02, 0x01, 0x01, 0x00, 0xAA], 260),
        Err(DecodeError::WrongLength { what: "RR", len: 5 })
    );
    assert_eq!(
        Frame::decode(&[0x02, 0x01, 0x7F, 0x00], 260),
        Err(DecodeError::WrongLength {
            what: "SABME",
            len: 4
        })
    );
    assert_eq!(
        Frame::decode(&[0x02, 0x01, 0x00], 260),
        Err(DecodeError::WrongLength { what: "I", len: 3 })
    );
    let long = [vec![0x02, 0x01, 0x00, 0x00], vec![0u8; 261]].concat();
    assert_eq!(
        Frame::decode(&long, 260),
        Err(DecodeError::TooLong { len: 261, max: 260 })
    );
    assert!(Frame::decode(&long[..264], 260).is_ok());
}

#[test]
fn command_or_response_depends_on_the_sender() {
    // C/R = 1: a command from the network, a response from the user.
    let f = Frame::decode(&[0x02, 0x01, 0x7F], 260).unwrap();
    assert!(f.is_command(true));
    assert!(!f.is_command(false));
}
