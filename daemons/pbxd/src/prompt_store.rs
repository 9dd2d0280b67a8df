//! The prompts directory on disk (issue 15 §2): where it is, reading it
//! into a [`Prompts`] library, and writing a prompt recorded from a phone.
//!
//! pbxd and webd share one directory: `[flows] prompts`, else
//! `<data>/prompts`, with `<lang>/<name>.wav` prompts and
//! `music/<class>.wav` music-on-hold classes. A file is always written
//! whole under a hidden name and renamed into place, so a reload never
//! reads half a file (the library skips hidden files). Beside a prompt,
//! `<name>.json` says who made it and how ([`Meta`]), which the web
//! admin's prompt screen shows.
//!
//! Loading decodes every file, which takes longer than a signalling turn
//! may: the shell runs it on a blocking thread and hands the result to
//! the core ([`crate::core::Core::set_prompts`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dering_media::prompts::{PromptError, Prompts};
use dering_media::speech::Lang;

use crate::config::Config;

/// Who made a prompt file, and how: `<folder>/<name>.json` beside it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// A web login or an extension.
    pub by: String,
    /// `web` (uploaded) or `phone` (recorded by the feature code).
    pub source: String,
    pub at_ms: i64,
}

/// The prompts directory: `[flows] prompts`, else `<data>/prompts`.
pub fn directory(config: &Config, data_dir: &Path) -> PathBuf {
    config
        .flows
        .prompts
        .clone()
        .unwrap_or_else(|| data_dir.join("prompts"))
}

/// The built-in prompts, overridden by the directory's. A configured
/// directory must exist; the default one is used once something was put
/// there (an upload or a recording creates it).
pub fn load(config: &Config, data_dir: &Path) -> Result<Prompts, PromptError> {
    let dir = directory(config, data_dir);
    if config.flows.prompts.is_none() && !dir.exists() {
        return Prompts::builtin();
    }
    Prompts::load(&dir)
}

/// The metadata file of a prompt file `wav`.
pub fn meta_path(wav: &Path) -> PathBuf {
    wav.with_extension("json")
}

/// Writes `meta` beside `wav` (whole, then renamed).
pub fn write_meta(wav: &Path, meta: &Meta) -> std::io::Result<()> {
    let path = meta_path(wav);
    let text = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
    write_whole(&path, &text)
}

/// The metadata of `wav`, if it has any that reads.
pub fn read_meta(wav: &Path) -> Option<Meta> {
    let bytes = std::fs::read(meta_path(wav)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `bytes` into `path` through a hidden temporary beside it and a rename.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes a prompt recorded from a phone as `<dir>/<lang>/<name>.wav`
/// (8 kHz, mono, 16-bit, the layout the library reads) with its
/// metadata; returns the file.
pub fn save(
    dir: &Path,
    lang: Lang,
    name: &str,
    audio: &Arc<[i16]>,
    meta: &Meta,
) -> std::io::Result<PathBuf> {
    let folder = dir.join(lang.code());
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!("{name}.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + audio.len() * 2));
    {
        let mut w = hound::WavWriter::new(&mut bytes, spec).map_err(std::io::Error::other)?;
        for s in audio.iter() {
            w.write_sample(*s).map_err(std::io::Error::other)?;
        }
        w.finalize().map_err(std::io::Error::other)?;
    }
    write_whole(&path, bytes.get_ref())?;
    write_meta(&path, meta)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_prompt_is_read_back_by_the_library_with_its_maker() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut cfg = Config::embedded().expect("demo");
        cfg.flows.prompts = None;
        // Nothing there yet: the built-in prompts.
        let p = load(&cfg, tmp.path()).expect("built in");
        assert!(!p.contains(Lang::Id, "rec_05"));

        let audio: Arc<[i16]> = (0..4000)
            .map(|i| (i % 300) as i16 * 50)
            .collect::<Vec<_>>()
            .into();
        let meta = Meta {
            by: "1001".into(),
            source: "phone".into(),
            at_ms: 7,
        };
        let path = save(
            &directory(&cfg, tmp.path()),
            Lang::Id,
            "rec_05",
            &audio,
            &meta,
        )
        .expect("saved");
        assert_eq!(path, tmp.path().join("prompts/id/rec_05.wav"));
        assert_eq!(read_meta(&path), Some(meta));
        let p = load(&cfg, tmp.path()).expect("loads");
        assert_eq!(p.get(Lang::Id, "rec_05").as_deref(), Some(&audio[..]));
        let left: Vec<String> = std::fs::read_dir(tmp.path().join("prompts/id"))
            .expect("folder")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "no temporary files left: {left:?}");
    }

    #[test]
    fn a_configured_directory_must_exist() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut cfg = Config::embedded().expect("demo");
        cfg.flows.prompts = Some(tmp.path().join("absent"));
        assert!(load(&cfg, tmp.path()).is_err());
    }
}
