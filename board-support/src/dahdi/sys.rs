//! DAHDI's userspace ABI (`include/dahdi/user.h`, read from dahdi-linux):
//! the ioctl request numbers, made by nix's macros from the header's
//! `_IOW`/`_IOR`/`_IOWR` arguments and checked at compile time against the
//! numbers gcc computed from the header on x86_64 (`../shared/docs/
//! trunks.md`), and the structures they pass, with their sizes checked
//! too: the size is part of the request number, so a layout that drifts
//! would be refused by the kernel (ENOTTY) or, worse, read short.
//!
//! This is the only module with `unsafe`: each ioctl wrapper nix
//! generates is an `unsafe fn`, called here behind a safe function that
//! owns the argument.
#![allow(unsafe_code)] // the ioctl calls; each carries a SAFETY comment

use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc::{c_char, c_int};
use nix::sys::ioctl::ioctl_num_type;
use nix::{ioctl_read_bad, ioctl_readwrite_bad, ioctl_write_ptr_bad};
use nix::{request_code_read, request_code_readwrite, request_code_write};

/// The ioctl type byte of every DAHDI request.
pub const DAHDI_CODE: u8 = 0xDA;

/// `DAHDI_SET_BLOCKSIZE`: `_IOW(DAHDI_CODE, 1, int)`.
pub const SET_BLOCKSIZE: ioctl_num_type = request_code_write!(DAHDI_CODE, 1, size_of::<c_int>());
/// `DAHDI_GET_PARAMS`: `_IOWR(DAHDI_CODE, 5, struct dahdi_params)`.
pub const GET_PARAMS: ioctl_num_type =
    request_code_readwrite!(DAHDI_CODE, 5, size_of::<DahdiParams>());
/// `DAHDI_HOOK`: `_IOW(DAHDI_CODE, 7, int)`.
pub const HOOK: ioctl_num_type = request_code_write!(DAHDI_CODE, 7, size_of::<c_int>());
/// `DAHDI_GETEVENT`: `_IOR(DAHDI_CODE, 8, int)`.
pub const GETEVENT: ioctl_num_type = request_code_read!(DAHDI_CODE, 8, size_of::<c_int>());
/// `DAHDI_SPANSTAT`: `_IOWR(DAHDI_CODE, 10, struct dahdi_spaninfo)`.
pub const SPANSTAT: ioctl_num_type =
    request_code_readwrite!(DAHDI_CODE, 10, size_of::<DahdiSpaninfo>());
/// `DAHDI_SET_BUFINFO`: `_IOW(DAHDI_CODE, 27, struct dahdi_bufferinfo)`.
pub const SET_BUFINFO: ioctl_num_type =
    request_code_write!(DAHDI_CODE, 27, size_of::<DahdiBufferinfo>());
/// `DAHDI_ECHOCANCEL_PARAMS`: `_IOW(DAHDI_CODE, 33, struct
/// dahdi_echocanparams)`; the size is the header's alone, the parameters
/// follow it in memory.
pub const ECHOCANCEL_PARAMS: ioctl_num_type =
    request_code_write!(DAHDI_CODE, 33, size_of::<DahdiEchocanparams>());
/// `DAHDI_SPECIFY`: `_IOW(DAHDI_CODE, 38, int)`.
pub const SPECIFY: ioctl_num_type = request_code_write!(DAHDI_CODE, 38, size_of::<c_int>());

// The numbers gcc printed for the header on x86_64 (trunks.md's table).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const _: () = {
    assert!(SPECIFY == 0x4004_DA26);
    assert!(SET_BLOCKSIZE == 0x4004_DA01);
    assert!(GET_PARAMS == 0xC088_DA05);
    assert!(SPANSTAT == 0xC13A_DA0A);
    assert!(HOOK == 0x4004_DA07);
    assert!(GETEVENT == 0x8004_DA08);
    assert!(SET_BUFINFO == 0x4018_DA1B);
    assert!(ECHOCANCEL_PARAMS == 0x4008_DA21);
};

/// `errno` DAHDI sets on `read`/`write` while an event is pending
/// (`ELAST`, defined by `user.h` as 500).
pub const ELAST: i32 = 500;

/// `DAHDI_SIG_*`: the signalling a channel is configured for.
pub mod sig {
    /// HDLC with the FCS computed by software (`dchan=`).
    pub const HDLCFCS: u32 = (1 << 9) | (1 << 8) | (1 << 7);
    /// HDLC in the card's controller (`hardhdlc=`).
    pub const HARDHDLC: u32 = (1 << 19) | (1 << 7);
    /// Clear channel (`bchan=`).
    pub const CLEAR: u32 = 1 << 7;
    /// FXS-signalled loop start (`fxsls=`): an FXO port.
    pub const FXSLS: u32 = (1 << 0) | (1 << 13);
    /// FXS-signalled kewlstart (`fxsks=`): an FXO port that reports the
    /// CO's disconnect by loop current loss.
    pub const FXSKS: u32 = (1 << 2) | (1 << 13);
}

/// `DAHDI_LAW_ALAW`.
pub const LAW_ALAW: c_int = 2;
/// `DAHDI_ONHOOK`.
pub const ONHOOK: c_int = 0;
/// `DAHDI_OFFHOOK`.
pub const OFFHOOK: c_int = 1;
/// `DAHDI_POLICY_IMMEDIATE`.
pub const POLICY_IMMEDIATE: c_int = 0;
/// `DAHDI_MAX_ECHOCANPARAMS`.
pub const MAX_ECHOCANPARAMS: usize = 8;

/// `struct dahdi_params`: a channel's configuration and state.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DahdiParams {
    pub channo: c_int,
    pub spanno: c_int,
    pub chanpos: c_int,
    pub sigtype: c_int,
    pub sigcap: c_int,
    pub rxisoffhook: c_int,
    pub rxbits: c_int,
    pub txbits: c_int,
    pub txhooksig: c_int,
    pub rxhooksig: c_int,
    pub curlaw: c_int,
    pub idlebits: c_int,
    pub name: [c_char; 40],
    pub prewinktime: c_int,
    pub preflashtime: c_int,
    pub winktime: c_int,
    pub flashtime: c_int,
    pub starttime: c_int,
    pub rxwinktime: c_int,
    pub rxflashtime: c_int,
    pub debouncetime: c_int,
    pub pulsebreaktime: c_int,
    pub pulsemaketime: c_int,
    pub pulseaftertime: c_int,
    pub chan_alarms: u32,
}

/// `struct dahdi_spaninfo`: a span's alarms and counters. The header
/// declares it packed.
#[repr(C, packed)]
#[derive(Debug, Clone, Copy)]
pub struct DahdiSpaninfo {
    pub spanno: c_int,
    pub name: [c_char; 20],
    pub desc: [c_char; 40],
    pub alarms: c_int,
    pub txlevel: c_int,
    pub rxlevel: c_int,
    pub bpvcount: c_int,
    pub crc4count: c_int,
    pub ebitcount: c_int,
    pub fascount: c_int,
    pub fecount: u32,
    pub cvcount: u32,
    pub becount: u32,
    pub prbs: u32,
    pub errsec: u32,
    pub irqmisses: c_int,
    pub syncsrc: c_int,
    pub numchans: c_int,
    pub totalchans: c_int,
    pub totalspans: c_int,
    pub lbo: c_int,
    pub lineconfig: c_int,
    pub lboname: [c_char; 40],
    pub location: [c_char; 40],
    pub manufacturer: [c_char; 40],
    pub devicetype: [c_char; 40],
    pub irq: c_int,
    pub linecompat: c_int,
    pub spantype: [c_char; 6],
}

/// `struct dahdi_bufferinfo`: a channel's buffering.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct DahdiBufferinfo {
    pub txbufpolicy: c_int,
    pub rxbufpolicy: c_int,
    pub numbufs: c_int,
    pub bufsize: c_int,
    pub readbufs: c_int,
    pub writebufs: c_int,
}

/// `struct dahdi_echocanparams`: the header; `param_count`
/// [`DahdiEchocanparam`]s follow it in memory.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct DahdiEchocanparams {
    /// Eight taps per millisecond of echo tail; 0 disables the canceller.
    pub tap_length: u32,
    pub param_count: u32,
}

/// `struct dahdi_echocanparam`: one named parameter of the canceller.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct DahdiEchocanparam {
    pub name: [c_char; 16],
    pub value: i32,
}

/// The header and room for the most parameters DAHDI takes, laid out as
/// the kernel reads them: the parameters right after the header.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EchocanRequest {
    pub header: DahdiEchocanparams,
    pub params: [DahdiEchocanparam; MAX_ECHOCANPARAMS],
}

const _: () = {
    assert!(size_of::<DahdiParams>() == 136);
    assert!(size_of::<DahdiSpaninfo>() == 314);
    assert!(size_of::<DahdiBufferinfo>() == 24);
    assert!(size_of::<DahdiEchocanparams>() == 8);
    assert!(size_of::<DahdiEchocanparam>() == 20);
    assert!(std::mem::offset_of!(EchocanRequest, params) == size_of::<DahdiEchocanparams>());
};

ioctl_write_ptr_bad!(ioctl_specify, SPECIFY, c_int);
ioctl_write_ptr_bad!(ioctl_set_blocksize, SET_BLOCKSIZE, c_int);
ioctl_readwrite_bad!(ioctl_get_params, GET_PARAMS, DahdiParams);
ioctl_readwrite_bad!(ioctl_spanstat, SPANSTAT, DahdiSpaninfo);
ioctl_write_ptr_bad!(ioctl_hook, HOOK, c_int);
ioctl_read_bad!(ioctl_getevent, GETEVENT, c_int);
ioctl_write_ptr_bad!(ioctl_set_bufinfo, SET_BUFINFO, DahdiBufferinfo);
ioctl_write_ptr_bad!(
    ioctl_echocancel_params,
    ECHOCANCEL_PARAMS,
    DahdiEchocanparams
);

/// `DAHDI_SPECIFY`: binds a `/dev/dahdi/channel` descriptor to `channo`.
pub fn specify(fd: BorrowedFd<'_>, channo: c_int) -> nix::Result<()> {
    // SAFETY: the pointer is to a live c_int the kernel only reads
    // (get_user) during the call; `fd` is open for the whole call.
    unsafe { ioctl_specify(fd.as_raw_fd(), &channo) }.map(drop)
}

/// `DAHDI_SET_BLOCKSIZE`: bytes per read and write on an audio channel.
pub fn set_blocksize(fd: BorrowedFd<'_>, size: c_int) -> nix::Result<()> {
    // SAFETY: as in `specify`: a live c_int, only read.
    unsafe { ioctl_set_blocksize(fd.as_raw_fd(), &size) }.map(drop)
}

/// `DAHDI_GET_PARAMS` for the channel the descriptor is bound to.
pub fn get_params(fd: BorrowedFd<'_>) -> nix::Result<DahdiParams> {
    // SAFETY: DahdiParams is plain old data (integers and byte arrays),
    // so all zeroes is a valid value.
    let mut p: DahdiParams = unsafe { std::mem::zeroed() };
    // The kernel answers for the descriptor's own channel (bound by
    // DAHDI_SPECIFY) whatever channo says.
    p.channo = 0;
    // SAFETY: `p` is a live, exclusively borrowed DahdiParams whose size is
    // the one in the request number (asserted above); the kernel copies it
    // in and out during the call only.
    unsafe { ioctl_get_params(fd.as_raw_fd(), &mut p) }?;
    Ok(p)
}

/// `DAHDI_SPANSTAT` for span `spanno`.
pub fn spanstat(fd: BorrowedFd<'_>, spanno: c_int) -> nix::Result<DahdiSpaninfo> {
    // SAFETY: DahdiSpaninfo is plain old data; all zeroes is valid.
    let mut s: DahdiSpaninfo = unsafe { std::mem::zeroed() };
    s.spanno = spanno;
    // SAFETY: `s` is live and exclusively borrowed, of the size in the
    // request number (asserted above); the kernel copies it in and out
    // during the call only. The kernel does not need it aligned.
    unsafe { ioctl_spanstat(fd.as_raw_fd(), &mut s) }?;
    Ok(s)
}

/// `DAHDI_HOOK`: ONHOOK, OFFHOOK (or FLASH) on a signalling channel.
pub fn hook(fd: BorrowedFd<'_>, state: c_int) -> nix::Result<()> {
    // SAFETY: as in `specify`: a live c_int, only read.
    unsafe { ioctl_hook(fd.as_raw_fd(), &state) }.map(drop)
}

/// `DAHDI_GETEVENT`: takes the pending event (0 when none).
pub fn getevent(fd: BorrowedFd<'_>) -> nix::Result<c_int> {
    let mut e: c_int = 0;
    // SAFETY: a live, exclusively borrowed c_int the kernel writes
    // (put_user) during the call only.
    unsafe { ioctl_getevent(fd.as_raw_fd(), &mut e) }?;
    Ok(e)
}

/// `DAHDI_SET_BUFINFO`.
pub fn set_bufinfo(fd: BorrowedFd<'_>, info: &DahdiBufferinfo) -> nix::Result<()> {
    // SAFETY: a live DahdiBufferinfo of the size in the request number,
    // only read by the kernel during the call.
    unsafe { ioctl_set_bufinfo(fd.as_raw_fd(), info) }.map(drop)
}

/// `DAHDI_ECHOCANCEL_PARAMS`: the header and `header.param_count`
/// parameters (at most [`MAX_ECHOCANPARAMS`]; the caller keeps it so).
pub fn echocancel_params(fd: BorrowedFd<'_>, req: &EchocanRequest) -> nix::Result<()> {
    debug_assert!(req.header.param_count as usize <= MAX_ECHOCANPARAMS);
    // SAFETY: the kernel copies the header (the size in the request
    // number) and then `param_count` parameters from right after it;
    // EchocanRequest is repr(C) with the parameters at that offset
    // (asserted above), room for MAX_ECHOCANPARAMS of them, and is live
    // for the call.
    unsafe { ioctl_echocancel_params(fd.as_raw_fd(), &req.header) }.map(drop)
}

/// A C string field as text (up to its NUL).
pub fn c_text(field: &[c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers again at run time, so a failure names the ioctl (the
    /// compile-time check only says that one differs), and on every
    /// architecture the direction, type, number and size fields.
    #[test]
    fn request_numbers_decode_to_the_headers_arguments() {
        let fields =
            |r: ioctl_num_type| ((r >> 30) & 3, (r >> 8) & 0xFF, r & 0xFF, (r >> 16) & 0x3FFF);
        // (request, direction 1 write 2 read 3 both, number, size)
        let table = [
            ("SPECIFY", SPECIFY, 1, 38, 4),
            ("SET_BLOCKSIZE", SET_BLOCKSIZE, 1, 1, 4),
            ("GET_PARAMS", GET_PARAMS, 3, 5, 136),
            ("SPANSTAT", SPANSTAT, 3, 10, 314),
            ("HOOK", HOOK, 1, 7, 4),
            ("GETEVENT", GETEVENT, 2, 8, 4),
            ("SET_BUFINFO", SET_BUFINFO, 1, 27, 24),
            ("ECHOCANCEL_PARAMS", ECHOCANCEL_PARAMS, 1, 33, 8),
        ];
        for (name, req, dir, nr, size) in table {
            assert_eq!(fields(req), (dir, 0xDA, nr, size), "{name}");
        }
    }

    #[test]
    fn structure_sizes_match_the_header() {
        assert_eq!(size_of::<DahdiParams>(), 136);
        assert_eq!(size_of::<DahdiSpaninfo>(), 314);
        assert_eq!(size_of::<DahdiBufferinfo>(), 24);
        assert_eq!(size_of::<EchocanRequest>(), 8 + 8 * 20);
    }

    /// Field offsets that a wrong type or a lost `packed` would move.
    #[test]
    fn field_offsets_match_the_header() {
        use std::mem::offset_of;
        assert_eq!(offset_of!(DahdiParams, name), 48);
        assert_eq!(offset_of!(DahdiParams, chan_alarms), 132);
        assert_eq!(offset_of!(DahdiSpaninfo, alarms), 64);
        assert_eq!(offset_of!(DahdiSpaninfo, fecount), 92);
        assert_eq!(offset_of!(DahdiSpaninfo, lboname), 140);
        assert_eq!(offset_of!(DahdiSpaninfo, spantype), 308);
    }

    #[test]
    fn signalling_values_match_the_header() {
        assert_eq!(sig::HDLCFCS, 0x380);
        assert_eq!(sig::HARDHDLC, 0x80080);
        assert_eq!(sig::FXSLS, 0x2001);
        assert_eq!(sig::FXSKS, 0x2004);
    }

    #[test]
    fn c_text_stops_at_nul() {
        let mut f = [0 as c_char; 20];
        for (d, s) in f.iter_mut().zip(b"TE4/0/1") {
            *d = *s as c_char;
        }
        assert_eq!(c_text(&f), "TE4/0/1");
    }
}
