//! The prompt library (IVR-1, ACD-4): every prompt decoded once into
//! 8 kHz PCM shared by all calls playing it, so playback on the relay
//! threads is a copy of samples, never a file read.
//!
//! Prompts are WAV files `<dir>/<lang>/<name>.wav`, 8 or 16 kHz, 16-bit,
//! mono. The defaults (Bahasa Indonesia and English, made by
//! `tools/make-prompts`) are built into the binary; a deployment's own
//! directory overrides them name by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::speech::Lang;

include!(concat!(env!("OUT_DIR"), "/prompts.rs"));

/// Audio the library will hold at most: 30 minutes at 8 kHz (ACD-4 asks
/// room for 10).
pub const MAX_SAMPLES: usize = 30 * 60 * 8000;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{path}: {reason}")]
    Bad { path: String, reason: String },
    #[error("prompts exceed {} minutes of audio", MAX_SAMPLES / 8000 / 60)]
    TooMuch,
}

/// Decoded prompts by language and name.
#[derive(Debug, Clone, Default)]
pub struct Prompts {
    map: HashMap<(Lang, String), Arc<[i16]>>,
    /// Music on hold by class (TEL-2).
    music: HashMap<String, Arc<[i16]>>,
    total: usize,
}

impl Prompts {
    /// The built-in prompts.
    pub fn builtin() -> Result<Prompts, PromptError> {
        let mut p = Prompts::default();
        for (lang, name, bytes) in DEFAULT_PROMPTS {
            let Some(lang) = Lang::parse(lang) else {
                continue;
            };
            let samples = decode(bytes, &format!("builtin {}/{name}.wav", lang.code()))?;
            p.insert(lang, name, samples)?;
        }
        for (class, bytes) in DEFAULT_MUSIC {
            let samples = decode(bytes, &format!("builtin music/{class}.wav"))?;
            p.music.insert((*class).to_string(), samples.into());
        }
        Ok(p)
    }

    /// Whether music-on-hold class `class` exists.
    pub fn has_music(&self, class: &str) -> bool {
        self.music.contains_key(class)
    }

    /// The music on hold of `class`, or the default class's.
    pub fn music(&self, class: &str) -> Option<Arc<[i16]>> {
        self.music
            .get(class)
            .or_else(|| self.music.get("default"))
            .cloned()
    }

    /// The built-in prompts, overridden and extended by `dir`'s:
    /// `<lang>/<name>.wav` prompts and `music/<class>.wav` music-on-hold
    /// classes.
    pub fn load(dir: &Path) -> Result<Prompts, PromptError> {
        let mut p = Prompts::builtin()?;
        let entries = std::fs::read_dir(dir).map_err(|e| bad(dir, e.to_string()))?;
        for sub in entries.flatten() {
            let folder = sub.file_name().to_string_lossy().into_owned();
            if folder == "music" {
                for (class, samples) in read_wavs(&sub.path())? {
                    p.music.insert(class, samples.into());
                }
            } else if let Some(lang) = Lang::parse(&folder) {
                for (name, samples) in read_wavs(&sub.path())? {
                    p.insert(lang, &name, samples)?;
                }
            }
        }
        Ok(p)
    }

    fn insert(&mut self, lang: Lang, name: &str, samples: Vec<i16>) -> Result<(), PromptError> {
        let old = self
            .map
            .insert((lang, name.to_string()), samples.into())
            .map_or(0, |o| o.len());
        self.total = self.total - old + self.map[&(lang, name.to_string())].len();
        if self.total > MAX_SAMPLES {
            return Err(PromptError::TooMuch);
        }
        Ok(())
    }

    pub fn get(&self, lang: Lang, name: &str) -> Option<Arc<[i16]>> {
        self.map.get(&(lang, name.to_string())).cloned()
    }

    pub fn contains(&self, lang: Lang, name: &str) -> bool {
        self.map.contains_key(&(lang, name.to_string()))
    }

    /// Seconds of audio held.
    pub fn seconds(&self) -> f64 {
        self.total as f64 / 8000.0
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// How many music-on-hold classes there are (the built-in `default`
    /// included).
    pub fn music_classes(&self) -> usize {
        self.music.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Whether `bytes` is a prompt the library takes (a WAV, mono, 16-bit,
/// 8 or 16 kHz), and its length in 8 kHz samples: the web admin checks
/// an upload with this before it replaces a prompt, so a file pbxd would
/// refuse never reaches the directory. `what` names it in the error.
pub fn check(bytes: &[u8], what: &str) -> Result<usize, PromptError> {
    decode(bytes, what).map(|s| s.len())
}

/// Decodes a WAV file to 8 kHz mono 16-bit samples.
fn decode(bytes: &[u8], what: &str) -> Result<Vec<i16>, PromptError> {
    let bad = |reason: String| PromptError::Bad {
        path: what.to_string(),
        reason,
    };
    let mut r =
        hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let spec = r.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(bad(format!(
            "{} channels, {} bits: prompts are mono 16-bit",
            spec.channels, spec.bits_per_sample
        )));
    }
    let samples: Vec<i16> = r
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    match spec.sample_rate {
        8000 => Ok(samples),
        16000 => {
            let mut out = Vec::with_capacity(samples.len() / 2);
            crate::resample::Downsampler2x::new().process(&samples, &mut out);
            Ok(out)
        }
        other => Err(bad(format!("{other} Hz: prompts are 8 or 16 kHz"))),
    }
}

fn bad(path: &Path, reason: String) -> PromptError {
    PromptError::Bad {
        path: path.display().to_string(),
        reason,
    }
}

/// Every `*.wav` of `dir`, decoded, by file stem; a file that is not a WAV
/// we can take is an error naming it. Hidden files (`.name.new.wav`) are
/// writes in progress, renamed into place when whole: never read.
fn read_wavs(dir: &Path) -> Result<Vec<(String, Vec<i16>)>, PromptError> {
    let files = std::fs::read_dir(dir).map_err(|e| bad(dir, e.to_string()))?;
    let mut out = Vec::new();
    for f in files.flatten() {
        let path: PathBuf = f.path();
        if path.extension().is_none_or(|e| e != "wav")
            || f.file_name().to_string_lossy().starts_with('.')
        {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| bad(&path, e.to_string()))?;
        let samples = decode(&bytes, &path.display().to_string())?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((name, samples));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_prompts_are_all_there_in_both_languages() {
        let p = Prompts::builtin().unwrap();
        for name in [
            "greeting",
            "menu",
            "invalid",
            "please_hold",
            "closed",
            "goodbye",
            "queue_position",
            "expected_wait",
            "minutes",
            "enter_pin",
            "wrong_pin",
            "conference_join",
            "conference_alone",
            "conference_full",
            "not_in_call",
            "forward_on",
            "forward_off",
            "agent_id",
            "agent_in",
            "agent_out",
            "agent_ready",
            "agent_not_ready",
            "agent_reason",
            "wrapup_done",
            "not_agent",
            "blocked",
            "callback_offer",
            "callback_confirmed",
        ] {
            for lang in [Lang::Id, Lang::En] {
                let a = p
                    .get(lang, name)
                    .unwrap_or_else(|| panic!("{lang:?}/{name}"));
                assert!(a.len() > 4000, "{lang:?}/{name}: {} samples", a.len());
            }
        }
        assert!(p.len() >= 20, "room for at least 20 prompts: {}", p.len());
        let moh = p.music("any class").expect("default music on hold");
        assert!(moh.len() >= 8000 * 20, "{} samples", moh.len());
        assert!(p.seconds() > 60.0);
    }

    #[test]
    fn a_directory_overrides_by_name_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("id")).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("id/greeting.wav"), spec).unwrap();
        for i in 0..16000 {
            w.write_sample(((i % 100) * 100) as i16).unwrap();
        }
        w.finalize().unwrap();
        let p = Prompts::load(dir.path()).unwrap();
        // 1 s at 16 kHz becomes 1 s at 8 kHz.
        assert_eq!(p.get(Lang::Id, "greeting").unwrap().len(), 8000);
        assert!(
            p.get(Lang::En, "greeting").unwrap().len() > 4000,
            "the rest stays"
        );

        // A music class of its own beside the default.
        std::fs::create_dir_all(dir.path().join("music")).unwrap();
        std::fs::copy(
            dir.path().join("id/greeting.wav"),
            dir.path().join("music/calm.wav"),
        )
        .unwrap();
        let p = Prompts::load(dir.path()).unwrap();
        assert!(p.has_music("calm") && p.has_music("default"));
        assert_eq!(p.music("calm").unwrap().len(), 8000);
        assert!(
            p.music("other").unwrap().len() > 8000,
            "unknown: the default"
        );

        // A write in progress (hidden, renamed when whole) is not read.
        std::fs::write(dir.path().join("id/.menu.new.wav"), b"half a wav").unwrap();
        let p = Prompts::load(dir.path()).unwrap();
        assert!(!p.contains(Lang::Id, ".menu.new"));
        assert!(check(b"half a wav", "upload").is_err());
        assert_eq!(
            check(
                &std::fs::read(dir.path().join("id/greeting.wav")).unwrap(),
                "g"
            )
            .unwrap(),
            8000
        );

        std::fs::write(dir.path().join("id/menu.wav"), b"not a wav").unwrap();
        let e = Prompts::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("id/menu.wav"), "{e}");
    }
}
