//! Caller-ID spills and call-progress tones made by spandsp, a real and
//! independent implementation, decoded by ours: every supported form,
//! with noise, and with a corrupted checksum (which must give "caller ID
//! unavailable", never a wrong number).

mod common;

use common::{heard, on_the_line, spandsp, with_noise};
use dering_fxo::{
    Absence, CallerId, CallerIdReceiver, CidSignalling, DateTime, Outcome, Progress, Signal,
    ToneDetector, Unavailable,
};

/// Feeds a spill, as the board would (A-law, 20 ms blocks), to a
/// receiver for `mode`; returns what it read.
fn decode(mode: CidSignalling, spill: &[i16]) -> Outcome {
    let mut rx = CallerIdReceiver::new(mode);
    for block in heard(&on_the_line(spill, 200)).chunks(160) {
        rx.feed(block);
    }
    rx.outcome()
}

fn received(mode: CidSignalling, spill: &[i16]) -> CallerId {
    match decode(mode, spill) {
        Outcome::Received(id) => id,
        other => panic!("{mode:?}: {other:?}"),
    }
}

const DECEMBER_4_1620: DateTime = DateTime {
    month: 12,
    day: 4,
    hour: 16,
    minute: 20,
};

#[test]
fn v23_mdmf_with_date_number_and_name() {
    let spill = spandsp(&[
        "clip",
        "0x80",
        "0x11=\x01",
        "0x01=12041620",
        "0x02=0215551234",
        "0x07=OMBUDSMAN RI",
    ]);
    for mode in [CidSignalling::Auto, CidSignalling::V23] {
        let id = received(mode, &spill);
        assert_eq!(id.number.as_deref(), Some("0215551234"), "{mode:?}");
        assert_eq!(id.name.as_deref(), Some("OMBUDSMAN RI"), "{mode:?}");
        assert_eq!(id.date_time, Some(DECEMBER_4_1620), "{mode:?}");
        assert_eq!(id.signal, Signal::V23, "{mode:?}");
    }
    // A port set to DTMF alone does not hear an FSK spill.
    assert_eq!(
        decode(CidSignalling::Dtmf, &spill),
        Outcome::Unavailable(Unavailable::NotSent)
    );
}

#[test]
fn v23_absence_reasons_private_and_unavailable() {
    for (code, want) in [("P", Absence::Private), ("O", Absence::Unavailable)] {
        let spill = spandsp(&[
            "clip",
            "0x80",
            "0x01=12041620",
            &format!("0x04={code}"),
            &format!("0x08={code}"),
        ]);
        let id = received(CidSignalling::Auto, &spill);
        assert_eq!(id.number, None);
        assert_eq!(id.number_absent, Some(want), "{code}");
        assert_eq!(id.name_absent, Some(want), "{code}");
    }
}

#[test]
fn bell202_sdmf_and_mdmf() {
    let sdmf = spandsp(&["class", "0x04", "0=12041620", "0=6095551212"]);
    let mdmf = spandsp(&[
        "class",
        "0x80",
        "0x01=12041620",
        "0x02=6095551212",
        "0x07=JOHN DOE",
    ]);
    for mode in [CidSignalling::Auto, CidSignalling::Bell202] {
        let id = received(mode, &sdmf);
        assert_eq!(id.number.as_deref(), Some("6095551212"), "{mode:?}");
        assert_eq!(id.date_time, Some(DECEMBER_4_1620));
        assert_eq!(id.signal, Signal::Bell202, "{mode:?}");
        let id = received(mode, &mdmf);
        assert_eq!(id.number.as_deref(), Some("6095551212"), "{mode:?}");
        assert_eq!(id.name.as_deref(), Some("JOHN DOE"), "{mode:?}");
        assert_eq!(id.signal, Signal::Bell202, "{mode:?}");
    }
    let private = spandsp(&["class", "0x04", "0=12041620", "0=P"]);
    assert_eq!(
        received(CidSignalling::Auto, &private).number_absent,
        Some(Absence::Private)
    );
}

#[test]
fn dtmf_clip_in_its_forms() {
    let cases: &[(&[&str], Option<&str>, Option<Absence>)] = &[
        (&["dtmf", "C", "A=0215551234"], Some("0215551234"), None),
        (&["dtmf", "C", "B=10"], None, Some(Absence::Private)),
        (&["dtmf", "C", "B=00"], None, Some(Absence::Unavailable)),
        (&["dtmf", "#", "A=08111234567"], Some("08111234567"), None),
        (&["dtmf", "#", "D=1"], None, Some(Absence::Private)),
    ];
    for (args, number, absent) in cases {
        let spill = spandsp(args);
        for mode in [CidSignalling::Auto, CidSignalling::Dtmf] {
            let id = received(mode, &spill);
            assert_eq!(id.number.as_deref(), *number, "{args:?} {mode:?}");
            assert_eq!(id.number_absent, *absent, "{args:?} {mode:?}");
            assert_eq!(id.signal, Signal::Dtmf);
        }
    }
}

#[test]
fn spills_survive_noise() {
    let v23 = spandsp(&["clip", "0x80", "0x02=0215551234"]);
    let bell = spandsp(&["class", "0x04", "0=12041620", "0=6095551212"]);
    let dtmf = spandsp(&["dtmf", "C", "A=0215551234"]);
    // spandsp sends its FSK at about -14 dBm0 (peak ~5000): noise of
    // peak 1000 is some 20 dB under it.
    for (spill, number) in [
        (&v23, "0215551234"),
        (&bell, "6095551212"),
        (&dtmf, "0215551234"),
    ] {
        let id = received(CidSignalling::Auto, &with_noise(spill, 1000.0));
        assert_eq!(id.number.as_deref(), Some(number));
    }
}

#[test]
fn a_corrupted_checksum_gives_unavailable_never_a_wrong_number() {
    // Byte 5 is the number's second digit: flipped, the message reads as
    // a plausible wrong number unless the checksum is checked.
    let v23 = spandsp(&["clip", "--corrupt", "5", "0x80", "0x02=0215551234"]);
    let bell = spandsp(&[
        "class",
        "--corrupt",
        "12",
        "0x04",
        "0=12041620",
        "0=6095551212",
    ]);
    for (spill, mode) in [
        (&v23, CidSignalling::V23),
        (&v23, CidSignalling::Auto),
        (&bell, CidSignalling::Bell202),
        (&bell, CidSignalling::Auto),
    ] {
        assert_eq!(
            decode(mode, spill),
            Outcome::Unavailable(Unavailable::BadChecksum),
            "{mode:?}"
        );
    }
}

/// What a detector makes of a tone of `on_ms`/`off_ms` for `secs`.
fn tones(on_ms: u32, off_ms: u32, secs: u32) -> Vec<Progress> {
    let x = spandsp(&[
        "tone",
        "425",
        "-13",
        &on_ms.to_string(),
        &off_ms.to_string(),
        &secs.to_string(),
    ]);
    let mut d = ToneDetector::new(3);
    heard(&on_the_line(&x, 0))
        .chunks(160)
        .flat_map(|b| d.feed(b))
        .collect()
}

#[test]
fn busy_congestion_and_dial_tone_by_cadence_and_not_confused() {
    let busy = tones(500, 500, 4);
    assert_eq!(busy.first(), Some(&Progress::Busy), "{busy:?}");
    assert!(busy.iter().all(|p| *p == Progress::Busy), "{busy:?}");

    let congestion = tones(250, 250, 3);
    assert_eq!(congestion.first(), Some(&Progress::Congestion));
    assert!(congestion.iter().all(|p| *p == Progress::Congestion));

    assert_eq!(tones(1000, 0, 3), [Progress::DialTone]);

    // Two bursts of busy are not yet busy (busycount 3).
    assert!(tones(500, 500, 1).is_empty());
    // A cadence between the two (375/375 ms) is neither.
    assert!(tones(375, 375, 4).is_empty());
    // With noise 20 dB down, busy is still busy.
    let x = spandsp(&["tone", "425", "-13", "500", "500", "4"]);
    let mut d = ToneDetector::new(3);
    let got: Vec<_> = with_noise(&x, 300.0)
        .chunks(160)
        .flat_map(|b| d.feed(b))
        .collect();
    assert_eq!(got.first(), Some(&Progress::Busy), "{got:?}");
}
