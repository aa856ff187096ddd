//! The detector on arbitrary screen bytes (invalid UTF-8 included, read as tmux's capture is:
//! lossily), for every agent kind and a few foreground commands, through `detect` and
//! `explain`. Checks the verdict's invariants and that both entry points agree, and that the
//! terminal-escape stripper leaves nothing a terminal would act on.
#![no_main]

use gaffer_core::detect::{Detector, ScreenInput, activity_fingerprint, parse_rate_limit_reset};
use gaffer_core::escapes;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const KINDS: [&str; 5] = ["cc", "cod", "gmi", "shell", "someone-else"];
const COMMANDS: [&str; 4] = ["", "node", "bash", "claude"];
/// The agent's local zone for clock times without one: UTC, zones with daylight saving on
/// either hemisphere, a half-hour offset and a half-hour daylight saving shift.
const ZONES: [chrono_tz::Tz; 5] = [
    chrono_tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::Los_Angeles,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Lord_Howe,
];

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(Detector::builtin)
}

fuzz_target!(|data: &[u8]| {
    let screen = String::from_utf8_lossy(data);
    let observed_at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let command = COMMANDS[data.len() % COMMANDS.len()];
    for kind in KINDS {
        let input = ScreenInput {
            agent_type: kind,
            screen: &screen,
            current_command: command,
            observed_at,
        };
        let verdict = detector().detect(&input);
        assert!(
            (0.0..=1.0).contains(&verdict.confidence),
            "confidence {} out of range",
            verdict.confidence
        );
        if let Some(c) = verdict.context_usage {
            assert!(c.is_finite(), "context usage {c} is not finite");
        }
        assert_eq!(verdict.observed_at, observed_at);
        let explained = detector().explain(&input);
        assert_eq!(explained.verdict, verdict, "explain and detect disagree");
    }
    // reset times: a local zone and an observation time spread over a year (daylight saving
    // gaps and overlaps), both picked by the input's length
    let local = ZONES[data.len() % ZONES.len()];
    let seen = observed_at + chrono::Duration::seconds((data.len() as i64 * 3_607) % 31_536_000);
    for line in screen.lines().take(64) {
        if let Some(reset) = parse_rate_limit_reset(line, seen, local) {
            assert!(reset >= seen, "reset {reset} before {seen}: {line:?}");
        }
    }
    let _ = activity_fingerprint(&screen);
    // the terminal-escape stripper the detector and every printed outside string go through
    let stripped = escapes::strip(&screen);
    assert!(
        escapes::is_inert(&stripped),
        "strip left a control: {stripped:?}"
    );
    let line = escapes::sanitize_line(&screen);
    assert!(
        escapes::is_inert(&line) && !line.contains(['\n', '\t']),
        "{line:?}"
    );
});
