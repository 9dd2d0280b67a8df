//! The loader's part for `[acd] wrapup_codes`: the codes an agent closes a
//! call's after-call work with on the desktop (issue 16), each a plain
//! name (it goes into the ACD journal and reports) with the words the
//! page shows.

use serde::Deserialize;
use toml::Spanned;

use super::Refusal;
use crate::reason::{Format, Reason};
use crate::{ConfigError, WrapupCode};

/// One `{ code = "...", name = "..." }` of the list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWrapup {
    code: Spanned<String>,
    name: String,
}

pub(super) fn defaults() -> Spanned<Vec<RawWrapup>> {
    super::unspanned(
        crate::default_wrapup_codes()
            .into_iter()
            .map(|w| RawWrapup {
                code: super::unspanned(w.code),
                name: w.name,
            })
            .collect(),
    )
}

/// The list checked: not empty, each code a name, none twice.
pub(super) fn check(at: &Refusal, list: &Spanned<Vec<RawWrapup>>) -> Result<(), ConfigError> {
    const KEY: &str = "acd.wrapup_codes";
    if list.get_ref().is_empty() {
        return Err(at.refuse(list, KEY, Reason::Empty));
    }
    let mut seen = std::collections::HashSet::new();
    for w in list.get_ref() {
        let code = w.code.get_ref();
        let plain = !code.is_empty()
            && code.len() <= 40
            && code
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !plain {
            return Err(at.refuse(
                &w.code,
                KEY,
                Reason::NotA {
                    what: Format::Name,
                    value: code.clone(),
                },
            ));
        }
        if !seen.insert(code.as_str()) {
            return Err(at.refuse(&w.code, KEY, Reason::Duplicate(code.clone())));
        }
    }
    Ok(())
}

pub(super) fn plain(list: Spanned<Vec<RawWrapup>>) -> Vec<WrapupCode> {
    list.into_inner()
        .into_iter()
        .map(|w| WrapupCode {
            code: w.code.into_inner(),
            name: w.name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::Reason;

    fn with(list: &str) -> Result<crate::Config, crate::ConfigError> {
        let text = crate::DEFAULT_TOML.replacen("[acd]\n", &format!("[acd]\n{list}\n"), 1);
        crate::Config::parse(&text, "t.toml")
    }

    /// Line of `[acd]`'s first key in the default document, 1-based.
    fn acd_line() -> usize {
        crate::DEFAULT_TOML
            .lines()
            .position(|l| l == "[acd]")
            .map_or(0, |i| i + 2)
    }

    #[test]
    fn wrapup_codes_default_to_the_desktop_s_list() {
        let codes = with("").unwrap().acd.wrapup_codes;
        let names: Vec<_> = codes.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(
            names,
            [
                "informasi",
                "pengaduan",
                "tindak-lanjut",
                "salah-sambung",
                "lainnya"
            ]
        );
        assert_eq!(codes[0].name, "Permintaan informasi");
    }

    #[test]
    fn wrapup_codes_read_back_what_is_set() {
        let c = with(r#"wrapup_codes = [{ code = "spam", name = "Iseng" }]"#).unwrap();
        assert_eq!(c.acd.wrapup_codes.len(), 1);
        assert_eq!(c.acd.wrapup_codes[0].code, "spam");
        assert_eq!(c.acd.wrapup_codes[0].name, "Iseng");
    }

    #[test]
    fn wrapup_codes_refusals_name_line_key_and_reason() {
        let cases = [
            ("wrapup_codes = []", Reason::Empty),
            (
                r#"wrapup_codes = [{ code = "a b", name = "x" }]"#,
                Reason::NotA {
                    what: crate::reason::Format::Name,
                    value: "a b".into(),
                },
            ),
            (
                r#"wrapup_codes = [{ code = "a", name = "x" }, { code = "a", name = "y" }]"#,
                Reason::Duplicate("a".into()),
            ),
        ];
        for (list, reason) in cases {
            let e = with(list).unwrap_err();
            let want = format!("t.toml:{}: key `acd.wrapup_codes`", acd_line());
            assert!(e.to_string().starts_with(&want), "{e} / {want}");
            match e {
                crate::ConfigError::Invalid { reason: r, .. } => assert_eq!(r, reason),
                e => panic!("{e:?}"),
            }
        }
    }
}
