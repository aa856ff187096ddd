//! `gaffer spawn` on a private tmux server: titled panes running the given commands, seen by
//! `gaffer status`.

use gaffer_testkit::tmux::TmuxServer;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn spawn_makes_titled_agent_panes() {
    let sim = gaffer_testkit::sim::binary();
    let server = TmuxServer::new("spawn");
    let socket = server.name.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let gaffer = env!("CARGO_BIN_EXE_gaffer");
    let out = Command::new(gaffer)
        .arg("--project")
        .arg(dir.path())
        .args(["--json", "spawn", "--socket", &socket, "--session", "sp"])
        .args(["--cc", "2", "--gmi", "1"])
        .arg("--cmd")
        .arg(format!("cc={} --agent cc", sim.display()))
        .arg("--cmd")
        .arg(format!("gmi={} --agent gmi", sim.display()))
        .output()
        .expect("gaffer runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let titles: Vec<&str> = v["panes"]
        .as_array()
        .expect("panes")
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(titles, ["sp__cc_1", "sp__cc_2", "sp__gmi_1"]);
    // The agents come up and gaffer sees them waiting.
    let started = Instant::now();
    loop {
        let st = Command::new(gaffer)
            .arg("--project")
            .arg(dir.path())
            .args(["--json", "status", "--socket", &socket, "--session", "sp"])
            .output()
            .expect("gaffer runs");
        let text = String::from_utf8_lossy(&st.stdout).to_string();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let waiting = v["agents"]
            .as_array()
            .map(|a| a.iter().filter(|x| x["status"] == "WAITING").count())
            .unwrap_or(0);
        if waiting == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "agents not waiting: {text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The same session again is refused; nothing to spawn is a usage error.
    let again = Command::new(gaffer)
        .arg("--project")
        .arg(dir.path())
        .args(["spawn", "--socket", &socket, "--session", "sp", "--cc", "1"])
        .output()
        .expect("gaffer runs");
    assert_eq!(again.status.code(), Some(4));
    let none = Command::new(gaffer)
        .args(["spawn", "--socket", &socket, "--session", "x"])
        .output()
        .expect("gaffer runs");
    assert_eq!(none.status.code(), Some(2));
}
