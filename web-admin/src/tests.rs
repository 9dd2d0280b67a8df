//! Router tests of the skeleton: health stays open, pages need a login,
//! the API answers 401, CSRF is enforced, and the layout is CSP-clean.

use axum::http::{Method, StatusCode};

use crate::auth::Role;
use crate::testing::TestBox;

#[tokio::test]
async fn health_and_metrics_stay_open_to_anonymous_probes() {
    let b = TestBox::new();
    let r = b.get("/health/live", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "ok\n");
    let r = b.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("dering_build_info"));
    // /health answers (503 here: no pbxd), never a login redirect.
    let r = b.get("/health", None).await;
    assert!(r.status == StatusCode::OK || r.status == StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn anonymous_pages_redirect_to_login_and_the_api_answers_401() {
    let b = TestBox::new();
    let r = b.get("/", None).await;
    assert_eq!(r.location(), Some("/login"));
    let r = b.get("/account/lang", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = b.post_form("/logout", None, "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), Some("/login?next=/logout"));
    let r = b.api(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "unauthenticated");
}

#[tokio::test]
async fn the_layout_has_no_inline_script_and_strict_headers() {
    let b = TestBox::new();
    let r = b.get("/login", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("<script>"), "inline script in {}", r.body);
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["cache-control"], "no-store");
    let r = b.get("/assets/core.css", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn a_session_post_without_the_csrf_token_or_from_another_site_is_refused() {
    let b = TestBox::new();
    let s = b.login_as(Role::Agent);
    // With the token: the language changes.
    let r = b.post_form("/account/lang", Some(&s), "lang=en").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Without it: 403, language unchanged.
    let req = axum::http::Request::post("/account/lang")
        .header("host", "box.test")
        .header("cookie", s.cookie())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("lang=id"))
        .unwrap();
    let r = b.send(req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("data-field")
            || r.body.contains("lintas situs")
            || r.body.contains("Cross-site")
    );
    // With the token but from another origin: 403.
    let req = axum::http::Request::post("/account/lang")
        .header("host", "box.test")
        .header("origin", "https://evil.example")
        .header("cookie", s.cookie())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("lang=id&_csrf={}", s.csrf)))
        .unwrap();
    assert_eq!(b.send(req).await.status, StatusCode::FORBIDDEN);
    let lang: String = b
        .db()
        .query_row("SELECT lang FROM users WHERE id = ?1", [s.user_id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(lang, "en");
}
