//! Q.931 EuroISDN (DSS1, ETSI EN 300 403) basic call control on a PRI,
//! without I/O (TRK-1, issue 14).
//!
//! - [`message`]: the header and the message codec.
//! - [`ie`]: the information elements of codeset 0.
//! - [`cause`]: Q.850 causes and their RFC 3398 mapping to SIP.
//! - [`call`]: the call state machine for the user and the network side.
//!
//! Timers: T301, T302, T303, T304, T305, T308, T309, T310, T313, T316
//! and T322, with libpri's defaults where libpri runs them and ETSI EN 300
//! 403's otherwise ([`Timers`]). T302's expiry hands the number collected
//! so far to the owner, which decides en bloc or cause 28 (only the
//! owner knows the numbering plan).
//!
//! Not here yet: the state compatibility check of a received STATUS (only
//! "peer in Null" is acted on), waiting for in-band tones after a
//! DISCONNECT (RELEASE follows at once), IEs of codesets other than 0
//! (skipped), and supplementary services (FACILITY is ignored).

pub mod call;
pub mod cause;
pub mod ie;
pub mod message;

#[cfg(test)]
mod tests;

pub use call::{CallControl, CallError, CallId, Event, SetupRequest, Side, Timers};
pub use cause::{q850_to_sip, sip_to_q850, Cause};
pub use ie::{
    BearerCapability, CauseIe, ChannelId, ChannelSel, Ie, PartyNumber, Presentation, Progress,
    RestartClass, Screening, TypeOfNumber,
};
pub use message::{CallRef, DecodeError, Header, Message, MessageType};
