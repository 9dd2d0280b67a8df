//! Telephony cards for trunkd (TRK-1, TRK-2, issue 14): what an E1 span
//! and an analog CO line look like to the rest of the box, whether a real
//! DAHDI card is behind them or the simulated board (decision 0019).
//!
//! - [`Span`], [`DChannel`], [`BChannel`], [`AnalogPort`]: the traits
//!   trunkd is written against. Every call is non-blocking: "nothing yet"
//!   is `Ok(None)`, and a channel's events come out of the same `recv` as
//!   its data, before it, as DAHDI hands them out.
//! - [`dahdi`]: the binding to DAHDI's `/dev/dahdi/channel` (Linux only;
//!   it compiles and its numbers and layouts are tested here, but it has
//!   never run: these machines have no cards and no DAHDI modules).
//! - [`sim`]: a board in memory with a socket for each D-channel, on which
//!   a test drives the far end (a carrier's alarms, line cuts, bad frames,
//!   slips, a CO's ringing and polarity) and sees it through the traits.
//! - [`fcs`]: the HDLC frame check sequence the simulated line computes.

pub mod dahdi;
mod error;
pub mod fcs;
pub mod sim;
mod types;

pub use error::{BoardError, Result};
pub use types::{
    Alarms, AnalogPort, BChannel, Block, ChannelEvent, DChannel, Hook, Incoming, Span, SpanStatus,
    BLOCK_LEN,
};
