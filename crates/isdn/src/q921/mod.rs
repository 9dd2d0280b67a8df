//! Q.921 LAPD (ITU-T Q.921, ETSI EN 300 125) for a PRI D-channel: point to
//! point, TEI 0, SAPI 0, multiple-frame operation with modulo-128 sequence
//! numbers, no TEI management.
//!
//! - [`frame`]: the frame codec (address, control, information).
//! - [`link`]: the data link entity, sans-IO: `handle_frame`,
//!   `handle_timeout`, `send`, `establish` and `release` in; frames,
//!   events and the next deadline polled out.

pub mod frame;
pub mod link;

pub use frame::{DecodeError, Frame, Kind};
pub use link::{Config, Event, Link, LinkError, Role, SendError, State};

#[cfg(test)]
mod tests;
