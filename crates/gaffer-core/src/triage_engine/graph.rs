//! The dependency graph of spec/beads.md §4.1 and the blocking rules built on it (§3.4, §4.4, §4.5).

use crate::beads::Issue;
use crate::time::Timestamp;
use std::collections::HashMap;

/// Parent chains longer than this are not followed (br's limit, §3.4).
pub const MAX_PARENT_DEPTH: usize = 50;

/// The issue graph. Nodes are the issues ordered by id; a later duplicate id replaces an earlier
/// one. Blocking edges `u → v` ("u depends on v") come from `blocks` (or untyped) dependencies
/// whose target exists; duplicates collapse.
#[derive(Debug, Clone)]
pub struct BeadGraph<'a> {
    /// The issues, sorted by id.
    pub issues: Vec<&'a Issue>,
    /// Node index by id.
    pub index: HashMap<&'a str, usize>,
    /// Blocking edges out of each node (what it depends on), sorted, unique.
    pub deps: Vec<Vec<usize>>,
    /// Blocking edges into each node (who depends on it), sorted, unique.
    pub dependents: Vec<Vec<usize>>,
    /// Existing parents (via `parent-child`), sorted, unique.
    pub parents: Vec<Vec<usize>>,
    /// Existing children (via `parent-child`), sorted, unique.
    pub children: Vec<Vec<usize>>,
}

impl<'a> BeadGraph<'a> {
    /// Builds the graph from issues in any order.
    pub fn new(issues: &'a [Issue]) -> Self {
        let mut by_id: HashMap<&'a str, &'a Issue> = HashMap::with_capacity(issues.len());
        for issue in issues {
            by_id.insert(issue.id.as_str(), issue);
        }
        let mut sorted: Vec<&'a Issue> = by_id.into_values().collect();
        sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let index: HashMap<&'a str, usize> = sorted
            .iter()
            .enumerate()
            .map(|(i, issue)| (issue.id.as_str(), i))
            .collect();
        let n = sorted.len();
        let mut deps = vec![Vec::new(); n];
        let mut dependents = vec![Vec::new(); n];
        let mut parents = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for (u, issue) in sorted.iter().enumerate() {
            for dep in &issue.dependencies {
                let Some(&v) = index.get(dep.depends_on_id.as_str()) else {
                    continue;
                };
                if u == v {
                    continue;
                }
                match dep.kind() {
                    "blocks" => deps[u].push(v),
                    "parent-child" => parents[u].push(v),
                    _ => {}
                }
            }
        }
        for u in 0..n {
            deps[u].sort_unstable();
            deps[u].dedup();
            parents[u].sort_unstable();
            parents[u].dedup();
            for &v in &deps[u] {
                dependents[v].push(u);
            }
            for &p in &parents[u] {
                children[p].push(u);
            }
        }
        BeadGraph {
            issues: sorted,
            index,
            deps,
            dependents,
            parents,
            children,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.issues.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.issues.is_empty()
    }

    /// Number of blocking edges.
    pub fn edge_count(&self) -> usize {
        self.deps.iter().map(Vec::len).sum()
    }

    /// The id of node `i`.
    pub fn id(&self, i: usize) -> &'a str {
        self.issues[i].id.as_str()
    }

    /// Whether node `i` is closed or tombstoned.
    pub fn closed(&self, i: usize) -> bool {
        self.issues[i].is_closed()
    }

    /// Whether node `i` has an open direct blocker (bv's rule: a `blocks` edge to an existing,
    /// non-closed issue).
    pub fn has_open_direct_blocker(&self, i: usize) -> bool {
        self.deps[i].iter().any(|&v| !self.closed(v))
    }

    /// Whether node `i` has a non-closed child.
    pub fn has_open_child(&self, i: usize) -> bool {
        self.children[i].iter().any(|&c| !self.closed(c))
    }
}

/// Whether `issue` is deferred at `now` (`defer_until` in the future).
pub fn is_deferred(issue: &Issue, now: Timestamp) -> bool {
    issue.defer_until.is_some_and(|t| t > now)
}

/// bv's blocking relation, computed once for every node (§4.4).
#[derive(Debug, Clone)]
pub struct Blocking {
    /// Open blockers of each node: open direct blockers plus non-closed, transitively blocked
    /// parents; sorted by id, unique. This is `blocked_by`.
    pub blocked_by: Vec<Vec<usize>>,
    /// Issues (non-closed, not deferred) whose only open blocker is this node, sorted by id.
    pub unblocks: Vec<Vec<usize>>,
    /// Blocker depth: 0 without open blockers, 1 + the deepest open blocker, −1 when a cycle is
    /// reached.
    pub depth: Vec<i64>,
    /// bv's actionable rule (§4.5).
    pub actionable: Vec<bool>,
}

impl Blocking {
    /// Computes the relation at `now`.
    pub fn new(g: &BeadGraph<'_>, now: Timestamp) -> Self {
        let n = g.len();
        let direct: Vec<bool> = (0..n).map(|i| g.has_open_direct_blocker(i)).collect();
        let trans = transitively_blocked(g, &direct);
        let mut blocked_by = Vec::with_capacity(n);
        for i in 0..n {
            let mut b: Vec<usize> = g.deps[i]
                .iter()
                .copied()
                .filter(|&v| !g.closed(v))
                .collect();
            b.extend(
                g.parents[i]
                    .iter()
                    .copied()
                    .filter(|&p| !g.closed(p) && trans[p]),
            );
            b.sort_unstable();
            b.dedup();
            blocked_by.push(b);
        }
        let mut unblocks = vec![Vec::new(); n];
        for j in 0..n {
            if blocked_by[j].len() == 1 && !g.closed(j) && !is_deferred(g.issues[j], now) {
                unblocks[blocked_by[j][0]].push(j);
            }
        }
        let depth = blocker_depth(&blocked_by);
        let actionable = (0..n)
            .map(|i| {
                !g.closed(i)
                    && !is_deferred(g.issues[i], now)
                    && !direct[i]
                    && !ancestor_matches(
                        g,
                        i,
                        |p| !g.closed(p) && direct[p],
                        Some(MAX_PARENT_DEPTH),
                    )
            })
            .collect();
        Blocking {
            blocked_by,
            unblocks,
            depth,
            actionable,
        }
    }
}

/// Whether some ancestor of `i` (via parents, not `i` itself) satisfies `pred`, searching at
/// most `limit` levels.
fn ancestor_matches(
    g: &BeadGraph<'_>,
    i: usize,
    pred: impl Fn(usize) -> bool,
    limit: Option<usize>,
) -> bool {
    if g.parents[i].is_empty() {
        return false;
    }
    let mut seen = std::collections::HashSet::new();
    seen.insert(i);
    let mut frontier = vec![i];
    let mut level = 0;
    while !frontier.is_empty() {
        if limit.is_some_and(|l| level >= l) {
            break;
        }
        level += 1;
        let mut next = Vec::new();
        for u in frontier {
            for &p in &g.parents[u] {
                if seen.insert(p) {
                    if pred(p) {
                        return true;
                    }
                    next.push(p);
                }
            }
        }
        frontier = next;
    }
    false
}

/// A node is transitively blocked when it has an open direct blocker or a non-closed,
/// transitively blocked parent. A parent reached again along the current path (a cycle) does
/// not block. Iterative, so deep chains cannot overflow the stack.
fn transitively_blocked(g: &BeadGraph<'_>, direct: &[bool]) -> Vec<bool> {
    const NEW: u8 = 0;
    const ACTIVE: u8 = 1;
    const DONE: u8 = 2;
    let n = g.len();
    let mut state = vec![NEW; n];
    let mut result = direct.to_vec();
    for root in 0..n {
        if state[root] != NEW {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = ACTIVE;
        while let Some(&mut (u, ref mut k)) = stack.last_mut() {
            if result[u] {
                // Already known blocked; no need to look at the parents.
                state[u] = DONE;
                stack.pop();
                continue;
            }
            if let Some(&p) = g.parents[u].get(*k) {
                *k += 1;
                if g.closed(p) {
                    continue;
                }
                match state[p] {
                    NEW => {
                        state[p] = ACTIVE;
                        stack.push((p, 0));
                    }
                    DONE if result[p] => result[u] = true,
                    _ => {} // a cycle: does not block
                }
            } else {
                state[u] = DONE;
                stack.pop();
                if result[u]
                    && let Some(&(parent_frame, _)) = stack.last()
                {
                    result[parent_frame] = true;
                }
            }
        }
    }
    result
}

/// Blocker depth over the open-blocker relation; −1 when a cycle is reached.
fn blocker_depth(blocked_by: &[Vec<usize>]) -> Vec<i64> {
    const UNSET: i64 = i64::MIN;
    let n = blocked_by.len();
    let mut depth = vec![UNSET; n];
    let mut active = vec![false; n];
    for root in 0..n {
        if depth[root] != UNSET {
            continue;
        }
        // Frames: (node, next blocker index, best depth so far, cycle seen).
        let mut stack: Vec<(usize, usize, i64, bool)> = vec![(root, 0, 0, false)];
        active[root] = true;
        while let Some(frame) = stack.last_mut() {
            let (u, k) = (frame.0, frame.1);
            if let Some(&b) = blocked_by[u].get(k) {
                frame.1 += 1;
                if active[b] {
                    frame.3 = true;
                } else if depth[b] == UNSET {
                    active[b] = true;
                    stack.push((b, 0, 0, false));
                } else if depth[b] < 0 {
                    frame.3 = true;
                } else {
                    frame.2 = frame.2.max(depth[b] + 1);
                }
            } else {
                let (_, _, best, cycle) = *frame;
                let d = if cycle { -1 } else { best };
                depth[u] = d;
                active[u] = false;
                stack.pop();
                if let Some(parent) = stack.last_mut() {
                    if d < 0 {
                        parent.3 = true;
                    } else {
                        parent.2 = parent.2.max(d + 1);
                    }
                }
            }
        }
    }
    depth
}

/// br's ready rule (§3.4, left column), used for the native ready set: status `open`, not
/// deferred, not pinned/ephemeral/template/wisp, no `blocks`/`conditional-blocks`/`waits-for`
/// dependency on a non-closed or missing issue (`external:` refs excepted), no such blocked
/// ancestor (followed without a depth limit, so the rule is never looser than bv's), and, for an
/// epic, no open child.
pub fn br_ready(g: &BeadGraph<'_>, now: Timestamp) -> Vec<bool> {
    let n = g.len();
    let direct: Vec<bool> = (0..n)
        .map(|i| {
            g.issues[i].dependencies.iter().any(|d| {
                matches!(d.kind(), "blocks" | "conditional-blocks" | "waits-for")
                    && !d.depends_on_id.starts_with("external:")
                    && d.depends_on_id != g.issues[i].id
                    && match g.index.get(d.depends_on_id.as_str()) {
                        Some(&v) => !g.closed(v),
                        None => true,
                    }
            })
        })
        .collect();
    (0..n)
        .map(|i| {
            let issue = g.issues[i];
            issue.status == "open"
                && !is_deferred(issue, now)
                && !issue.pinned
                && !issue.ephemeral
                && !issue.is_template
                && !issue.id.contains("-wisp-")
                && !direct[i]
                && !(issue.issue_type == "epic" && g.has_open_child(i))
                && !ancestor_matches(g, i, |p| direct[p], None)
        })
        .collect()
}
