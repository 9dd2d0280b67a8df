//! The thin I/O edge: moves a board port's events and audio into an
//! [`FxoPort`] and carries its actions back to the board. Everything that
//! decides lives in the port; this only pumps.

use std::time::Duration;

use dering_board::{AnalogPort, BoardError, Incoming};

use crate::port::{Action, Event, FxoPort};

/// Reads everything `board` has at `now`, runs the port's timers due,
/// applies its actions to the board and returns its events.
pub fn pump<P: AnalogPort>(
    board: &mut P,
    port: &mut FxoPort,
    now: Duration,
) -> Result<Vec<Event>, BoardError> {
    while let Some(incoming) = board.recv()? {
        match incoming {
            Incoming::Event(e) => port.handle_event(e, now),
            Incoming::Data(block) => port.handle_audio(&block, now),
        }
        apply(board, port)?;
    }
    while port.poll_timeout().is_some_and(|t| t <= now) {
        port.handle_timeout(now);
        apply(board, port)?;
    }
    apply(board, port)?;
    Ok(std::iter::from_fn(|| port.poll_event()).collect())
}

/// Carries the port's pending actions to the board.
pub fn apply<P: AnalogPort>(board: &mut P, port: &mut FxoPort) -> Result<(), BoardError> {
    while let Some(a) = port.poll_action() {
        match a {
            Action::Seize => board.seize()?,
            Action::Release => board.release()?,
            Action::Send(block) => board.send(&block)?,
        }
    }
    Ok(())
}
