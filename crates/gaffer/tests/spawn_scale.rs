//! `gaffer spawn` at scale on a private tmux server: 64 simulated agents over 16 windows, all
//! seen WAITING by `gaffer status`; and what an exited agent leaves (a dead pane, or a shell
//! with `--keep-shell`), both read EXITED.

use gaffer_testkit::tmux::{TmuxServer, process_tree};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn gaffer(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .arg("--project")
        .arg(project)
        .args(args)
        .env("XDG_CONFIG_HOME", project.join("xdg"))
        .output()
        .expect("gaffer runs")
}

/// `gaffer status --json`: the agents' statuses by title.
fn statuses(project: &Path, socket: &str, session: &str) -> Vec<(String, String)> {
    let out = gaffer(
        project,
        &["--json", "status", "--socket", socket, "--session", session],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["title"].as_str().unwrap_or("").to_string(),
                        x["status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// CPU seconds (user + system, with waited-for children) of `pids`, from `/proc`.
fn cpu_seconds(pids: &[i32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // after `pid (comm)`: state is field 3, utime 14 … cstime 17 (1-based)
            let f = |i: usize| rest.get(i - 3).and_then(|v| v.parse::<f64>().ok());
            Some(f(14)? + f(15)? + f(16)? + f(17)?)
        })
        .sum::<f64>()
        / tick
}

/// CPU seconds of this process's waited-for children (the gaffer commands run so far).
fn children_cpu() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage only writes it.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a valid rusage to write.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(r.ru_utime) + tv(r.ru_stime)
}

#[test]
fn sixty_four_sim_agents_over_sixteen_windows_all_waiting() {
    // `--sim` starts the gaffer-sim next to the gaffer binary.
    gaffer_testkit::sim::binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path();
    let server = TmuxServer::new("scale");
    let socket = server.name.clone();
    let cpu_before = children_cpu();
    let started = Instant::now();
    let out = gaffer(
        project,
        &[
            "--json",
            "spawn",
            "--socket",
            &socket,
            "--session",
            "big",
            "--cc",
            "32",
            "--cod",
            "16",
            "--gmi",
            "16",
            "--sim",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spawned = started.elapsed();
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["windows"], 16, "{v}");
    assert_eq!(v["panes"].as_array().map(Vec::len), Some(64));
    // Four tiled panes per window, each a usable size (the 200×50 window in quarters).
    let layout = server.run(&[
        "list-panes",
        "-s",
        "-t",
        "=big",
        "-F",
        "#{window_index} #{pane_width} #{pane_height}",
    ]);
    let rows: Vec<Vec<u32>> = layout
        .lines()
        .map(|l| l.split(' ').filter_map(|x| x.parse().ok()).collect())
        .collect();
    assert_eq!(rows.len(), 64);
    for w in 0..16 {
        assert_eq!(rows.iter().filter(|r| r[0] == w).count(), 4, "{layout}");
    }
    assert!(rows.iter().all(|r| r[1] >= 99 && r[2] >= 24), "{layout}");
    // Every agent comes up WAITING: no pane is left at a bare shell.
    let deadline = Duration::from_secs(240);
    let mut last = Vec::new();
    let mut polls = 0;
    while started.elapsed() < deadline {
        last = statuses(project, &socket, "big");
        polls += 1;
        if last.len() == 64 && last.iter().all(|(_, s)| s == "WAITING") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let all_waiting = started.elapsed();
    let not_waiting: Vec<&(String, String)> = last.iter().filter(|(_, s)| s != "WAITING").collect();
    assert!(
        last.len() == 64 && not_waiting.is_empty(),
        "after {all_waiting:?}: {} agents, not waiting: {not_waiting:?}",
        last.len()
    );
    let server_pid: i32 = server
        .run(&["display-message", "-p", "#{pid}"])
        .trim()
        .parse()
        .expect("tmux pid");
    let agents_cpu = cpu_seconds(&process_tree(server_pid));
    let gaffer_cpu = children_cpu() - cpu_before;
    println!(
        "spawn_scale: 64 agents in 16 windows; spawn {:.2} s, all WAITING after {:.1} s \
         ({polls} status polls); CPU: tmux + agents {agents_cpu:.1} s, gaffer (spawn + status) \
         {gaffer_cpu:.1} s, total {:.1} s over {:.1} s wall on {} cores",
        spawned.as_secs_f64(),
        all_waiting.as_secs_f64(),
        agents_cpu + gaffer_cpu,
        all_waiting.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
}

#[test]
fn an_exited_agent_reads_exited_with_or_without_a_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path();
    let server = TmuxServer::new("keepshell");
    let socket = server.name.clone();
    let stop = project.join("stop");
    // An agent that runs until the test lets it exit.
    let cmd = format!(
        "cc=echo running; while [ ! -e '{}' ]; do sleep 0.1; done",
        stop.display()
    );
    for (session, keep) in [("dead", "--keep-shell=false"), ("shell", "--keep-shell")] {
        let out = gaffer(
            project,
            &[
                "spawn",
                "--socket",
                &socket,
                "--session",
                session,
                "--cc",
                "1",
                "--cmd",
                &cmd,
                keep,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pane_state = |session: &str| {
        server.run(&[
            "list-panes",
            "-t",
            &format!("={session}:"),
            "-F",
            "#{pane_dead} #{pane_current_command}",
        ])
    };
    // While it runs, neither is EXITED, and the pane's command is the agent's (not `sh`).
    let started = Instant::now();
    while !(pane_state("dead").trim() == "0 sleep" && pane_state("shell").trim() == "0 sleep") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} / {}",
            pane_state("dead"),
            pane_state("shell")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for session in ["dead", "shell"] {
        let st = statuses(project, &socket, session);
        assert_eq!(st.len(), 1, "{st:?}");
        assert_ne!(st[0].1, "EXITED", "{session}: {st:?}");
    }
    std::fs::write(&stop, "").expect("stop file");
    for session in ["dead", "shell"] {
        let started = Instant::now();
        loop {
            let st = statuses(project, &socket, session);
            if st.len() == 1 && st[0].1 == "EXITED" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{session}: {st:?}, pane {}",
                pane_state(session)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The dead pane is kept dead; the other is a live shell.
    assert!(
        pane_state("dead").starts_with("1 "),
        "{}",
        pane_state("dead")
    );
    let shell = pane_state("shell");
    assert!(shell.starts_with("0 "), "{shell}");
    let cmd = shell.trim().trim_start_matches("0 ");
    assert!(gaffer_core::detect::is_shell_command(cmd), "{shell}");
}
