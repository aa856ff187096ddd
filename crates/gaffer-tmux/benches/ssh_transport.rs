//! tmux over SSH: the transports side by side, on a simulated host (a network namespace with a
//! real sshd, `gaffer_testkit::hosts`) running 16 gaffer-sim panes.
//!
//! `cargo bench -p gaffer-tmux --bench ssh_transport` prints, with no added latency and with
//! 50 ms added to the round trip, for each transport: the time to capture all 16 panes (one
//! batch), a command's round trip (`display-message`), and the SSH connections the host
//! accepted for the whole run of that transport:
//! * `master+channel`: one OpenSSH ControlMaster, each tmux command a new channel on it;
//! * `master+control`: the same master, and a `tmux -C` control-mode client as one long-lived
//!   channel on it carrying the commands (what gaffer uses for observation);
//! * `ssh+control`: a control-mode client over its own ssh connection (no master);
//! * `ssh per command`: a new SSH connection for every tmux command (the approach that hits
//!   sshd's limits: one session per pane).
//!
//! Needs root (namespaces) and sshd; it re-runs itself inside a loopback-only namespace. Without
//! `--bench` (as `cargo test --all-targets` runs it) it does one tiny round.

use gaffer_core::panes::Panes;
use gaffer_testkit::hosts::{SimHost, SimHosts};
use gaffer_testkit::netns::{Isolation, isolate_with_args};
use gaffer_tmux::cmd::{Socket, Tmux};
use gaffer_tmux::ssh::{SshDestination, SshHost, SshMode};
use gaffer_tmux::{TmuxOptions, TmuxPanes};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PANES: usize = 16;

fn destination(h: &SimHost) -> SshDestination {
    SshDestination {
        host: h.ssh_addr().ip().to_string(),
        user: Some("root".into()),
        port: Some(h.ssh_addr().port()),
        identity: Some(h.identity().to_path_buf()),
        options: h.ssh_options(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    MasterChannel,
    MasterControl,
    SshControl,
    PerCommand,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::MasterChannel => "master+channel",
            Transport::MasterControl => "master+control",
            Transport::SshControl => "ssh+control",
            Transport::PerCommand => "ssh per command",
        }
    }
}

struct Figures {
    capture: Vec<Duration>,
    rtt: Vec<Duration>,
    connections: u64,
}

fn p50(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn measure(h: &SimHost, ids: &[String], t: Transport, samples: usize) -> Result<Figures, String> {
    let mode = match t {
        Transport::MasterChannel | Transport::MasterControl => SshMode::Multiplexed,
        Transport::SshControl | Transport::PerCommand => SshMode::Direct,
    };
    let before = h.connections_opened();
    let conn = Arc::new(
        SshHost::new(&h.name, destination(h), mode, Duration::from_secs(10))
            .map_err(|e| e.to_string())?,
    );
    let tmux = Tmux::remote(
        Socket::Name(h.tmux.name.clone()),
        Duration::from_secs(20),
        Arc::clone(&conn),
    );
    let control = matches!(t, Transport::MasterControl | Transport::SshControl);
    let mut opts = TmuxOptions::new(Socket::Default, Some("s".into()));
    opts.control_mode = control;
    let panes = TmuxPanes::with_tmux(tmux.clone(), opts);
    let client = if control {
        Some(
            panes
                .control_client()
                .ok_or_else(|| format!("{}: no control client", t.name()))?,
        )
    } else {
        None
    };
    let mut f = Figures {
        capture: Vec::new(),
        rtt: Vec::new(),
        connections: 0,
    };
    for _ in 0..samples {
        let s = Instant::now();
        let n = if control {
            panes.capture(ids).map_err(|e| e.to_string())?.len()
        } else {
            panes.capture_batch(ids).map_err(|e| e.to_string())?.len()
        };
        f.capture.push(s.elapsed());
        if n != ids.len() {
            return Err(format!("{}: captured {n} of {}", t.name(), ids.len()));
        }
        let s = Instant::now();
        match &client {
            Some(c) => {
                c.commands(&["display-message -p x".to_string()])
                    .map_err(|e| e.to_string())?;
            }
            None => {
                tmux.run(&["display-message", "-p", "x"])
                    .map_err(|e| e.to_string())?;
            }
        }
        f.rtt.push(s.elapsed());
    }
    drop(client);
    drop(panes);
    conn.disconnect();
    f.connections = h.connections_opened() - before;
    Ok(f)
}

fn run(samples: usize) -> Result<(), String> {
    let set = SimHosts::new("bench", 1, 90)?;
    let h = set.host(0);
    // A screenful each (gaffer-sim is not built in the bench profile; the transport does not
    // care what the panes show).
    let ids = (1..=PANES)
        .map(|k| h.spawn_pane("s", "seq -w 1 400; exec sleep 3600", &format!("s__cc_{k}")))
        .collect::<Result<Vec<_>, _>>()?;
    // Let the sims draw their first screen.
    std::thread::sleep(Duration::from_millis(1500));
    println!(
        "ssh_transport: {PANES} panes on one simulated host (real sshd in a network namespace), \
         {samples} samples each, p50 and max in ms"
    );
    for delay in [Duration::ZERO, Duration::from_millis(50)] {
        let how = h.set_delay(delay)?;
        for t in [
            Transport::MasterChannel,
            Transport::MasterControl,
            Transport::SshControl,
            Transport::PerCommand,
        ] {
            let f = measure(h, &ids, t, samples)?;
            println!(
                "ssh_transport: added_rtt_ms={} ({how}) transport={:<16} capture16_p50={} \
                 capture16_max={} rtt_p50={} rtt_max={} ssh_connections={}",
                delay.as_millis(),
                t.name(),
                ms(p50(&f.capture)),
                ms(f.capture.iter().max().copied().unwrap_or_default()),
                ms(p50(&f.rtt)),
                ms(f.rtt.iter().max().copied().unwrap_or_default()),
                f.connections
            );
            if matches!(
                t,
                Transport::MasterChannel | Transport::MasterControl | Transport::SshControl
            ) && f.connections != 1
            {
                return Err(format!(
                    "{} opened {} ssh connections, expected 1",
                    t.name(),
                    f.connections
                ));
            }
        }
    }
    Ok(())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if !bench {
        args.push("--tiny".into());
    }
    match isolate_with_args(&args) {
        Isolation::Inside => {}
        Isolation::RanInChild(true) => return,
        Isolation::RanInChild(false) => {
            eprintln!("ssh_transport failed inside its namespace");
            std::process::exit(1);
        }
        Isolation::Unavailable(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                eprintln!("ssh_transport: cannot isolate: {why}");
                std::process::exit(1);
            }
            eprintln!("skipping ssh_transport: {why}");
            return;
        }
    }
    if let Err(why) = gaffer_testkit::hosts::available() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            eprintln!("ssh_transport: {why}");
            std::process::exit(1);
        }
        eprintln!("skipping ssh_transport: {why}");
        return;
    }
    let samples = if std::env::args().any(|a| a == "--tiny") {
        2
    } else {
        15
    };
    if let Err(e) = run(samples) {
        eprintln!("ssh_transport: {e}");
        std::process::exit(1);
    }
}
