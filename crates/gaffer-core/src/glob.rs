//! Glob matching and pattern intersection for file reservations.
//!
//! Patterns are relative to the project root and read segment by segment (`/` separates):
//! - `*` matches any run of characters inside one segment, `?` one character, never `/`;
//! - `[abc]`, `[a-z]`, `[!a]` / `[^a]` are character classes inside one segment;
//! - a whole segment `**` matches zero or more segments (`src/**`, `**/x.rs`, `a/**/b`);
//!   `**` inside a longer segment (`a**b`) acts as `*`;
//! - a directory pattern covers everything under it: `docs` matches `docs/b.md`. A pattern is
//!   a directory when it ends in `/`, or when its last segment is a literal without a file
//!   extension (`docs`, `src/core`, `.github`); `src/a.rs` names a file and covers nothing
//!   below, so it does not clash with `**/*.md`;
//! - `\` escapes the next character; `./`, a leading `/` and empty segments are ignored.
//!
//! Patterns are anchored at the root: `*.rs` matches `a.rs` but not `src/a.rs` (unlike
//! gitignore, where a slash-free pattern floats). Write `**/*.rs` for every `.rs` file.
//!
//! Against the reference coordinator's `matchesPattern` (cases in `tests/glob.rs`): exact
//! matches, directory prefixes, `**` prefixes and ordered `*` parts are kept. Fixed: its `*`
//! crossed `/` (`src/*.go` matched `src/a/b.go`; here it does not), its `**/x` suffix test was a
//! string suffix (`src/**/mod.rs` matched `src/a/xmod.rs`), and it only compared a pattern with
//! a path, so different overlapping patterns (`src/**` and `src/a.rs`) were never a conflict.
//! The Agent Mail server 0.2.1 matches one way only (its `docs/a.md` does not clash with a
//! request for `docs/*.md`); [`overlaps`] is symmetric.
//!
//! [`overlaps`] decides whether two patterns match a common path, by searching the product of
//! both patterns (segment by segment, then character by character inside a segment), and
//! [`intersection_witness`] returns such a path.

use std::collections::HashSet;

/// A set of characters that one pattern character accepts (never `/`): sorted, disjoint,
/// non-adjacent inclusive ranges of scalar values over the whole character space, so
/// negation, intersection and picking a member are exact for every character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CharSet {
    ranges: Vec<(u32, u32)>,
}

/// The scalar values: every code point but the surrogates.
const SCALARS: [(u32, u32); 2] = [(0, 0xD7FF), (0xE000, 0x10FFFF)];

impl CharSet {
    /// The set of the given ranges (in any order, possibly overlapping), without `/` and
    /// surrogates.
    fn from_ranges(mut ranges: Vec<(u32, u32)>) -> Self {
        ranges.retain(|&(lo, hi)| lo <= hi);
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let valid = CharSet { ranges: merged }
            .intersect_ranges(&SCALARS)
            .into_iter()
            .flat_map(|(lo, hi)| {
                let slash = u32::from('/');
                if lo <= slash && slash <= hi {
                    vec![(lo, slash.wrapping_sub(1)), (slash + 1, hi)]
                } else {
                    vec![(lo, hi)]
                }
            })
            .filter(|&(lo, hi)| lo <= hi)
            .collect();
        CharSet { ranges: valid }
    }

    fn any() -> Self {
        CharSet::from_ranges(SCALARS.to_vec())
    }

    fn lit(c: char) -> Self {
        CharSet::from_ranges(vec![(u32::from(c), u32::from(c))])
    }

    /// A class: the given ranges, or with `negated` every character but them.
    fn class(ranges: &[(char, char)], negated: bool) -> Self {
        let set = CharSet::from_ranges(
            ranges
                .iter()
                .map(|&(lo, hi)| (u32::from(lo), u32::from(hi)))
                .collect(),
        );
        if negated { set.complement() } else { set }
    }

    /// Every character (but `/`) not in this set.
    fn complement(&self) -> Self {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut next = 0u32;
        for &(lo, hi) in &self.ranges {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi + 1;
        }
        if next <= 0x10FFFF {
            out.push((next, 0x10FFFF));
        }
        CharSet::from_ranges(out)
    }

    fn intersect_ranges(&self, other: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.len() {
            let (a, b) = self.ranges[i];
            let (c, d) = other[j];
            let (lo, hi) = (a.max(c), b.min(d));
            if lo <= hi {
                out.push((lo, hi));
            }
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        out
    }

    fn contains(&self, c: char) -> bool {
        let c = u32::from(c);
        // ranges are sorted and disjoint: binary search for the one that could hold c
        let i = self.ranges.partition_point(|&(_, hi)| hi < c);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= c)
    }

    /// A character in both sets, if any (the smallest one, preferring a printable ASCII
    /// letter or digit when the intersection has one, so witnesses read well).
    fn common(&self, other: &CharSet) -> Option<char> {
        let both = self.intersect_ranges(&other.ranges);
        let readable = ('a'..='z').chain('0'..='9').chain('A'..='Z').find(|&c| {
            let c = u32::from(c);
            both.iter().any(|&(lo, hi)| lo <= c && c <= hi)
        });
        readable.or_else(|| both.first().and_then(|&(lo, _)| char::from_u32(lo)))
    }
}

/// One element of a segment pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// One character from the set.
    One(CharSet),
    /// Any run of characters (not `/`).
    Star,
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// `**`: zero or more whole segments.
    Globstar,
    /// A segment with only literal characters (fast path).
    Lit(String),
    /// A segment with wildcards.
    Glob(Vec<Tok>),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segs: Vec<Seg>,
    /// Number of leading literal segments.
    literal_len: usize,
}

/// Whether `s` holds a wildcard (`*`, `?`, `[`) that is not escaped.
pub fn has_wildcard(s: &str) -> bool {
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Whether a file name has an extension (`a.rs`, `x.tar.gz`; not `.github`, `docs`).
pub fn has_extension(name: &str) -> bool {
    name.rfind('.').is_some_and(|i| i > 0 && i + 1 < name.len())
}

/// Splits a path or pattern into its non-empty segments, dropping `.` segments.
pub fn segments(s: &str) -> impl Iterator<Item = &str> {
    s.split('/').filter(|p| !p.is_empty() && *p != ".")
}

fn parse_class(chars: &[char], start: usize) -> Option<(CharSet, usize)> {
    // chars[start] == '['
    let mut i = start + 1;
    let mut negated = false;
    if i < chars.len() && (chars[i] == '!' || chars[i] == '^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && !first {
            return Some((CharSet::class(&ranges, negated), i + 1));
        }
        first = false;
        let lo = if c == '\\' && i + 1 < chars.len() {
            i += 1;
            chars[i]
        } else {
            c
        };
        if i + 2 < chars.len() && chars[i + 1] == '-' && chars[i + 2] != ']' {
            let hi = chars[i + 2];
            if lo <= hi {
                ranges.push((lo, hi));
            }
            i += 3;
        } else {
            ranges.push((lo, lo));
            i += 1;
        }
    }
    None
}

/// A literal segment's text: `\` escapes the next character, as in a wildcard segment; a
/// trailing `\` has nothing to escape and stays.
fn unescape(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    let mut chars = seg.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out
}

fn parse_segment(seg: &str) -> Seg {
    if seg == "**" {
        return Seg::Globstar;
    }
    if !has_wildcard(seg) {
        return Seg::Lit(unescape(seg));
    }
    let chars: Vec<char> = seg.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
                i += 1;
            }
            '?' => {
                toks.push(Tok::One(CharSet::any()));
                i += 1;
            }
            '[' => match parse_class(&chars, i) {
                Some((set, next)) => {
                    toks.push(Tok::One(set));
                    i = next;
                }
                None => {
                    toks.push(Tok::One(CharSet::lit('[')));
                    i += 1;
                }
            },
            '\\' if i + 1 < chars.len() => {
                toks.push(Tok::One(CharSet::lit(chars[i + 1])));
                i += 2;
            }
            c => {
                toks.push(Tok::One(CharSet::lit(c)));
                i += 1;
            }
        }
    }
    Seg::Glob(toks)
}

impl Pattern {
    /// Compiles a pattern (never fails: a malformed class is taken literally).
    pub fn new(pattern: &str) -> Pattern {
        let mut segs: Vec<Seg> = Vec::new();
        for s in segments(pattern) {
            let seg = parse_segment(s);
            if seg == Seg::Globstar && segs.last() == Some(&Seg::Globstar) {
                continue;
            }
            segs.push(seg);
        }
        // A trailing '/' or a literal last segment without an extension names a directory:
        // cover what is below.
        let dir =
            pattern.ends_with('/') || matches!(segs.last(), Some(Seg::Lit(l)) if !has_extension(l));
        if dir && segs.last() != Some(&Seg::Globstar) {
            segs.push(Seg::Globstar);
        }
        let literal_len = segs.iter().take_while(|s| matches!(s, Seg::Lit(_))).count();
        Pattern { segs, literal_len }
    }

    /// The leading literal segments (`src/core` for `src/core/*.rs`), used for indexing.
    pub fn literal_prefix(&self) -> impl Iterator<Item = &str> {
        self.segs[..self.literal_len]
            .iter()
            .filter_map(|s| match s {
                Seg::Lit(l) => Some(l.as_str()),
                _ => None,
            })
    }

    /// Whether the pattern has no wildcard at all (apart from its implied directory cover).
    pub fn is_literal(&self) -> bool {
        self.literal_len + 1 >= self.segs.len()
            && self.segs[self.literal_len..]
                .iter()
                .all(|s| *s == Seg::Globstar)
    }

    /// Whether the pattern matches the file path `path`.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = segments(path).collect();
        match_segs(&self.segs, &parts)
    }

    /// Whether the pattern matches the path given as segments.
    pub fn matches_segments(&self, parts: &[&str]) -> bool {
        match_segs(&self.segs, parts)
    }

    /// Whether some path matches both patterns (as [`Pattern::witness`], without building
    /// the path when one side names a single file).
    pub fn overlaps(&self, other: &Pattern) -> bool {
        if self.names_nothing() || other.names_nothing() {
            return false;
        }
        if other.is_exact() {
            return match_segs(&self.segs, &other.segs);
        }
        if self.is_exact() {
            return match_segs(&other.segs, &self.segs);
        }
        self.witness(other).is_some()
    }

    /// Whether a segment is the literal `.` (written `\.`), which no path holds.
    fn names_nothing(&self) -> bool {
        self.segs
            .iter()
            .any(|s| matches!(s, Seg::Lit(l) if l == "."))
    }

    /// Whether the pattern names exactly one path (no wildcard, no cover).
    fn is_exact(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, Seg::Lit(_)))
    }

    fn exact_witness(&self, exact: &Pattern) -> Option<String> {
        match_segs(&self.segs, &exact.segs).then(|| {
            exact
                .segs
                .iter()
                .map(|s| s.text())
                .collect::<Vec<_>>()
                .join("/")
        })
    }

    /// A path that both patterns match, if any.
    pub fn witness(&self, other: &Pattern) -> Option<String> {
        if self.names_nothing() || other.names_nothing() {
            return None;
        }
        // fast path: one side is a single file path
        if other.is_exact() {
            return self.exact_witness(other);
        }
        if self.is_exact() {
            return other.exact_witness(self);
        }
        // quick reject on the literal prefixes
        let n = self.literal_len.min(other.literal_len);
        for i in 0..n {
            if self.segs[i] != other.segs[i] {
                return None;
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        if path_product(&self.segs, &other.segs, 0, 0, false, &mut seen, &mut out) {
            out.reverse();
            Some(out.join("/"))
        } else {
            None
        }
    }
}

/// A path segment to match: a `&str`, or a literal pattern segment.
trait PathPart {
    fn text(&self) -> &str;
}

impl PathPart for &str {
    fn text(&self) -> &str {
        self
    }
}

impl PathPart for Seg {
    fn text(&self) -> &str {
        match self {
            Seg::Lit(l) => l,
            _ => "",
        }
    }
}

fn match_segs<P: PathPart>(segs: &[Seg], parts: &[P]) -> bool {
    match segs.first() {
        None => parts.is_empty(),
        Some(Seg::Globstar) => {
            let rest = &segs[1..];
            if rest.is_empty() {
                return true;
            }
            if !rest.contains(&Seg::Globstar) {
                // the rest matches a fixed number of segments: only one split can work
                return parts.len() >= rest.len()
                    && match_segs(rest, &parts[parts.len() - rest.len()..]);
            }
            (0..=parts.len()).any(|k| match_segs(rest, &parts[k..]))
        }
        Some(seg) => match parts.first() {
            Some(p) if seg_matches(seg, p.text()) => match_segs(&segs[1..], &parts[1..]),
            _ => false,
        },
    }
}

fn seg_matches(seg: &Seg, s: &str) -> bool {
    match seg {
        Seg::Globstar => true,
        Seg::Lit(l) => l == s,
        Seg::Glob(toks) => toks_match(toks, s),
    }
}

/// Wildcard match with single-star backtracking, over byte offsets of `s` (no allocation).
fn toks_match(toks: &[Tok], s: &str) -> bool {
    let next = |i: usize| s[i..].chars().next();
    let (mut t, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = next(i) {
        match toks.get(t) {
            Some(Tok::Star) => {
                star = Some((t, i));
                t += 1;
            }
            Some(Tok::One(set)) if set.contains(c) => {
                t += 1;
                i += c.len_utf8();
            }
            _ => match star {
                Some((st, si)) => {
                    let skip = next(si).map_or(1, char::len_utf8);
                    t = st + 1;
                    i = si + skip;
                    star = Some((st, si + skip));
                }
                None => return false,
            },
        }
    }
    toks[t..].iter().all(|k| *k == Tok::Star)
}

fn seg_toks(seg: &Seg) -> Vec<Tok> {
    match seg {
        Seg::Globstar => vec![Tok::Star],
        Seg::Lit(l) => l.chars().map(|c| Tok::One(CharSet::lit(c))).collect(),
        Seg::Glob(t) => t.clone(),
    }
}

/// A non-empty segment both segment patterns match, if any.
fn seg_witness(a: &Seg, b: &Seg) -> Option<String> {
    match (a, b) {
        // `\.` is the literal `.`, a segment no path holds
        (Seg::Lit(x), _) | (_, Seg::Lit(x)) if x == "." => None,
        (Seg::Lit(x), Seg::Lit(y)) => (x == y).then(|| x.clone()),
        (Seg::Lit(x), other) | (other, Seg::Lit(x)) => seg_matches(other, x).then(|| x.clone()),
        _ => {
            let (ta, tb) = (seg_toks(a), seg_toks(b));
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            if tok_product(&ta, &tb, 0, 0, SegSoFar::Empty, &mut seen, &mut out) {
                out.reverse();
                Some(out.into_iter().collect())
            } else {
                None
            }
        }
    }
}

/// What a witness segment holds so far: a path segment is never empty nor `.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SegSoFar {
    Empty,
    Dot,
    Other,
}

/// Depth-first search in the product of two segment automata; `out` collects the consumed
/// characters in reverse on success.
fn tok_product(
    a: &[Tok],
    b: &[Tok],
    p: usize,
    q: usize,
    state: SegSoFar,
    seen: &mut HashSet<(usize, usize, SegSoFar)>,
    out: &mut Vec<char>,
) -> bool {
    if !seen.insert((p, q, state)) {
        return false;
    }
    if p == a.len() && q == b.len() && state == SegSoFar::Other {
        return true;
    }
    // consume one character on both sides
    if p < a.len() && q < b.len() {
        let (sa, pa) = match &a[p] {
            Tok::Star => (CharSet::any(), p),
            Tok::One(s) => (s.clone(), p + 1),
        };
        let (sb, qb) = match &b[q] {
            Tok::Star => (CharSet::any(), q),
            Tok::One(s) => (s.clone(), q + 1),
        };
        let both = CharSet {
            ranges: sa.intersect_ranges(&sb.ranges),
        };
        // a path never holds the segment `.` (it is dropped as "this directory"): a witness
        // that starts with `.` must go on
        let dot = CharSet::lit('.');
        let steps = if state == SegSoFar::Empty {
            [
                both.common(&dot.complement()).map(|c| (c, SegSoFar::Other)),
                both.common(&dot).map(|c| (c, SegSoFar::Dot)),
            ]
        } else {
            [
                both.common(&CharSet::any()).map(|c| (c, SegSoFar::Other)),
                None,
            ]
        };
        for (c, next) in steps.into_iter().flatten() {
            if tok_product(a, b, pa, qb, next, seen, out) {
                out.push(c);
                return true;
            }
        }
    }
    // a star may match nothing more
    if p < a.len() && a[p] == Tok::Star && tok_product(a, b, p + 1, q, state, seen, out) {
        return true;
    }
    if q < b.len() && b[q] == Tok::Star && tok_product(a, b, p, q + 1, state, seen, out) {
        return true;
    }
    false
}

/// Depth-first search in the product of two segment-level automata; `out` collects the
/// witness segments in reverse on success. A witness has at least one segment.
fn path_product(
    a: &[Seg],
    b: &[Seg],
    i: usize,
    j: usize,
    nonempty: bool,
    seen: &mut HashSet<(usize, usize, bool)>,
    out: &mut Vec<String>,
) -> bool {
    if !seen.insert((i, j, nonempty)) {
        return false;
    }
    if i == a.len() && j == b.len() && nonempty {
        return true;
    }
    let ga = a.get(i) == Some(&Seg::Globstar);
    let gb = b.get(j) == Some(&Seg::Globstar);
    // both consume one segment
    let step = match (i < a.len(), j < b.len(), ga, gb) {
        (true, true, false, false) => seg_witness(&a[i], &b[j]).map(|w| (w, i + 1, j + 1)),
        // a's ** swallows one concrete segment of b, or the other way round
        (_, true, true, false) => seg_witness(&Seg::Globstar, &b[j]).map(|w| (w, i, j + 1)),
        (true, _, false, true) => seg_witness(&a[i], &Seg::Globstar).map(|w| (w, i + 1, j)),
        // both ** take one segment
        (_, _, true, true) => Some(("x".to_string(), i, j)),
        _ => None,
    };
    if let Some((w, ni, nj)) = step {
        if path_product(a, b, ni, nj, true, seen, out) {
            out.push(w);
            return true;
        }
    }
    // a ** matches no more segments
    if ga && path_product(a, b, i + 1, j, nonempty, seen, out) {
        return true;
    }
    if gb && path_product(a, b, i, j + 1, nonempty, seen, out) {
        return true;
    }
    false
}

/// Whether `pattern` matches the file path `path`.
pub fn matches(pattern: &str, path: &str) -> bool {
    Pattern::new(pattern).matches(path)
}

/// Whether two patterns match at least one common path.
pub fn overlaps(a: &str, b: &str) -> bool {
    Pattern::new(a).overlaps(&Pattern::new(b))
}

/// A path that both patterns match, if they overlap.
pub fn intersection_witness(a: &str, b: &str) -> Option<String> {
    Pattern::new(a).witness(&Pattern::new(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(matches("a[bc]d", "abd"));
        assert!(!matches("a[!bc]d", "abd"));
        assert!(matches("a[^bc]d", "axd"));
        assert!(matches("f[0-9].rs", "f7.rs"));
        assert!(!matches("f[0-9].rs", "fx.rs"));
        assert!(matches("a[]]b", "a]b"));
        assert!(matches("a[b", "a[b"), "unclosed class is literal");
        assert!(matches(r"a\*b", "a*b"));
        assert!(!matches(r"a\*b", "axb"));
    }

    #[test]
    fn witness_matches_both() {
        for (a, b) in [
            ("src/**", "src/a.rs"),
            ("docs/*.md", "docs/a.md"),
            ("**/*.rs", "src/**/mod.rs"),
            ("a*b", "*c*"),
            ("[a-c]x", "[!a]?"),
            ("**", "**"),
            ("src/**", "src/**"),
        ] {
            let w = intersection_witness(a, b).unwrap_or_else(|| panic!("{a} vs {b}"));
            assert!(!w.is_empty());
            assert!(matches(a, &w) && matches(b, &w), "{a} {b} -> {w}");
        }
    }
}
