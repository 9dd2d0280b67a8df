//! The binding to DAHDI, the Linux drivers of E1/T1 and analog cards
//! (Digium/Sangoma, OpenVox, and the clones most appliances carry).
//!
//! Each channel is a descriptor on `/dev/dahdi/channel` bound with
//! `DAHDI_SPECIFY`, opened non-blocking: a `read` that would block is
//! "nothing now", one that fails with `ELAST` means an event is pending
//! and `DAHDI_GETEVENT` takes it. The descriptors are exposed ([`AsFd`])
//! so trunkd can wait on them (`POLLIN` for data, `POLLPRI` for events).
//!
//! Not run on these machines: they have no cards and no DAHDI modules for
//! their kernel. What is tested here is what can be without a card: the
//! request numbers, the layouts, the event codes and the parsing of
//! `/proc/dahdi`.

mod channel;
mod span;
pub mod sys;

pub use channel::{DahdiAnalogPort, DahdiBChannel, DahdiDChannel, EchoCanceller};
pub use span::{parse_proc_slips, DahdiSpan};
