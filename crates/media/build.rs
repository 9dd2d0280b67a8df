//! Embeds the default prompts (`prompts/<lang>/<name>.wav` at the
//! workspace root) so the box speaks with nothing installed beside its
//! binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The workspace root, read when the script runs: `env!` would bake in
/// where the script was compiled, and a target directory moved to another
/// checkout then reads (or misses) that checkout's prompts.
fn workspace() -> PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    Path::new(&manifest).join("../..")
}

fn main() {
    let root = workspace().join("prompts");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    if let Ok(langs) = std::fs::read_dir(&root) {
        for lang in langs.flatten() {
            println!("cargo:rerun-if-changed={}", lang.path().display());
            let Ok(files) = std::fs::read_dir(lang.path()) else {
                continue;
            };
            for f in files.flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "wav") {
                    let name = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                    let lang = lang.file_name().to_string_lossy().into_owned();
                    if let Some(name) = name {
                        entries.push((lang, name, p.canonicalize().unwrap_or(p)));
                    }
                }
            }
        }
    }
    // A box without its prompts is mute on every call: never build one.
    if entries.is_empty() {
        panic!("no default prompts under {}", root.display());
    }
    entries.sort();
    let mut code = String::from("/// (language, name, WAV bytes) of every default prompt.\npub static DEFAULT_PROMPTS: &[(&str, &str, &[u8])] = &[\n");
    for (lang, name, path) in &entries {
        let _ = writeln!(
            code,
            "    ({lang:?}, {name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    // Music on hold: `music/<class>.wav`.
    let music = workspace().join("music");
    println!("cargo:rerun-if-changed={}", music.display());
    let mut classes = Vec::new();
    if let Ok(files) = std::fs::read_dir(&music) {
        for f in files.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "wav") {
                if let Some(name) = p.file_stem().map(|s| s.to_string_lossy().into_owned()) {
                    classes.push((name, p.canonicalize().unwrap_or(p)));
                }
            }
        }
    }
    if classes.is_empty() {
        panic!("no music on hold under {}", music.display());
    }
    classes.sort();
    code.push_str("/// (class, WAV bytes) of the built-in music on hold.\npub static DEFAULT_MUSIC: &[(&str, &[u8])] = &[\n");
    for (name, path) in &classes {
        let _ = writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("prompts.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
