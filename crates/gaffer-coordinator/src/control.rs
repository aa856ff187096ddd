//! The human's controls over a running session, the one API the CLI, the terminal dashboard and
//! the web page use: send a prompt (verified), read and answer a BLOCKED agent's dialog, pause
//! and resume auto-assign (persisted in the ledger), unassign and reassign a bead, and the tmux
//! target of a pane. The policy is pure in `gaffer_core::control`; this module reads the screens
//! and the ledger, carries the decisions out through [`crate::act`] and reports an event for
//! each action.

use crate::act::Outcome;
use crate::session::{CoordinatorError, SessionCoordinator, lock};
use gaffer_core::assignment::AssignmentResult;
use gaffer_core::control::{self, BeadRef, Dialog, DialogOption, PauseTarget, Pauses};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::panes::{DeliveryOptions, DeliveryOutcome, DeliveryReport};
use gaffer_core::status::AgentStatus;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long an answer waits for the dialog to leave the screen.
pub const ANSWER_CONFIRM: Duration = Duration::from_secs(3);

/// How long reading a BLOCKED agent's dialog waits for it to be drawn. An agent can be
/// waiting for permission before its dialog is on screen: Claude Code runs its
/// `PermissionRequest` hooks first and shows "Waiting for permission…" meanwhile, and the
/// hook has already told gaffer the agent is BLOCKED.
pub const DIALOG_APPEAR: Duration = Duration::from_secs(4);

/// A BLOCKED agent's dialog as read from its screen now, to show a human before they answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingDialog {
    /// The agent's pane.
    pub pane_id: String,
    /// Its status as tracked.
    pub status: AgentStatus,
    /// The dialog: full text and numbered options.
    pub dialog: Dialog,
}

/// An answered dialog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answered {
    /// The agent's pane.
    pub pane_id: String,
    /// The option typed.
    pub option: DialogOption,
    /// Whether the dialog left the screen within [`ANSWER_CONFIRM`].
    pub confirmed: bool,
}

/// Where a pane is in tmux, for jumping to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JumpTarget {
    /// The pane id (`%3`), a valid `-t` target on its own.
    pub pane_id: String,
    /// Its session.
    pub session: String,
    /// Its window's index.
    pub window_index: i64,
    /// Its index in the window.
    pub pane_index: i64,
    /// `session:window.pane`.
    pub target: String,
}

impl SessionCoordinator {
    fn control_status(&self, pane_id: &str) -> Result<AgentStatus, CoordinatorError> {
        self.get_agent_by_pane_id(pane_id)
            .map(|a| a.status)
            .ok_or_else(|| CoordinatorError::AgentNotFound(pane_id.to_string()))
    }

    fn screen(&self, pane_id: &str) -> Result<String, CoordinatorError> {
        let shared = self.shared();
        let caps = shared
            .panes
            .capture(&[pane_id.to_string()])
            .map_err(|e| CoordinatorError::Panes(e.to_string()))?;
        caps.into_iter()
            .find(|(id, _)| id == pane_id)
            .map(|(_, s)| s)
            .ok_or_else(|| CoordinatorError::AgentNotFound(pane_id.to_string()))
    }

    /// Sends `text` to the agent in `pane_id`, verified as `gaffer send` does; the agent must be
    /// WAITING unless `force`. Emits `prompt_sent`.
    pub fn send_prompt(
        &self,
        pane_id: &str,
        text: &str,
        force: bool,
    ) -> Result<DeliveryReport, CoordinatorError> {
        let status = self.control_status(pane_id)?;
        if status != AgentStatus::Waiting && !force {
            return Err(control::ControlError::AgentNotReady {
                pane: pane_id.to_string(),
                why: format!("it is {status}, not WAITING (force sends anyway)"),
            }
            .into());
        }
        if text.trim().is_empty() {
            return Err(CoordinatorError::Panes("the prompt is empty".into()));
        }
        let shared = self.shared();
        let opts = DeliveryOptions {
            deadline: lock(&shared.config).assign.delivery_deadline,
            ..Default::default()
        };
        let mut check = shared.probe.start(pane_id, text);
        let report = shared
            .panes
            .deliver(pane_id, text, &opts, check.as_mut())
            .map_err(|e| CoordinatorError::Panes(e.to_string()))?;
        let outcome = match report.outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::PromptStalled => "prompt_stalled",
        };
        shared.emit(
            CoordinatorEvent::new(CoordinatorEventType::PromptSent, shared.clock.now())
                .with_agent(pane_id.to_string())
                .with_detail("outcome", outcome)
                .with_detail("bytes", report.bytes)
                .with_detail("attempts", report.attempts),
        );
        Ok(report)
    }

    /// The dialog a BLOCKED agent shows now: its full text and options, read from the screen.
    pub fn read_dialog(&self, pane_id: &str) -> Result<PendingDialog, CoordinatorError> {
        let status = self.control_status(pane_id)?;
        if status != AgentStatus::Blocked {
            return Err(control::ControlError::NotBlocked {
                pane: pane_id.to_string(),
                status,
            }
            .into());
        }
        let dialog = self
            .dialog_on_screen(pane_id)?
            .ok_or_else(|| control::ControlError::NoDialog(pane_id.to_string()))?;
        Ok(PendingDialog {
            pane_id: pane_id.to_string(),
            status,
            dialog,
        })
    }

    /// Answers a BLOCKED agent's dialog with one of its options, by a human's choice. The
    /// screen is read again first: the answer is refused when the pane no longer shows a
    /// dialog, or (given `shown`, the dialog the human saw) shows another one. The option's
    /// number is typed, then the answer waits up to [`ANSWER_CONFIRM`] for the dialog to
    /// leave the screen. Emits `dialog_answered`.
    pub fn answer_dialog(
        &self,
        pane_id: &str,
        option: u32,
        shown: Option<&Dialog>,
    ) -> Result<Answered, CoordinatorError> {
        let status = self.control_status(pane_id)?;
        let on_screen = if status == AgentStatus::Blocked {
            self.dialog_on_screen(pane_id)?
        } else {
            None
        };
        let chosen = control::choose(pane_id, status, on_screen.as_ref(), shown, option)?.clone();
        let Some(before) = on_screen else {
            return Err(control::ControlError::NoDialog(pane_id.to_string()).into());
        };
        let shared = self.shared();
        shared
            .panes
            .send_keys(pane_id, &chosen.number.to_string())
            .map_err(|e| CoordinatorError::Panes(e.to_string()))?;
        let started = Instant::now();
        let mut confirmed = false;
        while started.elapsed() < ANSWER_CONFIRM {
            std::thread::sleep(Duration::from_millis(100));
            match self.screen(pane_id) {
                Ok(s) => {
                    if control::read_dialog(&s).is_none_or(|d| !d.same_as(&before)) {
                        confirmed = true;
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        shared.emit(
            CoordinatorEvent::new(CoordinatorEventType::DialogAnswered, shared.clock.now())
                .with_agent(pane_id.to_string())
                .with_detail("option", chosen.number)
                .with_detail("label", chosen.label.clone())
                .with_detail("text", before.text.join("\n"))
                .with_detail("confirmed", confirmed),
        );
        Ok(Answered {
            pane_id: pane_id.to_string(),
            option: chosen,
            confirmed,
        })
    }

    /// The dialog on a pane's screen, waiting up to [`DIALOG_APPEAR`] for one to be drawn.
    fn dialog_on_screen(&self, pane_id: &str) -> Result<Option<Dialog>, CoordinatorError> {
        let started = Instant::now();
        loop {
            if let Some(d) = control::read_dialog(&self.screen(pane_id)?) {
                return Ok(Some(d));
            }
            if started.elapsed() >= DIALOG_APPEAR {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Which agents are paused for auto-assign.
    pub fn pauses(&self) -> Result<Pauses, CoordinatorError> {
        Ok(lock(&self.shared().ledger).pauses()?)
    }

    /// Pauses auto-assign for one agent or all (persisted in the ledger, so every coordinator
    /// of the project honours it). Emits `assign_paused`; returns the pauses now.
    pub fn pause(&self, target: &PauseTarget) -> Result<Pauses, CoordinatorError> {
        self.set_paused(target, true)
    }

    /// Resumes auto-assign for one agent, or for all (which clears every pause). Emits
    /// `assign_resumed`; returns the pauses now.
    pub fn resume(&self, target: &PauseTarget) -> Result<Pauses, CoordinatorError> {
        self.set_paused(target, false)
    }

    fn set_paused(&self, target: &PauseTarget, paused: bool) -> Result<Pauses, CoordinatorError> {
        if let PauseTarget::Pane(p) = target {
            self.control_status(p)?;
        }
        let shared = self.shared();
        let now = shared.clock.now();
        let pauses = {
            let mut ledger = lock(&shared.ledger);
            if paused {
                ledger.pause(target.key(), now)?;
            } else {
                ledger.resume(target.key())?;
            }
            ledger.pauses()?
        };
        let kind = if paused {
            CoordinatorEventType::AssignPaused
        } else {
            CoordinatorEventType::AssignResumed
        };
        let mut event = CoordinatorEvent::new(kind, now).with_detail("target", target.key());
        if let PauseTarget::Pane(p) = target {
            event = event
                .with_agent(p.clone())
                .with_detail("still_paused_by_all", pauses.all && !paused);
        }
        shared.emit(event);
        Ok(pauses)
    }

    /// Unassigns a bead: its live assignment is handed back (failed, claim undone,
    /// reservations released; `work_handed_back`), and the agent is not backed off from it.
    pub fn unassign(&self, bead_id: &str) -> Result<(), CoordinatorError> {
        let shared = self.shared();
        let _round = lock(&shared.assign_lock);
        let active = crate::observe::active_views(&lock(&shared.ledger).active()?);
        let status = active
            .iter()
            .find(|a| a.bead_id == bead_id)
            .and_then(|a| self.get_agent_by_pane_id(&a.pane_id))
            .map_or(AgentStatus::Unknown, |a| a.status);
        let decision = control::unassign(&active, bead_id, status)?;
        shared.execute(vec![decision]);
        let still = lock(&shared.ledger)
            .active()?
            .into_iter()
            .any(|r| r.assignment.bead_id == bead_id);
        if still {
            return Err(CoordinatorError::Panes(format!(
                "bead {bead_id} is still assigned (the ledger refused the change)"
            )));
        }
        Ok(())
    }

    /// Reassigns a bead to the agent in `pane_id`: its live assignment (if any) is handed back,
    /// then it is assigned there (claim, reserve, verified delivery), even when that agent is
    /// paused. The agent must be WAITING and hold no other assignment.
    pub fn reassign(
        &self,
        bead_id: &str,
        pane_id: &str,
    ) -> Result<AssignmentResult, CoordinatorError> {
        let shared = self.shared();
        let target = self
            .get_agent_by_pane_id(pane_id)
            .ok_or_else(|| CoordinatorError::AgentNotFound(pane_id.to_string()))?;
        let _round = lock(&shared.assign_lock);
        let now = shared.clock.now();
        let records = lock(&shared.ledger).active()?;
        let active = crate::observe::active_views(&records);
        let issue = (shared.issues)(now)
            .map_err(CoordinatorError::WorkSource)?
            .issues
            .into_iter()
            .find(|i| i.id == bead_id);
        let bead = match (
            issue,
            records.iter().find(|r| r.assignment.bead_id == bead_id),
        ) {
            (Some(i), _) => BeadRef {
                id: i.id.clone(),
                title: i.title.clone(),
                description: i.description.clone().unwrap_or_default(),
                priority: i.priority,
            },
            (None, Some(r)) => BeadRef {
                id: bead_id.to_string(),
                title: r.assignment.bead_title.clone(),
                description: String::new(),
                priority: 2,
            },
            (None, None) => {
                return Err(control::ControlError::UnknownBead(bead_id.to_string()).into());
            }
        };
        let decisions = control::reassign(&active, &bead, &target, now)?;
        let result = shared
            .execute(decisions)
            .into_iter()
            .find_map(|o| match o {
                Outcome::Assigned(r) => Some(r),
                _ => None,
            })
            .ok_or_else(|| CoordinatorError::Panes("the assignment did not run".into()))?;
        if !result.success {
            return Err(CoordinatorError::Assign(result.error));
        }
        Ok(result)
    }

    /// Where the agent's pane is in tmux (to switch a client to it).
    pub fn jump_target(&self, pane_id: &str) -> Result<JumpTarget, CoordinatorError> {
        let panes = self
            .shared()
            .panes
            .list_panes()
            .map_err(|e| CoordinatorError::Panes(e.to_string()))?;
        let p = panes
            .into_iter()
            .find(|p| p.pane_id == pane_id)
            .ok_or_else(|| CoordinatorError::AgentNotFound(pane_id.to_string()))?;
        Ok(JumpTarget {
            target: format!("{}:{}.{}", p.session, p.window_index, p.pane_index),
            pane_id: p.pane_id,
            session: p.session,
            window_index: p.window_index,
            pane_index: p.pane_index,
        })
    }
}
