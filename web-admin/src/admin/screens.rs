//! What each configuration screen edits: where its entries live in
//! `dering.toml`, their fields, and who may change them. One table drives
//! the pages, the JSON API and the document edits alike, so a screen is
//! added by describing it here, not by writing a handler.

/// How a form's text becomes a TOML value (see `form::value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A password or PIN: never shown back; left empty on an edit, the
    /// stored one is kept.
    Secret,
    Int,
    Bool,
    /// `name=level, name=level`, stored as an inline table.
    Skills,
    /// `a, b, c`, stored as an array of strings.
    List,
    Choice(&'static [&'static str]),
    /// Weekly opening hours, one range a line: `mon-fri 08:00-16:00`,
    /// stored as an array of `{days, from, to}` (`calendar::hours`).
    Hours,
    /// Dated holidays, one a line: `2026-12-25 Hari Raya Natal`, stored
    /// as an array of `{date, name}` (`calendar::holidays`).
    Holidays,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The TOML key, also the form field's name.
    pub name: &'static str,
    pub kind: Kind,
    /// Must be given on creation; an optional field left empty is removed
    /// from the entry, so the loader's default applies.
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

/// Where a screen's entries are kept in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `[[path]]` entries (`path` may be dotted: `monitoring.supervisor`),
    /// each identified by its `key` field.
    Tables { path: &'static str },
    /// `path = [{…}, …]` inside a table, identified by its key field's
    /// value (the block list: whichever of number, prefix, anonymous).
    InlineList { path: &'static str },
    /// `path = { key = value, … }` (the VIP list: number = priority).
    InlineMap { path: &'static str },
    /// Single settings, each field a dotted path (`calls.pickup_code`).
    Settings,
}

/// Who may change a screen. Everyone who may see the admin may read it;
/// the permission matrix (`docs/web-permissions.md`) says who sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    Admin,
    /// Day-to-day ACD settings a supervisor keeps up (issue 15 §2).
    Supervisor,
}

#[derive(Debug, Clone, Copy)]
pub struct Screen {
    /// The URL segment: `/admin/<slug>`, `/api/v1/admin/<slug>`.
    pub slug: &'static str,
    pub title_id: &'static str,
    pub title_en: &'static str,
    pub place: Place,
    /// The field that identifies an entry (empty for settings).
    pub key: &'static str,
    pub fields: &'static [Field],
    pub editor: Editor,
}

impl Screen {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The top-level table the version summaries name for this screen
    /// (`agent` for `[[agent]]`, `acd` for `acd.vip`).
    pub fn summary_table(&self) -> &'static str {
        match self.place {
            Place::Tables { path } | Place::InlineList { path } | Place::InlineMap { path } => {
                path.split('.').next().unwrap_or(path)
            }
            Place::Settings => "",
        }
    }

    /// Entries keyed in the summaries (`agent 2001 changed`) rather than
    /// by their table (`[acd] changed`): the tables
    /// `pbxd::config_versions::summary` matches by key.
    pub fn keyed_in_summary(&self) -> bool {
        matches!(
            self.place,
            Place::Tables { path } if ["extension", "agent", "queue", "did", "conference"].contains(&path)
        )
    }
}

const STRATEGIES: &[&str] = &dering_config::STRATEGIES;
const BLOCK_ACTIONS: &[&str] = &["busy", "announcement", "hangup"];
const PHONE_LOST: &[&str] = &["logout", "unreachable"];
const TRUNK_KINDS: &[&str] = &["register", "ip"];
const TRANSPORTS: &[&str] = &["udp", "tcp", "tls"];
const NUMBER_FORMATS: &[&str] = &["national", "international", "e164"];
/// The names of `dering_config::TIME_ZONES`.
const TIME_ZONES: &[&str] = &["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"];

pub const SCREENS: &[Screen] = &[
    Screen {
        slug: "extensions",
        title_id: "Ekstensi dan pengguna",
        title_en: "Extensions and users",
        place: Place::Tables { path: "extension" },
        key: "number",
        fields: &[
            req("number", Kind::Text),
            req("name", Kind::Text),
            req("password", Kind::Secret),
            opt("pickup_group", Kind::Text),
            opt("contact", Kind::Text),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "agents",
        title_id: "Agen",
        title_en: "Agents",
        place: Place::Tables { path: "agent" },
        key: "id",
        fields: &[
            req("id", Kind::Text),
            req("name", Kind::Text),
            req("pin", Kind::Secret),
            opt("skills", Kind::Skills),
            opt("auto_answer", Kind::Bool),
        ],
        editor: Editor::Supervisor,
    },
    Screen {
        slug: "queues",
        title_id: "Antrean dan strategi",
        title_en: "Queues and strategies",
        place: Place::Tables { path: "queue" },
        key: "name",
        fields: &[
            req("name", Kind::Text),
            req("strategy", Kind::Choice(STRATEGIES)),
            opt("skills", Kind::Skills),
            opt("ring_seconds", Kind::Int),
            opt("wrapup_seconds", Kind::Int),
            opt("overflow_seconds", Kind::Int),
            opt("overflow_to", Kind::Text),
            opt("max_wait_seconds", Kind::Int),
            opt("max_callers", Kind::Int),
            opt("exit_to", Kind::Text),
            opt("join_empty", Kind::Bool),
            opt("leave_when_empty", Kind::Bool),
            opt("service_level_seconds", Kind::Int),
            opt("callback", Kind::Bool),
        ],
        editor: Editor::Supervisor,
    },
    Screen {
        slug: "vip",
        title_id: "Daftar VIP",
        title_en: "VIP list",
        place: Place::InlineMap { path: "acd.vip" },
        key: "number",
        fields: &[req("number", Kind::Text), req("priority", Kind::Int)],
        editor: Editor::Supervisor,
    },
    Screen {
        slug: "blocklist",
        title_id: "Daftar blokir",
        title_en: "Block list",
        place: Place::InlineList { path: "acd.block" },
        key: "number",
        fields: &[
            opt("number", Kind::Text),
            opt("prefix", Kind::Text),
            opt("anonymous", Kind::Bool),
            req("action", Kind::Choice(BLOCK_ACTIONS)),
        ],
        editor: Editor::Supervisor,
    },
    Screen {
        slug: "priority",
        title_id: "Prioritas penelepon",
        title_en: "Caller priority",
        place: Place::Settings,
        key: "",
        fields: &[
            opt("acd.priority_mobile", Kind::Int),
            opt("acd.priority_fixed", Kind::Int),
            opt("acd.short_abandon_seconds", Kind::Int),
            opt("acd.max_missed", Kind::Int),
            opt("acd.phone_lost", Kind::Choice(PHONE_LOST)),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "numbers",
        title_id: "Nomor (DID)",
        title_en: "Numbers (DIDs)",
        place: Place::Tables { path: "did" },
        key: "number",
        fields: &[req("number", Kind::Text), req("flow", Kind::Text)],
        editor: Editor::Admin,
    },
    Screen {
        slug: "calendars",
        title_id: "Jam kerja dan hari libur",
        title_en: "Business hours and holidays",
        place: Place::Tables { path: "calendar" },
        key: "name",
        fields: &[
            req("name", Kind::Text),
            opt("hours", Kind::Hours),
            opt("holidays", Kind::Holidays),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "trunks",
        title_id: "Trunk",
        title_en: "Trunks",
        place: Place::Tables { path: "trunk" },
        key: "name",
        fields: &[
            req("name", Kind::Text),
            opt("enabled", Kind::Bool),
            req("kind", Kind::Choice(TRUNK_KINDS)),
            req("host", Kind::Text),
            opt("port", Kind::Int),
            opt("transport", Kind::Choice(TRANSPORTS)),
            opt("addresses", Kind::List),
            opt("username", Kind::Text),
            opt("password", Kind::Secret),
            opt("auth_username", Kind::Text),
            opt("realm", Kind::Text),
            opt("expires", Kind::Int),
            opt("channels", Kind::Int),
            opt("cps", Kind::Int),
            opt("codecs", Kind::List),
            opt("number_format", Kind::Choice(NUMBER_FORMATS)),
            opt("international_prefix", Kind::Text),
            opt("caller_id", Kind::Text),
            opt("caller_id_headers", Kind::List),
            opt("keepalive_seconds", Kind::Int),
            opt("failover_on", Kind::List),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "routes",
        title_id: "Rute keluar",
        title_en: "Outbound routes",
        place: Place::Tables { path: "route" },
        key: "name",
        fields: &[
            req("name", Kind::Text),
            opt("classes", Kind::List),
            opt("patterns", Kind::List),
            req("trunks", Kind::List),
            opt("failover_on", Kind::List),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "conferences",
        title_id: "Ruang konferensi",
        title_en: "Conference rooms",
        place: Place::Tables { path: "conference" },
        key: "number",
        fields: &[
            req("number", Kind::Text),
            req("name", Kind::Text),
            opt("pin", Kind::Secret),
            opt("max_parties", Kind::Int),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "supervisors",
        title_id: "Supervisor pemantauan",
        title_en: "Monitoring supervisors",
        place: Place::Tables {
            path: "monitoring.supervisor",
        },
        key: "name",
        fields: &[req("name", Kind::Text), req("pin", Kind::Secret)],
        editor: Editor::Admin,
    },
    Screen {
        slug: "features",
        title_id: "Kode fitur",
        title_en: "Feature codes",
        place: Place::Settings,
        key: "",
        fields: &[
            opt("calls.three_way_code", Kind::Text),
            opt("calls.transfer_code", Kind::Text),
            opt("calls.pickup_code", Kind::Text),
            opt("calls.group_pickup_code", Kind::Text),
            opt("monitoring.listen_code", Kind::Text),
            opt("monitoring.whisper_code", Kind::Text),
            opt("monitoring.barge_code", Kind::Text),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "recording",
        title_id: "Aturan rekaman",
        title_en: "Recording rules",
        place: Place::Settings,
        key: "",
        fields: &[
            opt("recording.percent", Kind::Int),
            opt("recording.retention_days", Kind::Int),
            opt("recording.backup_directory", Kind::Text),
            opt("recording.backup_every_hours", Kind::Int),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "recording-rules",
        title_id: "Aturan rekaman per nomor",
        title_en: "Recording rules by number",
        place: Place::Tables {
            path: "recording.rule",
        },
        // Rules have no name: they are told apart by their place (the
        // first that matches decides). Their weekly windows are kept as
        // written when a rule is edited here.
        key: super::document::POSITION,
        fields: &[
            opt("extension", Kind::Text),
            opt("number", Kind::Text),
            opt("flow", Kind::Text),
            opt("queue", Kind::Text),
            req("percent", Kind::Int),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "moh",
        title_id: "Musik tunggu",
        title_en: "Music on hold",
        place: Place::Settings,
        key: "",
        fields: &[opt("calls.music_on_hold", Kind::Text)],
        editor: Editor::Admin,
    },
    Screen {
        slug: "system",
        title_id: "Sistem",
        title_en: "System",
        place: Place::Settings,
        key: "",
        fields: &[
            opt("system.time_zone", Kind::Choice(TIME_ZONES)),
            opt("system.ntp", Kind::List),
            opt("calls.no_answer_seconds", Kind::Int),
            opt("sip.domain", Kind::Text),
            opt("recording.backup_directory", Kind::Text),
            opt("recording.backup_every_hours", Kind::Int),
        ],
        editor: Editor::Admin,
    },
    Screen {
        slug: "ups",
        title_id: "UPS",
        title_en: "UPS",
        place: Place::Settings,
        key: "",
        fields: &[
            opt("power.upsd", Kind::Text),
            opt("power.ups", Kind::Text),
            opt("power.poll_seconds", Kind::Int),
            opt("power.shutdown_runtime_seconds", Kind::Int),
            opt("power.grace_seconds", Kind::Int),
            opt("power.required_runtime_hours", Kind::Int),
        ],
        editor: Editor::Admin,
    },
];

pub fn screen(slug: &str) -> Option<&'static Screen> {
    SCREENS.iter().find(|s| s.slug == slug)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_zone_choices_are_the_loader_s() {
        let names: Vec<&str> = dering_config::TIME_ZONES.iter().map(|(n, _)| *n).collect();
        assert_eq!(super::TIME_ZONES, names);
    }
}
