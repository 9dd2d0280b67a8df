#![allow(clippy::unwrap_used, clippy::expect_used)]
//! RFC 4475 torture messages at parser level: every message is classified
//! as `tests/rfc4475-expect.tsv` says, `valid` and `compat` ones parse, and
//! nothing panics. The same table drives the daemon-level test in hwtests.

use std::path::PathBuf;

use dering_sip::nameaddr::NameAddr;
use dering_sip::uas::{classify_datagram, Verdict};
use dering_sip::Message;

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/sip-rfc4475")
}

fn expectations() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rfc4475-expect.tsv"),
    )
    .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

fn verdict_name(v: &Verdict) -> String {
    match v {
        Verdict::Request(_) | Verdict::Response(_) => "ok".into(),
        Verdict::Reject { code, .. } => code.to_string(),
        Verdict::Drop(_) => "drop".into(),
    }
}

#[test]
fn every_manifest_entry_has_an_expectation_and_matches() {
    let manifest = std::fs::read_to_string(conformance_dir().join("manifest.tsv")).unwrap();
    let expect = expectations();
    let mut failures = vec![];
    let mut seen = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, class) = (cols[0], cols[2]);
        let (_, want) = expect
            .iter()
            .find(|(f, _)| f == file)
            .unwrap_or_else(|| panic!("{file} has no expectation"));
        let bytes = std::fs::read(conformance_dir().join(file)).unwrap();
        let v = classify_datagram(&bytes);
        let got = verdict_name(&v);
        if !want.split('|').any(|w| w == got) {
            failures.push(format!("{file} ({class}): want {want}, got {got}: {v:?}"));
        }
        if matches!(class, "valid" | "compat") {
            assert!(
                Message::parse_datagram(&bytes).is_ok(),
                "{file} is {class} and must parse"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 49);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// RFC 4475 §3.1.1.3: escaped and unescaped URIs compare equal.
#[test]
fn esc01_escapes_compare_equal() {
    let m = Message::parse_datagram(&std::fs::read(conformance_dir().join("esc01.dat")).unwrap())
        .unwrap();
    let to = NameAddr::parse(m.get("To").unwrap()).unwrap();
    let uri = dering_sip::uri::Uri::parse(&to.uri).unwrap();
    assert_eq!(uri.aor(), "sip:user@example.com");
}

/// RFC 4475 §3.1.1.8: a datagram with two requests yields the first, whose
/// body is bounded by Content-Length.
#[test]
fn dblreq_first_request_only() {
    let m = Message::parse_datagram(&std::fs::read(conformance_dir().join("dblreq.dat")).unwrap())
        .unwrap();
    assert_eq!(m.method().unwrap().as_str(), "REGISTER");
    assert!(m.body.is_empty());
}

/// RFC 4475 §3.3.12/§3.3.13: Contact parameters outside <> belong to the
/// header; inside <> to the URI.
#[test]
fn cparam_contact_parameters() {
    let read = |f: &str| {
        Message::parse_datagram(&std::fs::read(conformance_dir().join(f)).unwrap()).unwrap()
    };
    let c1 = NameAddr::parse(read("cparam01.dat").get("Contact").unwrap()).unwrap();
    assert_eq!(c1.uri, "sip:+19725552222@gw1.example.net");
    assert_eq!(c1.param("unknownparam"), Some(""));
    let c2 = NameAddr::parse(read("cparam02.dat").get("Contact").unwrap()).unwrap();
    assert_eq!(c2.uri, "sip:+19725552222@gw1.example.net;unknownparam");
    assert!(c2.params.is_empty());
}

/// RFC 4475 §3.1.1.1: folded, padded and compact headers all normalise.
#[test]
fn wsinv_normalises() {
    let m = Message::parse_datagram(&std::fs::read(conformance_dir().join("wsinv.dat")).unwrap())
        .unwrap();
    assert_eq!(m.get("Max-Forwards"), Some("0068"));
    assert_eq!(m.cseq().unwrap().0, 9);
    assert_eq!(m.all("Via").count(), 3);
    assert_eq!(m.get("Subject"), Some(""));
    assert_eq!(
        m.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    let contact = NameAddr::parse(m.get("Contact").unwrap()).unwrap();
    assert_eq!(contact.param("q"), Some("0.33"));
    assert_eq!(m.body.len(), 150);
}

/// Every prefix and single-byte corruption of every message: no panic.
#[test]
fn truncations_and_corruptions_never_panic() {
    for entry in std::fs::read_dir(conformance_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "dat") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for cut in (0..bytes.len()).step_by(7) {
            let _ = classify_datagram(&bytes[..cut]);
            let mut b = bytes.clone();
            b[cut] = b[cut].wrapping_add(0x55);
            let _ = classify_datagram(&b);
        }
    }
}
