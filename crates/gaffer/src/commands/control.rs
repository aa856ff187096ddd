//! The human's controls from the command line: `pause`, `resume`, `answer`, `unassign` and
//! `reassign`, each one call of the coordinator's control API (`gaffer_coordinator::control`),
//! the same the terminal dashboard uses.

use crate::adapters;
use crate::cli::{CoordArgs, GlobalArgs};
use crate::error::ExitError;
use crate::output::{Output, safe};
use crate::wiring;
use gaffer_coordinator::SessionCoordinator;
use gaffer_core::control::PauseTarget;
use gaffer_core::exit;
use gaffer_core::panes::PaneInfo;
use serde_json::json;

/// The coordinator, observed once, and the pane `want` resolved (when given).
fn connect(
    global: &GlobalArgs,
    args: &CoordArgs,
    want: Option<&str>,
) -> Result<(SessionCoordinator, Option<PaneInfo>), ExitError> {
    let built = wiring::build_for(global, args)?;
    let info = match want {
        None => None,
        Some(p) => {
            let panes = built
                .connection
                .all
                .list_panes()
                .map_err(|e| ExitError::unavailable(format!("listing panes: {e}")))?;
            Some(adapters::find_pane(&panes, p).ok_or_else(|| {
                ExitError::not_found(format!(
                    "no pane {p:?} in session {}",
                    built.connection.session
                ))
            })?)
        }
    };
    let coord = built.coordinator;
    coord.ensure_project();
    coord.update_state();
    Ok((coord, info))
}

/// `gaffer pause [PANE]` / `gaffer resume [PANE]`.
pub fn pause(
    global: &GlobalArgs,
    args: &CoordArgs,
    pane: Option<&str>,
    paused: bool,
) -> anyhow::Result<i32> {
    let (coord, info) = connect(global, args, pane)?;
    let target = match &info {
        Some(i) => PauseTarget::Pane(i.pane_id.clone()),
        None => PauseTarget::All,
    };
    let pauses = if paused {
        coord.pause(&target)
    } else {
        coord.resume(&target)
    }
    .map_err(ExitError::from)?;
    let verb = if paused { "paused" } else { "resumed" };
    let who = match &info {
        Some(i) => format!("{} ({})", i.pane_id, safe(&i.title)),
        None => "every agent".to_string(),
    };
    Output::of(global).print(
        &json!({"target": target.key(), "paused": paused, "pauses": pauses}),
        || {
            println!("auto-assign {verb} for {who}");
            if !paused && pauses.all {
                println!("note: every agent is still paused (`gaffer resume` resumes all)");
            }
            let mut still: Vec<&str> = pauses.panes.iter().map(String::as_str).collect();
            if pauses.all {
                still.insert(0, "all");
            }
            if !still.is_empty() {
                println!("paused now: {}", safe(&still.join(", ")));
            }
        },
    )?;
    Ok(exit::SUCCESS)
}

/// `gaffer answer PANE [OPTION]`: shows the dialog; with OPTION answers it.
pub fn answer(
    global: &GlobalArgs,
    args: &CoordArgs,
    pane: &str,
    option: Option<u32>,
) -> anyhow::Result<i32> {
    let (coord, info) = connect(global, args, Some(pane))?;
    let Some(info) = info else {
        return Err(ExitError::not_found(format!("no pane {pane:?}")).into());
    };
    let pending = coord.read_dialog(&info.pane_id).map_err(ExitError::from)?;
    let out = Output::of(global);
    let Some(option) = option else {
        out.print(&pending, || {
            println!("{} ({}) is BLOCKED on:", info.pane_id, safe(&info.title));
            for l in &pending.dialog.text {
                println!("  {}", safe(l));
            }
            for o in &pending.dialog.options {
                let cursor = if o.selected { ">" } else { " " };
                println!("{cursor} {}. {}", o.number, safe(&o.label));
            }
            println!("answer with: gaffer answer {} <number>", info.pane_id);
        })?;
        return Ok(exit::SUCCESS);
    };
    let answered = coord
        .answer_dialog(&info.pane_id, option, Some(&pending.dialog))
        .map_err(ExitError::from)?;
    out.print(
        &json!({"answered": answered, "dialog": pending.dialog}),
        || {
            println!(
                "{}: answered {}. {}{}",
                info.pane_id,
                answered.option.number,
                safe(&answered.option.label),
                if answered.confirmed {
                    ""
                } else {
                    " (typed, but the dialog is still on screen)"
                }
            )
        },
    )?;
    Ok(if answered.confirmed {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}

/// `gaffer unassign BEAD`.
pub fn unassign(global: &GlobalArgs, args: &CoordArgs, bead: &str) -> anyhow::Result<i32> {
    let (coord, _) = connect(global, args, None)?;
    coord.unassign(bead).map_err(ExitError::from)?;
    Output::of(global).print(&json!({"bead_id": bead, "unassigned": true}), || {
        println!(
            "{}: taken back (claim undone, reservations released)",
            safe(bead)
        )
    })?;
    Ok(exit::SUCCESS)
}

/// `gaffer reassign BEAD PANE`.
pub fn reassign(
    global: &GlobalArgs,
    args: &CoordArgs,
    bead: &str,
    pane: &str,
) -> anyhow::Result<i32> {
    let (coord, info) = connect(global, args, Some(pane))?;
    let Some(info) = info else {
        return Err(ExitError::not_found(format!("no pane {pane:?}")).into());
    };
    let res = coord
        .reassign(bead, &info.pane_id)
        .map_err(ExitError::from)?;
    Output::of(global).print(&res, || {
        println!(
            "{}: assigned to {} ({}), prompt delivered",
            safe(bead),
            info.pane_id,
            safe(&info.title)
        )
    })?;
    Ok(exit::SUCCESS)
}
