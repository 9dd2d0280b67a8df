//! The Q.931 message: protocol discriminator, call reference, message
//! type, then information elements (Q.931 section 4). Decoding never
//! panics; a message that is whole enough to answer but lacks a mandatory
//! IE or has one with broken contents comes back as an error that still
//! names its call reference and type, so the call layer can answer it
//! with cause 96 or 100.

use super::ie::{self, Ie, InvalidIe};

/// The protocol discriminator of Q.931 call control.
pub const DISCRIMINATOR: u8 = 0x08;

/// A call reference. On a PRI it is 15 bits; `flag` is set by the side
/// that did not allocate the value. Value 0 is the global reference
/// (RESTART).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef {
    /// The value (15 bits).
    pub value: u16,
    /// The flag bit (0x80 of the first octet).
    pub flag: bool,
}

impl CallRef {
    /// The global call reference.
    pub const GLOBAL: CallRef = CallRef {
        value: 0,
        flag: false,
    };

    /// Whether this is the global call reference.
    pub fn is_global(self) -> bool {
        self.value == 0
    }
}

/// Message types of a basic call (Q.931 table 4-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 0x01
    Alerting,
    /// 0x02
    CallProceeding,
    /// 0x03
    Progress,
    /// 0x05
    Setup,
    /// 0x07
    Connect,
    /// 0x0D
    SetupAck,
    /// 0x0F
    ConnectAck,
    /// 0x45
    Disconnect,
    /// 0x46
    Restart,
    /// 0x4D
    Release,
    /// 0x4E
    RestartAck,
    /// 0x5A
    ReleaseComplete,
    /// 0x62
    Facility,
    /// 0x75
    StatusEnquiry,
    /// 0x7B
    Information,
    /// 0x7D
    Status,
    /// Any other value: answered with STATUS cause 97 by the call layer.
    Other(u8),
}

const TYPES: [(MessageType, u8); 16] = [
    (MessageType::Alerting, 0x01),
    (MessageType::CallProceeding, 0x02),
    (MessageType::Progress, 0x03),
    (MessageType::Setup, 0x05),
    (MessageType::Connect, 0x07),
    (MessageType::SetupAck, 0x0D),
    (MessageType::ConnectAck, 0x0F),
    (MessageType::Disconnect, 0x45),
    (MessageType::Restart, 0x46),
    (MessageType::Release, 0x4D),
    (MessageType::RestartAck, 0x4E),
    (MessageType::ReleaseComplete, 0x5A),
    (MessageType::Facility, 0x62),
    (MessageType::StatusEnquiry, 0x75),
    (MessageType::Information, 0x7B),
    (MessageType::Status, 0x7D),
];

impl MessageType {
    /// The type for an octet (bit 8 is reserved and ignored).
    pub fn from_value(v: u8) -> Self {
        let v = v & 0x7F;
        TYPES
            .iter()
            .find(|(_, x)| *x == v)
            .map_or(MessageType::Other(v), |(t, _)| *t)
    }

    /// The octet on the wire.
    pub fn value(self) -> u8 {
        match self {
            MessageType::Other(v) => v & 0x7F,
            t => TYPES.iter().find(|(x, _)| *x == t).map_or(0, |(_, v)| *v),
        }
    }

    /// The IEs this message cannot do without, as this implementation
    /// needs them (EN 300 403 section 3).
    pub fn mandatory(self) -> &'static [u8] {
        match self {
            MessageType::Setup => &[ie::id::BEARER_CAPABILITY],
            MessageType::Disconnect => &[ie::id::CAUSE],
            MessageType::Status => &[ie::id::CAUSE, ie::id::CALL_STATE],
            MessageType::Restart | MessageType::RestartAck => &[ie::id::RESTART_INDICATOR],
            _ => &[],
        }
    }
}

/// What the call layer needs to answer a message it could not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The call reference.
    pub call_ref: CallRef,
    /// The message type.
    pub msg_type: MessageType,
}

/// Why bytes are not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a header.
    #[error("message too short")]
    TooShort,
    /// Not Q.931 call control.
    #[error("protocol discriminator {0:#04x} is not Q.931")]
    Discriminator(u8),
    /// A call reference longer than 2 octets.
    #[error("call reference length {0} is not supported")]
    CallRefLength(u8),
    /// An IE's length runs past the end of the message.
    #[error("information element {id:#04x} is truncated")]
    Truncated {
        /// The message so far.
        header: Header,
        /// The IE.
        id: u8,
    },
    /// A mandatory IE is absent (answer with cause 96).
    #[error("mandatory information element {id:#04x} missing")]
    MandatoryMissing {
        /// The message.
        header: Header,
        /// The IE.
        id: u8,
    },
    /// A mandatory IE's contents are broken (answer with cause 100).
    #[error("invalid contents in mandatory information element {id:#04x}")]
    InvalidContents {
        /// The message.
        header: Header,
        /// The IE.
        id: u8,
    },
}

impl DecodeError {
    /// The header, when the message got that far.
    pub fn header(&self) -> Option<Header> {
        match *self {
            DecodeError::Truncated { header, .. }
            | DecodeError::MandatoryMissing { header, .. }
            | DecodeError::InvalidContents { header, .. } => Some(header),
            _ => None,
        }
    }
}

/// A Q.931 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The call reference.
    pub call_ref: CallRef,
    /// The message type.
    pub msg_type: MessageType,
    /// The IEs of codeset 0 in the order received (or to be sent).
    pub ies: Vec<Ie>,
}

impl Message {
    /// A message without IEs.
    pub fn new(call_ref: CallRef, msg_type: MessageType) -> Self {
        Message {
            call_ref,
            msg_type,
            ies: Vec::new(),
        }
    }

    /// Adds an IE (builder style).
    pub fn with(mut self, ie: Ie) -> Self {
        self.ies.push(ie);
        self
    }

    /// The first IE with identifier `id`.
    pub fn ie(&self, id: u8) -> Option<&Ie> {
        self.ies.iter().find(|i| i.id() == id)
    }

    /// The cause, when the message carries one.
    pub fn cause(&self) -> Option<super::Cause> {
        self.ies.iter().find_map(|i| match i {
            Ie::Cause(c) => Some(c.cause),
            _ => None,
        })
    }

    /// The channel identification, when the message carries one.
    pub fn channel(&self) -> Option<ie::ChannelId> {
        self.ies.iter().find_map(|i| match i {
            Ie::ChannelId(c) => Some(*c),
            _ => None,
        })
    }

    /// The bytes on the wire, with a 2-octet call reference (PRI).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![
            DISCRIMINATOR,
            2,
            u8::from(self.call_ref.flag) << 7 | ((self.call_ref.value >> 8) as u8 & 0x7F),
            self.call_ref.value as u8,
            self.msg_type.value(),
        ];
        for ie in &self.ies {
            ie.encode(&mut out);
        }
        out
    }

    /// Reads a message. IEs of other codesets (after a shift) are skipped;
    /// a known IE with broken contents is kept raw unless it is mandatory
    /// for this message.
    pub fn decode(b: &[u8]) -> Result<Message, DecodeError> {
        let (&pd, rest) = b.split_first().ok_or(DecodeError::TooShort)?;
        if pd != DISCRIMINATOR {
            return Err(DecodeError::Discriminator(pd));
        }
        let (&len, rest) = rest.split_first().ok_or(DecodeError::TooShort)?;
        let len = len & 0x0F;
        if len > 2 {
            return Err(DecodeError::CallRefLength(len));
        }
        let cr = rest.get(..usize::from(len)).ok_or(DecodeError::TooShort)?;
        let call_ref = match *cr {
            [] => CallRef::GLOBAL,
            [a] => CallRef {
                value: u16::from(a & 0x7F),
                flag: a & 0x80 != 0,
            },
            [a, b, ..] => CallRef {
                value: u16::from(a & 0x7F) << 8 | u16::from(b),
                flag: a & 0x80 != 0,
            },
        };
        let rest = &rest[usize::from(len)..];
        let (&mt, mut rest) = rest.split_first().ok_or(DecodeError::TooShort)?;
        let msg_type = MessageType::from_value(mt);
        let header = Header { call_ref, msg_type };
        let mandatory = msg_type.mandatory();
        let mut ies = Vec::new();
        let mut locked = 0u8;
        let mut next_only: Option<u8> = None;
        while let Some((&id, tail)) = rest.split_first() {
            let codeset = next_only.take().unwrap_or(locked);
            if id & 0x80 != 0 {
                rest = tail;
                if id & 0xF0 == 0x90 {
                    // Shift: bit 4 set = non-locking, for the next IE only.
                    if id & 0x08 != 0 {
                        next_only = Some(id & 7);
                    } else {
                        locked = id & 7;
                    }
                } else if codeset == 0 {
                    ies.push(if id == ie::id::SENDING_COMPLETE {
                        Ie::SendingComplete
                    } else {
                        Ie::Raw {
                            id,
                            body: Vec::new(),
                        }
                    });
                }
                continue;
            }
            let (&l, tail) = tail
                .split_first()
                .ok_or(DecodeError::Truncated { header, id })?;
            let body = tail
                .get(..usize::from(l))
                .ok_or(DecodeError::Truncated { header, id })?;
            rest = &tail[usize::from(l)..];
            if codeset != 0 {
                continue;
            }
            match ie::decode_body(id, body) {
                Ok(Some(ie)) => ies.push(ie),
                Ok(None) => ies.push(Ie::Raw {
                    id,
                    body: body.to_vec(),
                }),
                Err(InvalidIe { id }) if mandatory.contains(&id) => {
                    return Err(DecodeError::InvalidContents { header, id });
                }
                Err(InvalidIe { id }) => ies.push(Ie::Raw {
                    id,
                    body: body.to_vec(),
                }),
            }
        }
        if let Some(&id) = mandatory
            .iter()
            .find(|&&m| !ies.iter().any(|i| i.id() == m))
        {
            return Err(DecodeError::MandatoryMissing { header, id });
        }
        Ok(Message {
            call_ref,
            msg_type,
            ies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::q931::ie::{BearerCapability, CauseIe, ChannelId, ChannelSel};
    use crate::q931::{Cause, PartyNumber, TypeOfNumber};

    /// A SETUP as libpri's network side sends it: call reference 1 from
    /// the allocating side, BC, exclusive timeslot 1, called 137.
    const SETUP: [u8; 21] = [
        0x08, 0x02, 0x00, 0x01, 0x05, //
        0x04, 0x03, 0x80, 0x90, 0xA3, //
        0x18, 0x03, 0xA9, 0x83, 0x81, //
        0x70, 0x04, 0x81, b'1', b'3', b'7',
    ];

    #[test]
    fn setup_bytes_decode_and_encode_back() {
        let m = Message::decode(&SETUP).unwrap();
        assert_eq!(
            m,
            Message::new(
                CallRef {
                    value: 1,
                    flag: false
                },
                MessageType::Setup
            )
            .with(Ie::BearerCapability(BearerCapability::speech_alaw()))
            .with(Ie::ChannelId(ChannelId {
                exclusive: true,
                channel: ChannelSel::BChannel(1)
            }))
            .with(Ie::CalledNumber(PartyNumber::e164(
                TypeOfNumber::Unknown,
                "137"
            )))
        );
        assert_eq!(m.encode(), SETUP);
    }

    #[test]
    fn call_reference_flag_and_global_reference() {
        let m = Message::new(
            CallRef {
                value: 0x1234,
                flag: true,
            },
            MessageType::Disconnect,
        )
        .with(Ie::Cause(CauseIe::new(Cause::UserBusy)));
        let b = m.encode();
        assert_eq!(b, [0x08, 0x02, 0x92, 0x34, 0x45, 0x08, 0x02, 0x81, 0x91]);
        assert_eq!(Message::decode(&b).unwrap(), m);
        // A one-octet and a zero-length (global) reference also read.
        let one = Message::decode(&[0x08, 0x01, 0x85, 0x0F]).unwrap();
        assert_eq!(
            one.call_ref,
            CallRef {
                value: 5,
                flag: true
            }
        );
        let global = Message::decode(&[0x08, 0x00, 0x46, 0x79, 0x01, 0x87]).unwrap();
        assert!(global.call_ref.is_global());
    }

    #[test]
    fn sending_complete_unknown_and_shifted_ies() {
        let b = [
            0x08, 0x02, 0x00, 0x01, 0x7B, // INFORMATION
            0xA1, // sending complete
            0x2C, 0x01, b'5', // keypad facility: unknown here, kept raw
            0x96, 0x01, 0x02, 0x00, 0x00, // locking shift to 6, an IE dropped
            0x90, 0x70, 0x02, 0x81, b'9', // shift back, called number
            0x9E, 0x08, 0x01, 0x80, // non-locking shift: one IE dropped
            0xA0, // more data (single octet), kept raw
        ];
        let m = Message::decode(&b).unwrap();
        assert_eq!(
            m.ies,
            vec![
                Ie::SendingComplete,
                Ie::Raw {
                    id: 0x2C,
                    body: vec![b'5']
                },
                Ie::CalledNumber(PartyNumber::e164(TypeOfNumber::Unknown, "9")),
                Ie::Raw {
                    id: 0xA0,
                    body: vec![]
                },
            ]
        );
    }

    #[test]
    fn missing_and_invalid_mandatory_ies_are_told_apart() {
        let header = Header {
            call_ref: CallRef {
                value: 1,
                flag: false,
            },
            msg_type: MessageType::Setup,
        };
        // SETUP without bearer capability.
        assert_eq!(
            Message::decode(&SETUP[..5]),
            Err(DecodeError::MandatoryMissing { header, id: 0x04 })
        );
        // SETUP whose bearer capability is cut short.
        let mut bad = SETUP;
        bad[6] = 0x01;
        bad[7] = 0x00;
        let mut v = bad[..5].to_vec();
        v.extend_from_slice(&[0x04, 0x01, 0x00]);
        assert_eq!(
            Message::decode(&v),
            Err(DecodeError::InvalidContents { header, id: 0x04 })
        );
        // A broken optional IE is kept raw.
        let mut v = SETUP[..10].to_vec();
        v.extend_from_slice(&[0x18, 0x01, 0x00]);
        let m = Message::decode(&v).unwrap();
        assert_eq!(
            m.ies[1],
            Ie::Raw {
                id: 0x18,
                body: vec![0x00]
            }
        );
    }

    #[test]
    fn short_and_foreign_bytes_are_errors() {
        assert_eq!(Message::decode(&[]), Err(DecodeError::TooShort));
        assert_eq!(
            Message::decode(&[0x09, 0x02, 0, 1, 5]),
            Err(DecodeError::Discriminator(9))
        );
        assert_eq!(
            Message::decode(&[0x08, 0x03, 0, 0, 1, 5]),
            Err(DecodeError::CallRefLength(3))
        );
        assert_eq!(
            Message::decode(&[0x08, 0x02, 0]),
            Err(DecodeError::TooShort)
        );
        assert!(matches!(
            Message::decode(&SETUP[..20]),
            Err(DecodeError::Truncated { id: 0x70, .. })
        ));
        // Every prefix and every single-byte change decodes or errs.
        for n in 0..SETUP.len() {
            let _ = Message::decode(&SETUP[..n]);
            for v in [0x00, 0x7F, 0x80, 0xFF] {
                let mut b = SETUP;
                b[n] = v;
                if let Ok(m) = Message::decode(&b) {
                    // What decodes encodes and decodes to the same.
                    assert_eq!(Message::decode(&m.encode()).as_ref(), Ok(&m));
                }
            }
        }
    }
}
