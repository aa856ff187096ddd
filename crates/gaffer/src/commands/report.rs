//! `gaffer done BEAD` and `gaffer refuse BEAD`: an agent reports the end of its assignment.

use crate::adapters;
use crate::cli::GlobalArgs;
use crate::config_load;
use crate::error::ExitError;
use crate::home;
use crate::output::Output;
use crate::output::{esay, say};
use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::assign::{BackoffBook, BackoffReason};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::exit;
use gaffer_core::home::Report;
use gaffer_core::work_source::CloseOutcome;
use serde_json::json;
use std::time::Duration;

fn active_for(ledger: &Ledger, bead: &str) -> Result<AssignmentRecord, ExitError> {
    ledger
        .by_bead(bead)
        .map_err(|e| ExitError::failure(e.to_string()))?
        .into_iter()
        .rev()
        .find(|r| r.state.is_active())
        .ok_or_else(|| ExitError::not_found(format!("bead {bead} has no active assignment")))
}

/// Marks the bead's active assignment done; on a remote host, reports it home.
pub fn done(global: &GlobalArgs, bead: &str, reason: &str) -> anyhow::Result<i32> {
    let report = Report::Done {
        bead_id: bead.to_string(),
        reason: reason.to_string(),
    };
    if let Some(code) = home::client::report_home(global, report)? {
        return Ok(code);
    }
    let rec = apply_done(global, bead, reason)?;
    print_result(global, bead, "done", &rec);
    Ok(exit::SUCCESS)
}

/// Marks the bead's active assignment done in this project's ledger (and closes the bead in
/// the work source): what `gaffer done` does here, and what a report from a host does.
pub fn apply_done(
    global: &GlobalArgs,
    bead: &str,
    reason: &str,
) -> Result<AssignmentRecord, ExitError> {
    let mut ledger = adapters::ledger(global)?;
    let rec = active_for(&ledger, bead)?;
    let now = chrono::Utc::now();
    ledger
        .set_state(rec.id, AssignmentState::Done, "", now)
        .map_err(failed)?;
    ledger
        .record_event(
            &CoordinatorEvent::new(CoordinatorEventType::WorkCompleted, now)
                .with_agent(rec.assignment.agent_pane_id.clone())
                .with_detail("bead_id", bead)
                .with_detail("reason", reason)
                .with_detail("reported_by", "agent"),
        )
        .map_err(failed)?;
    // With `br`, the bead is closed there too, so its dependents become ready for every tool.
    close_in_work_source(global, bead, reason);
    Ok(rec)
}

fn failed(e: impl std::fmt::Display) -> ExitError {
    ExitError::failure(e.to_string())
}

/// Closes the bead through the project's work source when it can write (`br`); a read-only
/// source leaves the ledger as the record. Failures are reported, not fatal: the ledger has it.
fn close_in_work_source(global: &GlobalArgs, bead: &str, reason: &str) {
    let Ok(loaded) = config_load::load(global) else {
        return;
    };
    // Without beads the source is read-only and closing is a no-op.
    let Ok(work) = adapters::work(&loaded.project_root, &loaded.config.beads, false) else {
        return;
    };
    let source = work.source;
    let reason = if reason.is_empty() {
        "done (gaffer)"
    } else {
        reason
    };
    match source.close(bead, reason) {
        Ok(CloseOutcome::Closed { .. }) => {}
        Ok(CloseOutcome::ReadOnly) => {
            // A project kept by `br` whose `br` this process cannot find: the bead would stay
            // open there and its dependents blocked for every other tool. Say so.
            if loaded.project_root.join(".beads/beads.db").exists() {
                esay!(
                    "warning: {bead} is done in gaffer's ledger, but it stays open in br: this \
                     project has a br database (.beads/beads.db) and `br` is not on PATH"
                );
            }
        }
        Ok(CloseOutcome::NotClosable { reason, .. }) => {
            esay!(
                "note: {bead} is done in gaffer's ledger; {} did not close it: {reason}",
                source.name()
            )
        }
        Err(e) => {
            esay!("warning: {bead} is done in gaffer's ledger, but closing it failed: {e}")
        }
    }
}

/// Undoes the claim of a refused assignment in the work source; a failure is reported, not
/// fatal (the ledger has the refusal).
fn unclaim_in_work_source(global: &GlobalArgs, rec: &AssignmentRecord) {
    let Ok(loaded) = config_load::load(global) else {
        return;
    };
    let Ok(work) = adapters::work(&loaded.project_root, &loaded.config.beads, false) else {
        return;
    };
    let a = &rec.assignment;
    let holder = if a.agent_name.is_empty() {
        &a.agent_pane_id
    } else {
        &a.agent_name
    };
    if let Err(e) = work.source.unclaim(&a.bead_id, holder) {
        eprintln!(
            "warning: {} is refused in gaffer's ledger, but undoing its claim failed: {e}",
            a.bead_id
        );
    }
}

/// Marks the bead's active assignment refused, undoes its claim, and backs the agent off from
/// it; on a remote host, reports it home.
pub fn refuse(global: &GlobalArgs, bead: &str, reason: &str) -> anyhow::Result<i32> {
    let report = Report::Refuse {
        bead_id: bead.to_string(),
        reason: reason.to_string(),
    };
    if let Some(code) = home::client::report_home(global, report)? {
        return Ok(code);
    }
    let rec = apply_refuse(global, bead, reason)?;
    print_result(global, bead, "refused", &rec);
    Ok(exit::SUCCESS)
}

/// What `gaffer refuse` does to this project's ledger and work source (also for a report from
/// a host).
pub fn apply_refuse(
    global: &GlobalArgs,
    bead: &str,
    reason: &str,
) -> Result<AssignmentRecord, ExitError> {
    let config = config_load::load(global)?.config;
    let mut ledger = adapters::ledger(global)?;
    let rec = active_for(&ledger, bead)?;
    let now = chrono::Utc::now();
    ledger
        .set_state(rec.id, AssignmentState::Refused, reason, now)
        .map_err(failed)?;
    let mut book = BackoffBook::new(Duration::from_secs(60), config.assign.max_backoff);
    ledger.load_backoff(&mut book).map_err(failed)?;
    book.record(
        &rec.assignment.agent_pane_id,
        bead,
        BackoffReason::Refused,
        now,
    );
    if let Some(entry) = book.entry(&rec.assignment.agent_pane_id, bead) {
        ledger
            .save_backoff(&rec.assignment.agent_pane_id, bead, entry)
            .map_err(failed)?;
    }
    ledger
        .record_event(
            &CoordinatorEvent::new(CoordinatorEventType::AssignmentRefused, now)
                .with_agent(rec.assignment.agent_pane_id.clone())
                .with_detail("bead_id", bead)
                .with_detail("reason", reason),
        )
        .map_err(failed)?;
    // The claim gaffer made for the agent is undone, or the bead stays in progress for nobody
    // and its dependents wait forever (found by the fleet benchmark).
    if rec.claimed {
        unclaim_in_work_source(global, &rec);
    }
    Ok(rec)
}

fn print_result(global: &GlobalArgs, bead: &str, state: &str, rec: &AssignmentRecord) {
    let out = Output::of(global);
    out.print_line(
        &json!({"bead_id": bead, "state": state, "agent_pane_id": rec.assignment.agent_pane_id}),
        || {
            say!(
                "{bead}: {state} (was assigned to {})",
                rec.assignment.agent_pane_id
            );
        },
    )
    // A JSON value always serialises.
    .unwrap_or_default();
}
