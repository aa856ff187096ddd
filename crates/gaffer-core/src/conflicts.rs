//! The reservation-overlap engine, and conflict detection over it (the reference's
//! `ConflictDetector`), by true overlap of glob patterns (see [`crate::glob`]).
//!
//! [`ReservationIndex`] is the one place that answers "which reservations can touch the same
//! path". It is used by conflict detection ([`ReservationIndex::detect_conflicts`],
//! [`ReservationIndex::check_path_conflict`]), by the assignment's file-overlap penalty
//! ([`crate::assign::HolderIndex`]), by the embedded mailbox's clash check and by the test
//! fakes ([`ReservationIndex::overlapping`]). It indexes anything that implements
//! [`Reserved`]: a [`Reservation`], or a borrowed `(holder, pattern)` pair.
//!
//! Two reservations conflict when they belong to different agents, at least one is exclusive,
//! and their patterns match a common path. The index files each distinct pattern twice:
//! - by the literal prefix of the pattern (a trie of path segments): two patterns can only
//!   overlap when one's literal prefix is a prefix of the other's, so a pattern is compared
//!   only with its node's ancestors, its own node and its subtree;
//! - by the extension of its *tail*, the literal text that the last segment of every matched
//!   path ends with (`.rs` for `**/*.rs`, `mod.rs` for `src/**/mod.rs`): two patterns with
//!   tails can only overlap when one tail ends with the other, so only patterns with the same
//!   extension, or with no known tail (`src/**`), are compared. This is what keeps root-level
//!   globs (`**/*.rs`, `*.md`), whose subtree is everything, cheap.
//!
//! When reservations cannot be read the detector's result is [`ConflictError::Unknown`], never
//! an empty list, so callers fail closed.

use crate::conflict::{Conflict, Holder};
use crate::glob::{Pattern, has_extension, segments};
use crate::hash::{FastMap, Fnv64, fast_str_hash};
use crate::mailbox::{MailError, Mailbox, Reservation};
use crate::time::{Timestamp, zero_time};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hasher;
use std::ops::Range;
use std::sync::OnceLock;

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

/// What the overlap engine reads from one reservation.
pub trait Reserved {
    /// Who holds it (an Agent Mail name, or a pane id).
    fn holder(&self) -> &str;
    /// The glob pattern it reserves.
    fn pattern(&self) -> &str;
    /// Whether it is exclusive.
    fn exclusive(&self) -> bool;
}

impl Reserved for Reservation {
    fn holder(&self) -> &str {
        &self.agent_name
    }
    fn pattern(&self) -> &str {
        &self.path_pattern
    }
    fn exclusive(&self) -> bool {
        self.exclusive
    }
}

/// A borrowed `(holder, pattern)` pair, taken as exclusive.
impl Reserved for (&str, &str) {
    fn holder(&self) -> &str {
        self.0
    }
    fn pattern(&self) -> &str {
        self.1
    }
    fn exclusive(&self) -> bool {
        true
    }
}

/// A list that is mostly empty or one long, stored without allocating until it has two.
#[derive(Debug, Default)]
enum Few<T> {
    #[default]
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> Few<T> {
    fn push(&mut self, x: T) {
        *self = match std::mem::take(self) {
            Few::Empty => Few::One(x),
            Few::One(a) => Few::Many(vec![a, x]),
            Few::Many(mut v) => {
                v.push(x);
                Few::Many(v)
            }
        };
    }
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Few::Empty => &[],
            Few::One(a) => std::slice::from_ref(a),
            Few::Many(v) => v,
        }
    }
}

impl<T> std::ops::DerefMut for Few<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Few::Empty => &mut [],
            Few::One(a) => std::slice::from_mut(a),
            Few::Many(v) => v,
        }
    }
}

impl<'a, T> IntoIterator for &'a Few<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
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
    agents: Few<Hold>,
    /// The last segment when the pattern names exactly one file (no wildcard, no cover).
    exact_name: Option<(usize, usize)>,
    /// A literal suffix every matched path ends with (`.md` for `**/*.md`), when known.
    suffix: Option<(usize, usize)>,
    /// The hash of the extension of the pattern's tail (see [`Shape`]), when it has one.
    tail_key: Option<u64>,
}

/// The last segment of a path or pattern, as [`segments`] would end.
fn last_segment(pattern: &str) -> Option<&str> {
    pattern.rsplit('/').find(|p| !p.is_empty() && *p != ".")
}

/// Calls `f` with the [`segments`] of `s`, kept on the stack when there are few.
fn with_segments<T>(s: &str, f: impl FnOnce(&[&str]) -> T) -> T {
    const N: usize = 24;
    let mut buf = [""; N];
    let mut n = 0;
    for seg in segments(s) {
        if n == N {
            let all: Vec<&str> = segments(s).collect();
            return f(&all);
        }
        buf[n] = seg;
        n += 1;
    }
    f(&buf[..n])
}

/// The byte range of `part` (a subslice) inside `whole`.
fn range_in(whole: &str, part: &str) -> (usize, usize) {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    (start, start + part.len())
}

/// The characters after the last wildcard of a wildcard segment (`.rs` of `*.rs`), when they
/// are plain literals.
fn glob_tail(last: &str) -> Option<&str> {
    if last == "**" || !last.contains(['*', '?', '[']) {
        return None;
    }
    let cut = last.rfind(['*', '?', ']'])? + 1;
    let tail = &last[cut..];
    (!tail.is_empty() && !tail.contains(['[', '\\'])).then_some(tail)
}

/// What the index reads from the end of a pattern, for cheap disjointness tests.
#[derive(Debug, Clone, Copy, Default)]
struct Shape {
    /// The byte range of the last segment when the pattern names exactly one file: no
    /// wildcard, no escape, not a directory (no trailing `/`, the last segment has an
    /// extension).
    exact_name: Option<(usize, usize)>,
    /// The byte range of a literal suffix that every matched path ends with: the characters
    /// after the last wildcard of a wildcard last segment (`.rs` of `src/*.rs`).
    suffix: Option<(usize, usize)>,
    /// The hash of the extension of the pattern's *tail*: the literal text that the last
    /// segment of every matched path ends with, a literal file name (`mod.rs` of
    /// `src/**/mod.rs`) or the literal end of a wildcard last segment (`.rs` of `**/*.rs`).
    /// If some name ends with two tails, one ends with the other, and when both hold a `.`
    /// their extensions are equal. `None` when the pattern may match a directory's contents
    /// (`src/**`, `docs`, `docs/`), its end is not a plain literal, or its tail has no `.`:
    /// such patterns are compared with everything.
    tail_key: Option<u64>,
}

fn shape(pattern: &str) -> Shape {
    if pattern.ends_with('/') {
        return Shape::default();
    }
    let Some(last) = last_segment(pattern) else {
        return Shape::default();
    };
    let literal_last = !last.contains(['*', '?', '[', '\\']);
    let file = literal_last && has_extension(last);
    let glob = glob_tail(last);
    let tail = if literal_last {
        file.then_some(last)
    } else {
        glob
    };
    Shape {
        exact_name: (file && !pattern.contains(['*', '?', '[', '\\']))
            .then(|| range_in(pattern, last)),
        suffix: glob.map(|t| range_in(pattern, t)),
        tail_key: tail.and_then(|t| t.rfind('.').map(|d| fast_str_hash(&t[d..]))),
    }
}

/// A trie node: one literal path prefix. Children are found through `ReservationIndex::child`
/// by (parent, hash of segment); a hash collision only merges two siblings, which costs extra
/// comparisons but never hides an overlap.
#[derive(Debug, Default)]
struct Node {
    groups: Few<usize>,
    first_child: Option<usize>,
    next_sibling: Option<usize>,
}

/// The leading segments of `pattern` that are plain literals (no wildcard, no escape), as the
/// index keys them. Stopping early is safe: a pattern filed higher is compared with more.
fn literal_prefix(pattern: &str) -> impl Iterator<Item = &str> {
    segments(pattern).take_while(|s| !s.contains(['*', '?', '[', '\\']))
}

/// Reservations indexed for overlap questions (see the module documentation).
///
/// Build it with [`ReservationIndex::new`] / [`ReservationIndex::from_vec`] (active
/// [`Reservation`]s at a moment) or [`ReservationIndex::from_entries`] (anything
/// [`Reserved`], all of it). Entries keep their order: the indices the queries return are
/// positions in the input (after dropping inactive reservations) and [`ReservationIndex::get`]
/// reads them back.
#[derive(Debug)]
pub struct ReservationIndex<R = Reservation> {
    reservations: Vec<R>,
    groups: Vec<Group>,
    nodes: Vec<Node>,
    child: FastMap<(usize, u64), usize>,
    /// Groups in depth-first trie order; each node's own groups come before its subtree.
    order: Vec<usize>,
    /// For each group, its position in `order`.
    position: Vec<usize>,
    /// For each node, the start of its own groups in `order`.
    subtree_start: Vec<usize>,
    /// For each node, the end (exclusive) of its subtree in `order`.
    subtree_end: Vec<usize>,
    node_of: Vec<usize>,
    /// Positions (in `order`, ascending) of groups without a tail key.
    unkeyed: Vec<usize>,
    /// Positions (in `order`, ascending) of groups by tail key.
    keyed: FastMap<u64, Vec<usize>>,
}

/// A stable id derived from the conflicting (agent, pattern) pairs.
pub fn conflict_id(pairs: &BTreeSet<(String, String)>) -> String {
    let mut h = Fnv64::new();
    for (agent, pattern) in pairs {
        h.write(agent.as_bytes());
        h.byte(0);
        h.write(pattern.as_bytes());
        h.byte(1);
    }
    format!("conflict-{:016x}", h.finish())
}

impl ReservationIndex<Reservation> {
    /// Indexes the reservations active at `now` (released and expired ones are dropped).
    pub fn new(reservations: &[Reservation], now: Timestamp) -> ReservationIndex {
        Self::from_vec(
            reservations
                .iter()
                .filter(|r| r.is_active(now))
                .cloned()
                .collect(),
            now,
        )
    }

    /// Like [`ReservationIndex::new`], taking ownership (no copy).
    pub fn from_vec(mut reservations: Vec<Reservation>, now: Timestamp) -> ReservationIndex {
        reservations.retain(|r| r.is_active(now));
        Self::from_entries(reservations)
    }
}

impl<R: Reserved> ReservationIndex<R> {
    /// Indexes every entry, in order.
    pub fn from_entries(reservations: Vec<R>) -> Self {
        let n = reservations.len();
        let mut by_pattern: FastMap<&str, usize> =
            FastMap::with_capacity_and_hasher(n, Default::default());
        let mut groups: Vec<Group> = Vec::with_capacity(n);
        for (i, r) in reservations.iter().enumerate() {
            let pattern = r.pattern();
            let g = *by_pattern.entry(pattern).or_insert_with(|| {
                let Shape {
                    exact_name,
                    suffix,
                    tail_key,
                } = shape(pattern);
                groups.push(Group {
                    first: i,
                    compiled: OnceLock::new(),
                    agents: Few::default(),
                    exact_name,
                    suffix,
                    tail_key,
                });
                groups.len() - 1
            });
            let agents = &mut groups[g].agents;
            match agents
                .iter_mut()
                .find(|h| reservations[h.first].holder() == r.holder())
            {
                Some(h) => {
                    h.rest.push(i);
                    h.exclusive |= r.exclusive();
                }
                None => agents.push(Hold {
                    first: i,
                    rest: Vec::new(),
                    exclusive: r.exclusive(),
                }),
            }
        }
        for g in &mut groups {
            if g.agents.len() > 1 {
                g.agents.sort_by(|a, b| {
                    reservations[a.first]
                        .holder()
                        .cmp(reservations[b.first].holder())
                });
            }
        }
        let mut nodes = Vec::with_capacity(n + 1);
        nodes.push(Node::default());
        let mut child: FastMap<(usize, u64), usize> =
            FastMap::with_capacity_and_hasher(n, Default::default());
        let mut node_of = Vec::with_capacity(groups.len());
        for (gi, g) in groups.iter().enumerate() {
            let mut n = 0;
            for seg in literal_prefix(reservations[g.first].pattern()) {
                let key = (n, fast_str_hash(seg));
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
        let mut subtree_start = vec![0; nodes.len()];
        let mut subtree_end = vec![0; nodes.len()];
        // iterative DFS: (node, children visited?)
        let mut stack = vec![(0usize, false)];
        while let Some((n, done)) = stack.pop() {
            if done {
                subtree_end[n] = order.len();
                continue;
            }
            subtree_start[n] = order.len();
            order.extend_from_slice(&nodes[n].groups);
            stack.push((n, true));
            let mut c = nodes[n].first_child;
            while let Some(ci) = c {
                stack.push((ci, false));
                c = nodes[ci].next_sibling;
            }
        }
        let mut position = vec![0; groups.len()];
        let mut unkeyed = Vec::new();
        let mut keyed: FastMap<u64, Vec<usize>> = FastMap::default();
        for (pos, &g) in order.iter().enumerate() {
            position[g] = pos;
            match groups[g].tail_key {
                Some(k) => keyed.entry(k).or_default().push(pos),
                None => unkeyed.push(pos),
            }
        }
        ReservationIndex {
            reservations,
            groups,
            nodes,
            child,
            order,
            position,
            subtree_start,
            subtree_end,
            node_of,
            unkeyed,
            keyed,
        }
    }

    /// Number of entries indexed.
    pub fn len(&self) -> usize {
        self.reservations.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.reservations.is_empty()
    }

    /// The entry at `index` (as the queries return them).
    pub fn get(&self, index: usize) -> Option<&R> {
        self.reservations.get(index)
    }

    /// Every entry, in input order.
    pub fn entries(&self) -> &[R] {
        &self.reservations
    }

    /// The indices (ascending) of the entries whose pattern overlaps `pattern` (a path or a
    /// glob): whose patterns match at least one common path. Holder and exclusivity are not
    /// looked at; filter on them with [`ReservationIndex::get`].
    pub fn overlapping(&self, pattern: &str) -> Vec<usize> {
        let mut out = Vec::new();
        self.for_each_overlapping(pattern, |i| out.push(i));
        out.sort_unstable();
        out
    }

    /// The indices (ascending) of the entries that clash with `agent` reserving `pattern`:
    /// held by another agent, overlapping it, and exclusive on at least one side (the
    /// mailbox's reservation check: a shared request clashes only with exclusive holds).
    pub fn clashes(&self, agent: &str, pattern: &str, exclusive: bool) -> Vec<usize> {
        let mut out = self.overlapping(pattern);
        out.retain(|&i| {
            let r = &self.reservations[i];
            r.holder() != agent && (exclusive || r.exclusive())
        });
        out
    }

    /// Calls `f` with the index of every entry whose pattern overlaps `pattern`, grouped by
    /// distinct pattern (not in input order).
    pub fn for_each_overlapping(&self, pattern: &str, f: impl FnMut(usize)) {
        let q = shape(pattern);
        if q.exact_name.is_some() {
            // a single file: the patterns that match it, without compiling the query; another
            // single file only when it is the same path
            with_segments(pattern, |parts| {
                self.visit_overlapping(
                    pattern,
                    q,
                    |g| match g.exact_name {
                        Some(_) => segments(self.pat(g)).eq(parts.iter().copied()),
                        None => self.compiled(g).matches_segments(parts),
                    },
                    f,
                )
            });
        } else {
            let query = Pattern::new(pattern);
            self.visit_overlapping(pattern, q, |g| self.compiled(g).overlaps(&query), f);
        }
    }

    /// Walks the candidates for `pattern` (trie ancestors and subtree, filtered by tail) and
    /// reports the entries of the groups `overlaps` accepts.
    fn visit_overlapping(
        &self,
        pattern: &str,
        q: Shape,
        overlaps: impl Fn(&Group) -> bool,
        mut f: impl FnMut(usize),
    ) {
        let Shape {
            exact_name: exact,
            suffix,
            tail_key: key,
        } = q;
        let rules_out = |g: &Group| {
            if let (Some(a), Some(b)) = (key, g.tail_key) {
                if a != b {
                    return true;
                }
            }
            let gp = self.pat(g);
            let test = |file: &str, f: Option<(usize, usize)>, glob: &str, s| match (f, s) {
                (Some((a, b)), Some((c, d))) => !file[a..b].ends_with(&glob[c..d]),
                _ => false,
            };
            test(pattern, exact, gp, g.suffix) || test(gp, g.exact_name, pattern, suffix)
        };
        let mut visit = |gi: usize| {
            let g = &self.groups[gi];
            if !rules_out(g) && overlaps(g) {
                for h in &g.agents {
                    h.indices().for_each(&mut f);
                }
            }
        };
        let mut node = 0usize;
        for seg in literal_prefix(pattern) {
            for &gi in &self.nodes[node].groups {
                visit(gi);
            }
            match self.child.get(&(node, fast_str_hash(seg))) {
                Some(&c) => node = c,
                // no pattern is filed below this prefix
                None => return,
            }
        }
        let range = self.subtree_start[node]..self.subtree_end[node];
        self.each_candidate(key, range, visit);
    }

    /// The groups at positions `range` of `order` that a group with tail key `key` may
    /// overlap: all of them without a key, else those with no key or the same key.
    fn each_candidate(&self, key: Option<u64>, range: Range<usize>, mut f: impl FnMut(usize)) {
        if range.is_empty() {
            return;
        }
        let Some(k) = key else {
            for &gi in &self.order[range] {
                f(gi);
            }
            return;
        };
        if range.len() <= 32 {
            // a small subtree: reading it beats searching the tail lists
            for &gi in &self.order[range] {
                if self.groups[gi].tail_key.is_none_or(|t| t == k) {
                    f(gi);
                }
            }
            return;
        }
        let within = |list: &[usize]| {
            let a = list.partition_point(|&p| p < range.start);
            let b = list.partition_point(|&p| p < range.end);
            (a, b)
        };
        let (a, b) = within(&self.unkeyed);
        for &p in &self.unkeyed[a..b] {
            f(self.order[p]);
        }
        if let Some(list) = self.keyed.get(&k) {
            let (a, b) = within(list);
            for &p in &list[a..b] {
                f(self.order[p]);
            }
        }
    }

    fn pat(&self, g: &Group) -> &str {
        self.reservations[g.first].pattern()
    }

    fn name(&self, h: &Hold) -> &str {
        self.reservations[h.first].holder()
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

impl ReservationIndex<Reservation> {
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
            let range = self.position[gi] + 1..self.subtree_end[self.node_of[gi]];
            self.each_candidate(g.tail_key, range, |hi| {
                let h = &self.groups[hi];
                if !self.cross_conflict_possible(g, h) || self.suffix_rules_out(g, h) {
                    return;
                }
                let Some(witness) = self.compiled(g).witness(self.compiled(h)) else {
                    return;
                };
                out.push(self.cross(g, h, witness, now, priority));
            });
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
                .and_then(|seg| self.child.get(&(n, fast_str_hash(seg))).copied());
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
