//! trunkd's E1 span on the supervisors' live page (issues 14 and 15), in
//! headless Chromium: the admin logs in and the live page's health panel
//! shows the span in service with its 30 channels idle; the simulated
//! board raises a red alarm and the row turns to the alarm with every
//! channel blocked, without a reload. libpri plays the carrier's
//! exchange on the D-channel; trunkd's shell reports to a real `dering
//! up` over its control socket, as the daemon does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The shared far end of a simulated span.
#[allow(dead_code)]
mod trunkd_peer;

use std::net::SocketAddr;
use std::time::Duration;

use dering_board::Alarms;
use dering_config::SpanSide;
use hwtests::browser::WebBox;
use hwtests::free_udp_port;

/// How long the health panel may take to show a span's change: the hub
/// reads health at once on a span's event, else every 5 s.
const HEALTH_READ: Duration = Duration::from_secs(20);

#[test]
fn the_live_page_shows_the_span_and_its_red_alarm() {
    eprintln!("live_spans_browser: no DAHDI card is used here; the span is the simulated board's");
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
    let web = WebBox::start_with(|text| {
        text + &format!(
            "\n[[trusted_peer]]\nname = \"trunkd\"\naddresses = [\"127.0.0.1/32\"]\nroute_class = \"national\"\n\n[trunkd]\nsip = \"{sip}\"\n"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pri.sock");
    let carrier = trunkd_peer::start_carrier(dir.path(), &sock, "net", &[]);
    let e1: Vec<u8> = (1..=31).filter(|t| *t != 16).collect();
    let trunk =
        trunkd_peer::Trunk::start_with(&web.dering, &sock, &carrier, sip, SpanSide::User, e1, true);
    trunkd_peer::wait_in_service(&carrier);

    hwtests::browser::block_on(async {
        let b = web.admin_browser("/live").await;
        let row = b
            .text_until(
                HEALTH_READ,
                "#health-span-telkom",
                "the span in service",
                |t| t.contains("ok") && t.contains("dipakai 0/30"),
            )
            .await;
        assert!(row.contains("E1 telkom"), "{row}");
        assert!(!row.contains("terblokir"), "{row}");

        trunk.raise(Alarms::RED);
        let row = b
            .text_until(HEALTH_READ, "#health-span-telkom", "the red alarm", |t| {
                t.contains("ALARM red")
            })
            .await;
        assert!(row.contains("terblokir 30"), "{row}");
        assert_eq!(
            b.js("return document.getElementById('health-span-telkom').className")
                .await,
            serde_json::json!("bad")
        );
        b.screenshot("live-span-red-alarm").await;
        b.close().await;
    });
    assert!(
        !carrier.log().contains("libpri ERROR"),
        "protocol error:\n{}",
        carrier.log()
    );
    trunk.stop();
}
