//! Browser tests of the web admin: the real box (`dering up`) serving
//! HTTPS, headless Chromium driven over WebDriver (chromedriver on a
//! 127.0.0.1 port, the `fantoccini` client), the demo admin's login with
//! its TOTP code, and screenshots kept under `target/browser-artefacts/`
//! for a person to look at.
//!
//! ```no_run
//! # use hwtests::browser::WebBox;
//! let web = WebBox::start();
//! hwtests::browser::block_on(async {
//!     let b = web.admin_browser("/account").await;
//!     b.screenshot("account").await;
//!     b.close().await;
//! });
//! ```

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::{require, workspace, Dering};

/// A box whose web admin a browser can reach, with the demo admin's login
/// (read from `<data>/demo-login.txt`, which `dering up` writes).
#[derive(Debug)]
pub struct WebBox {
    pub dering: Dering,
    /// `https://127.0.0.1:PORT`
    pub base: String,
    pub login: String,
    pub password: String,
    pub totp_secret: String,
}

/// Runs a browser test's steps to their end on a current-thread runtime
/// (WebDriver's client needs one; the test itself is synchronous).
pub fn block_on<F: std::future::Future>(steps: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the browser")
        .block_on(steps)
}

impl WebBox {
    /// A new headless Chromium logged in as the demo admin (TOTP and
    /// all), on `next`.
    pub async fn admin_browser(&self, next: &str) -> Browser {
        let b = Browser::start(&self.base).await;
        b.log_in(&self.login, &self.password, &self.totp_secret, next)
            .await;
        b
    }

    pub fn start() -> WebBox {
        Self::start_with(|t| t)
    }

    /// A box with its configuration passed through `edit` first.
    pub fn start_with(edit: impl FnOnce(String) -> String) -> WebBox {
        let port = crate::ports::pair();
        let dering = Dering::start_with_args(edit, &["--https-port".into(), port.to_string()]);
        let text = std::fs::read_to_string(dering.dir().join("demo-login.txt"))
            .expect("dering up writes the demo admin's login");
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| panic!("{k} missing from demo-login.txt"))
        };
        WebBox {
            base: format!("https://127.0.0.1:{port}"),
            login: field("login:"),
            password: field("password:"),
            totp_secret: field("totp_secret:"),
            dering,
        }
    }
}

impl WebBox {
    /// Adds a user of `role` with `password`, written as webd writes
    /// users; roles that must use two factors (admin, supervisor) get a
    /// TOTP secret, which is returned.
    pub fn add_user(&self, login: &str, role: &str, password: &str) -> Option<String> {
        let secret = matches!(role, "admin" | "supervisor").then(webd::auth::totp::new_secret);
        let db = rusqlite::Connection::open(self.dering.dir().join("dering.db"))
            .expect("opening the box's database");
        db.busy_timeout(Duration::from_secs(5))
            .expect("setting the busy timeout");
        db.execute(
            "INSERT INTO users (login, full_name, role, password_hash, totp_secret, totp_enabled, created_ms, updated_ms) \
             VALUES (?1, ?1, ?2, ?3, ?4, ?5, 0, 0)",
            rusqlite::params![
                login,
                role,
                webd::auth::password::hash(password).expect("hashing the test password"),
                secret,
                secret.is_some()
            ],
        )
        .expect("adding the user");
        secret
    }
}

/// Waits (`limit` at most) until `check` holds, polling every 100 ms;
/// fails the test with `what` when it never does.
pub async fn until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = Instant::now();
    while !check().await {
        assert!(t.elapsed() < limit, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The current TOTP code of a base32 secret (RFC 6238, as webd checks it).
pub fn totp_code(secret_b32: &str) -> String {
    let raw = totp_rs::Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .expect("base32 secret");
    let t = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, raw).expect("TOTP");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    t.generate(now)
}

/// Where screenshots go: `target/browser-artefacts/`.
pub fn artefacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let d = target.join("browser-artefacts");
    std::fs::create_dir_all(&d).expect("artefacts directory");
    d
}

/// Headless Chromium under chromedriver, on a 1366×768 window (the
/// laptop the issue names).
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    pub base: String,
    driver: Driver,
    _profile: tempfile::TempDir,
}

/// chromedriver's process group, ended on drop (even when a test panics).
#[derive(Debug)]
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

impl Browser {
    /// Starts chromedriver on a free 127.0.0.1 port and a browser session.
    pub async fn start(base: &str) -> Browser {
        require("chromium");
        require("chromedriver");
        let port = crate::ports::pair();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: Drop ends chromedriver and the browser it
        // started, even when a test panics.
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        let driver = Driver(cmd.spawn().expect("chromedriver starts"));
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    // No calls home: the test machine's network is closed,
                    // and refused background connections slow the page's own.
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    // A supervisor's click starts playback; a test's script
                    // has no user gesture, so allow it to play media.
                    "--autoplay-policy=no-user-gesture-required",
                    // The box's certificate is self-signed.
                    "--ignore-certificate-errors",
                    "--window-size=1366,768",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        caps.insert("acceptInsecureCerts".into(), serde_json::json!(true));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        Browser {
            client,
            base: base.to_owned(),
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    /// The path of the page shown now.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.path().to_owned())
            .unwrap_or_default()
    }

    /// Types `text` into the field with id `id`.
    pub async fn fill(&self, id: &str, text: &str) {
        let e = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("field #{id}: {e}"));
        e.clear().await.ok();
        e.send_keys(text).await.expect("typing");
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// The visible text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The text of the first element matching `css` once it has some: a
    /// page loading after a click shows it a moment later. Empty after
    /// 10 s.
    pub async fn wait_text(&self, css: &str) -> String {
        let t = std::time::Instant::now();
        loop {
            let text = self.text(css).await;
            if !text.is_empty() || t.elapsed() > std::time::Duration::from_secs(10) {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Waits (`limit` at most) until the text of `css` satisfies
    /// `check`, and returns it; fails the test naming `what` and the text
    /// last seen.
    pub async fn text_until(
        &self,
        limit: Duration,
        css: &str,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let t = Instant::now();
        loop {
            let text = self.text(css).await;
            if check(&text) {
                return text;
            }
            assert!(t.elapsed() < limit, "{what}: {css} shows {text:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (10 s at most) until the page's path is `path`.
    pub async fn wait_path(&self, path: &str) {
        let t = Instant::now();
        while self.path().await != path {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "still on {} instead of {path}: {}",
                self.path().await,
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Logs in through the login page with the current TOTP code and
    /// waits for `next`.
    pub async fn log_in(&self, login: &str, password: &str, totp_secret: &str, next: &str) {
        self.goto(&format!("/login?next={next}")).await;
        self.fill("login", login).await;
        self.fill("password", password).await;
        self.fill("code", &totp_code(totp_secret)).await;
        self.click("#submit").await;
        self.wait_path(next).await;
    }

    /// The value of `script` (a function body with `return`) run in the
    /// page.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("running a script in the page")
    }

    /// Logs out with the page's button and waits for the login page: a
    /// `goto` right after the click could reach the server before the
    /// logout does, and the logout's redirect then lands last.
    pub async fn log_out(&self) {
        self.click("#logout").await;
        self.wait_path("/login").await;
    }

    /// Saves a PNG of the page as `target/browser-artefacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let p = artefacts().join(format!("{name}.png"));
        std::fs::write(&p, png).expect("writing the screenshot");
        p
    }

    /// Ends the browser session (the browser exits), then chromedriver.
    pub async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
    }
}
