//! The ticket pages in headless Chromium against a real box (issue 16,
//! CTI-3..5): a supervisor sees the SLA alarm of a ticket left
//! unanswered past its 15 minutes (on the ticket list and the live page),
//! searches, edits and escalates it, and downloads the citizen's
//! interaction history as XLSX, which is opened again here; an agent does
//! not see another queue's ticket. Screenshots go to
//! `target/browser-artefacts/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::time::Duration;

use dering_store::tickets::{Level, NewTicket, Sla};
use fantoccini::Locator;
use hwtests::browser::{Browser, WebBox};

const PASSWORD: &str = "Tiket2026aman";

/// A critical complaint (high urgency and impact).
fn ticket(name: &str, phone: &str, queue: Option<&str>) -> NewTicket {
    NewTicket {
        urgency: Level::High,
        impact: Level::High,
        queue: queue.map(str::to_owned),
        ..NewTicket::complaint(name, phone, "izin usaha tertahan")
    }
}

#[test]
fn a_supervisor_finds_edits_and_escalates_a_late_ticket_an_agent_sees_only_its_own() {
    let web = WebBox::start();
    let spv = web.add_user("spv1", "supervisor", PASSWORD).unwrap();
    web.add_user("agent1", "agent", PASSWORD);
    // Siti's ticket, in the complaints queue, recorded two hours ago and
    // never answered: its first response (15 min) is long overdue.
    // Budi's, recorded now by agent1.
    let mut store = dering_store::Store::open(&web.dering.dir().join("dering.db")).unwrap();
    let now = hwtests::wall_ms();
    let late = store
        .create_ticket(
            &ticket("Siti Aminah", "081234567890", Some("pengaduan")),
            "spv1",
            &Sla::default(),
            now - 2 * 3_600_000,
        )
        .unwrap();
    let own = store
        .create_ticket(
            &ticket("Budi", "0811000222", None),
            "agent1",
            &Sla::default(),
            now,
        )
        .unwrap();
    drop(store);
    hwtests::browser::block_on(async {
        let b = Browser::start(&web.base).await;
        b.log_in("spv1", PASSWORD, &spv, "/tickets").await;
        let alarm = b.wait_text("#sla-alarm").await;
        assert!(alarm.contains(&late.number), "{alarm}");
        assert!(!alarm.contains(&own.number), "{alarm}");
        b.screenshot("tickets-alarm").await;
        b.goto("/live").await;
        let alarm = b.wait_text("#sla-alarm").await;
        assert!(alarm.contains(&late.number), "the live page: {alarm}");

        // Search by name.
        b.goto("/tickets").await;
        b.fill("f-name", "siti").await;
        b.click("#search").await;
        b.text_until(
            Duration::from_secs(10),
            "#tickets tbody",
            "the search by name",
            |t| t.contains(&late.number) && !t.contains(&own.number),
        )
        .await;
        b.click(&format!("#tickets a[href='/tickets/{}']", late.id))
            .await;
        let detail = b.wait_text("#ticket").await;
        assert!(
            detail.contains("Siti Aminah") && detail.contains("Kritis"),
            "{detail}"
        );

        // Edit: in progress, assigned to the back office's officer.
        b.fill("f-assignee", "petugas-dumas").await;
        b.click("#f-status option[value='in_progress']").await;
        b.click("#save").await;
        b.text_until(Duration::from_secs(10), "#status", "the edit", |t| {
            t == "Sedang diproses"
        })
        .await;
        // Answered: the response alarm is gone.
        assert!(b.client.find(Locator::Id("sla-alarm")).await.is_err());
        // Escalate to level 1.
        b.click("#escalate").await;
        b.text_until(Duration::from_secs(10), "#level", "the escalation", |t| {
            t == "1"
        })
        .await;
        let changes = b.wait_text("#changes").await;
        assert!(changes.contains("ticket.escalate"), "{changes}");
        assert!(changes.contains("ticket.change"), "{changes}");
        assert!(changes.contains("ticket.breach"), "{changes}");
        b.screenshot("ticket-escalated").await;

        // The citizen's interaction history, downloaded as XLSX by the
        // page's own link.
        b.goto("/tickets/citizen?phone=081234567890").await;
        let rows = b.wait_text("#interactions tbody").await;
        assert!(rows.contains(&late.number), "{rows}");
        let href = b
            .client
            .find(Locator::Id("export-xlsx"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        let bytes = b
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.arrayBuffer())
                   .then(buf => done(Array.from(new Uint8Array(buf))))
                   .catch(e => done(String(e)));",
                vec![serde_json::json!(href)],
            )
            .await
            .unwrap();
        let bytes: Vec<u8> = serde_json::from_value(bytes.clone())
            .unwrap_or_else(|_| panic!("the download failed: {bytes}"));
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut strings = String::new();
        zip.by_name("xl/sharedStrings.xml")
            .unwrap()
            .read_to_string(&mut strings)
            .unwrap();
        assert!(strings.contains(&late.number), "{strings}");
        assert!(strings.contains("Tiket"), "{strings}");
        assert!(zip.by_name("xl/worksheets/sheet1.xml").is_ok());

        // An agent: its own ticket, not the complaints queue's.
        b.log_out().await;
        b.goto("/login?next=/tickets").await;
        b.fill("login", "agent1").await;
        b.fill("password", PASSWORD).await;
        b.click("#submit").await;
        b.wait_path("/tickets").await;
        let rows = b
            .text_until(
                Duration::from_secs(10),
                "#tickets tbody",
                "the agent's list",
                |t| t.contains(&own.number),
            )
            .await;
        assert!(
            !rows.contains(&late.number),
            "an agent saw another queue's ticket"
        );
        assert!(b.client.find(Locator::Id("sla-alarm")).await.is_err());
        b.goto(&format!("/tickets/{}", late.id)).await;
        assert!(
            b.client.find(Locator::Id("ticket")).await.is_err(),
            "an agent opened another queue's ticket"
        );
        b.screenshot("tickets-agent").await;
        b.close().await;
    });
}
