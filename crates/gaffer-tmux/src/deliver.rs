//! Verified prompt delivery (DESIGN.md §3).
//!
//! 1. `load-buffer -b gaffer-<unique> -` with the text on stdin, then
//!    `paste-buffer -p -d -b <name> -t <pane>` (bracketed paste, buffer deleted): the text never
//!    goes through tmux's key parser, so `;`, newlines, `C-c`, `Enter` and unicode arrive as
//!    written.
//! 2. After a settle delay, `send-keys -t <pane> Enter` on its own.
//! 3. The injected probe is called every `probe_interval` until it reports that the agent left
//!    WAITING, or the deadline passes.
//! 4. Otherwise Enter is pressed again (the Enter is what gets lost in practice: swallowed by a
//!    picker, or sent before the paste was processed) and step 3 repeats, `retries` times. The
//!    text is not pasted twice, which would duplicate the prompt.
//! 5. Still WAITING: `prompt_stalled`.
//!
//! Text holding a paste bracket (`ESC[200~`, `ESC[201~`) is refused: it would end the paste
//! early and turn the rest into keystrokes.

use gaffer_core::panes::{
    DeliveryOptions, DeliveryOutcome, DeliveryReport, PanesError, ProbeResult,
};
use std::time::{Duration, Instant};

const PASTE_START: &str = "\x1b[200~";
const PASTE_END: &str = "\x1b[201~";

/// The side effects the protocol needs; tmux in production, a fake in unit tests.
pub trait DeliveryOps {
    /// Loads `text` into a fresh named buffer and pastes it (bracketed) into the pane.
    fn paste(&mut self, pane_id: &str, text: &str) -> Result<(), PanesError>;
    /// Presses Enter in the pane.
    fn enter(&mut self, pane_id: &str) -> Result<(), PanesError>;
    /// Sleeps.
    fn sleep(&mut self, d: Duration);
    /// Monotonic time.
    fn now(&mut self) -> Instant;
}

/// Runs the protocol.
pub fn deliver_with(
    ops: &mut dyn DeliveryOps,
    pane_id: &str,
    text: &str,
    opts: &DeliveryOptions,
    probe: &mut dyn FnMut() -> ProbeResult,
) -> Result<DeliveryReport, PanesError> {
    if text.contains(PASTE_START) || text.contains(PASTE_END) {
        // Inside a bracketed paste, these would end the paste early and turn the rest of the
        // text into keystrokes (a newline would submit it).
        return Err(PanesError::Failed(
            "the text contains a bracketed-paste control sequence (ESC[200~ or ESC[201~); not sent"
                .into(),
        ));
    }
    let start = ops.now();
    ops.paste(pane_id, text)?;
    ops.sleep(opts.settle);
    let mut attempts = 0;
    let outcome = loop {
        ops.enter(pane_id)?;
        attempts += 1;
        let deadline = ops.now() + opts.deadline;
        let mut left = false;
        loop {
            ops.sleep(opts.probe_interval);
            if probe() == ProbeResult::LeftWaiting {
                left = true;
                break;
            }
            if ops.now() >= deadline {
                break;
            }
        }
        if left {
            break DeliveryOutcome::Delivered;
        }
        if attempts > opts.retries {
            break DeliveryOutcome::PromptStalled;
        }
        tracing::debug!(
            pane_id,
            attempts,
            "agent still waiting; pressing Enter again"
        );
    };
    let elapsed = ops.now().saturating_duration_since(start);
    Ok(DeliveryReport {
        pane_id: pane_id.to_string(),
        outcome,
        attempts,
        bytes: text.len(),
        elapsed_ms: elapsed.as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        t: Instant,
        log: Vec<String>,
        fail_paste: bool,
    }

    impl DeliveryOps for Fake {
        fn paste(&mut self, pane_id: &str, text: &str) -> Result<(), PanesError> {
            if self.fail_paste {
                return Err(PanesError::NotFound(format!("can't find pane: {pane_id}")));
            }
            self.log.push(format!("paste {pane_id} {text}"));
            Ok(())
        }
        fn enter(&mut self, pane_id: &str) -> Result<(), PanesError> {
            self.log.push(format!("enter {pane_id}"));
            Ok(())
        }
        fn sleep(&mut self, d: Duration) {
            self.t += d;
        }
        fn now(&mut self) -> Instant {
            self.t
        }
    }

    fn fake() -> Fake {
        Fake {
            t: Instant::now(),
            log: vec![],
            fail_paste: false,
        }
    }

    fn opts() -> DeliveryOptions {
        DeliveryOptions {
            settle: Duration::from_millis(200),
            deadline: Duration::from_secs(1),
            probe_interval: Duration::from_millis(100),
            retries: 1,
        }
    }

    #[test]
    fn delivered_when_agent_leaves_waiting() {
        let mut f = fake();
        let mut n = 0;
        let r = deliver_with(&mut f, "%1", "hi", &opts(), &mut || {
            n += 1;
            if n >= 3 {
                ProbeResult::LeftWaiting
            } else {
                ProbeResult::StillWaiting
            }
        })
        .unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::Delivered);
        assert_eq!(r.attempts, 1);
        assert_eq!(f.log, vec!["paste %1 hi", "enter %1"]);
        assert_eq!(r.elapsed_ms, 500);
    }

    #[test]
    fn retried_once_with_enter_then_delivered() {
        let mut f = fake();
        let mut n = 0;
        let r = deliver_with(&mut f, "%1", "x", &opts(), &mut || {
            n += 1;
            if n > 12 {
                ProbeResult::LeftWaiting
            } else {
                ProbeResult::StillWaiting
            }
        })
        .unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::Delivered);
        assert_eq!(r.attempts, 2);
        assert_eq!(f.log, vec!["paste %1 x", "enter %1", "enter %1"]);
    }

    #[test]
    fn stalled_after_one_retry() {
        let mut f = fake();
        let r = deliver_with(&mut f, "%1", "x", &opts(), &mut || {
            ProbeResult::StillWaiting
        })
        .unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::PromptStalled);
        assert_eq!(r.attempts, 2);
        assert_eq!(f.log.iter().filter(|l| l.starts_with("paste")).count(), 1);
        // settle + two deadlines
        assert!(r.elapsed_ms >= 2200);
    }

    #[test]
    fn paste_control_sequences_are_refused() {
        let mut f = fake();
        for t in ["a\x1b[201~\rrm -rf /", "\x1b[200~x"] {
            let r = deliver_with(&mut f, "%1", t, &opts(), &mut || ProbeResult::LeftWaiting);
            assert!(matches!(r, Err(PanesError::Failed(_))), "{t:?}");
        }
        assert!(f.log.is_empty());
        // Other escapes are text like any other.
        let r = deliver_with(&mut f, "%1", "\x1b[31mred", &opts(), &mut || {
            ProbeResult::LeftWaiting
        });
        assert!(r.is_ok());
    }

    #[test]
    fn paste_failure_is_an_error() {
        let mut f = fake();
        f.fail_paste = true;
        let r = deliver_with(&mut f, "%9", "x", &opts(), &mut || ProbeResult::LeftWaiting);
        assert!(matches!(r, Err(PanesError::NotFound(_))));
        assert!(f.log.is_empty());
    }
}
