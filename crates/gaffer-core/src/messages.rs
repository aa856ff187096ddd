//! The texts gaffer sends: the prompt typed into an agent's pane, the assignment message, and
//! the conflict notification and release request (spec/coordinator.md §3.6, §4).

use crate::conflict::Conflict;
use crate::time::Timestamp;
use crate::triage::TriageRecommendation;

/// A message to send: subject and markdown body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText {
    /// Subject line.
    pub subject: String,
    /// Markdown body.
    pub body: String,
}

/// What an assignment prompt needs.
#[derive(Debug, Clone)]
pub struct PromptInput<'a> {
    /// The task.
    pub bead: &'a TriageRecommendation,
    /// Its description, when the work source has one.
    pub description: &'a str,
    /// Files reserved for the agent.
    pub files: &'a [String],
    /// The agent's Agent Mail name, when registered.
    pub agent_name: &'a str,
    /// Whether `br` is available for closing.
    pub has_br: bool,
}

/// The prompt typed into the agent's pane. One paragraph per part, plain text.
pub fn assignment_prompt(p: &PromptInput<'_>) -> String {
    let b = p.bead;
    let mut s = format!(
        "gaffer assigned you {} (P{}): {}\n",
        b.id, b.priority, b.title
    );
    if !p.description.trim().is_empty() {
        s.push_str(&format!("\n{}\n", p.description.trim()));
    }
    if !p.files.is_empty() {
        s.push_str(&format!(
            "\nFiles reserved for you: {}\n",
            p.files.join(", ")
        ));
    }
    if !b.unblocks_ids.is_empty() {
        s.push_str(&format!(
            "Finishing it unblocks: {}\n",
            b.unblocks_ids.join(", ")
        ));
    }
    if !p.agent_name.is_empty() {
        s.push_str(&format!(
            "\nYour Agent Mail name is {}. Reserve files and read messages as {0}.\n",
            p.agent_name
        ));
    }
    let actor = if p.agent_name.is_empty() {
        "<you>"
    } else {
        p.agent_name
    };
    s.push_str("\nWhen you are done, test your change, then report it: ");
    if p.has_br {
        s.push_str(&format!(
            "`br close {} --reason \"<what you did>\" --json` (as {actor}).",
            b.id
        ));
    } else {
        s.push_str(&format!(
            "`gaffer done {} --reason \"<what you did>\"`.",
            b.id
        ));
    }
    s.push_str(" If you cannot take this task, reply: gaffer refuse ");
    s.push_str(&b.id);
    s.push('\n');
    s
}

/// The assignment message (reference `Work Assignment` mail).
pub fn assignment_message(bead: &TriageRecommendation, score: f64) -> MessageText {
    let mut body = String::from("# Work Assignment\n\n");
    body.push_str(&format!("**Bead:** {}\n", bead.id));
    body.push_str(&format!("**Title:** {}\n", bead.title));
    body.push_str(&format!("**Priority:** P{}\n", bead.priority));
    body.push_str(&format!("**Score:** {score:.2}\n\n"));
    if !bead.reasons.is_empty() {
        body.push_str("## Why This Task\n\n");
        for r in &bead.reasons {
            body.push_str(&format!("- {r}\n"));
        }
        body.push('\n');
    }
    if !bead.unblocks_ids.is_empty() {
        body.push_str("## Impact\n\nCompleting this unblocks:\n");
        for id in &bead.unblocks_ids {
            if body.len() > 1500 {
                body.push_str("- ...\n");
                break;
            }
            body.push_str(&format!("- {id}\n"));
        }
        body.push('\n');
    }
    body.push_str("## Instructions\n\n");
    body.push_str(&format!("1. Review the bead: `br show {}`\n", bead.id));
    body.push_str(&format!(
        "2. Claim it: `br update {} --status in_progress`\n",
        bead.id
    ));
    body.push_str("3. Reserve the files you will edit\n");
    body.push_str("4. Implement and test\n");
    body.push_str(&format!("5. Close it: `br close {}`\n", bead.id));
    body.push_str("6. Commit, including the `.beads/` changes\n\n");
    body.push_str("Please acknowledge this message when you start.\n");
    MessageText {
        subject: format!("Work Assignment: {}", bead.title),
        body,
    }
}

fn hms(t: &Timestamp) -> String {
    t.format("%H:%M:%S").to_string()
}

/// The conflict notification to all holders (reference `NotifyConflict`).
pub fn conflict_notice(c: &Conflict) -> MessageText {
    let mut body = String::from("# Reservation Conflict\n\n");
    body.push_str(&format!(
        "Several agents hold overlapping reservations on `{}`:\n\n",
        c.pattern
    ));
    for h in &c.holders {
        body.push_str(&format!(
            "- **{}**: reserved {}, expires {}{}\n",
            h.agent_name,
            hms(&h.reserved_at),
            hms(&h.expires_at),
            if h.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.reason)
            }
        ));
    }
    body.push_str("\n## Options\n\n");
    body.push_str("1. One of you releases the reservation\n");
    body.push_str("2. Work on different parts of the files\n");
    body.push_str("3. Wait until the other finishes\n");
    MessageText {
        subject: format!("⚠️ Reservation Conflict Detected: {}", c.pattern),
        body,
    }
}

/// The release request sent to one holder (reference `NegotiateConflict`).
pub fn release_request(
    c: &Conflict,
    holder: &crate::conflict::Holder,
    requester: &str,
) -> MessageText {
    let mut body = String::from("# File Reservation Conflict\n\n");
    body.push_str(&format!(
        "**{requester}** needs files you have reserved: `{}`.\n\n",
        c.pattern
    ));
    body.push_str(&format!(
        "Your reservation: reserved {}, expires {}{}\n\n",
        hms(&holder.reserved_at),
        hms(&holder.expires_at),
        if holder.reason.is_empty() {
            String::new()
        } else {
            format!(", reason: {}", holder.reason)
        }
    ));
    body.push_str("## Options\n\n");
    body.push_str("- **Release**: release the reservation if you are done with these files\n");
    body.push_str("- **Keep**: reply with how long you still need them\n");
    body.push_str(&format!(
        "- **Coordinate**: message {requester} to split the work\n\n"
    ));
    body.push_str("Please acknowledge this message.\n");
    MessageText {
        subject: format!("File Reservation Conflict: {}", c.pattern),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conflict::Holder;
    use crate::time::parse_rfc3339;

    fn bead() -> TriageRecommendation {
        TriageRecommendation {
            id: "bd-7".into(),
            title: "Fix src/a.rs".into(),
            priority: 1,
            score: 0.5,
            reasons: vec!["🔓 Unblocks 1 item(s): bd-8".into()],
            unblocks_ids: vec!["bd-8".into()],
            ..Default::default()
        }
    }

    #[test]
    fn prompt_has_id_title_files_and_how_to_finish() {
        let b = bead();
        let files = vec!["src/a.rs".to_string()];
        let p = assignment_prompt(&PromptInput {
            bead: &b,
            description: "Crashes on empty input.",
            files: &files,
            agent_name: "BlueLake",
            has_br: true,
        });
        assert!(p.starts_with("gaffer assigned you bd-7 (P1): Fix src/a.rs\n"));
        assert!(p.contains("Crashes on empty input."));
        assert!(p.contains("Files reserved for you: src/a.rs"));
        assert!(p.contains("br close bd-7"));
        let p = assignment_prompt(&PromptInput {
            bead: &b,
            description: "",
            files: &[],
            agent_name: "",
            has_br: false,
        });
        assert!(p.contains("gaffer done bd-7"));
    }

    #[test]
    fn assignment_message_shape() {
        let m = assignment_message(&bead(), 0.5678);
        assert_eq!(m.subject, "Work Assignment: Fix src/a.rs");
        assert!(m.body.starts_with("# Work Assignment\n"));
        assert!(m.body.contains("**Score:** 0.57"));
        assert!(m.body.contains("## Why This Task"));
        assert!(m.body.contains("## Impact"));
        assert!(m.body.contains("6. Commit"));
        let mut big = bead();
        big.unblocks_ids = (0..400)
            .map(|i| format!("bd-long-identifier-{i}"))
            .collect();
        let m = assignment_message(&big, 1.0);
        assert!(m.body.contains("- ...\n"));
    }

    #[test]
    fn conflict_texts() {
        let t = parse_rfc3339("2026-01-01T10:11:12Z").unwrap();
        let h = |n: &str| Holder {
            agent_name: n.into(),
            pane_id: String::new(),
            reserved_at: t,
            expires_at: t,
            reason: "bd-1".into(),
            priority: 1,
        };
        let c = Conflict {
            id: "c".into(),
            file_path: String::new(),
            pattern: "src/**".into(),
            holders: vec![h("A"), h("B")],
            detected_at: t,
            resolved_at: None,
            resolution: String::new(),
        };
        let n = conflict_notice(&c);
        assert_eq!(n.subject, "⚠️ Reservation Conflict Detected: src/**");
        assert!(
            n.body
                .contains("- **A**: reserved 10:11:12, expires 10:11:12 (bd-1)")
        );
        let r = release_request(&c, &c.holders[1], "A");
        assert_eq!(r.subject, "File Reservation Conflict: src/**");
        assert!(r.body.contains("**A** needs files"));
        assert!(
            r.body.contains("**Release**")
                && r.body.contains("**Keep**")
                && r.body.contains("**Coordinate**")
        );
    }
}
