//! `gaffer mail …` end to end: the embedded mailbox by default, the real server with
//! `--mail-url`, typed exit codes for missing agents and dead servers.

use gaffer_core::exit;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn gaffer(dir: &Path, url: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gaffer"));
    c.args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("HOME", dir)
        .env_remove("AGENT_MAIL_URL")
        .env_remove("AGENT_MAIL_TOKEN");
    if let Some(u) = url {
        c.env("AGENT_MAIL_URL", u);
    }
    c.output().expect("gaffer runs")
}

fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.code() == Some(exit::SUCCESS) || o.status.code() == Some(exit::FAILURE),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn scenario(dir: &Path, url: Option<&str>) {
    let g = |args: &[&str]| gaffer(dir, url, args);
    let a = ok_json(&g(&[
        "--json",
        "mail",
        "register",
        "--name",
        "GreenCastle",
        "--program",
        "cc",
        "--model",
        "m",
    ]));
    assert_eq!(a["name"], "GreenCastle");
    let b = ok_json(&g(&[
        "--json",
        "mail",
        "register",
        "--name",
        "BlueLake",
        "--program",
        "cod",
        "--model",
        "m",
    ]));
    assert_eq!(b["name"], "BlueLake");
    let generated = ok_json(&g(&[
        "--json",
        "mail",
        "register",
        "--program",
        "gmi",
        "--model",
        "m",
    ]));
    assert!(generated["name"].as_str().is_some_and(|n| !n.is_empty()));

    let out = g(&[
        "--json",
        "mail",
        "reserve",
        "--agent",
        "GreenCastle",
        "--reason",
        "parser",
        "src/**",
    ]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    let out = g(&[
        "--json", "mail", "reserve", "--agent", "BlueLake", "src/a.rs",
    ]);
    assert_eq!(out.status.code(), Some(exit::FAILURE), "a clash exits 1");
    let r = ok_json(&out);
    assert_eq!(r["granted"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["conflicts"][0]["holders"][0]["agent_name"], "GreenCastle");
    let out = g(&[
        "--json",
        "mail",
        "reserve",
        "--agent",
        "BlueLake",
        "--shared",
        "docs/*.md",
    ]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS));

    let out = g(&["--json", "mail", "conflicts"]);
    assert_eq!(
        out.status.code(),
        Some(exit::FAILURE),
        "conflicts present exit 1"
    );
    let cs = ok_json(&out);
    let cs = cs.as_array().expect("list");
    assert_eq!(cs.len(), 1, "{cs:?}");
    let c = &cs[0];
    assert!(c["id"].as_str().is_some_and(|i| i.starts_with("conflict-")));
    assert_eq!(c["pattern"], "src/** & src/a.rs");
    assert_eq!(c["overlap"], "src/a.rs");
    let names: Vec<&str> = c["holders"]
        .as_array()
        .expect("holders")
        .iter()
        .filter_map(|h| h["agent_name"].as_str())
        .collect();
    assert_eq!(names, ["BlueLake", "GreenCastle"]);
    // ids are stable across runs
    let again = ok_json(&g(&["--json", "mail", "conflicts"]));
    assert_eq!(again[0]["id"], c["id"]);

    let rs = ok_json(&g(&[
        "--json",
        "mail",
        "reservations",
        "--agent",
        "BlueLake",
    ]));
    assert_eq!(rs.as_array().map(Vec::len), Some(2));

    let sent = ok_json(&g(&[
        "--json",
        "mail",
        "send",
        "--from",
        "GreenCastle",
        "--to",
        "BlueLake",
        "--subject",
        "hold",
        "--body",
        "mine for now",
        "--importance",
        "urgent",
        "--ack",
        "--thread",
        "T-1",
    ]));
    let id = sent["id"].as_i64().expect("id");
    let inbox = ok_json(&g(&["--json", "mail", "inbox", "--agent", "BlueLake"]));
    let m = inbox
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"].as_i64() == Some(id)))
        .expect("delivered");
    assert_eq!(m["from"], "GreenCastle");
    assert_eq!(m["importance"], "urgent");
    assert_eq!(m["ack_required"], true);
    assert_eq!(m["body_md"], "mine for now");
    let ack = ok_json(&g(&[
        "--json",
        "mail",
        "ack",
        "--agent",
        "BlueLake",
        &id.to_string(),
    ]));
    assert_eq!(ack["acknowledged"], id);

    let rel = ok_json(&g(&[
        "--json", "mail", "release", "--agent", "BlueLake", "src/a.rs",
    ]));
    assert_eq!(rel["released"], 1);
    let out = g(&["--json", "mail", "conflicts"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    assert_eq!(ok_json(&out), serde_json::json!([]));

    let out = g(&["--json", "mail", "inbox", "--agent", "NoSuchAgent"]);
    assert_eq!(out.status.code(), Some(exit::NOT_FOUND));
    let e: Value = serde_json::from_slice(&out.stderr).expect("JSON error");
    assert_eq!(e["error"]["kind"], "not_found");
}

#[test]
fn mail_commands_on_the_embedded_mailbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".git")).expect("marker");
    scenario(dir.path(), None);
    assert!(dir.path().join(".gaffer/state.db").exists());
}

#[test]
fn dead_server_is_unavailable_and_conflicts_are_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp/");
    for args in [
        &["--json", "mail", "conflicts"][..],
        &["--json", "mail", "check", "src/a.rs"][..],
        &["--json", "mail", "--mail-url", &url, "reservations"][..],
    ] {
        let out = gaffer(dir.path(), Some(&url), args);
        assert_eq!(out.status.code(), Some(exit::UNAVAILABLE), "{args:?}");
        let e: Value = serde_json::from_slice(&out.stderr).expect("JSON error");
        assert_eq!(e["error"]["code"], exit::UNAVAILABLE);
    }
    assert!(
        !dir.path().join(".gaffer/state.db").exists(),
        "no silent fallback"
    );
}

#[test]
fn mail_commands_on_the_real_server() {
    let Some(server) = gaffer_testkit::agentmail::AgentMail::start() else {
        return;
    };
    let url = server.url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".git")).expect("marker");
    scenario(dir.path(), Some(&url));
    assert!(
        !dir.path().join(".gaffer/state.db").exists(),
        "the server was used"
    );
    drop(server);
}
