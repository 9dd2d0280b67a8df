//! Versioned schema migrations, applied in order at open. The version lives
//! in `PRAGMA user_version`; each step runs in its own transaction.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: extensions, registrations, calls (CDR), call events, auth blocks.
    r#"
    CREATE TABLE extensions (
        number       TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        enabled      INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE registrations (
        aor           TEXT NOT NULL,
        contact       TEXT NOT NULL,
        transport     TEXT NOT NULL,
        source        TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        call_id       TEXT NOT NULL,
        cseq          INTEGER NOT NULL,
        user_agent    TEXT,
        PRIMARY KEY (aor, contact)
    );
    CREATE TABLE calls (
        id            INTEGER PRIMARY KEY,
        uuid          TEXT NOT NULL UNIQUE,
        caller        TEXT NOT NULL,
        caller_name   TEXT,
        callee        TEXT NOT NULL,
        callee_name   TEXT,
        start_ms      INTEGER NOT NULL,
        answer_ms     INTEGER,
        end_ms        INTEGER,
        state         TEXT NOT NULL CHECK (state IN ('active', 'ended')),
        disposition   TEXT CHECK (disposition IN
                        ('answered','busy','no_answer','cancelled','failed','interrupted')),
        hangup_by     TEXT,
        hangup_cause  TEXT,
        sip_code      INTEGER,
        billable_ms   INTEGER,
        codec         TEXT
    );
    CREATE INDEX calls_start ON calls (start_ms);
    CREATE INDEX calls_active ON calls (state) WHERE state = 'active';
    CREATE TABLE call_events (
        id      INTEGER PRIMARY KEY,
        call_id INTEGER NOT NULL REFERENCES calls (id),
        at_ms   INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        detail  TEXT
    );
    CREATE INDEX call_events_call ON call_events (call_id);
    "#,
    // 2: power events (PWR-2) and each daemon's heartbeat and readiness
    //    (MON-2, /health): what webd and the SNMP agent read when a daemon
    //    is down and cannot answer for itself.
    r#"
    CREATE TABLE power_events (
        id     INTEGER PRIMARY KEY,
        at_ms  INTEGER NOT NULL,
        kind   TEXT NOT NULL,
        alarm  INTEGER NOT NULL,
        detail TEXT NOT NULL,
        status TEXT
    );
    CREATE INDEX power_events_at ON power_events (at_ms);
    CREATE TABLE daemon_status (
        daemon       TEXT PRIMARY KEY,
        pid          INTEGER NOT NULL,
        started_ms   INTEGER NOT NULL,
        heartbeat_ms INTEGER NOT NULL,
        ready        INTEGER NOT NULL,
        reasons      TEXT NOT NULL,
        state        TEXT NOT NULL,
        stopped      INTEGER NOT NULL DEFAULT 0
    );
    "#,
    // 3: call flows as versioned documents (IVR-3, ACD-3) and their
    //    counters per node and menu choice (ACD-8).
    r#"
    CREATE TABLE flows (
        name         TEXT NOT NULL,
        version      INTEGER NOT NULL,
        document     TEXT NOT NULL,
        published_ms INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE flow_counters (
        flow    TEXT NOT NULL,
        version INTEGER NOT NULL,
        node    TEXT NOT NULL,
        choice  TEXT NOT NULL DEFAULT '',
        count   INTEGER NOT NULL,
        PRIMARY KEY (flow, version, node, choice)
    );
    "#,
    // 4: call recordings (REC-1, REC-2): where each file is, what it
    //    holds, and its checksum once closed.
    r#"
    CREATE TABLE recordings (
        id          INTEGER PRIMARY KEY,
        call_uuid   TEXT NOT NULL,
        path        TEXT NOT NULL UNIQUE,
        caller      TEXT NOT NULL,
        callee      TEXT NOT NULL,
        start_ms    INTEGER NOT NULL,
        end_ms      INTEGER,
        duration_ms INTEGER,
        bytes       INTEGER,
        sha256      TEXT,
        state       TEXT NOT NULL
    );
    CREATE INDEX recordings_start ON recordings (start_ms);
    "#,
    // 5: call forwarding set from the phones (TEL-6): per extension and
    //    condition (all, busy, no_answer), the extension calls go to.
    r#"
    CREATE TABLE forwards (
        extension TEXT NOT NULL,
        condition TEXT NOT NULL,
        target    TEXT NOT NULL,
        set_ms    INTEGER NOT NULL,
        PRIMARY KEY (extension, condition)
    );
    "#,
    // 6: who took a recorded call and through which service (REC-2).
    r#"
    ALTER TABLE recordings ADD COLUMN agent TEXT;
    ALTER TABLE recordings ADD COLUMN service TEXT;
    "#,
    // 7: the ACD journal (ACD-10, CMS-1, CMS-2, CMS-10): every queue and
    //    agent event, as the engine emitted it (`detail`, JSON), with the
    //    columns reports select on. Statistics are computed from it, so
    //    they survive restarts.
    r#"
    CREATE TABLE acd_events (
        id        INTEGER PRIMARY KEY,
        at_ms     INTEGER NOT NULL,
        kind      TEXT NOT NULL,
        call_uuid TEXT,
        queue     TEXT,
        agent     TEXT,
        detail    TEXT NOT NULL
    );
    CREATE INDEX acd_events_at ON acd_events (at_ms);
    "#,
    // 8: the configuration's system of record (TEL-8): every version an
    //    administrator made, whole, with who, when, from where and what
    //    changed. The newest row is what pbxd runs; `dering.toml` is only
    //    the first boot's seed and the import/export format.
    r#"
    CREATE TABLE config_versions (
        version  INTEGER PRIMARY KEY,
        at_ms    INTEGER NOT NULL,
        author   TEXT NOT NULL,
        source   TEXT NOT NULL,
        summary  TEXT NOT NULL,
        sha256   TEXT NOT NULL,
        document TEXT NOT NULL
    );
    "#,
    // 9: calls that leave the box or were refused it (TEL-5, issue 13):
    //    the trunk and route taken, the dialled number's class and its
    //    normalised (E.164) form, and why an outside call was refused, so
    //    billing and per-trunk reports can come later.
    r#"
    ALTER TABLE calls ADD COLUMN trunk TEXT;
    ALTER TABLE calls ADD COLUMN route TEXT;
    ALTER TABLE calls ADD COLUMN number_class TEXT;
    ALTER TABLE calls ADD COLUMN callee_e164 TEXT;
    ALTER TABLE calls ADD COLUMN refused TEXT;
    "#,
    // 10: calls that came in by a trunk or a trusted peer (TEL-10): the
    //    numbers as the carrier wrote them beside their E.164 forms (the
    //    callee's in `callee_e164`, the trunk in `trunk`), so a number a
    //    carrier mangles can be traced and reports group by DID.
    r#"
    ALTER TABLE calls ADD COLUMN caller_raw TEXT;
    ALTER TABLE calls ADD COLUMN caller_e164 TEXT;
    ALTER TABLE calls ADD COLUMN callee_raw TEXT;
    "#,
    // 11: the web admin's accounts and its audit trail (CTI-5, issue 15):
    //    one row per person, sessions and API tokens by the SHA-256 of
    //    their secret (a stolen database opens no session), failed logins
    //    for lockout and rate limiting, and an audit log that triggers
    //    keep append-only: no UPDATE, no DELETE, never expiring.
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        login         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        full_name     TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'qa', 'admin')),
        password_hash TEXT NOT NULL,
        totp_secret   TEXT,
        totp_enabled  INTEGER NOT NULL DEFAULT 0,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        lang          TEXT NOT NULL DEFAULT 'id' CHECK (lang IN ('id', 'en')),
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,
        user_id      INTEGER NOT NULL REFERENCES users (id),
        created_ms   INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        source       TEXT NOT NULL,
        user_agent   TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);
    CREATE TABLE api_tokens (
        id           INTEGER PRIMARY KEY,
        user_id      INTEGER NOT NULL REFERENCES users (id),
        name         TEXT NOT NULL,
        token_hash   TEXT NOT NULL UNIQUE,
        scopes       TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        last_used_ms INTEGER,
        revoked_ms   INTEGER
    );
    CREATE TABLE login_failures (
        id     INTEGER PRIMARY KEY,
        login  TEXT NOT NULL COLLATE NOCASE,
        source TEXT NOT NULL,
        at_ms  INTEGER NOT NULL
    );
    CREATE INDEX login_failures_login ON login_failures (login, at_ms);
    CREATE INDEX login_failures_source ON login_failures (source, at_ms);
    CREATE TABLE audit_log (
        id      INTEGER PRIMARY KEY,
        at_ms   INTEGER NOT NULL,
        user_id INTEGER,
        login   TEXT NOT NULL,
        source  TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT NOT NULL,
        before  TEXT,
        after   TEXT
    );
    CREATE INDEX audit_log_at ON audit_log (at_ms);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
    END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
    END;
    "#,
    // 12: the web admin's call-flow editor (ACD-3): drafts saved but not
    //    published (every save kept, with who and when), and where the
    //    editor drew each node, for drafts and published versions alike:
    //    the flow document has no place for positions and pbxd never
    //    needs them. `layout` is a JSON object, node id to [x, y].
    r#"
    CREATE TABLE flow_drafts (
        id        INTEGER PRIMARY KEY,
        name      TEXT NOT NULL,
        author    TEXT NOT NULL,
        at_ms     INTEGER NOT NULL,
        based_on  INTEGER,
        document  TEXT NOT NULL,
        layout    TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX flow_drafts_name ON flow_drafts (name, id);
    CREATE TABLE flow_layouts (
        name      TEXT NOT NULL,
        version   INTEGER NOT NULL,
        layout    TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    "#,
    // 13: the web admin's call record and recording searches (TEL-7,
    //    REC-3) look up each call's queue, agent and recording by the
    //    call's UUID; without these they scan the journal per call.
    r#"
    CREATE INDEX acd_events_call_uuid ON acd_events (call_uuid);
    CREATE INDEX recordings_call_uuid ON recordings (call_uuid);
    "#,
    // 14: the E1 span (or analog line) and channel a call took through
    //    trunkd (issue 14), from its X-Dering-Channel header: a fault on
    //    one timeslot shows in the records of the calls it carried.
    r#"
    ALTER TABLE calls ADD COLUMN span TEXT;
    ALTER TABLE calls ADD COLUMN channel INTEGER;
    "#,
    // 15: tickets (CTI-3) and the outbox
    //    syncd delivers to SIMPEL from (SYNC-1..3, decision 0027). A
    //    ticket's creation or change writes its `outbox` row in the same
    //    transaction, so a ticket is never recorded without its delivery
    //    owed, nor a delivery owed for a ticket rolled back. `seq` orders
    //    the rows of one ticket; `idempotency_key` is sent with every
    //    attempt of a row, so a retry after a lost answer is not a
    //    duplicate upstream. `sync_cursors` keeps how far the upstream
    //    change feed was applied, written with the changes it covers;
    //    `upstream_parked` keeps a change to a ticket whose SIMPEL id the
    //    box does not know yet (its creation's answer was lost and the
    //    retry is still to come), applied when the id becomes known.
    r#"
    CREATE TABLE tickets (
        id               INTEGER PRIMARY KEY,
        number           TEXT NOT NULL UNIQUE,
        reporter_name    TEXT NOT NULL,
        reporter_phone   TEXT NOT NULL,
        reporter_email   TEXT NOT NULL,
        category         TEXT NOT NULL,
        description      TEXT NOT NULL,
        urgency          TEXT NOT NULL CHECK (urgency IN ('low','medium','high')),
        impact           TEXT NOT NULL CHECK (impact IN ('low','medium','high')),
        priority         TEXT NOT NULL CHECK (priority IN ('critical','high','medium','low')),
        respond_by_ms    INTEGER NOT NULL,
        resolve_by_ms    INTEGER NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('open','in_progress','escalated','closed')),
        escalation_level INTEGER NOT NULL DEFAULT 0,
        assignee         TEXT,
        unit             TEXT NOT NULL,
        queue            TEXT,
        created_by       TEXT NOT NULL,
        call_ids         TEXT NOT NULL,
        recordings       TEXT NOT NULL,
        version          INTEGER NOT NULL,
        created_ms       INTEGER NOT NULL,
        updated_ms       INTEGER NOT NULL,
        upstream_id      TEXT,
        upstream_version INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX tickets_phone ON tickets (reporter_phone);
    CREATE INDEX tickets_upstream ON tickets (upstream_id);
    CREATE TABLE ticket_history (
        id        INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets (id),
        version   INTEGER NOT NULL,
        at_ms     INTEGER NOT NULL,
        author    TEXT NOT NULL,
        origin    TEXT NOT NULL CHECK (origin IN ('local','upstream')),
        change    TEXT NOT NULL
    );
    CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, id);
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        ticket_id       INTEGER NOT NULL REFERENCES tickets (id),
        seq             INTEGER NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        kind            TEXT NOT NULL CHECK (kind IN ('create','update')),
        payload         TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending','delivered','dead')),
        last_error      TEXT,
        created_ms      INTEGER NOT NULL,
        delivered_ms    INTEGER,
        UNIQUE (ticket_id, seq)
    );
    CREATE INDEX outbox_open ON outbox (state, ticket_id, seq);
    CREATE TABLE sync_cursors (
        name   TEXT PRIMARY KEY,
        cursor TEXT NOT NULL,
        at_ms  INTEGER NOT NULL
    );
    CREATE TABLE upstream_parked (
        id          INTEGER PRIMARY KEY,
        upstream_id TEXT NOT NULL,
        status      TEXT NOT NULL,
        version     INTEGER NOT NULL,
        at_ms       INTEGER NOT NULL
    );
    CREATE INDEX upstream_parked_id ON upstream_parked (upstream_id);
    "#,
    // 16: what pbxd needs to end each leg of an answered call (RFC 3261
    //    §12) after a crash: the dialog's identity, its remote target and
    //    route set (a JSON array), the last local CSeq, the transport and
    //    the peer's address. Written on answer and on every change,
    //    removed when the call ends; rows still here at start are calls a
    //    crash cut, whose phones get a BYE (decision 0028).
    r#"
    CREATE TABLE call_dialogs (
        call_uuid  TEXT NOT NULL,
        leg        TEXT NOT NULL CHECK (leg IN ('a','b')),
        call_id    TEXT NOT NULL,
        local      TEXT NOT NULL,
        remote     TEXT NOT NULL,
        target     TEXT NOT NULL,
        route      TEXT NOT NULL DEFAULT '[]',
        cseq       INTEGER NOT NULL,
        transport  TEXT NOT NULL,
        peer       TEXT NOT NULL,
        PRIMARY KEY (call_uuid, leg)
    );
    "#,
    // 17: each run of the daily database and configuration backup (OPS-4,
    //    decision 0032): when it started and ended, where it went, and
    //    its error if it failed. `/health`, `/metrics` and the SNMP agent
    //    read the newest rows: a failed run, or no success for 26 h, is
    //    an alarm.
    r#"
    CREATE TABLE backup_runs (
        id          INTEGER PRIMARY KEY,
        started_ms  INTEGER NOT NULL,
        finished_ms INTEGER NOT NULL,
        ok          INTEGER NOT NULL CHECK (ok IN (0, 1)),
        destination TEXT NOT NULL,
        name        TEXT,
        bytes       INTEGER,
        error       TEXT
    );
    "#,
    // 18: ticket SLA alarms (CTI-3, decision 0030): each breach webd has
    //    raised (response, resolution, or an escalation level overdue),
    //    once, keyed by what was missed and when it was due, so a breach
    //    is audited once however often the pages look; and the notes a
    //    person adds to a citizen's interaction history.
    r#"
    CREATE TABLE ticket_breaches (
        ticket_id  INTEGER NOT NULL REFERENCES tickets (id),
        kind       TEXT NOT NULL CHECK (kind IN ('response','resolution','escalation')),
        level      INTEGER NOT NULL,
        due_ms     INTEGER NOT NULL,
        raised_ms  INTEGER NOT NULL,
        PRIMARY KEY (ticket_id, kind, level, due_ms)
    );
    CREATE TABLE citizen_notes (
        id       INTEGER PRIMARY KEY,
        phone    TEXT NOT NULL,
        at_ms    INTEGER NOT NULL,
        author   TEXT NOT NULL,
        text     TEXT NOT NULL
    );
    CREATE INDEX citizen_notes_phone ON citizen_notes (phone, at_ms);
    "#,
    // 19: first-boot setup (issue 17 §3, decision 0034): the one row
    //    that says the box's setup is finished, when and by whom. Until it
    //    exists pbxd serves SIP on loopback only. A box that already has
    //    accounts was set up before this existed and counts as done.
    r#"
    CREATE TABLE setup_done (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        at_ms    INTEGER NOT NULL,
        done_by  TEXT NOT NULL
    );
    INSERT INTO setup_done (id, at_ms, done_by)
        SELECT 1, 0, 'accounts made before first-boot setup' WHERE EXISTS (SELECT 1 FROM users);
    "#,
    // 20: each call's numbers as the citizen key (`phone::key`), indexed:
    //     a citizen's history and the desktop's pop find their calls by
    //     index instead of scanning every call (CTI-4). The calls before
    //     it get their keys here, through `dering_phone_key`.
    r#"
    ALTER TABLE calls ADD COLUMN caller_key TEXT;
    ALTER TABLE calls ADD COLUMN callee_key TEXT;
    UPDATE calls SET caller_key = dering_phone_key(caller),
                     callee_key = dering_phone_key(callee);
    CREATE INDEX calls_caller_key ON calls (caller_key, start_ms);
    CREATE INDEX calls_callee_key ON calls (callee_key, start_ms);
    "#,
];
