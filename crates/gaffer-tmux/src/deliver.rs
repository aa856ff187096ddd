//! Verified prompt delivery (DESIGN.md §3).
//!
//! 1. `load-buffer -b gaffer-<unique> -` with the text on stdin, then
//!    `paste-buffer -p -d -b <name> -t <pane>` (bracketed paste, buffer deleted): the text never
//!    goes through tmux's key parser, so `;`, newlines, `C-c`, `Enter` and unicode arrive as
//!    written.
//! 2. After a settle delay, the probe takes its baseline (the screen with the pasted prompt in
//!    the composer), then `send-keys -t <pane> Enter` on its own.
//! 3. The probe is checked every `probe_interval` until it reports the prompt submitted (the
//!    agent left WAITING, or the screen shows the turn: a fast answer can go WAITING → busy →
//!    WAITING between two checks), or the deadline passes.
//! 4. Otherwise, when the prompt still sits in the composer (or nothing can be told), Enter is
//!    pressed again (the Enter is what gets lost in practice: swallowed by a picker, or sent
//!    before the paste was processed) and step 3 repeats, `retries` times. The text is never
//!    pasted twice, which would duplicate the prompt; and no Enter goes to a composer that no
//!    longer holds it.
//! 5. No evidence of a submission: `prompt_stalled`.
//!
//! Text holding a paste bracket (`ESC[200~`, `ESC[201~`) is refused: it would end the paste
//! early and turn the rest into keystrokes.

use gaffer_core::panes::{
    DeliveryCheck, DeliveryOptions, DeliveryOutcome, DeliveryReport, PanesError, ProbeResult,
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
    probe: &mut dyn DeliveryCheck,
) -> Result<DeliveryReport, PanesError> {
    if text.contains(PASTE_START) || text.contains(PASTE_END) {
        // Inside a bracketed paste, these would end the paste early and turn the rest of the
        // text into keystrokes (a newline would submit it).
        return Err(PanesError::Failed(
            "the text contains a bracketed-paste control sequence (ESC[200~ or ESC[201~); not sent"
                .into(),
        ));
    }
    if let Some(why) = probe.refuse() {
        return Err(PanesError::Failed(format!("not sent: {why}")));
    }
    let start = ops.now();
    ops.paste(pane_id, text)?;
    ops.sleep(opts.settle);
    probe.baseline();
    let mut attempts = 0;
    let outcome = loop {
        ops.enter(pane_id)?;
        attempts += 1;
        let deadline = ops.now() + opts.deadline;
        let last = loop {
            ops.sleep(opts.probe_interval);
            let r = probe.check();
            if r.delivered() || ops.now() >= deadline {
                break r;
            }
        };
        if last.delivered() {
            break DeliveryOutcome::Delivered;
        }
        if attempts > opts.retries {
            break DeliveryOutcome::PromptStalled;
        }
        if last == ProbeResult::Cleared {
            tracing::debug!(
                pane_id,
                attempts,
                "the composer no longer holds the prompt but no turn is on screen; no Enter again"
            );
            break DeliveryOutcome::PromptStalled;
        }
        tracing::debug!(
            pane_id,
            attempts,
            "the prompt still sits in the composer; pressing Enter again"
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
    fn nothing_is_sent_to_a_pane_the_check_refuses() {
        struct Exited;
        impl DeliveryCheck for Exited {
            fn refuse(&mut self) -> Option<String> {
                Some("the agent has exited".into())
            }
            fn check(&mut self) -> ProbeResult {
                ProbeResult::LeftWaiting
            }
        }
        let mut f = fake();
        let err = deliver_with(&mut f, "%1", "hi", &opts(), &mut Exited).expect_err("refused");
        assert!(err.to_string().contains("the agent has exited"), "{err}");
        assert!(f.log.is_empty(), "nothing pasted or pressed: {:?}", f.log);
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

    /// A simulated agent: Enter submits the pasted prompt (unless the Enter is swallowed) and
    /// the answer comes at once, so its status is WAITING at every probe.
    #[derive(Default)]
    struct FastAgent {
        log: Vec<String>,
        /// The composer holds the pasted prompt.
        in_composer: bool,
        /// Turns on screen.
        turns: u32,
        /// Enters to swallow (a picker ate them).
        swallow: u32,
        t: Option<Instant>,
    }

    type Shared = std::rc::Rc<std::cell::RefCell<FastAgent>>;

    struct Ops(Shared);

    impl DeliveryOps for Ops {
        fn paste(&mut self, pane_id: &str, text: &str) -> Result<(), PanesError> {
            let mut a = self.0.borrow_mut();
            a.log.push(format!("paste {pane_id} {text}"));
            a.in_composer = true;
            Ok(())
        }
        fn enter(&mut self, pane_id: &str) -> Result<(), PanesError> {
            let mut a = self.0.borrow_mut();
            a.log.push(format!("enter {pane_id}"));
            if a.swallow > 0 {
                a.swallow -= 1;
            } else if a.in_composer {
                // submitted, answered and WAITING again before the next probe
                a.in_composer = false;
                a.turns += 1;
            }
            Ok(())
        }
        fn sleep(&mut self, d: Duration) {
            let mut a = self.0.borrow_mut();
            let t = a.t.get_or_insert_with(Instant::now);
            *t += d;
        }
        fn now(&mut self) -> Instant {
            *self.0.borrow_mut().t.get_or_insert_with(Instant::now)
        }
    }

    /// A check that judges from the screen: the baseline is the turn count and whether the
    /// composer held the prompt.
    struct ScreenCheck {
        agent: Shared,
        base: Option<(u32, bool)>,
    }

    impl DeliveryCheck for ScreenCheck {
        fn baseline(&mut self) {
            let mut a = self.agent.borrow_mut();
            a.log.push("baseline".into());
            self.base = Some((a.turns, a.in_composer));
        }
        fn check(&mut self) -> ProbeResult {
            let a = self.agent.borrow();
            match self.base {
                _ if a.in_composer => ProbeResult::StillWaiting,
                Some((turns, _)) if a.turns > turns => ProbeResult::Submitted,
                Some((_, true)) => ProbeResult::Cleared,
                _ => ProbeResult::StillWaiting,
            }
        }
    }

    fn agent(swallow: u32) -> Shared {
        std::rc::Rc::new(std::cell::RefCell::new(FastAgent {
            swallow,
            ..FastAgent::default()
        }))
    }

    #[test]
    fn fast_answer_is_delivered_on_the_first_enter() {
        let a = agent(0);
        let mut check = ScreenCheck {
            agent: a.clone(),
            base: None,
        };
        let r = deliver_with(&mut Ops(a.clone()), "%1", "FAST", &opts(), &mut check).unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::Delivered);
        assert_eq!(r.attempts, 1);
        // the baseline is taken after the paste, before Enter; one check was enough
        assert_eq!(
            a.borrow().log,
            vec!["paste %1 FAST", "baseline", "enter %1"]
        );
        assert_eq!(r.elapsed_ms, 300);
    }

    #[test]
    fn fast_answer_is_missed_by_a_status_only_probe() {
        // the defect this protocol fixes: the agent is WAITING at every probe
        let a = agent(0);
        let r = deliver_with(&mut Ops(a.clone()), "%1", "FAST", &opts(), &mut || {
            ProbeResult::StillWaiting
        })
        .unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::PromptStalled);
        assert_eq!(a.borrow().turns, 1);
    }

    #[test]
    fn swallowed_enter_is_pressed_again_while_the_prompt_sits_in_the_composer() {
        let a = agent(1);
        let mut check = ScreenCheck {
            agent: a.clone(),
            base: None,
        };
        let r = deliver_with(&mut Ops(a.clone()), "%1", "x", &opts(), &mut check).unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::Delivered);
        assert_eq!(r.attempts, 2);
        assert_eq!(
            a.borrow().log,
            vec!["paste %1 x", "baseline", "enter %1", "enter %1"]
        );
        assert_eq!(a.borrow().turns, 1);
    }

    #[test]
    fn no_enter_again_once_the_composer_no_longer_holds_the_prompt() {
        let a = agent(0);
        // the composer empties but no turn ever shows
        let mut check = || ProbeResult::Cleared;
        let r = deliver_with(&mut Ops(a.clone()), "%1", "x", &opts(), &mut check).unwrap();
        assert_eq!(r.outcome, DeliveryOutcome::PromptStalled);
        assert_eq!(r.attempts, 1);
        assert_eq!(
            a.borrow()
                .log
                .iter()
                .filter(|l| l.starts_with("enter"))
                .count(),
            1
        );
    }
}
