//! D-channels, B-channels and FXO ports on `/dev/dahdi/channel`.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nix::libc::{c_char, c_int, O_NONBLOCK};

use super::sys::{self, DahdiBufferinfo, DahdiEchocanparam, EchocanRequest};
use crate::{
    AnalogPort, BChannel, Block, BoardError, ChannelEvent, DChannel, Hook, Incoming, Result,
    BLOCK_LEN,
};

/// The device every channel is opened through.
const CHANNEL_NODE: &str = "/dev/dahdi/channel";

/// Longest D-channel frame read: N201 (260) plus address, control and
/// FCS, with room to spare (DAHDI's default MRU is 2048).
const MAX_FRAME: usize = 1024;

/// One open channel: the descriptor and its number.
#[derive(Debug)]
struct Channel {
    file: File,
    channo: u32,
}

/// What one read gave.
enum Got {
    Data(usize),
    Event(ChannelEvent),
    Nothing,
}

impl Channel {
    /// Opens `/dev/dahdi/channel` and binds it to `channo`; returns it
    /// with the channel's signalling type.
    fn open(channo: u32) -> Result<(Channel, u32)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(CHANNEL_NODE)
            .map_err(|e| BoardError::io(format!("open {CHANNEL_NODE}"), e))?;
        let n = c_int::try_from(channo).map_err(|_| {
            BoardError::io(
                format!("DAHDI_SPECIFY({channo})"),
                std::io::Error::from(ErrorKind::InvalidInput),
            )
        })?;
        sys::specify(file.as_fd(), n)
            .map_err(|e| BoardError::errno(format!("DAHDI_SPECIFY({channo})"), e))?;
        let params = sys::get_params(file.as_fd())
            .map_err(|e| BoardError::errno(format!("DAHDI_GET_PARAMS on {channo}"), e))?;
        Ok((Channel { file, channo }, params.sigtype as u32))
    }

    fn event(&self) -> Result<ChannelEvent> {
        let code = sys::getevent(self.file.as_fd())
            .map_err(|e| BoardError::errno(format!("DAHDI_GETEVENT on {}", self.channo), e))?;
        Ok(ChannelEvent::from_dahdi(code))
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<Got> {
        match self.file.read(buf) {
            Ok(n) => Ok(Got::Data(n)),
            Err(e) if e.raw_os_error() == Some(sys::ELAST) => Ok(Got::Event(self.event()?)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Got::Nothing),
            Err(e) => Err(BoardError::io(format!("read channel {}", self.channo), e)),
        }
    }

    /// Writes `buf`; an event pending is taken and returned, and the write
    /// is not retried (the caller's next `recv` would have shown it).
    fn write(&mut self, buf: &[u8]) -> Result<Option<ChannelEvent>> {
        match self.file.write(buf) {
            Ok(_) => Ok(None),
            Err(e) if e.raw_os_error() == Some(sys::ELAST) => Ok(Some(self.event()?)),
            Err(e) => Err(BoardError::io(format!("write channel {}", self.channo), e)),
        }
    }

    fn wrong(&self, sigtype: u32, expected: &'static str) -> BoardError {
        BoardError::WrongSignalling {
            channo: self.channo,
            sigtype,
            expected,
        }
    }
}

/// A D-channel (`dchan=` or `hardhdlc=` in `system.conf`). Reads are one
/// frame and its two FCS bytes; writes one frame and two bytes the kernel
/// fills in. Bad frames are counted in the span's counter.
#[derive(Debug)]
pub struct DahdiDChannel {
    ch: Channel,
    /// An event `send` met, handed out by the next `recv`.
    pending: Option<ChannelEvent>,
    bad_fcs: Arc<AtomicU64>,
}

impl DahdiDChannel {
    /// Opens channel `channo` as a D-channel; `bad_fcs` is the span's
    /// counter ([`super::DahdiSpan::open_dchannel`]).
    pub(crate) fn open(channo: u32, bad_fcs: Arc<AtomicU64>) -> Result<Self> {
        let (ch, sigtype) = Channel::open(channo)?;
        if sigtype != sys::sig::HDLCFCS && sigtype != sys::sig::HARDHDLC {
            return Err(ch.wrong(sigtype, "dchan or hardhdlc"));
        }
        // Immediate policies: a frame goes out as soon as it is written
        // and comes in as soon as it is received (as libpri's users set).
        let info = DahdiBufferinfo {
            txbufpolicy: sys::POLICY_IMMEDIATE,
            rxbufpolicy: sys::POLICY_IMMEDIATE,
            numbufs: 16,
            bufsize: MAX_FRAME as c_int,
            ..DahdiBufferinfo::default()
        };
        sys::set_bufinfo(ch.file.as_fd(), &info)
            .map_err(|e| BoardError::errno(format!("DAHDI_SET_BUFINFO on {channo}"), e))?;
        Ok(DahdiDChannel {
            ch,
            pending: None,
            bad_fcs,
        })
    }
}

impl AsFd for DahdiDChannel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ch.file.as_fd()
    }
}

impl DChannel for DahdiDChannel {
    fn channo(&self) -> u32 {
        self.ch.channo
    }

    fn recv(&mut self) -> Result<Option<Incoming<Vec<u8>>>> {
        let event = match self.pending.take() {
            Some(e) => e,
            None => {
                let mut buf = [0u8; MAX_FRAME + 2];
                match self.ch.read(&mut buf)? {
                    Got::Nothing => return Ok(None),
                    Got::Data(n) if n < 2 => {
                        return Err(BoardError::ShortRead {
                            channo: self.ch.channo,
                            len: n,
                        })
                    }
                    Got::Data(n) => return Ok(Some(Incoming::Data(buf[..n - 2].to_vec()))),
                    Got::Event(e) => e,
                }
            }
        };
        if event == ChannelEvent::BadFcs {
            self.bad_fcs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Some(Incoming::Event(event)))
    }

    fn send(&mut self, frame: &[u8]) -> Result<()> {
        if frame.len() > MAX_FRAME {
            return Err(BoardError::FrameTooLong {
                len: frame.len(),
                max: MAX_FRAME,
            });
        }
        let mut buf = Vec::with_capacity(frame.len() + 2);
        buf.extend_from_slice(frame);
        buf.extend_from_slice(&[0, 0]);
        if let Some(e) = self.ch.write(&buf)? {
            self.pending = Some(e);
        }
        Ok(())
    }
}

/// The echo canceller's settings for a B-channel or an FXO port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoCanceller {
    /// Echo tail in taps (eight per millisecond); 0 turns it off.
    pub taps: u32,
    /// Named parameters of the canceller module (at most eight), e.g.
    /// `("nlp_type", 3)` for OSLEC's or a hardware canceller's.
    pub params: Vec<(String, i32)>,
}

fn echo_request(ec: &EchoCanceller) -> EchocanRequest {
    let mut req = EchocanRequest::default();
    req.header.tap_length = ec.taps;
    let n = ec.params.len().min(sys::MAX_ECHOCANPARAMS);
    req.header.param_count = n as u32;
    for (slot, (name, value)) in req.params.iter_mut().zip(&ec.params) {
        let mut p = DahdiEchocanparam {
            value: *value,
            ..DahdiEchocanparam::default()
        };
        // Leave the last byte NUL.
        for (d, s) in p.name.iter_mut().take(15).zip(name.bytes()) {
            *d = s as c_char;
        }
        *slot = p;
    }
    req
}

fn set_echo(ch: &Channel, ec: &EchoCanceller) -> Result<()> {
    sys::echocancel_params(ch.file.as_fd(), &echo_request(ec))
        .map_err(|e| BoardError::errno(format!("DAHDI_ECHOCANCEL_PARAMS on {}", ch.channo), e))
}

fn set_block(ch: &Channel) -> Result<()> {
    sys::set_blocksize(ch.file.as_fd(), BLOCK_LEN as c_int)
        .map_err(|e| BoardError::errno(format!("DAHDI_SET_BLOCKSIZE on {}", ch.channo), e))
}

/// Reads one block or event from an audio channel.
fn recv_block(ch: &mut Channel) -> Result<Option<Incoming<Block>>> {
    let mut block = [0u8; BLOCK_LEN];
    match ch.read(&mut block)? {
        Got::Nothing => Ok(None),
        Got::Event(e) => Ok(Some(Incoming::Event(e))),
        Got::Data(n) if n == BLOCK_LEN => Ok(Some(Incoming::Data(block))),
        Got::Data(n) => Err(BoardError::ShortRead {
            channo: ch.channo,
            len: n,
        }),
    }
}

/// A B-channel (`bchan=`): 160-byte blocks of A-law.
#[derive(Debug)]
pub struct DahdiBChannel {
    ch: Channel,
    pending: Option<ChannelEvent>,
}

impl DahdiBChannel {
    /// Opens channel `channo` as a clear B-channel with 20 ms blocks.
    pub fn open(channo: u32) -> Result<Self> {
        let (ch, sigtype) = Channel::open(channo)?;
        if sigtype != sys::sig::CLEAR {
            return Err(ch.wrong(sigtype, "bchan"));
        }
        set_block(&ch)?;
        Ok(DahdiBChannel { ch, pending: None })
    }

    /// Sets (or with 0 taps, turns off) the echo canceller.
    pub fn set_echo_canceller(&mut self, ec: &EchoCanceller) -> Result<()> {
        set_echo(&self.ch, ec)
    }
}

impl AsFd for DahdiBChannel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ch.file.as_fd()
    }
}

impl BChannel for DahdiBChannel {
    fn channo(&self) -> u32 {
        self.ch.channo
    }

    fn recv(&mut self) -> Result<Option<Incoming<Block>>> {
        if let Some(e) = self.pending.take() {
            return Ok(Some(Incoming::Event(e)));
        }
        recv_block(&mut self.ch)
    }

    fn send(&mut self, block: &Block) -> Result<()> {
        if let Some(e) = self.ch.write(block)? {
            self.pending = Some(e);
        }
        Ok(())
    }
}

/// An FXO port (`fxsks=` or `fxsls=`: DAHDI names it after the far end).
#[derive(Debug)]
pub struct DahdiAnalogPort {
    ch: Channel,
    hook: Hook,
    pending: Option<ChannelEvent>,
}

impl DahdiAnalogPort {
    /// Opens channel `channo` as an FXO port with 20 ms blocks, on hook.
    pub fn open(channo: u32) -> Result<Self> {
        let (ch, sigtype) = Channel::open(channo)?;
        if sigtype != sys::sig::FXSKS && sigtype != sys::sig::FXSLS {
            return Err(ch.wrong(sigtype, "fxsks or fxsls"));
        }
        set_block(&ch)?;
        Ok(DahdiAnalogPort {
            ch,
            hook: Hook::On,
            pending: None,
        })
    }

    /// Sets (or with 0 taps, turns off) the echo canceller.
    pub fn set_echo_canceller(&mut self, ec: &EchoCanceller) -> Result<()> {
        set_echo(&self.ch, ec)
    }

    fn set_hook(&mut self, hook: Hook) -> Result<()> {
        let (arg, name) = match hook {
            Hook::Off => (sys::OFFHOOK, "OFFHOOK"),
            Hook::On => (sys::ONHOOK, "ONHOOK"),
        };
        sys::hook(self.ch.file.as_fd(), arg).map_err(|e| {
            BoardError::errno(format!("DAHDI_HOOK({name}) on {}", self.ch.channo), e)
        })?;
        self.hook = hook;
        Ok(())
    }
}

impl AsFd for DahdiAnalogPort {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ch.file.as_fd()
    }
}

impl AnalogPort for DahdiAnalogPort {
    fn channo(&self) -> u32 {
        self.ch.channo
    }

    fn hook(&self) -> Hook {
        self.hook
    }

    fn seize(&mut self) -> Result<()> {
        self.set_hook(Hook::Off)
    }

    fn release(&mut self) -> Result<()> {
        self.set_hook(Hook::On)
    }

    fn recv(&mut self) -> Result<Option<Incoming<Block>>> {
        if let Some(e) = self.pending.take() {
            return Ok(Some(Incoming::Event(e)));
        }
        recv_block(&mut self.ch)
    }

    fn send(&mut self, block: &Block) -> Result<()> {
        if let Some(e) = self.ch.write(block)? {
            self.pending = Some(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_lays_out_names_and_values() {
        let req = echo_request(&EchoCanceller {
            taps: 128,
            params: vec![
                ("nlp_type".into(), 3),
                ("a_very_long_parameter_name".into(), -1),
            ],
        });
        assert_eq!(req.header.tap_length, 128);
        assert_eq!(req.header.param_count, 2);
        assert_eq!(sys::c_text(&req.params[0].name), "nlp_type");
        assert_eq!(req.params[0].value, 3);
        // Cut to 15 bytes and NUL-terminated.
        assert_eq!(sys::c_text(&req.params[1].name), "a_very_long_par");
        assert_eq!(req.params[1].name[15], 0);
    }

    #[test]
    fn echo_request_takes_at_most_eight_parameters() {
        let req = echo_request(&EchoCanceller {
            taps: 0,
            params: (0..12).map(|i| (format!("p{i}"), i)).collect(),
        });
        assert_eq!(req.header.param_count, 8);
    }

    /// Without a card the node is absent here: opening says which node
    /// failed, not a panic.
    #[test]
    fn opening_without_dahdi_is_an_error_naming_the_node() {
        if std::path::Path::new(CHANNEL_NODE).exists() {
            return; // a machine with a card: the hardware tests cover it
        }
        match DahdiBChannel::open(1) {
            Err(BoardError::Io { what, .. }) => assert!(what.contains(CHANNEL_NODE), "{what}"),
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }
}
