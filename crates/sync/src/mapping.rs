//! The field mapping (SYNC-4): an outbox row made into SIMPEL's request
//! by the technician's templates from `[sync]`. A template that does not
//! compile stops syncd at start; one whose output is not JSON makes its
//! row a dead letter (fix the template, retry the row).

use dering_config::SyncConfig;
use minijinja::Environment;

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("key `sync.{key}`: {error}")]
    Template { key: &'static str, error: String },
    #[error("the outbox row's payload: {0}")]
    Payload(String),
    #[error("the {key} template did not give JSON: {error}")]
    NotJson { key: &'static str, error: String },
    #[error("an update before SIMPEL's id of the ticket is known")]
    NoUpstreamId,
}

/// One request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST` or `PATCH`.
    pub method: &'static str,
    /// The whole URL.
    pub url: String,
    pub body: String,
}

#[derive(Debug)]
pub struct Mapping {
    env: Environment<'static>,
    endpoint: String,
    create_path: String,
    update_path: String,
}

impl Mapping {
    pub fn new(c: &SyncConfig) -> Result<Mapping, MappingError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template_owned("create_template", c.create_template.clone())
            .map_err(|e| MappingError::Template {
                key: "create_template",
                error: e.to_string(),
            })?;
        env.add_template_owned("update_template", c.update_template.clone())
            .map_err(|e| MappingError::Template {
                key: "update_template",
                error: e.to_string(),
            })?;
        Ok(Mapping {
            env,
            endpoint: c.endpoint.clone(),
            create_path: c.create_path.clone(),
            update_path: c.update_path.clone(),
        })
    }

    /// The request for an outbox row: `create` or not, its JSON payload
    /// (`{"ticket", "change"}`), and SIMPEL's id for an update.
    pub fn request(
        &self,
        create: bool,
        payload: &str,
        upstream_id: Option<&str>,
    ) -> Result<Request, MappingError> {
        let ctx: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| MappingError::Payload(e.to_string()))?;
        let key = if create {
            "create_template"
        } else {
            "update_template"
        };
        let tmpl = self
            .env
            .get_template(key)
            .map_err(|e| MappingError::Template {
                key,
                error: e.to_string(),
            })?;
        let body = tmpl
            .render(minijinja::Value::from(minijinja::value::Serde(&ctx)))
            .map_err(|e| MappingError::Template {
                key,
                error: e.to_string(),
            })?;
        serde_json::from_str::<serde_json::Value>(&body).map_err(|e| MappingError::NotJson {
            key,
            error: e.to_string(),
        })?;
        let url = if create {
            format!("{}{}", self.endpoint, self.create_path)
        } else {
            let id = upstream_id.ok_or(MappingError::NoUpstreamId)?;
            format!(
                "{}{}",
                self.endpoint,
                self.update_path.replace("{id}", &path_escape(id))
            )
        };
        Ok(Request {
            method: if create { "POST" } else { "PATCH" },
            url,
            body,
        })
    }
}

fn path_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SyncConfig {
        let text = format!(
            "{}\n[sync]\nendpoint = \"http://127.0.0.1:9/api\"\n",
            dering_config::DEFAULT_TOML
        );
        dering_config::Config::parse(&text, "t.toml")
            .unwrap()
            .sync
            .unwrap()
    }

    const PAYLOAD: &str = r#"{"ticket": {"number": "DRG-0000001", "reporter_name": "Siti \"S\"", "reporter_phone": "0811",
        "reporter_email": "", "category": "c", "description": "d\nline", "priority": "high", "status": "open",
        "unit": "KU Dumas", "call_ids": ["c-1"]}, "change": null}"#;

    #[test]
    fn the_default_mapping_makes_json_with_escapes() {
        let m = Mapping::new(&config()).unwrap();
        let r = m.request(true, PAYLOAD, None).unwrap();
        assert_eq!(
            (r.method, r.url.as_str()),
            ("POST", "http://127.0.0.1:9/api/tickets")
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["reporter"]["name"], "Siti \"S\"");
        assert_eq!(v["description"], "d\nline");
        assert_eq!(v["calls"][0], "c-1");
        let upd = PAYLOAD.replace("\"change\": null", "\"change\": {\"status\": \"closed\"}");
        let r = m.request(false, &upd, Some("S 1")).unwrap();
        assert_eq!(r.url, "http://127.0.0.1:9/api/tickets/S%201");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"external_ref": "DRG-0000001", "status": "closed"})
        );
        assert!(matches!(
            m.request(false, &upd, None),
            Err(MappingError::NoUpstreamId)
        ));
    }

    #[test]
    fn bad_templates_are_refused_with_their_key() {
        let mut c = config();
        c.create_template = "{{ ticket.number ".into();
        let e = Mapping::new(&c).unwrap_err().to_string();
        assert!(e.starts_with("key `sync.create_template`"), "{e}");
        let mut c = config();
        c.create_template = "{{ ticket.number }}".into();
        let m = Mapping::new(&c).unwrap();
        assert!(matches!(
            m.request(true, PAYLOAD, None),
            Err(MappingError::NotJson { .. })
        ));
        let mut c = config();
        c.create_template = "{\"x\": {{ ticket.nope.deeper }}}".into();
        let m = Mapping::new(&c).unwrap();
        assert!(matches!(
            m.request(true, PAYLOAD, None),
            Err(MappingError::Template { .. })
        ));
    }
}
