//! CSRF defence for every state-changing request, in three layers
//! (decision 0017): the session cookie is `SameSite=Strict`; the browser's
//! `Sec-Fetch-Site` / `Origin` must say the request comes from this site;
//! and a request carrying a session cookie must carry the session's token
//! (form field `_csrf`, query `?_csrf=` for multipart uploads, or header
//! `x-csrf-token` for scripts). Requests with an API bearer token are
//! exempt: browsers never attach one on their own.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::auth::session;
use crate::error::AppError;
use crate::i18n::cookie;
use crate::ui::CSRF_FIELD;

/// Largest form body the check reads to find the token.
const FORM_LIMIT: usize = 1 << 20;

pub const HEADER: &str = "x-csrf-token";

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the browser says the request comes from another site.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return true;
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return origin_host != Some(host);
    }
    false
}

fn query_token(req: &Request) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == CSRF_FIELD).then(|| v.to_owned())
    })
}

fn form_token(body: &[u8]) -> Option<String> {
    let form: Vec<(String, String)> = form_pairs(body);
    form.into_iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v)
}

/// `application/x-www-form-urlencoded` pairs (the token is hex, so no
/// percent-decoding subtleties matter, but `+` and `%XX` are handled).
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((decode(k), decode(v)))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Middleware: refuses a cross-site or token-less state-changing request.
pub async fn check(State(_state): State<AppState>, req: Request, next: Next) -> Response {
    if !unsafe_method(req.method()) || crate::auth::viewer::bearer_header(req.headers()) {
        return next.run(req).await;
    }
    if cross_site(req.headers()) {
        return AppError::Csrf.into_response();
    }
    let Some(secret) = cookie(req.headers(), session::COOKIE).filter(|s| !s.is_empty()) else {
        // No session: login and first-start setup, guarded by the origin
        // check above and SameSite.
        return next.run(req).await;
    };
    let expected = session::csrf_token(&secret);
    let given = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query_token(&req));
    if let Some(given) = given {
        return if given == expected {
            next.run(req).await
        } else {
            AppError::Csrf.into_response()
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return AppError::Csrf.into_response();
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
        return AppError::invalid("body", "form too large").into_response();
    };
    if form_token(&bytes).as_deref() != Some(expected.as_str()) {
        return AppError::Csrf.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        let p = form_pairs(b"a=1+2&_csrf=ab%2Fc&x");
        assert_eq!(
            p,
            vec![("a".into(), "1 2".into()), ("_csrf".into(), "ab/c".into())]
        );
    }

    #[test]
    fn another_origin_or_site_is_cross_site() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "box:8443".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, "https://box:8443".parse().unwrap());
        assert!(!cross_site(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(cross_site(&h));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&h));
    }
}
