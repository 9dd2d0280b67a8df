//! The live page and the recordings page in headless Chromium against a
//! real box (issue 15's browser tests): the live page shows a sipp call
//! while it is up and drops it when it ends; then a supervisor finds the
//! call's recording and plays it in the page (and the playback is
//! audited), while an agent is refused the recordings. Screenshots go to
//! `target/browser-artefacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use fantoccini::Locator;
use hwtests::browser::{until, Browser, WebBox};
use hwtests::fragments::*;
use hwtests::{callee, caller, ok};

const PASSWORD: &str = "Rekaman2026";

async fn calls_text(b: &Browser) -> String {
    b.text("#calls tbody").await
}

#[test]
fn the_live_page_follows_a_call_and_a_supervisor_plays_its_recording_an_agent_cannot() {
    let web = WebBox::start();
    let spv = web.add_user("spv1", "supervisor", PASSWORD).unwrap();
    web.add_user("agent1", "agent", PASSWORD);
    let d = &web.dering;
    hwtests::browser::block_on(async {
        let b = Browser::start(&web.base).await;
        b.log_in("spv1", PASSWORD, &spv, "/live").await;
        until(
            "the live feed never connected",
            Duration::from_secs(15),
            || async {
                b.js("return document.getElementById('feed').dataset.connected")
                    .await
                    == "true"
            },
        )
        .await;
        assert_eq!(calls_text(&b).await, "", "no call yet");
        // The trunks come with the first view: the demo's trunk, though
        // off, is listed.
        until(
            "the trunks never showed",
            Duration::from_secs(10),
            || async { b.text("#trunks tbody").await.contains("demo") },
        )
        .await;
        until(
            "no daemons' health shown",
            Duration::from_secs(10),
            || async { b.text("#health tbody").await.contains("pbxd") },
        )
        .await;

        // A call that stays up 10 s, then the caller hangs up.
        let uas = callee(d, "1002", &format!("{}{}", uas_answer(), wait_bye()));
        let uac = caller(
            d,
            "1001",
            "1002",
            &uac_answered_then(&format!(
                "  <pause milliseconds=\"10000\"/>\n{}  <recv response=\"200\" crlf=\"true\"/>\n",
                caller_request("BYE", 3)
            )),
        );
        until("the call never showed", Duration::from_secs(10), || async {
            let t = calls_text(&b).await;
            t.contains("1001") && t.contains("answered")
        })
        .await;
        // A supervisor gets the actions on it.
        assert!(b
            .client
            .find(Locator::Css("#calls form[action$='/hangup'] button"))
            .await
            .is_ok());
        b.screenshot("live-call").await;
        until(
            "the ended call stayed on the page",
            Duration::from_secs(20),
            || async { !calls_text(&b).await.contains("1001") },
        )
        .await;
        b.screenshot("live-after").await;
        ok(uac, "caller", d);
        ok(uas, "callee", d);

        // The recording, once the recorder has closed it, found by the
        // caller's number and played.
        until(
            "the recording was never closed",
            Duration::from_secs(15),
            || async {
                rusqlite::Connection::open(d.dir().join("dering.db"))
                .unwrap()
                .query_row(
                    "SELECT count(*) FROM recordings WHERE caller = '1001' AND state = 'complete'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap()
                == 1
            },
        )
        .await;
        b.goto("/history/recordings").await;
        b.fill("f-number", "1001").await;
        b.click("#search").await;
        until("no recording found", Duration::from_secs(15), || async {
            let found = b.text("#recordings tbody").await.contains("1001");
            if !found {
                // The recorder closes the file just after the call.
                b.client.refresh().await.ok();
            }
            found
        })
        .await;
        b.js("const a = document.querySelector('#recordings audio'); a.muted = true; a.play(); return true;",
        )
        .await;
        let t = Instant::now();
        loop {
            let st = b.js("const a = document.querySelector('#recordings audio'); \
                 return {t: a.currentTime, d: a.duration, ready: a.readyState, net: a.networkState, \
                 paused: a.paused, err: a.error && a.error.code, msg: a.error && a.error.message, \
                 rejected: window.__playError || null};",
            )
            .await;
            if st["t"].as_f64().unwrap_or(0.0) > 0.0 && st["d"].as_f64().unwrap_or(0.0) > 0.0 {
                break;
            }
            if st["paused"] == true {
                // A play() refused while the element was still loading; an
                // element left idle with nothing loaded is asked to load
                // again (preload="none" leaves it to play() alone).
                b.js("const a = document.querySelector('#recordings audio'); \
                     if (a.readyState === 0 && a.networkState !== 2) { a.load(); } \
                     a.play().catch(e => { window.__playError = String(e); }); return true;")
                    .await;
            }
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "the recording did not play: {st}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        b.screenshot("recordings").await;
        let plays: i64 = rusqlite::Connection::open(d.dir().join("dering.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'recording.play' AND login = 'spv1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(plays >= 1, "the playback was not audited");
        let audio_src = b
            .js("return document.querySelector('#recordings audio').getAttribute('src');")
            .await;
        let audio_src = audio_src.as_str().unwrap().to_owned();

        // An agent: no recordings page, no audio.
        b.log_out().await;
        b.goto("/login?next=/live").await;
        b.fill("login", "agent1").await;
        b.fill("password", PASSWORD).await;
        b.click("#submit").await;
        b.wait_path("/live").await;
        b.goto("/history/recordings").await;
        assert!(
            b.client.find(Locator::Id("recordings")).await.is_err(),
            "an agent saw the recordings"
        );
        b.screenshot("recordings-agent").await;
        b.goto(&audio_src).await;
        // Chromium shows a media file in a player of its own; a refusal is
        // a page without one.
        assert_eq!(
            b.js("return document.querySelector('video, audio') === null;")
                .await,
            true,
            "an agent got the audio"
        );
        let agent_plays: i64 = rusqlite::Connection::open(d.dir().join("dering.db"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'recording.play' AND login = 'agent1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(agent_plays, 0);
        b.close().await;
    });
}
