//! Just enough SDP (RFC 4566) for audio offer/answer (RFC 3264) through a
//! media relay: one audio stream, G.711 A-law/µ-law and telephone-event.

use std::net::IpAddr;

/// Stream direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answerer uses for this offered direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// A payload format: static PT or rtpmap'ed dynamic one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub pt: u8,
    /// Encoding name in upper case (PCMU, PCMA, TELEPHONE-EVENT, ...).
    pub name: String,
    pub rate: u32,
    pub fmtp: Option<String>,
}

/// The audio part of a session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSdp {
    pub addr: IpAddr,
    pub port: u16,
    pub formats: Vec<Format>,
    pub direction: Direction,
    pub ptime: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("no audio stream")]
    NoAudio,
    #[error("no connection address")]
    NoAddress,
    #[error("bad m= line")]
    Media,
}

fn static_format(pt: u8) -> Option<(&'static str, u32)> {
    match pt {
        0 => Some(("PCMU", 8000)),
        8 => Some(("PCMA", 8000)),
        9 => Some(("G722", 8000)),
        18 => Some(("G729", 8000)),
        _ => None,
    }
}

impl AudioSdp {
    pub fn parse(body: &[u8]) -> Result<AudioSdp, SdpError> {
        let text = String::from_utf8_lossy(body);
        let mut session_addr: Option<IpAddr> = None;
        let mut media_addr: Option<IpAddr> = None;
        let mut in_audio = false;
        let mut seen_audio = false;
        let mut port = 0u16;
        let mut pts: Vec<u8> = Vec::new();
        let mut formats: Vec<Format> = Vec::new();
        let mut direction = Direction::SendRecv;
        let mut ptime = None;
        for line in text.lines() {
            let line = line.trim_end();
            if let Some(m) = line.strip_prefix("m=") {
                in_audio = false;
                if seen_audio {
                    continue;
                }
                let mut w = m.split_whitespace();
                if w.next() == Some("audio") {
                    in_audio = true;
                    seen_audio = true;
                    port = w
                        .next()
                        .and_then(|p| p.parse().ok())
                        .ok_or(SdpError::Media)?;
                    let _proto = w.next().ok_or(SdpError::Media)?;
                    pts = w.filter_map(|p| p.parse().ok()).collect();
                }
            } else if let Some(c) = line.strip_prefix("c=") {
                let addr = c
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse().ok());
                if in_audio {
                    media_addr = addr;
                } else if !seen_audio {
                    session_addr = addr;
                }
            } else if let Some(a) = line.strip_prefix("a=") {
                if !in_audio && seen_audio {
                    continue;
                }
                let (name, val) = a.split_once(':').unwrap_or((a, ""));
                match name {
                    "sendrecv" => direction = Direction::SendRecv,
                    "sendonly" => direction = Direction::SendOnly,
                    "recvonly" => direction = Direction::RecvOnly,
                    "inactive" => direction = Direction::Inactive,
                    "ptime" if in_audio => ptime = val.trim().parse().ok(),
                    "rtpmap" if in_audio => {
                        let mut w = val.split_whitespace();
                        if let (Some(pt), Some(enc)) =
                            (w.next().and_then(|p| p.parse().ok()), w.next())
                        {
                            let mut e = enc.split('/');
                            let name = e.next().unwrap_or_default().to_ascii_uppercase();
                            let rate = e.next().and_then(|r| r.parse().ok()).unwrap_or(8000);
                            formats.push(Format {
                                pt,
                                name,
                                rate,
                                fmtp: None,
                            });
                        }
                    }
                    "fmtp" if in_audio => {
                        if let Some((pt, f)) = val.split_once(' ') {
                            if let Ok(pt) = pt.parse::<u8>() {
                                if let Some(fm) = formats.iter_mut().find(|x| x.pt == pt) {
                                    fm.fmtp = Some(f.trim().to_string());
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if !seen_audio {
            return Err(SdpError::NoAudio);
        }
        let addr = media_addr.or(session_addr).ok_or(SdpError::NoAddress)?;
        let mut ordered = Vec::new();
        for pt in pts {
            if let Some(f) = formats.iter().find(|f| f.pt == pt) {
                ordered.push(f.clone());
            } else if let Some((name, rate)) = static_format(pt) {
                ordered.push(Format {
                    pt,
                    name: name.into(),
                    rate,
                    fmtp: None,
                });
            }
        }
        Ok(AudioSdp {
            addr,
            port,
            formats: ordered,
            direction,
            ptime,
        })
    }

    /// Where the stream's RTP goes; an error for the hold form `0.0.0.0`
    /// or port 0 (RFC 3264 §8.4), which has nowhere to send to.
    pub fn addr_port(&self) -> Result<std::net::SocketAddr, SdpError> {
        if self.port == 0 || self.addr.is_unspecified() {
            return Err(SdpError::NoAddress);
        }
        Ok(std::net::SocketAddr::new(self.addr, self.port))
    }

    /// The first format we can relay unchanged: G.711 either law.
    pub fn telephone_event(&self) -> Option<&Format> {
        self.formats.iter().find(|f| f.name == "TELEPHONE-EVENT")
    }

    /// Serialises as a complete session description.
    pub fn to_body(&self, session_id: u64, version: u64) -> Vec<u8> {
        let ip = match self.addr {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let mut s = format!(
            "v=0\r\no=dering {session_id} {version} IN {ip} {addr}\r\ns=Dering\r\nc=IN {ip} {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP",
            addr = self.addr,
            port = self.port
        );
        for f in &self.formats {
            s.push_str(&format!(" {}", f.pt));
        }
        s.push_str("\r\n");
        for f in &self.formats {
            s.push_str(&format!(
                "a=rtpmap:{} {}/{}\r\n",
                f.pt,
                rtpmap_name(&f.name),
                f.rate
            ));
            if let Some(fmtp) = &f.fmtp {
                s.push_str(&format!("a=fmtp:{} {}\r\n", f.pt, fmtp));
            }
        }
        if let Some(p) = self.ptime {
            s.push_str(&format!("a=ptime:{p}\r\n"));
        }
        s.push_str(&format!("a={}\r\n", self.direction.attr()));
        s.into_bytes()
    }
}

fn rtpmap_name(upper: &str) -> &str {
    match upper {
        "TELEPHONE-EVENT" => "telephone-event",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.4\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 49170 RTP/AVP 9 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendonly\r\n";

    #[test]
    fn parses_offer_and_answers_g711() {
        let o = AudioSdp::parse(OFFER).unwrap();
        assert_eq!(o.port, 49170);
        assert_eq!(o.direction, Direction::SendOnly);
        assert_eq!(
            o.formats.iter().map(|f| f.pt).collect::<Vec<_>>(),
            [9, 8, 0, 101]
        );
        assert_eq!(o.formats[0].name, "G722", "a static type named by RFC 3551");
        let a: Vec<Format> = o.formats.iter().skip(1).step_by(2).cloned().collect();
        assert_eq!(a.iter().map(|f| f.pt).collect::<Vec<_>>(), [8, 101]);
        let ans = AudioSdp {
            addr: "127.0.0.1".parse().unwrap(),
            port: 20000,
            formats: a,
            direction: o.direction.answer(),
            ptime: None,
        };
        let back = AudioSdp::parse(&ans.to_body(1, 1)).unwrap();
        assert_eq!(back.direction, Direction::RecvOnly);
        assert_eq!(
            back.telephone_event().unwrap().fmtp.as_deref(),
            Some("0-16")
        );
    }

    #[test]
    fn no_common_codec() {
        let o = AudioSdp::parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18\r\n").unwrap();
        assert_eq!(o.formats.len(), 1);
        assert_eq!(o.formats[0].name, "G729");
        assert_eq!(AudioSdp::parse(b"v=0\r\n"), Err(SdpError::NoAudio));
    }
}
