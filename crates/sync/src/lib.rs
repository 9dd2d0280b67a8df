//! syncd's connector to SIMPEL without I/O (SYNC-1..4, decision 0027).
//!
//! The daemon (`daemons/syncd`) reads the outbox, asks [`Delivery`] which
//! rows to send now, renders each with [`Mapping`], sends it, and hands
//! the answer back to [`Delivery::finish`], which decides: delivered, try
//! again at a time, or dead letter. Time and randomness come in as
//! arguments, so every rule here is tested on virtual time.

pub mod answer;
pub mod auth;
pub mod delivery;
pub mod feed;
pub mod mapping;

pub use answer::{Attempt, Verdict};
pub use auth::TokenCache;
pub use delivery::{Breaker, Decision, Delivery, Policy};
pub use feed::Feed;
pub use mapping::{Mapping, MappingError, Request};
