//! The demo command's guard rails (TEL-1, OPS-5): `dering up` refuses to
//! listen beyond loopback while demo passwords are in force, and
//! `check-config` names the file, line and key of a bad configuration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use hwtests::{dering_bin, workspace};

#[test]
fn up_refuses_a_public_address_with_demo_passwords() {
    let dir = tempfile::tempdir().unwrap();
    // 192.0.2.1 is a documentation address: the refusal happens before any
    // socket is bound, so nothing leaves loopback.
    let out = Command::new(dering_bin())
        .args(["up", "--bind", "192.0.2.1", "--sip-port", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 192.0.2.1 while demo passwords are in force"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing may be created"
    );
}

#[test]
fn check_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace().join("crates/config/src/default.toml"))
        .unwrap()
        .replace("[registrar]", "[registrar]\nmax_expire = 7200");
    let path = dir.path().join("dering.toml");
    std::fs::write(&path, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("max_expire ="))
        .unwrap()
        + 1;
    let out = Command::new(dering_bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:{line}:", path.display())),
        "{err}"
    );
    assert!(err.contains("max_expire"), "{err}");
    let ok = Command::new(dering_bin())
        .arg("check-config")
        .output()
        .unwrap();
    assert!(ok.status.success(), "the embedded default is valid");
}
