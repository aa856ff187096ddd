//! The rule engine. Each situation is an *episode* per subject and kind (an agent BLOCKED, a
//! conflict): it starts when the situation starts and ends only once the situation has been over
//! for [`Rules::recovery`], so an agent flapping BLOCKED↔GENERATING stays in one episode and
//! notifies once, while a new episode after a real recovery notifies again. Each episode
//! notifies at most once; then per agent and kind at most one notification goes out per
//! [`Rules::repeat_interval`]: one that comes sooner waits for the interval's end, folded with
//! any others into the last one. During quiet hours nothing goes out: what would have is sent as
//! one summary when they end.

use super::config::{NotifyConfig, RuleKind};
use super::message::{Notification, human_secs, prefix, style};
use super::quiet::QuietHours;
use crate::event::{CoordinatorEvent, CoordinatorEventType as T};
use crate::time::{Timestamp, parse_rfc3339};
use chrono::TimeDelta;
use chrono_tz::Tz;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The rules, from `[notify]`, with the local zone resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// The kinds that notify.
    pub on: BTreeSet<RuleKind>,
    /// A BLOCKED episode notifies once it is this old.
    pub blocked_after: TimeDelta,
    /// Context use above this percent is a `context` episode (0: off).
    pub context_above: f64,
    /// Out of a state this long ends its episode.
    pub recovery: TimeDelta,
    /// At most one notification per agent and kind this often.
    pub repeat_interval: TimeDelta,
    /// Quiet hours, in `zone`.
    pub quiet: Option<QuietHours>,
    /// The local zone: of quiet hours and of times in messages.
    pub zone: Tz,
    /// The session's name, in titles; may be empty.
    pub label: String,
}

impl Rules {
    /// The rules of a `[notify]` section.
    pub fn from_config(cfg: &NotifyConfig, zone: Tz, label: &str) -> Result<Rules, String> {
        let quiet = if cfg.quiet_hours.trim().is_empty() {
            None
        } else {
            Some(QuietHours::parse(&cfg.quiet_hours)?)
        };
        let span = |d: std::time::Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        Ok(Rules {
            on: cfg.on.iter().copied().collect(),
            blocked_after: span(cfg.blocked_after),
            context_above: cfg.context_above,
            recovery: span(cfg.recovery),
            repeat_interval: span(cfg.repeat_interval),
            quiet,
            zone,
            label: label.to_string(),
        })
    }

    fn in_quiet(&self, now: Timestamp) -> bool {
        self.quiet
            .is_some_and(|q| q.contains(now.with_timezone(&self.zone).time()))
    }
}

/// What the engine did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Notifications handed out (a quiet-hours summary counts once).
    pub sent: u64,
    /// Episodes started.
    pub episodes: u64,
    /// Re-entries within `recovery`, kept in their episode.
    pub flaps: u64,
    /// Events repeating a state already in force.
    pub duplicates: u64,
    /// Notifications that waited for the rate limit (sent later, alone or folded).
    pub delayed: u64,
    /// Notifications folded into a later one of the same agent and kind.
    pub folded: u64,
    /// Notifications held for the quiet-hours summary.
    pub quiet_held: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Edge {
    On,
    Off,
    Instant,
}

#[derive(Debug, Clone)]
struct Signal {
    kind: RuleKind,
    subject: String,
    edge: Edge,
}

#[derive(Debug, Clone)]
struct Episode {
    started: Timestamp,
    on_since: Option<Timestamp>,
    off_since: Option<Timestamp>,
    notified: bool,
    entries: u32,
    event: CoordinatorEvent,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    last_sent: Option<Timestamp>,
    held: Option<Notification>,
    /// When the first of the held notifications was made.
    held_since: Option<Timestamp>,
}

/// The engine: feed it every event with [`Engine::on_event`] and call [`Engine::tick`] every
/// second or so; deliver what they return.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Rules,
    episodes: BTreeMap<(RuleKind, String), Episode>,
    slots: BTreeMap<(RuleKind, String), Slot>,
    quiet_held: Vec<Notification>,
    /// Agents whose state an event told.
    seen: BTreeSet<String>,
    stats: Stats,
}

/// The agent states that are rule kinds, with their status names.
const STATES: [(RuleKind, &str); 5] = [
    (RuleKind::Blocked, "BLOCKED"),
    (RuleKind::Error, "ERROR"),
    (RuleKind::RateLimited, "RATE_LIMITED"),
    (RuleKind::Stalled, "STALLED"),
    (RuleKind::Exited, "EXITED"),
];

impl Engine {
    /// An engine with no history.
    pub fn new(rules: Rules) -> Engine {
        Engine {
            rules,
            episodes: BTreeMap::new(),
            slots: BTreeMap::new(),
            quiet_held: Vec::new(),
            seen: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    /// An agent's state as found at start (the coordinator reports changes only): taken like
    /// an event unless an event already told this agent's state, which is newer.
    pub fn seed(&mut self, e: &CoordinatorEvent, now: Timestamp) -> Vec<Notification> {
        if self.seen.contains(&e.agent_id) {
            return Vec::new();
        }
        self.on_event(e, now)
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// What it did so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Takes one event at `now`; returns the notifications to deliver now.
    pub fn on_event(&mut self, e: &CoordinatorEvent, now: Timestamp) -> Vec<Notification> {
        let mut out = Vec::new();
        self.flush_quiet(now, &mut out);
        if !e.agent_id.is_empty() && status_of(e).is_some() {
            self.seen.insert(e.agent_id.clone());
        }
        for s in self.classify(e) {
            match s.edge {
                Edge::On => self.enter(&s, e, now, &mut out),
                Edge::Off => self.leave(&s, now),
                Edge::Instant => {
                    let n = self.render(s.kind, &s.subject, e, None, now);
                    self.offer(n, now, &mut out);
                }
            }
        }
        out
    }

    /// Advances the clock to `now`: ends episodes over for `recovery`, notifies BLOCKED episodes
    /// that became old enough, releases what waited for the rate limit, and sends the quiet-hours
    /// summary once they end.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Notification> {
        let mut out = Vec::new();
        self.flush_quiet(now, &mut out);
        let recovery = self.rules.recovery;
        self.episodes
            .retain(|_, ep| ep.off_since.is_none_or(|off| now - off < recovery));
        let due: Vec<(RuleKind, String)> = self
            .episodes
            .iter()
            .filter(|(k, ep)| self.ready(k.0, ep, now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.check(&key, now, &mut out);
        }
        let repeat = self.rules.repeat_interval;
        let mut released = Vec::new();
        for slot in self.slots.values_mut() {
            let free = slot.last_sent.is_none_or(|t| now - t >= repeat);
            if free {
                if let Some(n) = slot.held.take() {
                    slot.last_sent = Some(now);
                    slot.held_since = None;
                    released.push(n);
                }
            }
        }
        for n in released {
            self.deliver(n, now, &mut out);
        }
        out
    }

    fn classify(&self, e: &CoordinatorEvent) -> Vec<Signal> {
        let agent = e.agent_id.clone();
        let sig = |kind, subject: &str, edge| Signal {
            kind,
            subject: subject.to_string(),
            edge,
        };
        let mut out = match &e.event_type {
            T::AgentContextHigh if self.rules.context_above > 0.0 && !agent.is_empty() => {
                vec![sig(RuleKind::Context, &agent, Edge::On)]
            }
            T::ConflictDetected => {
                vec![sig(RuleKind::Conflict, conflict_key(e), Edge::On)]
            }
            T::ConflictResolved => {
                vec![sig(RuleKind::Conflict, conflict_key(e), Edge::Off)]
            }
            T::DigestSent => vec![sig(RuleKind::Digest, "", Edge::Instant)],
            T::AgentCrashLoop if !agent.is_empty() => {
                vec![sig(RuleKind::Exited, &agent, Edge::Instant)]
            }
            T::AgentGone if !agent.is_empty() => STATES
                .iter()
                .map(|(k, _)| *k)
                .chain([RuleKind::Context])
                .map(|k| sig(k, &agent, Edge::Off))
                .collect(),
            _ if !agent.is_empty() && status_of(e).is_some() => {
                let status = status_of(e).unwrap_or_default();
                let mut v: Vec<Signal> = STATES
                    .iter()
                    .map(|(k, name)| {
                        let edge = if *name == status { Edge::On } else { Edge::Off };
                        sig(*k, &agent, edge)
                    })
                    .collect();
                let below = e
                    .details
                    .get("context_usage")
                    .and_then(Value::as_f64)
                    .is_some_and(|u| u <= self.rules.context_above);
                if below {
                    v.push(sig(RuleKind::Context, &agent, Edge::Off));
                }
                v
            }
            _ => Vec::new(),
        };
        out.retain(|s| self.rules.on.contains(&s.kind));
        out
    }

    fn enter(
        &mut self,
        s: &Signal,
        e: &CoordinatorEvent,
        now: Timestamp,
        out: &mut Vec<Notification>,
    ) {
        let key = (s.kind, s.subject.clone());
        let recovery = self.rules.recovery;
        match self.episodes.get_mut(&key) {
            Some(ep) if ep.on_since.is_some() => {
                self.stats.duplicates += 1;
                ep.event = e.clone();
            }
            Some(ep) if ep.off_since.is_some_and(|off| now - off < recovery) => {
                self.stats.flaps += 1;
                ep.on_since = Some(now);
                ep.off_since = None;
                ep.entries += 1;
                ep.event = e.clone();
            }
            _ => {
                self.stats.episodes += 1;
                self.episodes.insert(
                    key.clone(),
                    Episode {
                        started: now,
                        on_since: Some(now),
                        off_since: None,
                        notified: false,
                        entries: 1,
                        event: e.clone(),
                    },
                );
            }
        }
        self.check(&key, now, out);
    }

    fn leave(&mut self, s: &Signal, now: Timestamp) {
        if let Some(ep) = self.episodes.get_mut(&(s.kind, s.subject.clone())) {
            if ep.on_since.is_some() {
                ep.on_since = None;
                ep.off_since = Some(now);
            }
        }
    }

    fn ready(&self, kind: RuleKind, ep: &Episode, now: Timestamp) -> bool {
        if ep.notified || ep.on_since.is_none() {
            return false;
        }
        kind != RuleKind::Blocked || now - ep.started >= self.rules.blocked_after
    }

    fn check(&mut self, key: &(RuleKind, String), now: Timestamp, out: &mut Vec<Notification>) {
        let Some(ep) = self.episodes.get(key) else {
            return;
        };
        if !self.ready(key.0, ep, now) {
            return;
        }
        let ep = ep.clone();
        let n = self.render(key.0, &key.1, &ep.event, Some(&ep), now);
        if let Some(stored) = self.episodes.get_mut(key) {
            stored.notified = true;
        }
        self.offer(n, now, out);
    }

    /// Through the rate limit of the notification's agent and kind.
    fn offer(&mut self, mut n: Notification, now: Timestamp, out: &mut Vec<Notification>) {
        let Some(kind) = RuleKind::ALL.iter().find(|k| k.as_str() == n.kind) else {
            self.deliver(n, now, out);
            return;
        };
        let repeat = self.rules.repeat_interval;
        let slot = self.slots.entry((*kind, n.agent_id.clone())).or_default();
        if slot.last_sent.is_some_and(|t| now - t < repeat) {
            self.stats.delayed += 1;
            if let Some(prev) = slot.held.take() {
                self.stats.folded += 1;
                n.folded = prev.folded + 1;
                let since = slot.held_since.unwrap_or(prev.timestamp);
                n.message = format!(
                    "{} ({} earlier like it since {}).",
                    n.message.trim_end_matches('.'),
                    n.folded,
                    local_clock(&since, self.rules.zone)
                );
            } else {
                slot.held_since = Some(n.timestamp);
            }
            slot.held = Some(n);
            return;
        }
        slot.last_sent = Some(now);
        self.deliver(n, now, out);
    }

    fn deliver(&mut self, n: Notification, now: Timestamp, out: &mut Vec<Notification>) {
        if self.rules.in_quiet(now) {
            self.stats.quiet_held += 1;
            self.quiet_held.push(n);
        } else {
            self.stats.sent += 1;
            out.push(n);
        }
    }

    fn flush_quiet(&mut self, now: Timestamp, out: &mut Vec<Notification>) {
        if self.quiet_held.is_empty() || self.rules.in_quiet(now) {
            return;
        }
        let held = std::mem::take(&mut self.quiet_held);
        const LISTED: usize = 20;
        let mut lines: Vec<String> = held
            .iter()
            .take(LISTED)
            .map(|n| format!("{} {}", local_clock(&n.timestamp, self.rules.zone), n.title))
            .collect();
        if held.len() > LISTED {
            lines.push(format!("… and {} more", held.len() - LISTED));
        }
        let window = self.rules.quiet.map(|q| q.to_string()).unwrap_or_default();
        let (_, tags) = style("quiet_summary");
        self.stats.sent += 1;
        out.push(Notification {
            kind: "quiet_summary".into(),
            agent_id: String::new(),
            subject: String::new(),
            title: format!(
                "{}{} notification{} during quiet hours ({window})",
                prefix(&self.rules.label),
                held.len(),
                if held.len() == 1 { "" } else { "s" }
            ),
            message: lines.join("\n"),
            priority: held.iter().map(|n| n.priority).max().unwrap_or(3),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            timestamp: now,
            folded: 0,
            event: None,
        });
    }

    fn render(
        &self,
        kind: RuleKind,
        subject: &str,
        e: &CoordinatorEvent,
        ep: Option<&Episode>,
        now: Timestamp,
    ) -> Notification {
        let d = |k: &str| e.details.get(k).and_then(Value::as_str).unwrap_or("");
        let who = if e.agent_id.is_empty() {
            String::new()
        } else if d("agent_type").is_empty() {
            e.agent_id.clone()
        } else {
            format!("{} ({})", e.agent_id, d("agent_type"))
        };
        let flaps = ep
            .filter(|ep| ep.entries > 1)
            .map(|ep| format!("; it went in and out {} times", ep.entries))
            .unwrap_or_default();
        let age = ep
            .map(|ep| human_secs((now - ep.started).num_seconds()))
            .unwrap_or_default();
        let (what, message) = match kind {
            RuleKind::Blocked => (
                "BLOCKED".to_string(),
                format!(
                    "{who} has waited for a human for {age}: a dialog is open in its pane{flaps}."
                ),
            ),
            RuleKind::Error => (
                "ERROR".to_string(),
                format!("{who} is in an error state{flaps}."),
            ),
            RuleKind::RateLimited => {
                let reset = parse_rfc3339(d("reset_at")).ok().map(|t| {
                    format!(
                        "; it resets at {} (in {})",
                        local_clock(&t, self.rules.zone),
                        human_secs((t - now).num_seconds())
                    )
                });
                (
                    "RATE_LIMITED".to_string(),
                    format!(
                        "{who} hit a rate limit{}{flaps}.",
                        reset.unwrap_or_else(|| "; its reset time is not shown".into())
                    ),
                )
            }
            RuleKind::Stalled => (
                "STALLED".to_string(),
                format!("{who} has been busy without progress{flaps}."),
            ),
            RuleKind::Exited if e.event_type == T::AgentCrashLoop => (
                "crash loop".to_string(),
                format!(
                    "{who} exited too often; restarting it stopped ({}).",
                    d("reason")
                ),
            ),
            RuleKind::Exited => (
                "EXITED".to_string(),
                format!(
                    "{who} exited{}{flaps}.",
                    match d("prev_status") {
                        "" => String::new(),
                        p => format!(" (it was {p})"),
                    }
                ),
            ),
            RuleKind::Context => {
                let usage = e
                    .details
                    .get("context_usage")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                (
                    format!("context {usage:.0}%"),
                    format!(
                        "{who} has used {usage:.0}% of its context window (above {:.0}%).",
                        self.rules.context_above
                    ),
                )
            }
            RuleKind::Conflict => {
                let holders: Vec<&str> = e
                    .details
                    .get("holders")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                (
                    format!("conflict on {}", d("pattern")),
                    format!(
                        "Reservations overlap on {}: {}{}.",
                        d("pattern"),
                        holders.join(", "),
                        match d("overlap") {
                            "" => String::new(),
                            o => format!(" (overlap {o})"),
                        }
                    ),
                )
            }
            RuleKind::Digest => {
                let n = |k: &str| e.details.get(k).and_then(Value::as_u64).unwrap_or(0);
                (
                    "digest".to_string(),
                    format!(
                        "A digest was sent: {} agents, {} active, {} alerts.",
                        n("agent_count"),
                        n("active_count"),
                        n("alert_count")
                    ),
                )
            }
        };
        let (priority, tags) = style(kind.as_str());
        let title = if who.is_empty() {
            format!("{}{what}", prefix(&self.rules.label))
        } else {
            format!("{}{who} {what}", prefix(&self.rules.label))
        };
        Notification {
            kind: kind.as_str().into(),
            agent_id: e.agent_id.clone(),
            subject: subject.to_string(),
            title,
            message,
            priority,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            timestamp: now,
            folded: 0,
            event: Some(e.clone()),
        }
    }
}

/// The state an event reports: a state change's `new_status`, an appeared agent's `status`.
fn status_of(e: &CoordinatorEvent) -> Option<&str> {
    let key = if e.event_type == T::AgentAppeared {
        "status"
    } else {
        "new_status"
    };
    e.details
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn conflict_key(e: &CoordinatorEvent) -> &str {
    ["conflict_id", "pattern"]
        .iter()
        .find_map(|k| e.details.get(*k).and_then(Value::as_str))
        .unwrap_or("")
}

/// `14:30 CET`.
fn local_clock(t: &Timestamp, zone: Tz) -> String {
    t.with_timezone(&zone).format("%H:%M %Z").to_string()
}
