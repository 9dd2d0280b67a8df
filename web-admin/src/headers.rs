//! Security headers on every response: a Content-Security-Policy that
//! allows only the box's own scripts and styles (no inline script, so an
//! injected `<script>` does not run), no framing (clickjacking), no MIME
//! sniffing, no referrer to other sites, HSTS when served over HTTPS, and
//! no caching of pages that show personal data.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// HSTS for a year; browsers ignore it over plain HTTP anyway.
const HSTS: &str = "max-age=31536000";

pub async fn secure(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if state.https() {
        set(h, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if !is_asset {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}
