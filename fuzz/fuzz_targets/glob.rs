//! Glob parsing, matching and intersection against a brute-force oracle.
//!
//! Input: pattern A, pattern B, then candidate paths, one per line. The oracle compiles each
//! pattern to a `regex` (written here from the documented grammar of `gaffer_core::glob`, not
//! from its code) and matches paths with it. Properties:
//! - `Pattern::matches` agrees with the oracle on every candidate path;
//! - when `overlaps` says disjoint, no candidate path matches both (the candidates are the given
//!   paths and every path of one or two segments over the patterns' own characters);
//! - a witness matches both patterns; `overlaps` is symmetric and agrees with `witness`.
#![no_main]

use gaffer_core::glob::Pattern;
use libfuzzer_sys::fuzz_target;
use regex::Regex;
use std::collections::BTreeSet;
use std::fmt::Write;

/// One pattern segment of the documented grammar.
#[derive(Debug, PartialEq)]
enum Seg {
    Globstar,
    /// Regex text for one segment; `lit` is its text when it has no wildcard.
    Part {
        re: String,
        lit: Option<String>,
    },
}

fn hex(c: char) -> String {
    format!("\\x{{{:x}}}", c as u32)
}

/// `[...]` starting at `chars[i] == '['`: the regex class and the index after `]`, or `None`
/// when the class never closes (then `[` is a literal).
fn class(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut items = String::new();
    let mut first = true;
    while let Some(&c) = chars.get(i) {
        if c == ']' && !first {
            let re = match (negated, items.is_empty()) {
                (true, true) => "[^/]".to_string(),
                (false, true) => "[^\\x{0}-\\x{10ffff}]".to_string(),
                (true, false) => format!("[[^/]&&[^{items}]]"),
                (false, false) => format!("[[^/]&&[{items}]]"),
            };
            return Some((re, i + 1));
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
                let _ = write!(items, "{}-{}", hex(lo), hex(hi));
            }
            i += 3;
        } else {
            items.push_str(&hex(lo));
            i += 1;
        }
    }
    None
}

fn segment(text: &str) -> Seg {
    if text == "**" {
        return Seg::Globstar;
    }
    let chars: Vec<char> = text.chars().collect();
    let (mut re, mut lit, mut wild) = (String::new(), String::new(), false);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                re.push_str("[^/]*");
                wild = true;
                i += 1;
            }
            '?' => {
                re.push_str("[^/]");
                wild = true;
                i += 1;
            }
            '[' => match class(&chars, i) {
                Some((c, next)) => {
                    re.push_str(&c);
                    wild = true;
                    i = next;
                }
                None => {
                    // taken literally, but the segment still counts as a wildcard one
                    re.push_str(&hex('['));
                    wild = true;
                    i += 1;
                }
            },
            '\\' if i + 1 < chars.len() => {
                re.push_str(&hex(chars[i + 1]));
                lit.push(chars[i + 1]);
                i += 2;
            }
            c => {
                re.push_str(&hex(c));
                lit.push(c);
                i += 1;
            }
        }
    }
    Seg::Part {
        re,
        lit: (!wild).then_some(lit),
    }
}

fn path_segments(s: &str) -> impl Iterator<Item = &str> {
    s.split('/').filter(|p| !p.is_empty() && *p != ".")
}

fn has_extension(name: &str) -> bool {
    name.rfind('.').is_some_and(|i| i > 0 && i + 1 < name.len())
}

/// The oracle's regex for a pattern, over paths written as `/seg/seg`.
fn oracle(pattern: &str) -> Option<Regex> {
    let mut segs: Vec<Seg> = Vec::new();
    for s in path_segments(pattern) {
        let seg = segment(s);
        if seg == Seg::Globstar && segs.last() == Some(&Seg::Globstar) {
            continue;
        }
        segs.push(seg);
    }
    let dir = pattern.ends_with('/')
        || matches!(segs.last(), Some(Seg::Part { lit: Some(l), .. }) if !has_extension(l));
    if dir && segs.last() != Some(&Seg::Globstar) {
        segs.push(Seg::Globstar);
    }
    let mut re = String::from("^");
    for s in &segs {
        match s {
            Seg::Globstar => re.push_str("(?:/[^/]+)*"),
            Seg::Part { re: r, .. } => {
                re.push('/');
                re.push_str(r);
            }
        }
    }
    re.push('$');
    regex::RegexBuilder::new(&re)
        .size_limit(1 << 22)
        .build()
        .ok()
}

fn normalise(path: &str) -> String {
    let mut out = String::new();
    for s in path_segments(path) {
        out.push('/');
        out.push_str(s);
    }
    out
}

/// Paths of one or two segments over a few characters of the patterns (plus `a`, `-`, `.`).
fn small_paths(a: &str, b: &str) -> Vec<String> {
    let mut alphabet: BTreeSet<char> = ['a', '-', '.'].into_iter().collect();
    for c in a.chars().chain(b.chars()) {
        if alphabet.len() >= 6 {
            break;
        }
        if !matches!(c, '/' | '*' | '?' | '[' | ']' | '\\') {
            alphabet.insert(c);
        }
    }
    let mut segs: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
    for x in &alphabet {
        for y in &alphabet {
            segs.push(format!("{x}{y}"));
        }
    }
    for p in [a, b] {
        for s in path_segments(p) {
            if let Seg::Part { lit: Some(l), .. } = segment(s)
                && !l.is_empty()
                && l != "."
            {
                segs.push(l);
            }
        }
    }
    let mut out: Vec<String> = segs.clone();
    for x in &segs {
        for y in &segs {
            out.push(format!("{x}/{y}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let (Some(a), Some(b)) = (lines.next(), lines.next()) else {
        return;
    };
    if a.len() > 64 || b.len() > 64 {
        return;
    }
    let (pa, pb) = (Pattern::new(a), Pattern::new(b));
    let overlaps = pa.overlaps(&pb);
    assert_eq!(overlaps, pb.overlaps(&pa), "overlaps is not symmetric");
    let witness = pa.witness(&pb);
    assert_eq!(overlaps, witness.is_some(), "overlaps and witness disagree");
    let (Some(ra), Some(rb)) = (oracle(a), oracle(b)) else {
        return;
    };
    let check = |path: &str| {
        let n = normalise(path);
        let (ma, mb) = (ra.is_match(&n), rb.is_match(&n));
        assert_eq!(
            pa.matches(path),
            ma,
            "A={a:?} on {path:?}: matcher vs oracle"
        );
        assert_eq!(
            pb.matches(path),
            mb,
            "B={b:?} on {path:?}: matcher vs oracle"
        );
        if ma && mb {
            assert!(
                overlaps,
                "{a:?} and {b:?} called disjoint, both match {path:?}"
            );
        }
    };
    if let Some(w) = &witness {
        let n = normalise(w);
        assert!(ra.is_match(&n) && rb.is_match(&n), "witness {w:?} misses");
        check(w);
    }
    for path in lines.take(16) {
        check(path);
    }
    if a.len() <= 24 && b.len() <= 24 {
        for path in small_paths(a, b) {
            check(&path);
        }
    }
});
