//! Path questions the scorer asks: does a focus pattern cover a file, and does a task's file
//! overlap another agent's reservation. Both delegate to the glob algebra.

/// Whether `pattern` (a persona focus glob) covers `path` (a file or glob a task mentions).
pub fn focus_covers(pattern: &str, path: &str) -> bool {
    overlaps(pattern, path)
}

/// Whether two patterns can match a common path.
pub fn overlaps(a: &str, b: &str) -> bool {
    naive_overlap(a, b)
}

/// Stand-in until the glob algebra lands: literal equality, directory prefixes, and a `**`
/// or trailing `*` prefix test.
fn naive_overlap(a: &str, b: &str) -> bool {
    fn prefix(p: &str) -> &str {
        match p.find(['*', '?', '[']) {
            Some(i) => &p[..i],
            None => p,
        }
    }
    let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    if a == b {
        return true;
    }
    let (pa, pb) = (prefix(a), prefix(b));
    let a_glob = pa.len() != a.len();
    let b_glob = pb.len() != b.len();
    match (a_glob, b_glob) {
        (false, false) => b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/")),
        (true, false) => b.starts_with(pa),
        (false, true) => a.starts_with(pb),
        (true, true) => pa.starts_with(pb) || pb.starts_with(pa),
    }
}
