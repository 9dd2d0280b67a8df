//! The simulated board: E1 spans and FXO ports that behave like DAHDI's,
//! faults included, with a handle for the far end on which a test plays
//! the carrier or the CO (decision 0019).
//!
//! - [`SimE1`]: a span, its D-channel and 30 B-channels, and the
//!   [`E1Line`] that raises and clears red, yellow and blue alarms, cuts
//!   and restores the line, damages D-channel frames (dropped for their
//!   FCS and counted, as a card does) and slips frames. The D-channel's
//!   far end is a `SOCK_SEQPACKET` socket carrying DAHDI's framing (one
//!   message is one frame and two FCS bytes), so libpri, or any other
//!   stack written for DAHDI, can sit on it.
//! - [`SimFxo`]: an FXO port and the [`CoLine`] that rings it with a
//!   cadence, reverses polarity, drops loop current, and hears the port's
//!   hook and audio. Time is a [`SimClock`] the test advances, so ring
//!   cadences are exact and no test waits.
//!
//! Alarms follow DAHDI's rule (`dahdi_alarm_notify`): every channel of a
//! span gets ALARM when the span goes from no alarm to some alarm and
//! NOALARM when the last one clears, nothing on changes in between.

mod e1;
mod fxo;

pub use e1::{E1Line, SimBChannel, SimDChannel, SimE1, SimSpan, Slip};
pub use fxo::{Cadence, CoLine, FxoSignalling, SimAnalogPort, SimFxo};

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};

use crate::{BoardError, Result};

/// Virtual time for the simulated board: starts at zero and moves only
/// when the test advances it.
#[derive(Debug, Clone, Default)]
pub struct SimClock(Arc<Mutex<Duration>>);

impl SimClock {
    /// A clock at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The time since the clock started.
    pub fn now(&self) -> Duration {
        *lock(&self.0)
    }

    /// Moves the clock on by `d`.
    pub fn advance(&self, d: Duration) {
        *lock(&self.0) += d;
    }
}

/// Connects a `SOCK_SEQPACKET` socket to a listening far end (a libpri
/// test peer), to hand to [`SimE1::new`].
pub fn connect_seqpacket(path: &Path) -> Result<OwnedFd> {
    let what = || format!("connect {}", path.display());
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| BoardError::errno(what(), e))?;
    let addr = UnixAddr::new(path).map_err(|e| BoardError::errno(what(), e))?;
    connect(fd.as_raw_fd(), &addr).map_err(|e| BoardError::errno(what(), e))?;
    Ok(fd)
}

/// The simulator's state is plain data that a panicking holder cannot
/// leave half-changed in a way that matters to a test: take it anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
