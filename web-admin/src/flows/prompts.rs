//! The prompts a flow may play, as pbxd knows them: the built-in ones
//! overridden and extended by `[flows] prompts` (`<lang>/<name>.wav`),
//! the same rule as `dering_media::prompts::Prompts::load`. Only names and
//! files are needed here (the editor lists them, the validator asks for
//! them, the page plays the WAV as it is), so nothing is decoded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dering_media::prompts::DEFAULT_PROMPTS;
use dering_media::speech::Lang;
use serde::Serialize;

/// The box's prompt names, by language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Catalogue {
    /// Language code to names.
    pub names: BTreeMap<&'static str, BTreeSet<String>>,
    /// The override directory, if any.
    #[serde(skip)]
    dir: Option<PathBuf>,
}

impl Catalogue {
    /// The built-in prompts plus those in `dir`. An unreadable `dir` adds
    /// nothing (pbxd would have refused to start on it, so its prompts
    /// are not running either).
    pub fn load(dir: Option<&Path>) -> Catalogue {
        let mut c = Catalogue {
            dir: dir.map(Path::to_path_buf),
            ..Catalogue::default()
        };
        for (lang, name, _) in DEFAULT_PROMPTS {
            if let Some(l) = Lang::parse(lang) {
                c.names
                    .entry(l.code())
                    .or_default()
                    .insert((*name).to_string());
            }
        }
        if let Some(dir) = dir {
            for lang in [Lang::Id, Lang::En] {
                let Ok(files) = std::fs::read_dir(dir.join(lang.code())) else {
                    continue;
                };
                for f in files.flatten() {
                    let p = f.path();
                    // Hidden files are writes in progress, as pbxd skips them.
                    if p.extension().is_some_and(|e| e == "wav")
                        && !f.file_name().to_string_lossy().starts_with('.')
                    {
                        if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                            c.names
                                .entry(lang.code())
                                .or_default()
                                .insert(stem.to_string());
                        }
                    }
                }
            }
        }
        c
    }

    /// Whether prompt `name` exists in `lang`: the validator's question.
    pub fn contains(&self, lang: Lang, name: &str) -> bool {
        self.names
            .get(lang.code())
            .is_some_and(|n| n.contains(name))
    }

    /// The WAV file of prompt `name` in `lang`, as pbxd would play it:
    /// the override directory's, else the built-in one.
    pub fn wav(&self, lang: Lang, name: &str) -> Option<Vec<u8>> {
        if !is_name(name) || !self.contains(lang, name) {
            return None;
        }
        if let Some(dir) = &self.dir {
            let path = dir.join(lang.code()).join(format!("{name}.wav"));
            if let Ok(bytes) = std::fs::read(path) {
                return Some(bytes);
            }
        }
        DEFAULT_PROMPTS
            .iter()
            .find(|(l, n, _)| *l == lang.code() && *n == name)
            .map(|(_, _, bytes)| bytes.to_vec())
    }
}

/// A prompt name that can only be a file name inside the directory
/// (no separators, no `..`).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is the failure report

    use super::*;

    #[test]
    fn the_catalogue_answers_the_validator_like_the_decoded_library() {
        let c = Catalogue::load(None);
        let p = dering_media::prompts::Prompts::builtin().unwrap();
        for (lang, names) in &c.names {
            let lang = Lang::parse(lang).unwrap();
            for n in names {
                assert!(p.contains(lang, n), "{n}");
            }
        }
        assert_eq!(c.names.values().map(BTreeSet::len).sum::<usize>(), p.len());
        assert!(c.contains(Lang::Id, "greeting"));
        assert!(!c.contains(Lang::Id, "nope"));
        assert!(c.wav(Lang::En, "greeting").unwrap().starts_with(b"RIFF"));
    }

    #[test]
    fn the_directory_overrides_and_extends_and_paths_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("id")).unwrap();
        std::fs::write(dir.path().join("id/greeting.wav"), b"RIFFmine").unwrap();
        std::fs::write(dir.path().join("id/survey.wav"), b"RIFFnew").unwrap();
        std::fs::write(dir.path().join("secret.wav"), b"no").unwrap();
        let c = Catalogue::load(Some(dir.path()));
        assert_eq!(c.wav(Lang::Id, "greeting").unwrap(), b"RIFFmine");
        assert_eq!(c.wav(Lang::Id, "survey").unwrap(), b"RIFFnew");
        assert!(c.contains(Lang::Id, "survey"));
        assert!(!c.contains(Lang::En, "survey"), "one language only");
        assert_eq!(c.wav(Lang::Id, "../secret"), None);
        assert!(c.wav(Lang::En, "greeting").unwrap().starts_with(b"RIFF"));
    }
}
