//! Recording a prompt from a phone (issue 15 §2): an extension of
//! `[calls] prompt_recorders` dials `record_prompt_code` with the prompt's
//! number (`*9705`), or the code alone and then the number and `#`. It
//! hears "speak after the tone", a beep, and speaks; `#` ends the take,
//! which is played back with "1 keeps it, 2 records again". Kept, the
//! take leaves the core as [`MediaCmd::SavePrompt`]: the shell writes it
//! as `<prompts>/id/rec_<number>.wav` (temporary file, then rename) and
//! swaps the prompt library in for the next call, the same path as a web
//! upload. The call's record says which prompt it recorded.
//!
//! The audio itself never passes through here as packets: the caller's
//! local endpoint on the relay captures the decoded take
//! ([`MediaCmd::Capture`]) and hands it back whole
//! ([`crate::endpoint::MediaEvent::Captured`]).

use std::sync::Arc;
use std::time::Duration;

use dering_media::speech::Lang;
use dering_store::Op;

use super::timers::Timer;
use super::{Core, MediaCmd, Now, Output};

/// The longest take: 2 minutes of 8 kHz audio; the endpoint ends the
/// capture itself there.
pub(crate) const MAX_TAKE_SAMPLES: usize = 120 * 8000;
/// How long the caller has to type the prompt's number.
const NUMBER_WAIT: Duration = Duration::from_secs(10);
/// Digits of a prompt number.
const MAX_NUMBER: usize = 4;

/// Where a recording call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Typing the prompt's number, ended by `#`.
    Number,
    /// Hearing "speak after the tone" and the beep.
    Instructions,
    /// The endpoint captures the caller until `#`.
    Capturing,
    /// Hearing the take and "1 keeps, 2 again".
    Review,
    /// Kept: hearing "saved", then the box hangs up.
    Done,
}

/// The prompt-recording part of a feature call.
#[derive(Debug)]
pub(super) struct Take {
    stage: Stage,
    number: String,
    /// The extension recording, named in the prompt's metadata.
    by: String,
    audio: Option<Arc<[i16]>>,
    deadline: Option<std::time::Instant>,
}

impl Take {
    /// A take of prompt `number`, if the caller dialled one.
    pub(super) fn new(by: &str, number: Option<String>) -> Take {
        Take {
            stage: Stage::Number,
            number: number.unwrap_or_default(),
            by: by.to_string(),
            audio: None,
            deadline: None,
        }
    }
}

/// The prompt a take of `number` becomes (`05` → `rec_05`): the names of
/// the web admin's prompt screen, so it lists and replaces them too.
pub fn prompt_name(number: &str) -> String {
    format!("rec_{number}")
}

/// A 400 ms beep at 1 kHz, −6 dBFS, with 10 ms ramps (no click): computed,
/// not a file, so no deployment can lose it.
fn beep() -> Arc<[i16]> {
    let n = 3200usize;
    let ramp = 80usize;
    (0..n)
        .map(|i| {
            let gain = (i.min(n - 1 - i) as f64 / ramp as f64).min(1.0);
            let s = (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin();
            (s * gain * 16_000.0) as i16
        })
        .collect::<Vec<_>>()
        .into()
}

impl Core {
    fn take(&mut self, call: u64) -> Option<&mut Take> {
        self.feature_leg(call)?.take.as_mut()
    }

    /// The recording call `call` of `by` is answered: ask for the number
    /// unless it was dialled.
    pub(super) fn take_start(&mut self, now: Now, call: u64, by: &str, number: Option<String>) {
        let dialled = number.is_some();
        if let Some(f) = self.feature_leg(call) {
            f.take = Some(Take::new(by, number));
        }
        if dialled {
            self.take_instructions(call);
        } else {
            self.take_ask_number(now, call, &[]);
        }
    }

    fn take_ask_number(&mut self, now: Now, call: u64, before: &[&str]) {
        let mut names = before.to_vec();
        names.push("enter_digits");
        self.play_here(call, &names, true);
        let deadline = now.at + NUMBER_WAIT;
        if let Some(t) = self.take(call) {
            t.stage = Stage::Number;
            t.number.clear();
            t.deadline = Some(deadline);
            self.timers.arm(Timer::Feature(call), deadline);
        }
    }

    /// "Speak after the tone", the beep; capturing starts when they end.
    fn take_instructions(&mut self, call: u64) {
        let names = ["record_after_beep".to_string()];
        let mut audio = self.resolve_prompts(Lang::Id, &names);
        audio.push(beep());
        self.out.push_back(Output::Media(MediaCmd::Play {
            call,
            audio,
            interruptible: false,
        }));
        if let Some(t) = self.take(call) {
            t.stage = Stage::Instructions;
            t.audio = None;
            t.deadline = None;
        }
    }

    /// A key on a recording call.
    pub(super) fn take_digit(&mut self, now: Now, call: u64, key: char) {
        let Some(t) = self.take(call) else {
            return;
        };
        match (t.stage, key) {
            (Stage::Number, '#') if !t.number.is_empty() => {
                t.deadline = None;
                self.take_instructions(call);
            }
            (Stage::Number, d) if d.is_ascii_digit() && t.number.len() < MAX_NUMBER => {
                t.number.push(d);
                let deadline = now.at + NUMBER_WAIT;
                t.deadline = Some(deadline);
                self.timers.arm(Timer::Feature(call), deadline);
            }
            (Stage::Capturing, '#') => {
                self.out
                    .push_back(Output::Media(MediaCmd::EndCapture { call }));
            }
            (Stage::Review, '1') => self.take_keep(now, call),
            (Stage::Review, '2') => self.take_instructions(call),
            _ => {}
        }
    }

    /// The end of what a recording call was hearing.
    pub(super) fn take_play_done(&mut self, now: Now, call: u64) {
        let Some(t) = self.take(call) else {
            return;
        };
        match t.stage {
            Stage::Instructions => {
                tracing::info!(call, number = %t.number, "prompt take: recording after the beep");
                t.stage = Stage::Capturing;
                self.out.push_back(Output::Media(MediaCmd::Capture {
                    call,
                    max_samples: MAX_TAKE_SAMPLES,
                }));
            }
            Stage::Done => self.hang_up_here(now, call, "prompt recorded"),
            Stage::Number | Stage::Capturing | Stage::Review => {}
        }
    }

    /// The endpoint hands back the take (`#` pressed, or the longest take
    /// reached): play it, then "1 keeps, 2 again".
    pub(super) fn take_captured(&mut self, call: u64, audio: Arc<[i16]>) {
        let Some(t) = self.take(call) else {
            return;
        };
        if t.stage != Stage::Capturing {
            return;
        }
        tracing::info!(
            call,
            samples = audio.len(),
            "prompt take: played back for 1 or 2"
        );
        t.stage = Stage::Review;
        t.audio = Some(audio.clone());
        let names = ["record_review".to_string()];
        let mut play = vec![audio];
        play.extend(self.resolve_prompts(Lang::Id, &names));
        self.out.push_back(Output::Media(MediaCmd::Play {
            call,
            audio: play,
            interruptible: true,
        }));
    }

    /// 1 after the playback: the take becomes the prompt, and the call's
    /// record says which.
    fn take_keep(&mut self, now: Now, call: u64) {
        let Some(t) = self.take(call) else {
            return;
        };
        let Some(audio) = t.audio.clone() else {
            return;
        };
        t.stage = Stage::Done;
        let name = prompt_name(&t.number);
        let by = t.by.clone();
        let uuid = self
            .calls
            .get(&call)
            .map(|c| c.parties.uuid.clone())
            .unwrap_or_default();
        tracing::info!(call, prompt = %name, %by, samples = audio.len(), "prompt recorded from a phone");
        self.store(Op::CallEvent {
            uuid,
            at_ms: now.wall_ms,
            kind: "prompt_recorded".into(),
            detail: Some(format!("id/{name}")),
        });
        self.out.push_back(Output::Media(MediaCmd::SavePrompt {
            lang: Lang::Id,
            name,
            audio,
            by,
            at_ms: now.wall_ms,
        }));
        self.play_here(call, &["record_saved", "goodbye"], false);
    }

    /// The caller stopped typing the number: take what was typed, or ask
    /// again once, then give up.
    pub(super) fn take_timer(&mut self, now: Now, call: u64) {
        let Some(t) = self.take(call) else {
            return;
        };
        if t.stage != Stage::Number || t.deadline.is_none_or(|d| d > now.at) {
            return;
        }
        t.deadline = None;
        if t.number.is_empty() {
            self.say_goodbye(call, &["no_input", "goodbye"]);
        } else {
            self.take_instructions(call);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beep_is_a_smooth_tone() {
        let b = beep();
        assert_eq!(b.len(), 3200);
        assert_eq!(b[0], 0, "starts from silence");
        assert!(b.iter().map(|s| s.unsigned_abs()).max() > Some(15_000));
        assert!(b[b.len() - 1].unsigned_abs() < 300, "ends near silence");
    }

    #[test]
    fn a_number_names_its_prompt() {
        assert_eq!(prompt_name("05"), "rec_05");
    }
}
