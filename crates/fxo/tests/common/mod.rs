//! spandsp as the independent generator of spills and tones: the C tool
//! in `hwtests/tools/spandsp-adsi.c`, built once per test binary with gcc
//! against libspandsp-dev (installed by `.ci/install-peers`).

// Each test binary uses its own share of the helpers; they fail the test
// on a broken setup (no gcc, no headers), and clippy.toml's test allowance
// does not reach functions outside #[test].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dering_media::g711::Law;

static TOOL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();

fn tool() -> &'static Path {
    &TOOL
        .get_or_init(|| {
            assert!(
                Path::new("/usr/include/spandsp/adsi.h").exists(),
                "libspandsp-dev is not installed: run `bash .ci/install-peers`"
            );
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("spandsp-adsi");
            let src =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hwtests/tools/spandsp-adsi.c");
            let out = Command::new("gcc")
                .args(["-O1", "-Wall", "-o"])
                .arg(&bin)
                .arg(&src)
                .args(["-lspandsp", "-lm"])
                .output()
                .expect("gcc runs");
            assert!(
                out.status.success(),
                "gcc: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (dir, bin)
        })
        .1
}

/// Runs the tool with `args`; returns its 8 kHz samples.
pub fn spandsp(args: &[&str]) -> Vec<i16> {
    let out = Command::new(tool()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "spandsp-adsi {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "spandsp-adsi {args:?}: no audio");
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// White noise of peak `amplitude` added (a fixed seed: the same run
/// every time).
pub fn with_noise(x: &[i16], amplitude: f64) -> Vec<i16> {
    let mut seed = 0x2545_F491u32;
    x.iter()
        .map(|s| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let n = ((seed >> 8) as f64 / f64::from(1u32 << 24) * 2.0 - 1.0) * amplitude;
            (f64::from(*s) + n).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// The samples as the line carries them to the board: A-law, with
/// `lead_ms` of silence before and after.
pub fn on_the_line(x: &[i16], lead_ms: usize) -> Vec<u8> {
    let mut pcm = vec![0i16; lead_ms * 8];
    pcm.extend_from_slice(x);
    pcm.extend(std::iter::repeat_n(0, lead_ms * 8));
    let mut out = Vec::new();
    Law::Alaw.encode(&pcm, &mut out);
    out
}

/// A-law back to samples, as the port hears it.
pub fn heard(alaw: &[u8]) -> Vec<i16> {
    let mut out = Vec::new();
    Law::Alaw.decode(alaw, &mut out);
    out
}
