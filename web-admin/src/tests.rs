//! Router tests of the skeleton: health stays open, pages need a login,
//! the API answers 401, CSRF is enforced, and the layout is CSP-clean.

use axum::http::{Method, StatusCode};

use crate::auth::Role;
use crate::testing::{ApiAuth, Route, TestBox};

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

/// Every route of web-core with the permission it needs: each role either
/// reaches it or gets 403; anonymous visitors get the login page or 401.
/// (Other modules keep their own table beside their routes.)
const ROUTES: &[Route] = {
    use crate::auth::Perm::*;
    &[
        ("GET", "/account", "", OwnAccount),
        ("GET", "/api/v1/me", "", OwnAccount),
        ("POST", "/account/lang", "lang=id", OwnAccount),
        (
            "POST",
            "/account/tokens",
            "name=t&scope=view_live",
            ApiTokens,
        ),
        ("GET", "/users", "", ManageUsers),
        (
            "POST",
            "/users",
            "login=zed&full_name=Zed&role=agent&password=Rahasia123",
            ManageUsers,
        ),
        ("POST", "/users/999", "role=agent", ManageUsers),
        ("GET", "/api/v1/users", "", ManageUsers),
        ("GET", "/audit", "", ViewAudit),
        ("GET", "/audit.csv", "", ViewAudit),
        ("GET", "/api/v1/audit", "", ViewAudit),
        ("GET", "/certificate", "", ViewConfig),
        ("POST", "/certificate", "certificate=x&key=y", EditConfig),
    ]
};

#[tokio::test]
async fn every_route_answers_403_to_a_role_without_its_permission_and_401_or_login_to_anonymous() {
    TestBox::new()
        .assert_role_matrix(ROUTES, ApiAuth::Session)
        .await;
}

#[tokio::test]
async fn an_api_token_cannot_exceed_its_scope_even_when_the_role_could() {
    let b = TestBox::new();
    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["view_audit"]);
    let r = b
        .api(Method::GET, "/api/v1/audit", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = b
        .api(Method::GET, "/api/v1/users", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"], "forbidden");
}

#[tokio::test]
async fn plain_http_serves_only_the_probes_and_redirects_the_rest_to_https() {
    use tower::ServiceExt as _;
    let b = TestBox::new();
    let plain = crate::app::plain_router(b.state.clone(), 8443);
    let get = |path: &str| {
        axum::http::Request::get(path)
            .header("host", "box.example:8080")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let r = plain.clone().oneshot(get("/health/live")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = plain.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = plain
        .clone()
        .oneshot(get("/login?next=/users"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        r.headers()["location"],
        "https://box.example:8443/login?next=/users"
    );
    // Not even the API is answered in the clear.
    let r = plain.oneshot(get("/api/v1/me")).await.unwrap();
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
}

/// A page view reads the session; it writes (renewing the idle time) at
/// most once a minute, so many users do not queue for the write lock.
#[tokio::test]
async fn a_session_is_renewed_at_most_once_a_minute() {
    let b = TestBox::new();
    let s = b.login_as(Role::Agent);
    let seen = || -> i64 {
        b.db()
            .query_row(
                "SELECT last_seen_ms FROM sessions WHERE user_id = ?1",
                [s.user_id],
                |r| r.get(0),
            )
            .unwrap()
    };
    b.clock.advance_ms(30_000);
    assert_eq!(b.get("/api/v1/me", Some(&s)).await.status, StatusCode::OK);
    assert_eq!(seen(), crate::testing::T0);
    b.clock.advance_ms(31_000);
    assert_eq!(b.get("/api/v1/me", Some(&s)).await.status, StatusCode::OK);
    assert_eq!(seen(), crate::testing::T0 + 61_000);
}

#[tokio::test]
async fn refusals_by_axum_extractors_are_rendered_like_ours_naming_the_field() {
    let b = TestBox::new();
    let admin = b.login_as(Role::Admin);
    let token = b.token_for(&admin, &["manage_users"]);
    // JSON without a required key: 422 JSON naming it.
    let r = b
        .api(
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(serde_json::json!({"login": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"], "invalid");
    assert_eq!(r.json()["field"], "full_name", "{}", r.body);
    // An unknown API path: JSON, not an empty body.
    let r = b
        .api(Method::GET, "/api/v1/nothing", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
    // A form without a field: the page names it.
    let r = b.post_form("/users", Some(&admin), "login=zed").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("data-field=\"full_name\""), "{}", r.body);
}

#[tokio::test]
async fn the_language_is_a_per_user_setting_shown_in_every_page() {
    let b = TestBox::new();
    let s = b.login_as(Role::Agent);
    let other = b.login_as(Role::Agent);
    let r = b.get("/account", Some(&s)).await;
    assert!(r.body.contains("<html lang=\"id\"") && r.body.contains("Akun saya"));
    let r = b.post_form("/account/lang", Some(&s), "lang=en").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.headers["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("dering_lang=en"));
    let r = b.get("/account", Some(&s)).await;
    assert!(r.body.contains("<html lang=\"en\"") && r.body.contains("My account"));
    assert!(r.body.contains("<option value=\"en\" selected>"));
    // Another user keeps Indonesian.
    assert!(b
        .get("/account", Some(&other))
        .await
        .body
        .contains("Akun saya"));
    let r = b.post_form("/account/lang", Some(&s), "lang=fr").await;
    assert!(r.body.contains("data-field=\"lang\""));
}
