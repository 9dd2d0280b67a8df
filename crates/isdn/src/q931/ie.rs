//! Information elements of codeset 0 (Q.931 section 4.5, EN 300 403): the
//! ones a basic call on a PRI carries are typed, any other is kept as raw
//! bytes so it survives a decode and encode unchanged.

use super::cause::Cause;

/// IE identifiers of codeset 0.
pub mod id {
    /// Bearer Capability.
    pub const BEARER_CAPABILITY: u8 = 0x04;
    /// Cause.
    pub const CAUSE: u8 = 0x08;
    /// Call State.
    pub const CALL_STATE: u8 = 0x14;
    /// Channel Identification.
    pub const CHANNEL_ID: u8 = 0x18;
    /// Progress Indicator.
    pub const PROGRESS: u8 = 0x1E;
    /// Display.
    pub const DISPLAY: u8 = 0x28;
    /// Calling Party Number.
    pub const CALLING_NUMBER: u8 = 0x6C;
    /// Called Party Number.
    pub const CALLED_NUMBER: u8 = 0x70;
    /// Redirecting Number.
    pub const REDIRECTING_NUMBER: u8 = 0x74;
    /// Restart Indicator.
    pub const RESTART_INDICATOR: u8 = 0x79;
    /// Sending Complete (single octet).
    pub const SENDING_COMPLETE: u8 = 0xA1;
}

/// Why an IE's contents could not be read: the call layer answers this
/// with cause 100 when the IE was mandatory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid contents in information element {id:#04x}")]
pub struct InvalidIe {
    /// The IE's identifier.
    pub id: u8,
}

/// One information element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ie {
    /// Sending Complete: the called number is complete (en bloc).
    SendingComplete,
    /// Bearer Capability.
    BearerCapability(BearerCapability),
    /// Cause.
    Cause(CauseIe),
    /// Call State: the sender's state number (6 bits).
    CallState(u8),
    /// Channel Identification.
    ChannelId(ChannelId),
    /// Progress Indicator.
    Progress(Progress),
    /// Display: IA5 text, kept as bytes.
    Display(Vec<u8>),
    /// Calling Party Number.
    CallingNumber(PartyNumber),
    /// Called Party Number (never carries octet 3a).
    CalledNumber(PartyNumber),
    /// Redirecting Number.
    RedirectingNumber(PartyNumber),
    /// Restart Indicator.
    RestartIndicator(RestartClass),
    /// Any other IE of codeset 0, or a known one whose contents did not
    /// parse in a message where it is optional. A single-octet IE (id with
    /// bit 8 set) has an empty body.
    Raw {
        /// The identifier.
        id: u8,
        /// The contents after the length octet.
        body: Vec<u8>,
    },
}

/// Bearer Capability: what kind of connection the call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerCapability {
    /// Coding standard (octet 3 bits 7-6; 0 = ITU-T).
    pub coding: u8,
    /// Information transfer capability (octet 3 bits 5-1): 0 speech,
    /// 8 unrestricted digital, 16 3.1 kHz audio.
    pub capability: u8,
    /// Octet 4 without its extension bit: transfer mode and rate
    /// (0x10 = circuit mode, 64 kbit/s).
    pub mode_rate: u8,
    /// User information layer 1 protocol (octet 5 bits 5-1): 2 µ-law,
    /// 3 A-law.
    pub layer1: Option<u8>,
    /// Any octets after octet 5, as received.
    pub extra: Vec<u8>,
}

impl BearerCapability {
    /// Speech, circuit mode 64 kbit/s, A-law: what a telephone call on a
    /// European PRI asks for (`04 03 80 90 A3`).
    pub fn speech_alaw() -> Self {
        BearerCapability {
            coding: 0,
            capability: 0,
            mode_rate: 0x10,
            layer1: Some(3),
            extra: Vec::new(),
        }
    }
}

/// Cause IE: where the call was cleared and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CauseIe {
    /// Location (4 bits): 0 user, 1 private network serving the local
    /// user, 2 public network serving the local user, …
    pub location: u8,
    /// The cause value.
    pub cause: Cause,
    /// Diagnostics, as received.
    pub diagnostics: Vec<u8>,
}

impl CauseIe {
    /// A cause from the private network serving the local user, the
    /// location a PBX gives.
    pub fn new(cause: Cause) -> Self {
        CauseIe {
            location: 1,
            cause,
            diagnostics: Vec::new(),
        }
    }
}

/// Which B-channel a Channel Identification asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSel {
    /// No channel (selection 00).
    NoChannel,
    /// A B-channel by number: the E1 timeslot (1-15, 17-31).
    BChannel(u8),
    /// Any channel (selection 11).
    Any,
}

/// Channel Identification on a primary rate interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelId {
    /// Exclusive (only this channel is acceptable) or preferred.
    pub exclusive: bool,
    /// The channel.
    pub channel: ChannelSel,
}

/// Progress Indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Location (4 bits), as in the cause.
    pub location: u8,
    /// Description (7 bits): 1 not end-to-end ISDN, 2 destination not
    /// ISDN, 3 origination not ISDN, 8 in-band information available.
    pub description: u8,
}

/// Type of number (octet 3 bits 7-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeOfNumber {
    /// 0
    Unknown,
    /// 1
    International,
    /// 2
    National,
    /// 3
    NetworkSpecific,
    /// 4
    Subscriber,
    /// 6
    Abbreviated,
    /// 5 or 7 (reserved).
    Reserved(u8),
}

impl TypeOfNumber {
    fn from_bits(b: u8) -> Self {
        match b & 7 {
            0 => Self::Unknown,
            1 => Self::International,
            2 => Self::National,
            3 => Self::NetworkSpecific,
            4 => Self::Subscriber,
            6 => Self::Abbreviated,
            r => Self::Reserved(r),
        }
    }
    fn bits(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::International => 1,
            Self::National => 2,
            Self::NetworkSpecific => 3,
            Self::Subscriber => 4,
            Self::Abbreviated => 6,
            Self::Reserved(r) => r & 7,
        }
    }
}

/// Presentation indicator (octet 3a bits 7-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// 0: presentation allowed.
    Allowed,
    /// 1: presentation restricted (CLIR).
    Restricted,
    /// 2: number not available due to interworking.
    NotAvailable,
    /// 3: reserved.
    Reserved,
}

/// Presentation and screening (octet 3a of calling and redirecting
/// numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screening {
    /// May the number be shown to the called party.
    pub presentation: Presentation,
    /// Screening indicator (2 bits): 0 user provided not screened, 1
    /// passed, 2 failed, 3 network provided.
    pub screening: u8,
}

/// A party number: Calling, Called or Redirecting Number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyNumber {
    /// Type of number.
    pub ton: TypeOfNumber,
    /// Numbering plan (4 bits): 0 unknown, 1 ISDN/E.164, 9 private.
    pub plan: u8,
    /// Octet 3a, when present (never in a Called Party Number).
    pub screening: Option<Screening>,
    /// Octet 3b of a Redirecting Number: reason for redirection (4 bits).
    pub reason: Option<u8>,
    /// The digits (IA5: 0-9, * and #, and whatever else the peer sent
    /// that is printable ASCII).
    pub digits: String,
}

impl PartyNumber {
    /// A number in the E.164 plan with no octet 3a.
    pub fn e164(ton: TypeOfNumber, digits: &str) -> Self {
        PartyNumber {
            ton,
            plan: 1,
            screening: None,
            reason: None,
            digits: digits.to_owned(),
        }
    }
}

/// Restart Indicator class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartClass {
    /// 0: the channels named in the Channel Identification.
    Channels,
    /// 6: the whole interface.
    Interface,
    /// 7: all interfaces.
    AllInterfaces,
    /// Any other (reserved) class.
    Other(u8),
}

/// Decodes the contents (after the length octet) of IE `id`. `Ok(None)`
/// means the IE is not one of the typed ones.
pub(super) fn decode_body(id: u8, b: &[u8]) -> Result<Option<Ie>, InvalidIe> {
    let bad = InvalidIe { id };
    let ie = match id {
        id::BEARER_CAPABILITY => Ie::BearerCapability(bearer(b).ok_or(bad)?),
        id::CAUSE => {
            let (&o3, rest) = b.split_first().ok_or(bad)?;
            // Octet 3a (recommendation) follows when octet 3 is not the
            // last of its group.
            let rest = if o3 & 0x80 == 0 {
                rest.get(1..).ok_or(bad)?
            } else {
                rest
            };
            let (&o4, diagnostics) = rest.split_first().ok_or(bad)?;
            Ie::Cause(CauseIe {
                location: o3 & 0x0F,
                cause: Cause::from_value(o4),
                diagnostics: diagnostics.to_vec(),
            })
        }
        id::CALL_STATE => match b {
            [s] => Ie::CallState(s & 0x3F),
            _ => return Err(bad),
        },
        id::CHANNEL_ID => Ie::ChannelId(channel_id(b).ok_or(bad)?),
        id::PROGRESS => match b {
            [o3, o4] => Ie::Progress(Progress {
                location: o3 & 0x0F,
                description: o4 & 0x7F,
            }),
            _ => return Err(bad),
        },
        id::DISPLAY => Ie::Display(b.to_vec()),
        id::CALLING_NUMBER => Ie::CallingNumber(number(b, 1).ok_or(bad)?),
        id::CALLED_NUMBER => Ie::CalledNumber(number(b, 0).ok_or(bad)?),
        id::REDIRECTING_NUMBER => Ie::RedirectingNumber(number(b, 2).ok_or(bad)?),
        id::RESTART_INDICATOR => match b {
            [c] => Ie::RestartIndicator(match c & 7 {
                0 => RestartClass::Channels,
                6 => RestartClass::Interface,
                7 => RestartClass::AllInterfaces,
                o => RestartClass::Other(o),
            }),
            _ => return Err(bad),
        },
        _ => return Ok(None),
    };
    Ok(Some(ie))
}

fn bearer(b: &[u8]) -> Option<BearerCapability> {
    let (&o3, rest) = b.split_first()?;
    let (&o4, rest) = rest.split_first()?;
    // Octets 4.1 (rate multiplier) are not met on a voice PRI; a group
    // that is not closed is not what this codec reads.
    if o3 & 0x80 == 0 || o4 & 0x80 == 0 {
        return None;
    }
    let (layer1, extra) = match rest.split_first() {
        Some((&o5, extra)) if o5 & 0x60 == 0x20 => (Some(o5 & 0x1F), extra),
        _ => (None, rest),
    };
    Some(BearerCapability {
        coding: (o3 >> 5) & 3,
        capability: o3 & 0x1F,
        mode_rate: o4 & 0x7F,
        layer1,
        extra: extra.to_vec(),
    })
}

fn channel_id(b: &[u8]) -> Option<ChannelId> {
    let (&o3, mut rest) = b.split_first()?;
    // Interface type bit 6 set = primary rate; a BRI channel is not a
    // trunk card's.
    if o3 & 0x20 == 0 {
        return None;
    }
    if o3 & 0x40 != 0 {
        // Interface identifier octets, up to the one closing the group.
        let end = rest.iter().position(|o| o & 0x80 != 0)?;
        rest = &rest[end + 1..];
    }
    let exclusive = o3 & 0x08 != 0;
    let channel = match o3 & 3 {
        0 => ChannelSel::NoChannel,
        3 => ChannelSel::Any,
        1 => match rest {
            // Coding standard ITU-T, channel by number, B-channel units.
            [o32, o33, ..] if o32 & 0x1F == 0x03 && o32 & 0x60 == 0 => {
                ChannelSel::BChannel(o33 & 0x7F)
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(ChannelId { exclusive, channel })
}

/// `octets3a`: 0 for a called number, 1 for a calling number, 2 for a
/// redirecting number (3a and 3b).
fn number(b: &[u8], octets3a: u8) -> Option<PartyNumber> {
    let (&o3, mut rest) = b.split_first()?;
    let mut screening = None;
    let mut reason = None;
    if o3 & 0x80 == 0 {
        if octets3a == 0 {
            return None;
        }
        let (&o3a, r) = rest.split_first()?;
        rest = r;
        screening = Some(Screening {
            presentation: match (o3a >> 5) & 3 {
                0 => Presentation::Allowed,
                1 => Presentation::Restricted,
                2 => Presentation::NotAvailable,
                _ => Presentation::Reserved,
            },
            screening: o3a & 3,
        });
        if o3a & 0x80 == 0 {
            if octets3a < 2 {
                return None;
            }
            let (&o3b, r) = rest.split_first()?;
            rest = r;
            reason = Some(o3b & 0x0F);
        }
    }
    if !rest.iter().all(|c| (0x20..0x7F).contains(c)) {
        return None;
    }
    Some(PartyNumber {
        ton: TypeOfNumber::from_bits(o3 >> 4),
        plan: o3 & 0x0F,
        screening,
        reason,
        digits: rest.iter().map(|&c| char::from(c)).collect(),
    })
}

impl Ie {
    /// The IE's identifier.
    pub fn id(&self) -> u8 {
        match self {
            Ie::SendingComplete => id::SENDING_COMPLETE,
            Ie::BearerCapability(_) => id::BEARER_CAPABILITY,
            Ie::Cause(_) => id::CAUSE,
            Ie::CallState(_) => id::CALL_STATE,
            Ie::ChannelId(_) => id::CHANNEL_ID,
            Ie::Progress(_) => id::PROGRESS,
            Ie::Display(_) => id::DISPLAY,
            Ie::CallingNumber(_) => id::CALLING_NUMBER,
            Ie::CalledNumber(_) => id::CALLED_NUMBER,
            Ie::RedirectingNumber(_) => id::REDIRECTING_NUMBER,
            Ie::RestartIndicator(_) => id::RESTART_INDICATOR,
            Ie::Raw { id, .. } => *id,
        }
    }

    /// Appends the IE (identifier, length, contents) to `out`. Contents
    /// longer than 255 bytes are cut, as the length octet cannot say more.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let id = self.id();
        out.push(id);
        if id & 0x80 != 0 {
            return;
        }
        let mut b = Vec::new();
        match self {
            Ie::SendingComplete => {}
            Ie::BearerCapability(bc) => {
                b.push(0x80 | (bc.coding & 3) << 5 | (bc.capability & 0x1F));
                b.push(0x80 | (bc.mode_rate & 0x7F));
                if let Some(l1) = bc.layer1 {
                    b.push(0xA0 | (l1 & 0x1F));
                }
                b.extend_from_slice(&bc.extra);
            }
            Ie::Cause(c) => {
                b.push(0x80 | (c.location & 0x0F));
                b.push(0x80 | c.cause.value());
                b.extend_from_slice(&c.diagnostics);
            }
            Ie::CallState(s) => b.push(s & 0x3F),
            Ie::ChannelId(c) => {
                let sel = match c.channel {
                    ChannelSel::NoChannel => 0,
                    ChannelSel::BChannel(_) => 1,
                    ChannelSel::Any => 3,
                };
                b.push(0xA0 | u8::from(c.exclusive) << 3 | sel);
                if let ChannelSel::BChannel(n) = c.channel {
                    b.push(0x83);
                    b.push(0x80 | (n & 0x7F));
                }
            }
            Ie::Progress(p) => {
                b.push(0x80 | (p.location & 0x0F));
                b.push(0x80 | (p.description & 0x7F));
            }
            Ie::Display(d) => b.extend_from_slice(d),
            Ie::CallingNumber(n) | Ie::CalledNumber(n) | Ie::RedirectingNumber(n) => {
                let o3 = n.ton.bits() << 4 | (n.plan & 0x0F);
                match (n.screening, n.reason) {
                    (None, _) => b.push(0x80 | o3),
                    (Some(s), reason) => {
                        b.push(o3);
                        let p = match s.presentation {
                            Presentation::Allowed => 0,
                            Presentation::Restricted => 1,
                            Presentation::NotAvailable => 2,
                            Presentation::Reserved => 3,
                        };
                        let o3a = p << 5 | (s.screening & 3);
                        match reason {
                            None => b.push(0x80 | o3a),
                            Some(r) => {
                                b.push(o3a);
                                b.push(0x80 | (r & 0x0F));
                            }
                        }
                    }
                }
                b.extend(n.digits.bytes());
            }
            Ie::RestartIndicator(c) => b.push(
                0x80 | match c {
                    RestartClass::Channels => 0,
                    RestartClass::Interface => 6,
                    RestartClass::AllInterfaces => 7,
                    RestartClass::Other(o) => o & 7,
                },
            ),
            Ie::Raw { body, .. } => b.extend_from_slice(body),
        }
        b.truncate(255);
        out.push(b.len() as u8);
        out.extend_from_slice(&b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Ie {
        let len = usize::from(bytes[1]);
        decode_body(bytes[0], &bytes[2..2 + len]).unwrap().unwrap()
    }

    fn encoded(ie: &Ie) -> Vec<u8> {
        let mut out = Vec::new();
        ie.encode(&mut out);
        out
    }

    /// The example bytes in trunks.md decode to what they are said to
    /// mean and encode back to the same bytes.
    #[test]
    fn trunks_md_examples_decode_and_encode_back() {
        let bc = [0x04, 0x03, 0x80, 0x90, 0xA3];
        assert_eq!(
            decode(&bc),
            Ie::BearerCapability(BearerCapability::speech_alaw())
        );
        assert_eq!(encoded(&decode(&bc)), bc);

        let cause = [0x08, 0x02, 0x81, 0x90];
        assert_eq!(
            decode(&cause),
            Ie::Cause(CauseIe::new(Cause::NormalClearing))
        );
        assert_eq!(encoded(&decode(&cause)), cause);

        let chan = [0x18, 0x03, 0xA9, 0x83, 0x81];
        assert_eq!(
            decode(&chan),
            Ie::ChannelId(ChannelId {
                exclusive: true,
                channel: ChannelSel::BChannel(1)
            })
        );
        assert_eq!(encoded(&decode(&chan)), chan);
        let preferred = [0x18, 0x03, 0xA1, 0x83, 0x90];
        assert_eq!(
            decode(&preferred),
            Ie::ChannelId(ChannelId {
                exclusive: false,
                channel: ChannelSel::BChannel(16)
            })
        );
    }

    #[test]
    fn numbers_carry_type_plan_and_presentation() {
        // Calling, national E.164, presentation restricted, network
        // provided.
        let calling = [0x6C, 0x06, 0x21, 0xA3, b'2', b'1', b'5', b'0'];
        let Ie::CallingNumber(n) = decode(&calling) else {
            panic!("not a calling number");
        };
        assert_eq!(n.ton, TypeOfNumber::National);
        assert_eq!(n.plan, 1);
        assert_eq!(
            n.screening,
            Some(Screening {
                presentation: Presentation::Restricted,
                screening: 3
            })
        );
        assert_eq!(n.digits, "2150");
        assert_eq!(encoded(&Ie::CallingNumber(n)), calling);

        let called = [0x70, 0x04, 0xC1, b'1', b'3', b'7'];
        let ie = decode(&called);
        assert_eq!(
            ie,
            Ie::CalledNumber(PartyNumber::e164(TypeOfNumber::Subscriber, "137"))
        );
        assert_eq!(encoded(&ie), called);

        let redirecting = [0x74, 0x05, 0x11, 0x00, 0x82, b'9', b'9'];
        let ie = decode(&redirecting);
        let Ie::RedirectingNumber(n) = &ie else {
            panic!("not a redirecting number");
        };
        assert_eq!(n.ton, TypeOfNumber::International);
        assert_eq!(n.reason, Some(2));
        assert_eq!(encoded(&ie), redirecting);
    }

    #[test]
    fn broken_contents_are_invalid_not_a_panic() {
        for bytes in [
            &[0x04][..],
            &[0x80],
            &[0x81],
            &[0x14, 0x14],
            &[0x89, 0x83],
            &[0x29, 0x83, 0x81],
            &[0xA9, 0x83],
            &[0x21],
            &[0x01, 0x80],
            &[0x81, 0xFF],
        ] {
            for id in [0x04, 0x08, 0x14, 0x18, 0x1E, 0x6C, 0x70, 0x74, 0x79] {
                // Either parses or is invalid; never panics.
                let _ = decode_body(id, bytes);
            }
        }
        assert_eq!(decode_body(0x08, &[0x81]), Err(InvalidIe { id: 0x08 }));
        assert_eq!(
            decode_body(0x70, &[0x01, b'1']),
            Err(InvalidIe { id: 0x70 })
        );
        assert_eq!(
            decode_body(0x70, &[0x81, 0xFF]),
            Err(InvalidIe { id: 0x70 })
        );
        assert_eq!(decode_body(0x42, &[1, 2]), Ok(None));
    }
}
