//! Everything pbxd reads from the network goes through these two entry
//! points: a datagram classified for the UAS, and a byte stream framed into
//! messages (split at an arbitrary point, as TCP may deliver it).
#![no_main]

use dering_sip::framer::{Frame, StreamFramer};
use dering_sip::uas::{classify_datagram, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Verdict::Request(m) | Verdict::Response(m) = classify_datagram(data) {
        // What the core does next with a well-formed message must hold too.
        let _ = m.validate_request();
        let _ = dering_sip::sdp::AudioSdp::parse(&m.body);
        for v in m.all("Contact").chain(m.all("From")).chain(m.all("To")) {
            let _ = dering_sip::nameaddr::NameAddr::parse(v);
        }
        for v in m.all("Authorization").chain(m.all("Proxy-Authorization")) {
            let _ = dering_sip::auth::Credentials::parse(v);
        }
    }
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut framer = StreamFramer::default();
    for chunk in [&data[..split], &data[split..]] {
        framer.push(chunk);
        while let Ok(Some(frame)) = framer.next_frame() {
            if let Frame::Message(raw, _) = frame {
                let _ = classify_datagram(&raw);
            }
        }
    }
});
