//! A span's alarms and counters: `DAHDI_SPANSTAT` on `/dev/dahdi/ctl`,
//! the slips from `/proc/dahdi/N` (DAHDI counts them per span but keeps
//! them out of `dahdi_spaninfo`), bad FCS counted from the D-channel's
//! events.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nix::libc::c_int;

use super::channel::DahdiDChannel;
use super::sys;
use crate::{Alarms, BoardError, Result, Span, SpanStatus};

const CTL_NODE: &str = "/dev/dahdi/ctl";

/// One span of a card.
#[derive(Debug)]
pub struct DahdiSpan {
    ctl: File,
    spanno: u32,
    bad_fcs: Arc<AtomicU64>,
}

impl DahdiSpan {
    /// Opens span `spanno` (as numbered in `/proc/dahdi`).
    pub fn open(spanno: u32) -> Result<Self> {
        let ctl =
            File::open(CTL_NODE).map_err(|e| BoardError::io(format!("open {CTL_NODE}"), e))?;
        Ok(DahdiSpan {
            ctl,
            spanno,
            bad_fcs: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Opens the span's D-channel, channel `channo`; its bad frames count
    /// in this span's status.
    pub fn open_dchannel(&self, channo: u32) -> Result<DahdiDChannel> {
        DahdiDChannel::open(channo, Arc::clone(&self.bad_fcs))
    }

    /// The span's name and description, as the driver gives them.
    pub fn describe(&self) -> Result<(String, String)> {
        let info = self.spanstat()?;
        Ok((sys::c_text(&{ info.name }), sys::c_text(&{ info.desc })))
    }

    fn spanstat(&self) -> Result<sys::DahdiSpaninfo> {
        let n = c_int::try_from(self.spanno).unwrap_or(c_int::MAX);
        sys::spanstat(self.ctl.as_fd(), n)
            .map_err(|e| BoardError::errno(format!("DAHDI_SPANSTAT({})", self.spanno), e))
    }
}

impl Span for DahdiSpan {
    fn number(&self) -> u32 {
        self.spanno
    }

    fn status(&mut self) -> Result<SpanStatus> {
        let info = self.spanstat()?;
        let path = format!("/proc/dahdi/{}", self.spanno);
        let slips = std::fs::read_to_string(&path)
            .map(|text| parse_proc_slips(&text))
            .map_err(|e| BoardError::io(format!("read {path}"), e))?;
        Ok(SpanStatus {
            // Copied out of the packed struct by value.
            alarms: Alarms({ info.alarms } as u32),
            bad_fcs: self.bad_fcs.load(Ordering::Relaxed),
            slips,
        })
    }
}

/// The "Timing slips" count in a `/proc/dahdi/N` listing; DAHDI leaves the
/// line out while it is zero.
pub fn parse_proc_slips(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Timing slips:"))
        .filter_map(|v| v.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape `dahdi-base.c`'s proc handler prints.
    #[test]
    fn slips_come_from_the_proc_listing() {
        let text = "Span 1: TE4/0/1 \"T4XXP (PCI) Card 0 Span 1\" (MASTER) HDB3/CCS/CRC4 RED \n\
                    \tCRC4 error count: 3\n\
                    \tTiming slips: 17\n\
                    \n\
                    \t   1 TE4/0/1/1 Clear (In use) RED \n";
        assert_eq!(parse_proc_slips(text), 17);
        assert_eq!(parse_proc_slips("Span 1: TE4/0/1 \"x\" OK\n\n"), 0);
    }
}
