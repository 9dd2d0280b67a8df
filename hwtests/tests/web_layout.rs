//! The web admin on small screens (issue 15 §6: "usable on a 1366×768
//! laptop and a tablet"): headless Chromium opens the main pages (live,
//! call records, an admin form, the flow editor) at 1366×768 and at a
//! portrait tablet's 800×1280; no page scrolls sideways
//! (`document.documentElement.scrollWidth ≤ innerWidth`), every link of
//! the navigation lies inside the window, and a screenshot of each page
//! at each size is kept under `target/browser-artefacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hwtests::browser::{Browser, WebBox};

/// The main pages, with an element each that proves it rendered.
const PAGES: [(&str, &str, &str); 5] = [
    ("/live", "main", "live"),
    ("/history/calls", "main table", "records"),
    ("/admin/agents/new", "form.config", "admin-form"),
    ("/admin/system", "form.config", "admin-system"),
    ("/flows/layanan-pengaduan", "main", "flow-editor"),
];

/// Laptop and portrait tablet, as CSS pixels of the window.
const SIZES: [(u32, u32, &str); 2] = [(1366, 768, "laptop"), (800, 1280, "tablet")];

/// (scrollWidth, innerWidth, the nav links lying outside the window).
async fn measure(b: &Browser) -> (i64, i64, Vec<String>) {
    let v = b
        .client
        .execute(
            "const w = window.innerWidth;\
             const out = [...document.querySelectorAll('header nav a')]\
               .filter(a => { const r = a.getBoundingClientRect();\
                              return r.width === 0 || r.left < 0 || r.right > w; })\
               .map(a => a.getAttribute('href'));\
             return [document.documentElement.scrollWidth, w, out];",
            vec![],
        )
        .await
        .expect("measuring the page");
    let scroll = v[0].as_i64().unwrap_or(i64::MAX);
    let inner = v[1].as_i64().unwrap_or(0);
    let out = v[2]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (scroll, inner, out)
}

#[test]
fn the_main_pages_fit_a_laptop_and_a_portrait_tablet_without_sideways_scrolling() {
    let web = WebBox::start();
    hwtests::browser::block_on(async {
        let b = web.admin_browser("/account").await;
        let mut problems = Vec::new();
        for (width, height, size) in SIZES {
            b.client
                .set_window_size(width, height)
                .await
                .expect("resizing the window");
            for (path, proof, name) in PAGES {
                b.goto(path).await;
                assert!(
                    !b.wait_text(proof).await.is_empty() || !b.text("main").await.is_empty(),
                    "{path} did not render at {size}"
                );
                let nav = b.text("header nav").await;
                assert!(nav.contains("Konfigurasi"), "{path}: no nav: {nav}");
                let (scroll, inner, outside) = measure(&b).await;
                b.screenshot(&format!("layout-{size}-{name}")).await;
                if scroll > inner {
                    problems.push(format!(
                        "{size} {path}: scrollWidth {scroll} > innerWidth {inner}"
                    ));
                }
                if !outside.is_empty() {
                    problems.push(format!("{size} {path}: nav links outside: {outside:?}"));
                }
            }
        }
        b.close().await;
        assert!(problems.is_empty(), "{problems:#?}");
    });
}
