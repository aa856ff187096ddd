//! `gaffer send <pane|--type T|--all> TEXT [--json]`: verified prompt delivery.

use crate::adapters;
use crate::cli::{GlobalArgs, SendArgs};
use crate::error::ExitError;
use crate::output::say;
use gaffer_core::exit;
use gaffer_core::pane::canonical_agent_type;
use gaffer_core::panes::{DeliveryOptions, DeliveryOutcome, PaneInfo};
use serde_json::json;
use std::io::Read;

/// Runs `gaffer send`.
pub fn run(global: &GlobalArgs, args: &SendArgs) -> anyhow::Result<i32> {
    let group = args.all || args.agent_type.is_some();
    let (pane_arg, text_arg) = match (group, args.args.as_slice()) {
        (true, [text]) => (None, text.clone()),
        (false, [pane, text]) => (Some(pane.clone()), text.clone()),
        (true, _) => return Err(ExitError::usage("with --type or --all, give only TEXT").into()),
        (false, _) => {
            return Err(ExitError::usage("give PANE and TEXT, or --type/--all and TEXT").into());
        }
    };
    let text = if text_arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| ExitError::usage(format!("reading the prompt from stdin: {e}")))?;
        s
    } else {
        text_arg
    };
    if text.is_empty() {
        return Err(ExitError::usage("the prompt is empty").into());
    }
    let conn = adapters::tmux(global, &args.tmux)?;
    let panes = conn
        .all
        .list_panes()
        .map_err(|e| ExitError::unavailable(format!("listing panes: {e}")))?;
    let targets: Vec<PaneInfo> = match (&pane_arg, &args.agent_type) {
        (Some(p), _) => adapters::find_pane(&panes, p).into_iter().collect(),
        (None, Some(t)) => {
            let want = canonical_agent_type(t);
            panes
                .into_iter()
                .filter(|i| i.is_agent() && canonical_agent_type(&i.agent_type) == want)
                .collect()
        }
        (None, None) => panes.into_iter().filter(PaneInfo::is_agent).collect(),
    };
    if targets.is_empty() {
        return Err(ExitError::not_found(match (&pane_arg, &args.agent_type) {
            (Some(p), _) => format!("no pane {p:?} in session {}", conn.session),
            (None, Some(t)) => format!("no {t} agent panes in session {}", conn.session),
            (None, None) => format!("no agent panes in session {}", conn.session),
        })
        .into());
    }
    let det = adapters::detector(&conn.config.detection)?;
    let opts = DeliveryOptions {
        deadline: args.deadline,
        probe_interval: args
            .probe_interval
            .max(std::time::Duration::from_millis(10)),
        ..DeliveryOptions::default()
    };
    let results: Vec<(PaneInfo, Result<gaffer_core::panes::DeliveryReport, String>)> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = targets
                .iter()
                .map(|info| {
                    let panes = conn.all.clone();
                    let det = &det;
                    let text = &text;
                    let opts = &opts;
                    let force = args.force;
                    scope.spawn(move || {
                        let r = crate::delivery::send_verified(
                            panes.as_ref(),
                            det,
                            info,
                            text,
                            opts,
                            force,
                        )
                        .map_err(|e| e.to_string());
                        (info.clone(), r)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
    let all_ok = results
        .iter()
        .all(|(_, r)| matches!(r, Ok(rep) if rep.outcome == DeliveryOutcome::Delivered));
    if global.json {
        let items: Vec<_> = results
            .iter()
            .map(|(info, r)| match r {
                Ok(rep) => json!({
                    "pane_id": info.pane_id,
                    "title": info.title,
                    "agent_type": info.agent_type,
                    "outcome": rep.outcome,
                    "attempts": rep.attempts,
                    "bytes": rep.bytes,
                    "elapsed_ms": rep.elapsed_ms,
                }),
                Err(e) => json!({
                    "pane_id": info.pane_id,
                    "title": info.title,
                    "agent_type": info.agent_type,
                    "outcome": "error",
                    "error": e,
                }),
            })
            .collect();
        println!(
            "{}",
            crate::output::safe_json(
                json!({"session": conn.session, "deliveries": items}).to_string()
            )
        );
    } else {
        for (info, r) in &results {
            match r {
                Ok(rep) => say!(
                    "{} {}: {} after {} attempt(s), {} ms",
                    info.pane_id,
                    info.title,
                    match rep.outcome {
                        DeliveryOutcome::Delivered => "delivered",
                        DeliveryOutcome::PromptStalled => "prompt_stalled",
                    },
                    rep.attempts,
                    rep.elapsed_ms
                ),
                Err(e) => say!("{} {}: error: {e}", info.pane_id, info.title),
            }
        }
    }
    Ok(if all_ok { exit::SUCCESS } else { exit::FAILURE })
}
