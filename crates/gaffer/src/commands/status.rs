//! `gaffer status [--session S] [--json]`: every agent pane with its verdict, idle time and
//! health; and the pane lookup and live explanation `send` and `explain` share.

use crate::adapters;
use crate::cli::{GlobalArgs, TmuxArgs};
use crate::error::ExitError;
use crate::output::{esay, say};
use gaffer_coordinator::monitor::{AgentMonitor, AgentReport, MonitorConfig, MonitorSnapshot};
use gaffer_core::exit;
use gaffer_core::time::format_short_duration;
use serde_json::json;
use std::time::Duration;

/// One agent as JSON.
pub fn agent_json(a: &AgentReport) -> serde_json::Value {
    let v = &a.observation.verdict;
    json!({
        "pane_id": a.pane.pane_id,
        "session": a.pane.session,
        "window_index": a.pane.window_index,
        "pane_index": a.pane.pane_index,
        "title": a.pane.title,
        "agent_type": a.pane.agent_type,
        "agent_index": a.pane.agent_index,
        "current_command": a.pane.current_command,
        "status": a.observation.status,
        "verdict": v,
        "reason": v.reason,
        "rule": v.rule,
        "evidence": v.evidence,
        "confidence": v.confidence,
        "context_usage": v.context_usage,
        "context_source": v.fusion.as_ref().and_then(|f| f.context_source),
        "decided_by": v.fusion.as_ref().map(|f| f.decided_by),
        "sources": v.fusion.as_ref().map(|f| f.sources.clone()).unwrap_or_default(),
        "last_activity": gaffer_core::time::format_rfc3339(&a.last_activity),
        "idle_seconds": a.idle_seconds,
        "velocity": a.velocity,
        "healthy": a.health.healthy,
        "issues": a.health.issues,
    })
}

/// The whole snapshot as JSON.
pub fn snapshot_json(session: &str, snap: &MonitorSnapshot) -> serde_json::Value {
    let mut doc = json!({
        "session": session,
        "observed_at": gaffer_core::time::format_rfc3339(&snap.observed_at),
        "mode": snap.mode,
        "agents": snap.agents.iter().map(agent_json).collect::<Vec<_>>(),
        "problems": snap.problems,
    });
    if !snap.hosts.is_empty() {
        doc["hosts"] = json!(snap.hosts);
    }
    doc
}

/// One line per `[[hosts]]` host: how long its observation took, or why it is not current.
pub fn host_lines(snap: &MonitorSnapshot) -> Vec<String> {
    snap.hosts
        .iter()
        .map(|h| {
            let latency = h
                .latency_ms
                .map_or_else(|| "-".to_string(), |ms| format!("{ms} ms"));
            if let Some(e) = snap.unreachable.get(&h.host) {
                format!("host {}: unreachable ({e})", h.host)
            } else if h.late {
                format!(
                    "host {}: late (waiting {} ms; last observation {latency})",
                    h.host,
                    h.waiting_ms.unwrap_or(0)
                )
            } else {
                format!("host {}: observed in {latency}", h.host)
            }
        })
        .collect()
}

/// Runs `gaffer status`.
pub fn run(global: &GlobalArgs, args: &TmuxArgs) -> anyhow::Result<i32> {
    let conn = adapters::tmux(global, args)?;
    let monitor = AgentMonitor::new(
        conn.all.clone(),
        adapters::detector(&conn.config.detection)?,
        MonitorConfig::from(&conn.config.detection),
    )
    .with_agent_files(adapters::agent_files(&conn.config))
    .with_signals(adapters::signal_feed(global))
    .with_fuse_config((&conn.config.fusion).into());
    let snap = monitor
        .refresh()
        .map_err(|e| ExitError::unavailable(format!("observing {}: {e}", conn.session)))?;
    let paused = adapters::pauses(global);
    if global.json {
        let mut doc = snapshot_json(&conn.session, &snap);
        if let Some(agents) = doc["agents"].as_array_mut() {
            for a in agents {
                let pane = a["pane_id"].as_str().unwrap_or_default().to_string();
                a["paused"] = json!(paused.is_paused(&pane));
            }
        }
        doc["paused_all"] = json!(paused.all);
        if !conn.config.hosts.is_empty() {
            // one entry per host: its observation (`host`, `latency_ms`, `late`, …) and the
            // reports its agents sent home
            let observed = doc["hosts"].as_array().cloned().unwrap_or_default();
            doc["hosts"] = json!(
                host_reports(global, &conn.config)
                    .into_iter()
                    .map(|(name, r)| {
                        let mut entry = observed
                            .iter()
                            .find(|h| h["host"] == name.as_str())
                            .cloned()
                            .unwrap_or_else(|| json!({"host": name}));
                        entry["reports"] = json!(r.as_ref().map_or(0, |(n, _, _)| *n));
                        if let Some((_, last, at)) = r {
                            entry["last_report"] = json!({
                                "at": gaffer_core::time::format_rfc3339(&at),
                                "kind": last.kind, "via": last.via, "outcome": last.outcome});
                        }
                        entry
                    })
                    .collect::<Vec<_>>()
            );
        }
        println!("{}", crate::output::safe_json(doc.to_string()));
        return Ok(exit::SUCCESS);
    }
    if snap.agents.is_empty() {
        say!("no agent panes in session {}", conn.session);
    } else {
        // host-qualified keys (`box1:%3`) widen the first column
        let w = snap
            .agents
            .iter()
            .map(|a| a.pane.pane_id.chars().count())
            .max()
            .unwrap_or(0)
            .max(6);
        say!(
            "{:<w$} {:<22} {:<5} {:<12} {:>6} {:>5} {:<10} {:<8} {:<8} REASON",
            "PANE",
            "TITLE",
            "TYPE",
            "STATUS",
            "IDLE",
            "CTX",
            "CTX-SRC",
            "BY",
            "HEALTH"
        );
        for a in &snap.agents {
            let ctx = a
                .observation
                .verdict
                .context_usage
                .map(|c| format!("{c:.0}%"))
                .unwrap_or_else(|| "-".into());
            let idle = format_short_duration(Duration::from_secs_f64(a.idle_seconds.max(0.0)));
            let health = if a.health.healthy && a.health.issues.is_empty() {
                "ok".to_string()
            } else if a.health.healthy {
                "warn".to_string()
            } else {
                "unhealthy".to_string()
            };
            // padded by display width: a wide character takes two columns
            let title = crate::view::pad_right(
                &crate::view::fit(&crate::output::safe(&a.pane.title), 22),
                22,
            );
            let fusion = a.observation.verdict.fusion.as_ref();
            let ctx_source = fusion
                .and_then(|f| f.context_source)
                .map(|s| s.as_str())
                .unwrap_or("-");
            let by = fusion.map(|f| f.decided_by.as_str()).unwrap_or("screen");
            say!(
                "{:<w$} {} {:<5} {:<12} {:>6} {:>5} {:<10} {:<8} {:<8} {}",
                crate::output::safe(&a.pane.pane_id),
                title,
                a.pane.agent_type,
                a.observation.status.as_str(),
                idle,
                ctx,
                ctx_source,
                by,
                health,
                a.observation.verdict.reason
            );
            for i in &a.health.issues {
                say!("{:<w$} ! {i}", "");
            }
            if paused.is_paused(&a.pane.pane_id) {
                say!("{:<w$} ! auto-assign paused (gaffer resume)", "");
            }
        }
    }
    for l in host_lines(&snap) {
        say!("{l}");
    }
    let now = chrono::Utc::now();
    for (name, r) in host_reports(global, &conn.config) {
        match r {
            Some((n, last, at)) => say!(
                "host {name}: {n} report(s) from its agents, the last {} ago ({} via {})",
                format_short_duration((now - at).to_std().unwrap_or_default()),
                last.kind,
                last.via
            ),
            None => say!("host {name}: no report from its agents yet"),
        }
    }
    for p in &snap.problems {
        esay!("warning: {p}");
    }
    Ok(exit::SUCCESS)
}

/// For each `[[hosts]]` entry, the reports its agents sent home (count, last, when), from the
/// ledger; `None` when none (or the ledger cannot be read).
#[allow(clippy::type_complexity)]
fn host_reports(
    global: &GlobalArgs,
    config: &gaffer_core::config::GafferConfig,
) -> Vec<(
    String,
    Option<(
        u64,
        gaffer_coordinator::ledger::HomeReportRow,
        gaffer_core::time::Timestamp,
    )>,
)> {
    let mut by_host = adapters::ledger(global)
        .ok()
        .and_then(|l| l.home_reports_by_host().ok())
        .unwrap_or_default();
    config
        .hosts
        .iter()
        .map(|h| (h.name.clone(), by_host.remove(&h.name)))
        .collect()
}
