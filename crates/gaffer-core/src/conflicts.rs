//! Conflict detection over file reservations (the reference's `ConflictDetector`), by true
//! overlap of glob patterns (see [`crate::glob`]).
//!
//! Two active reservations conflict when they belong to different agents, at least one is
//! exclusive, and their patterns match a common path. Reservations are indexed by the literal
//! prefix of their pattern (a trie of path segments): two patterns can only overlap when one's
//! literal prefix is a prefix of the other's, so only a node's own entries and its subtree are
//! compared. When reservations cannot be read the result is [`ConflictError::Unknown`], never
//! an empty list, so callers fail closed.

use crate::conflict::{Conflict, Holder};
use crate::glob::{Pattern, segments};
use crate::mailbox::{MailError, Mailbox, Reservation};
use crate::time::{Timestamp, zero_time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// A small fast hasher for the index's string keys (not DoS-resistant; keys are local).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(buf))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Why conflicts could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConflictError {
    /// The reservations could not be read: conflicts are unknown (fail closed).
    #[error("conflicts unknown: reservations could not be read: {0}")]
    Unknown(#[source] MailError),
}

/// A conflict with an example of the overlap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectedConflict {
    /// The reference's conflict record.
    #[serde(flatten)]
    pub conflict: Conflict,
    /// A path both sides match (or the shared pattern when both hold the same one).
    pub overlap: String,
}

/// One distinct pattern and who holds it.
#[derive(Debug)]
struct Group {
    pattern: String,
    compiled: OnceLock<Pattern>,
    /// agent name -> (exclusive on this pattern, indices into `reservations`)
    agents: Vec<(String, (bool, Vec<usize>))>,
}

/// A trie node: one literal path prefix. Children are found through `ReservationIndex::child`
/// by (parent, hash of segment); a hash collision only merges two siblings, which costs extra
/// comparisons but never hides an overlap.
#[derive(Debug, Default)]
struct Node {
    groups: Vec<usize>,
    first_child: Option<usize>,
    next_sibling: Option<usize>,
}

fn seg_hash(seg: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(seg.as_bytes());
    h.write_u8(0xff);
    h.finish()
}

/// The leading segments of `pattern` that are plain literals (no wildcard, no escape), as the
/// index keys them. Stopping early is safe: a pattern filed higher is compared with more.
fn literal_prefix(pattern: &str) -> impl Iterator<Item = &str> {
    segments(pattern).take_while(|s| !s.contains(['*', '?', '[', '\\']))
}

impl Group {
    fn compiled(&self) -> &Pattern {
        self.compiled.get_or_init(|| Pattern::new(&self.pattern))
    }
}

/// Active reservations indexed by literal pattern prefix.
#[derive(Debug)]
pub struct ReservationIndex {
    reservations: Vec<Reservation>,
    groups: Vec<Group>,
    nodes: Vec<Node>,
    child: FxMap<(usize, u64), usize>,
    /// Groups in depth-first trie order; each node's own groups come before its subtree.
    order: Vec<usize>,
    /// For each group, its position in `order`.
    position: Vec<usize>,
    /// For each node, the end (exclusive) of its subtree in `order`.
    subtree_end: Vec<usize>,
    node_of: Vec<usize>,
}

fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A stable id derived from the conflicting (agent, pattern) pairs.
pub fn conflict_id(pairs: &BTreeSet<(String, String)>) -> String {
    let mut buf = Vec::new();
    for (agent, pattern) in pairs {
        buf.extend_from_slice(agent.as_bytes());
        buf.push(0);
        buf.extend_from_slice(pattern.as_bytes());
        buf.push(1);
    }
    format!("conflict-{:016x}", fnv64(&buf))
}

impl ReservationIndex {
    /// Indexes the reservations active at `now` (released and expired ones are dropped).
    pub fn new(reservations: &[Reservation], now: Timestamp) -> ReservationIndex {
        Self::from_vec(reservations.to_vec(), now)
    }

    /// Like [`ReservationIndex::new`], taking ownership (no copy).
    pub fn from_vec(mut reservations: Vec<Reservation>, now: Timestamp) -> ReservationIndex {
        reservations.retain(|r| r.is_active(now));
        let mut by_pattern: FxMap<&str, usize> = FxMap::default();
        let mut groups: Vec<Group> = Vec::new();
        for (i, r) in reservations.iter().enumerate() {
            let g = *by_pattern
                .entry(r.path_pattern.as_str())
                .or_insert_with(|| {
                    groups.push(Group {
                        pattern: r.path_pattern.clone(),
                        compiled: OnceLock::new(),
                        agents: Vec::new(),
                    });
                    groups.len() - 1
                });
            let agents = &mut groups[g].agents;
            let pos = match agents.iter().position(|(a, _)| *a == r.agent_name) {
                Some(p) => p,
                None => {
                    agents.push((r.agent_name.clone(), (false, Vec::new())));
                    agents.len() - 1
                }
            };
            let e = &mut agents[pos].1;
            e.0 |= r.exclusive;
            e.1.push(i);
        }
        for g in &mut groups {
            g.agents.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let mut nodes = vec![Node::default()];
        let mut child: FxMap<(usize, u64), usize> = FxMap::default();
        let mut node_of = Vec::with_capacity(groups.len());
        for (gi, g) in groups.iter().enumerate() {
            let mut n = 0;
            for seg in literal_prefix(&g.pattern) {
                let key = (n, seg_hash(seg));
                n = match child.get(&key) {
                    Some(&c) => c,
                    None => {
                        let c = nodes.len();
                        nodes.push(Node {
                            next_sibling: nodes[n].first_child,
                            ..Node::default()
                        });
                        nodes[n].first_child = Some(c);
                        child.insert(key, c);
                        c
                    }
                };
            }
            nodes[n].groups.push(gi);
            node_of.push(n);
        }
        let mut order = Vec::with_capacity(groups.len());
        let mut subtree_end = vec![0; nodes.len()];
        // iterative DFS: (node, children visited?)
        let mut stack = vec![(0usize, false)];
        while let Some((n, done)) = stack.pop() {
            if done {
                subtree_end[n] = order.len();
                continue;
            }
            order.extend_from_slice(&nodes[n].groups);
            stack.push((n, true));
            let mut c = nodes[n].first_child;
            while let Some(ci) = c {
                stack.push((ci, false));
                c = nodes[ci].next_sibling;
            }
        }
        let mut position = vec![0; groups.len()];
        for (pos, &g) in order.iter().enumerate() {
            position[g] = pos;
        }
        ReservationIndex {
            reservations,
            groups,
            nodes,
            child,
            order,
            position,
            subtree_end,
            node_of,
        }
    }

    /// Number of active reservations indexed.
    pub fn len(&self) -> usize {
        self.reservations.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.reservations.is_empty()
    }

    fn holder(&self, agent: &str, idx: &[usize], priority: &dyn Fn(&str) -> i64) -> Holder {
        let rs = idx.iter().map(|&i| &self.reservations[i]);
        let reserved_at = rs
            .clone()
            .filter_map(|r| r.created_ts)
            .min()
            .unwrap_or_else(zero_time);
        let expires_at = rs
            .clone()
            .map(|r| r.expires_ts)
            .max()
            .unwrap_or_else(zero_time);
        let reason = rs
            .map(|r| r.reason.as_str())
            .find(|s| !s.is_empty())
            .unwrap_or("")
            .to_string();
        Holder {
            agent_name: agent.to_string(),
            pane_id: String::new(),
            reserved_at,
            expires_at,
            reason,
            priority: priority(agent),
        }
    }

    /// Every conflict among the indexed reservations, sorted by pattern then id.
    ///
    /// One conflict per pattern held by two or more agents (at least one exclusively), and one
    /// per pair of distinct overlapping patterns held by different agents (at least one side
    /// exclusive). `priority` gives each holder's priority (lower number = higher priority).
    pub fn detect_conflicts(
        &self,
        now: Timestamp,
        priority: &dyn Fn(&str) -> i64,
    ) -> Vec<DetectedConflict> {
        let mut out = Vec::new();
        for g in &self.groups {
            if g.agents.len() >= 2 && g.agents.iter().any(|(_, (x, _))| *x) {
                let holders: Vec<Holder> = g
                    .agents
                    .iter()
                    .map(|(a, (_, idx))| self.holder(a, idx, priority))
                    .collect();
                let pairs = g
                    .agents
                    .iter()
                    .map(|(a, _)| (a.clone(), g.pattern.clone()))
                    .collect();
                out.push(self.make(&pairs, g.pattern.clone(), holders, g.pattern.clone(), now));
            }
        }
        for (gi, g) in self.groups.iter().enumerate() {
            let start = self.position[gi] + 1;
            let end = self.subtree_end[self.node_of[gi]];
            for &hi in &self.order[start..end] {
                let h = &self.groups[hi];
                if !cross_conflict_possible(g, h) {
                    continue;
                }
                let Some(witness) = g.compiled().witness(h.compiled()) else {
                    continue;
                };
                out.push(self.cross(g, h, witness, now, priority));
            }
        }
        out.sort_by(|a, b| {
            (&a.conflict.pattern, &a.conflict.id).cmp(&(&b.conflict.pattern, &b.conflict.id))
        });
        out
    }

    fn cross(
        &self,
        g: &Group,
        h: &Group,
        witness: String,
        now: Timestamp,
        priority: &dyn Fn(&str) -> i64,
    ) -> DetectedConflict {
        // agents taking part in at least one qualifying pair
        let mut pairs = BTreeSet::new();
        let mut involved: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (a, (xa, ia)) in &g.agents {
            for (b, (xb, ib)) in &h.agents {
                if a != b && (*xa || *xb) {
                    pairs.insert((a.clone(), g.pattern.clone()));
                    pairs.insert((b.clone(), h.pattern.clone()));
                    involved.entry(a).or_default().extend(ia);
                    involved.entry(b).or_default().extend(ib);
                }
            }
        }
        let holders = involved
            .iter()
            .map(|(a, idx)| self.holder(a, idx, priority))
            .collect();
        let (p, q) = if g.pattern <= h.pattern {
            (&g.pattern, &h.pattern)
        } else {
            (&h.pattern, &g.pattern)
        };
        self.make(&pairs, format!("{p} & {q}"), holders, witness, now)
    }

    fn make(
        &self,
        pairs: &BTreeSet<(String, String)>,
        pattern: String,
        holders: Vec<Holder>,
        overlap: String,
        now: Timestamp,
    ) -> DetectedConflict {
        DetectedConflict {
            conflict: Conflict {
                id: conflict_id(pairs),
                file_path: String::new(),
                pattern,
                holders,
                detected_at: now,
                resolved_at: None,
                resolution: String::new(),
            },
            overlap,
        }
    }

    /// The active reservations of agents other than `exclude_agent` whose pattern matches
    /// `path`, as one conflict with `file_path = path`; `None` when there are none. Shared and
    /// exclusive holders both count: the question is whether `path` may be taken exclusively.
    pub fn check_path_conflict(
        &self,
        path: &str,
        exclude_agent: &str,
        now: Timestamp,
        priority: &dyn Fn(&str) -> i64,
    ) -> Option<DetectedConflict> {
        let parts: Vec<&str> = segments(path).collect();
        let mut holders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut patterns: BTreeSet<&str> = BTreeSet::new();
        let mut pairs = BTreeSet::new();
        let mut node = Some(0usize);
        let mut depth = 0;
        while let Some(n) = node {
            for &gi in &self.nodes[n].groups {
                let g = &self.groups[gi];
                if !g.agents.iter().any(|(a, _)| a != exclude_agent) {
                    continue;
                }
                if !g.compiled().matches_segments(&parts) {
                    continue;
                }
                for (a, (_, idx)) in &g.agents {
                    if a != exclude_agent {
                        holders.entry(a).or_default().extend(idx);
                        patterns.insert(&g.pattern);
                        pairs.insert((a.clone(), g.pattern.clone()));
                    }
                }
            }
            node = parts
                .get(depth)
                .and_then(|seg| self.child.get(&(n, seg_hash(seg))).copied());
            depth += 1;
        }
        if holders.is_empty() {
            return None;
        }
        let holders = holders
            .iter()
            .map(|(a, idx)| self.holder(a, idx, priority))
            .collect();
        pairs.insert((exclude_agent.to_string(), path.to_string()));
        let pattern = patterns.into_iter().collect::<Vec<_>>().join(", ");
        let mut c = self.make(&pairs, pattern, holders, path.to_string(), now);
        c.conflict.file_path = path.to_string();
        Some(c)
    }
}

fn cross_conflict_possible(g: &Group, h: &Group) -> bool {
    g.agents
        .iter()
        .any(|(a, (xa, _))| h.agents.iter().any(|(b, (xb, _))| a != b && (*xa || *xb)))
}

/// The reference's `ConflictDetector`: reads the reservations through a [`Mailbox`] and
/// reports conflicts, failing closed when they cannot be read.
pub struct ConflictDetector<'a> {
    mailbox: &'a dyn Mailbox,
    project: String,
    priorities: HashMap<String, i64>,
}

impl<'a> ConflictDetector<'a> {
    /// A detector for `project` (its key as the mailbox knows it).
    pub fn new(mailbox: &'a dyn Mailbox, project: impl Into<String>) -> Self {
        ConflictDetector {
            mailbox,
            project: project.into(),
            priorities: HashMap::new(),
        }
    }

    /// Sets holder priorities by agent name (lower = higher priority; default 0).
    pub fn with_priorities(mut self, priorities: HashMap<String, i64>) -> Self {
        self.priorities = priorities;
        self
    }

    fn index(&self, now: Timestamp) -> Result<ReservationIndex, ConflictError> {
        let rs = self
            .mailbox
            .list_reservations(&self.project, None, true)
            .map_err(ConflictError::Unknown)?;
        Ok(ReservationIndex::from_vec(rs, now))
    }

    /// Every conflict among the active reservations at `now`.
    pub fn detect_conflicts(&self, now: Timestamp) -> Result<Vec<DetectedConflict>, ConflictError> {
        let prio = |a: &str| self.priorities.get(a).copied().unwrap_or(0);
        Ok(self.index(now)?.detect_conflicts(now, &prio))
    }

    /// Whether `path` is held by an agent other than `exclude_agent`.
    pub fn check_path_conflict(
        &self,
        path: &str,
        exclude_agent: &str,
        now: Timestamp,
    ) -> Result<Option<DetectedConflict>, ConflictError> {
        let prio = |a: &str| self.priorities.get(a).copied().unwrap_or(0);
        Ok(self
            .index(now)?
            .check_path_conflict(path, exclude_agent, now, &prio))
    }
}
