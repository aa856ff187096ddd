//! The digest: every figure with its source and age, a missing source reported as degraded;
//! its importance and recipient.

use super::{Decision, Policy, Snapshot};
use crate::digest::{DigestInput, DigestSummary, Reading, digest_importance, generate_digest};
use crate::mailbox::Importance;
use crate::work_source::work_digest;

/// The digest of the session as the snapshot shows it.
pub fn build(snap: &Snapshot) -> DigestSummary {
    let now = snap.now;
    let agents = match (
        snap.last_update,
        snap.problems.is_empty() || !snap.agents.is_empty(),
    ) {
        _ if snap.health.tmux.is_some() => Reading::Degraded {
            source: "tmux".into(),
            error: format!(
                "tmux lost: {}",
                snap.health.tmux.as_deref().unwrap_or_default()
            ),
        },
        (Some(at), true) => Reading::Ok {
            value: snap.agents.values().cloned().collect(),
            at,
            source: "tmux".into(),
        },
        _ => Reading::Degraded {
            source: "tmux".into(),
            error: snap.problems.join("; "),
        },
    };
    let work = match snap.digest.as_ref().map(|d| (&d.issues, d)) {
        Some((Ok(issues), d)) => Reading::Ok {
            value: work_digest(issues, &d.ranked, &d.ready, now, 5),
            at: now,
            source: snap.work_source.clone(),
        },
        Some((Err(e), _)) => Reading::Degraded {
            source: snap.work_source.clone(),
            error: e.clone(),
        },
        None => Reading::Degraded {
            source: snap.work_source.clone(),
            error: "not read".into(),
        },
    };
    let conflicts = match (&snap.reservations, snap.has_mailbox) {
        (_, false) => Reading::Ok {
            value: Vec::new(),
            at: now,
            source: "no mailbox".into(),
        },
        (Some(Ok(rs)), true) => Reading::Ok {
            value: super::conflicts::detect(rs, now)
                .into_iter()
                .map(|d| d.conflict)
                .collect(),
            at: now,
            source: "agent mail".into(),
        },
        (Some(Err(e)), true) => Reading::Degraded {
            source: "agent mail".into(),
            error: e.clone(),
        },
        (None, true) => Reading::Degraded {
            source: "agent mail".into(),
            error: "not read".into(),
        },
    };
    let quality = snap
        .quality
        .summary
        .as_ref()
        .filter(|q| q.total_test_runs > 0 || q.ubs_available || q.total_agent_errors > 0)
        .cloned();
    let mut d = generate_digest(&DigestInput {
        session: &snap.session,
        now,
        agents,
        work,
        conflicts,
        quality,
    });
    if let Some(loss) = &snap.tmux_loss {
        let held: Vec<String> = snap
            .agents
            .values()
            .filter(|a| a.status_reason == super::TMUX_LOST)
            .map(|a| a.display_name())
            .collect();
        if !held.is_empty() {
            d.alerts.push(format!(
                "tmux lost since {}: {} agent(s) held as UNKNOWN ({}); their assignments are handed back at {} unless tmux returns",
                crate::time::format_rfc3339(&loss.since),
                held.len(),
                held.join(", "),
                crate::time::format_rfc3339(&loss.hand_back_at),
            ));
        }
    }
    for (pane, h) in snap.ledger.restarts.iter().filter(|(_, h)| h.halted) {
        let who = snap.agents.get(pane).map_or_else(
            || pane.clone(),
            |a| format!("{} (pane {pane})", a.display_name()),
        );
        d.alerts.push(format!(
            "{who} crash-loops: restarting stopped after {} restarts (gaffer restart {pane} to try again)",
            h.restarts.len()
        ));
    }
    for (pane, c) in &snap.ledger.compactions {
        let who = snap.agents.get(pane).map_or_else(
            || pane.clone(),
            |a| format!("{} (pane {pane})", a.display_name()),
        );
        let context = snap.agents.get(pane).map_or(0.0, |a| a.context_usage);
        if !c.done {
            d.alerts.push(format!(
                "{who} is compacting since {} ({:.0}% context then)",
                crate::time::format_rfc3339(&c.at),
                c.context_before
            ));
        } else if context > 0.0 && context >= c.context_before {
            d.alerts.push(format!(
                "{who} was compacted at {} and still reads {context:.0}% context: it gets no work above the limit",
                crate::time::format_rfc3339(&c.at),
            ));
        }
    }
    hosts(snap, &mut d.alerts);
    for (pane, g) in &snap.gone {
        d.alerts.push(format!(
            "{} ({}) is gone since {}: {} (pane {pane}, last {})",
            g.name,
            g.agent_type,
            crate::time::format_rfc3339(&g.since),
            g.reason,
            g.status
        ));
    }
    d
}

/// A line per `[[hosts]]` host down (since when, the agents held, the work held and when it is
/// handed back), per host that came back within the hour, and per host whose spool of reports
/// cannot be drained.
fn hosts(snap: &Snapshot, alerts: &mut Vec<String>) {
    use crate::panes::pane_host;
    let t = crate::time::format_rfc3339;
    for (host, since) in &snap.hosts_down {
        let on_host = |pane: &str| pane_host(pane) == Some(host.as_str());
        let held: Vec<String> = snap
            .agents
            .iter()
            .filter(|(p, a)| on_host(p) && a.status_reason == crate::detect::HOST_UNREACHABLE)
            .map(|(p, a)| format!("{} ({p})", a.display_name()))
            .collect();
        let work: Vec<&str> = snap
            .ledger
            .active
            .iter()
            .filter(|a| on_host(&a.pane_id))
            .map(|a| a.bead_id.as_str())
            .collect();
        let work = if work.is_empty() {
            "no work held there".to_string()
        } else {
            format!(
                "{} assignment(s) held ({}), handed back once the host has been down for \
                 coordinator.tmux_grace",
                work.len(),
                work.join(", ")
            )
        };
        alerts.push(format!(
            "host {host} unreachable since {}: {} agent(s) held as UNKNOWN{}; {work}",
            t(since),
            held.len(),
            if held.is_empty() {
                String::new()
            } else {
                format!(" ({})", held.join(", "))
            }
        ));
    }
    for (host, o) in &snap.hosts_back {
        let secs = (o.back_at - o.since).num_seconds().max(0);
        alerts.push(format!(
            "host {host} answers again since {} (unreachable from {}, {secs} s)",
            t(&o.back_at),
            t(&o.since)
        ));
    }
    for (host, s) in &snap.spool_troubles {
        alerts.push(format!(
            "host {host}: its spool of reports (.gaffer/outbox.jsonl in its project) cannot be \
             drained since {}: {}; its agents' reports wait there",
            t(&s.since),
            s.error
        ));
    }
}

/// A digest's importance as a message.
pub fn importance(d: &DigestSummary) -> Importance {
    match digest_importance(d) {
        "urgent" => Importance::Urgent,
        "high" => Importance::High,
        _ => Importance::Normal,
    }
}

/// A digest pass: the digest, sent to the human (the name the mailbox granted, else the
/// configured one) when there is a mailbox.
pub fn decide(snap: &Snapshot, policy: &Policy, out: &mut Vec<Decision>) {
    let d = build(snap);
    if !snap.has_mailbox {
        return;
    }
    out.push(Decision::SendDigest {
        importance: importance(&d),
        to: snap
            .human
            .clone()
            .unwrap_or_else(|| policy.human_agent.clone()),
        digest: Box::new(d),
    });
}
