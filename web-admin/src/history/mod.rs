//! Call records, recordings and power events (issue 15 §4; TEL-7, REC-3,
//! REC-4, PWR-2): searches over the box's SQLite database, read-only.
//! Each search is one parameterised query bounded by a date range on an
//! indexed time column; the pages and `/api/v1/history/…` share them.

pub mod calls;
pub mod csv;
pub mod days;
mod playback;
pub mod power;
pub mod range;
pub mod recordings;
pub mod serve;
mod web;

pub use web::Api;

use crate::i18n::Zone;

/// Why a search could not run: a field the user typed (named, so the form
/// can show it next to the input), or the database.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
}

impl HistoryError {
    fn field(field: &'static str, message: impl Into<String>) -> HistoryError {
        HistoryError::Field {
            field,
            message: message.into(),
        }
    }
}

/// One page of results and whether more follow.
#[derive(Debug, Clone, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// Another page follows (one row more than a page was found).
    pub more: bool,
}

/// Rows per page unless asked; the most a page may hold (and an export,
/// which is paged the same way so one request stays bounded).
pub const PER_PAGE: u32 = 50;
pub const MAX_PER_PAGE: u32 = 1000;

/// The date range of a search: `from`/`to` as `YYYY-MM-DD` in the box's
/// `zone`, whole days. Without a `from` the search covers the last 31 days, so a bare
/// search never walks the whole history.
pub fn date_range(
    from: Option<&str>,
    to: Option<&str>,
    now_ms: i64,
    zone: Zone,
) -> Result<(i64, i64), HistoryError> {
    let parse = |field: &'static str, s: &str| {
        days::parse_date(s).ok_or_else(|| HistoryError::field(field, "not a date (YYYY-MM-DD)"))
    };
    let end = match to.filter(|s| !s.trim().is_empty()) {
        Some(s) => days::day_end_ms(parse("to", s)?, zone),
        None => now_ms + 1,
    };
    let start = match from.filter(|s| !s.trim().is_empty()) {
        Some(s) => days::day_start_ms(parse("from", s)?, zone),
        None => end - 31 * 86_400_000,
    };
    if start >= end {
        return Err(HistoryError::field("to", "before the start date"));
    }
    Ok((start, end))
}

/// A non-empty, trimmed text field.
fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `s` as a LIKE pattern matching it anywhere, with `%`, `_` and `\`
/// taken literally (`ESCAPE '\'`).
pub(crate) fn contains_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A whole number typed into `field` (empty: none). Query strings carry
/// every field as text, and a search form sends its empty inputs too.
fn number(field: &'static str, v: &Option<String>) -> Result<Option<u32>, HistoryError> {
    match text(v) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| HistoryError::field(field, "not a whole number")),
    }
}

/// Paging from the form: page from 1, per page within bounds.
fn paging(page: &Option<String>, per_page: &Option<String>) -> Result<(u32, u32), HistoryError> {
    let page = number("page", page)?.unwrap_or(1);
    if page == 0 {
        return Err(HistoryError::field("page", "pages count from 1"));
    }
    let per = number("per_page", per_page)?.unwrap_or(PER_PAGE);
    if per == 0 || per > MAX_PER_PAGE {
        return Err(HistoryError::field(
            "per_page",
            format!("between 1 and {MAX_PER_PAGE}"),
        ));
    }
    Ok((page, per))
}

/// One page of `sql`, newest first, whose last words are `LIMIT ? OFFSET ?`
/// (the two parameters this adds). It asks for one row more than a page
/// so the page can say whether another follows without a COUNT.
fn query_page<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    mut params: Vec<rusqlite::types::Value>,
    (page, per_page): (u32, u32),
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Page<T>, HistoryError> {
    use rusqlite::types::Value;
    params.push(Value::Integer(i64::from(per_page) + 1));
    params.push(Value::Integer(i64::from(page - 1) * i64::from(per_page)));
    let mut st = conn.prepare(sql)?;
    let mut items = st
        .query_map(rusqlite::params_from_iter(params), row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = items.len() > per_page as usize;
    items.truncate(per_page as usize);
    Ok(Page {
        items,
        page,
        per_page,
        more,
    })
}

#[cfg(test)]
pub(crate) mod testdb;
#[cfg(test)]
mod tests;

/// This module's pages and API, merged into `app::router`: call records
/// and power events ([`web`]), recordings ([`playback`]).
pub fn routes() -> axum::Router<crate::app::AppState> {
    web::routes().merge(playback::routes())
}
