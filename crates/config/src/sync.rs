//! syncd's settings (`[sync]`, SYNC-4): where SIMPEL is, how syncd
//! authenticates, how a ticket is written in SIMPEL's fields (templates)
//! and how patiently it delivers. SIMPEL's API is not public, so all of
//! it is configuration, not code (decision 0027).

/// How syncd proves itself to SIMPEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAuth {
    None,
    /// A fixed key in a header of every request.
    ApiKey {
        header: String,
        key: String,
    },
    /// HTTP basic authentication.
    Basic {
        user: String,
        password: String,
    },
    /// OAuth2 client credentials: a token fetched from `token_url`,
    /// cached until shortly before it expires, fetched again after a 401.
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
    },
}

/// `[sync]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// SIMPEL's base URL (`http://` or `https://`), without a trailing `/`.
    pub endpoint: String,
    pub auth: SyncAuth,
    /// POSTed to create a ticket (relative to `endpoint`).
    pub create_path: String,
    /// PATCHed to change one; `{id}` is SIMPEL's id of the ticket.
    pub update_path: String,
    /// The feed of changes made in SIMPEL, read with `?since=CURSOR`.
    pub changes_path: String,
    /// The JSON body of a creation: a template over `ticket`.
    pub create_template: String,
    /// The JSON body of a change: a template over `ticket` and `change`.
    pub update_template: String,
    /// A JSON pointer to SIMPEL's id of a new ticket in its answer.
    pub id_pointer: String,
    /// The longest one request may take, connection included.
    pub timeout_ms: u64,
    /// Rows in flight at once (never two of one ticket).
    pub max_in_flight: u32,
    /// The first retry's delay; each further failure doubles it, up to
    /// `backoff_max_ms`, with jitter.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Failures in a row that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe is let through.
    pub breaker_open_ms: u64,
    /// How often the change feed is read.
    pub poll_interval_ms: u64,
    /// How long the oldest pending outbox row may wait before the box
    /// raises an alarm (trap, `/health` warning; SYNC-3), in minutes.
    pub alarm_after_minutes: u64,
}

/// The default field mapping: SIMPEL-sim's fields (`tools/simpel-sim`).
pub const DEFAULT_CREATE_TEMPLATE: &str = r#"{
  "external_ref": {{ ticket.number | tojson }},
  "reporter": {"name": {{ ticket.reporter_name | tojson }}, "phone": {{ ticket.reporter_phone | tojson }}, "email": {{ ticket.reporter_email | tojson }}},
  "category": {{ ticket.category | tojson }},
  "description": {{ ticket.description | tojson }},
  "priority": {{ ticket.priority | tojson }},
  "status": {{ ticket.status | tojson }},
  "unit": {{ ticket.unit | tojson }},
  "calls": {{ ticket.call_ids | tojson }}
}"#;

/// The default body of a change: only what changed.
pub const DEFAULT_UPDATE_TEMPLATE: &str = r#"{
  "external_ref": {{ ticket.number | tojson }}
  {%- if change.description is defined %}, "description": {{ change.description | tojson }}{% endif %}
  {%- if change.category is defined %}, "category": {{ change.category | tojson }}{% endif %}
  {%- if change.status is defined %}, "status": {{ change.status | tojson }}{% endif %}
  {%- if change.unit is defined %}, "unit": {{ change.unit | tojson }}{% endif %}
  {%- if change.add_call_ids is defined %}, "calls": {{ ticket.call_ids | tojson }}{% endif %}
}"#;
