//! SIP for the Dering PBX: parsing and framing of everything that arrives
//! from the network, the outgoing message builder (over rsip), digest auth,
//! the transaction layer as a sans-IO state machine, and above it the
//! dialog and its INVITE session (re-INVITE, glare), sans-IO too.

pub mod auth;
pub mod build;
pub mod dialog;
pub mod error;
pub mod framer;
pub mod method;
pub mod msg;
pub mod nameaddr;
pub mod sdp;
pub mod session;
pub mod transaction;
pub mod uac;
pub mod uas;
pub mod uri;
pub mod via;

pub use error::ParseError;
pub use method::Method;
pub use msg::{Header, Message, StartLine};
