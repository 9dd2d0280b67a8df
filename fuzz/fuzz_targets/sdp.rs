//! A session description as pbxd gets it in an INVITE, re-INVITE, 183 or
//! 200 body: parsed, then read the way the core turns it into media
//! parameters (the address media goes to, the codecs it knows by name,
//! telephone-event, the answering direction), then written back out as
//! the box's own offer or answer would be.
//!
//! What the box writes from a parsed description must parse back to the
//! same description: pbxd forwards offers it parsed to the other leg.
#![no_main]

use dering_media::codec::Codec;
use dering_sip::sdp::AudioSdp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = AudioSdp::parse(data) else {
        return;
    };
    let _ = sdp.addr_port();
    let _ = sdp.telephone_event();
    let _ = sdp.direction.answer().attr();
    for f in &sdp.formats {
        if let Some(c) = Codec::from_name(&f.name) {
            let _ = Codec::from_payload_type(c.payload_type());
        }
    }
    let body = sdp.to_body(u64::MAX, 0);
    match AudioSdp::parse(&body) {
        Ok(again) => assert_eq!(again, sdp, "{}", String::from_utf8_lossy(&body)),
        Err(e) => panic!(
            "own SDP unparsable ({e}): {}",
            String::from_utf8_lossy(&body)
        ),
    }
});
