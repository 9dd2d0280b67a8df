//! The SIMPEL outbox in headless Chromium against a real box (issue 16,
//! SYNC-3): the technician sees on the live page's health panel that a
//! ticket is a dead letter, follows its link to the outbox page, reads
//! SIMPEL's refusal there and sends the letter again, after which it is
//! pending once more. The demo box runs no syncd, so nothing delivers the
//! rows behind the test's back. Screenshots go to
//! `target/browser-artefacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dering_store::tickets::{NewTicket, Sla};
use hwtests::browser::WebBox;

/// How long a test waits for the health panel, which reads every 5 s.
const HEALTH_READ: Duration = Duration::from_secs(15);

fn ticket(phone: &str) -> NewTicket {
    NewTicket::complaint("Siti Aminah", phone, "izin usaha tertahan")
}

#[test]
fn a_technician_finds_a_dead_letter_from_the_live_page_and_sends_it_again() {
    let web = WebBox::start();
    // Two tickets owed; SIMPEL refused the second for good.
    let mut store = dering_store::Store::open(&web.dering.dir().join("dering.db")).unwrap();
    let now = hwtests::wall_ms();
    store
        .create_ticket(&ticket("081234567890"), "spv1", &Sla::default(), now)
        .unwrap();
    let refused = store
        .create_ticket(&ticket("0811000222"), "spv1", &Sla::default(), now)
        .unwrap();
    let row = store
        .outbox_due(now, 10)
        .unwrap()
        .into_iter()
        .find(|r| r.ticket_id == refused.id)
        .unwrap();
    store
        .outbox_kill(row.id, 1, "HTTP 422: kategori tidak dikenal")
        .unwrap();
    drop(store);
    hwtests::browser::block_on(async {
        let b = web.admin_browser("/live").await;
        let panel = b
            .text_until(HEALTH_READ, "#health-outbox", "the health panel", |t| {
                t.contains("surat mati 1")
            })
            .await;
        assert!(panel.contains("menunggu 1"), "{panel}");
        b.screenshot("outbox-live").await;
        b.click("#health-outbox a[href='/outbox']").await;
        b.wait_path("/outbox").await;
        assert_eq!(b.wait_text("#count-dead").await, "1");
        let dead = b.wait_text("#dead tbody").await;
        assert!(
            dead.contains(&refused.number) && dead.contains("HTTP 422: kategori tidak dikenal"),
            "{dead}"
        );
        b.screenshot("outbox-dead").await;
        b.click(&format!("#dead tr[data-row='{}'] button.retry", row.id))
            .await;
        b.text_until(HEALTH_READ, "#count-dead", "the retry", |t| t == "0")
            .await;
        assert_eq!(b.text("#count-pending").await, "2");
        assert!(!b.text("#dead tbody").await.contains(&refused.number));
        b.close().await;
    });
}
