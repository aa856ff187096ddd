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
