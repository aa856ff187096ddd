//! `gaffer spawn` on a private tmux socket.

use gaffer_testkit::tmux::TmuxServer;
use std::process::Command;

#[test]
fn spawn_titles_panes_and_starts_agents() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let server = TmuxServer::new("spawn-cli");
    let socket = server.name.clone();
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args([
            "--json",
            "spawn",
            "--socket",
            &socket,
            "--session",
            "sp",
            "--cc",
            "2",
            "--agent",
            "cod:o3=sleep 60",
        ])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let titles: Vec<&str> = v["panes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(titles, ["sp__cc_1", "sp__cc_2", "sp__cod_1_o3"]);
    let listed = Command::new("tmux")
        .args([
            "-L",
            &socket,
            "list-panes",
            "-t",
            "=sp:",
            "-F",
            "#{pane_title}",
        ])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("sp__cod_1_o3"), "{listed}");
    // A second spawn of the same session is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["spawn", "--socket", &socket, "--session", "sp", "--cc", "1"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .output()
        .unwrap();
    assert_ne!(again.status.code(), Some(0));
    // No agents asked for is a usage error.
    let none = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["spawn", "--socket", &socket])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
}

/// Tried as a new user would: after `gaffer spawn --session try --sim`, `gaffer status` with no
/// flags finds that session on its socket, and the spawn's hint names the socket.
#[test]
fn status_finds_the_session_spawn_made_and_the_hint_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let _sim = gaffer_testkit::sim::binary();
    let server = TmuxServer::new("spawn-last");
    let socket = server.name.clone();
    let gaffer =
        |args: &[&str]| gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), dir.path(), args);
    let out = gaffer(&[
        "spawn",
        "--socket",
        &socket,
        "--session",
        "try",
        "--cc",
        "1",
        "--sim",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("gaffer status --session try --socket {socket}")),
        "the hint names the socket: {text}"
    );
    assert!(
        text.contains(&format!("tmux -L {socket} attach -t try")),
        "{text}"
    );
    // No flags: the session and socket of the last spawn.
    let ok = gaffer_testkit::wait_until(std::time::Duration::from_secs(15), || {
        let st = gaffer(&["--json", "status"]);
        st.status.code() == Some(0)
            && serde_json::from_slice::<serde_json::Value>(&st.stdout).is_ok_and(|v| {
                v["session"] == "try"
                    && v["agents"][0]["title"] == "try__cc_1"
                    && v["agents"][0]["status"] == "WAITING"
            })
    });
    let st = gaffer(&["status"]);
    assert!(
        ok,
        "{}{}",
        String::from_utf8_lossy(&st.stdout),
        String::from_utf8_lossy(&st.stderr)
    );
    // A session given by flag still wins, and a wrong one says where it looked.
    let other = gaffer(&["status", "--session", "nope", "--socket", &socket]);
    assert_eq!(other.status.code(), Some(5));
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(
        err.contains(&format!("not found on socket {socket}")),
        "{err}"
    );
}

/// Without a spawn record, a configured session or a flag, the only session on the server is
/// used (and named); with several, status lists them.
#[test]
fn the_only_session_on_the_server_is_used_and_several_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let server = TmuxServer::new("only-session");
    server.agent("solo", "solo__cc_1", "sleep 60");
    let gaffer =
        |args: &[&str]| gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), dir.path(), args);
    let out = gaffer(&["status", "--socket", &server.name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("using session solo, the only one on"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("solo__cc_1"));
    server.agent("duo", "duo__cc_1", "sleep 60");
    let out = gaffer(&["status", "--socket", &server.name]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("it has duo, solo") || err.contains("it has solo, duo"),
        "{err}"
    );
}
