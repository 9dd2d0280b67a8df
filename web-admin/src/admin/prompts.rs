//! Prompts and music on hold uploaded from the browser: a WAV or MP3 file
//! is converted to the box's format (8 kHz, mono, 16-bit WAV) by the
//! system's `sox` (MP3 decoded first by `lame`, which the recorder uses
//! already) and written where pbxd reads prompts: `<prompts>/<lang>/
//! <name>.wav`, music classes in `<prompts>/music/<class>.wav` (the
//! layout of `dering_media::prompts::Prompts::load`).
//!
//! Changes are live (decision 0025): a converted upload is checked with
//! the decoder pbxd plays it with, renamed into place with the old file
//! kept aside, and pbxd is asked to reload (`Request::ReloadPrompts`). If
//! pbxd refuses the directory, the old file comes back and the upload is
//! refused naming the file; calls in progress keep the prompt they play.
//! With pbxd stopped, the file waits for its next start. Who made a
//! prompt (a login here, an extension by the phone's feature code) is in
//! `<name>.json` beside it (`pbxd::prompt_store::Meta`).

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// The folders a prompt may go in: a language, or `music` (on hold).
pub const FOLDERS: &[&str] = &["id", "en", "music"];

/// Bigger uploads are refused (a prompt of minutes, not an album).
pub const MAX_UPLOAD: usize = 20 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{field}: {message}")]
    Refused {
        field: &'static str,
        message: String,
    },
    #[error("converting the upload: {0}")]
    Convert(String),
    #[error("prompts directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("asking pbxd to reload the prompts: {0}")]
    Pbxd(String),
}

fn refused(field: &'static str, message: impl Into<String>) -> PromptError {
    PromptError::Refused {
        field,
        message: message.into(),
    }
}

/// A stored prompt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PromptFile {
    pub folder: String,
    pub name: String,
    pub bytes: u64,
    /// Who made it and how, when the box knows (`web` uploads, `phone`
    /// recordings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made: Option<pbxd::prompt_store::Meta>,
}

/// Where pbxd reads prompts: `[flows] prompts`, else `<data>/prompts`
/// (which `[flows] prompts` must then name for pbxd to use it).
pub fn directory(data_dir: &Path, configured: Option<&Path>) -> PathBuf {
    configured.map_or_else(|| data_dir.join("prompts"), Path::to_path_buf)
}

/// The file of `folder`/`name`, both checked: a name never escapes the
/// directory.
pub fn path_of(dir: &Path, folder: &str, name: &str) -> Result<PathBuf, PromptError> {
    if !FOLDERS.contains(&folder) {
        return Err(refused("folder", format!("one of {}", FOLDERS.join(", "))));
    }
    let valid = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        return Err(refused("name", "1 to 40 of a-z, 0-9, _ and -"));
    }
    Ok(dir.join(folder).join(format!("{name}.wav")))
}

/// Every stored prompt, by folder and name.
pub fn list(dir: &Path) -> Result<Vec<PromptFile>, PromptError> {
    let mut out = Vec::new();
    for folder in FOLDERS {
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            // Hidden files are writes in progress and kept-aside old ones.
            if path.extension().is_some_and(|x| x == "wav")
                && !e.file_name().to_string_lossy().starts_with('.')
            {
                out.push(PromptFile {
                    folder: folder.to_string(),
                    name: path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    bytes: e.metadata().map(|m| m.len()).unwrap_or(0),
                    made: pbxd::prompt_store::read_meta(&path),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.folder, &a.name).cmp(&(&b.folder, &b.name)));
    Ok(out)
}

/// WAV or MP3, told by the file's first bytes (not by what the browser
/// claims).
fn kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
        Some("wav")
    } else if bytes.starts_with(b"ID3")
        || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
    {
        Some("mp3")
    } else {
        None
    }
}

async fn run(cmd: &mut Command) -> Result<(), PromptError> {
    let out = cmd
        .output()
        .await
        .map_err(|e| PromptError::Convert(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PromptError::Convert(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// A prompt file changed in place, its predecessor kept aside (hidden)
/// until pbxd has taken the new library: [`Placed::keep`] drops the old
/// file, [`Placed::undo`] puts it back.
#[derive(Debug)]
#[must_use]
pub struct Placed {
    target: PathBuf,
    /// The old file, moved aside; `None`: there was none.
    aside: Option<PathBuf>,
    /// Whether `target` now holds a new file (an upload) or none (a
    /// delete).
    written: bool,
}

impl Placed {
    /// The change stays: the old file goes.
    pub async fn keep(self) {
        if let Some(aside) = &self.aside {
            let _ = tokio::fs::remove_file(aside).await;
        }
    }

    /// The change is taken back: the old file returns (or the new one
    /// goes, when there was none before).
    pub async fn undo(self) -> Result<(), PromptError> {
        match &self.aside {
            Some(aside) => tokio::fs::rename(aside, &self.target).await?,
            None if self.written => tokio::fs::remove_file(&self.target).await?,
            None => {}
        }
        Ok(())
    }
}

/// The hidden name `target`'s old file waits under while pbxd reloads.
fn aside_of(target: &Path) -> PathBuf {
    let stem = target
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{stem}.old.wav"))
}

/// Moves `target` aside if it exists; whether it did.
async fn move_aside(target: &Path) -> Result<Option<PathBuf>, PromptError> {
    if !tokio::fs::try_exists(target).await? {
        return Ok(None);
    }
    let aside = aside_of(target);
    tokio::fs::rename(target, &aside).await?;
    Ok(Some(aside))
}

/// Converts `upload` to the box's format, checks it plays, and puts it in
/// place as `target`, the prompt it replaces kept aside (see [`Placed`]).
pub async fn store(upload: &[u8], target: &Path) -> Result<Placed, PromptError> {
    if upload.len() > MAX_UPLOAD {
        return Err(refused("file", "larger than 20 MB"));
    }
    let kind = kind(upload).ok_or_else(|| refused("file", "not a WAV or MP3 file"))?;
    let folder = target
        .parent()
        .ok_or_else(|| PromptError::Convert("no folder".into()))?;
    tokio::fs::create_dir_all(folder).await?;
    let stem = target
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let upload_path = folder.join(format!(".{stem}.upload.{kind}"));
    let decoded = folder.join(format!(".{stem}.decoded.wav"));
    let converted = folder.join(format!(".{stem}.new.wav"));
    tokio::fs::write(&upload_path, upload).await?;
    let result = async {
        let source = if kind == "mp3" {
            run(Command::new("lame")
                .args(["--quiet", "--decode"])
                .arg(&upload_path)
                .arg(&decoded))
            .await
            .map_err(|_| refused("file", "the MP3 could not be decoded"))?;
            &decoded
        } else {
            &upload_path
        };
        run(Command::new("sox")
            .arg(source)
            .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
            .arg(&converted))
        .await
        .map_err(|e| match e {
            PromptError::Convert(m) => refused("file", format!("not readable audio: {m}")),
            other => other,
        })?;
        // What pbxd will decode, decoded here first: a file it would
        // refuse never replaces a prompt.
        let bytes = tokio::fs::read(&converted).await?;
        match dering_media::prompts::check(&bytes, "upload") {
            Ok(0) => return Err(refused("file", "no audio in it")),
            Ok(_) => {}
            Err(e) => return Err(refused("file", e.to_string())),
        }
        let aside = move_aside(target).await?;
        if let Err(e) = tokio::fs::rename(&converted, target).await {
            if let Some(a) = &aside {
                let _ = tokio::fs::rename(a, target).await;
            }
            return Err(e.into());
        }
        Ok(Placed {
            target: target.to_path_buf(),
            aside,
            written: true,
        })
    }
    .await;
    for leftover in [&upload_path, &decoded, &converted] {
        let _ = tokio::fs::remove_file(leftover).await;
    }
    result
}

/// Takes prompt `target` away (kept aside until pbxd reloaded); a name
/// with no file is refused naming the name.
pub async fn remove(target: &Path) -> Result<Placed, PromptError> {
    let aside = move_aside(target)
        .await?
        .ok_or_else(|| refused("name", "no such prompt"))?;
    Ok(Placed {
        target: target.to_path_buf(),
        aside: Some(aside),
        written: false,
    })
}

/// What pbxd did with a changed directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "pbxd", rename_all = "snake_case")]
pub enum Reloaded {
    /// It plays the new library from the next call on.
    Live { prompts: usize, music: usize },
    /// It is not running: it reads the directory when it starts.
    Stopped,
}

/// Asks pbxd to read the prompts directory again. A refusal (a file it
/// cannot play) is refused naming the file field.
pub async fn reload(data_dir: &Path) -> Result<Reloaded, PromptError> {
    use dering_control::client::{self, ClientError};
    use dering_control::{ControlError, Request, Response};
    match client::request(data_dir, &Request::ReloadPrompts).await {
        Ok(Response::PromptsReloaded { prompts, music }) => Ok(Reloaded::Live { prompts, music }),
        Ok(other) => Err(PromptError::Pbxd(format!(
            "unexpected answer {}",
            other.kind()
        ))),
        Err(ClientError::Refused(ControlError::BadPrompts { message })) => {
            Err(refused("file", format!("pbxd cannot play it: {message}")))
        }
        // No pbxd to ask: the directory is read at its start.
        Err(ClientError::Connect { .. }) => Ok(Reloaded::Stopped),
        Err(e) => Err(PromptError::Pbxd(e.to_string())),
    }
}

/// Makes a placed change live: pbxd reloads and the old file goes, or
/// pbxd refuses and the old file comes back (the error names the field).
pub async fn apply(placed: Placed, data_dir: &Path) -> Result<Reloaded, PromptError> {
    match reload(data_dir).await {
        Ok(r) => {
            placed.keep().await;
            Ok(r)
        }
        Err(e) => {
            placed.undo().await?;
            // pbxd goes back to the library it had (the old file).
            let _ = reload(data_dir).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second of 440 Hz at 44.1 kHz stereo, made by sox.
    async fn cd_quality_wav(dir: &Path) -> Vec<u8> {
        let p = dir.join("in.wav");
        run(Command::new("sox")
            .args(["-n", "-r", "44100", "-c", "2", "-b", "16"])
            .arg(&p)
            .args(["synth", "1", "sine", "440"]))
        .await
        .expect("sox makes a tone");
        std::fs::read(&p).expect("tone file")
    }

    fn spec(path: &Path) -> (u16, u32, u16) {
        let bytes = std::fs::read(path).expect("stored prompt");
        let le16 = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let le32 =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        (le16(22), le32(24), le16(34))
    }

    #[tokio::test]
    async fn an_upload_is_stored_as_8_khz_mono_16_bit() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let upload = cd_quality_wav(tmp.path()).await;
        let dir = tmp.path().join("prompts");
        let target = path_of(&dir, "id", "salam_pembuka").expect("valid name");
        store(&upload, &target).await.expect("stored").keep().await;
        assert_eq!(spec(&target), (1, 8000, 16), "channels, rate, bits");
        let listed = list(&dir).expect("list");
        assert_eq!(listed.len(), 1, "no leftovers listed: {listed:?}");
        assert_eq!(
            (listed[0].folder.as_str(), listed[0].name.as_str()),
            ("id", "salam_pembuka")
        );
        let left: Vec<_> = std::fs::read_dir(dir.join("id"))
            .expect("folder")
            .flatten()
            .collect();
        assert_eq!(left.len(), 1, "temporary files removed");
    }

    #[tokio::test]
    async fn names_and_contents_are_checked() {
        let tmp = tempfile::tempdir().expect("temp dir");
        for (folder, name, field) in [
            ("id", "../etc/passwd", "name"),
            ("fr", "salam", "folder"),
            ("id", "", "name"),
        ] {
            match path_of(tmp.path(), folder, name) {
                Err(PromptError::Refused { field: f, .. }) => {
                    assert_eq!(f, field, "{folder}/{name}")
                }
                other => panic!("{folder}/{name}: {other:?}"),
            }
        }
        let target = path_of(tmp.path(), "music", "tenang").expect("valid");
        match store(b"<html>not audio</html>", &target).await {
            Err(PromptError::Refused { field: "file", .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(!target.exists());
    }
}
