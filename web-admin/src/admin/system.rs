//! The system screen's parts beyond its settings (issue 15 §2): the NTP
//! servers of `[system] ntp` written as chrony's sources file and
//! reloaded, chrony's sync state when `chronyc` answers, and the
//! configuration backup (every version in one download) and restore (an
//! uploaded document or backup, checked by the loader and applied as the
//! next version). webd runs as user `dering` and writes only its own
//! drop-in, `dering.sources` (decision 0026).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

use crate::i18n::{Lang, Text};
use crate::ui::esc;

/// chrony's drop-in that holds the box's servers (chrony reads
/// `sourcedir /etc/chrony/sources.d` for `*.sources`).
pub const SOURCES_FILE: &str = "dering.sources";

/// How long `chronyc` may take before its answer counts as none.
const CHRONYC_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the sources file goes: `[system] ntp_sources_dir`, else the data
/// directory (a demo or test box never touches the host's chrony).
pub fn sources_dir(data_dir: &Path, system: &dering_config::System) -> PathBuf {
    system
        .ntp_sources_dir
        .clone()
        .unwrap_or_else(|| data_dir.to_path_buf())
}

/// The file's text: one `server … iburst` a line. The loader allowed
/// only host names and addresses, so no line can carry a directive.
pub fn sources_text(servers: &[String], version: i64) -> String {
    let mut s = format!(
        "# Written by Dering's web admin from [system] ntp (configuration version {version}).\n\
         # Change the servers there: this file is rewritten on every change.\n"
    );
    for server in servers {
        s.push_str(&format!("server {server} iburst\n"));
    }
    s
}

/// What became of a change of servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "ntp", rename_all = "snake_case")]
pub enum NtpApplied {
    /// Written, and chrony re-read its sources.
    Reloaded { file: PathBuf },
    /// Written; chrony takes it at its next reload or start (no
    /// `chronyc`, or it refused: the message).
    Written { file: PathBuf, reload: String },
    /// Not written (the message): the configuration is stored all the same.
    NotWritten { file: PathBuf, error: String },
}

/// Writes the servers of `cfg` and asks chrony to re-read them. The file
/// is written in place: on the appliance the directory is root's and only
/// the file is `dering`'s (tmpfiles), so no rename is possible there.
pub async fn apply_ntp(data_dir: &Path, cfg: &dering_config::Config, version: i64) -> NtpApplied {
    let file = sources_dir(data_dir, &cfg.system).join(SOURCES_FILE);
    let text = sources_text(&cfg.system.ntp, version);
    let same_servers = tokio::fs::read_to_string(&file)
        .await
        .ok()
        .is_some_and(|old| servers_of(&old) == cfg.system.ntp);
    if same_servers {
        // Same servers: chrony need not be disturbed.
        return NtpApplied::Written {
            file,
            reload: "unchanged".into(),
        };
    }
    if let Err(e) = tokio::fs::write(&file, text).await {
        tracing::warn!(file = %file.display(), error = %e, "NTP sources not written");
        return NtpApplied::NotWritten {
            file,
            error: e.to_string(),
        };
    }
    match chronyc(&["reload", "sources"]).await {
        Ok(_) => {
            tracing::info!(file = %file.display(), "NTP sources written, chrony reloaded");
            NtpApplied::Reloaded { file }
        }
        Err(reload) => {
            tracing::info!(file = %file.display(), %reload, "NTP sources written, chrony not reloaded");
            NtpApplied::Written { file, reload }
        }
    }
}

/// The servers a sources file names.
fn servers_of(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("server "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Runs `chronyc ARGS`, its standard output when it succeeds.
async fn chronyc(args: &[&str]) -> Result<String, String> {
    let child = tokio::process::Command::new("chronyc")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(CHRONYC_TIMEOUT, child).await {
        Err(_) => Err("chronyc did not answer".into()),
        Ok(Err(e)) => Err(format!("chronyc: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into()),
        Ok(Ok(out)) => Err(format!(
            "chronyc: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The lines of `chronyc tracking` an admin looks at, as (name, value).
pub fn tracking_rows(text: &str) -> Vec<(String, String)> {
    const SHOWN: [&str; 5] = [
        "Reference ID",
        "Stratum",
        "System time",
        "Last offset",
        "Leap status",
    ];
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| SHOWN.contains(&k.as_str()))
        .collect()
}

/// chrony's sync state, or none when `chronyc` is missing or its daemon
/// does not answer.
pub async fn tracking() -> Option<Vec<(String, String)>> {
    let rows = tracking_rows(&chronyc(&["-n", "tracking"]).await.ok()?);
    (!rows.is_empty()).then_some(rows)
}

const TIME: Text = Text {
    id: "Waktu dan NTP",
    en: "Time and NTP",
};
const NOT_AVAILABLE: Text = Text {
    id: "Status sinkronisasi: tidak tersedia (chrony tidak menjawab)",
    en: "Sync state: not available (chrony does not answer)",
};
const SOURCES: Text = Text {
    id: "Berkas sumber chrony",
    en: "chrony sources file",
};
const BACKUP: Text = Text {
    id: "Cadangan dan pemulihan konfigurasi",
    en: "Configuration backup and restore",
};
const DOWNLOAD: Text = Text {
    id: "Unduh cadangan (dering.toml saat ini dan semua versi)",
    en: "Download a backup (the current dering.toml and every version)",
};
const RESTORE: Text = Text {
    id: "Pulihkan dari berkas (dering.toml atau cadangan .json), diperiksa lalu diterapkan sebagai versi baru",
    en: "Restore from a file (dering.toml or a .json backup), checked then applied as a new version",
};
const RESTORE_BUTTON: Text = Text {
    id: "Pulihkan",
    en: "Restore",
};
const CERTIFICATE: Text = Text {
    id: "Sertifikat HTTPS",
    en: "HTTPS certificate",
};

/// The time block: the servers' file and chrony's state.
pub fn time_block(lang: Lang, file: &Path, tracking: Option<&[(String, String)]>) -> String {
    let mut s = format!(
        "<h2>{}</h2><p>{}: <code>{}</code></p>",
        esc(lang.t(&TIME)),
        esc(lang.t(&SOURCES)),
        esc(&file.display().to_string())
    );
    match tracking {
        Some(rows) => {
            s.push_str("<table class=\"ntp\"><tbody>");
            for (k, v) in rows {
                s.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)));
            }
            s.push_str("</tbody></table>");
        }
        None => s.push_str(&format!(
            "<p class=\"ntp-state\">{}</p>",
            esc(lang.t(&NOT_AVAILABLE))
        )),
    }
    s
}

/// The certificate's fingerprint and the way to its page.
pub fn certificate_block(lang: Lang, fingerprint: Option<&str>) -> String {
    format!(
        "<h2>{}</h2><p><code class=\"fingerprint\">{}</code> <a href=\"/certificate\">→</a></p>",
        esc(lang.t(&CERTIFICATE)),
        esc(fingerprint.unwrap_or("-"))
    )
}

/// The backup link and, for an admin, the restore upload (sent by
/// `admin.js` to `/api/v1/admin/restore` with the CSRF header).
pub fn backup_block(lang: Lang, admin: bool, csrf: &str) -> String {
    if !admin {
        return String::new();
    }
    format!(
        "<h2>{}</h2><p><a id=\"backup\" href=\"/api/v1/admin/backup\" download>{}</a></p>\
         <form id=\"config-restore\" data-csrf=\"{}\"><label>{}\
         <input name=\"file\" type=\"file\" accept=\".toml,.json,application/toml,application/json\" required></label>\
         <button type=\"submit\">{}</button> <span class=\"status\" role=\"status\"></span></form>",
        esc(lang.t(&BACKUP)),
        esc(lang.t(&DOWNLOAD)),
        esc(csrf),
        esc(lang.t(&RESTORE)),
        esc(lang.t(&RESTORE_BUTTON))
    )
}

/// One download of the configuration: the running document and every
/// version with its author and summary (a restore takes `document`).
#[derive(Debug, Serialize)]
pub struct Backup {
    pub format: &'static str,
    pub current_version: i64,
    pub document: String,
    pub versions: Vec<dering_store::ConfigVersion>,
}

/// What the restore form sent: a plain `dering.toml`, or a [`Backup`]
/// whose `document` is taken.
pub fn restored_document(upload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(upload)
        .ok()
        .and_then(|v| v.get("document")?.as_str().map(str::to_string))
        .unwrap_or_else(|| upload.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sources_file_has_one_server_line_each() {
        let text = sources_text(&["ntp.bmkg.go.id".into(), "192.0.2.123".into()], 7);
        assert!(text.contains("version 7"));
        assert!(text.ends_with("server ntp.bmkg.go.id iburst\nserver 192.0.2.123 iburst\n"));
        assert_eq!(servers_of(&text), ["ntp.bmkg.go.id", "192.0.2.123"]);
    }

    /// Captured from `chronyc -n tracking` on a Debian box.
    #[test]
    fn chrony_tracking_is_read() {
        let text = "Reference ID    : C0000201 (192.0.2.1)\n\
                    Stratum         : 3\n\
                    Ref time (UTC)  : Fri Dec 04 18:00:00 2026\n\
                    System time     : 0.000012000 seconds fast of NTP time\n\
                    Last offset     : -0.000003000 seconds\n\
                    Leap status     : Normal\n";
        let rows = tracking_rows(text);
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows[0],
            ("Reference ID".into(), "C0000201 (192.0.2.1)".into())
        );
        assert_eq!(rows[4], ("Leap status".into(), "Normal".into()));
        assert!(tracking_rows("506 Cannot talk to daemon").is_empty());
    }

    #[test]
    fn a_backup_or_a_plain_document_is_restored() {
        assert_eq!(
            restored_document("{\"format\":\"dering-backup\",\"document\":\"[sip]\\n\"}"),
            "[sip]\n"
        );
        assert_eq!(
            restored_document("[sip]\nbind = \"x\"\n"),
            "[sip]\nbind = \"x\"\n"
        );
    }
}
