//! `gaffer explain`: how a screen's state was detected — every rule, matched or not, and why.

use crate::adapters;
use crate::cli::{ExplainArgs, GlobalArgs};
use crate::error::ExitError;
use gaffer_core::detect::{Detector, Explanation, ScreenInput, canonical_kind};
use gaffer_core::exit;
use gaffer_core::fuse::{FuseConfig, fuse};
use gaffer_core::signals::SignalFeed;
use std::io::Read;
use std::path::Path;

/// A fixture file's header (`key: value` lines, then `---`), if it has one; and the screen.
fn split_header(text: &str) -> (Vec<(String, String)>, &str) {
    if let Some(pos) = text.find("\n---\n") {
        let head = &text[..pos];
        let lines: Vec<&str> = head.lines().collect();
        let looks_like_header = !lines.is_empty()
            && lines.len() <= 12
            && lines.iter().all(|l| {
                l.split_once(':').is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
            });
        if looks_like_header {
            let kv = lines
                .iter()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            return (kv, &text[pos + 5..]);
        }
    }
    (Vec::new(), text)
}

/// A capture file (or stdin, `-`): at most twice the screen limit is read, and the screen
/// keeps its last [`gaffer_core::limits::MAX_SCREEN_BYTES`], as a live capture would.
fn read_capture(path: &Path) -> Result<String, ExitError> {
    let limit = 2 * gaffer_core::limits::MAX_SCREEN_BYTES as u64;
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ExitError::failure(format!("cannot read stdin: {e}")))?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(|e| ExitError::from(e).context(format!("cannot read {}", path.display())))?;
    }
    if bytes.len() as u64 > limit {
        return Err(ExitError::failure(format!(
            "{}: a capture larger than {} MiB is not a screen",
            path.display(),
            gaffer_core::limits::mib(limit)
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs `gaffer explain`.
pub fn run(global: &GlobalArgs, args: &ExplainArgs) -> anyhow::Result<i32> {
    let Some(file) = &args.file else {
        if let Some(pane) = &args.pane {
            let detector = adapters::detector(&crate::config_load::load(global)?.config.detection)?;
            let (explanation, pane_id) = explain_live(global, args, pane, &detector)?;
            // a human's pause of auto-assign is part of what gaffer does with this agent
            let paused = adapters::pauses(global).is_paused(&pane_id);
            return print_with(global, &explanation, Some((&pane_id, paused)));
        }
        return Err(ExitError::usage("give a pane, or --agent KIND --file FILE").into());
    };
    let Some(agent) = &args.agent else {
        return Err(ExitError::usage("--file needs --agent (cc, cod, gmi or shell)").into());
    };
    let kind = canonical_kind(agent);
    if kind == "shell" && !matches!(agent.trim(), "shell" | "user" | "") {
        tracing::info!(agent = %agent, "unknown agent kind: using the shell rules");
    }
    let detector = adapters::detector(&crate::config_load::load(global)?.config.detection)?;
    let text = read_capture(file)?;
    let (header, screen) = split_header(&text);
    let command = args.command.clone().unwrap_or_else(|| {
        header
            .iter()
            .find(|(k, _)| k == "command")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    });
    let screen = screen.trim_end();
    let input = ScreenInput {
        agent_type: agent,
        screen,
        current_command: &command,
        observed_at: gaffer_core::Timestamp::from(std::time::SystemTime::now()),
    };
    let explanation = detector.explain(&input);
    print(global, &explanation)
}

/// `gaffer explain <pane>`: captures a live pane and explains its screen; with the pane id it
/// resolved.
fn explain_live(
    global: &GlobalArgs,
    args: &ExplainArgs,
    pane: &str,
    detector: &Detector,
) -> Result<(Explanation, String), ExitError> {
    let conn = adapters::tmux(global, &args.tmux)?;
    let panes = conn
        .all
        .list_panes()
        .map_err(|e| ExitError::unavailable(format!("listing panes: {e}")))?;
    let info = adapters::find_pane(&panes, pane).ok_or_else(|| {
        ExitError::not_found(format!("no pane {pane:?} in session {}", conn.session))
    })?;
    let caps = conn
        .all
        .capture(std::slice::from_ref(&info.pane_id))
        .map_err(|e| ExitError::unavailable(format!("capturing {}: {e}", info.pane_id)))?;
    let (_, screen) = caps
        .into_iter()
        .next()
        .ok_or_else(|| ExitError::not_found(format!("pane {} vanished", info.pane_id)))?;
    let agent_type = args
        .agent
        .clone()
        .unwrap_or_else(|| info.agent_type.clone());
    let command = args
        .command
        .clone()
        .unwrap_or_else(|| info.current_command.clone());
    let mut explanation = detector.explain(&ScreenInput {
        agent_type: &agent_type,
        screen: &screen,
        current_command: &command,
        observed_at: chrono::Utc::now(),
    });
    // A dead pane (kept by `remain-on-exit`) is EXITED whatever its last screen shows, as the
    // monitor reads it; the rules' trace still shows how that screen reads.
    if info.dead {
        explanation.verdict =
            gaffer_core::detect::dead_pane_verdict(explanation.verdict.observed_at);
    }
    // fuse with the pane's hook signals and the agent's own files, as the monitor does
    let mut signals = adapters::signal_feed(global)
        .pane_signals()
        .remove(&info.pane_id)
        .unwrap_or_default();
    let files = adapters::agent_files(&conn.config).read(&info, &signals);
    signals.context = files.context;
    signals.session_file = files.session_file;
    let now = explanation.verdict.observed_at;
    let changed = chrono::DateTime::from_timestamp(info.window_activity, 0)
        .filter(|_| info.window_activity > 0)
        .map_or(now, |t| t.min(now));
    let verdict = explanation.verdict.clone();
    explanation.verdict = fuse(
        &verdict,
        Some(&signals),
        changed,
        now,
        &FuseConfig::from(&conn.config.fusion),
    )
    .apply(verdict);
    Ok((explanation, info.pane_id))
}

/// Prints an explanation as JSON or as the readable account.
fn print(global: &GlobalArgs, explanation: &Explanation) -> anyhow::Result<i32> {
    print_with(global, explanation, None)
}

/// [`print`], with whether auto-assign is paused for the live agent (`paused` in JSON).
fn print_with(
    global: &GlobalArgs,
    explanation: &Explanation,
    live: Option<(&str, bool)>,
) -> anyhow::Result<i32> {
    let paused = live.map(|(_, p)| p);
    let body = if global.json {
        let mut json = serde_json::to_string_pretty(explanation)?;
        // two more fields (the pane's key, `host:%N` on another host), the others keep their order
        if let (Some((pane, p)), Some(body)) = (live, json.strip_suffix('}')) {
            let pane = serde_json::to_string(pane)?;
            json = format!(
                "{},\n  \"pane_id\": {pane},\n  \"paused\": {p}\n}}",
                body.trim_end()
            );
        }
        format!("{}\n", crate::output::safe_json(json))
    } else {
        let mut text = render_text(explanation);
        if paused == Some(true) {
            text.push_str("auto-assign: paused by a human (gaffer resume)\n");
        }
        crate::output::safe_text(&text)
    };
    // a closed pipe (`| head`) is not an error worth a panic
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, body.as_bytes());
    let _ = std::io::Write::flush(&mut out);
    Ok(exit::SUCCESS)
}

/// The readable account: the verdict, then every rule in evaluation order.
pub fn render_text(e: &Explanation) -> String {
    use std::fmt::Write;
    let v = &e.verdict;
    let mut s = String::new();
    let rule = if v.rule.is_empty() { "none" } else { &v.rule };
    let _ = writeln!(
        s,
        "status:     {}  (rule {rule}, confidence {:.2})",
        v.status, v.confidence
    );
    let _ = writeln!(s, "reason:     {}", v.reason);
    if v.evidence.is_empty() {
        let _ = writeln!(s, "evidence:   none");
    } else {
        let _ = writeln!(s, "evidence:");
        for line in &v.evidence {
            let _ = writeln!(s, "    {line}");
        }
    }
    match (v.context_usage, &e.context_evidence) {
        (Some(u), Some(from)) => {
            let _ = writeln!(s, "context:    {u:.0}% used  (from {from:?})");
        }
        (Some(u), None) => {
            let _ = writeln!(s, "context:    {u:.0}% used");
        }
        (None, _) => {
            let _ = writeln!(s, "context:    not shown");
        }
    }
    if let Some(r) = &v.rate_limit_reset {
        let _ = writeln!(s, "resets at:  {}", gaffer_core::time::format_rfc3339(r));
    }
    if let Some(f) = &v.fusion {
        let _ = writeln!(
            s,
            "decided by: {}  ({}): {}",
            f.decided_by,
            f.rule,
            f.summary(v.status)
        );
        if let Some(c) = f.context_source {
            let _ = writeln!(s, "context from: {c}");
        }
        let _ = writeln!(s, "sources:");
        for n in &f.sources {
            let stale = if n.stale { "  (stale)" } else { "" };
            let _ = writeln!(
                s,
                "    {:<12} {:<48} {:>8} ago{stale}",
                n.source.as_str(),
                n.what,
                gaffer_core::fuse::format_age(n.age)
            );
        }
    }
    let command = if e.current_command.is_empty() {
        "unknown"
    } else {
        &e.current_command
    };
    let composer = e
        .composer_line
        .map(|l| format!("line {l}"))
        .unwrap_or_else(|| "not found".into());
    let _ = writeln!(
        s,
        "kind:       {}   command: {command}   composer: {composer}",
        e.kind
    );
    let _ = writeln!(s, "\nrules, in evaluation order:");
    for t in &e.trace {
        let mark = if t.chosen {
            "=>"
        } else if t.matched {
            "+ "
        } else {
            "  "
        };
        let _ = writeln!(
            s,
            "{mark} {:<28} {:<12} prio {:>3}  [{}]",
            t.rule,
            t.status.as_str(),
            t.priority,
            t.region
        );
        let _ = writeln!(s, "       {}", t.why);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_split_only_when_it_looks_like_one() {
        let (h, body) = split_header("status: WAITING\ncommand: bash\n---\n$ ls\n");
        assert_eq!(h.len(), 2);
        assert_eq!(body, "$ ls\n");
        let raw = "some output\n---\nmore output\n";
        let (h, body) = split_header(raw);
        assert!(h.is_empty());
        assert_eq!(body, raw);
    }
}
