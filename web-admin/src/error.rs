//! One error type for every handler. A handler returns `AppError`; its
//! `IntoResponse` only records what went wrong (status, code, field) in the
//! response's extensions, and the `render` middleware, which knows the
//! request, turns that into JSON `{error, field, message}` under `/api/v1`,
//! a redirect to the login page for an anonymous page request, or an HTML
//! page naming the refused field. Internal details are logged once, here,
//! and never sent to the client (after axum's error-handling example).

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use crate::i18n::{Lang, Text};

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// No valid session or token: 401 for the API, the login page for pages.
    #[error("login required")]
    Unauthenticated,
    /// Logged in, but the role (or the token's scope) lacks the permission.
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// Input refused; `field` names the form field or JSON key.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A state-changing request without the session's CSRF token or from
    /// another origin.
    #[error("cross-site request refused")]
    Csrf,
    /// Too many failed logins (lockout or rate limit).
    #[error("too many attempts, retry in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    /// The request conflicts with the current state (a login already taken).
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("pbxd: {0}")]
    Control(#[from] dering_control::client::ClientError),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// Input refused, naming the field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Control(dering_control::client::ClientError::Connect { .. }) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Control(_) => StatusCode::BAD_GATEWAY,
            AppError::Db(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Invalid { .. } => "invalid",
            AppError::Csrf => "csrf",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Conflict { .. } => "conflict",
            AppError::Control(_) => "pbxd_unavailable",
            AppError::Db(_) | AppError::Internal(_) => "internal",
        }
    }
}

/// What `render` needs to build the body, carried in the response's
/// extensions from `into_response` to the middleware.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub field: Option<String>,
    /// Safe to show: never a database or socket detail.
    pub message: Option<String>,
    pub retry_after_s: Option<u64>,
    /// The response's status (set for every error; `None` only in
    /// values built by hand).
    pub status: Option<StatusCode>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (field, message) = match &self {
            AppError::Invalid { field, message } | AppError::Conflict { field, message } => {
                (Some(field.clone()), Some(message.clone()))
            }
            _ => (None, None),
        };
        let retry_after_s = match self {
            AppError::TooManyRequests { retry_after_s } => Some(retry_after_s),
            _ => None,
        };
        let mut r = status.into_response();
        r.extensions_mut().insert(ErrorInfo {
            code: self.code(),
            field,
            message,
            retry_after_s,
            status: Some(status),
        });
        r
    }
}

/// Whether a path belongs to the JSON API.
pub fn is_api(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

const ERROR_TITLE: Text = Text {
    id: "Permintaan ditolak",
    en: "Request refused",
};
const FIELD: Text = Text {
    id: "Isian",
    en: "Field",
};
const HOME: Text = Text {
    id: "Ke halaman utama",
    en: "To the home page",
};

fn explain(code: &str) -> Text {
    match code {
        "forbidden" => Text {
            id: "Peran Anda tidak diizinkan membuka halaman ini.",
            en: "Your role may not open this page.",
        },
        "not_found" => Text {
            id: "Halaman tidak ditemukan.",
            en: "Page not found.",
        },
        "invalid" | "method_not_allowed" | "unsupported_media_type" | "too_large" => Text {
            id: "Isian tidak sah.",
            en: "Invalid input.",
        },
        "csrf" => Text {
            id: "Permintaan lintas situs ditolak. Muat ulang halaman dan coba lagi.",
            en: "Cross-site request refused. Reload the page and try again.",
        },
        "too_many_requests" => Text {
            id: "Terlalu banyak percobaan gagal. Coba lagi nanti.",
            en: "Too many failed attempts. Try again later.",
        },
        "conflict" => Text {
            id: "Bertentangan dengan data yang ada.",
            en: "Conflicts with existing data.",
        },
        "pbxd_unavailable" => Text {
            id: "Mesin telepon (pbxd) tidak menjawab.",
            en: "The telephony engine (pbxd) does not answer.",
        },
        _ => Text {
            id: "Terjadi kesalahan di server.",
            en: "Something went wrong on the server.",
        },
    }
}

/// An extractor's refusal (axum's plain-text 4xx: a missing form field, a
/// malformed JSON body, a wrong method) as an `ErrorInfo`, so it is shown
/// like our own errors, naming the field where axum's message does
/// ("missing field `login`"). Other responses come back untouched.
async fn rejection(res: Response) -> Result<ErrorInfo, Response> {
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !res.status().is_client_error() || !plain {
        return Err(res);
    }
    let status = res.status();
    let Ok(body) = axum::body::to_bytes(res.into_body(), 4096).await else {
        return Ok(ErrorInfo::plain(status, None));
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let field = text
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(f, _)| f.to_owned());
    Ok(ErrorInfo::plain(status, Some((field, text))))
}

impl ErrorInfo {
    fn plain(status: StatusCode, detail: Option<(Option<String>, String)>) -> Self {
        let code = match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            _ => "invalid",
        };
        let (field, message) = match detail {
            Some((field, text)) => (field, Some(text)),
            None => (None, None),
        };
        ErrorInfo {
            code,
            field,
            message,
            retry_after_s: None,
            status: Some(status),
        }
    }
}

/// The status an error answers with.
fn info_status(info: &ErrorInfo) -> StatusCode {
    info.status.unwrap_or(match info.code {
        "unauthenticated" => StatusCode::UNAUTHORIZED,
        "forbidden" | "csrf" => StatusCode::FORBIDDEN,
        "not_found" => StatusCode::NOT_FOUND,
        "invalid" => StatusCode::UNPROCESSABLE_ENTITY,
        "conflict" => StatusCode::CONFLICT,
        "too_many_requests" => StatusCode::TOO_MANY_REQUESTS,
        "pbxd_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    })
}

/// Middleware: gives an `AppError` response its body, by request kind.
pub async fn render(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let lang = Lang::from_headers(req.headers());
    let res = next.run(req).await;
    let info = match res.extensions().get::<ErrorInfo>().cloned() {
        Some(info) => info,
        None => match rejection(res).await {
            Ok(info) => info,
            Err(res) => return res,
        },
    };
    let status = info_status(&info);
    let mut out = if is_api(&path) {
        (
            status,
            Json(serde_json::json!({
                "error": info.code,
                "field": info.field,
                "message": info.message,
            })),
        )
            .into_response()
    } else if status == StatusCode::UNAUTHORIZED {
        let next = crate::ui::url_encode(&target);
        Redirect::to(&format!("/login?next={next}")).into_response()
    } else {
        let mut body = format!(
            "<p class=\"error\">{}</p>",
            crate::ui::esc(lang.t(&explain(info.code)))
        );
        if let Some(field) = &info.field {
            body.push_str(&format!(
                "<p class=\"error\" data-field=\"{f}\">{}: <strong>{f}</strong> — {}</p>",
                lang.t(&FIELD),
                crate::ui::esc(info.message.as_deref().unwrap_or("")),
                f = crate::ui::esc(field),
            ));
        }
        body.push_str(&format!("<p><a href=\"/\">{}</a></p>", lang.t(&HOME)));
        let page = crate::ui::bare_page(lang, lang.t(&ERROR_TITLE), &body);
        (status, page).into_response()
    };
    if let Some(s) = info.retry_after_s {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            out.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    out.extensions_mut().insert(info);
    out
}
