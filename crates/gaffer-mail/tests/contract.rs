//! One contract suite for the `Mailbox` port, run against the embedded SQLite mailbox and
//! against the real Agent Mail server (started by scripts/agentmail.sh).

mod common;

use chrono::Utc;
use gaffer_core::conflicts::ConflictDetector;
use gaffer_core::mailbox::*;
use gaffer_mail::{EmbeddedMailbox, McpMailbox, McpOptions};
use std::time::Duration;

fn reserve(
    mb: &dyn Mailbox,
    project: &str,
    agent: &str,
    paths: &[&str],
    exclusive: bool,
    ttl: u64,
) -> ReserveResult {
    mb.reserve_paths(
        project,
        &ReserveRequest {
            agent: agent.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            ttl: Duration::from_secs(ttl),
            exclusive,
            reason: "contract".into(),
        },
    )
    .expect("reserve")
}

fn register(mb: &dyn Mailbox, project: &str, name: Option<&str>) -> AgentInfo {
    mb.register_agent(
        project,
        &AgentRegistration {
            name: name.map(str::to_string),
            program: "gaffer-test".into(),
            model: "none".into(),
            task_description: "contract".into(),
        },
    )
    .expect("register")
}

/// The contract every backend must meet.
fn contract(mb: &dyn Mailbox, project: &str) {
    // health and project
    assert_eq!(mb.health().expect("health").status, "ok");
    let p = mb.ensure_project(project).expect("ensure_project");
    assert_eq!(p.human_key, project);
    assert!(!p.slug.is_empty());
    assert_eq!(
        mb.ensure_project(project).expect("again").id,
        p.id,
        "idempotent"
    );

    // agents: given names kept, a generated one is adjective+noun
    let green = register(mb, project, Some("GreenCastle")).name;
    assert_eq!(green, "GreenCastle");
    let blue = register(mb, project, Some("BlueLake")).name;
    assert_eq!(blue, "BlueLake");
    let third = register(mb, project, None).name;
    assert!(is_valid_agent_name(&third), "generated {third}");
    let renamed = register(mb, project, Some("worker-1")).name;
    assert_ne!(renamed, "worker-1", "invalid names are replaced");
    assert!(is_valid_agent_name(&renamed));

    // reservations: advisory, exclusive/shared, conflicts with holders
    let r = reserve(mb, project, &green, &["src/*.rs"], true, 600);
    assert_eq!(r.granted.len(), 1);
    assert!(r.conflicts.is_empty());
    assert_eq!(r.granted[0].path_pattern, "src/*.rs");
    assert!(r.granted[0].exclusive);
    let r = reserve(mb, project, &blue, &["src/lib.rs"], true, 600);
    assert_eq!(r.granted.len(), 1, "a conflicting request is still granted");
    assert_eq!(r.conflicts.len(), 1);
    assert_eq!(r.conflicts[0].path, "src/lib.rs");
    assert_eq!(r.conflicts[0].holders[0].agent_name, green);
    assert_eq!(r.conflicts[0].holders[0].path_pattern, "src/*.rs");
    let r = reserve(mb, project, &blue, &["docs/**"], false, 600);
    assert!(r.conflicts.is_empty(), "no overlap, no conflict");
    let r = reserve(mb, project, &third, &["docs/**"], false, 600);
    assert!(r.conflicts.is_empty(), "shared with shared never conflicts");
    let r = reserve(mb, project, &green, &["src/main.rs"], true, 600);
    assert!(r.conflicts.is_empty(), "own reservations never conflict");

    let all = mb.list_reservations(project, None, true).expect("list");
    assert_eq!(all.len(), 5, "{all:?}");
    let blues = mb
        .list_reservations(project, Some(&blue), true)
        .expect("list");
    assert_eq!(blues.len(), 2);
    assert!(blues.iter().all(|r| r.agent_name == blue));

    // conflict detection over the mailbox, by true overlap
    let det = ConflictDetector::new(mb, project);
    let cs = det.detect_conflicts(Utc::now()).expect("detect");
    let c = cs
        .iter()
        .find(|c| c.conflict.pattern == "src/*.rs & src/lib.rs")
        .unwrap_or_else(|| panic!("conflict missing: {cs:?}"));
    let names: Vec<&str> = c
        .conflict
        .holders
        .iter()
        .map(|h| h.agent_name.as_str())
        .collect();
    assert_eq!(names, [blue.as_str(), green.as_str()]);
    assert_eq!(c.overlap, "src/lib.rs");
    assert_eq!(cs.len(), 1, "{cs:?}");
    let pc = det
        .check_path_conflict("src/main.rs", &blue, Utc::now())
        .expect("check")
        .expect("held by green");
    assert_eq!(pc.conflict.holders[0].agent_name, green);

    // messages
    let sent = mb
        .send_message(
            project,
            &OutgoingMessage {
                sender: green.clone(),
                to: vec![blue.clone()],
                cc: vec![],
                subject: "hold src".into(),
                body_md: "I hold *src/*.rs*".into(),
                importance: Importance::High,
                ack_required: true,
                thread_id: Some("TASK-1".into()),
            },
        )
        .expect("send");
    assert!(sent.id > 0);
    let inbox = mb
        .fetch_inbox(project, &blue, &InboxQuery::default())
        .expect("inbox");
    let m = inbox.iter().find(|m| m.id == sent.id).expect("delivered");
    assert_eq!(m.from, green);
    assert_eq!(m.subject, "hold src");
    assert_eq!(m.body_md.as_deref(), Some("I hold *src/*.rs*"));
    assert_eq!(m.importance, Importance::High);
    assert!(m.ack_required);
    assert_eq!(m.thread_id.as_deref(), Some("TASK-1"));
    assert_eq!(m.kind, "to");
    let own = mb
        .fetch_inbox(project, &green, &InboxQuery::default())
        .expect("inbox");
    assert!(
        own.iter().all(|m| m.id != sent.id),
        "the sender's inbox lacks it"
    );
    let urgent = mb
        .fetch_inbox(
            project,
            &blue,
            &InboxQuery {
                urgent_only: true,
                ..InboxQuery::default()
            },
        )
        .expect("urgent inbox");
    assert!(
        urgent.iter().any(|m| m.id == sent.id),
        "high counts as urgent"
    );
    let reply = mb
        .send_message(
            project,
            &OutgoingMessage {
                sender: blue.clone(),
                to: vec![green.clone()],
                subject: "Re: hold src".into(),
                body_md: "ok".into(),
                thread_id: Some("TASK-1".into()),
                ..OutgoingMessage::default()
            },
        )
        .expect("reply");
    let inbox = mb
        .fetch_inbox(project, &green, &InboxQuery::default())
        .expect("inbox");
    let r = inbox
        .iter()
        .find(|m| m.id == reply.id)
        .expect("reply delivered");
    assert_eq!(r.importance, Importance::Normal);
    assert!(!r.ack_required);
    assert_eq!(r.thread_id.as_deref(), Some("TASK-1"));
    mb.mark_read(project, &blue, sent.id).expect("mark read");
    mb.acknowledge(project, &blue, sent.id).expect("ack");
    mb.acknowledge(project, &blue, sent.id)
        .expect("ack is idempotent");

    // renew, release
    let before = mb
        .list_reservations(project, Some(&green), true)
        .expect("list");
    let n = mb
        .renew(project, &green, &[], Duration::from_secs(300))
        .expect("renew");
    assert_eq!(n, 2);
    let after = mb
        .list_reservations(project, Some(&green), true)
        .expect("list");
    for (b, a) in before.iter().zip(&after) {
        assert!(a.expires_ts > b.expires_ts, "renew extends");
    }
    assert_eq!(mb.release(project, &blue, &[]).expect("release all"), 2);
    assert_eq!(
        mb.release(project, &green, &["src/*.rs".to_string()])
            .expect("release one"),
        1
    );
    let left = mb.list_reservations(project, None, true).expect("list");
    let pats: Vec<&str> = left.iter().map(|r| r.path_pattern.as_str()).collect();
    assert_eq!(left.len(), 2, "{pats:?}");
    let with_released = mb.list_reservations(project, None, false).expect("list");
    assert!(with_released.iter().any(|r| r.released_ts.is_some()));

    // TTL: a 1 s reservation lapses
    reserve(mb, project, &third, &["tmp/x.txt"], true, 1);
    std::thread::sleep(Duration::from_millis(2500));
    let left = mb.list_reservations(project, None, true).expect("list");
    assert!(
        left.iter().all(|r| r.path_pattern != "tmp/x.txt"),
        "{left:?}"
    );

    // typed errors
    let e = mb
        .fetch_inbox(project, "NoSuchAgent", &InboxQuery::default())
        .unwrap_err();
    assert!(matches!(e, MailError::NotFound(_)), "{e:?}");
    let e = mb.acknowledge(project, &blue, 987_654).unwrap_err();
    assert!(matches!(e, MailError::NotFound(_)), "{e:?}");
    let e = mb
        .list_reservations("/no/such/project/anywhere", None, true)
        .unwrap_err();
    assert!(matches!(e, MailError::NotFound(_)), "{e:?}");
}

#[test]
fn contract_embedded() {
    let dir = common::project_dir();
    let mb = EmbeddedMailbox::open_project(dir.path()).expect("open");
    assert!(dir.path().join(".gaffer/state.db").exists());
    contract(&mb, &dir.path().display().to_string());
    // state survives reopening
    drop(mb);
    let mb = EmbeddedMailbox::open_project(dir.path()).expect("reopen");
    let n = mb
        .list_reservations(&dir.path().display().to_string(), None, false)
        .expect("list")
        .len();
    assert!(n >= 6);
}

#[test]
fn contract_real_server() {
    let Some(server) = common::RealServer::start() else {
        return;
    };
    let mb = McpMailbox::new(&server.url, None, McpOptions::default());
    let dir = common::project_dir();
    contract(&mb, &dir.path().display().to_string());
    assert!(mb.is_available());
}

#[test]
fn embedded_is_safe_under_concurrent_writers() {
    let dir = common::project_dir();
    let project = dir.path().display().to_string();
    let first = EmbeddedMailbox::open_project(dir.path()).expect("open");
    first.ensure_project(&project).expect("project");
    let names: Vec<String> = (0..6)
        .map(|_| register(&first, &project, None).name)
        .collect();
    let threads: Vec<_> = names
        .iter()
        .cloned()
        .map(|name| {
            let (root, project) = (dir.path().to_path_buf(), project.clone());
            std::thread::spawn(move || {
                // each writer has its own connection, as separate processes would
                let mb = EmbeddedMailbox::open_project(&root).expect("open");
                for i in 0..15 {
                    reserve(
                        &mb,
                        &project,
                        &name,
                        &[&format!("src/{name}/{i}.rs")],
                        true,
                        600,
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer");
    }
    let all = first.list_reservations(&project, None, true).expect("list");
    assert_eq!(all.len(), 6 * 15);
    let det = ConflictDetector::new(&first, project.clone());
    assert!(det.detect_conflicts(Utc::now()).expect("detect").is_empty());
}
