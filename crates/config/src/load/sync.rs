//! The loader's part for syncd (`[sync]`): its spanned mirror, its checks
//! and its plain value. Templates are compiled by syncd at start (the
//! engine lives in `dering-sync`); here the document's shape is checked.

use serde::Deserialize;
use toml::Spanned;

use super::Refusal;
use crate::reason::{Format, Reason};
use crate::sync::{SyncAuth, SyncConfig, DEFAULT_CREATE_TEMPLATE, DEFAULT_UPDATE_TEMPLATE};
use crate::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    endpoint: Spanned<String>,
    #[serde(default)]
    auth: Option<Spanned<String>>,
    #[serde(default)]
    api_key_header: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    create_path: Option<String>,
    #[serde(default)]
    update_path: Option<Spanned<String>>,
    #[serde(default)]
    changes_path: Option<String>,
    #[serde(default)]
    create_template: Option<String>,
    #[serde(default)]
    update_template: Option<String>,
    #[serde(default)]
    id_pointer: Option<Spanned<String>>,
    #[serde(default)]
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    max_in_flight: Option<Spanned<u32>>,
    #[serde(default)]
    backoff_base_ms: Option<Spanned<u64>>,
    #[serde(default)]
    backoff_max_ms: Option<Spanned<u64>>,
    #[serde(default)]
    breaker_failures: Option<Spanned<u32>>,
    #[serde(default)]
    breaker_open_ms: Option<u64>,
    #[serde(default)]
    poll_interval_ms: Option<u64>,
    #[serde(default)]
    alarm_after_minutes: Option<Spanned<u64>>,
}

fn need(
    at: &Refusal,
    place: &Spanned<String>,
    value: &Option<String>,
    key: &str,
) -> Result<String, ConfigError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => Err(at.kind(
            place,
            format!("key `sync.{key}`: needed by this `sync.auth`"),
            Reason::NeededBy(format!("sync.auth = {:?}", place.get_ref())),
        )),
    }
}

/// Checks `[sync]` and makes it plain.
pub(super) fn check(
    at: &Refusal,
    raw: Option<&RawSync>,
) -> Result<Option<SyncConfig>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let endpoint = raw.endpoint.get_ref().trim_end_matches('/').to_string();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(at.kind(
            &raw.endpoint,
            format!("key `sync.endpoint`: {endpoint:?} is not an http:// or https:// URL"),
            Reason::NotA {
                what: Format::Url,
                value: endpoint.to_string(),
            },
        ));
    }
    let kind = raw
        .auth
        .clone()
        .unwrap_or_else(|| Spanned::new(raw.endpoint.span(), "none".into()));
    let auth = match kind.get_ref().as_str() {
        "none" => SyncAuth::None,
        "api_key" => SyncAuth::ApiKey {
            header: raw
                .api_key_header
                .clone()
                .unwrap_or_else(|| "X-API-Key".into()),
            key: need(at, &kind, &raw.api_key, "api_key")?,
        },
        "basic" => SyncAuth::Basic {
            user: need(at, &kind, &raw.user, "user")?,
            password: need(at, &kind, &raw.password, "password")?,
        },
        "oauth2" => SyncAuth::OAuth2 {
            token_url: need(at, &kind, &raw.token_url, "token_url")?,
            client_id: need(at, &kind, &raw.client_id, "client_id")?,
            client_secret: need(at, &kind, &raw.client_secret, "client_secret")?,
            scope: raw.scope.clone(),
        },
        other => {
            return Err(at.kind(
                &kind,
                format!("key `sync.auth`: {other:?} is none of none, api_key, basic, oauth2"),
                Reason::NotOneOf {
                    value: other.to_string().into(),
                    allowed: vec!["none", "api_key", "basic", "oauth2"].into(),
                },
            ))
        }
    };
    let update_path = match &raw.update_path {
        Some(p) if !p.get_ref().contains("{id}") => {
            return Err(at.kind(
                p,
                "key `sync.update_path`: must hold `{id}`".into(),
                Reason::MustHold("{id}".into()),
            ))
        }
        Some(p) => p.get_ref().clone(),
        None => "/tickets/{id}".into(),
    };
    let id_pointer = match &raw.id_pointer {
        Some(p) if !p.get_ref().starts_with('/') => {
            return Err(at.kind(
                p,
                "key `sync.id_pointer`: a JSON pointer starts with `/`".into(),
                Reason::NotA {
                    what: Format::JsonPointer,
                    value: p.get_ref().clone(),
                },
            ))
        }
        Some(p) => p.get_ref().clone(),
        None => "/id".into(),
    };
    let positive = |v: &Option<Spanned<u64>>, key: &str, default: u64| match v {
        Some(s) if *s.get_ref() == 0 => Err(at.kind(
            s,
            format!("key `sync.{key}`: must be above 0"),
            Reason::AtLeast(1),
        )),
        Some(s) => Ok(*s.get_ref()),
        None => Ok(default),
    };
    let timeout_ms = positive(&raw.timeout_ms, "timeout_ms", 10_000)?;
    let backoff_base_ms = positive(&raw.backoff_base_ms, "backoff_base_ms", 1_000)?;
    let backoff_max_ms = positive(&raw.backoff_max_ms, "backoff_max_ms", 300_000)?;
    if backoff_max_ms < backoff_base_ms {
        let place = raw
            .backoff_max_ms
            .clone()
            .unwrap_or_else(|| Spanned::new(0..0, 0));
        return Err(at.kind(
            &place,
            "key `sync.backoff_max_ms`: below `sync.backoff_base_ms`".into(),
            Reason::Below("sync.backoff_base_ms".into()),
        ));
    }
    let count = |v: &Option<Spanned<u32>>, key: &str, default: u32| match v {
        Some(s) if *s.get_ref() == 0 => Err(at.kind(
            s,
            format!("key `sync.{key}`: must be above 0"),
            Reason::AtLeast(1),
        )),
        Some(s) => Ok(*s.get_ref()),
        None => Ok(default),
    };
    Ok(Some(SyncConfig {
        endpoint,
        auth,
        create_path: raw.create_path.clone().unwrap_or_else(|| "/tickets".into()),
        update_path,
        changes_path: raw
            .changes_path
            .clone()
            .unwrap_or_else(|| "/changes".into()),
        create_template: raw
            .create_template
            .clone()
            .unwrap_or_else(|| DEFAULT_CREATE_TEMPLATE.into()),
        update_template: raw
            .update_template
            .clone()
            .unwrap_or_else(|| DEFAULT_UPDATE_TEMPLATE.into()),
        id_pointer,
        timeout_ms,
        max_in_flight: count(&raw.max_in_flight, "max_in_flight", 4)?,
        backoff_base_ms,
        backoff_max_ms,
        breaker_failures: count(&raw.breaker_failures, "breaker_failures", 5)?,
        breaker_open_ms: raw.breaker_open_ms.unwrap_or(30_000),
        poll_interval_ms: raw.poll_interval_ms.unwrap_or(15_000),
        alarm_after_minutes: positive(&raw.alarm_after_minutes, "alarm_after_minutes", 15)?,
    }))
}

#[cfg(test)]
mod tests {
    use crate::SyncAuth;

    fn parse(extra: &str) -> Result<crate::Config, crate::ConfigError> {
        crate::Config::parse(&format!("{}\n{extra}", crate::DEFAULT_TOML), "t.toml")
    }

    #[test]
    fn sync_reads_back_with_its_defaults() {
        assert!(parse("").unwrap().sync.is_none());
        let s = parse("[sync]\nendpoint = \"http://127.0.0.1:8700/api/v1/\"\nauth = \"api_key\"\napi_key = \"k\"\n")
            .unwrap()
            .sync
            .unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:8700/api/v1");
        assert_eq!(
            s.auth,
            SyncAuth::ApiKey {
                header: "X-API-Key".into(),
                key: "k".into()
            }
        );
        assert_eq!(s.update_path, "/tickets/{id}");
        assert_eq!((s.max_in_flight, s.breaker_failures), (4, 5));
        assert_eq!(s.alarm_after_minutes, 15);
    }

    #[test]
    fn syncd_is_expected_only_with_a_sync_table() {
        let plain = parse("").unwrap();
        assert!(!plain.daemons().contains(&"syncd".to_string()));
        let with = plain
            .with_sync_endpoint("http://127.0.0.1:8700/api/v1/")
            .unwrap();
        assert!(with.daemons().contains(&"syncd".to_string()));
        let s = with.sync.unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:8700/api/v1");
        assert_eq!(s.alarm_after_minutes, 15, "the defaults");
        let e = parse("")
            .unwrap()
            .with_sync_endpoint("ftp://x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--simpel") && e.contains("sync.endpoint"), "{e}");
        let own = parse("[sync]\nendpoint = \"http://a\"\nmax_in_flight = 9\n")
            .unwrap()
            .with_sync_endpoint("http://b")
            .unwrap()
            .sync
            .unwrap();
        assert_eq!((own.endpoint.as_str(), own.max_in_flight), ("http://b", 9));
    }

    #[test]
    fn sync_errors_name_line_and_key() {
        let cases = [
            ("[sync]\nendpoint = \"ftp://x\"\n", 2, "sync.endpoint"),
            (
                "[sync]\nendpoint = \"http://x\"\nauth = \"oauth2\"\n",
                3,
                "sync.token_url",
            ),
            (
                "[sync]\nendpoint = \"http://x\"\nauth = \"kerberos\"\n",
                3,
                "sync.auth",
            ),
            (
                "[sync]\nendpoint = \"http://x\"\nupdate_path = \"/t\"\n",
                3,
                "sync.update_path",
            ),
            (
                "[sync]\nendpoint = \"http://x\"\nmax_in_flight = 0\n",
                3,
                "sync.max_in_flight",
            ),
            (
                "[sync]\nendpoint = \"http://x\"\nalarm_after_minutes = 0\n",
                3,
                "sync.alarm_after_minutes",
            ),
        ];
        for (text, line, key) in cases {
            let e = parse(text).unwrap_err().to_string();
            // The extra text starts after the default's lines and a blank one.
            let line = crate::DEFAULT_TOML.lines().count() + 1 + line;
            let want = format!("t.toml:{line}: key `{key}`");
            assert!(e.starts_with(&want), "{e} / {want}");
        }
    }
}
