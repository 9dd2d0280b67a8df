//! The INVITE usage of a confirmed dialog (RFC 3261 §14): which
//! re-INVITE is in progress in which direction, so that one offer/answer
//! exchange runs at a time. Sans-IO: the time and the random draw for the
//! back-off after a 491 come in from the caller.
//!
//! - Their re-INVITE while ours is pending is glare: 491 (§14.2).
//! - Their second re-INVITE before we answered the first: 500 with a
//!   Retry-After of 0–10 s (§14.2).
//! - Ours is not sent while either is in progress (§14.1).
//! - Ours answered 491 may be tried again after 2.1–4 s if we own the
//!   Call-ID, 0–2 s otherwise, in steps of 10 ms (§14.1). A B2BUA that
//!   relays a re-INVITE does not retry: it passes the 491 back and the
//!   requester backs off.
//!
//! Session timers (RFC 4028 Session-Expires/Min-SE) are not kept here
//! yet.

use std::time::{Duration, Instant};

/// Why their re-INVITE is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Ours is pending: the two crossed (glare).
    #[error("a re-INVITE of ours is pending")]
    Glare,
    /// Theirs before is not answered yet.
    #[error("their previous re-INVITE is not answered yet")]
    Pending,
}

impl Refusal {
    /// The status to answer with: 491 for glare, 500 (with Retry-After,
    /// see [`retry_after_secs`]) for an overlapping one.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Glare => 491,
            Refusal::Pending => 500,
        }
    }
}

/// Why ours cannot go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Busy {
    #[error("a re-INVITE is in progress")]
    InProgress,
    /// Backing off after a 491, until the instant given.
    #[error("backing off after a 491")]
    BackingOff(Instant),
}

/// What became of our re-INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A provisional response: still pending.
    Pending,
    /// A 2xx: the new offer/answer holds (the caller sends the ACK).
    Accepted,
    /// 491: the far side had one of its own pending. Call
    /// [`Session::back_off`] to try again, or pass the 491 on.
    Glare,
    /// Any other final answer (the session goes on as before, RFC 3261
    /// §14.1), or a timeout the caller reports as 408.
    Rejected(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Ours {
    #[default]
    Idle,
    Sent {
        cseq: u32,
    },
    BackingOff {
        until: Instant,
    },
}

/// One dialog's re-INVITE state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Session {
    ours: Ours,
    /// The CSeq of their re-INVITE we have not answered finally yet.
    theirs: Option<u32>,
}

impl Session {
    /// Their re-INVITE with CSeq `cseq` arrives: taken on, or refused.
    pub fn receive(&mut self, cseq: u32) -> Result<(), Refusal> {
        if self.theirs.is_some() {
            return Err(Refusal::Pending);
        }
        if matches!(self.ours, Ours::Sent { .. }) {
            return Err(Refusal::Glare);
        }
        self.theirs = Some(cseq);
        Ok(())
    }

    /// We sent the final answer to their re-INVITE.
    pub fn answered(&mut self) {
        self.theirs = None;
    }

    /// Whether theirs waits for our final answer.
    pub fn theirs_pending(&self) -> bool {
        self.theirs.is_some()
    }

    /// Whether ours waits for its final answer.
    pub fn ours_pending(&self) -> bool {
        matches!(self.ours, Ours::Sent { .. })
    }

    /// Whether ours may go at `now` (§14.1), and if not, why.
    pub fn may_send(&self, now: Instant) -> Result<(), Busy> {
        if self.theirs.is_some() || matches!(self.ours, Ours::Sent { .. }) {
            return Err(Busy::InProgress);
        }
        match self.ours {
            Ours::BackingOff { until } if until > now => Err(Busy::BackingOff(until)),
            _ => Ok(()),
        }
    }

    /// Ours went out with CSeq `cseq` (checked with [`Session::may_send`]).
    pub fn sent(&mut self, cseq: u32) {
        self.ours = Ours::Sent { cseq };
    }

    /// The CSeq of ours in progress.
    pub fn ours_cseq(&self) -> Option<u32> {
        match self.ours {
            Ours::Sent { cseq } => Some(cseq),
            _ => None,
        }
    }

    /// A response to ours (or 408 for its timeout).
    pub fn response(&mut self, code: u16) -> Outcome {
        if !matches!(self.ours, Ours::Sent { .. }) {
            // Stray or retransmitted: nothing pending to settle.
            return match code {
                200..=299 => Outcome::Accepted,
                _ => Outcome::Rejected(code),
            };
        }
        match code {
            100..=199 => Outcome::Pending,
            200..=299 => {
                self.ours = Ours::Idle;
                Outcome::Accepted
            }
            491 => {
                self.ours = Ours::Idle;
                Outcome::Glare
            }
            _ => {
                self.ours = Ours::Idle;
                Outcome::Rejected(code)
            }
        }
    }

    /// After a 491 to ours: no new re-INVITE of ours before the instant
    /// returned (see [`retry_after`]); the caller sets its timer for it.
    pub fn back_off(&mut self, now: Instant, owns_call_id: bool, random: u32) -> Instant {
        let until = now + retry_after(owns_call_id, random);
        self.ours = Ours::BackingOff { until };
        until
    }

    /// When the back-off ends, if one is running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.ours {
            Ours::BackingOff { until } => Some(until),
            _ => None,
        }
    }
}

/// The wait before trying a re-INVITE answered 491 again (RFC 3261
/// §14.1), from a random draw: 2.1–4 s for the Call-ID's owner (the side
/// that started the dialog), 0–2 s for the other, in units of 10 ms, so
/// the two sides of a glare do not cross again.
pub fn retry_after(owns_call_id: bool, random: u32) -> Duration {
    let ms = if owns_call_id {
        2_100 + (random % 191) * 10
    } else {
        (random % 201) * 10
    };
    Duration::from_millis(u64::from(ms))
}

/// The Retry-After (seconds) of a 500 to an overlapping re-INVITE: a
/// random 0–10 (RFC 3261 §14.2).
pub fn retry_after_secs(random: u32) -> u32 {
    random % 11
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theirs_while_ours_is_pending_is_glare_and_ours_goes_on() {
        let mut s = Session::default();
        let now = Instant::now();
        assert_eq!(s.may_send(now), Ok(()));
        s.sent(2);
        assert_eq!(s.ours_cseq(), Some(2));
        assert_eq!(s.receive(7), Err(Refusal::Glare));
        assert_eq!(Refusal::Glare.status(), 491);
        // Refusing theirs left ours pending and theirs not taken on.
        assert!(s.ours_pending());
        assert!(!s.theirs_pending());
        assert_eq!(s.response(180), Outcome::Pending);
        assert_eq!(s.response(200), Outcome::Accepted);
        assert_eq!(s.receive(8), Ok(()));
    }

    #[test]
    fn a_second_of_theirs_before_the_first_is_answered_gets_500() {
        let mut s = Session::default();
        assert_eq!(s.receive(3), Ok(()));
        assert_eq!(s.receive(4), Err(Refusal::Pending));
        assert_eq!(Refusal::Pending.status(), 500);
        // Nor may ours go meanwhile (§14.1).
        assert_eq!(s.may_send(Instant::now()), Err(Busy::InProgress));
        s.answered();
        assert_eq!(s.receive(5), Ok(()));
    }

    #[test]
    fn after_a_491_ours_waits_for_its_back_off() {
        let now = Instant::now();
        let mut s = Session::default();
        s.sent(2);
        assert_eq!(s.response(491), Outcome::Glare);
        let until = s.back_off(now, true, 0);
        assert_eq!(until, now + Duration::from_millis(2_100));
        assert_eq!(s.poll_timeout(), Some(until));
        assert_eq!(
            s.may_send(now + Duration::from_millis(2_099)),
            Err(Busy::BackingOff(until))
        );
        assert_eq!(s.may_send(until), Ok(()));
        // Theirs during our back-off is no glare: ours is not pending.
        assert_eq!(s.receive(9), Ok(()));
    }

    #[test]
    fn the_back_off_ranges_follow_who_owns_the_call_id() {
        let owner: Vec<Duration> = (0..1000).map(|r| retry_after(true, r)).collect();
        let other: Vec<Duration> = (0..1000).map(|r| retry_after(false, r)).collect();
        assert_eq!(owner.iter().min(), Some(&Duration::from_millis(2_100)));
        assert_eq!(owner.iter().max(), Some(&Duration::from_millis(4_000)));
        assert_eq!(other.iter().min(), Some(&Duration::ZERO));
        assert_eq!(other.iter().max(), Some(&Duration::from_millis(2_000)));
        assert!(owner.iter().chain(&other).all(|d| d.as_millis() % 10 == 0));
        assert_eq!(
            retry_after(true, u32::MAX),
            retry_after(true, u32::MAX % 191)
        );
        assert!((0..100).all(|r| retry_after_secs(r) <= 10));
    }

    #[test]
    fn other_final_answers_leave_the_session_idle() {
        let mut s = Session::default();
        s.sent(2);
        assert_eq!(s.response(488), Outcome::Rejected(488));
        assert_eq!(s.may_send(Instant::now()), Ok(()));
        s.sent(3);
        assert_eq!(s.response(408), Outcome::Rejected(408));
        assert!(!s.ours_pending());
    }
}
