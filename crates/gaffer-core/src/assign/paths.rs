//! Path questions the scorer asks: does a focus pattern cover a file, and which other agents'
//! reservations overlap a task's file. Both are the glob algebra's true overlap; the many-way
//! questions go through the one overlap engine, [`crate::conflicts::ReservationIndex`].

use super::score::ReservationMap;
use crate::conflicts::{ReservationIndex, Reserved};

/// Whether `pattern` (a persona focus glob) covers `path` (a file or glob a task mentions).
pub fn focus_covers(pattern: &str, path: &str) -> bool {
    overlaps(pattern, path)
}

/// Whether two patterns can match a common path (the glob algebra's true intersection).
pub fn overlaps(a: &str, b: &str) -> bool {
    crate::glob::overlaps(a, b)
}

/// A holder's number in a [`HolderIndex`]: its rank among the map's keys.
pub type HolderId = u32;

/// One reservation of a [`ReservationMap`], borrowed, with its holder's id.
#[derive(Debug, Clone, Copy)]
pub struct HeldPattern<'a> {
    /// The holder's key in the map.
    pub holder: &'a str,
    /// The holder's id.
    pub id: HolderId,
    /// The reserved pattern.
    pub pattern: &'a str,
}

impl Reserved for HeldPattern<'_> {
    fn holder(&self) -> &str {
        self.holder
    }
    fn pattern(&self) -> &str {
        self.pattern
    }
    fn exclusive(&self) -> bool {
        true
    }
}

/// The reservations of a [`ReservationMap`] in the overlap engine, holders numbered by their
/// rank in the map (so the scorer compares numbers, not names). Borrows the map: building it
/// copies no string.
#[derive(Debug)]
pub struct HolderIndex<'a> {
    holders: Vec<&'a str>,
    index: ReservationIndex<HeldPattern<'a>>,
}

impl<'a> HolderIndex<'a> {
    /// Indexes every (holder, pattern) of the map.
    pub fn new(map: &'a ReservationMap) -> Self {
        let holders: Vec<&'a str> = map.keys().map(String::as_str).collect();
        let entries = map
            .iter()
            .zip(0..)
            .flat_map(|((holder, patterns), id)| {
                patterns.iter().map(move |p| HeldPattern {
                    holder,
                    id,
                    pattern: p,
                })
            })
            .collect();
        HolderIndex {
            holders,
            index: ReservationIndex::from_entries(entries),
        }
    }

    /// Number of reservations indexed.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The id of a holder key, if it holds anything.
    pub fn id_of(&self, holder: &str) -> Option<HolderId> {
        self.holders
            .binary_search(&holder)
            .ok()
            .map(|i| i as HolderId)
    }

    /// The key of a holder id.
    pub fn name(&self, id: HolderId) -> Option<&'a str> {
        self.holders.get(id as usize).copied()
    }

    /// Replaces `out` with the ids (ascending, distinct) of the holders whose patterns
    /// overlap `query` (a path or a pattern).
    pub fn holder_ids_into(&self, query: &str, out: &mut Vec<HolderId>) {
        out.clear();
        self.index.for_each_overlapping(query, |i| {
            if let Some(e) = self.index.get(i) {
                out.push(e.id);
            }
        });
        out.sort_unstable();
        out.dedup();
    }

    /// The ids (ascending, distinct) of the holders whose patterns overlap `query`.
    pub fn holder_ids(&self, query: &str) -> Vec<HolderId> {
        let mut out = Vec::new();
        self.holder_ids_into(query, &mut out);
        out
    }

    /// The distinct holders whose patterns overlap `query`, sorted.
    pub fn holders(&self, query: &str) -> Vec<&'a str> {
        self.holder_ids(query)
            .into_iter()
            .filter_map(|id| self.name(id))
            .collect()
    }

    /// Every (holder, pattern) whose pattern overlaps `query`, sorted.
    pub fn overlapping(&self, query: &str) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&'a str, &'a str)> = self
            .index
            .overlapping(query)
            .into_iter()
            .filter_map(|i| self.index.get(i).map(|e| (e.holder, e.pattern)))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("K", "**/*.rs"),
            ("A", "*.md"),
        ];
        let mut map = ReservationMap::new();
        for (h, p) in pats {
            map.entry(h.to_string()).or_default().push(p.to_string());
        }
        let idx = HolderIndex::new(&map);
        assert_eq!(idx.len(), pats.len());
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
            "README.md",
        ] {
            let mut want: Vec<(&str, &str)> = pats
                .iter()
                .copied()
                .filter(|(_, p)| overlaps(p, q))
                .collect();
            want.sort_unstable();
            assert_eq!(idx.overlapping(q), want, "query {q}");
            let mut holders: Vec<&str> = want.iter().map(|(h, _)| *h).collect();
            holders.dedup();
            assert_eq!(idx.holders(q), holders, "query {q}");
        }
        assert_eq!(idx.id_of("C"), Some(2));
        assert_eq!(idx.name(2), Some("C"));
        assert_eq!(idx.id_of("Z"), None);
    }
}
