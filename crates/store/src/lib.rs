//! The SQLite system of record (bundled SQLite, WAL). Every daemon opens it;
//! writes are short transactions. pbxd writes through [`writer::Writer`], a
//! thread that commits queued operations in groups so a durable commit per
//! call costs one fsync shared by every call finishing at that moment.
//!
//! Room is left for the ACD (queues, agents, events), recordings and tickets:
//! they arrive as further migrations.

pub mod backup;
mod migrations;
pub mod phone;
pub mod setup;
pub mod tickets;
pub mod writer;

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The error is part of the message, not a `source`, so it is not
    /// printed twice in an anyhow chain.
    #[error("database {path}: {error}")]
    Open {
        path: String,
        error: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database schema version {found} is newer than this software ({known})")]
    TooNew { found: i64, known: i64 },
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("no ticket {0}")]
    TicketNotFound(i64),
    /// The ticket was changed since the version the change was based on.
    #[error("ticket {id} is at version {version}: changed meanwhile")]
    TicketStale { id: i64, version: i64 },
    #[error("JSON: {0}")]
    Json(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How a call ended (TEL-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Answered,
    Busy,
    NoAnswer,
    Cancelled,
    Failed,
    Interrupted,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no_answer",
            Disposition::Cancelled => "cancelled",
            Disposition::Failed => "failed",
            Disposition::Interrupted => "interrupted",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CallEnd {
    pub uuid: String,
    pub end_ms: i64,
    pub disposition: Disposition,
    pub hangup_by: String,
    pub hangup_cause: String,
    pub sip_code: Option<u16>,
}

/// Who called whom and when: what a live call and a call record share
/// (TEL-3: caller identity wherever a call is shown).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CallParties {
    pub uuid: String,
    pub caller: String,
    pub caller_name: Option<String>,
    pub callee: String,
    pub callee_name: Option<String>,
    pub start_ms: i64,
    pub answer_ms: Option<i64>,
}

/// One row of the call detail record, as `dering cdr --json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallRecord {
    pub id: i64,
    #[serde(flatten)]
    pub parties: CallParties,
    pub end_ms: Option<i64>,
    pub state: String,
    pub disposition: Option<String>,
    pub hangup_by: Option<String>,
    pub hangup_cause: Option<String>,
    pub sip_code: Option<i64>,
    pub billable_seconds: Option<f64>,
    pub codec: Option<String>,
    /// The trunkd span (or line) and channel the call took (issue 14);
    /// absent for a call that used none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<u32>,
}

/// A persisted registrar binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub aor: String,
    pub contact: String,
    pub transport: String,
    pub source: String,
    pub expires_at_ms: i64,
    pub call_id: String,
    pub cseq: u32,
    pub user_agent: Option<String>,
}

/// One version of the configuration: the whole TOML document as it was
/// imported or edited, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigVersion {
    pub version: i64,
    pub at_ms: i64,
    /// Who made it: `seed` (first boot), `file` (the file changed at a
    /// start), or the administrator's name.
    pub author: String,
    /// The file or client it came from.
    pub source: String,
    /// What changed against the version before, in a line.
    pub summary: String,
    /// SHA-256 of `document`, hex.
    pub sha256: String,
    pub document: String,
}

/// One write, as queued to the writer thread.
#[derive(Debug, Clone)]
pub enum Op {
    /// A call starts; its row is `active` until [`Op::CallEnd`].
    CallStart(CallParties),
    CallAnswered {
        uuid: String,
        at_ms: i64,
        codec: String,
    },
    CallEnd(CallEnd),
    CallEvent {
        uuid: String,
        at_ms: i64,
        kind: String,
        detail: Option<String>,
    },
    /// An outside call's routing (TEL-5): the number's class and
    /// normalised form, and the trunk and route it leaves by, or why it
    /// was refused. Written again when a failover changes the trunk.
    CallOutside(CallOutside),
    /// A call in from a trunk or a trusted peer (TEL-10): its numbers as
    /// sent and normalised, and the trunk.
    CallInbound(CallInbound),
    /// The trunkd span (or line) and channel a call took (issue 14).
    CallChannel {
        uuid: String,
        span: String,
        channel: u32,
    },
    Bind(Binding),
    Unbind {
        aor: String,
        contact: String,
    },
    PowerEvent(PowerEventRow),
    Heartbeat(DaemonStatus),
    /// A new version of a call flow (IVR-3).
    FlowVersion {
        name: String,
        version: i64,
        document: String,
        at_ms: i64,
    },
    /// A new version of the configuration (TEL-8).
    ConfigVersion(ConfigVersion),
    /// The configured extensions (number, display name); the others are
    /// kept for old call records but marked disabled.
    Extensions(Vec<(String, String)>),
    /// A recording was opened (state `recording` until closed).
    RecordingStart(RecordingRow),
    /// A recording was closed (`complete`) or mended after a crash
    /// (`repaired`), or its file vanished (`missing`).
    RecordingEnd {
        path: String,
        /// Where the file ends up (the MP3, when converted).
        final_path: String,
        end_ms: i64,
        duration_ms: i64,
        bytes: i64,
        sha256: String,
        state: String,
    },
    /// A recording deleted by the retention policy.
    RecordingDeleted {
        path: String,
    },
    /// A node of a flow was entered, or a menu choice taken (ACD-8).
    FlowCount {
        flow: String,
        version: i64,
        node: String,
        choice: Option<char>,
    },
    /// Call forwarding of `extension` on `condition` (`all`, `busy`,
    /// `no_answer`) set to `target`, or cleared (TEL-6).
    Forward {
        extension: String,
        condition: String,
        target: Option<String>,
        at_ms: i64,
    },
    /// An ACD journal entry (ACD-10): `detail` is the engine's event as
    /// JSON.
    AcdEvent(AcdEventRow),
    /// A leg's dialog as it is now (written on answer and when it
    /// changes), so a restart can end it with a BYE (decision 0028).
    DialogSaved(DialogRow),
    /// A call's leg (or, with `leg` `None`, every leg) no longer needs
    /// ending: the call ended, or its BYE after a restart was answered.
    DialogGone {
        uuid: String,
        leg: Option<String>,
    },
    /// Copies the WAL into the database file and truncates it, so a power
    /// cut finds nothing to replay (PWR-3). Not a write: the writer runs it
    /// between transactions.
    Checkpoint,
}

/// One leg of an answered call, as much of its dialog (RFC 3261 §12) as a
/// BYE from a restarted box needs: pbxd keeps no other state across a
/// crash, and without it both phones stay in a dead call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DialogRow {
    pub uuid: String,
    /// `a` (the caller's leg) or `b` (the callee's).
    pub leg: String,
    pub call_id: String,
    /// Our side's header value, with our tag.
    pub local: String,
    /// Theirs, with their tag.
    pub remote: String,
    /// The remote target (their Contact): the BYE's Request-URI.
    pub target: String,
    /// Record-Route values in the order our requests carry them.
    pub route: Vec<String>,
    /// The CSeq of the last request the box sent in the dialog.
    pub cseq: u32,
    /// `UDP`, `TCP` or `TLS` (a Via's transport name).
    pub transport: String,
    /// Where the far end is (`ip:port`).
    pub peer: String,
}

/// The inbound columns of a call's row: a call from a trunk or a
/// trusted peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallInbound {
    pub uuid: String,
    /// The trunk it came by; `None` for a trusted peer.
    pub trunk: Option<String>,
    /// The caller as sent (P-Asserted-Identity or From), and in E.164
    /// (`None`: withheld or no number).
    pub caller_raw: String,
    pub caller_e164: Option<String>,
    /// The number called as sent (Request-URI or To), and in E.164.
    pub callee_raw: String,
    pub callee_e164: Option<String>,
}

/// The outbound columns of a call's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallOutside {
    pub uuid: String,
    /// `mobile`, `international`, … (`dering_telco::DialledClass::name`).
    pub number_class: String,
    /// `+62…`, or a short number's digits.
    pub callee_e164: String,
    pub trunk: Option<String>,
    pub route: Option<String>,
    /// Why the call was not let out (`permission`, `no route`, …).
    pub refused: Option<String>,
}

/// A row of the ACD journal.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AcdEventRow {
    pub at_ms: i64,
    pub kind: String,
    pub call_uuid: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub detail: String,
}

/// A call recording's metadata (REC-2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordingRow {
    pub call_uuid: String,
    pub path: String,
    pub caller: String,
    /// The number dialed (an extension, or a service number like 137).
    pub callee: String,
    /// The officer who took the call (the extension a flow, a forward or
    /// a queue connected), when known.
    pub agent: Option<String>,
    /// The service: the flow (later, the queue) the call came through.
    pub service: Option<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub bytes: Option<i64>,
    pub sha256: Option<String>,
    pub state: String,
}

/// A power event as stored (PWR-2).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PowerEventRow {
    pub at_ms: i64,
    pub kind: String,
    pub alarm: bool,
    pub detail: String,
    /// The UPS's reading at the time, as JSON.
    pub status: Option<String>,
}

/// A daemon's last word about itself: written every few seconds, so a
/// stale heartbeat means the daemon is gone (MON-2).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DaemonStatus {
    pub daemon: String,
    pub pid: u32,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    pub ready: bool,
    /// Why it is not ready, or its warnings.
    pub reasons: Vec<String>,
    /// The daemon's own state as JSON (counters, the UPS reading, ...).
    pub state: String,
    /// Stopped on purpose (a clean stop, not a crash).
    pub stopped: bool,
}

/// A connection to the database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|error| StoreError::Open {
            path: path.display().to_string(),
            error,
        })?;
        // FULL: a commit is on disk when it returns, so "recorded" means
        // recorded even across a power cut (OPS-1); the writer amortises it.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<()> {
        let known = migrations::MIGRATIONS.len() as i64;
        let found = self.schema_version()?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        if found < known {
            // A migration may fill a new column with a key made in Rust.
            phone::register(&self.conn)?;
        }
        for (i, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "database migrated");
        }
        Ok(())
    }

    /// The dialogs of legs no call end removed: the calls a crash cut
    /// (read at start, before [`Store::close_interrupted`] is of any
    /// consequence to them, to send each leg a BYE).
    pub fn stored_dialogs(&self) -> Result<Vec<DialogRow>> {
        self.select(
            "SELECT call_uuid, leg, call_id, local, remote, target, route, cseq, transport, peer
             FROM call_dialogs ORDER BY call_uuid, leg",
            [],
            |r| {
                let route: String = r.get(6)?;
                Ok(DialogRow {
                    uuid: r.get(0)?,
                    leg: r.get(1)?,
                    call_id: r.get(2)?,
                    local: r.get(3)?,
                    remote: r.get(4)?,
                    target: r.get(5)?,
                    // A route column that is not a JSON list is read as
                    // no route set: the BYE then goes to the target.
                    route: serde_json::from_str(&route).unwrap_or_default(),
                    cseq: r.get(7)?,
                    transport: r.get(8)?,
                    peer: r.get(9)?,
                })
            },
        )
    }

    /// Closes calls left `active` by a crash as `interrupted` (run at start,
    /// before pbxd takes calls). Returns how many were closed.
    pub fn close_interrupted(&self, now_ms: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE calls SET state = 'ended', disposition = 'interrupted', end_ms = ?1,
                hangup_by = 'system', hangup_cause = 'pbxd stopped during the call',
                billable_ms = CASE WHEN answer_ms IS NULL THEN 0 ELSE ?1 - answer_ms END
             WHERE state = 'active'",
            params![now_ms],
        )?)
    }

    /// Applies operations in one transaction.
    pub fn apply(&mut self, ops: &[Op]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for op in ops {
            apply_one(&tx, op)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn sync_extensions(&mut self, exts: &[(String, String)]) -> Result<()> {
        self.apply(&[Op::Extensions(exts.to_vec())])
    }

    /// Runs a SELECT and maps every row.
    fn select<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let rows = st.query_map(params, map)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn calls(&self) -> Result<Vec<CallRecord>> {
        self.select(
            "SELECT id, uuid, caller, caller_name, callee, callee_name, start_ms, answer_ms, end_ms,
                    state, disposition, hangup_by, hangup_cause, sip_code, billable_ms, codec,
                    span, channel
             FROM calls ORDER BY id",
            [],
            |r| {
                Ok(CallRecord {
                    id: r.get(0)?,
                    parties: CallParties {
                        uuid: r.get(1)?,
                        caller: r.get(2)?,
                        caller_name: r.get(3)?,
                        callee: r.get(4)?,
                        callee_name: r.get(5)?,
                        start_ms: r.get(6)?,
                        answer_ms: r.get(7)?,
                    },
                    end_ms: r.get(8)?,
                    state: r.get(9)?,
                    disposition: r.get(10)?,
                    hangup_by: r.get(11)?,
                    hangup_cause: r.get(12)?,
                    sip_code: r.get(13)?,
                    billable_seconds: r.get::<_, Option<i64>>(14)?.map(|ms| ms as f64 / 1000.0),
                    codec: r.get(15)?,
                    span: r.get(16)?,
                    channel: r.get(17)?,
                })
            },
        )
    }

    pub fn call_events(&self, uuid: &str) -> Result<Vec<(i64, String, Option<String>)>> {
        self.select(
            "SELECT e.at_ms, e.kind, e.detail FROM call_events e JOIN calls c ON c.id = e.call_id
             WHERE c.uuid = ?1 ORDER BY e.id",
            [uuid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// The outbound columns of call `uuid`, when it was an outside call.
    pub fn call_outside(&self, uuid: &str) -> Result<Option<CallOutside>> {
        Ok(self
            .conn
            .query_row(
                "SELECT uuid, number_class, callee_e164, trunk, route, refused FROM calls
                 WHERE uuid = ?1 AND number_class IS NOT NULL",
                [uuid],
                |r| {
                    Ok(CallOutside {
                        uuid: r.get(0)?,
                        number_class: r.get(1)?,
                        callee_e164: r.get(2)?,
                        trunk: r.get(3)?,
                        route: r.get(4)?,
                        refused: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// The answered outside calls (not refused) answered at or after
    /// `since_ms` and ended: (caller, answer_ms, end_ms). The core
    /// recounts each extension's outside minutes of the day from them
    /// after a restart.
    pub fn outside_talk_since(&self, since_ms: i64) -> Result<Vec<(String, i64, i64)>> {
        self.select(
            "SELECT caller, answer_ms, end_ms FROM calls
             WHERE number_class IS NOT NULL AND refused IS NULL
               AND answer_ms >= ?1 AND end_ms IS NOT NULL ORDER BY id",
            [since_ms],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// The inbound columns of call `uuid`, if it came by a trunk or a
    /// trusted peer.
    pub fn call_inbound(&self, uuid: &str) -> Result<Option<CallInbound>> {
        Ok(self
            .conn
            .query_row(
                "SELECT uuid, trunk, caller_raw, caller_e164, callee_raw, callee_e164 FROM calls
                 WHERE uuid = ?1 AND caller_raw IS NOT NULL",
                [uuid],
                |r| {
                    Ok(CallInbound {
                        uuid: r.get(0)?,
                        trunk: r.get(1)?,
                        caller_raw: r.get(2)?,
                        caller_e164: r.get(3)?,
                        callee_raw: r.get(4)?,
                        callee_e164: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// Bindings still valid at `now_ms`; expired ones are deleted.
    pub fn live_bindings(&self, now_ms: i64) -> Result<Vec<Binding>> {
        self.conn.execute(
            "DELETE FROM registrations WHERE expires_at_ms <= ?1",
            [now_ms],
        )?;
        self.select(
            "SELECT aor, contact, transport, source, expires_at_ms, call_id, cseq, user_agent
             FROM registrations ORDER BY aor, contact",
            [],
            |r| {
                Ok(Binding {
                    aor: r.get(0)?,
                    contact: r.get(1)?,
                    transport: r.get(2)?,
                    source: r.get(3)?,
                    expires_at_ms: r.get(4)?,
                    call_id: r.get(5)?,
                    cseq: r.get(6)?,
                    user_agent: r.get(7)?,
                })
            },
        )
    }

    /// Checkpoints the WAL into the database and truncates it.
    pub fn checkpoint(&self) -> Result<()> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(StoreError::Sql(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                Some("checkpoint blocked by a reader".into()),
            )));
        }
        Ok(())
    }

    /// Power events, oldest first (`since_ms` and later).
    /// Power events stored after event `after_id` (0: all), oldest first,
    /// each with its id. Ids, not times, mark what a reader has seen: one
    /// shutdown stores several events within the same millisecond.
    pub fn power_events(&self, after_id: i64) -> Result<Vec<(i64, PowerEventRow)>> {
        self.select(
            "SELECT id, at_ms, kind, alarm, detail, status FROM power_events WHERE id > ?1 ORDER BY id",
            [after_id],
            |r| {
                Ok((
                    r.get(0)?,
                    PowerEventRow {
                        at_ms: r.get(1)?,
                        kind: r.get(2)?,
                        alarm: r.get(3)?,
                        detail: r.get(4)?,
                        status: r.get(5)?,
                    },
                ))
            },
        )
    }

    /// Recordings, oldest first; `state` filters when given.
    pub fn recordings(&self, state: Option<&str>) -> Result<Vec<RecordingRow>> {
        self.select(
            "SELECT call_uuid, path, caller, callee, start_ms, end_ms, duration_ms, bytes, sha256, state,
                    agent, service
             FROM recordings WHERE ?1 IS NULL OR state = ?1 ORDER BY id",
            [state],
            |r| {
                Ok(RecordingRow {
                    call_uuid: r.get(0)?,
                    path: r.get(1)?,
                    caller: r.get(2)?,
                    callee: r.get(3)?,
                    start_ms: r.get(4)?,
                    end_ms: r.get(5)?,
                    duration_ms: r.get(6)?,
                    bytes: r.get(7)?,
                    sha256: r.get(8)?,
                    state: r.get(9)?,
                    agent: r.get(10)?,
                    service: r.get(11)?,
                })
            },
        )
    }

    /// The newest version of every flow: (name, version, document).
    /// Every call forwarding set: (extension, condition, target).
    pub fn forwards(&self) -> Result<Vec<(String, String, String)>> {
        self.select(
            "SELECT extension, condition, target FROM forwards ORDER BY extension, condition",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// The ACD journal from `since_ms` on, oldest first.
    pub fn acd_events(&self, since_ms: i64) -> Result<Vec<AcdEventRow>> {
        self.select(
            "SELECT at_ms, kind, call_uuid, queue, agent, detail FROM acd_events
             WHERE at_ms >= ?1 ORDER BY id",
            [since_ms],
            |r| {
                Ok(AcdEventRow {
                    at_ms: r.get(0)?,
                    kind: r.get(1)?,
                    call_uuid: r.get(2)?,
                    queue: r.get(3)?,
                    agent: r.get(4)?,
                    detail: r.get(5)?,
                })
            },
        )
    }

    /// Each agent's last state change in the journal (the `detail` of
    /// its newest `agent_state` row), to put agents back after a restart.
    pub fn last_agent_states(&self) -> Result<Vec<String>> {
        self.select(
            "SELECT detail FROM acd_events WHERE id IN
               (SELECT MAX(id) FROM acd_events WHERE kind = 'agent_state' GROUP BY agent)
             ORDER BY id",
            [],
            |r| r.get(0),
        )
    }

    /// Every configuration version, oldest first; without the documents
    /// unless `documents` (history listings stay small).
    pub fn config_versions(&self, documents: bool) -> Result<Vec<ConfigVersion>> {
        self.select(
            "SELECT version, at_ms, author, source, summary, sha256,
                    CASE WHEN ?1 THEN document ELSE '' END
             FROM config_versions ORDER BY version",
            [documents],
            |r| {
                Ok(ConfigVersion {
                    version: r.get(0)?,
                    at_ms: r.get(1)?,
                    author: r.get(2)?,
                    source: r.get(3)?,
                    summary: r.get(4)?,
                    sha256: r.get(5)?,
                    document: r.get(6)?,
                })
            },
        )
    }

    /// One configuration version with its document; the newest when
    /// `version` is `None`.
    pub fn config_version(&self, version: Option<i64>) -> Result<Option<ConfigVersion>> {
        let rows = self.select(
            "SELECT version, at_ms, author, source, summary, sha256, document
             FROM config_versions
             WHERE version = COALESCE(?1, (SELECT MAX(version) FROM config_versions))",
            [version],
            |r| {
                Ok(ConfigVersion {
                    version: r.get(0)?,
                    at_ms: r.get(1)?,
                    author: r.get(2)?,
                    source: r.get(3)?,
                    summary: r.get(4)?,
                    sha256: r.get(5)?,
                    document: r.get(6)?,
                })
            },
        )?;
        Ok(rows.into_iter().next())
    }

    pub fn latest_flows(&self) -> Result<Vec<(String, i64, String)>> {
        self.select(
            "SELECT name, version, document FROM flows f
             WHERE version = (SELECT MAX(version) FROM flows g WHERE g.name = f.name)
             ORDER BY name",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// The counters of flow `name`: (version, node, choice, count), with
    /// `choice` empty for entries into the node.
    pub fn flow_counters(&self, name: &str) -> Result<Vec<(i64, String, String, i64)>> {
        self.select(
            "SELECT version, node, choice, count FROM flow_counters WHERE flow = ?1
             ORDER BY version, node, choice",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    }

    /// The id of the newest power event (0 when there is none).
    pub fn last_power_event_id(&self) -> Result<i64> {
        self.select("SELECT COALESCE(MAX(id), 0) FROM power_events", [], |r| {
            r.get(0)
        })
        .map(|v| v.first().copied().unwrap_or(0))
    }

    /// Every daemon's last heartbeat.
    pub fn daemon_statuses(&self) -> Result<Vec<DaemonStatus>> {
        self.select(
            "SELECT daemon, pid, started_ms, heartbeat_ms, ready, reasons, state, stopped
             FROM daemon_status ORDER BY daemon",
            [],
            |r| {
                let reasons: String = r.get(5)?;
                Ok(DaemonStatus {
                    daemon: r.get(0)?,
                    pid: r.get(1)?,
                    started_ms: r.get(2)?,
                    heartbeat_ms: r.get(3)?,
                    ready: r.get(4)?,
                    reasons: serde_json::from_str(&reasons).unwrap_or_default(),
                    state: r.get(6)?,
                    stopped: r.get(7)?,
                })
            },
        )
    }

    /// Calls that started at or after `since_ms`, by disposition
    /// (`active` for calls still up).
    pub fn call_counts_since(&self, since_ms: i64) -> Result<Vec<(String, u64)>> {
        self.select(
            "SELECT COALESCE(disposition, state), COUNT(*) FROM calls WHERE start_ms >= ?1 GROUP BY 1 ORDER BY 1",
            [since_ms],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
        )
    }

    pub fn call_state(&self, uuid: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT state FROM calls WHERE uuid = ?1", [uuid], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

fn apply_one(tx: &rusqlite::Transaction<'_>, op: &Op) -> Result<()> {
    match op {
        Op::CallStart(c) => {
            tx.execute(
                "INSERT INTO calls (uuid, caller, caller_name, callee, callee_name, start_ms, state,
                                    caller_key, callee_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?8)",
                params![
                    c.uuid,
                    c.caller,
                    c.caller_name,
                    c.callee,
                    c.callee_name,
                    c.start_ms,
                    phone::key(&c.caller),
                    phone::key(&c.callee)
                ],
            )?;
        }
        Op::CallAnswered { uuid, at_ms, codec } => {
            tx.execute(
                "UPDATE calls SET answer_ms = ?2, codec = ?3 WHERE uuid = ?1",
                params![uuid, at_ms, codec],
            )?;
        }
        Op::CallEnd(e) => {
            tx.execute(
                "UPDATE calls SET state = 'ended', end_ms = ?2, disposition = ?3, hangup_by = ?4,
                    hangup_cause = ?5, sip_code = ?6,
                    billable_ms = CASE WHEN answer_ms IS NULL THEN 0 ELSE max(0, ?2 - answer_ms) END
                 WHERE uuid = ?1",
                params![
                    e.uuid,
                    e.end_ms,
                    e.disposition.as_str(),
                    e.hangup_by,
                    e.hangup_cause,
                    e.sip_code
                ],
            )?;
        }
        Op::CallEvent {
            uuid,
            at_ms,
            kind,
            detail,
        } => {
            tx.execute(
                "INSERT INTO call_events (call_id, at_ms, kind, detail)
                 SELECT id, ?2, ?3, ?4 FROM calls WHERE uuid = ?1",
                params![uuid, at_ms, kind, detail],
            )?;
        }
        Op::CallOutside(o) => {
            tx.execute(
                "UPDATE calls SET number_class = ?2, callee_e164 = ?3, trunk = ?4, route = ?5,
                    refused = ?6 WHERE uuid = ?1",
                params![
                    o.uuid,
                    o.number_class,
                    o.callee_e164,
                    o.trunk,
                    o.route,
                    o.refused
                ],
            )?;
        }
        Op::CallInbound(i) => {
            tx.execute(
                "UPDATE calls SET trunk = ?2, caller_raw = ?3, caller_e164 = ?4, callee_raw = ?5,
                    callee_e164 = ?6 WHERE uuid = ?1",
                params![
                    i.uuid,
                    i.trunk,
                    i.caller_raw,
                    i.caller_e164,
                    i.callee_raw,
                    i.callee_e164
                ],
            )?;
        }
        Op::CallChannel {
            uuid,
            span,
            channel,
        } => {
            tx.execute(
                "UPDATE calls SET span = ?2, channel = ?3 WHERE uuid = ?1",
                params![uuid, span, channel],
            )?;
        }
        Op::Bind(b) => {
            tx.execute(
                "INSERT INTO registrations (aor, contact, transport, source, expires_at_ms, call_id, cseq, user_agent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (aor, contact) DO UPDATE SET transport = ?3, source = ?4,
                    expires_at_ms = ?5, call_id = ?6, cseq = ?7, user_agent = ?8",
                params![b.aor, b.contact, b.transport, b.source, b.expires_at_ms, b.call_id, b.cseq, b.user_agent],
            )?;
        }
        Op::Unbind { aor, contact } => {
            tx.execute(
                "DELETE FROM registrations WHERE aor = ?1 AND contact = ?2",
                params![aor, contact],
            )?;
        }
        Op::PowerEvent(e) => {
            tx.execute(
                "INSERT INTO power_events (at_ms, kind, alarm, detail, status) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.at_ms, e.kind, e.alarm, e.detail, e.status],
            )?;
        }
        Op::Heartbeat(d) => {
            tx.execute(
                "INSERT INTO daemon_status (daemon, pid, started_ms, heartbeat_ms, ready, reasons, state, stopped)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (daemon) DO UPDATE SET pid = ?2, started_ms = ?3, heartbeat_ms = ?4,
                    ready = ?5, reasons = ?6, state = ?7, stopped = ?8",
                params![
                    d.daemon,
                    d.pid,
                    d.started_ms,
                    d.heartbeat_ms,
                    d.ready,
                    serde_json::to_string(&d.reasons).unwrap_or_default(),
                    d.state,
                    d.stopped
                ],
            )?;
        }
        Op::RecordingStart(r) => {
            tx.execute(
                "INSERT INTO recordings (call_uuid, path, caller, callee, agent, service, start_ms, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'recording')",
                params![r.call_uuid, r.path, r.caller, r.callee, r.agent, r.service, r.start_ms],
            )?;
        }
        Op::RecordingEnd {
            path,
            final_path,
            end_ms,
            duration_ms,
            bytes,
            sha256,
            state,
        } => {
            tx.execute(
                "UPDATE recordings SET end_ms = ?2, duration_ms = ?3, bytes = ?4, sha256 = ?5, state = ?6,
                    path = ?7
                 WHERE path = ?1",
                params![path, end_ms, duration_ms, bytes, sha256, state, final_path],
            )?;
        }
        Op::RecordingDeleted { path } => {
            tx.execute(
                "UPDATE recordings SET state = 'deleted' WHERE path = ?1",
                params![path],
            )?;
        }
        Op::Extensions(exts) => {
            tx.execute("UPDATE extensions SET enabled = 0", [])?;
            for (number, name) in exts {
                tx.execute(
                    "INSERT INTO extensions (number, display_name, enabled) VALUES (?1, ?2, 1)
                     ON CONFLICT (number) DO UPDATE SET display_name = ?2, enabled = 1",
                    params![number, name],
                )?;
            }
        }
        Op::ConfigVersion(v) => {
            tx.execute(
                "INSERT INTO config_versions (version, at_ms, author, source, summary, sha256, document)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![v.version, v.at_ms, v.author, v.source, v.summary, v.sha256, v.document],
            )?;
        }
        Op::FlowVersion {
            name,
            version,
            document,
            at_ms,
        } => {
            tx.execute(
                "INSERT INTO flows (name, version, document, published_ms) VALUES (?1, ?2, ?3, ?4)",
                params![name, version, document, at_ms],
            )?;
        }
        Op::FlowCount {
            flow,
            version,
            node,
            choice,
        } => {
            tx.execute(
                "INSERT INTO flow_counters (flow, version, node, choice, count) VALUES (?1, ?2, ?3, ?4, 1)
                 ON CONFLICT (flow, version, node, choice) DO UPDATE SET count = count + 1",
                params![flow, version, node, choice.map(String::from).unwrap_or_default()],
            )?;
        }
        Op::Forward {
            extension,
            condition,
            target,
            at_ms,
        } => match target {
            Some(t) => {
                tx.execute(
                    "INSERT INTO forwards (extension, condition, target, set_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (extension, condition) DO UPDATE SET target = ?3, set_ms = ?4",
                    params![extension, condition, t, at_ms],
                )?;
            }
            None => {
                tx.execute(
                    "DELETE FROM forwards WHERE extension = ?1 AND condition = ?2",
                    params![extension, condition],
                )?;
            }
        },
        Op::AcdEvent(e) => {
            tx.execute(
                "INSERT INTO acd_events (at_ms, kind, call_uuid, queue, agent, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![e.at_ms, e.kind, e.call_uuid, e.queue, e.agent, e.detail],
            )?;
        }
        Op::DialogSaved(d) => {
            let route = serde_json::to_string(&d.route).unwrap_or_else(|_| "[]".into());
            tx.execute(
                "INSERT OR REPLACE INTO call_dialogs
                    (call_uuid, leg, call_id, local, remote, target, route, cseq, transport, peer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    d.uuid,
                    d.leg,
                    d.call_id,
                    d.local,
                    d.remote,
                    d.target,
                    route,
                    d.cseq,
                    d.transport,
                    d.peer
                ],
            )?;
        }
        Op::DialogGone { uuid, leg } => {
            tx.execute(
                "DELETE FROM call_dialogs WHERE call_uuid = ?1 AND (?2 IS NULL OR leg = ?2)",
                params![uuid, leg],
            )?;
        }
        Op::Checkpoint => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(uuid: &str) -> Op {
        Op::CallStart(CallParties {
            uuid: uuid.into(),
            caller: "1001".into(),
            caller_name: Some("Budi".into()),
            callee: "1002".into(),
            callee_name: None,
            start_ms: 1_000,
            answer_ms: None,
        })
    }

    #[test]
    fn power_events_heartbeats_and_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let mut s = Store::open(&path).unwrap();
        let ev = PowerEventRow {
            at_ms: 5,
            kind: "on_battery".into(),
            alarm: true,
            detail: "status OB".into(),
            status: Some("{}".into()),
        };
        let hb = |at: i64, ready: bool| {
            Op::Heartbeat(DaemonStatus {
                daemon: "powerd".into(),
                pid: 7,
                started_ms: 1,
                heartbeat_ms: at,
                ready,
                reasons: vec!["upsd unreachable".into()],
                state: "{}".into(),
                stopped: false,
            })
        };
        assert_eq!(s.last_power_event_id().unwrap(), 0);
        s.apply(&[Op::PowerEvent(ev.clone()), hb(10, false), hb(20, true)])
            .unwrap();
        s.apply(&[Op::PowerEvent(ev.clone())]).unwrap();
        assert_eq!(s.power_events(0).unwrap(), [(1, ev.clone()), (2, ev)]);
        assert_eq!(s.power_events(1).unwrap().len(), 1, "same time, later id");
        assert!(s.power_events(2).unwrap().is_empty());
        assert_eq!(s.last_power_event_id().unwrap(), 2);
        let d = s.daemon_statuses().unwrap();
        assert_eq!(d.len(), 1, "one row per daemon");
        assert_eq!((d[0].heartbeat_ms, d[0].ready), (20, true));
        assert_eq!(d[0].reasons, ["upsd unreachable"]);
        let wal = dir.path().join("d.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        s.checkpoint().unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }

    #[test]
    fn migrates_once_and_records_a_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let mut s = Store::open(&path).unwrap();
        assert_eq!(
            s.schema_version().unwrap(),
            migrations::MIGRATIONS.len() as i64
        );
        s.apply(&[
            start("u1"),
            Op::CallAnswered {
                uuid: "u1".into(),
                at_ms: 2_500,
                codec: "PCMA".into(),
            },
            Op::CallEnd(CallEnd {
                uuid: "u1".into(),
                end_ms: 12_750,
                disposition: Disposition::Answered,
                hangup_by: "caller".into(),
                hangup_cause: "BYE".into(),
                sip_code: None,
            }),
        ])
        .unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        let c = &s.calls().unwrap()[0];
        assert_eq!(c.billable_seconds, Some(10.25));
        assert_eq!(c.disposition.as_deref(), Some("answered"));
    }

    /// TEL-5: an outside call's row names its class, number, trunk and
    /// route, and a refused one why; other calls have none.
    #[test]
    fn outside_calls_keep_their_routing() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        let out = CallOutside {
            uuid: "u1".into(),
            number_class: "mobile".into(),
            callee_e164: "+6281234567890".into(),
            trunk: Some("telkom".into()),
            route: Some("keluar".into()),
            refused: None,
        };
        s.apply(&[start("u1"), start("u2"), Op::CallOutside(out.clone())])
            .unwrap();
        assert_eq!(s.call_outside("u1").unwrap(), Some(out));
        assert_eq!(s.call_outside("u2").unwrap(), None);
    }

    #[test]
    fn inbound_calls_keep_their_numbers_as_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        let inbound = CallInbound {
            uuid: "u1".into(),
            trunk: Some("telkom".into()),
            caller_raw: "081234567890".into(),
            caller_e164: Some("+6281234567890".into()),
            callee_raw: "0211500137".into(),
            callee_e164: Some("+62211500137".into()),
        };
        s.apply(&[start("u1"), start("u2"), Op::CallInbound(inbound.clone())])
            .unwrap();
        assert_eq!(s.call_inbound("u1").unwrap(), Some(inbound));
        assert_eq!(s.call_inbound("u2").unwrap(), None);
    }

    /// Issue 14: a call through trunkd names its span and channel, in
    /// the row and in the record's JSON; other calls name none.
    #[test]
    fn trunkd_calls_name_their_span_and_channel() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        s.apply(&[
            start("u1"),
            start("u2"),
            Op::CallChannel {
                uuid: "u1".into(),
                span: "telkom".into(),
                channel: 5,
            },
        ])
        .unwrap();
        let calls = s.calls().unwrap();
        assert_eq!(
            (calls[0].span.as_deref(), calls[0].channel),
            (Some("telkom"), Some(5))
        );
        let json = serde_json::to_value(&calls[0]).unwrap();
        assert_eq!(
            (&json["span"], &json["channel"]),
            (&serde_json::json!("telkom"), &serde_json::json!(5))
        );
        assert_eq!((calls[1].span.as_deref(), calls[1].channel), (None, None));
        let json = serde_json::to_value(&calls[1]).unwrap();
        assert!(json.get("span").is_none(), "{json}");
    }

    fn dialog(leg: &str, cseq: u32) -> DialogRow {
        DialogRow {
            uuid: "u1".into(),
            leg: leg.into(),
            call_id: format!("cid-{leg}"),
            local: "<sip:1002@box>;tag=ours".into(),
            remote: "<sip:1001@box>;tag=theirs".into(),
            target: "sip:1001@10.0.0.9:5062".into(),
            route: vec!["<sip:proxy;lr>".into()],
            cseq,
            transport: "UDP".into(),
            peer: "10.0.0.9:5062".into(),
        }
    }

    #[test]
    fn dialogs_are_replaced_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        s.apply(&[
            Op::DialogSaved(dialog("a", 1)),
            Op::DialogSaved(dialog("b", 1)),
            Op::DialogSaved(dialog("b", 3)),
        ])
        .unwrap();
        assert_eq!(
            s.stored_dialogs().unwrap(),
            vec![dialog("a", 1), dialog("b", 3)]
        );
        s.apply(&[Op::DialogGone {
            uuid: "u1".into(),
            leg: Some("b".into()),
        }])
        .unwrap();
        assert_eq!(s.stored_dialogs().unwrap(), vec![dialog("a", 1)]);
        s.apply(&[Op::DialogGone {
            uuid: "u1".into(),
            leg: None,
        }])
        .unwrap();
        assert!(s.stored_dialogs().unwrap().is_empty());
    }

    #[test]
    fn active_calls_become_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        s.apply(&[
            start("u1"),
            Op::CallAnswered {
                uuid: "u1".into(),
                at_ms: 2_000,
                codec: "PCMU".into(),
            },
        ])
        .unwrap();
        assert_eq!(s.close_interrupted(5_000).unwrap(), 1);
        let c = &s.calls().unwrap()[0];
        assert_eq!(
            (c.state.as_str(), c.disposition.as_deref()),
            ("ended", Some("interrupted"))
        );
        assert_eq!(c.billable_seconds, Some(3.0));
        assert_eq!(s.close_interrupted(6_000).unwrap(), 0);
    }

    /// ACD-10: the journal keeps every event in order, and a reader picks
    /// a period.
    #[test]
    fn acd_journal_is_kept_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("t.db")).unwrap();
        let e = |at_ms: i64, kind: &str| {
            Op::AcdEvent(AcdEventRow {
                at_ms,
                kind: kind.into(),
                call_uuid: Some("u1".into()),
                queue: Some("pengaduan".into()),
                agent: None,
                detail: format!("{{\"event\":\"{kind}\"}}"),
            })
        };
        s.apply(&[e(10, "entered"), e(20, "offered"), e(15, "answered")])
            .unwrap();
        let kinds: Vec<String> = s
            .acd_events(0)
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(kinds, ["entered", "offered", "answered"]);
        let later = s.acd_events(15).unwrap();
        assert_eq!(later.len(), 2);
        assert_eq!(later[1].detail, r#"{"event":"answered"}"#);
        let state = |agent: &str, st: &str| {
            Op::AcdEvent(AcdEventRow {
                at_ms: 30,
                kind: "agent_state".into(),
                call_uuid: None,
                queue: None,
                agent: Some(agent.into()),
                detail: format!("{agent} {st}"),
            })
        };
        s.apply(&[
            state("2001", "ready"),
            state("2002", "ready"),
            state("2001", "not_ready"),
        ])
        .unwrap();
        assert_eq!(
            s.last_agent_states().unwrap(),
            ["2002 ready", "2001 not_ready"]
        );
    }

    #[test]
    fn forwards_are_set_replaced_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        let f = |ext: &str, cond: &str, target: Option<&str>| Op::Forward {
            extension: ext.into(),
            condition: cond.into(),
            target: target.map(String::from),
            at_ms: 1,
        };
        s.apply(&[
            f("1001", "all", Some("1002")),
            f("1001", "busy", Some("1003")),
            f("1001", "all", Some("1004")),
            f("1005", "no_answer", Some("1001")),
            f("1005", "no_answer", None),
        ])
        .unwrap();
        let want = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(
            s.forwards().unwrap(),
            [want("1001", "all", "1004"), want("1001", "busy", "1003")]
        );
    }

    #[test]
    fn bindings_expire() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("d.db")).unwrap();
        let b = |c: &str, exp| Binding {
            aor: "sip:1001@dering".into(),
            contact: c.into(),
            transport: "UDP".into(),
            source: "127.0.0.1:5070".into(),
            expires_at_ms: exp,
            call_id: "x".into(),
            cseq: 1,
            user_agent: None,
        };
        s.apply(&[Op::Bind(b("<sip:a@h>", 10)), Op::Bind(b("<sip:b@h>", 100))])
            .unwrap();
        let live = s.live_bindings(50).unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].contact, "<sip:b@h>");
    }
}
