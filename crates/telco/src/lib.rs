//! Telephone numbering for the box (ACD-5, TEL-5, TEL-10): what the ACD's
//! caller priorities, the dial plan, trunks and outbound routing all need
//! to agree on, kept in one crate without I/O.

pub mod called;
pub mod dialled;
pub mod numbers;

pub use called::inbound_e164;
pub use dialled::{
    classify_dialled, classify_dialled_at, for_carrier, CarrierFormat, Dialled, DialledClass,
    Permission,
};
pub use numbers::{classify, normalise, NumberClass};
