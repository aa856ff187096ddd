//! The payload a CLI hands to `gaffer hook`, through `hook_payload::parse`. Input: one byte
//! picks the agent kind (`cc`, `cod`, `gmi` or an unknown one), one byte the event name (one of
//! the kind's installed events, or empty so the payload's `hook_event_name` counts), the rest
//! is the payload. Checks: every string kept is inert (no escape or control character that a
//! terminal or the ledger would act on, no line break) and within its length limit; the paths
//! kept hold no control character; an oversized payload is refused, not read.
#![no_main]

use gaffer_core::escapes::is_inert;
use gaffer_core::hook_payload::{self, MAX_DETAIL, MAX_PAYLOAD, PayloadError};
use libfuzzer_sys::fuzz_target;

fn kept(what: &str, s: &str, max_chars: usize) {
    assert!(is_inert(s), "{what} {s:?} is not inert");
    assert!(
        !s.contains(['\n', '\t', '\r']),
        "{what} {s:?} breaks the line"
    );
    assert!(
        s.chars().count() <= max_chars + 1,
        "{what} is {} chars",
        s.chars().count()
    );
}

fuzz_target!(|data: &[u8]| {
    let [a, e, payload @ ..] = data else {
        return;
    };
    let agent = ["cc", "cod", "gmi", "xyz"][usize::from(*a) % 4];
    let events = hook_payload::installed_events(agent);
    let event = events
        .get(usize::from(*e) % (events.len() + 1))
        .map_or("", |(name, _)| *name);
    match hook_payload::parse(agent, event, payload) {
        Ok(p) => {
            assert!(hook_payload::AGENTS.contains(&agent));
            kept("raw_event", &p.raw_event, 64);
            if let Some(s) = &p.session_id {
                kept("session_id", s, 128);
            }
            if let Some(d) = &p.detail {
                kept("detail", d, MAX_DETAIL);
            }
            for path in [&p.transcript_path, &p.cwd].into_iter().flatten() {
                let s = path.to_string_lossy();
                assert!(!s.chars().any(char::is_control), "path {s:?}");
            }
        }
        Err(PayloadError::UnknownEvent { event, .. }) => kept("event", &event, 64),
        Err(PayloadError::UnknownAgent(a)) => kept("agent", &a, 16),
        Err(PayloadError::TooBig(n)) => assert!(n > MAX_PAYLOAD),
        Err(PayloadError::Malformed(_)) => {}
    }
    // A payload over the limit is refused by its size alone (checked once per length class).
    if payload.len() == 7 && hook_payload::AGENTS.contains(&agent) {
        let big = vec![b' '; MAX_PAYLOAD + 1];
        assert_eq!(
            hook_payload::parse(agent, event, &big).err(),
            Some(PayloadError::TooBig(MAX_PAYLOAD + 1))
        );
    }
});
