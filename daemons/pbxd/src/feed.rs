//! The event stream's engine side (CTI-1): every published event gets the
//! next sequence number, is kept in a bounded ring for late subscribers
//! to replay, and is offered to each subscriber's queue without waiting.
//! A subscriber whose queue is full is cut off and told so: the engine
//! is never slowed by a client that does not read.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dering_control::{ControlError, Event, Stamped};
use tokio::sync::mpsc;

/// Events kept for replay: a client that took a snapshot a moment ago
/// (or lost its connection briefly) resumes without a gap.
pub const RING: usize = 4096;

/// Events queued for one subscriber before it counts as too slow: room for
/// a whole replay of the ring and a burst on top.
pub const QUEUE: usize = 2 * RING;

/// One subscriber's end of the stream: event lines, and whether pbxd cut
/// it off (to say so before closing).
#[derive(Debug)]
pub struct Subscribed {
    pub from_seq: u64,
    pub lines: mpsc::Receiver<Arc<str>>,
    pub cut: Arc<AtomicBool>,
}

#[derive(Debug)]
struct Subscriber {
    tx: mpsc::Sender<Arc<str>>,
    cut: Arc<AtomicBool>,
}

/// The sequence, the ring and the subscribers.
#[derive(Debug)]
pub struct Feed {
    next_seq: u64,
    ring: VecDeque<(u64, Arc<str>)>,
    subscribers: Vec<Subscriber>,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed {
            next_seq: 1,
            ring: VecDeque::with_capacity(RING),
            subscribers: Vec::new(),
        }
    }
}

impl Feed {
    /// The sequence number of the last event published (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }

    /// Stamps `event`, keeps it and offers it to every subscriber.
    pub fn publish(&mut self, event: Event) {
        let seq = self.next_seq;
        let line: Arc<str> = match serde_json::to_string(&Stamped { seq, event }) {
            Ok(l) => l.into(),
            Err(e) => {
                tracing::error!(error = %e, "event not serialisable; not published");
                return;
            }
        };
        self.next_seq += 1;
        if self.ring.len() == RING {
            self.ring.pop_front();
        }
        self.ring.push_back((seq, line.clone()));
        self.subscribers
            .retain(|s| match s.tx.try_send(line.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(seq, "event subscriber too slow: cut off");
                    s.cut.store(true, Ordering::Relaxed);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }

    /// A new subscriber from event `from_seq` (replayed from the ring), or
    /// from the next event.
    pub fn subscribe(&mut self, from_seq: Option<u64>) -> Result<Subscribed, ControlError> {
        let from = from_seq.unwrap_or(self.next_seq);
        let oldest = self.ring.front().map_or(self.next_seq, |(s, _)| *s);
        if from < oldest || from > self.next_seq {
            return Err(ControlError::SeqUnavailable {
                from_seq: from,
                oldest,
                next: self.next_seq,
            });
        }
        let (tx, lines) = mpsc::channel(QUEUE);
        for (_, line) in self.ring.iter().filter(|(s, _)| *s >= from) {
            // QUEUE > RING: a replay always fits.
            let _ = tx.try_send(line.clone());
        }
        let cut = Arc::new(AtomicBool::new(false));
        self.subscribers.push(Subscriber {
            tx,
            cut: cut.clone(),
        });
        Ok(Subscribed {
            from_seq: from,
            lines,
            cut,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake(open: bool) -> Event {
        Event::Intake { open }
    }

    fn seqs(s: &mut Subscribed) -> Vec<u64> {
        let mut v = Vec::new();
        while let Ok(l) = s.lines.try_recv() {
            let e: Stamped = serde_json::from_str(&l).unwrap();
            v.push(e.seq);
        }
        v
    }

    #[test]
    fn a_late_subscriber_replays_from_its_seq_without_a_gap() {
        let mut f = Feed::default();
        assert_eq!(f.last_seq(), 0);
        for i in 0..5 {
            f.publish(intake(i % 2 == 0));
        }
        let mut late = f.subscribe(Some(3)).unwrap();
        assert_eq!(late.from_seq, 3);
        let mut now = f.subscribe(None).unwrap();
        assert_eq!(now.from_seq, 6);
        f.publish(intake(true));
        assert_eq!(seqs(&mut late), [3, 4, 5, 6]);
        assert_eq!(seqs(&mut now), [6]);
        assert_eq!(f.last_seq(), 6);
    }

    #[test]
    fn a_seq_no_longer_kept_is_an_error_not_a_gap() {
        let mut f = Feed::default();
        for _ in 0..RING + 10 {
            f.publish(intake(true));
        }
        let oldest = 11;
        assert_eq!(
            f.subscribe(Some(oldest - 1)).unwrap_err(),
            ControlError::SeqUnavailable {
                from_seq: oldest - 1,
                oldest,
                next: RING as u64 + 11,
            }
        );
        let mut s = f.subscribe(Some(oldest)).unwrap();
        assert_eq!(seqs(&mut s).len(), RING);
        // A seq from the future (a pbxd that restarted) is refused too.
        assert!(f.subscribe(Some(RING as u64 + 12)).is_err());
    }

    #[test]
    fn a_subscriber_that_does_not_read_is_cut_off_and_the_others_go_on() {
        let mut f = Feed::default();
        let stuck = f.subscribe(None).unwrap();
        let mut reader = f.subscribe(None).unwrap();
        for i in 0..QUEUE + 1 {
            f.publish(intake(true));
            if i % 100 == 0 {
                seqs(&mut reader);
            }
        }
        assert!(stuck.cut.load(Ordering::Relaxed));
        assert!(!reader.cut.load(Ordering::Relaxed));
        assert_eq!(f.subscribers(), 1);
        f.publish(intake(false));
        assert_eq!(seqs(&mut reader).last(), Some(&(QUEUE as u64 + 2)));
    }
}
