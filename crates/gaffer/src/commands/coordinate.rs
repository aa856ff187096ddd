//! The coordinator's commands: `run`, `assign`, `suggest`, `conflicts`, `digest`, `watch`.

use crate::adapters;
use crate::cli::{CoordArgs, GlobalArgs};
use crate::error::ExitError;
use crate::foreground::{Foreground, Recv};
use crate::output::Output;
use crate::output::{esay, say};
use crate::wiring;
use gaffer_core::assignment::AssignmentStrategy;
use gaffer_core::digest::render_markdown;
use gaffer_core::exit;
use serde_json::json;
use std::time::Duration;

fn strategy(s: &Option<String>) -> Result<Option<AssignmentStrategy>, ExitError> {
    match s {
        None => Ok(None),
        Some(raw) => AssignmentStrategy::parse_strict(raw).map(Some).ok_or_else(|| {
            ExitError::usage(format!("unknown strategy {raw:?}; expected balanced, speed, quality, dependency or round-robin"))
        }),
    }
}

/// `gaffer run`: the coordinator in the foreground, printing events until Ctrl-C or
/// `--exit-after`.
pub fn run(
    global: &GlobalArgs,
    args: &CoordArgs,
    auto_assign: bool,
    exit_after: Option<u64>,
) -> anyhow::Result<i32> {
    let built = wiring::build_for(global, args)?;
    // One decider per project: held until this function returns.
    let _lease = wiring::decide_alone(global, &built.connection.session)?;
    let mut cfg = built.coordinator.config();
    if auto_assign {
        cfg.coordinator.auto_assign = true;
    }
    if let Some(s) = strategy(&args.strategy)? {
        cfg.assign.strategy = s;
    }
    let mut coord = built.coordinator.with_config(cfg.clone());
    wiring::wake_on_signals(global, &coord, true);
    let notifier = wiring::notifications(
        &coord,
        &built.connection.session,
        built.mailbox.clone(),
        &built.project_key,
    )?;
    let rx = coord.events().subscribe();
    // Agents on `[[hosts]]` with a `project` report home over their host's connection.
    let home_hosts = crate::home::link::HomeHost::of(&cfg, &built.connection.hosts);
    for h in cfg.hosts.iter().filter(|h| h.project.is_empty()) {
        esay!(
            "note: host {}: no `project` in its [[hosts]] entry, so its agents' gaffer done, \
             refuse, quality record-tests and hooks cannot reach this coordinator",
            h.name
        );
    }
    let applier = std::sync::Arc::new(crate::home::apply::Applier::new(
        global,
        Some(coord.event_sink()),
    ));
    let mut links = crate::home::link::HomeLinks::start(
        home_hosts,
        applier,
        Some(coord.event_sink()),
        cfg.coordinator
            .poll_interval
            .clamp(Duration::from_millis(200), Duration::from_secs(2)),
    )
    .unwrap_or_else(|e| {
        // The coordinator still runs; the reports wait in the hosts' spools.
        esay!("warning: agents on hosts cannot report home: {e}");
        crate::home::link::HomeLinks::none()
    });
    if !global.json {
        esay!(
            "gaffer: coordinating session {}, mail: {}, work: {}, auto-assign {}",
            built.connection.session,
            built.mail_backend,
            built.work_source,
            if cfg.coordinator.auto_assign {
                "on"
            } else {
                "off"
            }
        );
        esay!("gaffer: project {}", built.project_root.display());
    }
    for n in coord.start()? {
        esay!("note: {n}");
    }
    if let Some(n) = &notifier {
        n.seed(coord.get_agents().values());
    }
    if !global.json {
        esay!("gaffer: {} agents; Ctrl-C stops", coord.get_agents().len());
    }
    let out = Output::of(global);
    let fg = Foreground::start(exit_after);
    loop {
        match fg.recv(&rx, Duration::from_millis(200)) {
            Recv::Item(e) => out.event(&e),
            Recv::Idle => {}
            Recv::Done | Recv::Closed => break,
        }
    }
    links.stop();
    coord.stop();
    if let Some(n) = notifier {
        n.stop(wiring::NOTIFY_GRACE);
    }
    for e in rx.try_iter() {
        out.event(&e);
    }
    Ok(exit::SUCCESS)
}

/// `gaffer assign`: one round now.
pub fn assign(global: &GlobalArgs, args: &CoordArgs, dry_run: bool) -> anyhow::Result<i32> {
    let built = wiring::build_for(global, args)?;
    let coord = built.coordinator;
    coord.ensure_project();
    coord.update_state();
    let results = coord.assign_now(strategy(&args.strategy)?, dry_run)?;
    let failed = results.iter().filter(|r| !r.success).count();
    if global.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({"dry_run": dry_run, "results": results}))?
        );
    } else if results.is_empty() {
        let idle = coord.get_idle_agents().len();
        say!(
            "nothing to assign ({idle} idle agents; {} agents in all)",
            coord.get_agents().len()
        );
    } else {
        for r in &results {
            let a = r.assignment.as_ref();
            let bead = a.map(|a| a.bead_id.as_str()).unwrap_or("?");
            let pane = a.map(|a| a.agent_pane_id.as_str()).unwrap_or("?");
            let score = a.map(|a| a.score).unwrap_or(0.0);
            if r.success {
                say!(
                    "{} {bead} → {pane} (score {score:.2})",
                    if dry_run { "would assign" } else { "assigned" }
                );
            } else {
                say!("failed {bead} → {pane}: {}", r.error);
            }
        }
    }
    Ok(if failed > 0 {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}

/// `gaffer suggest PANE`.
pub fn suggest(global: &GlobalArgs, args: &CoordArgs, pane: &str) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let built = wiring::build_for(global, args)?;
    let coord = built.coordinator;
    coord.update_state();
    let s = coord.suggest_assignment(pane).map_err(ExitError::from)?;
    out.print(&json!({"pane_id": pane, "suggestion": s}), || match s {
        Some(w) => say!(
            "{pane}: {} \"{}\" (P{}, score {:.2})",
            w.bead_id,
            w.bead_title,
            w.priority,
            w.score
        ),
        None => say!("{pane}: nothing suitable"),
    })?;
    Ok(exit::SUCCESS)
}

/// `gaffer restart <pane>`: hands the agent's live assignment back (per `exited_work`) and
/// relaunches it in its pane; recorded in the ledger and the event log.
pub fn restart(global: &GlobalArgs, args: &CoordArgs, pane: &str) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let built = wiring::build_for(global, args)?;
    let panes = built
        .connection
        .all
        .list_panes()
        .map_err(|e| ExitError::unavailable(format!("listing panes: {e}")))?;
    let Some(info) = adapters::find_pane(&panes, pane) else {
        return Err(ExitError::not_found(format!(
            "no pane {pane:?} in session {}",
            built.connection.session
        ))
        .into());
    };
    let coord = built.coordinator;
    coord.ensure_project();
    coord.update_state();
    coord
        .restart_agent(&info.pane_id)
        .map_err(ExitError::from)?;
    out.print(
        &json!({"pane_id": info.pane_id, "title": info.title, "restarted": true}),
        || println!("{} ({}): restarted", info.pane_id, info.title),
    )?;
    Ok(exit::SUCCESS)
}

/// `gaffer conflicts [--notify|--negotiate]`.
pub fn conflicts(
    global: &GlobalArgs,
    args: &CoordArgs,
    notify: bool,
    negotiate: bool,
) -> anyhow::Result<i32> {
    let built = wiring::build_for(global, args)?;
    let mut cfg = built.coordinator.config();
    cfg.coordinator.conflict_notify = notify;
    cfg.coordinator.conflict_negotiate = negotiate;
    let coord = built.coordinator.with_config(cfg);
    let found = coord
        .detect_conflicts()
        .map_err(|e| ExitError::unavailable(format!("conflicts unknown: {e}")))?;
    if global.json {
        println!(
            "{}",
            crate::output::safe_json(serde_json::to_string_pretty(&found)?)
        );
    } else if found.is_empty() {
        say!("no conflicts");
    } else {
        for c in &found {
            say!("{}", crate::output::conflict_line(c));
        }
    }
    Ok(if found.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}

/// `gaffer digest [--send]`.
pub fn digest(global: &GlobalArgs, args: &CoordArgs, send: bool) -> anyhow::Result<i32> {
    let built = wiring::build_for(global, args)?;
    let coord = built.coordinator;
    coord.update_state();
    if send {
        coord.ensure_project();
    }
    let d = if send {
        coord
            .send_digest()
            .map_err(|e| ExitError::failure(e.to_string()))?
    } else {
        coord.generate_digest()
    };
    Output::of(global).print(&d, || print!("{}", render_markdown(&d, "gaffer")))?;
    Ok(exit::SUCCESS)
}

/// `gaffer watch`: events from the project's ledger as they are recorded (by `gaffer run` or
/// any other gaffer process), as JSON lines with `--json`.
pub fn watch(
    global: &GlobalArgs,
    from_start: bool,
    exit_after: Option<u64>,
) -> anyhow::Result<i32> {
    let ledger = adapters::ledger(global)?;
    let (existing, _) = ledger.events_since(0)?;
    let mut last = existing.last().map(|(id, _)| *id).unwrap_or(0);
    let out = Output::of(global);
    if from_start {
        for (_, e) in &existing {
            out.event(e);
        }
    }
    let fg = Foreground::start(exit_after);
    while !fg.done() {
        let (new, _) = ledger.events_since(last)?;
        for (id, e) in new {
            out.event(&e);
            last = id;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(exit::SUCCESS)
}
