//! The audit log's page (`view_audit`), its CSV export (itself audited:
//! an export is a sensitive read) and `/api/v1/audit`. Filters: login,
//! action prefix, and a day range in the site's zone.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::types::Value as Sql;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Perm, Viewer};
use crate::error::AppError;
use crate::history::days;
use crate::i18n::{Text, Zone};
use crate::ui::{esc, page, url_encode};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit_page))
        .route("/audit.csv", get(audit_csv))
        .route("/api/v1/audit", get(audit_api))
}

/// The API's documentation of this module.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(audit_api), components(schemas(Entry)))]
pub struct Api;

/// Filters of the audit log.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Who acted (exact login).
    pub login: Option<String>,
    /// Action prefix (`user.`, `recording.play`).
    pub action: Option<String>,
    /// First day, `YYYY-MM-DD` in Asia/Jakarta.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` in Asia/Jakarta.
    pub to: Option<String>,
    /// At most this many, newest first (default 500, at most 10000).
    pub limit: Option<u32>,
}

/// One audit log entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: i64,
    pub at_ms: i64,
    pub login: String,
    pub source: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Milliseconds of local midnight starting `day` (`YYYY-MM-DD`) in the
/// box's `zone`.
fn day_start_ms(day: &str, field: &str, zone: Zone) -> Result<i64, AppError> {
    let date = days::parse_date(day).ok_or_else(|| AppError::invalid(field, "YYYY-MM-DD"))?;
    Ok(days::day_start_ms(date, zone))
}

fn query(f: &Filter, zone: Zone) -> Result<(String, Vec<Sql>), AppError> {
    let mut sql = String::from(
        "SELECT id, at_ms, login, source, action, target, before, after FROM audit_log WHERE 1 = 1",
    );
    let mut args: Vec<Sql> = Vec::new();
    if let Some(l) = f.login.as_deref().filter(|s| !s.is_empty()) {
        args.push(Sql::Text(l.to_owned()));
        sql.push_str(&format!(" AND login = ?{}", args.len()));
    }
    if let Some(a) = f.action.as_deref().filter(|s| !s.is_empty()) {
        args.push(Sql::Text(format!("{}%", a.replace(['%', '_'], ""))));
        sql.push_str(&format!(" AND action LIKE ?{}", args.len()));
    }
    if let Some(d) = f.from.as_deref().filter(|s| !s.is_empty()) {
        args.push(Sql::Integer(day_start_ms(d, "from", zone)?));
        sql.push_str(&format!(" AND at_ms >= ?{}", args.len()));
    }
    if let Some(d) = f.to.as_deref().filter(|s| !s.is_empty()) {
        args.push(Sql::Integer(day_start_ms(d, "to", zone)? + 86_400_000));
        sql.push_str(&format!(" AND at_ms < ?{}", args.len()));
    }
    let limit = f.limit.unwrap_or(500).clamp(1, 10_000);
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    Ok((sql, args))
}

async fn load(state: &AppState, f: &Filter, zone: Zone) -> Result<Vec<Entry>, AppError> {
    let (sql, args) = query(f, zone)?;
    state
        .read(move |c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
                Ok(Entry {
                    id: r.get(0)?,
                    at_ms: r.get(1)?,
                    login: r.get(2)?,
                    source: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    before: r.get(6)?,
                    after: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
}

const TITLE: Text = Text {
    id: "Log audit",
    en: "Audit log",
};
const HEADS: [Text; 7] = [
    Text {
        id: "Waktu",
        en: "Time",
    },
    Text {
        id: "Pengguna",
        en: "User",
    },
    Text {
        id: "Dari",
        en: "From",
    },
    Text {
        id: "Tindakan",
        en: "Action",
    },
    Text {
        id: "Objek",
        en: "Target",
    },
    Text {
        id: "Sebelum",
        en: "Before",
    },
    Text {
        id: "Sesudah",
        en: "After",
    },
];
const FILTER: Text = Text {
    id: "Saring",
    en: "Filter",
};
const EXPORT: Text = Text {
    id: "Ekspor CSV",
    en: "Export CSV",
};

fn filter_query(f: &Filter) -> String {
    [
        ("login", &f.login),
        ("action", &f.action),
        ("from", &f.from),
        ("to", &f.to),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k}={}", url_encode(v))))
    .collect::<Vec<_>>()
    .join("&")
}

async fn audit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewAudit)?;
    let rows = load(&state, &f, viewer.zone).await?;
    let lang = viewer.lang;
    let v = |o: &Option<String>| esc(o.as_deref().unwrap_or(""));
    let mut b = format!(
        "<form method=\"get\" action=\"/audit\" class=\"filters\">\
         <label>{u}<input name=\"login\" value=\"{login}\"></label>\
         <label>{a}<input name=\"action\" value=\"{action}\"></label>\
         <label>{fr}<input name=\"from\" type=\"date\" value=\"{from}\"></label>\
         <label>{to}<input name=\"to\" type=\"date\" value=\"{tov}\"></label>\
         <button>{filter}</button> <a href=\"/audit.csv?{q}\" id=\"audit-csv\">{export}</a></form>\
         <table id=\"audit\"><tr>",
        u = lang.t(&HEADS[1]),
        a = lang.t(&HEADS[3]),
        fr = lang.t(&HEADS[0]),
        to = lang.t(&HEADS[0]),
        login = v(&f.login),
        action = v(&f.action),
        from = v(&f.from),
        tov = v(&f.to),
        filter = lang.t(&FILTER),
        export = lang.t(&EXPORT),
        q = esc(&filter_query(&f)),
    );
    for h in &HEADS {
        b.push_str(&format!("<th>{}</th>", lang.t(h)));
    }
    b.push_str("</tr>");
    for e in &rows {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            viewer.zone.time(e.at_ms),
            esc(&e.login),
            esc(&e.source),
            esc(&e.action),
            esc(&e.target),
            v(&e.before),
            v(&e.after),
        ));
    }
    b.push_str("</table>");
    Ok(page(&viewer, lang.t(&TITLE), &b).into_response())
}

/// A CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is
/// defused so a spreadsheet does not run it as a formula.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

async fn audit_csv(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    viewer.require(Perm::ViewAudit)?;
    let rows = load(
        &state,
        &Filter {
            limit: Some(10_000),
            ..f
        },
        viewer.zone,
    )
    .await?;
    crate::audit::log(
        &state,
        &viewer,
        "audit.export",
        "audit_log",
        None,
        Some(serde_json::json!({ "rows": rows.len() })),
    )
    .await?;
    let mut out = String::from("id,time,login,source,action,target,before,after\r\n");
    for e in &rows {
        let fields = [
            e.id.to_string(),
            viewer.zone.time(e.at_ms),
            e.login.clone(),
            e.source.clone(),
            e.action.clone(),
            e.target.clone(),
            e.before.clone().unwrap_or_default(),
            e.after.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(Filter),
    responses((status = 200, body = [Entry]), (status = 401), (status = 403), (status = 422)),
    security(("bearer" = [])))]
async fn audit_api(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(f): Query<Filter>,
) -> Result<Json<Vec<Entry>>, AppError> {
    viewer.require(Perm::ViewAudit)?;
    Ok(Json(load(&state, &f, viewer.zone).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::testing::{TestBox, T0};
    use axum::http::StatusCode;

    #[test]
    fn the_audit_log_refuses_update_and_delete() {
        let b = TestBox::new();
        let db = b.db();
        db.execute(
            "INSERT INTO audit_log (at_ms, login, source, action, target) VALUES (1, 'a', 's', 'x', 't')",
            [],
        )
        .unwrap();
        let e = db
            .execute("UPDATE audit_log SET login = 'b'", [])
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        let e = db.execute("DELETE FROM audit_log", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }

    #[tokio::test]
    async fn the_export_is_filtered_by_local_day_and_is_itself_audited() {
        let b = TestBox::new();
        let qa = b.login_as(Role::Qa);
        let db = b.db();
        // T0 is 15:00 in Jakarta on 2026-12-04; the day before and after.
        for (at, action) in [
            (T0 - 86_400_000, "old"),
            (T0, "today"),
            (T0 + 86_400_000, "new"),
        ] {
            db.execute(
                "INSERT INTO audit_log (at_ms, login, source, action, target) VALUES (?1, 'x', 's', ?2, 't')",
                rusqlite::params![at, action],
            )
            .unwrap();
        }
        let r = b
            .get("/audit.csv?from=2026-12-04&to=2026-12-04", Some(&qa))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.body.contains(",today,") && !r.body.contains(",old,") && !r.body.contains(",new,"),
            "{}",
            r.body
        );
        let exports: i64 = db
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'audit.export'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(exports, 1);
        let r = b.get("/audit?from=04-12-2026", Some(&qa)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("data-field=\"from\""));
    }
}
