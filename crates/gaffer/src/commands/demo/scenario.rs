//! The demo's scenario, as data: the beads project, what each simulated agent does, the
//! coordinator's config, and the command line of each agent.

use gaffer_core::time::Timestamp;
use gaffer_tmux::spawn::{AgentSpec, shell_quote};
use serde_json::{Value, json};
use std::path::Path;

/// The tmux session the demo creates (on its private socket).
pub const SESSION: &str = "demo";

/// One bead of the demo project: id, type, priority, title, description, blockers.
pub struct Bead {
    /// The bead id.
    pub id: &'static str,
    /// `epic` or `task`.
    pub kind: &'static str,
    /// 0 (highest) to 4.
    pub priority: i64,
    /// The title.
    pub title: &'static str,
    /// The description.
    pub description: &'static str,
    /// The beads it waits for.
    pub blocked_by: &'static [&'static str],
}

pub const BEADS: &[Bead] = &[
    Bead {
        id: "dm-1",
        kind: "epic",
        priority: 1,
        title: "Ship the notes service",
        description: "A small notes service: model, storage, HTTP API, search, docs.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-2",
        kind: "task",
        priority: 1,
        title: "Define the note model in src/model.rs",
        description: "Note { id, title, body, tags } with serde.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-3",
        kind: "task",
        priority: 1,
        title: "Set up the HTTP router in src/api/router.rs",
        description: "Routes for /notes; health check.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-4",
        kind: "task",
        priority: 1,
        title: "Write the storage layer in src/store.rs",
        description: "An in-memory store behind a trait.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-5",
        kind: "task",
        priority: 2,
        title: "Add the command-line entry point in src/main.rs",
        description: "Parse --port and start the server.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-6",
        kind: "task",
        priority: 1,
        title: "Add the note handlers in src/api/notes.rs",
        description: "Create, read, list and delete notes.",
        blocked_by: &["dm-2", "dm-3"],
    },
    Bead {
        id: "dm-7",
        kind: "task",
        priority: 2,
        title: "Persist notes to disk in src/persist.rs",
        description: "JSON files, written atomically.",
        blocked_by: &["dm-2", "dm-4"],
    },
    Bead {
        id: "dm-8",
        kind: "task",
        priority: 2,
        title: "Validate input in src/validate.rs",
        description: "Titles 1..200 chars; tags lowercase.",
        blocked_by: &["dm-2"],
    },
    Bead {
        id: "dm-9",
        kind: "task",
        priority: 2,
        title: "Add full-text search in src/search.rs",
        description: "A tiny inverted index over title and body.",
        blocked_by: &["dm-7"],
    },
    Bead {
        id: "dm-10",
        kind: "task",
        priority: 3,
        title: "Document the API in docs/api.md",
        description: "Every route with an example.",
        blocked_by: &["dm-6"],
    },
    Bead {
        id: "dm-11",
        kind: "task",
        priority: 2,
        title: "Write the integration tests in tests/api.rs",
        description: "Round-trip every route.",
        blocked_by: &["dm-6", "dm-7"],
    },
    Bead {
        id: "dm-12",
        kind: "task",
        priority: 3,
        title: "Write the release notes in CHANGELOG.md",
        description: "What 0.1 does.",
        blocked_by: &["dm-9", "dm-10", "dm-11"],
    },
];

/// The beads file of the demo project (JSONL, one issue a line).
pub fn beads_jsonl(now: Timestamp) -> String {
    let created = gaffer_core::time::format_rfc3339(&(now - chrono::Duration::hours(1)));
    let mut out = String::new();
    for b in BEADS {
        let mut deps: Vec<Value> = b
            .blocked_by
            .iter()
            .map(|d| {
                json!({"issue_id": b.id, "depends_on_id": d, "type": "blocks",
                       "created_at": created, "created_by": "demo"})
            })
            .collect();
        if b.kind != "epic" {
            deps.push(
                json!({"issue_id": b.id, "depends_on_id": "dm-1", "type": "parent-child",
                             "created_at": created, "created_by": "demo"}),
            );
        }
        let line = json!({
            "id": b.id,
            "title": b.title,
            "description": b.description,
            "status": "open",
            "priority": b.priority,
            "issue_type": b.kind,
            "created_at": created,
            "updated_at": created,
            "dependencies": deps,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// The demo's tasks (every bead but the epic).
pub fn task_ids() -> Vec<&'static str> {
    BEADS
        .iter()
        .filter(|b| b.kind != "epic")
        .map(|b| b.id)
        .collect()
}

/// What each simulated agent does.
pub struct AgentPlan {
    /// The agent kind (`cc`, `cod`, `gmi`).
    pub agent_type: &'static str,
    /// gaffer-sim's script (empty: none).
    pub script: &'static str,
    /// Extra gaffer-sim flags for its first state.
    pub start: &'static str,
    /// Tests that fail in each run it reports.
    pub failing_tests: u32,
}

pub const PLANS: &[AgentPlan] = &[
    // Claude 1 and Codex 1 both decide to touch the API on their first task: overlapping
    // reservations they make themselves, released when their turn ends.
    AgentPlan {
        agent_type: "cc",
        script: "waiting\nreserve src/api/**\ngenerating 5\nrelease src/api/**\n",
        start: "",
        failing_tests: 0,
    },
    AgentPlan {
        agent_type: "cc",
        script: "",
        start: "",
        failing_tests: 0,
    },
    AgentPlan {
        agent_type: "cod",
        script: "waiting\nreserve src/api/router.rs\ngenerating 5\nrelease src/api/router.rs\n",
        start: "",
        failing_tests: 1,
    },
    // Gemini is busy with its own work, hits its usage limit, and recovers 12 s later.
    AgentPlan {
        agent_type: "gmi",
        script: "rate-limited 12\n",
        start: "--start-state generating --start-secs 3",
        failing_tests: 0,
    },
];

/// The coordinator's config for the demo: fast polling, auto-assign, digests to `human`,
/// conflicts notified and negotiated.
pub fn config_toml(socket: &str, human: &str) -> String {
    format!(
        "[tmux]\nsocket_name = \"{socket}\"\nsession = \"{SESSION}\"\n\n\
         [coordinator]\npoll_interval = \"500ms\"\nidle_threshold = 2.0\n\
         digest_interval = \"10s\"\nauto_assign = true\nsend_digests = true\n\
         conflict_notify = true\nconflict_negotiate = true\nhuman_agent = \"{human}\"\n"
    )
}

/// Where the agents run and what they call back.
pub struct AgentEnv<'a> {
    /// The gaffer-sim executable.
    pub sim: &'a Path,
    /// This gaffer executable.
    pub gaffer: &'a Path,
    /// The demo project.
    pub dir: &'a Path,
    /// `--mail-url` for the agents' `gaffer mail` calls.
    pub mail_url: Option<&'a str>,
}

/// The spawn spec of each agent of [`PLANS`]; writes each agent's script under
/// `.gaffer/demo/`.
pub fn agent_specs(env: &AgentEnv<'_>) -> std::io::Result<Vec<AgentSpec>> {
    let dir = env.dir;
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let gaffer = format!("{} --project {}", q(env.gaffer), q(dir));
    let mail_flag = env
        .mail_url
        .map(|u| format!(" --mail-url {}", shell_quote(u)))
        .unwrap_or_default();
    let mut specs = Vec::new();
    for (i, plan) in PLANS.iter().enumerate() {
        let script = dir.join(format!(".gaffer/demo/agent{i}.script"));
        std::fs::write(&script, plan.script)?;
        let log = |what: &str| q(&dir.join(format!(".gaffer/demo/agent{i}.{what}")));
        let mut cmd = format!(
            "{} --agent {} --work-secs 2.5 {} --log {} --state-log {} --cmd-log {} \
             --failing-tests {}",
            q(env.sim),
            plan.agent_type,
            plan.start,
            log("prompts.jsonl"),
            log("states.jsonl"),
            log("commands.jsonl"),
            plan.failing_tests,
        );
        if !plan.script.is_empty() {
            cmd.push_str(&format!(" --script {}", q(&script)));
        }
        // Report first (the coordinator would take a long silence for a stall), then the tests.
        let on_done = [
            format!("{gaffer} done {{bead}} --reason 'finished in the demo'"),
            format!(
                "{gaffer} quality record-tests --agent {{pane}} --package demo \
                 --passed {{passed}} --failed {{failed}}"
            ),
        ];
        for c in on_done {
            cmd.push_str(&format!(" --on-done {}", shell_quote(&c)));
        }
        cmd.push_str(&format!(
            " --reserve-cmd {} --release-cmd {}",
            shell_quote(&format!(
                "{gaffer} mail{mail_flag} reserve --agent {{name}} --ttl 600 --reason demo {{pattern}}"
            )),
            shell_quote(&format!(
                "{gaffer} mail{mail_flag} release --agent {{name}} {{pattern}}"
            )),
        ));
        specs.push(AgentSpec {
            agent_type: plan.agent_type.to_string(),
            variant: None,
            command: cmd,
        });
    }
    Ok(specs)
}
