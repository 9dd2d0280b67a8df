//! What trunkd tells pbxd of its spans and lines, and what pbxd shows of
//! them (issue 14, decision 0024). trunkd sends [`crate::Request::ReportSpans`]
//! on every change and as a heartbeat; pbxd keeps the last report of each
//! reporter, shows it as [`SpanView`]s and publishes an
//! [`crate::Event::Span`] when one changes.
//!
//! One shape fits an E1 span and an analog line: a line is a span of one
//! channel, without a D-channel (`dchannel_up` is `None`), whose channel
//! may also be `ringing`.

use serde::{Deserialize, Serialize};

/// What carries a span's calls.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// An E1 ISDN PRI span: up to 30 B-channels and a D-channel.
    E1,
    /// An analog CO line on an FXO port: one channel.
    Analog,
}

/// Which end of the line the box is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpanSide {
    /// The carrier's customer (CPE): the usual PRI.
    User,
    /// The network side of a PRI (feeding a downstream PBX).
    Network,
    /// An FXO port: the box is the telephone on the CO's line.
    Fxo,
}

/// A span's alarm, the worst one when several are raised (red, then
/// blue, then yellow), as DAHDI's tools name them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpanAlarm {
    None,
    /// We do not receive the far end (no signal, no framing).
    Red,
    /// The far end does not receive us (remote alarm indication).
    Yellow,
    /// The far end sends all ones (AIS): something upstream failed.
    Blue,
    /// Nobody reports the span any more (trunkd went silent).
    Unknown,
}

impl SpanAlarm {
    pub fn name(self) -> &'static str {
        match self {
            SpanAlarm::None => "none",
            SpanAlarm::Red => "red",
            SpanAlarm::Yellow => "yellow",
            SpanAlarm::Blue => "blue",
            SpanAlarm::Unknown => "unknown",
        }
    }

    /// Red, yellow or blue: the span carries no calls.
    pub fn raised(self) -> bool {
        matches!(self, SpanAlarm::Red | SpanAlarm::Yellow | SpanAlarm::Blue)
    }
}

/// A span's channels by state.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChannelCounts {
    #[serde(default)]
    pub idle: u32,
    #[serde(default)]
    pub in_use: u32,
    /// Nothing can be placed on them (the span is in alarm, a line is
    /// cut).
    #[serde(default)]
    pub blocked: u32,
    /// RESTART sent, not acknowledged yet (PRI only).
    #[serde(default)]
    pub restarting: u32,
    /// A line rings, its call not answered yet (analog only).
    #[serde(default)]
    pub ringing: u32,
}

impl ChannelCounts {
    /// The states' names, in the order [`ChannelCounts::by_state`] gives.
    pub const STATES: [&'static str; 5] = ["idle", "in_use", "blocked", "restarting", "ringing"];

    /// Each state's name with its count.
    pub fn by_state(&self) -> [(&'static str, u32); 5] {
        let n = [
            self.idle,
            self.in_use,
            self.blocked,
            self.restarting,
            self.ringing,
        ];
        [0, 1, 2, 3, 4].map(|i| (Self::STATES[i], n[i]))
    }

    /// Every channel of the span.
    pub fn total(&self) -> u32 {
        self.by_state()
            .iter()
            .fold(0u32, |a, (_, n)| a.saturating_add(*n))
    }

    /// Channels with a call on them (ringing lines too).
    pub fn busy(&self) -> u32 {
        self.in_use.saturating_add(self.ringing)
    }
}

/// One span (or line) as trunkd reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpanReport {
    /// The span's name in the configuration (`[[span]] name`).
    pub name: String,
    pub kind: SpanKind,
    pub side: SpanSide,
    pub alarm: SpanAlarm,
    /// Whether the D-channel's data link is established; `None` for a
    /// line, which has none.
    #[serde(default)]
    pub dchannel_up: Option<bool>,
    pub channels: ChannelCounts,
}

/// A span as pbxd shows it: the last report, who sent it and whether the
/// reporter is still heard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpanView {
    /// Who reports the span (`trunkd`).
    pub reporter: String,
    #[serde(flatten)]
    pub report: SpanReport,
    /// `false` once the reporter went silent: the alarm is then
    /// `unknown`, the D-channel down and no channel counted.
    pub reporting: bool,
    /// When (Unix ms) the alarm, D-channel or reporting last changed.
    pub since_ms: i64,
}

impl SpanView {
    /// Why the span is a health warning, if it is one: in alarm, its
    /// D-channel down, or nobody reporting it.
    pub fn warning(&self) -> Option<String> {
        let r = &self.report;
        if !self.reporting {
            Some(format!("span {}: {} not reporting", r.name, self.reporter))
        } else if r.alarm.raised() {
            Some(format!("span {}: {} alarm", r.name, r.alarm.name()))
        } else if r.dchannel_up == Some(false) {
            Some(format!("span {}: D-channel down", r.name))
        } else {
            None
        }
    }
}
