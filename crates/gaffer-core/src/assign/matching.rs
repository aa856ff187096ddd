//! Global matching: the set of agent–task pairs with the best total weight.
//!
//! The reference walked pairs greedily (first-fit by score), which can lose: taking the single
//! best pair may leave another agent with nothing good. Here the assignment problem is solved
//! exactly with the Hungarian method (shortest augmenting paths with potentials, O(n²m) worst
//! case for n agents and m tasks), after a pruning step that keeps optimality: each agent only
//! needs its own n best tasks, because in any optimal matching an agent's task outside its top n
//! can be swapped for one of its top n that no other agent holds.

/// One chosen pair: (row, column) indices into the weight matrix.
pub type Pair = (usize, usize);

/// Chooses pairs maximizing the total weight. `weight(r, c)` is `None` or ≤ 0 for a pair that
/// must not be chosen. Every row and column is used at most once; rows may stay unmatched.
/// Deterministic: ties go to the lower index.
pub fn max_weight_matching(
    rows: usize,
    cols: usize,
    weight: impl Fn(usize, usize) -> Option<f64>,
) -> Vec<Pair> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    // Dense positive weights; 0 means "not allowed / leave unmatched".
    let w = |r: usize, c: usize| {
        weight(r, c)
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(0.0)
    };

    // Prune columns: union of each row's top-`rows` columns by weight (positive only).
    let keep = rows.min(cols);
    let mut candidate = vec![false; cols];
    let mut row_weights: Vec<(f64, usize)> = Vec::with_capacity(cols);
    for r in 0..rows {
        row_weights.clear();
        row_weights.extend((0..cols).map(|c| (w(r, c), c)).filter(|(v, _)| *v > 0.0));
        if row_weights.len() > keep {
            row_weights
                .select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            row_weights.truncate(keep);
        }
        for &(_, c) in &row_weights {
            candidate[c] = true;
        }
    }
    let col_map: Vec<usize> = (0..cols).filter(|&c| candidate[c]).collect();
    if col_map.is_empty() {
        return Vec::new();
    }
    // Build a cost matrix for minimization. Rows ≤ columns is required by the method, so
    // transpose when there are more rows than candidate columns.
    let (n, m, transposed) = if rows <= col_map.len() {
        (rows, col_map.len(), false)
    } else {
        (col_map.len(), rows, true)
    };
    let mut cost = vec![0.0f64; n * m];
    let mut max_w: f64 = 0.0;
    for i in 0..n {
        for j in 0..m {
            let (r, c) = if transposed {
                (j, col_map[i])
            } else {
                (i, col_map[j])
            };
            let v = w(r, c);
            max_w = max_w.max(v);
            cost[i * m + j] = -v;
        }
    }
    let assignment = hungarian(n, m, &cost);
    let mut pairs: Vec<Pair> = Vec::new();
    for (i, j) in assignment.into_iter().enumerate() {
        let Some(j) = j else { continue };
        let (r, c) = if transposed {
            (j, col_map[i])
        } else {
            (i, col_map[j])
        };
        if w(r, c) > 0.0 {
            pairs.push((r, c));
        }
    }
    let _ = max_w;
    pairs.sort_unstable();
    pairs
}

/// Minimum-cost assignment of n rows to distinct columns of an n×m matrix (n ≤ m), row-major.
/// Returns, per row, its column.
fn hungarian(n: usize, m: usize, cost: &[f64]) -> Vec<Option<usize>> {
    const INF: f64 = f64::INFINITY;
    // 1-based arrays as in the classic formulation; index 0 is the virtual start.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j] = row matched to column j
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![INF; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.iter_mut().for_each(|x| *x = INF);
        used.iter_mut().for_each(|x| *x = false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let row = &cost[(i0 - 1) * m..i0 * m];
            let ui0 = u[i0];
            let mut delta = INF;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = row[j - 1] - ui0 - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 {
                // Cannot happen with finite costs; stop rather than loop.
                break;
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut result = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            result[p[j] - 1] = Some(j - 1);
        }
    }
    result
}

/// The reference's selection, for comparison: sort pairs by weight and take each pair whose row
/// and column are both still free.
pub fn greedy_matching(
    rows: usize,
    cols: usize,
    weight: impl Fn(usize, usize) -> Option<f64>,
) -> Vec<Pair> {
    let mut all: Vec<(f64, usize, usize)> = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            if let Some(v) = weight(r, c).filter(|v| v.is_finite() && *v > 0.0) {
                all.push((v, r, c));
            }
        }
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let (mut row_used, mut col_used) = (vec![false; rows], vec![false; cols]);
    let mut pairs = Vec::new();
    for (_, r, c) in all {
        if !row_used[r] && !col_used[c] {
            row_used[r] = true;
            col_used[c] = true;
            pairs.push((r, c));
        }
    }
    pairs.sort_unstable();
    pairs
}

/// Sum of weights of chosen pairs.
pub fn total(pairs: &[Pair], weight: impl Fn(usize, usize) -> Option<f64>) -> f64 {
    pairs.iter().filter_map(|&(r, c)| weight(r, c)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(rows: usize, cols: usize, w: &dyn Fn(usize, usize) -> Option<f64>) -> f64 {
        fn go(
            r: usize,
            rows: usize,
            cols: usize,
            used: &mut Vec<bool>,
            w: &dyn Fn(usize, usize) -> Option<f64>,
        ) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = go(r + 1, rows, cols, used, w);
            for c in 0..cols {
                if !used[c] {
                    if let Some(v) = w(r, c).filter(|v| *v > 0.0) {
                        used[c] = true;
                        best = best.max(v + go(r + 1, rows, cols, used, w));
                        used[c] = false;
                    }
                }
            }
            best
        }
        go(0, rows, cols, &mut vec![false; cols], w)
    }

    #[test]
    fn first_fit_loses_global_wins() {
        // Agent 0 is best at task 0 (0.9) but also good at task 1 (0.8);
        // agent 1 can only do task 0 (0.85). Greedy takes (0,0) and leaves agent 1 idle: 0.9.
        // The global choice is (0,1)+(1,0) = 1.65.
        let m = [[Some(0.9), Some(0.8)], [Some(0.85), None]];
        let w = |r: usize, c: usize| m[r][c];
        let greedy = greedy_matching(2, 2, w);
        assert_eq!(greedy, vec![(0, 0)]);
        let global = max_weight_matching(2, 2, w);
        assert_eq!(global, vec![(0, 1), (1, 0)]);
        assert!(total(&global, w) > total(&greedy, w));
    }

    #[test]
    fn matches_brute_force_on_random_instances() {
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..300 {
            let rows = (next() % 5) as usize + 1;
            let cols = (next() % 6) as usize + 1;
            let vals: Vec<Option<f64>> = (0..rows * cols)
                .map(|_| {
                    let x = next() % 100;
                    if x < 20 {
                        None
                    } else {
                        Some((x as f64 - 30.0) / 50.0)
                    }
                })
                .collect();
            let w = |r: usize, c: usize| vals[r * cols + c];
            let got = max_weight_matching(rows, cols, w);
            let mut rs = std::collections::HashSet::new();
            let mut cs = std::collections::HashSet::new();
            for &(r, c) in &got {
                assert!(rs.insert(r) && cs.insert(c), "case {case}: reused row/col");
                assert!(w(r, c).is_some_and(|v| v > 0.0), "case {case}: bad pair");
            }
            let want = brute(rows, cols, &w);
            assert!(
                (total(&got, w) - want).abs() < 1e-9,
                "case {case}: {} vs {want}",
                total(&got, w)
            );
            assert!(total(&got, w) + 1e-9 >= total(&greedy_matching(rows, cols, w), w));
        }
    }

    #[test]
    fn empty_and_all_negative() {
        assert!(max_weight_matching(0, 3, |_, _| Some(1.0)).is_empty());
        assert!(max_weight_matching(3, 3, |_, _| Some(-1.0)).is_empty());
        assert!(max_weight_matching(2, 2, |_, _| None).is_empty());
    }

    #[test]
    fn more_rows_than_columns() {
        let w = |r: usize, _c: usize| Some(r as f64 + 1.0);
        let got = max_weight_matching(5, 2, w);
        assert_eq!(got.len(), 2);
        assert_eq!(total(&got, w), 9.0);
    }
}
