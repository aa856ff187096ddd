//! Simulated hosts for tests: each a Linux network namespace running a REAL `sshd` and its
//! own tmux server with gaffer-sim agents, joined to the test's namespace by a veth pair.
//!
//! The harness runs only inside the test's own isolated namespace ([`crate::netns`]), so the
//! machine's real network is never touched: call `netns::run_isolated` first, then
//! [`SimHosts::new`]. Host `i` lives in a namespace held by a `sleep` process made with
//! `unshare --net`; the veth pair `gh<i>` (test side, `<net>.<i>.1/24`) ↔ `eth0` (host side,
//! `<net>.<i>.2/24`) joins it to the test. Its sshd has its own config, host key and port
//! (`2200 + i`); every host trusts one per-test user key, and the client side gets a
//! `known_hosts` naming each host by its alias (`HostKeyAlias`).
//!
//! ssh does not reach the host's address directly: each host has a small TCP relay on the
//! test's loopback in front of its sshd. The relay counts the connections it accepts (the
//! "SSH connections per host" figure) and can add latency ([`SimHost::set_delay`]), since this
//! kernel may have no `sch_netem` (the relay delays each chunk by half the added round trip in
//! each direction; `tc … netem` is used instead when the kernel has it). Partitions are real
//! (`ip link set down` on the veth), and so is restarting sshd.
//!
//! All hosts share the one filesystem: each host's tmux socket (`tmux -L <name>`) and sshd
//! config differ. Everything (processes, namespaces, files) is removed on drop, also when the
//! test panics.

use crate::tmux::TmuxServer;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sshd binary (Debian's openssh-server).
pub const SSHD: &str = "/usr/sbin/sshd";

/// Why simulated hosts cannot be made here, or `Ok` when they can.
pub fn available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("simulated hosts need root (network namespaces, veth pairs, sshd)".into());
    }
    if !Path::new(SSHD).is_file() {
        return Err(format!(
            "{SSHD} is missing (Debian: apt-get install openssh-server; scripts/install-deps.sh)"
        ));
    }
    for tool in ["ssh", "ssh-keygen", "ip", "unshare", "nsenter"] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!("`{tool}` is missing"));
        }
    }
    if std::env::var_os(crate::netns::INSIDE_ENV).is_none() {
        return Err(
            "simulated hosts run only inside the test's own namespace (netns::run_isolated)".into(),
        );
    }
    Ok(())
}

/// The test's prologue for a hosts test: `true` when the body should run here (inside the
/// isolated namespace, with everything the harness needs). Skips with a message without root,
/// and fails under `CI=true`, like the other namespace tests.
pub fn run_isolated(test_name: &str) -> bool {
    if std::env::var_os(crate::netns::INSIDE_ENV).is_none() {
        // Outside: check what can be checked before re-running in a namespace.
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let why = if !root {
            Some("simulated hosts need root".to_string())
        } else if !Path::new(SSHD).is_file() {
            Some(format!("{SSHD} is missing (scripts/install-deps.sh)"))
        } else {
            None
        };
        if let Some(why) = why {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test_name}: cannot make simulated hosts: {why}");
            }
            eprintln!("skipping {test_name}: cannot make simulated hosts: {why}");
            return false;
        }
    }
    crate::netns::run_isolated(test_name)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<String, String> {
    run(Command::new("ip").args(args))
}

fn keygen(path: &Path, comment: &str) -> Result<(), String> {
    run(Command::new("ssh-keygen").args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        comment,
        "-f",
        &path.display().to_string(),
    ]))
    .map(|_| ())
}

/// A set of simulated hosts, removed on drop.
pub struct SimHosts {
    hosts: Vec<SimHost>,
    /// The per-test user key (private; `.pub` next to it).
    pub user_key: PathBuf,
    /// The client's known_hosts (one line per host alias).
    pub known_hosts: PathBuf,
    dir: tempfile::TempDir,
}

impl SimHosts {
    /// Makes `n` hosts named `<tag>-<i>` (at most 200) on `10.<net>.<i>.0/24`, each with sshd
    /// running and a tmux server (no session yet). `net` is chosen by the test (1..=254),
    /// different for tests that may run at the same time (they have separate namespaces, so
    /// only clarity is at stake).
    pub fn new(tag: &str, n: usize, net: u8) -> Result<SimHosts, String> {
        available()?;
        if n > 200 {
            return Err(format!("{n} hosts: at most 200"));
        }
        let dir = tempfile::Builder::new()
            .prefix("gaffer-hosts-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let user_key = dir.path().join("user_key");
        keygen(&user_key, "gaffer-test-user")?;
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(dir.path().join("user_key.pub"), &authorized)
            .map_err(|e| format!("authorized_keys: {e}"))?;
        // sshd refuses to start without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let known_hosts = dir.path().join("known_hosts");
        let mut set = SimHosts {
            hosts: Vec::new(),
            user_key,
            known_hosts,
            dir,
        };
        let mut known = String::new();
        for i in 0..n {
            let host = SimHost::start(
                &format!("{tag}-{i}"),
                i,
                net,
                set.dir.path(),
                &authorized,
                &set.user_key,
                &set.known_hosts,
            )?;
            let pubkey = std::fs::read_to_string(host.host_key.with_extension("pub"))
                .map_err(|e| format!("host key: {e}"))?;
            known.push_str(&format!("{} {}", host.name, pubkey.trim()));
            known.push('\n');
            set.hosts.push(host);
        }
        std::fs::write(&set.known_hosts, known).map_err(|e| format!("known_hosts: {e}"))?;
        for h in &set.hosts {
            h.wait_sshd(Duration::from_secs(10))?;
        }
        Ok(set)
    }

    /// The hosts.
    pub fn hosts(&self) -> &[SimHost] {
        &self.hosts
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &SimHost {
        &self.hosts[i]
    }

    /// The working directory (keys, configs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Lets the public key `pub_line` (an `authorized_keys` line) log in to every host.
    pub fn authorize(&self, pub_line: &str) -> Result<(), String> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))
            .map_err(|e| format!("authorized_keys: {e}"))?;
        writeln!(f, "{}", pub_line.trim()).map_err(|e| format!("authorized_keys: {e}"))
    }
}

/// One simulated host.
pub struct SimHost {
    /// Its name (also its `HostKeyAlias`).
    pub name: String,
    /// The address of its side of the veth pair.
    pub addr: Ipv4Addr,
    /// sshd's port there.
    pub port: u16,
    /// Its tmux server (`tmux -L <name>`), reached from the test by socket.
    pub tmux: TmuxServer,
    holder: Child,
    outer_if: String,
    sshd: Mutex<Option<Child>>,
    sshd_config: PathBuf,
    host_key: PathBuf,
    user_key: PathBuf,
    known_hosts: PathBuf,
    relay: Relay,
    netem: AtomicBool,
}

impl SimHost {
    fn start(
        name: &str,
        i: usize,
        net: u8,
        dir: &Path,
        authorized: &Path,
        user_key: &Path,
        known_hosts: &Path,
    ) -> Result<SimHost, String> {
        let mut holder = Command::new("unshare");
        holder.args(["--net", "--", "sleep", "infinity"]);
        let holder = die_with_parent(&mut holder)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let pid = holder.id().to_string();
        let outer_if = format!("gh{i}");
        let outer = Ipv4Addr::new(10, net, i as u8, 1);
        let addr = Ipv4Addr::new(10, net, i as u8, 2);
        let port = 2200 + i as u16;
        let host_key = dir.join(format!("host_key_{i}"));
        let sshd_config = dir.join(format!("sshd_config_{i}"));
        let tmux = TmuxServer::new(&format!("host{i}"));
        let relay = Relay::start(SocketAddr::from((addr, port)))?;
        let host = SimHost {
            name: name.to_string(),
            addr,
            port,
            tmux,
            holder,
            outer_if: outer_if.clone(),
            sshd: Mutex::new(None),
            sshd_config: sshd_config.clone(),
            host_key: host_key.clone(),
            user_key: user_key.to_path_buf(),
            known_hosts: known_hosts.to_path_buf(),
            relay,
            netem: AtomicBool::new(false),
        };
        // The namespace exists once unshare has exec'd sleep; its link set is then only `lo`.
        let ns_ready = crate::wait_until(Duration::from_secs(5), || {
            std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
                != std::fs::read_link("/proc/self/ns/net").ok()
        });
        if !ns_ready {
            return Err(format!("{name}: its namespace did not appear"));
        }
        ip(&[
            "link", "add", &outer_if, "type", "veth", "peer", "name", "eth0", "netns", &pid,
        ])?;
        ip(&["addr", "add", &format!("{outer}/24"), "dev", &outer_if])?;
        ip(&["link", "set", &outer_if, "up"])?;
        host.in_ns(&[
            "sh",
            "-c",
            &format!("ip link set lo up && ip addr add {addr}/24 dev eth0 && ip link set eth0 up"),
        ])?;
        keygen(&host_key, name)?;
        let config = format!(
            "Port {port}\nListenAddress {addr}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile none\n\
             UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nLogLevel ERROR\n\
             MaxSessions 10\nSetEnv SHLVL=1\n",
            host_key.display(),
            authorized.display()
        );
        // `SetEnv SHLVL=1`: Debian's bash sources ~/.bashrc for a command run by sshd when it
        // is the top-level shell; the machine's own root ~/.bashrc (pyenv init, whose rehash
        // takes a lock file and hangs every later shell when a session is killed mid-way) is
        // not part of a simulated host. With SHLVL set, bash is not top-level and skips it.
        std::fs::write(&sshd_config, config).map_err(|e| format!("sshd config: {e}"))?;
        host.spawn_sshd()?;
        Ok(host)
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `nsenter` into this host's network namespace, running `args`.
    pub fn ns_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.pid().to_string())
            .arg("-n")
            .arg("--")
            .args(args)
            .env_remove("TMUX")
            .env_remove("TMUX_TMPDIR");
        c
    }

    fn in_ns(&self, args: &[&str]) -> Result<String, String> {
        run(&mut self.ns_command(args))
    }

    fn spawn_sshd(&self) -> Result<(), String> {
        // Its log (the readiness probe's bare connections show there as
        // `kex_exchange_identification` lines) goes next to its config.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.sshd_config.with_extension("log"))
            .map_err(|e| format!("sshd log: {e}"))?;
        let config = self.sshd_config.display().to_string();
        let mut cmd = self.ns_command(&[SSHD, "-D", "-e", "-f", &config]);
        let child = die_with_parent(&mut cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("sshd: {e}"))?;
        *self.sshd.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }

    fn wait_sshd(&self, timeout: Duration) -> Result<(), String> {
        let target = SocketAddr::from((self.addr, self.port));
        let ok = crate::wait_until(timeout, || {
            TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok()
        });
        if ok {
            Ok(())
        } else {
            Err(format!("{}: sshd does not listen on {target}", self.name))
        }
    }

    /// Whether process `pid` runs inside this host's namespace.
    pub fn runs_inside(&self, pid: u32) -> bool {
        let ns = |p: u32| std::fs::read_link(format!("/proc/{p}/ns/net")).ok();
        ns(pid).is_some() && ns(pid) == ns(self.pid())
    }

    /// Where ssh connects for this host: the relay on the test's loopback.
    pub fn ssh_addr(&self) -> SocketAddr {
        self.relay.addr
    }

    /// The ssh options that reach this host with the test's key and known_hosts (`-F none`, so
    /// nothing of the machine's ssh config applies); pass them as a destination's options.
    pub fn ssh_options(&self) -> Vec<String> {
        [
            "-F".to_string(),
            "none".to_string(),
            "-o".to_string(),
            "IdentitiesOnly=yes".to_string(),
            "-o".to_string(),
            "BatchMode=yes".to_string(),
            "-o".to_string(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".to_string(),
            "StrictHostKeyChecking=yes".to_string(),
            "-o".to_string(),
            format!("HostKeyAlias={}", self.name),
            "-o".to_string(),
            "ConnectTimeout=5".to_string(),
        ]
        .to_vec()
    }

    /// The user key's path.
    pub fn identity(&self) -> &Path {
        &self.user_key
    }

    /// The `[[hosts]]` TOML entry a user would write for this host (root, the test's key and
    /// options, the host's tmux server), followed by the `extra` lines (`project = "/p"\n`).
    pub fn hosts_entry(&self, extra: &str) -> String {
        self.hosts_entry_with(self.identity(), &self.ssh_options(), extra)
    }

    /// [`hosts_entry`](Self::hosts_entry) with another `identity` and `ssh_options`.
    pub fn hosts_entry_with(&self, identity: &Path, ssh_options: &[String], extra: &str) -> String {
        let opts: Vec<String> = ssh_options.iter().map(|o| format!("{o:?}")).collect();
        format!(
            "[[hosts]]\nname = {:?}\nhost = \"{}\"\nuser = \"root\"\nport = {}\nidentity = {:?}\n\
             ssh_options = [{}]\nsocket_name = {:?}\n{extra}",
            self.name,
            self.ssh_addr().ip(),
            self.ssh_addr().port(),
            identity.display().to_string(),
            opts.join(", "),
            self.tmux.name,
        )
    }

    /// A full `ssh` argv (without the remote command) reaching this host directly, for setup
    /// and checks in tests (each call is a new connection, counted by the relay).
    pub fn ssh_argv(&self) -> Vec<String> {
        let mut v = vec!["ssh".to_string()];
        v.extend(self.ssh_options());
        v.extend([
            "-i".to_string(),
            self.user_key.display().to_string(),
            "-p".to_string(),
            self.relay.addr.port().to_string(),
            format!("root@{}", self.relay.addr.ip()),
        ]);
        v
    }

    /// TCP connections ssh opened to this host so far (accepted by the relay).
    pub fn connections_opened(&self) -> u64 {
        self.relay.accepted.load(Ordering::SeqCst)
    }

    /// TCP connections to this host open right now.
    pub fn connections_open(&self) -> usize {
        self.relay.open.load(Ordering::SeqCst)
    }

    /// Cuts the host off (`ip link set <veth> down`): connections stall, new ones fail.
    pub fn partition(&self) -> Result<(), String> {
        ip(&["link", "set", &self.outer_if, "down"]).map(|_| ())
    }

    /// Undoes [`partition`](Self::partition).
    pub fn heal(&self) -> Result<(), String> {
        ip(&["link", "set", &self.outer_if, "up"]).map(|_| ())
    }

    /// Adds `rtt` to the round trip to this host (zero removes it): `tc qdisc … netem delay`
    /// on the veth when the kernel has netem, else the relay delays each direction by half.
    /// Returns which was used (`"netem"` or `"relay"`).
    pub fn set_delay(&self, rtt: Duration) -> Result<&'static str, String> {
        let ms = rtt.as_millis().to_string();
        let netem = if rtt.is_zero() {
            if self.netem.swap(false, Ordering::SeqCst) {
                ip_tc(&["qdisc", "del", "dev", &self.outer_if, "root"])?;
            }
            false
        } else {
            let r = ip_tc(&[
                "qdisc",
                "replace",
                "dev",
                &self.outer_if,
                "root",
                "netem",
                "delay",
                &format!("{ms}ms"),
            ]);
            self.netem.store(r.is_ok(), Ordering::SeqCst);
            r.is_ok()
        };
        if netem {
            self.relay.set_delay(Duration::ZERO);
            Ok("netem")
        } else {
            self.relay.set_delay(rtt / 2);
            Ok("relay")
        }
    }

    /// Restarts sshd the way a service restart does: the listener is stopped and started
    /// again; connections already open live on (their own sshd processes). Call it from the
    /// thread that made the hosts: sshd dies with the thread that started it.
    pub fn restart_sshd(&self) -> Result<(), String> {
        {
            let mut slot = self.sshd.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(mut c) = slot.take() {
                // SAFETY: kill with a pid we own.
                unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
                let _ = c.wait();
            }
        }
        self.spawn_sshd()?;
        self.wait_sshd(Duration::from_secs(10))
    }

    /// Kills sshd and every session it serves (all connections drop), then starts it again.
    pub fn kill_sshd(&self) -> Result<(), String> {
        {
            let mut slot = self.sshd.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(mut c) = slot.take() {
                crate::tmux::kill_tree(c.id() as i32);
                let _ = c.wait();
            }
        }
        // Sessions forked before the listener died were its children; any left are orphans.
        self.kill_sessions();
        self.spawn_sshd()?;
        self.wait_sshd(Duration::from_secs(10))
    }

    /// Kills every sshd process inside this host's namespace (listener and sessions).
    fn kill_sessions(&self) {
        let ns = std::fs::read_link(format!("/proc/{}/ns/net", self.pid())).ok();
        for pid in sshd_pids() {
            if ns.is_some() && std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == ns {
                crate::tmux::kill_tree(pid);
            }
        }
        self.relay.drop_all();
    }

    /// Kills every process inside this host's namespace except the holder.
    fn kill_namespace(&self) {
        let holder = self.pid() as i32;
        let ns = std::fs::read_link(format!("/proc/{holder}/ns/net")).ok();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for pid in dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
            if pid != holder
                && ns.is_some()
                && std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == ns
            {
                // SAFETY: kill with a pid inside the test's own host namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }

    /// Starts `n` gaffer-sim agents of `kind` (`claude`, `codex`, `gemini`) in `session`
    /// on this host's tmux server, made inside the host's namespace, each titled
    /// `<session>__<code>_<k>`; returns their pane ids.
    pub fn spawn_sims(&self, session: &str, kind: &str, n: usize) -> Result<Vec<String>, String> {
        let code = match kind {
            "claude" => "cc",
            "codex" => "cod",
            "gemini" => "gmi",
            other => return Err(format!("unknown sim kind {other}")),
        };
        let sim = crate::sim::binary().display().to_string();
        let cmd = format!("{} --agent {kind}", crate::shell_quote(&sim));
        (1..=n)
            .map(|k| self.spawn_pane(session, &cmd, &format!("{session}__{code}_{k}")))
            .collect()
    }

    /// Starts `cmd` in a new window of `session` on this host's tmux server (the server and
    /// session are made inside the host's namespace when missing), titles the pane `title`
    /// the way gaffer does, and returns its pane id.
    pub fn spawn_pane(&self, session: &str, cmd: &str, title: &str) -> Result<String, String> {
        let exists = self.tmux.tmux.has_session(session).unwrap_or(false);
        let id = if exists {
            self.tmux
                .tmux
                .run(&[
                    "new-window",
                    "-t",
                    &format!("={session}:"),
                    "-P",
                    "-F",
                    "#{pane_id}",
                    cmd,
                ])
                .map_err(|e| e.to_string())?
        } else {
            // The server starts inside the host's namespace, so its panes run there.
            self.in_ns(&[
                self.tmux.tmux.binary(),
                "-L",
                &self.tmux.name,
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                "120",
                "-y",
                "40",
                "-P",
                "-F",
                "#{pane_id}",
                cmd,
            ])?
        };
        let id = id.trim().to_string();
        self.tmux.title(&id, title);
        Ok(id)
    }
}

/// Has the child killed when the thread that started it ends (a test killed outright leaves
/// no namespace holder or sshd behind; they are the roots of everything a host runs).
fn die_with_parent(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

fn ip_tc(args: &[&str]) -> Result<String, String> {
    run(Command::new("tc").args(args))
}

fn sshd_pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sshd")
        })
        .collect()
}

impl Drop for SimHost {
    fn drop(&mut self) {
        self.relay.stop();
        if let Some(mut c) = self.sshd.lock().unwrap_or_else(|p| p.into_inner()).take() {
            crate::tmux::kill_tree(c.id() as i32);
            let _ = c.wait();
        }
        self.kill_sessions();
        // Everything else that ran inside the host (its tmux server and sim agents, remote
        // tmux clients left by killed sessions) is killed by namespace, so nothing outlives
        // the test even when a tmux server would not answer `kill-server`; `self.tmux`'s own
        // drop then finds nothing left. Killing the holder ends the namespace, and with it the
        // veth pair.
        self.kill_namespace();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = ip(&["link", "del", &self.outer_if]);
    }
}

/// A TCP relay on the test's loopback in front of one host's sshd: counts connections, adds
/// delay.
struct Relay {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    open: Arc<AtomicUsize>,
    delay_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: SocketAddr) -> Result<Relay, String> {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("relay bind: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("relay addr: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("relay: {e}"))?;
        let relay = Relay {
            addr,
            accepted: Arc::new(AtomicU64::new(0)),
            open: Arc::new(AtomicUsize::new(0)),
            delay_us: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            streams: Arc::new(Mutex::new(Vec::new())),
        };
        let (accepted, open, delay, stop, streams) = (
            Arc::clone(&relay.accepted),
            Arc::clone(&relay.open),
            Arc::clone(&relay.delay_us),
            Arc::clone(&relay.stop),
            Arc::clone(&relay.streams),
        );
        std::thread::Builder::new()
            .name(format!("relay-{addr}"))
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let client = match listener.accept() {
                        Ok((c, _)) => c,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(_) => break,
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let _ = client.set_nonblocking(false);
                    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5))
                    else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                        let mut keep = streams.lock().unwrap_or_else(|p| p.into_inner());
                        keep.push(c2);
                        keep.push(s2);
                    }
                    open.fetch_add(1, Ordering::SeqCst);
                    let pair_done = Arc::new(AtomicUsize::new(0));
                    for (from, to) in [
                        (client.try_clone(), server.try_clone()),
                        (server.try_clone(), client.try_clone()),
                    ] {
                        let (Ok(from), Ok(to)) = (from, to) else {
                            continue;
                        };
                        let delay = Arc::clone(&delay);
                        let open = Arc::clone(&open);
                        let pair_done = Arc::clone(&pair_done);
                        let _ = std::thread::Builder::new().name("relay-pipe".into()).spawn(
                            move || {
                                pipe(from, to, &delay);
                                if pair_done.fetch_add(1, Ordering::SeqCst) == 1 {
                                    open.fetch_sub(1, Ordering::SeqCst);
                                }
                            },
                        );
                    }
                }
            })
            .map_err(|e| format!("relay thread: {e}"))?;
        Ok(relay)
    }

    fn set_delay(&self, one_way: Duration) {
        self.delay_us
            .store(one_way.as_micros() as u64, Ordering::SeqCst);
    }

    fn drop_all(&self) {
        for s in self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.drop_all();
    }
}

/// Copies `from` to `to`, each chunk held until its arrival time plus the current delay.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay_us: &AtomicU64) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    // Named like the relay's other threads, so a benchmark can tell their CPU time apart.
    let writer = std::thread::Builder::new()
        .name("relay-write".into())
        .spawn(move || {
            for (due, chunk) in rx {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    let Ok(writer) = writer else {
        return;
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let due = Instant::now() + Duration::from_micros(delay_us.load(Ordering::SeqCst));
                if tx.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}

/// Writes `dir/.gaffer/config.toml`: `[tmux]` on the local server `local_socket`, session
/// "proj", then each `[[hosts]]` entry ([`SimHost::hosts_entry`]).
pub fn write_config(dir: &Path, local_socket: &str, entries: &[String]) {
    let mut text = format!("[tmux]\nsocket_name = {local_socket:?}\nsession = \"proj\"\n");
    for e in entries {
        text.push('\n');
        text.push_str(e);
    }
    std::fs::create_dir_all(dir.join(".gaffer")).expect("mkdir .gaffer");
    std::fs::write(dir.join(".gaffer/config.toml"), text).expect("write config.toml");
}
