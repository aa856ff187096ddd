//! Graph metrics of bv's triage mode (spec/beads.md §4.2): PageRank and betweenness, plus cycle
//! detection for `project_health.graph`.

use std::collections::VecDeque;

/// PageRank damping factor.
pub const DAMPING: f64 = 0.85;
/// PageRank stops when the L2 change falls below this.
pub const PAGERANK_TOLERANCE: f64 = 1e-6;
/// PageRank iteration cap.
pub const PAGERANK_MAX_ITERATIONS: usize = 1000;

/// PageRank over `out` (edge `u → v` for each `v` in `out[u]`); rank flows from dependents to
/// what they depend on, and dangling mass is spread uniformly.
pub fn pagerank(out: &[Vec<usize>]) -> Vec<f64> {
    let n = out.len();
    if n == 0 {
        return Vec::new();
    }
    let nf = n as f64;
    let mut rank = vec![1.0 / nf; n];
    let mut next = vec![0.0; n];
    for _ in 0..PAGERANK_MAX_ITERATIONS {
        let dangling: f64 = (0..n).filter(|&u| out[u].is_empty()).map(|u| rank[u]).sum();
        let base = (1.0 - DAMPING) / nf + DAMPING * dangling / nf;
        next.iter_mut().for_each(|x| *x = base);
        for (u, targets) in out.iter().enumerate() {
            if targets.is_empty() {
                continue;
            }
            let share = DAMPING * rank[u] / targets.len() as f64;
            for &v in targets {
                next[v] += share;
            }
        }
        let diff: f64 = rank
            .iter()
            .zip(&next)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt();
        std::mem::swap(&mut rank, &mut next);
        if diff < PAGERANK_TOLERANCE {
            break;
        }
    }
    rank
}

/// How betweenness was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetweennessMode {
    /// Every node was a source.
    Exact,
    /// This many pivots, scores scaled by n / pivots.
    Sampled(usize),
}

/// Brandes betweenness on the directed, unweighted graph `out`. Exact when `n <= exact_limit`;
/// otherwise `samples` pivots chosen by a seeded partial Fisher–Yates shuffle (seed 1), with
/// scores scaled by `n / samples`. Deterministic either way.
pub fn betweenness(
    out: &[Vec<usize>],
    exact_limit: usize,
    samples: usize,
) -> (Vec<f64>, BetweennessMode) {
    let n = out.len();
    let mut bc = vec![0.0; n];
    if n == 0 {
        return (bc, BetweennessMode::Exact);
    }
    let (sources, mode): (Vec<usize>, BetweennessMode) = if n <= exact_limit || samples >= n {
        ((0..n).collect(), BetweennessMode::Exact)
    } else {
        let k = samples.max(1);
        let mut idx: Vec<usize> = (0..n).collect();
        let mut rng = SplitMix64::new(1);
        for i in 0..k {
            let j = i + (rng.next() % (n - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(k);
        (idx, BetweennessMode::Sampled(k))
    };
    let mut sigma = vec![0.0f64; n];
    let mut dist = vec![-1i64; n];
    let mut delta = vec![0.0f64; n];
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut queue: VecDeque<usize> = VecDeque::with_capacity(n);
    for &s in &sources {
        for &v in &order {
            sigma[v] = 0.0;
            dist[v] = -1;
            delta[v] = 0.0;
            preds[v].clear();
        }
        order.clear();
        sigma[s] = 1.0;
        dist[s] = 0;
        queue.push_back(s);
        while let Some(v) = queue.pop_front() {
            order.push(v);
            for &w in &out[v] {
                if dist[w] < 0 {
                    dist[w] = dist[v] + 1;
                    queue.push_back(w);
                }
                if dist[w] == dist[v] + 1 {
                    sigma[w] += sigma[v];
                    preds[w].push(v);
                }
            }
        }
        for &w in order.iter().rev() {
            for &v in &preds[w] {
                delta[v] += sigma[v] / sigma[w] * (1.0 + delta[w]);
            }
            if w != s {
                bc[w] += delta[w];
            }
        }
    }
    if let BetweennessMode::Sampled(k) = mode {
        let scale = n as f64 / k as f64;
        bc.iter_mut().for_each(|x| *x *= scale);
    }
    (bc, mode)
}

/// Divides every value by the maximum (0 when the maximum is 0).
pub fn normalize(values: &[f64]) -> Vec<f64> {
    let max = values.iter().copied().fold(0.0f64, f64::max);
    if max > 0.0 && max.is_finite() {
        values.iter().map(|v| v / max).collect()
    } else {
        vec![0.0; values.len()]
    }
}

/// Number of blocking cycles: strongly connected components with more than one node (Tarjan,
/// iterative). Self-loops are not edges in the graph.
pub fn cycle_count(out: &[Vec<usize>]) -> usize {
    let n = out.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut counter = 0usize;
    let mut cycles = 0usize;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            if let Some(&w) = out[v].get(*k) {
                *k += 1;
                if index[w] == usize::MAX {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut size = 0;
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        size += 1;
                        if w == v {
                            break;
                        }
                    }
                    if size > 1 {
                        cycles += 1;
                    }
                }
            }
        }
    }
    cycles
}

/// A small deterministic PRNG (SplitMix64), for pivot sampling and tests.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagerank_sums_to_one_and_favours_the_depended_on() {
        // 0 → 2, 1 → 2
        let out = vec![vec![2], vec![2], vec![]];
        let pr = pagerank(&out);
        let sum: f64 = pr.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!(pr[2] > pr[0] && (pr[0] - pr[1]).abs() < 1e-12);
    }

    #[test]
    fn betweenness_of_a_chain_is_exact() {
        // 0 → 1 → 2 → 3
        let out = vec![vec![1], vec![2], vec![3], vec![]];
        let (bc, mode) = betweenness(&out, 100, 10);
        assert_eq!(mode, BetweennessMode::Exact);
        assert_eq!(bc, vec![0.0, 2.0, 2.0, 0.0]);
    }

    #[test]
    fn sampled_betweenness_is_deterministic_and_scaled() {
        let n = 200;
        let out: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        let (a, mode) = betweenness(&out, 50, 40);
        let (b, _) = betweenness(&out, 50, 40);
        assert_eq!(mode, BetweennessMode::Sampled(40));
        assert_eq!(a, b);
        assert!(a.iter().all(|x| x.is_finite() && *x >= 0.0));
    }

    #[test]
    fn cycles_are_counted_per_component() {
        // 0 ↔ 1, 2 → 3 → 4 → 2, 5 alone
        let out = vec![vec![1], vec![0], vec![3], vec![4], vec![2], vec![]];
        assert_eq!(cycle_count(&out), 2);
        assert_eq!(cycle_count(&[vec![1], vec![]]), 0);
    }
}
