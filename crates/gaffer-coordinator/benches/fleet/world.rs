//! The simulated world: a seeded bead graph, sixteen simulated agents, the mailbox's
//! reservations and the ground truth every figure is measured against.

use gaffer_core::beads::{Dependency, Issue};
use gaffer_core::conflicts::ReservationIndex;
use gaffer_core::mailbox::Reservation;
use gaffer_core::status::AgentStatus;
use gaffer_core::text::extract_mentioned_files;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageResponse;
use std::collections::BTreeSet;

/// Milliseconds of simulated time since the start.
pub type Ms = i64;

pub const SEC: Ms = 1000;
pub const MIN: Ms = 60 * SEC;

/// A small seeded generator (SplitMix64).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo).max(1) as u64) as i64
    }
}

/// A draw that depends only on the seed and the given keys, so both policies meet the same
/// behaviour when they give the same agent the same bead.
pub fn draw(seed: u64, keys: &[u64]) -> Rng {
    let mut r = Rng::new(seed);
    for k in keys {
        r = Rng::new(r.next_u64() ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
    r
}

/// The shape of a run.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub seed: u64,
    pub beads: usize,
    pub agents: usize,
    /// Stop here even when beads are left.
    pub horizon: Ms,
}

/// One bead as the world knows it.
#[derive(Debug, Clone)]
pub struct BeadInfo {
    /// Minutes of work at speed 1.
    pub effort: Ms,
    /// Files its title mentions (what gets reserved).
    pub files: Vec<String>,
    /// Indices of the beads it depends on.
    pub deps: Vec<usize>,
}

/// Generates the seeded graph: modules of files, titles that mention them (some a whole
/// module), dependencies on recent beads (chains and fans), efforts of a few to ~45 minutes.
pub fn graph(w: &Workload, t0: Timestamp) -> (Vec<Issue>, Vec<BeadInfo>) {
    let mut rng = Rng::new(w.seed ^ 0x5eed_0fbe_ad5e);
    let modules = 24;
    let verbs = [
        "Fix",
        "Add",
        "Refactor",
        "Test",
        "Implement",
        "Document",
        "Update",
    ];
    let nouns = [
        "parser", "cache", "client", "index", "router", "loader", "schema", "report",
    ];
    let types = [
        "task", "task", "task", "feature", "feature", "bug", "bug", "chore",
    ];
    let mut issues = Vec::with_capacity(w.beads);
    let mut info = Vec::with_capacity(w.beads);
    for i in 0..w.beads {
        let m = rng.range(0, modules);
        let verb = verbs[rng.range(0, verbs.len() as i64) as usize];
        let noun = nouns[rng.range(0, nouns.len() as i64) as usize];
        let roll = rng.unit();
        let title = if roll < 0.08 {
            format!("{verb} the {noun} across src/m{m:02}/**")
        } else if roll < 0.18 {
            format!("{verb} the {noun} notes")
        } else if roll < 0.45 {
            let (a, b) = (rng.range(0, 10), rng.range(0, 10));
            format!("{verb} {noun} in src/m{m:02}/f{a}.rs and src/m{m:02}/f{b}.rs")
        } else {
            let a = rng.range(0, 10);
            format!("{verb} {noun} in src/m{m:02}/f{a}.rs")
        };
        let issue_type = types[rng.range(0, types.len() as i64) as usize];
        let priority = [0, 1, 1, 2, 2, 2, 3, 4][rng.range(0, 8) as usize];
        let mut deps = Vec::new();
        if i >= 8 {
            let k = match rng.unit() {
                x if x < 0.30 => 0,
                x if x < 0.65 => 1,
                x if x < 0.88 => 2,
                _ => 3,
            };
            for _ in 0..k {
                let back = rng.range(1, 60.min(i as i64) + 1) as usize;
                let d = i - back;
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
        }
        let base = match issue_type {
            "feature" => rng.range(12, 46),
            "chore" => rng.range(3, 12),
            _ => rng.range(5, 30),
        };
        let id = bead_id(i);
        let issue = Issue {
            id: id.clone(),
            title: title.clone(),
            status: "open".into(),
            priority,
            issue_type: issue_type.into(),
            created_at: Some(t0 - chrono::Duration::days(rng.range(1, 20))),
            updated_at: Some(t0 - chrono::Duration::days(1)),
            dependencies: deps
                .iter()
                .map(|&d| Dependency {
                    issue_id: id.clone(),
                    depends_on_id: bead_id(d),
                    dep_type: "blocks".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        issues.push(issue);
        info.push(BeadInfo {
            effort: base * MIN,
            files: extract_mentioned_files(&title, ""),
            deps,
        });
    }
    (issues, info)
}

pub fn bead_id(i: usize) -> String {
    format!("fl-{i:03}")
}

/// Index of a bead id.
pub fn bead_index(id: &str) -> Option<usize> {
    id.strip_prefix("fl-")?.parse().ok()
}

/// Something that interrupts a bead's work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Incident {
    /// The agent hangs (STALLED, screen frozen) for a while, then goes on.
    Hang(Ms),
    /// A rate limit with its reset shown on screen.
    RateLimit(Ms),
    /// The agent process exits.
    Exit,
    /// The agent gives up: WAITING again, the bead left open.
    Abandon,
}

/// What an agent does with a bead, drawn from (seed, agent, bead, attempt).
#[derive(Debug, Clone)]
pub struct Plan {
    pub refuse: bool,
    /// Reading the prompt and claiming.
    pub read: Ms,
    /// Work at this agent's speed.
    pub work: Ms,
    /// An incident at this much work done.
    pub incident: Option<(Ms, Incident)>,
    /// An extra reservation (a module glob) taken at this much work done.
    pub extra: Option<(Ms, String)>,
}

/// A bead in an agent's hands.
#[derive(Debug, Clone)]
pub struct Job {
    pub bead: usize,
    pub plan: Plan,
    /// Work done so far.
    pub done: Ms,
    /// Rework added (a merge conflict).
    pub rework: Ms,
    /// An unresolved clash of the extra reservation: when it happened.
    pub clash_at: Option<Ms>,
    /// The coordinator took the bead back and told the agent: it drops the bead as soon as
    /// it can read the message (at once, or when its hang or rate limit ends).
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub enum Phase {
    Idle,
    /// Reading the prompt; at `until` the agent claims (or refuses).
    Reading {
        job: Job,
        until: Ms,
    },
    /// Working since `since`.
    Working {
        job: Job,
        since: Ms,
    },
    /// Hung or rate-limited from `from` until `until`, then working again.
    Paused {
        job: Job,
        from: Ms,
        until: Ms,
        status: AgentStatus,
    },
    Exited,
    /// Relaunched after an exit: the CLI starts up until `until`, then waits at its prompt.
    Starting {
        until: Ms,
    },
}

/// A simulated agent.
#[derive(Debug, Clone)]
pub struct Agent {
    pub pane: String,
    pub name: String,
    pub kind: &'static str,
    /// Work-time multiplier (lower is faster).
    pub speed: f64,
    pub phase: Phase,
    pub last_activity: Ms,
    pub rate_reset: Option<Ms>,
    /// Since when it is ready for work (idle), for idle-to-assign.
    pub ready_at: Option<Ms>,
    pub attempts: u64,
}

impl Agent {
    /// The status a correct detector reports.
    pub fn status(&self) -> AgentStatus {
        match &self.phase {
            Phase::Idle => AgentStatus::Waiting,
            Phase::Reading { .. } | Phase::Working { .. } => AgentStatus::Generating,
            Phase::Paused { status, .. } => *status,
            Phase::Exited => AgentStatus::Exited,
            // A CLI drawing its start-up screen: a detector cannot tell yet.
            Phase::Starting { .. } => AgentStatus::Unknown,
        }
    }
    /// When the current status began, as a detector tracks it (`None`: from the last
    /// activity).
    pub fn status_since(&self) -> Option<Ms> {
        match &self.phase {
            Phase::Paused { from, .. } => Some(*from),
            _ => None,
        }
    }
    pub fn job(&self) -> Option<&Job> {
        match &self.phase {
            Phase::Reading { job, .. } | Phase::Working { job, .. } | Phase::Paused { job, .. } => {
                Some(job)
            }
            _ => None,
        }
    }
    fn job_mut(&mut self) -> Option<&mut Job> {
        match &mut self.phase {
            Phase::Reading { job, .. } | Phase::Working { job, .. } | Phase::Paused { job, .. } => {
                Some(job)
            }
            _ => None,
        }
    }
}

/// Which coordinator the agents answer to: it decides who claims, reserves and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// gaffer claims and reserves before delivering; agents report refusals with `gaffer refuse`.
    Gaffer,
    /// The reference only sends the prompt; the agent claims and reserves itself.
    Reference,
}

/// What happened in the world that the coordinator may learn about.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The agent ran `gaffer refuse` (gaffer mode).
    Refused { agent: usize, bead: usize },
}

/// Why a prompt did not land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    Busy,
}

/// The world.
pub struct World {
    pub w: Workload,
    pub mode: Mode,
    pub t0: Timestamp,
    pub issues: Vec<Issue>,
    pub info: Vec<BeadInfo>,
    /// Bumped on every change of the issues (triage is recomputed then).
    pub version: u64,
    pub agents: Vec<Agent>,
    pub reservations: Vec<Reservation>,
    next_reservation: i64,
    /// A pane's screen changed at this time (the poll wakes on it).
    pub activity: Option<Ms>,
    /// Since when at least one bead is free (open, unclaimed, unblocked, not in anyone's hands).
    pub free_since: Option<Ms>,
    /// Since when at least one free bead can be started without touching files another agent
    /// holds (no active reservation overlaps the files its title mentions).
    pub startable_since: Option<Ms>,
    pub reports: Vec<Report>,
    pub closed: usize,
    pub last_close: Ms,
    /// When each bead closed, in order.
    pub close_times: Vec<Ms>,
    // Figures.
    /// From the later of an agent's readiness and the moment a bead could be started, to its
    /// next prompt.
    pub idle_to_assign: Vec<Ms>,
    /// The same from the moment any bead was free (files held by others or not).
    pub idle_to_assign_any: Vec<Ms>,
    pub double_assignments: u64,
    pub not_ready_prompts: u64,
    pub rework_events: u64,
    pub prompts: u64,
    /// Overlapping reservation pairs seen at conflict passes, and those missed.
    pub conflict_pairs: BTreeSet<(String, String, String, String)>,
    pub missed_pairs: BTreeSet<(String, String, String, String)>,
    pub incidents: [u64; 4],
    pub refusals: u64,
    /// Agents relaunched, and beads dropped after a hand-back notice.
    pub restarts: u64,
    pub dropped: u64,
}

impl World {
    pub fn new(w: Workload, mode: Mode, t0: Timestamp) -> World {
        let (issues, info) = graph(&w, t0);
        let kinds = ["cc", "cod", "gmi"];
        let mut rng = Rng::new(w.seed ^ 0xa6e47);
        let agents = (0..w.agents)
            .map(|i| Agent {
                pane: format!("%{}", i + 1),
                name: format!("Agent{:02}", i + 1),
                kind: kinds[i % 3],
                speed: 0.6 + rng.unit() * 0.9,
                phase: Phase::Idle,
                last_activity: -60 * SEC,
                rate_reset: None,
                ready_at: Some(-60 * SEC),
                attempts: 0,
            })
            .collect();
        let mut world = World {
            w,
            mode,
            t0,
            issues,
            info,
            version: 1,
            agents,
            reservations: Vec::new(),
            next_reservation: 1,
            activity: None,
            free_since: None,
            startable_since: None,
            reports: Vec::new(),
            closed: 0,
            last_close: 0,
            close_times: Vec::new(),
            idle_to_assign: Vec::new(),
            idle_to_assign_any: Vec::new(),
            double_assignments: 0,
            not_ready_prompts: 0,
            rework_events: 0,
            prompts: 0,
            conflict_pairs: BTreeSet::new(),
            missed_pairs: BTreeSet::new(),
            incidents: [0; 4],
            refusals: 0,
            restarts: 0,
            dropped: 0,
        };
        world.update_free(0);
        world
    }

    pub fn ts(&self, t: Ms) -> Timestamp {
        self.t0 + chrono::Duration::milliseconds(t)
    }

    fn touch(&mut self, a: usize, t: Ms) {
        self.agents[a].last_activity = t;
        self.activity = Some(self.activity.map_or(t, |x| x.min(t)));
    }

    /// Whether an agent holds the bead (a bead taken back and announced to its agent is not
    /// held: the agent will drop it without touching it again).
    fn in_hands(&self, bead: usize) -> bool {
        self.agents
            .iter()
            .any(|a| a.job().is_some_and(|j| j.bead == bead && !j.revoked))
    }

    /// Whether bead `i` is free: open, unclaimed, every dependency closed, in nobody's hands.
    pub fn is_free(&self, i: usize) -> bool {
        let is = &self.issues[i];
        is.status == "open"
            && is.assignee.is_none()
            && self.info[i]
                .deps
                .iter()
                .all(|&d| self.issues[d].status == "closed")
            && !self.in_hands(i)
    }

    /// Keeps `free_since` and `startable_since` true to the world.
    pub fn update_free(&mut self, t: Ms) {
        let free: Vec<usize> = (0..self.issues.len())
            .filter(|&i| self.is_free(i))
            .collect();
        let held = self.active_reservations(t);
        let startable = free.iter().any(|&i| {
            !self.info[i].files.iter().any(|f| {
                held.iter()
                    .any(|r| gaffer_core::glob::overlaps(&r.path_pattern, f))
            })
        });
        fn track(now: bool, since: &mut Option<Ms>, t: Ms) {
            match (now, *since) {
                (true, None) => *since = Some(t),
                (false, Some(_)) => *since = None,
                _ => {}
            }
        }
        track(!free.is_empty(), &mut self.free_since, t);
        track(startable, &mut self.startable_since, t);
    }

    /// Active reservations as the mailbox lists them.
    pub fn active_reservations(&self, t: Ms) -> Vec<Reservation> {
        let now = self.ts(t);
        self.reservations
            .iter()
            .filter(|r| r.is_active(now))
            .cloned()
            .collect()
    }

    /// Reserves `paths` for `holder`, exclusively (advisory: granted even when they clash);
    /// returns the paths another holder's active reservation clashes with.
    pub fn reserve(&mut self, holder: &str, paths: &[String], reason: &str, t: Ms) -> Vec<String> {
        let now = self.ts(t);
        let index = ReservationIndex::new(&self.reservations, now);
        let mut clash = Vec::new();
        for p in paths {
            let others = index
                .clashes(holder, p, true)
                .into_iter()
                .filter_map(|k| index.get(k))
                .any(|r| r.agent_name != holder);
            if others {
                clash.push(p.clone());
            }
        }
        for p in paths {
            self.reservations.push(Reservation {
                id: self.next_reservation,
                agent_name: holder.to_string(),
                path_pattern: p.clone(),
                exclusive: true,
                reason: reason.to_string(),
                created_ts: Some(now),
                expires_ts: now + chrono::Duration::hours(12),
                released_ts: None,
            });
            self.next_reservation += 1;
        }
        self.update_free(t);
        clash
    }

    /// Releases `holder`'s active reservations of `patterns` (all of them when empty).
    pub fn release(&mut self, holder: &str, patterns: &[String], t: Ms) {
        let now = self.ts(t);
        for r in self.reservations.iter_mut() {
            if r.agent_name == holder
                && r.released_ts.is_none()
                && (patterns.is_empty() || patterns.contains(&r.path_pattern))
            {
                r.released_ts = Some(now);
            }
        }
        self.update_free(t);
    }

    /// Claims a bead for `actor` (`br update --claim`): false when someone holds it.
    pub fn claim(&mut self, bead: usize, actor: &str) -> bool {
        let is = &mut self.issues[bead];
        if is.status != "open" || is.assignee.is_some() {
            return false;
        }
        is.status = "in_progress".into();
        is.assignee = Some(actor.to_string());
        self.version += 1;
        true
    }

    /// Undoes `actor`'s claim of a bead.
    pub fn unclaim(&mut self, bead: usize, actor: &str, t: Ms) {
        let is = &mut self.issues[bead];
        if is.status == "in_progress" && is.assignee.as_deref() == Some(actor) {
            is.status = "open".into();
            is.assignee = None;
            self.version += 1;
            self.update_free(t);
        }
    }

    /// A prompt handing `bead` to agent `a` reaches its pane. Counted against the truth: a
    /// prompt to an agent that is not ready, a bead already in someone else's hands.
    pub fn prompt(&mut self, a: usize, bead: usize, t: Ms) -> Result<(), NotReady> {
        self.prompts += 1;
        if !matches!(self.agents[a].phase, Phase::Idle) {
            self.not_ready_prompts += 1;
            return Err(NotReady::Busy);
        }
        if self.in_hands(bead) {
            self.double_assignments += 1;
        }
        if let (Some(r), Some(f)) = (self.agents[a].ready_at, self.free_since) {
            self.idle_to_assign_any.push(t - r.max(f));
        }
        if let (Some(r), Some(f)) = (self.agents[a].ready_at, self.startable_since) {
            self.idle_to_assign.push(t - r.max(f));
            if self.mode == Mode::Gaffer
                && std::env::var_os("FLEET_DEBUG").is_some()
                && t - r.max(f) > 2 * SEC
            {
                eprintln!(
                    "slow assign: t={t} agent={a} bead={bead} ready_at={r} startable_since={f} last_activity={}",
                    self.agents[a].last_activity
                );
            }
        }
        self.agents[a].ready_at = None;
        self.agents[a].attempts += 1;
        let plan = self.plan(a, bead);
        let read = plan.read;
        self.agents[a].phase = Phase::Reading {
            job: Job {
                bead,
                plan,
                done: 0,
                rework: 0,
                clash_at: None,
                revoked: false,
            },
            until: t + read,
        };
        self.touch(a, t);
        self.update_free(t);
        Ok(())
    }

    fn plan(&self, a: usize, bead: usize) -> Plan {
        let ag = &self.agents[a];
        let mut r = draw(self.w.seed, &[a as u64 + 1, bead as u64 + 1, ag.attempts]);
        // Refusal is a property of the pair (asked again, the agent refuses again).
        let refuse = draw(self.w.seed, &[0xdec1, a as u64 + 1, bead as u64 + 1]).unit() < 0.03;
        let work = ((self.info[bead].effort as f64) * ag.speed) as Ms;
        let roll = r.unit();
        let at = (work as f64 * (0.2 + 0.6 * r.unit())) as Ms;
        let incident = if roll < 0.04 {
            Some((at, Incident::Hang(r.range(8, 30) * MIN)))
        } else if roll < 0.09 {
            Some((at, Incident::RateLimit(r.range(4, 25) * MIN)))
        } else if roll < 0.097 {
            Some((at, Incident::Exit))
        } else if roll < 0.125 {
            Some((at, Incident::Abandon))
        } else {
            None
        };
        let extra = (r.unit() < 0.10).then(|| {
            let at = (work as f64 * r.unit() * 0.5) as Ms;
            (at, format!("src/m{:02}/**", r.range(0, 24)))
        });
        Plan {
            refuse,
            read: r.range(3, 11) * SEC,
            work,
            incident,
            extra,
        }
    }

    /// When agent `a` next does something by itself.
    pub fn next_at(&self, a: usize) -> Option<Ms> {
        let ag = &self.agents[a];
        match &ag.phase {
            Phase::Reading { until, .. }
            | Phase::Paused { until, .. }
            | Phase::Starting { until } => Some(*until),
            Phase::Working { job, since } => {
                let total = job.plan.work + job.rework;
                let mut next = since + (total - job.done).max(0);
                if let Some((at, _)) = job.plan.incident {
                    if at > job.done {
                        next = next.min(since + at - job.done);
                    }
                }
                if let Some((at, _)) = &job.plan.extra {
                    if *at > job.done {
                        next = next.min(since + at - job.done);
                    }
                }
                if let Some(c) = job.clash_at {
                    next = next.min(c + 60 * SEC);
                }
                Some(next)
            }
            _ => None,
        }
    }

    /// Runs agent `a`'s step due at `t`.
    pub fn step(&mut self, a: usize, t: Ms) {
        let phase = std::mem::replace(&mut self.agents[a].phase, Phase::Idle);
        match phase {
            Phase::Reading { job, .. } => self.start(a, job, t),
            Phase::Paused { job, .. } => {
                self.agents[a].rate_reset = None;
                if job.revoked {
                    // Back from the hang or the limit, it reads the hand-back and stops.
                    self.dropped += 1;
                    self.go_idle(a, t);
                    return;
                }
                self.agents[a].phase = Phase::Working { job, since: t };
                self.touch(a, t);
            }
            Phase::Starting { .. } => self.go_idle(a, t),
            Phase::Working { mut job, since } => {
                job.done += t - since;
                self.work_step(a, job, t);
            }
            other => self.agents[a].phase = other,
        }
    }

    fn start(&mut self, a: usize, job: Job, t: Ms) {
        let name = self.agents[a].name.clone();
        let bead = job.bead;
        if job.plan.refuse {
            self.refusals += 1;
            if self.mode == Mode::Gaffer {
                self.reports.push(Report::Refused { agent: a, bead });
            }
            self.go_idle(a, t);
            return;
        }
        let mut job = job;
        if self.mode == Mode::Reference {
            // The prompt says: claim it, reserve the files. A bead someone else claimed first
            // is dropped.
            if !self.claim(bead, &name) {
                self.go_idle(a, t);
                return;
            }
            let files = self.info[bead].files.clone();
            if !self.reserve(&name, &files, &bead_id(bead), t).is_empty() {
                // Working over someone else's files: a merge conflict to redo later.
                job.rework += job.plan.work * 3 / 10;
                self.rework_events += 1;
            }
        }
        self.agents[a].phase = Phase::Working { job, since: t };
        self.touch(a, t);
    }

    fn work_step(&mut self, a: usize, mut job: Job, t: Ms) {
        let name = self.agents[a].name.clone();
        if let Some(c) = job.clash_at {
            if t >= c + 60 * SEC {
                // Nobody said anything: both edited the same files.
                job.clash_at = None;
                job.rework += job.plan.work / 4;
                self.rework_events += 1;
            }
        }
        if let Some((at, pattern)) = job.plan.extra.clone() {
            if job.done >= at {
                job.plan.extra = None;
                if !self
                    .reserve(&name, std::slice::from_ref(&pattern), "extra", t)
                    .is_empty()
                {
                    job.clash_at = Some(t);
                }
            }
        }
        if let Some((at, incident)) = job.plan.incident {
            if job.done >= at {
                job.plan.incident = None;
                match incident {
                    Incident::Hang(d) => {
                        self.incidents[0] += 1;
                        self.agents[a].phase = Phase::Paused {
                            job,
                            from: t,
                            until: t + d,
                            status: AgentStatus::Stalled,
                        };
                        return;
                    }
                    Incident::RateLimit(d) => {
                        self.incidents[1] += 1;
                        self.agents[a].rate_reset = Some(t + d);
                        self.agents[a].phase = Phase::Paused {
                            job,
                            from: t,
                            until: t + d,
                            status: AgentStatus::RateLimited,
                        };
                        self.touch(a, t);
                        return;
                    }
                    Incident::Exit => {
                        self.incidents[2] += 1;
                        self.agents[a].phase = Phase::Exited;
                        self.touch(a, t);
                        self.update_free(t);
                        return;
                    }
                    Incident::Abandon => {
                        self.incidents[3] += 1;
                        self.go_idle(a, t);
                        return;
                    }
                }
            }
        }
        if job.done >= job.plan.work + job.rework {
            // Done: `br close`, release what it holds, back at the prompt.
            let is = &mut self.issues[job.bead];
            if is.status != "closed" {
                is.status = "closed".into();
                self.version += 1;
                self.closed += 1;
                self.last_close = t;
                self.close_times.push(t);
            }
            self.release(&name, &[], t);
            self.go_idle(a, t);
            return;
        }
        self.agents[a].phase = Phase::Working { job, since: t };
    }

    fn go_idle(&mut self, a: usize, t: Ms) {
        self.agents[a].phase = Phase::Idle;
        self.agents[a].ready_at = Some(t);
        self.touch(a, t);
        self.update_free(t);
    }

    /// The coordinator relaunched agent `a` in its pane: whatever it was doing is gone, and
    /// the CLI is ready after a start-up delay drawn from (seed, agent, restart).
    pub fn restart(&mut self, a: usize, t: Ms) {
        self.restarts += 1;
        let delay = draw(self.w.seed, &[0x5747, a as u64 + 1, self.restarts]).range(8, 21) * SEC;
        self.agents[a].phase = Phase::Starting { until: t + delay };
        self.agents[a].rate_reset = None;
        self.agents[a].ready_at = None;
        self.touch(a, t);
        self.update_free(t);
    }

    /// A hand-back notice about `bead` reached agent `a`: a running agent drops the bead at
    /// once and is back at its prompt; a hung or rate-limited one drops it when it can read
    /// again. It keeps whatever it reserved on the side (as when it gives up).
    pub fn handed_back(&mut self, a: usize, bead: usize, t: Ms) {
        let Some(job) = self.agents[a].job_mut() else {
            return;
        };
        if job.bead != bead {
            return;
        }
        job.revoked = true;
        if matches!(
            self.agents[a].phase,
            Phase::Reading { .. } | Phase::Working { .. }
        ) {
            self.dropped += 1;
            self.go_idle(a, t);
        } else {
            self.update_free(t);
        }
    }

    /// `br close` by the coordinator for a bead its ledger says is done.
    pub fn close_in_source(&mut self, bead: usize, t: Ms) {
        let is = &mut self.issues[bead];
        if is.status != "closed" {
            is.status = "closed".into();
            self.version += 1;
            self.closed += 1;
            self.last_close = t;
            self.close_times.push(t);
            self.update_free(t);
        }
    }

    /// A conflict notice reached agent `a`: it gives its clashing extra reservation back.
    pub fn notice(&mut self, a: usize, t: Ms) {
        let name = self.agents[a].name.clone();
        let mut give_back = None;
        if let Some(job) = self.agents[a].job_mut() {
            if job.clash_at.take().is_some() {
                give_back = Some(());
            }
        }
        if give_back.is_some() {
            let extras: Vec<String> = self
                .reservations
                .iter()
                .filter(|r| r.agent_name == name && r.reason == "extra" && r.released_ts.is_none())
                .map(|r| r.path_pattern.clone())
                .collect();
            self.release(&name, &extras, t);
        }
    }

    /// The truth about conflicts now: pairs of holders with overlapping active reservations
    /// (checked pairwise with the glob algebra, not through the index under test).
    pub fn true_conflicts(&self, t: Ms) -> BTreeSet<(String, String, String, String)> {
        let rs = self.active_reservations(t);
        let mut out = BTreeSet::new();
        for (i, a) in rs.iter().enumerate() {
            for b in &rs[i + 1..] {
                if a.agent_name != b.agent_name
                    && (a.exclusive || b.exclusive)
                    && gaffer_core::glob::overlaps(&a.path_pattern, &b.path_pattern)
                {
                    let (x, y) =
                        if (&a.agent_name, &a.path_pattern) <= (&b.agent_name, &b.path_pattern) {
                            (a, b)
                        } else {
                            (b, a)
                        };
                    out.insert((
                        x.agent_name.clone(),
                        x.path_pattern.clone(),
                        y.agent_name.clone(),
                        y.path_pattern.clone(),
                    ));
                }
            }
        }
        out
    }

    /// The agent index of a pane id.
    pub fn agent_of(&self, pane: &str) -> Option<usize> {
        self.agents.iter().position(|a| a.pane == pane)
    }

    pub fn all_closed(&self) -> bool {
        self.closed == self.issues.len()
    }
}

/// The triage of the world's issues, recomputed only when they changed (the native engine, as
/// gaffer's work source runs it), extended with every claimable bead as the runtime does. The
/// baseline gets the same list (its bv would give only the top ten, often all blocked or in
/// progress; NTM HEAD reads `--robot-plan` for the rest).
pub struct TriageCache {
    version: u64,
    pub response: Option<TriageResponse>,
    pub runs: u64,
}

impl Default for TriageCache {
    fn default() -> Self {
        TriageCache::new()
    }
}

impl TriageCache {
    pub fn new() -> TriageCache {
        TriageCache {
            version: 0,
            response: None,
            runs: 0,
        }
    }
    pub fn get(&mut self, world: &World, t: Ms) -> &TriageResponse {
        if self.version != world.version || self.response.is_none() {
            self.version = world.version;
            self.runs += 1;
            // As the runtime reads work for an assignment round: the ranking's top ten, then
            // every other claimable bead.
            let native = gaffer_core::triage_engine::triage(&world.issues, world.ts(t));
            self.response = Some(gaffer_core::triage_engine::with_claimable(
                native.response.clone(),
                &native,
            ));
        }
        self.response
            .get_or_insert_with(|| gaffer_core::triage_engine::triage(&[], world.ts(t)).response)
    }
}
