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

/// One agent's reservations of one pattern.
#[derive(Debug)]
struct Hold {
    /// Index of a reservation naming the agent (and the first of its reservations here).
    first: usize,
    /// Further reservations (re-reserving the same pattern adds rows); rarely any.
    rest: Vec<usize>,
    /// Whether any of them is exclusive.
    exclusive: bool,
}

impl Hold {
    fn indices(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        std::iter::once(self.first).chain(self.rest.iter().copied())
    }
}

/// One distinct pattern and who holds it.
#[derive(Debug)]
struct Group {
    /// Index of a reservation with this pattern.
    first: usize,
    compiled: OnceLock<Pattern>,
    /// Sorted by agent name.
    agents: Vec<Hold>,
    /// The last segment when the pattern names exactly one file (no wildcard, no cover).
    exact_name: Option<(usize, usize)>,
    /// A literal suffix every matched path ends with (`.md` for `**/*.md`), when known.
    suffix: Option<(usize, usize)>,
}

/// The byte range of the last segment when `pattern` names exactly one file: no wildcard, no
/// escape, not a directory (no trailing `/`, the last segment has an extension).
fn exact_name(pattern: &str) -> Option<(usize, usize)> {
    if pattern.ends_with('/') || pattern.contains(['*', '?', '[', '\\']) {
        return None;
    }
    let last = segments(pattern).last()?;
    if !crate::glob::has_extension(last) {
        return None;
    }
    let start = last.as_ptr() as usize - pattern.as_ptr() as usize;
    Some((start, start + last.len()))
}

/// The byte range of a literal suffix that every path matched by `pattern` ends with: the
/// characters after the last wildcard of a wildcard last segment (`.rs` of `src/*.rs`).
fn literal_suffix(pattern: &str) -> Option<(usize, usize)> {
    if pattern.ends_with('/') {
        return None;
    }
    let last = segments(pattern).last()?;
    if last == "**" || !last.contains(['*', '?', '[']) {
        return None;
    }
    let cut = last.rfind(['*', '?', ']'])? + 1;
    let tail = &last[cut..];
    if tail.is_empty() || tail.contains(['[', '\\']) {
        return None;
    }
    let start = tail.as_ptr() as usize - pattern.as_ptr() as usize;
    Some((start, start + tail.len()))
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

impl ReservationIndex {
    fn pat(&self, g: &Group) -> &str {
        &self.reservations[g.first].path_pattern
    }

    fn name(&self, h: &Hold) -> &str {
        &self.reservations[h.first].agent_name
    }

    fn compiled<'a>(&'a self, g: &'a Group) -> &'a Pattern {
        g.compiled.get_or_init(|| Pattern::new(self.pat(g)))
    }

    /// Cheap disjointness: one side names a single file whose name lacks the literal suffix
    /// that everything the other side matches ends with.
    fn suffix_rules_out(&self, g: &Group, h: &Group) -> bool {
        let test = |file: &Group, glob: &Group| match (file.exact_name, glob.suffix) {
            (Some((a, b)), Some((c, d))) => {
                let name = &self.pat(file)[a..b];
                !name.ends_with(&self.pat(glob)[c..d])
            }
            _ => false,
        };
        test(g, h) || test(h, g)
    }

    fn cross_conflict_possible(&self, g: &Group, h: &Group) -> bool {
        g.agents.iter().any(|x| {
            h.agents
                .iter()
                .any(|y| (x.exclusive || y.exclusive) && self.name(x) != self.name(y))
        })
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
        let n = reservations.len();
        let mut by_pattern: FxMap<&str, usize> =
            FxMap::with_capacity_and_hasher(n, Default::default());
        let mut groups: Vec<Group> = Vec::with_capacity(n);
        for (i, r) in reservations.iter().enumerate() {
            let g = *by_pattern
                .entry(r.path_pattern.as_str())
                .or_insert_with(|| {
                    groups.push(Group {
                        first: i,
                        compiled: OnceLock::new(),
                        agents: Vec::new(),
                        exact_name: exact_name(&r.path_pattern),
                        suffix: literal_suffix(&r.path_pattern),
                    });
                    groups.len() - 1
                });
            let agents = &mut groups[g].agents;
            match agents
                .iter_mut()
                .find(|h| reservations[h.first].agent_name == r.agent_name)
            {
                Some(h) => {
                    h.rest.push(i);
                    h.exclusive |= r.exclusive;
                }
                None => agents.push(Hold {
                    first: i,
                    rest: Vec::new(),
                    exclusive: r.exclusive,
                }),
            }
        }
        for g in &mut groups {
            if g.agents.len() > 1 {
                g.agents.sort_by(|a, b| {
                    reservations[a.first]
                        .agent_name
                        .cmp(&reservations[b.first].agent_name)
                });
            }
        }
        let mut nodes = Vec::with_capacity(n + 1);
        nodes.push(Node::default());
        let mut child: FxMap<(usize, u64), usize> =
            FxMap::with_capacity_and_hasher(n, Default::default());
        let mut node_of = Vec::with_capacity(groups.len());
        for (gi, g) in groups.iter().enumerate() {
            let mut n = 0;
            for seg in literal_prefix(&reservations[g.first].path_pattern) {
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

    fn holder(&self, agent: &str, holds: &[&Hold], priority: &dyn Fn(&str) -> i64) -> Holder {
        let rs = holds
            .iter()
            .flat_map(|h| h.indices())
            .map(|i| &self.reservations[i]);
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
            if g.agents.len() >= 2 && g.agents.iter().any(|h| h.exclusive) {
                let pattern = self.pat(g);
                let holders: Vec<Holder> = g
                    .agents
                    .iter()
                    .map(|h| self.holder(self.name(h), &[h], priority))
                    .collect();
                let pairs = g
                    .agents
                    .iter()
                    .map(|h| (self.name(h).to_string(), pattern.to_string()))
                    .collect();
                out.push(self.make(&pairs, pattern.into(), holders, pattern.into(), now));
            }
        }
        for (gi, g) in self.groups.iter().enumerate() {
            let start = self.position[gi] + 1;
            let end = self.subtree_end[self.node_of[gi]];
            for &hi in &self.order[start..end] {
                let h = &self.groups[hi];
                if !self.cross_conflict_possible(g, h) || self.suffix_rules_out(g, h) {
                    continue;
                }
                let Some(witness) = self.compiled(g).witness(self.compiled(h)) else {
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
        let (gp, hp) = (self.pat(g), self.pat(h));
        let mut pairs = BTreeSet::new();
        let mut involved: BTreeMap<&str, Vec<&Hold>> = BTreeMap::new();
        for x in &g.agents {
            for y in &h.agents {
                let (a, b) = (self.name(x), self.name(y));
                if a != b && (x.exclusive || y.exclusive) {
                    if pairs.insert((a.to_string(), gp.to_string())) {
                        involved.entry(a).or_default().push(x);
                    }
                    if pairs.insert((b.to_string(), hp.to_string())) {
                        involved.entry(b).or_default().push(y);
                    }
                }
            }
        }
        let holders = involved
            .iter()
            .map(|(a, hs)| self.holder(a, hs, priority))
            .collect();
        let (p, q) = if gp <= hp { (gp, hp) } else { (hp, gp) };
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
        let mut holders: BTreeMap<&str, Vec<&Hold>> = BTreeMap::new();
        let mut patterns: BTreeSet<&str> = BTreeSet::new();
        let mut pairs = BTreeSet::new();
        let mut node = Some(0usize);
        let mut depth = 0;
        while let Some(n) = node {
            for &gi in &self.nodes[n].groups {
                let g = &self.groups[gi];
                if !g.agents.iter().any(|h| self.name(h) != exclude_agent) {
                    continue;
                }
                if !self.compiled(g).matches_segments(&parts) {
                    continue;
                }
                for h in &g.agents {
                    let a = self.name(h);
                    if a != exclude_agent {
                        holders.entry(a).or_default().push(h);
                        patterns.insert(self.pat(g));
                        pairs.insert((a.to_string(), self.pat(g).to_string()));
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
            .map(|(a, hs)| self.holder(a, hs, priority))
            .collect();
        pairs.insert((exclude_agent.to_string(), path.to_string()));
        let pattern = patterns.into_iter().collect::<Vec<_>>().join(", ");
        let mut c = self.make(&pairs, pattern, holders, path.to_string(), now);
        c.conflict.file_path = path.to_string();
        Some(c)
    }
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
