//! `gaffer mail …`: Agent Mail from the command line (agents in panes may run these too).
//!
//! Backend: the server at `--mail-url`, else `AGENT_MAIL_URL` / config `mail.url`, else the
//! embedded mailbox in `<project>/.gaffer/state.db`. The project key is the project root.

use crate::adapters;
use crate::cli::{GlobalArgs, MailAction, MailArgs};
use crate::config_load;
use crate::error::ExitError;
use crate::output::{self, Output};
use crate::output::{esay, say};
use gaffer_core::conflicts::ConflictDetector;
use gaffer_core::exit;
use gaffer_core::mailbox::*;
use serde_json::json;
use std::time::Duration;

/// Runs a mail action and returns the exit code.
pub fn run(global: &GlobalArgs, args: MailArgs) -> anyhow::Result<i32> {
    let loaded = config_load::load(global)?;
    let root = loaded.project_root.clone();
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let mb = adapters::mailbox(args.mail_url.as_deref(), &loaded.config, &root)
        .map_err(ExitError::from)?
        .mailbox;
    let project = root.display().to_string();
    if !matches!(args.action, MailAction::Health) {
        mb.ensure_project(&project).map_err(ExitError::from)?;
    }
    let mb: &dyn gaffer_core::mailbox::Mailbox = mb.as_ref();
    let out = Output::of(global);
    match args.action {
        MailAction::Reserve {
            agent,
            ttl,
            shared,
            reason,
            patterns,
        } => {
            let r = mb
                .reserve_paths(
                    &project,
                    &ReserveRequest {
                        agent,
                        paths: patterns,
                        ttl: Duration::from_secs(ttl.max(1)),
                        exclusive: !shared,
                        reason,
                    },
                )
                .map_err(ExitError::from)?;
            out.print(&r, || {
                for g in &r.granted {
                    let kind = if g.exclusive { "exclusive" } else { "shared" };
                    say!("granted #{} {} ({kind})", g.id, g.path_pattern);
                }
                for c in &r.conflicts {
                    for h in &c.holders {
                        esay!(
                            "conflict: {} overlaps {} held by {}",
                            c.path,
                            h.path_pattern,
                            h.agent_name
                        );
                    }
                }
            })?;
            Ok(if r.conflicts.is_empty() {
                exit::SUCCESS
            } else {
                exit::FAILURE
            })
        }
        MailAction::Release { agent, patterns } => {
            let n = mb
                .release(&project, &agent, &patterns)
                .map_err(ExitError::from)?;
            out.print(&json!({"released": n}), || {
                say!("released {n}");
            })?;
            Ok(exit::SUCCESS)
        }
        MailAction::Renew {
            agent,
            extend,
            patterns,
        } => {
            let n = mb
                .renew(&project, &agent, &patterns, Duration::from_secs(extend))
                .map_err(ExitError::from)?;
            out.print(&json!({"renewed": n}), || {
                say!("renewed {n}");
            })?;
            Ok(exit::SUCCESS)
        }
        MailAction::Reservations { agent, all } => {
            let rs = mb
                .list_reservations(&project, agent.as_deref(), !all)
                .map_err(ExitError::from)?;
            out.print(&rs, || {
                for r in &rs {
                    let kind = if r.exclusive { "exclusive" } else { "shared" };
                    let state = if r.released_ts.is_some() {
                        "released"
                    } else {
                        "active"
                    };
                    say!(
                        "#{} {} {} {kind} {state} until {} {}",
                        r.id,
                        r.agent_name,
                        r.path_pattern,
                        gaffer_core::time::format_rfc3339(&r.expires_ts),
                        r.reason
                    );
                }
            })?;
            Ok(exit::SUCCESS)
        }
        MailAction::Conflicts => {
            let det = ConflictDetector::new(mb, project.clone());
            let cs = det
                .detect_conflicts(chrono::Utc::now())
                .map_err(ExitError::from)?;
            out.print(&cs, || {
                if cs.is_empty() {
                    say!("no conflicts");
                }
                for c in &cs {
                    say!("{}", output::conflict_line(c));
                }
            })?;
            Ok(if cs.is_empty() {
                exit::SUCCESS
            } else {
                exit::FAILURE
            })
        }
        MailAction::Check { agent, path } => {
            let det = ConflictDetector::new(mb, project.clone());
            let hit = det
                .check_path_conflict(&path, &agent, chrono::Utc::now())
                .map_err(ExitError::from)?;
            out.print(&hit, || match &hit {
                None => say!("{path}: free"),
                Some(c) => say!(
                    "{path}: held by {} ({})",
                    output::holder_names(c),
                    c.conflict.pattern
                ),
            })?;
            Ok(if hit.is_none() {
                exit::SUCCESS
            } else {
                exit::FAILURE
            })
        }
        MailAction::Send {
            from,
            to,
            subject,
            body,
            importance,
            ack,
            thread,
        } => {
            let importance = Importance::parse(&importance).ok_or_else(|| {
                ExitError::usage(format!(
                    "--importance {importance}: expected low, normal, high or urgent"
                ))
            })?;
            let sent = mb
                .send_message(
                    &project,
                    &OutgoingMessage {
                        sender: from,
                        to,
                        cc: Vec::new(),
                        subject,
                        body_md: body,
                        importance,
                        ack_required: ack,
                        thread_id: thread,
                    },
                )
                .map_err(ExitError::from)?;
            out.print(&sent, || {
                say!("sent message {}", sent.id);
            })?;
            Ok(exit::SUCCESS)
        }
        MailAction::Inbox { agent, limit } => {
            let msgs = mb
                .fetch_inbox(
                    &project,
                    &agent,
                    &InboxQuery {
                        limit,
                        ..InboxQuery::default()
                    },
                )
                .map_err(ExitError::from)?;
            out.print(&msgs, || {
                if msgs.is_empty() {
                    say!("no messages");
                }
                for m in &msgs {
                    let ack = if m.ack_required { " [ack]" } else { "" };
                    say!(
                        "#{} {} from {} [{}]{ack}: {}",
                        m.id,
                        gaffer_core::time::format_rfc3339(&m.created_ts),
                        m.from,
                        m.importance.as_str(),
                        m.subject
                    );
                    if let Some(b) = &m.body_md {
                        for line in b.lines() {
                            say!("    {line}");
                        }
                    }
                }
            })?;
            Ok(exit::SUCCESS)
        }
        MailAction::Ack { agent, id } => {
            mb.acknowledge(&project, &agent, id)
                .map_err(ExitError::from)?;
            out.print(&json!({"acknowledged": id}), || {
                say!("acknowledged {id}");
            })?;
            Ok(exit::SUCCESS)
        }
        MailAction::Register {
            name,
            program,
            model,
            task,
        } => {
            let a = mb
                .register_agent(
                    &project,
                    &AgentRegistration {
                        name,
                        program,
                        model,
                        task_description: task,
                    },
                )
                .map_err(ExitError::from)?;
            out.print(&a, || {
                say!("{}", a.name);
            })?;
            Ok(exit::SUCCESS)
        }
        MailAction::Health => {
            let h = mb.health().map_err(ExitError::from)?;
            out.print(&h, || {
                say!("{} {} {}", h.status, h.backend, h.location);
            })?;
            Ok(exit::SUCCESS)
        }
    }
}
