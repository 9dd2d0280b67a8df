//! Analog FXO line signalling for trunkd, without I/O (issue 14, TRK-2).
//!
//! - [`fsk`]: 1200 baud FSK reception (V.23 and Bell 202) with its
//!   start/stop framing.
//! - [`message`]: caller-ID messages, FSK (MDMF, SDMF, checksum) and
//!   DTMF CLIP.
//! - [`callerid`]: listens for a spill in one signalling or all.
//! - [`progress`]: dial, busy and congestion tone by cadence.
//! - [`port`]: the port's state machine, from ring or seizure to the far
//!   end's disconnect, with explicit timers.
//! - [`driver`]: pumps a board's [`dering_board::AnalogPort`] through it.
//!
//! Audio comes in as the board gives it (20 ms blocks of A-law); DTMF
//! detection is the media library's.

pub mod callerid;
pub mod driver;
pub mod fsk;
pub mod message;
pub mod port;
pub mod progress;

pub use callerid::{CallerIdReceiver, CidSignalling};
pub use message::{Absence, CallerId, DateTime, Outcome, Signal, Unavailable};
pub use port::{Action, Event, FxoPort, GoneReason, PortConfig, PortError, StartSignalling};
pub use progress::{Progress, ToneDetector};
