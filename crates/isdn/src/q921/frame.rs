//! The LAPD frame as DAHDI hands it over (the flags and the two FCS bytes
//! already stripped): address, control, optional information. Decoding
//! never panics; every malformed input is a [`DecodeError`] so the link can
//! tell frames to ignore from frames that are a protocol error (Q.921
//! §5.8.4 and §5.8.5 treat them differently).

use thiserror::Error;

/// Modulus of the sequence numbers in multiple-frame operation (Q.921 §3.5.2).
pub const MODULUS: u8 = 128;

/// A frame's kind and the fields its control field carries. `pf` is the
/// poll bit in commands and the final bit in responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Numbered information (always a command).
    I { ns: u8, nr: u8, pf: bool },
    /// Receive ready: acknowledges up to `nr`, clears peer busy.
    Rr { nr: u8, pf: bool },
    /// Receive not ready: acknowledges up to `nr`, sets peer busy.
    Rnr { nr: u8, pf: bool },
    /// Reject: asks for retransmission from `nr`.
    Rej { nr: u8, pf: bool },
    /// Set asynchronous balanced mode extended (establishment).
    Sabme { pf: bool },
    /// Disconnected mode.
    Dm { pf: bool },
    /// Unnumbered information.
    Ui { pf: bool },
    /// Disconnect (release).
    Disc { pf: bool },
    /// Unnumbered acknowledgement.
    Ua { pf: bool },
    /// Frame reject (its information field is kept in [`Frame::info`]).
    Frmr { pf: bool },
    /// Exchange identification (not used on PRI; decoded so it is not
    /// mistaken for an undefined control field).
    Xid { pf: bool },
}

/// One LAPD frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Service access point identifier (0 for call control).
    pub sapi: u8,
    /// Command/response bit exactly as on the wire; what it means depends
    /// on which side sent the frame (see [`Frame::is_command`]).
    pub cr: bool,
    /// Terminal endpoint identifier (0 on point-to-point PRI).
    pub tei: u8,
    /// The control field.
    pub kind: Kind,
    /// Information field (I, UI, FRMR, XID); empty for the others.
    pub info: Vec<u8>,
}

/// Why a byte string is not a LAPD frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer bytes than an address and a control field.
    #[error("frame of {0} bytes is too short")]
    TooShort(usize),
    /// The address extension bits are not 0 then 1 (a one-byte or
    /// three-byte address, which LAPD does not have).
    #[error("address extension bits are wrong")]
    BadAddress,
    /// A control field Q.921 does not define (MDL-ERROR L).
    #[error("undefined control field {0:#04x}")]
    UndefinedControl(u8),
    /// A supervisory or unnumbered frame whose length is wrong for its
    /// kind, e.g. an RR with an information field (MDL-ERROR M or N).
    #[error("wrong length {len} for a {what} frame")]
    WrongLength {
        /// The frame kind.
        what: &'static str,
        /// Its length on the wire.
        len: usize,
    },
    /// An information field longer than N201 (MDL-ERROR O).
    #[error("information field of {len} bytes exceeds N201 = {max}")]
    TooLong {
        /// The information field's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl DecodeError {
    /// Whether Q.921 counts this as a frame rejection condition (the link
    /// re-establishes) rather than an invalid frame to ignore (§5.8.4).
    pub fn is_protocol_error(&self) -> bool {
        !matches!(self, Self::TooShort(_) | Self::BadAddress)
    }
}

impl Frame {
    /// Whether the frame is a command when sent by a user-side entity
    /// (`from_network = false`) or a network-side one (Q.921 §3.3.2:
    /// C/R = 1 marks commands from the network and responses from the user).
    pub fn is_command(&self, from_network: bool) -> bool {
        self.cr == from_network
    }

    /// Parses one frame; `n201` bounds the information field.
    pub fn decode(bytes: &[u8], n201: usize) -> Result<Self, DecodeError> {
        let (&a1, &a2, &c1) = match bytes {
            [a1, a2, c1, ..] => (a1, a2, c1),
            _ => return Err(DecodeError::TooShort(bytes.len())),
        };
        if a1 & 0x01 != 0 || a2 & 0x01 != 1 {
            return Err(DecodeError::BadAddress);
        }
        let sapi = a1 >> 2;
        let cr = a1 & 0x02 != 0;
        let tei = a2 >> 1;
        let len = bytes.len();
        let numbered = |what: &'static str| -> Result<(u8, bool, &[u8]), DecodeError> {
            match bytes.get(3) {
                Some(&c2) => Ok((c2 >> 1, c2 & 1 != 0, &bytes[4..])),
                None => Err(DecodeError::WrongLength { what, len }),
            }
        };
        let exact = |what: &'static str, rest: &[u8]| {
            if rest.is_empty() {
                Ok(())
            } else {
                Err(DecodeError::WrongLength { what, len })
            }
        };
        let bounded = |info: &[u8]| {
            if info.len() > n201 {
                Err(DecodeError::TooLong {
                    len: info.len(),
                    max: n201,
                })
            } else {
                Ok(info.to_vec())
            }
        };
        let (kind, info) = if c1 & 0x01 == 0 {
            let (nr, pf, info) = numbered("I")?;
            let info = bounded(info)?;
            (
                Kind::I {
                    ns: c1 >> 1,
                    nr,
                    pf,
                },
                info,
            )
        } else if c1 & 0x03 == 0x01 {
            let what = match c1 {
                0x01 => "RR",
                0x05 => "RNR",
                0x09 => "REJ",
                other => return Err(DecodeError::UndefinedControl(other)),
            };
            let (nr, pf, rest) = numbered(what)?;
            exact(what, rest)?;
            let kind = match c1 {
                0x01 => Kind::Rr { nr, pf },
                0x05 => Kind::Rnr { nr, pf },
                _ => Kind::Rej { nr, pf },
            };
            (kind, Vec::new())
        } else {
            let pf = c1 & 0x10 != 0;
            let rest = &bytes[3..];
            match c1 & !0x10 {
                0x6F => (
                    Kind::Sabme { pf },
                    exact("SABME", rest).map(|()| Vec::new())?,
                ),
                0x0F => (Kind::Dm { pf }, exact("DM", rest).map(|()| Vec::new())?),
                0x43 => (Kind::Disc { pf }, exact("DISC", rest).map(|()| Vec::new())?),
                0x63 => (Kind::Ua { pf }, exact("UA", rest).map(|()| Vec::new())?),
                0x03 => (Kind::Ui { pf }, bounded(rest)?),
                0x87 => (Kind::Frmr { pf }, bounded(rest)?),
                0xAF => (Kind::Xid { pf }, bounded(rest)?),
                _ => return Err(DecodeError::UndefinedControl(c1)),
            }
        };
        Ok(Self {
            sapi,
            cr,
            tei,
            kind,
            info,
        })
    }

    /// The frame's bytes (without FCS; DAHDI appends it).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.info.len());
        out.push((self.sapi & 0x3F) << 2 | u8::from(self.cr) << 1);
        out.push((self.tei & 0x7F) << 1 | 1);
        let pf = |pf: bool| u8::from(pf) << 4;
        match self.kind {
            Kind::I { ns, nr, pf } => {
                out.push((ns & 0x7F) << 1);
                out.push((nr & 0x7F) << 1 | u8::from(pf));
            }
            Kind::Rr { nr, pf: p } => out.extend([0x01, (nr & 0x7F) << 1 | u8::from(p)]),
            Kind::Rnr { nr, pf: p } => out.extend([0x05, (nr & 0x7F) << 1 | u8::from(p)]),
            Kind::Rej { nr, pf: p } => out.extend([0x09, (nr & 0x7F) << 1 | u8::from(p)]),
            Kind::Sabme { pf: p } => out.push(0x6F | pf(p)),
            Kind::Dm { pf: p } => out.push(0x0F | pf(p)),
            Kind::Ui { pf: p } => out.push(0x03 | pf(p)),
            Kind::Disc { pf: p } => out.push(0x43 | pf(p)),
            Kind::Ua { pf: p } => out.push(0x63 | pf(p)),
            Kind::Frmr { pf: p } => out.push(0x87 | pf(p)),
            Kind::Xid { pf: p } => out.push(0xAF | pf(p)),
        }
        out.extend_from_slice(&self.info);
        out
    }
}
