//! The spans and lines trunkd reports over the control socket (issue 14,
//! decision 0024), merged into what `dering trunks`, `/metrics`, the MIB
//! and `/health` show. Sans-IO: reports and the clock come in, views and
//! [`Event::Span`]s go out, so expiry is tested in virtual time.
//!
//! Each reporter's last report is kept whole. A reporter heard from
//! again replaces its spans (a span it no longer names is dropped); one
//! silent for [`SILENT_AFTER`] (trunkd stopped or hung, pbxd cannot tell)
//! keeps its spans listed but shown unknown: alarm `unknown`, D-channel
//! down, no channel counted, `reporting: false`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dering_control::{ChannelCounts, Event, SpanAlarm, SpanReport, SpanView};

/// trunkd reports every 5 s (and on each change); three missed
/// heartbeats and its spans are unknown.
pub const SILENT_AFTER: Duration = Duration::from_secs(15);

/// At most this many spans per report, and reporters: a confused client
/// cannot grow pbxd's memory (eight E1 spans and a few dozen lines are
/// the most a box carries).
const MAX_SPANS: usize = 256;
const MAX_REPORTERS: usize = 8;

#[derive(Debug)]
struct Reporter {
    last_heard: Instant,
    silent: bool,
    spans: Vec<SpanView>,
}

/// Every reporter's spans.
#[derive(Debug, Default)]
pub struct Spans {
    reporters: BTreeMap<String, Reporter>,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("a report names at most {MAX_SPANS} spans")]
    TooManySpans,
    #[error("at most {MAX_REPORTERS} reporters")]
    TooManyReporters,
    #[error("a reporter needs a name")]
    NoName,
}

impl Spans {
    /// `reporter`'s spans as they are at `now` (wall time `wall_ms`): an
    /// event for each span that is new or changed.
    pub fn report(
        &mut self,
        now: Instant,
        wall_ms: i64,
        reporter: &str,
        spans: Vec<SpanReport>,
    ) -> Result<Vec<Event>, ReportError> {
        if reporter.is_empty() {
            return Err(ReportError::NoName);
        }
        if spans.len() > MAX_SPANS {
            return Err(ReportError::TooManySpans);
        }
        if !self.reporters.contains_key(reporter) && self.reporters.len() >= MAX_REPORTERS {
            return Err(ReportError::TooManyReporters);
        }
        let r = self
            .reporters
            .entry(reporter.to_string())
            .or_insert_with(|| Reporter {
                last_heard: now,
                silent: false,
                spans: Vec::new(),
            });
        r.last_heard = now;
        r.silent = false;
        let mut events = Vec::new();
        let mut views = Vec::with_capacity(spans.len());
        for report in spans {
            let before = r.spans.iter().find(|v| v.report.name == report.name);
            if before.is_some_and(|b| b.reporting && b.report == report) {
                views.extend(before.cloned());
                continue;
            }
            let since_ms = match before {
                Some(b) if b.reporting && !headline_changed(&b.report, &report) => b.since_ms,
                _ => wall_ms,
            };
            let view = SpanView {
                reporter: reporter.to_string(),
                report,
                reporting: true,
                since_ms,
            };
            events.push(Event::Span {
                at_ms: wall_ms,
                span: view.clone(),
            });
            views.push(view);
        }
        r.spans = views;
        Ok(events)
    }

    /// Marks the spans of reporters silent since [`SILENT_AFTER`] unknown;
    /// an event for each.
    pub fn expire(&mut self, now: Instant, wall_ms: i64) -> Vec<Event> {
        let mut events = Vec::new();
        for r in self.reporters.values_mut() {
            if r.silent || now.saturating_duration_since(r.last_heard) < SILENT_AFTER {
                continue;
            }
            r.silent = true;
            for v in &mut r.spans {
                tracing::warn!(span = %v.report.name, reporter = %v.reporter, "span reporter silent: span unknown");
                v.reporting = false;
                v.report.alarm = SpanAlarm::Unknown;
                if v.report.dchannel_up.is_some() {
                    v.report.dchannel_up = Some(false);
                }
                v.report.channels = ChannelCounts::default();
                v.since_ms = wall_ms;
                events.push(Event::Span {
                    at_ms: wall_ms,
                    span: v.clone(),
                });
            }
        }
        events
    }

    /// Every span, by reporter, in each reporter's order.
    pub fn views(&self) -> Vec<SpanView> {
        self.reporters
            .values()
            .flat_map(|r| r.spans.iter().cloned())
            .collect()
    }
}

/// Whether what `since_ms` dates changed: the alarm or the D-channel
/// (channel counts change with every call).
fn headline_changed(a: &SpanReport, b: &SpanReport) -> bool {
    a.alarm != b.alarm || a.dchannel_up != b.dchannel_up
}

#[cfg(test)]
mod tests {
    use super::*;
    use dering_control::{SpanKind, SpanSide};

    fn e1(name: &str, alarm: SpanAlarm, up: bool, in_use: u32) -> SpanReport {
        SpanReport {
            name: name.into(),
            kind: SpanKind::E1,
            side: SpanSide::User,
            alarm,
            dchannel_up: Some(up),
            channels: ChannelCounts {
                idle: 30 - in_use,
                in_use,
                ..ChannelCounts::default()
            },
        }
    }

    fn spans_of(events: &[Event]) -> Vec<(String, SpanAlarm, Option<bool>, bool)> {
        events
            .iter()
            .map(|e| match e {
                Event::Span { span, .. } => (
                    span.report.name.clone(),
                    span.report.alarm,
                    span.report.dchannel_up,
                    span.reporting,
                ),
                other => panic!("not a span event: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn changes_are_events_and_heartbeats_are_quiet() {
        let t0 = Instant::now();
        let mut s = Spans::default();
        let first = s
            .report(
                t0,
                1_000,
                "trunkd",
                vec![
                    e1("telkom", SpanAlarm::None, false, 0),
                    e1("indosat", SpanAlarm::None, false, 0),
                ],
            )
            .unwrap();
        assert_eq!(spans_of(&first).len(), 2, "new spans are news");
        let same = vec![
            e1("telkom", SpanAlarm::None, false, 0),
            e1("indosat", SpanAlarm::None, false, 0),
        ];
        let t1 = t0 + Duration::from_secs(5);
        assert!(s.report(t1, 6_000, "trunkd", same).unwrap().is_empty());

        let up = s
            .report(
                t1,
                7_000,
                "trunkd",
                vec![
                    e1("telkom", SpanAlarm::None, true, 0),
                    e1("indosat", SpanAlarm::None, false, 0),
                ],
            )
            .unwrap();
        assert_eq!(
            spans_of(&up),
            [("telkom".into(), SpanAlarm::None, Some(true), true)]
        );
        // A call: an event (the counts changed) but the same since.
        let call = s
            .report(
                t1,
                8_000,
                "trunkd",
                vec![e1("telkom", SpanAlarm::None, true, 1)],
            )
            .unwrap();
        assert_eq!(call.len(), 1);
        let v = s.views();
        assert_eq!(v.len(), 1, "a span no longer reported is dropped");
        assert_eq!(v[0].since_ms, 7_000);
        assert_eq!(v[0].report.channels.in_use, 1);

        let red = s
            .report(
                t1,
                9_000,
                "trunkd",
                vec![e1("telkom", SpanAlarm::Red, false, 0)],
            )
            .unwrap();
        assert_eq!(
            spans_of(&red),
            [("telkom".into(), SpanAlarm::Red, Some(false), true)]
        );
        assert_eq!(s.views()[0].since_ms, 9_000);
    }

    #[test]
    fn a_silent_reporter_leaves_its_spans_unknown_until_heard_again() {
        let t0 = Instant::now();
        let mut s = Spans::default();
        s.report(
            t0,
            0,
            "trunkd",
            vec![e1("telkom", SpanAlarm::None, true, 3)],
        )
        .unwrap();
        assert!(s
            .expire(t0 + SILENT_AFTER - Duration::from_millis(1), 1)
            .is_empty());
        let gone = s.expire(t0 + SILENT_AFTER, 15_000);
        assert_eq!(
            spans_of(&gone),
            [("telkom".into(), SpanAlarm::Unknown, Some(false), false)]
        );
        assert!(
            s.expire(t0 + SILENT_AFTER * 2, 30_000).is_empty(),
            "said once"
        );
        let v = &s.views()[0];
        assert_eq!(v.report.channels.total(), 0, "no channel counted");
        assert_eq!(
            v.warning().as_deref(),
            Some("span telkom: trunkd not reporting")
        );

        // trunkd is back (restarted): the same report is news again.
        let back = s
            .report(
                t0 + SILENT_AFTER * 3,
                45_000,
                "trunkd",
                vec![e1("telkom", SpanAlarm::None, true, 3)],
            )
            .unwrap();
        assert_eq!(
            spans_of(&back),
            [("telkom".into(), SpanAlarm::None, Some(true), true)]
        );
        assert!(s.expire(t0 + SILENT_AFTER * 3, 45_000).is_empty());
    }

    #[test]
    fn reports_are_bounded() {
        let t0 = Instant::now();
        let mut s = Spans::default();
        let many = vec![e1("x", SpanAlarm::None, true, 0); MAX_SPANS + 1];
        assert_eq!(
            s.report(t0, 0, "trunkd", many),
            Err(ReportError::TooManySpans)
        );
        assert_eq!(s.report(t0, 0, "", vec![]), Err(ReportError::NoName));
        for i in 0..MAX_REPORTERS {
            s.report(t0, 0, &format!("r{i}"), vec![]).unwrap();
        }
        assert_eq!(
            s.report(t0, 0, "one-more", vec![]),
            Err(ReportError::TooManyReporters)
        );
        assert!(
            s.report(t0, 0, "r0", vec![]).is_ok(),
            "a known one still reports"
        );
    }
}
