//! `gaffer triage`: the project's beads ranked like `bv --robot-triage`, natively when bv is
//! absent.

use crate::cli::{GlobalArgs, TriageArgs, TriageSource};
use crate::config_load;
use crate::error::ExitError;
use crate::output::esay;
use gaffer_beads::{BeadsProject, NativeSource};
use gaffer_core::config::{BeadsConfig, WorkSourceKind};
use gaffer_core::exit;
use gaffer_core::time::{Timestamp, format_rfc3339, parse_rfc3339};
use gaffer_core::triage::TriageResponse;
use gaffer_core::work_source::WorkSource;
use std::io::Write;
use std::path::PathBuf;

/// Runs `gaffer triage`.
pub fn run(global: &GlobalArgs, args: TriageArgs) -> anyhow::Result<i32> {
    let now: Timestamp = match &args.now {
        Some(raw) => parse_rfc3339(raw)
            .map_err(|e| ExitError::usage(format!("--now {raw:?} is not an RFC 3339 time: {e}")))?,
        // Whole seconds, as bv writes them.
        None => {
            let now = std::time::SystemTime::now();
            let secs = now
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        }
    };
    let start = match &global.project {
        Some(p) => p.clone(),
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let project =
        BeadsProject::discover(&start).map_err(|e| ExitError::not_found(e.to_string()))?;
    let loaded = project
        .load()
        .map_err(|e| ExitError::failure(e.to_string()))?;
    for s in &loaded.skipped {
        let file = loaded
            .path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        esay!("warning: {file}: skipped {s}");
    }
    let beads_config = config_load::load(global)?.config.beads;
    let kind = match args.source {
        None => beads_config.source,
        Some(TriageSource::Auto) => WorkSourceKind::Auto,
        Some(TriageSource::Native) => WorkSourceKind::Native,
        Some(TriageSource::Bv) => WorkSourceKind::Bv,
    };
    let bv = gaffer_beads::bv_for(
        &project,
        &BeadsConfig {
            source: kind,
            timeout: beads_config.timeout,
        },
    )
    .map_err(ExitError::from)?;
    let started = std::time::Instant::now();
    let (source_name, mut resp): (&str, TriageResponse) = match &bv {
        Some(bv) => ("bv", bv.triage(now).map_err(ExitError::from)?),
        None => {
            let native = NativeSource::new(project.clone());
            let t = gaffer_core::triage_engine::triage_with(&loaded.issues, now, &native.options);
            ("native", t.response)
        }
    };
    if source_name == "native" {
        resp.triage.meta.compute_time_ms = started.elapsed().as_millis() as i64;
    }
    let text = if global.json {
        let mut t = crate::output::safe_json(serde_json::to_string_pretty(&resp)?);
        t.push('\n');
        t
    } else {
        crate::output::safe_text(&render(&resp, source_name, &project, &loaded.skipped))
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        // A reader that went away (`| head`) is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(exit::SUCCESS),
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The readable ranked table.
fn render(
    resp: &TriageResponse,
    source: &str,
    project: &BeadsProject,
    skipped: &[gaffer_beads::SkippedLine],
) -> String {
    use std::fmt::Write;
    let t = &resp.triage;
    let q = &t.quick_ref;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Triage of {} ({source}) at {}",
        project.root.display(),
        format_rfc3339(&resp.generated_at)
    );
    let _ = writeln!(
        out,
        "{} issues: {} not closed, {} actionable, {} in progress, {} blocked by dependencies",
        t.meta.issue_count,
        q.not_closed_count,
        q.actionable_count,
        q.in_progress_count,
        q.not_actionable_count
    );
    if t.recommendations.is_empty() {
        let _ = writeln!(out, "\nNothing to rank: no open issues.");
    } else {
        let idw = t
            .recommendations
            .iter()
            .map(|r| r.id.chars().count())
            .max()
            .unwrap_or(2)
            .max(2);
        let _ = writeln!(
            out,
            "\n{:>3}  {:<idw$}  {:>6}  {:<2}  {:<8}  {:<11}  {:<40}  NOTES",
            "#", "ID", "SCORE", "P", "TYPE", "STATUS", "TITLE"
        );
        for (k, r) in t.recommendations.iter().enumerate() {
            let mut notes = Vec::new();
            if !r.blocked_by.is_empty() {
                notes.push(format!("blocked by {}", r.blocked_by.join(", ")));
            }
            if !r.unblocks_ids.is_empty() {
                notes.push(format!("unblocks {}", r.unblocks_ids.join(", ")));
            }
            if let Some(a) = &r.assignee {
                notes.push(format!("@{a}"));
            }
            let _ = writeln!(
                out,
                "{:>3}  {:<idw$}  {:>6.4}  P{:<1}  {:<8}  {:<11}  {:<40}  {}",
                k + 1,
                r.id,
                r.score,
                r.priority,
                cut(&r.issue_type, 8),
                cut(&r.status, 11),
                cut(&r.title, 40),
                notes.join("; ")
            );
        }
    }
    if !q.top_picks.is_empty() {
        let _ = writeln!(out, "\nTop picks:");
        for p in &q.top_picks {
            let why = p.reasons.first().cloned().unwrap_or_default();
            let _ = writeln!(out, "  {}  {:.4}  {}  ({why})", p.id, p.score, p.title);
        }
    }
    if !t.quick_wins.is_empty() {
        let wins: Vec<String> = t
            .quick_wins
            .iter()
            .map(|w| format!("{} ({})", w.id, w.reason))
            .collect();
        let _ = writeln!(out, "Quick wins: {}", wins.join(", "));
    }
    if !t.blockers_to_clear.is_empty() {
        let b: Vec<String> = t
            .blockers_to_clear
            .iter()
            .map(|b| format!("{} (unblocks {})", b.id, b.unblocks_count))
            .collect();
        let _ = writeln!(out, "Blockers to clear: {}", b.join(", "));
    }
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "Skipped {} bad line(s) in the beads file (see warnings).",
            skipped.len()
        );
    }
    out
}
