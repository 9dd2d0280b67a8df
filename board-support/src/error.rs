//! The one error type of the crate.

use thiserror::Error;

/// What can go wrong with a card or the simulated board.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BoardError {
    /// A system call on a device node or socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. "DAHDI_SPECIFY(16)".
        what: String,
        /// The error the kernel gave.
        #[source]
        source: std::io::Error,
    },
    /// The channel is configured for another kind of signalling than the
    /// object opened on it needs (a D-channel that is not HDLC, an FXO
    /// port that is not FXS-signalled); `dahdi_cfg`'s `system.conf` is
    /// wrong for this configuration.
    #[error("channel {channo}: signalling 0x{sigtype:x}, expected {expected}")]
    WrongSignalling {
        /// The DAHDI channel number.
        channo: u32,
        /// The signalling type the driver reports.
        sigtype: u32,
        /// What this object needs, in `system.conf`'s words.
        expected: &'static str,
    },
    /// A frame longer than the channel takes.
    #[error("frame of {len} bytes exceeds {max}")]
    FrameTooLong {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A read came back shorter than a whole frame or block.
    #[error("short read of {len} bytes on channel {channo}")]
    ShortRead {
        /// The DAHDI channel number.
        channo: u32,
        /// What was read.
        len: usize,
    },
    /// The far end of a simulated line went away (its socket closed).
    #[error("the far end of channel {channo} closed")]
    FarEndClosed {
        /// The channel number.
        channo: u32,
    },
}

impl BoardError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        BoardError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn errno(what: impl Into<String>, e: nix::errno::Errno) -> Self {
        BoardError::io(what, std::io::Error::from(e))
    }
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, BoardError>;
