//! A prompt recorded from a phone (issue 15 §2), on the core alone in
//! virtual time (see `sim/mod.rs`): the feature code, the prompt number
//! by DTMF, the beep, the caller's audio captured at the local endpoint,
//! `#`, the playback, 1 keeps it; the kept take is written by the same
//! `prompt_store::save` the shell runs and read back by the library that
//! plays it to the next caller. The relay's capture is played here by the
//! test, as the sim plays every media command; the real relay, sockets
//! and a sipp phone are in `hwtests/tests/web_prompts.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim;

use std::sync::Arc;
use std::time::Duration;

use dering_media::speech::Lang;
use pbxd::core::MediaCmd;
use pbxd::endpoint::MediaEvent;
use sim::{Phone, Sim};

/// The caller's leg answered here: its call id.
fn local_call(s: &Sim) -> u64 {
    s.media
        .iter()
        .find_map(|m| match m {
            MediaCmd::Local { call, .. } => Some(*call),
            _ => None,
        })
        .expect("the call is answered by the box")
}

/// How many of the media commands so far match `f`.
fn count(s: &Sim, f: impl Fn(&MediaCmd) -> bool) -> usize {
    s.media.iter().filter(|m| f(m)).count()
}

/// 1001 (a prompt recorder in the demo) dials `number` and the box
/// answers; returns the call.
fn dial(s: &mut Sim, p: &mut Phone, number: &str) -> (u64, sim::Dialog) {
    let mut d = p.invite(s, number);
    let ok = p.expect_response(s, 200);
    p.ack_2xx(s, &mut d, &ok);
    (local_call(s), d)
}

/// A second of a 600 Hz tone: what the caller "says".
fn speech() -> Arc<[i16]> {
    (0..8000)
        .map(|i| ((i as f64 * 600.0 * std::f64::consts::TAU / 8000.0).sin() * 9000.0) as i16)
        .collect::<Vec<_>>()
        .into()
}

#[test]
fn a_prompt_recorded_by_the_feature_code_is_kept_with_1_and_written() {
    let mut s = Sim::new(|t| t);
    let mut p = Phone::registered(&mut s, "1001");
    let (call, mut d) = dial(&mut s, &mut p, "*97");
    // The number is asked for and typed, ended by #.
    for k in ['0', '5', '#'] {
        s.key(call, k);
    }
    // "Speak after the tone" and the beep: the capture starts when they end.
    assert_eq!(count(&s, |m| matches!(m, MediaCmd::Capture { .. })), 0);
    s.advance(Duration::from_secs(10));
    assert_eq!(
        count(
            &s,
            |m| matches!(m, MediaCmd::Capture { call: c, .. } if *c == call)
        ),
        1
    );
    // The caller speaks, then # ends the take: the endpoint hands it back.
    s.key(call, '#');
    assert_eq!(
        count(&s, |m| *m == MediaCmd::EndCapture { call }),
        1,
        "# ends the capture"
    );
    let take = speech();
    s.media_event(MediaEvent::Captured {
        call,
        audio: take.clone(),
    });
    // The take is played back first, then "1 keeps, 2 again".
    let played = s.media.iter().rev().find_map(|m| match m {
        MediaCmd::Play { call: c, audio, .. } if *c == call => Some(audio.clone()),
        _ => None,
    });
    assert!(
        played
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(&a[0], &take) && a.len() == 2),
        "the take, then the question"
    );
    // 2 records again: the instructions and a second capture.
    s.key(call, '2');
    s.advance(Duration::from_secs(10));
    assert_eq!(count(&s, |m| matches!(m, MediaCmd::Capture { .. })), 2);
    s.key(call, '#');
    s.media_event(MediaEvent::Captured {
        call,
        audio: take.clone(),
    });
    assert!(
        !s.media
            .iter()
            .any(|m| matches!(m, MediaCmd::SavePrompt { .. })),
        "nothing kept before 1"
    );
    s.key(call, '1');
    let saved = s
        .media
        .iter()
        .find_map(|m| match m {
            MediaCmd::SavePrompt {
                lang,
                name,
                audio,
                by,
                at_ms,
            } => Some((*lang, name.clone(), audio.clone(), by.clone(), *at_ms)),
            _ => None,
        })
        .expect("kept");
    assert_eq!(
        (saved.0, saved.1.as_str(), saved.3.as_str()),
        (Lang::Id, "rec_05", "1001")
    );
    assert!(Arc::ptr_eq(&saved.2, &take));
    assert_eq!(s.call_events("prompt_recorded"), ["id/rec_05"]);

    // "Saved", goodbye, and the box hangs up.
    s.advance(Duration::from_secs(10));
    let bye = p.expect_request(&mut s, "BYE");
    p.respond(&mut s, &bye, 200, "", "");
    let _ = &mut d;

    // The shell writes it as the library reads it; the next call plays it.
    let dir = tempfile::tempdir().unwrap();
    let meta = pbxd::prompt_store::Meta {
        by: saved.3.clone(),
        source: "phone".into(),
        at_ms: saved.4,
    };
    let path = pbxd::prompt_store::save(dir.path(), saved.0, &saved.1, &saved.2, &meta).unwrap();
    assert_eq!(path, dir.path().join("id/rec_05.wav"));
    let prompts = dering_media::prompts::Prompts::load(dir.path()).unwrap();
    assert_eq!(prompts.get(Lang::Id, "rec_05").as_deref(), Some(&take[..]));
    assert_eq!(pbxd::prompt_store::read_meta(&path), Some(meta));
}

#[test]
fn a_dialled_number_skips_the_question_and_others_may_not_record() {
    let mut s = Sim::new(|t| t);
    let mut p = Phone::registered(&mut s, "1001");
    let (call, _d) = dial(&mut s, &mut p, "*9707");
    s.advance(Duration::from_secs(10));
    assert_eq!(
        count(
            &s,
            |m| matches!(m, MediaCmd::Capture { call: c, .. } if *c == call)
        ),
        1,
        "straight to the beep"
    );

    // 1002 is not in [calls] prompt_recorders: refused before answering.
    let mut q = Phone::registered(&mut s, "1002");
    let d = q.invite(&mut s, "*9707");
    let r = q.expect_response(&mut s, 403);
    q.ack_final(&mut s, &d, &r);
}

/// The first prompt audio played to `call` (the flow's greeting).
fn first_play(s: &Sim, call: u64) -> Arc<[i16]> {
    s.media
        .iter()
        .find_map(|m| match m {
            MediaCmd::Play { call: c, audio, .. } if *c == call => audio.first().cloned(),
            _ => None,
        })
        .expect("the flow plays its greeting")
}

#[test]
fn a_new_library_is_played_from_the_next_call_while_a_call_in_progress_keeps_its_prompt() {
    let mut s = Sim::new(|t| t);
    let t = s.t();
    s.core
        .publish_flow(t, &dering_flow::Flow::demo().to_json())
        .unwrap();
    let mut a = Phone::registered(&mut s, "1001");
    let (first, _da) = dial(&mut s, &mut a, "137");
    let old = first_play(&s, first);
    let played_before = s.media.len();

    // A greeting uploaded (the shell loads the directory and hands the
    // library to the core).
    let dir = tempfile::tempdir().unwrap();
    let greeting = speech();
    let meta = pbxd::prompt_store::Meta {
        by: "budi".into(),
        source: "web".into(),
        at_ms: 0,
    };
    pbxd::prompt_store::save(dir.path(), Lang::Id, "greeting", &greeting, &meta).unwrap();
    let library = dering_media::prompts::Prompts::load(dir.path()).unwrap();
    s.core.set_prompts(Arc::new(library));

    // The call in progress is not touched: nothing new is sent to it.
    assert!(
        s.media[played_before..].iter().all(|m| !matches!(
            m,
            MediaCmd::Play { call, .. } | MediaCmd::StopPlay { call } if *call == first
        )),
        "{:?}",
        &s.media[played_before..]
    );
    // The next caller hears the new greeting.
    let mut b = Phone::registered(&mut s, "1002");
    let mut d = b.invite(&mut s, "137");
    let ok = b.expect_response(&mut s, 200);
    b.ack_2xx(&mut s, &mut d, &ok);
    let second = s
        .media
        .iter()
        .rev()
        .find_map(|m| match m {
            MediaCmd::Local { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    assert_ne!(second, first);
    let new = first_play(&s, second);
    assert_eq!(&new[..], &greeting[..]);
    assert_ne!(&old[..], &greeting[..]);
}
