//! The adapter against a real tmux server on a private socket.

mod common;

use common::{Server, q, sim_binary, wait_until};
use gaffer_core::panes::{DeliveryOptions, DeliveryOutcome, ObserveMode, Panes, ProbeResult};
use gaffer_tmux::spawn::{AgentSpec, Layout, spawn};
use gaffer_tmux::{TmuxOptions, TmuxPanes};
use std::time::Duration;

fn polling(server: &Server, session: Option<&str>) -> TmuxPanes {
    let mut o = TmuxOptions::new(server.socket(), session.map(String::from));
    o.control_mode = false;
    TmuxPanes::new(o)
}

#[test]
fn one_listing_and_one_batch_per_cycle() {
    let s = Server::new("poll");
    let a = s.session("p", "sh -c 'echo alpha; exec sleep 600'");
    let b = s.split("p", "sh -c 'echo beta; exec sleep 600'");
    let c = s.split("p", "sh -c 'echo gamma; exec sleep 600'");
    s.title(&a, "p__cc_1");
    s.title(&b, "p__cod_1");
    s.title(&c, "p__gmi_1");
    let panes = polling(&s, Some("p"));
    assert!(wait_until(Duration::from_secs(10), || {
        panes
            .capture(&[a.clone(), b.clone(), c.clone()])
            .map(|v| {
                let all: String = v.iter().map(|(_, t)| t.as_str()).collect();
                all.contains("alpha") && all.contains("beta") && all.contains("gamma")
            })
            .unwrap_or(false)
    }));
    let before = panes.tmux().processes_spawned();
    let snap = panes.observe().unwrap();
    assert_eq!(
        panes.tmux().processes_spawned() - before,
        2,
        "list + one batch"
    );
    assert_eq!(snap.mode, ObserveMode::Polling);
    assert_eq!(snap.panes.len(), 3);
    let by = |id: &str| snap.panes.iter().find(|p| p.info.pane_id == id).unwrap();
    assert!(by(&a).screen.contains("alpha"));
    assert!(by(&b).screen.contains("beta"));
    assert!(by(&c).screen.contains("gamma"));
    assert_eq!(by(&a).info.agent_type, "cc");
    assert_eq!(by(&b).info.agent_type, "cod");
    assert!(by(&a).content_changed);
    // Quiet panes: once a second has passed since the capture, nothing is captured again.
    std::thread::sleep(Duration::from_millis(1100));
    let _ = panes.observe().unwrap();
    let before = panes.tmux().processes_spawned();
    let snap2 = panes.observe().unwrap();
    assert_eq!(panes.tmux().processes_spawned() - before, 1, "list only");
    assert!(
        snap2
            .panes
            .iter()
            .all(|p| !p.captured && !p.content_changed)
    );
    assert!(snap2.panes.iter().any(|p| p.screen.contains("beta")));
    // The activity clock did not move for quiet panes.
    assert_eq!(by(&a).last_change, snap2.panes[0].last_change);
}

#[test]
fn batched_capture_survives_a_vanished_pane() {
    let s = Server::new("vanish");
    let a = s.session("v", "sh -c 'echo one; exec sleep 600'");
    let b = s.split("v", "sh -c 'echo two; exec sleep 600'");
    let panes = polling(&s, Some("v"));
    assert!(wait_until(Duration::from_secs(10), || {
        panes
            .capture_batch(&[a.clone(), b.clone()])
            .map(|v| v.len() == 2 && v[0].screen.contains("one") && v[1].screen.contains("two"))
            .unwrap_or(false)
    }));
    let caps = panes
        .capture_batch(&[a.clone(), "%999".into(), b.clone()])
        .unwrap();
    let ids: Vec<&str> = caps.iter().map(|c| c.pane_id.as_str()).collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str()]);
    assert!(caps[0].screen.contains("one"));
}

#[test]
fn control_mode_steady_state_spawns_nothing_and_sees_output() {
    let s = Server::new("ctl");
    let a = s.session("c", "sh");
    s.title(&a, "c__cc_1");
    let panes = TmuxPanes::new(TmuxOptions::new(s.socket(), Some("c".into())));
    let first = panes.observe().unwrap();
    assert_eq!(first.mode, ObserveMode::Control, "{:?}", first.problems);
    let _ = panes.observe().unwrap();
    let before = panes.tmux().processes_spawned();
    for _ in 0..5 {
        let snap = panes.observe().unwrap();
        assert_eq!(snap.mode, ObserveMode::Control);
    }
    assert_eq!(
        panes.tmux().processes_spawned(),
        before,
        "no process per cycle"
    );
    s.run(&["send-keys", "-t", &a, "-l", "echo marker-$((6*7))"]);
    s.run(&["send-keys", "-t", &a, "Enter"]);
    assert!(wait_until(Duration::from_secs(10), || {
        let snap = panes.observe().unwrap();
        snap.panes[0].screen.contains("marker-42")
    }));
    assert_eq!(
        panes.tmux().processes_spawned(),
        before,
        "output seen without a process"
    );
}

#[test]
fn killed_pane_and_session_are_reported_and_observation_recovers() {
    let s = Server::new("kill");
    let a = s.session("k", "sh -c 'echo a; exec sleep 600'");
    let b = s.split("k", "sh -c 'echo b; exec sleep 600'");
    s.title(&a, "k__cc_1");
    s.title(&b, "k__cc_2");
    let mut o = TmuxOptions::new(s.socket(), Some("k".into()));
    o.reattach_every = Duration::from_millis(200);
    let panes = TmuxPanes::new(o);
    assert_eq!(panes.observe().unwrap().panes.len(), 2);
    s.run(&["kill-pane", "-t", &b]);
    let snap = panes.observe().unwrap();
    assert_eq!(snap.vanished, vec![b.clone()]);
    assert_eq!(snap.panes.len(), 1);
    // Keep the server alive with another session, kill ours.
    s.session("other", "sleep 600");
    s.run(&["kill-session", "-t", "=k"]);
    let snap = panes.observe().unwrap();
    assert!(snap.panes.is_empty());
    assert_eq!(snap.vanished, vec![a.clone()]);
    assert!(!snap.problems.is_empty());
    assert!(snap.lost.is_some(), "a gone session is tmux lost");
    // Still running while the session is gone.
    for _ in 0..3 {
        let snap = panes.observe().unwrap();
        assert!(snap.panes.is_empty());
    }
    // The session comes back: observation picks it up, in control mode again.
    let n = s.session("k", "sh -c 'echo reborn; exec sleep 600'");
    s.title(&n, "k__cc_1");
    assert!(wait_until(Duration::from_secs(10), || {
        let snap = panes.observe().unwrap();
        snap.mode == ObserveMode::Control
            && snap.panes.len() == 1
            && snap.panes[0].screen.contains("reborn")
    }));
    assert!(panes.observe().unwrap().lost.is_none());
    // The whole server dies: reported, not a crash.
    s.run(&["kill-server"]);
    let snap = panes.observe().unwrap();
    assert!(snap.panes.is_empty());
    assert!(!snap.problems.is_empty());
    assert!(snap.lost.is_some(), "a gone server is tmux lost");
}

/// The control-mode client sees the output of every window of the session, not only the
/// current one (agents are spread over windows).
#[test]
fn control_mode_sees_output_in_every_window() {
    let s = Server::new("ctlwin");
    let dir = std::env::temp_dir();
    let agents: Vec<AgentSpec> = (0..3)
        .map(|_| AgentSpec {
            agent_type: "cc".into(),
            variant: None,
            command: "cat".into(),
        })
        .collect();
    let layout = Layout {
        size: (80, 24),
        panes_per_window: 1,
        keep_shell: false,
    };
    let made = spawn(s_tmux(&s), "w", &dir, &agents, &layout).unwrap();
    assert_eq!(made.iter().map(|p| p.window).collect::<Vec<_>>(), [0, 1, 2]);
    let panes = TmuxPanes::new(TmuxOptions::new(s.socket(), Some("w".into())));
    let snap = panes.observe().unwrap();
    assert_eq!(snap.mode, ObserveMode::Control, "{:?}", snap.problems);
    assert_eq!(snap.panes.len(), 3, "one listing covers every window");
    let client = panes.control_client().expect("control client");
    for p in &made {
        let _ = client.take_dirty();
        s.run(&["send-keys", "-t", &p.pane_id, "-l", "marker"]);
        assert!(
            wait_until(Duration::from_secs(10), || client
                .take_dirty()
                .0
                .contains_key(&p.pane_id)),
            "no %output from {} (window {})",
            p.pane_id,
            p.window
        );
    }
}

#[test]
fn control_client_death_falls_back_to_polling() {
    let s = Server::new("fallback");
    let a = s.session("f", "sh -c 'echo fb; exec sleep 600'");
    s.title(&a, "f__cc_1");
    let mut o = TmuxOptions::new(s.socket(), Some("f".into()));
    o.reattach_every = Duration::from_secs(60);
    let panes = TmuxPanes::new(o);
    assert_eq!(panes.observe().unwrap().mode, ObserveMode::Control);
    panes.drop_control();
    let snap = panes.observe().unwrap();
    assert_eq!(snap.mode, ObserveMode::Polling);
    assert!(snap.panes[0].screen.contains("fb"));
}

fn sim_state(log: &std::path::Path) -> String {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["state"].as_str().map(String::from))
        .unwrap_or_default()
}

fn prompts(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(String::from))
        .collect()
}

#[test]
fn hostile_text_arrives_exactly() {
    let sim = sim_binary();
    let dir = std::env::temp_dir().join(format!(
        "gaffer-deliver-{}",
        gaffer_tmux::cmd::unique_token()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let s = Server::new("deliver");
    let big: String = (0..20 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect::<String>()
        .chars()
        .enumerate()
        .map(|(i, c)| if i % 100 == 99 { '\n' } else { c })
        .collect();
    let texts: Vec<String> = vec![
        "plain prompt".into(),
        "ends with a semicolon;".into(),
        "a;b ; c \\; d;".into(),
        "line one\nline two\n\nline four".into(),
        "C-c".into(),
        "Enter".into(),
        "press C-c then Enter then Escape".into(),
        "unicode: ünïcødé ✳ 日本語 🚀".into(),
        "quotes 'single' \"double\" $HOME `x` #{pane_id}".into(),
        big,
    ];
    for (agent, n) in [("cc", 0), ("cod", 1), ("gmi", 2)] {
        let log = dir.join(format!("{agent}.prompts.jsonl"));
        let states = dir.join(format!("{agent}.states.jsonl"));
        let cmd = format!(
            "{} --agent {agent} --work-secs 0.3 --log {} --state-log {}",
            q(&sim.display().to_string()),
            q(&log.display().to_string()),
            q(&states.display().to_string())
        );
        let pane = if n == 0 {
            s.session("d", &cmd)
        } else {
            s.split("d", &cmd)
        };
        let panes = polling(&s, Some("d"));
        assert!(
            wait_until(Duration::from_secs(10), || sim_state(&states) == "waiting"),
            "sim did not start"
        );
        // Every agent gets the short hostile texts; the 20 KB text goes to Claude.
        let mine: Vec<&String> = if agent == "cc" {
            texts.iter().collect()
        } else {
            texts.iter().take(texts.len() - 1).collect()
        };
        for (i, text) in mine.iter().enumerate() {
            assert!(
                wait_until(Duration::from_secs(10), || sim_state(&states) == "waiting"),
                "{agent}: sim back to waiting before text {i}"
            );
            let count = prompts(&log).len();
            let states_ref = &states;
            let mut probe = || {
                if sim_state(states_ref) != "waiting" || prompts(&log).len() > count {
                    ProbeResult::LeftWaiting
                } else {
                    ProbeResult::StillWaiting
                }
            };
            let report = panes
                .deliver(&pane, text, &DeliveryOptions::default(), &mut probe)
                .unwrap();
            assert_eq!(
                report.outcome,
                DeliveryOutcome::Delivered,
                "{agent}: text {i}"
            );
            assert!(wait_until(Duration::from_secs(10), || prompts(&log).len() > count));
            let got = prompts(&log);
            assert_eq!(
                got.last().map(String::as_str),
                Some(text.as_str()),
                "{agent}: text {i}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn undelivered_prompt_is_stalled() {
    let s = Server::new("stall");
    // `cat` ignores nothing but never "leaves waiting": the probe says so.
    let pane = s.session("st", "cat >/dev/null");
    let panes = polling(&s, Some("st"));
    let opts = DeliveryOptions {
        settle: Duration::from_millis(50),
        deadline: Duration::from_millis(300),
        probe_interval: Duration::from_millis(50),
        retries: 1,
    };
    let r = panes
        .deliver(&pane, "hello", &opts, &mut || ProbeResult::StillWaiting)
        .unwrap();
    assert_eq!(r.outcome, DeliveryOutcome::PromptStalled);
    assert_eq!(r.attempts, 2);
    // A missing pane is an error, not a stall.
    assert!(
        panes
            .deliver("%999", "x", &opts, &mut || ProbeResult::StillWaiting)
            .is_err()
    );
}

#[test]
fn spawn_titles_panes_and_locks_titles() {
    let s = Server::new("spawn");
    let dir = std::env::temp_dir();
    let agents = vec![
        AgentSpec {
            agent_type: "cc".into(),
            variant: None,
            command: "printf '\\033]2;hijacked\\007'; echo started-cc; sleep 600".into(),
        },
        AgentSpec {
            agent_type: "cc".into(),
            variant: Some("opus".into()),
            command: "echo started-cc2; sleep 600".into(),
        },
        AgentSpec {
            agent_type: "cod".into(),
            variant: None,
            command: "echo started-cod; sleep 600".into(),
        },
    ];
    // Two panes per window: three agents take two windows.
    let layout = Layout {
        size: (160, 48),
        panes_per_window: 2,
        keep_shell: false,
    };
    let made = spawn(s_tmux(&s), "sp", &dir, &agents, &layout).unwrap();
    let titles: Vec<&str> = made.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles, vec!["sp__cc_1", "sp__cc_2_opus", "sp__cod_1"]);
    assert_eq!(
        made.iter().map(|p| p.window).collect::<Vec<_>>(),
        vec![0, 0, 1]
    );
    let windows = s.run(&["list-windows", "-t", "=sp", "-F", "#{window_panes}"]);
    assert_eq!(windows.split_whitespace().collect::<Vec<_>>(), ["2", "1"]);
    let panes = polling(&s, Some("sp"));
    assert!(wait_until(Duration::from_secs(10), || {
        let snap = panes.observe().unwrap();
        snap.panes.iter().all(|p| p.screen.contains("started"))
    }));
    let snap = panes.observe().unwrap();
    let types: Vec<(String, u32)> = snap
        .panes
        .iter()
        .map(|p| (p.info.agent_type.clone(), p.info.agent_index))
        .collect();
    assert!(types.contains(&("cc".into(), 1)));
    assert!(types.contains(&("cc".into(), 2)));
    assert!(types.contains(&("cod".into(), 1)));
    // The OSC title the first agent printed did not replace the title.
    assert!(
        snap.panes
            .iter()
            .all(|p| !p.info.title.contains("hijacked"))
    );
    let opt = s.run(&[
        "show-options",
        "-p",
        "-t",
        &made[0].pane_id,
        "@gaffer_title",
    ]);
    assert!(opt.contains("sp__cc_1"), "{opt}");
    // The same session twice is refused.
    assert!(spawn(s_tmux(&s), "sp", &dir, &agents, &layout).is_err());
}

/// A pane titled only with `select-pane -T` (no `@gaffer_title`) keeps its identity when the
/// program in it rewrites the title with an escape sequence: the first listing pins it.
#[test]
fn identity_survives_a_title_rewrite() {
    let s = Server::new("pin");
    let a = s.session("pin", "sh");
    s.run(&["select-pane", "-t", &a, "-T", "pin__cc_1"]);
    let option = || {
        s.tmux
            .run(&["show-options", "-p", "-v", "-t", &a, "@gaffer_title"])
            .unwrap_or_default()
    };
    assert_eq!(
        option().trim(),
        "",
        "no @gaffer_title before gaffer saw the pane"
    );
    let panes = polling(&s, Some("pin"));
    let first = panes.list_panes().unwrap();
    assert_eq!(first[0].agent_type, "cc");
    assert_eq!(
        option().trim(),
        "pin__cc_1",
        "the first identification pins it"
    );
    // the program rewrites its title, as Claude Code does
    s.run(&["send-keys", "-t", &a, "-l", r"printf '\033]2;other\033\\'"]);
    s.run(&["send-keys", "-t", &a, "Enter"]);
    let title = || s.run(&["display-message", "-p", "-t", &a, "#{pane_title}"]);
    assert!(
        wait_until(Duration::from_secs(10), || title().trim() == "other"),
        "the tmux title was rewritten: {}",
        title()
    );
    for p in [
        panes.list_panes().unwrap(),
        panes
            .observe()
            .unwrap()
            .panes
            .into_iter()
            .map(|p| p.info)
            .collect(),
    ] {
        assert_eq!(p[0].title, "pin__cc_1");
        assert_eq!((p[0].agent_type.as_str(), p[0].agent_index), ("cc", 1));
    }
}

/// `spawn` records each pane's launch command; `respawn` runs it again in the same pane (a new
/// process, the same pane id and title) as the pane's foreground job; a pane whose agent is gone
/// (a bare shell with no child) is flagged.
#[test]
fn spawned_panes_are_respawned_from_their_launch_record() {
    let s = Server::new("respawn");
    let dir = std::env::temp_dir();
    let agents = vec![AgentSpec {
        agent_type: "cc".into(),
        variant: None,
        command: "echo started-cc; sleep 600".into(),
    }];
    let layout = gaffer_tmux::spawn::Layout {
        size: (120, 40),
        panes_per_window: 4,
        keep_shell: true,
    };
    let made = spawn(s_tmux(&s), "rsp", &dir, &agents, &layout).unwrap();
    let pane = made[0].pane_id.clone();
    let panes = polling(&s, Some("rsp"));
    let record = panes
        .launch_command(&pane)
        .unwrap()
        .expect("a launch record");
    assert!(
        record.ends_with("&& echo started-cc; sleep 600"),
        "{record}"
    );
    assert!(wait_until(Duration::from_secs(10), || {
        panes.observe().unwrap().panes[0]
            .screen
            .contains("started-cc")
    }));
    let fmt = |f: &str| {
        s.run(&["display-message", "-p", "-t", &pane, f])
            .trim()
            .to_string()
    };
    let pid = fmt("#{pane_pid}");
    let again = "echo started-again; sleep 600";
    panes.respawn(&pane, again).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        panes.observe().unwrap().panes[0]
            .screen
            .contains("started-again")
    }));
    assert_ne!(fmt("#{pane_pid}"), pid, "a new process");
    assert_eq!(fmt("#{pane_title}"), "rsp__cc_1");
    assert_eq!(
        fmt("#{pane_current_command}"),
        "sleep",
        "the agent is the foreground job"
    );
    assert_eq!(panes.launch_command(&pane).unwrap().as_deref(), Some(again));
    let listed = panes.list_panes().unwrap();
    assert!(!listed[0].process_gone);
    // The agent dies: the user's shell is back, with nothing under it.
    let sleep_pid = s.run(&["display-message", "-p", "-t", &pane, "#{pane_pid}"]);
    let shell: u32 = sleep_pid.trim().parse().unwrap();
    let kids = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
    for k in kids.split_whitespace() {
        let _ = std::process::Command::new("kill").args(["-9", k]).status();
    }
    assert!(
        wait_until(Duration::from_secs(10), || panes
            .list_panes()
            .unwrap()
            .first()
            .is_some_and(|p| p.process_gone)),
        "{:?}",
        panes.list_panes()
    );
    // A pane that does not exist cannot be respawned.
    assert!(panes.respawn("%999", again).is_err());
}

/// A pane `spawn` keeps dead (`remain-on-exit`) is started again by `respawn`, and is dead again
/// (no shell) when its agent exits.
#[test]
fn a_dead_pane_is_respawned_and_stays_a_dead_pane_on_exit() {
    let s = Server::new("respawn-dead");
    let dir = std::env::temp_dir();
    let agents = vec![AgentSpec {
        agent_type: "cod".into(),
        variant: None,
        command: "echo first-run".into(),
    }];
    let layout = gaffer_tmux::spawn::Layout {
        size: (120, 40),
        panes_per_window: 4,
        keep_shell: false,
    };
    let made = spawn(s_tmux(&s), "rsd", &dir, &agents, &layout).unwrap();
    let pane = made[0].pane_id.clone();
    let panes = polling(&s, Some("rsd"));
    let dead = || {
        panes
            .list_panes()
            .unwrap()
            .first()
            .is_some_and(|p| p.dead && p.process_gone)
    };
    assert!(
        wait_until(Duration::from_secs(10), dead),
        "the agent exited"
    );
    panes.respawn(&pane, "echo second-run; sleep 2").unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        panes.capture(std::slice::from_ref(&pane)).unwrap()[0]
            .1
            .contains("second-run")
    }));
    assert!(!panes.list_panes().unwrap()[0].dead, "running again");
    assert!(
        wait_until(Duration::from_secs(10), dead),
        "dead again, no shell after it"
    );
    assert_eq!(
        s.run(&["display-message", "-p", "-t", &pane, "#{@gaffer_title}"])
            .trim(),
        "rsd__cod_1"
    );
}

fn s_tmux(s: &Server) -> &gaffer_tmux::cmd::Tmux {
    &s.tmux
}

#[test]
fn wait_for_activity_wakes_on_output_in_control_mode() {
    let s = Server::new("wait");
    let a = s.session("w", "sh");
    s.title(&a, "w__cc_1");
    let panes = TmuxPanes::new(TmuxOptions::new(s.socket(), Some("w".into())));
    assert_eq!(panes.observe().unwrap().mode, ObserveMode::Control);
    // Let the shell settle, then nothing happens: the wait times out.
    std::thread::sleep(Duration::from_millis(500));
    while panes.wait_for_activity(Duration::from_millis(300)) {}
    let t = std::time::Instant::now();
    assert!(!panes.wait_for_activity(Duration::from_millis(400)));
    assert!(t.elapsed() >= Duration::from_millis(350));
    // Output wakes it at once.
    let sender = s.tmux.clone();
    let pane = a.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let _ = sender.run(&["send-keys", "-t", &pane, "-l", "echo wake"]);
        let _ = sender.run(&["send-keys", "-t", &pane, "Enter"]);
    });
    let t = std::time::Instant::now();
    assert!(panes.wait_for_activity(Duration::from_secs(5)));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let _ = h.join();
}

#[test]
fn a_pane_that_becomes_an_agent_is_captured_without_new_output() {
    let s = Server::new("retitle");
    let a = s.session("r", "sh -c 'echo hidden; exec sleep 600'");
    let panes = TmuxPanes::new(TmuxOptions::new(s.socket(), Some("r".into())));
    assert!(wait_until(Duration::from_secs(10), || {
        panes
            .capture(std::slice::from_ref(&a))
            .is_ok_and(|v| v.iter().any(|(_, t)| t.contains("hidden")))
    }));
    let snap = panes.observe().unwrap();
    assert_eq!(snap.mode, ObserveMode::Control);
    assert!(!snap.panes[0].info.is_agent() && !snap.panes[0].captured);
    let _ = panes.observe().unwrap();
    s.title(&a, "r__cc_1");
    let snap = panes.observe().unwrap();
    assert!(snap.panes[0].info.is_agent());
    assert!(snap.panes[0].captured);
    assert!(snap.panes[0].screen.contains("hidden"));
}

#[test]
fn every_pane_id_is_captured_and_quiet_panes_cost_one_process() {
    // Pane ids %0…%11: display-message would mangle `%<digit>` markers through strftime.
    let s = Server::new("quiet");
    let mut ids = vec![s.session("q", "echo ready; exec sleep 600")];
    for i in 1..12 {
        let id = if i == 6 {
            s.run(&[
                "new-window",
                "-t",
                "=q:",
                "-P",
                "-F",
                "#{pane_id}",
                "echo ready; exec sleep 600",
            ])
            .trim()
            .to_string()
        } else {
            s.split("q", "echo ready; exec sleep 600")
        };
        ids.push(id);
    }
    for (i, id) in ids.iter().enumerate() {
        s.title(id, &format!("q__cc_{}", i + 1));
    }
    let panes = polling(&s, Some("q"));
    assert!(wait_until(Duration::from_secs(10), || {
        panes
            .capture(&ids)
            .is_ok_and(|v| v.len() == 12 && v.iter().all(|(_, t)| t.contains("ready")))
    }));
    let snap = panes.observe().unwrap();
    assert_eq!(snap.panes.len(), 12);
    for p in &snap.panes {
        assert!(
            p.captured && p.screen.contains("ready"),
            "{}",
            p.info.pane_id
        );
    }
    std::thread::sleep(Duration::from_millis(1100));
    let _ = panes.observe().unwrap();
    for _ in 0..3 {
        let before = panes.tmux().processes_spawned();
        let snap = panes.observe().unwrap();
        assert_eq!(panes.tmux().processes_spawned() - before, 1, "list only");
        assert!(snap.panes.iter().all(|p| !p.captured));
    }
}

/// The agent is the pane's own command, run as the foreground job (so `pane_current_command`
/// names it, not the wrapper shell). When it exits, the pane is kept dead (`pane_dead`), or a
/// shell follows it with `keep_shell`.
#[test]
fn spawned_agent_is_the_pane_command_and_its_exit_is_seen() {
    let s = Server::new("keep");
    let dir = std::env::temp_dir();
    let agent = |cmd: &str| AgentSpec {
        agent_type: "cc".into(),
        variant: None,
        command: cmd.into(),
    };
    // A marker file lets the test end the agents when it has seen them run.
    let stop = std::env::temp_dir().join(format!("gaffer-keep-stop-{}", std::process::id()));
    let _ = std::fs::remove_file(&stop);
    let cmd = format!(
        "echo running; while [ ! -e {} ]; do sleep 0.1; done; echo bye",
        q(&stop.display().to_string())
    );
    for (session, keep_shell) in [("ex", false), ("ks", true)] {
        let layout = Layout {
            size: (100, 30),
            panes_per_window: 4,
            keep_shell,
        };
        spawn(s_tmux(&s), session, &dir, &[agent(&cmd)], &layout).unwrap();
    }
    let panes = polling(&s, None);
    let find = |session: &str| {
        panes
            .observe()
            .unwrap()
            .panes
            .into_iter()
            .find(|p| p.info.session == session)
    };
    // While the agent runs, its command is the pane's foreground command, not `sh`.
    for session in ["ex", "ks"] {
        assert!(
            wait_until(Duration::from_secs(10), || find(session)
                .is_some_and(
                    |p| p.screen.contains("running") && p.info.current_command == "sleep"
                )),
            "{session}: {:?}",
            find(session).map(|p| p.info)
        );
    }
    std::fs::write(&stop, "").unwrap();
    // Without keep_shell the pane stays, dead.
    assert!(
        wait_until(Duration::from_secs(10), || find("ex")
            .is_some_and(|p| p.info.dead && p.screen.contains("bye"))),
        "{:?}",
        find("ex").map(|p| p.info)
    );
    // With keep_shell the pane is a live shell.
    assert!(
        wait_until(Duration::from_secs(10), || find("ks").is_some_and(|p| {
            !p.info.dead
                && p.screen.contains("bye")
                && gaffer_core::detect::is_shell_command(&p.info.current_command)
        })),
        "{:?}",
        find("ks").map(|p| p.info)
    );
    let _ = std::fs::remove_file(&stop);
}
