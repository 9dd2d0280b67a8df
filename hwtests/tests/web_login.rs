//! The web admin in a real browser (issue 15): headless Chromium logs in
//! to `dering up`'s HTTPS admin with the demo admin's password and TOTP
//! code, switches the language, and opens the users page; screenshots of
//! each step go to `target/browser-artefacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hwtests::browser::{Browser, WebBox};

#[test]
fn an_admin_logs_in_with_totp_in_headless_chromium_and_switches_to_english() {
    let web = WebBox::start();
    hwtests::browser::block_on(async {
        let b = Browser::start(&web.base).await;
        // Anonymous: the admin pages lead to the login page.
        b.goto("/users").await;
        b.wait_path("/login").await;
        b.screenshot("login").await;
        // A wrong code is refused on the page.
        b.fill("login", &web.login).await;
        b.fill("password", &web.password).await;
        b.fill("code", "000000").await;
        b.click("#submit").await;
        assert!(
            !b.wait_text("#login-error").await.is_empty(),
            "no error shown for a wrong code"
        );
        b.log_in(&web.login, &web.password, &web.totp_secret, "/account")
            .await;
        assert!(b.text("header .who").await.contains("admin"));
        assert_eq!(b.text("h1").await, "Akun saya", "Indonesian by default");
        b.screenshot("account-id").await;
        b.click("#lang-switch").await;
        let t = std::time::Instant::now();
        while b.text("h1").await != "My account" {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "{}",
                b.text("h1").await
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        b.screenshot("account-en").await;
        b.goto("/users").await;
        assert!(b.text("#users").await.contains(&web.login));
        b.screenshot("users").await;
        b.goto("/audit").await;
        assert!(b.text("#audit").await.contains("session.login"));
        b.screenshot("audit").await;
        b.close().await;
    });
}
