//! Path questions the scorer asks: does a focus pattern cover a file, and does a task's file
//! overlap another agent's reservation. Both delegate to the glob algebra.

/// Whether `pattern` (a persona focus glob) covers `path` (a file or glob a task mentions).
pub fn focus_covers(pattern: &str, path: &str) -> bool {
    overlaps(pattern, path)
}

/// Whether two patterns can match a common path (the glob algebra's true intersection).
pub fn overlaps(a: &str, b: &str) -> bool {
    crate::glob::overlaps(a, b)
}

/// The directory part of a pattern's literal prefix: everything up to and including the last
/// `/` before the first glob character (`*`, `?`, `[`, `{`).
pub fn literal_dir(pattern: &str) -> &str {
    let literal = match pattern.find(['*', '?', '[', '{']) {
        Some(i) => &pattern[..i],
        None => pattern,
    };
    match literal.rfind('/') {
        Some(i) => &pattern[..=i],
        None => "",
    }
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '[', '{'])
}

/// An index of reservations: literal paths by exact path, globs by literal directory prefix,
/// so that finding the holders whose patterns overlap a path looks at a handful of candidates
/// instead of every reservation.
#[derive(Debug, Clone, Default)]
pub struct ReservationIndex {
    literal: std::collections::HashMap<String, Vec<(String, String)>>,
    globs_by_dir: std::collections::BTreeMap<String, Vec<(String, String)>>,
    literal_sorted: std::collections::BTreeSet<String>,
    len: usize,
}

impl ReservationIndex {
    /// Builds the index from (holder, pattern) pairs.
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut idx = ReservationIndex::default();
        for (holder, pattern) in entries {
            let entry = (holder.to_string(), pattern.to_string());
            if has_glob(pattern) {
                idx.globs_by_dir
                    .entry(literal_dir(pattern).to_string())
                    .or_default()
                    .push(entry);
            } else {
                let key = pattern.trim_end_matches('/').to_string();
                idx.literal_sorted.insert(key.clone());
                idx.literal.entry(key).or_default().push(entry);
            }
            idx.len += 1;
        }
        idx
    }

    /// Number of reservations indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every (holder, pattern) whose pattern overlaps `query` (a path or a pattern).
    pub fn overlapping<'s>(&'s self, query: &str) -> Vec<(&'s str, &'s str)> {
        let mut out: Vec<(&'s str, &'s str)> = Vec::new();
        let push_all = |out: &mut Vec<(&'s str, &'s str)>, list: &'s Vec<(String, String)>| {
            out.extend(list.iter().map(|(h, p)| (h.as_str(), p.as_str())));
        };
        let check = |out: &mut Vec<(&'s str, &'s str)>, list: &'s Vec<(String, String)>| {
            for (h, p) in list {
                if overlaps(p, query) {
                    out.push((h.as_str(), p.as_str()));
                }
            }
        };
        let q = query.trim_end_matches('/');
        let dir = literal_dir(q);
        let glob_query = has_glob(q);
        // Literal reservations: the query itself and its ancestor directories (a directory
        // reservation covers everything under it).
        if !glob_query {
            if let Some(list) = self.literal.get(q) {
                push_all(&mut out, list);
            }
        }
        let mut end = 0;
        while let Some(i) = dir[end..].find('/') {
            end += i + 1;
            if let Some(list) = self.literal.get(&dir[..end - 1]) {
                check(&mut out, list);
            }
        }
        // Literal reservations below the query: under a directory the query names, or matched
        // by a glob query.
        let below = if glob_query {
            dir.to_string()
        } else {
            format!("{q}/")
        };
        for k in self.literal_sorted.range(below.clone()..) {
            if !k.starts_with(&below) {
                break;
            }
            if let Some(list) = self.literal.get(k) {
                check(&mut out, list);
            }
        }
        // Glob reservations rooted at an ancestor directory of the query (its own included).
        let mut end = 0;
        loop {
            if let Some(list) = self.globs_by_dir.get(&dir[..end]) {
                check(&mut out, list);
            }
            match dir[end..].find('/') {
                Some(i) => end += i + 1,
                None => break,
            }
        }
        // Glob reservations rooted below the query.
        for (k, list) in self.globs_by_dir.range(below.clone()..) {
            if !k.starts_with(&below) {
                break;
            }
            if k.len() > dir.len() || !glob_query {
                check(&mut out, list);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The distinct holders whose patterns overlap `query`.
    pub fn holders(&self, query: &str) -> Vec<String> {
        let mut h: Vec<String> = self
            .overlapping(query)
            .into_iter()
            .map(|(h, _)| h.to_string())
            .collect();
        h.dedup();
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_dirs() {
        assert_eq!(literal_dir("src/a/*.rs"), "src/a/");
        assert_eq!(literal_dir("src/**"), "src/");
        assert_eq!(literal_dir("*.rs"), "");
        assert_eq!(literal_dir("src/a.rs"), "src/");
        assert_eq!(literal_dir("README.md"), "");
    }

    #[test]
    fn index_agrees_with_a_scan() {
        let pats = [
            ("A", "src/**"),
            ("B", "src/a.rs"),
            ("C", "docs/*.md"),
            ("D", "src/x/y/*.rs"),
            ("E", "*.toml"),
            ("F", "src"),
            ("G", "lib/l1/*.rs"),
            ("H", "src/x"),
            ("I", "docs/a.md"),
            ("J", "lib/l1/m.rs"),
        ];
        let idx = ReservationIndex::new(pats.iter().copied());
        for q in [
            "src/a.rs",
            "src/x/y/z.rs",
            "docs/a.md",
            "Cargo.toml",
            "src/**",
            "lib/l1/m.rs",
            "lib",
            "src",
            "other/file.go",
            "src/x/**/*.rs",
        ] {
            let mut want: Vec<(&str, &str)> = pats
                .iter()
                .copied()
                .filter(|(_, p)| overlaps(p, q))
                .collect();
            want.sort_unstable();
            assert_eq!(idx.overlapping(q), want, "query {q}");
        }
    }
}
