//! What trunkd tells pbxd of its spans (issue 14, decision 0024): each
//! span's alarm, D-channel and channels by state, sent over pbxd's
//! control socket as `report_spans` whenever it changes and every
//! [`HEARTBEAT`] (pbxd shows a reporter silent for 15 s as unknown).
//!
//! [`span_report`] is the pure part: the shell's view of a span in, the
//! report out. [`Reporter`] is the client: a thread of its own with a
//! small runtime, so the shell's 20 ms round never waits on pbxd; it
//! reconnects whenever pbxd restarts or is not there yet.

use std::path::PathBuf;
use std::time::Duration;

use dering_board::Alarms;
use dering_config::SpanSide as ConfigSide;
use dering_control::client::Client;
use dering_control::{ChannelCounts, Request, SpanAlarm, SpanKind, SpanReport, SpanSide};
use tokio::sync::watch;

use crate::hunt::ChannelState;

/// How often the report is sent when nothing changes.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long to wait before connecting again after pbxd went away.
const RECONNECT: Duration = Duration::from_secs(1);
/// The name pbxd knows trunkd's reports by.
pub const REPORTER: &str = "trunkd";

/// The alarm a span shows: the worst of DAHDI's bits (red, or loss of
/// signal, then blue, then yellow).
pub fn alarm_of(a: Alarms) -> SpanAlarm {
    if a.contains(Alarms::RED) || a.contains(Alarms::LOS) {
        SpanAlarm::Red
    } else if a.contains(Alarms::BLUE) {
        SpanAlarm::Blue
    } else if a.contains(Alarms::YELLOW) {
        SpanAlarm::Yellow
    } else {
        SpanAlarm::None
    }
}

/// An E1 span's report: its name and side from the configuration, its
/// alarms as the board reads them, whether its data link is established,
/// and the states of its channels as the gateway has them.
pub fn span_report(
    name: &str,
    side: ConfigSide,
    alarms: Alarms,
    dchannel_up: bool,
    channels: impl IntoIterator<Item = ChannelState>,
) -> SpanReport {
    let mut counts = ChannelCounts::default();
    for c in channels {
        let n = match c {
            ChannelState::Idle => &mut counts.idle,
            ChannelState::InUse => &mut counts.in_use,
            ChannelState::Blocked => &mut counts.blocked,
            ChannelState::Restarting => &mut counts.restarting,
            ChannelState::Ringing => &mut counts.ringing,
        };
        *n = n.saturating_add(1);
    }
    SpanReport {
        name: name.to_string(),
        kind: SpanKind::E1,
        side: match side {
            ConfigSide::User => SpanSide::User,
            ConfigSide::Network => SpanSide::Network,
        },
        alarm: alarm_of(alarms),
        dchannel_up: Some(dchannel_up),
        channels: counts,
    }
}

/// An analog line's report: a span of one channel with no D-channel; a
/// line whose port failed shows red, as its calls cannot be carried.
pub fn line_report(name: &str, dead: bool, state: Option<ChannelState>) -> SpanReport {
    let alarms = if dead { Alarms::RED } else { Alarms::NONE };
    SpanReport {
        kind: SpanKind::Analog,
        side: SpanSide::Fxo,
        dchannel_up: None,
        ..span_report(name, ConfigSide::User, alarms, false, state)
    }
}

/// Sends the spans' reports to pbxd; dropping it stops its thread.
#[derive(Debug)]
pub struct Reporter {
    tx: watch::Sender<Vec<SpanReport>>,
}

impl Reporter {
    /// Starts reporting to the pbxd whose control socket is in
    /// `data_dir`.
    pub fn start(data_dir: PathBuf) -> std::io::Result<Reporter> {
        let (tx, rx) = watch::channel(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("span-report".into())
            .spawn(move || rt.block_on(report_loop(data_dir, rx)))?;
        Ok(Reporter { tx })
    }

    /// The spans as they are now; sent at once when they differ from the
    /// last offer.
    pub fn offer(&self, spans: Vec<SpanReport>) {
        self.tx.send_if_modified(|cur| {
            if *cur == spans {
                false
            } else {
                *cur = spans;
                true
            }
        });
    }
}

/// Connects, sends the current report, then every change and heartbeat,
/// until the shell drops its [`Reporter`]. A failure of any step starts
/// over with a new connection (pbxd restarted: it knows nothing yet).
async fn report_loop(data_dir: PathBuf, mut rx: watch::Receiver<Vec<SpanReport>>) {
    let mut said_down = false;
    loop {
        let mut client = match Client::connect(&data_dir).await {
            Ok(c) => c,
            Err(e) => {
                if !said_down {
                    tracing::warn!(error = %e, "span status: pbxd not reachable; retrying");
                    said_down = true;
                }
                tokio::time::sleep(RECONNECT).await;
                if rx.has_changed().is_err() {
                    return; // the shell stopped
                }
                continue;
            }
        };
        tracing::info!("span status: reporting to pbxd");
        said_down = false;
        loop {
            let spans = rx.borrow_and_update().clone();
            let req = Request::ReportSpans {
                reporter: REPORTER.into(),
                spans,
            };
            if let Err(e) = client.act(&req).await {
                tracing::warn!(error = %e, "span status: report not taken; reconnecting");
                break;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
        }
        tokio::time::sleep(RECONNECT).await;
        if rx.has_changed().is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_alarm_is_shown() {
        assert_eq!(alarm_of(Alarms::NONE), SpanAlarm::None);
        assert_eq!(alarm_of(Alarms::RECOVER), SpanAlarm::None);
        assert_eq!(alarm_of(Alarms::YELLOW), SpanAlarm::Yellow);
        assert_eq!(alarm_of(Alarms::BLUE | Alarms::YELLOW), SpanAlarm::Blue);
        assert_eq!(alarm_of(Alarms::LOS), SpanAlarm::Red);
        assert_eq!(alarm_of(Alarms::RED | Alarms::BLUE), SpanAlarm::Red);
    }

    #[test]
    fn channels_are_counted_by_state() {
        use ChannelState::*;
        let r = span_report(
            "telkom",
            ConfigSide::User,
            Alarms::NONE,
            true,
            [Idle, InUse, Idle, Restarting, Blocked, InUse, Idle],
        );
        assert_eq!(
            r.channels,
            ChannelCounts {
                idle: 3,
                in_use: 2,
                blocked: 1,
                restarting: 1,
                ringing: 0
            }
        );
        assert_eq!(
            (r.kind, r.side, r.alarm, r.dchannel_up),
            (SpanKind::E1, SpanSide::User, SpanAlarm::None, Some(true))
        );
        let red = span_report("telkom", ConfigSide::Network, Alarms::RED, false, []);
        assert_eq!(
            (red.side, red.alarm, red.dchannel_up),
            (SpanSide::Network, SpanAlarm::Red, Some(false))
        );
    }
}
