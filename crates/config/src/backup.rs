//! `[backup]`: the daily backup of the database and the configuration
//! (OPS-4, decision 0032): where it goes, how many are kept and at what
//! time of day it runs. Without the table the box takes no backup and
//! raises no backup alarm.

use std::path::PathBuf;

/// How many backups are kept when the file does not say.
pub const DEFAULT_KEEP: u32 = 14;
/// The most a destination keeps (a year of daily backups).
pub const MAX_KEEP: u32 = 366;
/// 02:30 in the box's zone: after the evening shift, before the morning.
pub const DEFAULT_AT_MINUTES: u32 = 2 * 60 + 30;

/// `[backup]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// A removable disk's mount point or a mounted network share; it
    /// must exist when the backup runs (an absent disk is an alarm, not
    /// a backup written under an empty mount point).
    pub destination: PathBuf,
    /// How many backups the destination keeps, newest first.
    pub keep: u32,
    /// When the daily backup runs, in minutes after midnight in the
    /// box's zone (`time = "02:30"`).
    pub at_minutes: u32,
}

/// Minutes after midnight of `HH:MM`, if it is a time of day.
pub fn time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use crate::{Config, DEFAULT_TOML};

    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn the_table_gives_destination_count_and_time_with_defaults() {
        let c = Config::parse(DEFAULT_TOML, "f.toml").unwrap();
        assert_eq!(c.backup, None, "no table, no backup");
        let text = format!("{DEFAULT_TOML}\n[backup]\ndestination = \"/media/backup\"\n");
        let b = Config::parse(&text, "f.toml").unwrap().backup.unwrap();
        assert_eq!(b.destination, std::path::Path::new("/media/backup"));
        assert_eq!((b.keep, b.at_minutes), (14, 150));
        let text = format!(
            "{DEFAULT_TOML}\n[backup]\ndestination = \"/mnt/share\"\nkeep = 30\ntime = \"23:05\"\n"
        );
        let b = Config::parse(&text, "f.toml").unwrap().backup.unwrap();
        assert_eq!((b.keep, b.at_minutes), (30, 23 * 60 + 5));
        assert_eq!(super::time_of_day("24:00"), None);
        assert_eq!(super::time_of_day("7:00"), None);
    }

    #[test]
    fn bad_backup_settings_name_line_and_key() {
        let cases = [
            ("destination = \"backup\"", "backup.destination"),
            ("destination = \"/m\"\nkeep = 0", "backup.keep"),
            ("destination = \"/m\"\nkeep = 400", "backup.keep"),
            ("destination = \"/m\"\ntime = \"3am\"", "backup.time"),
            ("destination = \"/m\"\ntime = \"25:00\"", "backup.time"),
            ("destination = \"/m\"\nretention = 3", "retention"),
            ("keep = 3", "destination"),
        ];
        for (body, key) in cases {
            let text = format!("{DEFAULT_TOML}\n[backup]\n{body}\n");
            let e = Config::parse(&text, "f.toml").unwrap_err().to_string();
            let needle = body.lines().last().unwrap_or(body);
            // A missing key is refused at its table, the last `[backup]`
            // (the default file has one in a comment).
            let line = if key == "destination" {
                text.lines()
                    .collect::<Vec<_>>()
                    .iter()
                    .rposition(|l| *l == "[backup]")
                    .unwrap()
                    + 1
            } else {
                line_containing(&text, needle)
            };
            assert!(e.starts_with(&format!("f.toml:{line}:")), "{body}: {e}");
            assert!(e.contains(key), "{body}: {e}");
        }
    }
}
