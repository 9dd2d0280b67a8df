//! Q.850 cause values and their mapping to and from SIP responses
//! (RFC 3398), so trunkd can turn a DISCONNECT into the right SIP status
//! and a SIP failure into the right DISCONNECT (TRK-1).

/// A Q.850 cause value (7 bits). The causes met in daily use are named;
/// any other value is kept as [`Cause::Other`] so nothing is lost on the
/// way through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// 1
    UnallocatedNumber,
    /// 3
    NoRouteToDestination,
    /// 16
    NormalClearing,
    /// 17
    UserBusy,
    /// 18
    NoUserResponding,
    /// 19
    NoAnswer,
    /// 21
    CallRejected,
    /// 27
    DestinationOutOfOrder,
    /// 28
    InvalidNumberFormat,
    /// 30: the cause a STATUS carries when it answers a STATUS ENQUIRY.
    ResponseToStatusEnquiry,
    /// 31
    NormalUnspecified,
    /// 34
    NoCircuitAvailable,
    /// 38
    NetworkOutOfOrder,
    /// 41
    TemporaryFailure,
    /// 42
    SwitchingEquipmentCongestion,
    /// 44
    RequestedChannelNotAvailable,
    /// 58
    BearerCapabilityNotAvailable,
    /// 81
    InvalidCallReference,
    /// 96
    MandatoryIeMissing,
    /// 97
    MessageTypeNonExistent,
    /// 100
    InvalidIeContents,
    /// 101
    MessageNotCompatibleWithState,
    /// 102
    RecoveryOnTimerExpiry,
    /// 111
    ProtocolError,
    /// 127
    Interworking,
    /// Any other value (only the low 7 bits are kept).
    Other(u8),
}

/// The named causes with their values; one table serves both directions.
const NAMED: [(Cause, u8); 25] = [
    (Cause::UnallocatedNumber, 1),
    (Cause::NoRouteToDestination, 3),
    (Cause::NormalClearing, 16),
    (Cause::UserBusy, 17),
    (Cause::NoUserResponding, 18),
    (Cause::NoAnswer, 19),
    (Cause::CallRejected, 21),
    (Cause::DestinationOutOfOrder, 27),
    (Cause::InvalidNumberFormat, 28),
    (Cause::ResponseToStatusEnquiry, 30),
    (Cause::NormalUnspecified, 31),
    (Cause::NoCircuitAvailable, 34),
    (Cause::NetworkOutOfOrder, 38),
    (Cause::TemporaryFailure, 41),
    (Cause::SwitchingEquipmentCongestion, 42),
    (Cause::RequestedChannelNotAvailable, 44),
    (Cause::BearerCapabilityNotAvailable, 58),
    (Cause::InvalidCallReference, 81),
    (Cause::MandatoryIeMissing, 96),
    (Cause::MessageTypeNonExistent, 97),
    (Cause::InvalidIeContents, 100),
    (Cause::MessageNotCompatibleWithState, 101),
    (Cause::RecoveryOnTimerExpiry, 102),
    (Cause::ProtocolError, 111),
    (Cause::Interworking, 127),
];

impl Cause {
    /// The cause for a value; a named value always comes back named, so
    /// two equal values compare equal.
    pub fn from_value(value: u8) -> Cause {
        let value = value & 0x7F;
        NAMED
            .iter()
            .find(|(_, v)| *v == value)
            .map_or(Cause::Other(value), |(c, _)| *c)
    }

    /// The 7-bit value on the wire.
    pub fn value(self) -> u8 {
        match self {
            Cause::Other(v) => v & 0x7F,
            named => NAMED
                .iter()
                .find(|(c, _)| *c == named)
                .map_or(0, |(_, v)| *v),
        }
    }
}

/// The SIP final response for a call that failed with `cause` before it
/// was answered (RFC 3398 section 8.2.6.1). Normal clearing (16) before
/// answer is treated as no answer (480); unlisted causes give 500.
pub fn q850_to_sip(cause: Cause) -> u16 {
    match cause.value() {
        1..=3 | 26 => 404,
        17 => 486,
        18 => 408,
        16 | 19 | 20 | 31 => 480,
        21 | 55 | 57 | 87 => 403,
        22 | 23 => 410,
        27 => 502,
        28 => 484,
        29 | 69 | 79 => 501,
        34 | 38 | 41 | 42 | 47 | 58 | 88 => 503,
        65 | 70 => 488,
        102 => 504,
        _ => 500,
    }
}

/// The cause to clear a call with when the SIP side answered `status`
/// (RFC 3398 section 7.2.4.1). A status the RFC does not list is treated
/// as the x00 of its class, as the RFC says; a non-failure gives 31.
pub fn sip_to_q850(status: u16) -> Cause {
    let value = match status {
        400 | 481 | 500 | 503 => 41,
        401 | 402 | 403 | 407 | 603 => 21,
        404 | 485 | 604 => 1,
        405 => 63,
        406 | 415 | 501 => 79,
        408 | 504 => 102,
        410 => 22,
        413 | 414 | 416 | 420 | 421 | 488 | 505 | 513 => 127,
        480 => 18,
        482 | 483 => 25,
        484 => 28,
        486 | 600 => 17,
        502 => 38,
        606 => 58,
        401..=499 => 41,
        501..=599 => 41,
        601..=699 => 17,
        _ => 31,
    };
    Cause::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_cause_round_trips_through_its_value() {
        for v in 0..=127u8 {
            assert_eq!(Cause::from_value(v).value(), v);
        }
        assert_eq!(Cause::from_value(17), Cause::UserBusy);
        assert_eq!(Cause::from_value(0x80 | 16), Cause::NormalClearing);
        assert_eq!(Cause::from_value(50), Cause::Other(50));
    }

    /// The pairs trunks.md lists, Q.850 to SIP.
    #[test]
    fn q850_to_sip_follows_rfc_3398() {
        for (cause, status) in [
            (1, 404),
            (3, 404),
            (17, 486),
            (18, 408),
            (19, 480),
            (31, 480),
            (21, 403),
            (27, 502),
            (28, 484),
            (34, 503),
            (38, 503),
            (41, 503),
            (42, 503),
            (102, 504),
            (111, 500),
        ] {
            assert_eq!(q850_to_sip(Cause::from_value(cause)), status, "{cause}");
        }
    }

    /// The pairs trunks.md lists, SIP to Q.850, and the class defaults.
    #[test]
    fn sip_to_q850_follows_rfc_3398() {
        for (status, cause) in [
            (404, 1),
            (486, 17),
            (408, 102),
            (480, 18),
            (484, 28),
            (503, 41),
            (603, 21),
            (500, 41),
            (499, 41),
            (599, 41),
            (699, 17),
        ] {
            assert_eq!(sip_to_q850(status).value(), cause, "{status}");
        }
    }
}
