//! The conflict algebra: path matching with segment semantics, pattern intersection, and a
//! property test (disjoint patterns share no generated path; a witness matches both).

use gaffer_core::glob::{Pattern, intersection_witness, matches, overlaps};

/// The reference's `matchesPattern` cases (coordinator spec §4, Agent Mail spec §4).
/// `(pattern, path, reference result, our result, note)`; where they differ, the note says why.
const REFERENCE_CASES: &[(&str, &str, bool, bool, &str)] = &[
    // exact match
    ("src/main.rs", "src/main.rs", true, true, ""),
    ("src/main.rs", "src/main.go", false, false, ""),
    // directory pattern: pattern + "/" as a prefix of the path
    ("docs", "docs/b.md", true, true, ""),
    ("src/core", "src/core/a/b.rs", true, true, ""),
    (
        "src/co",
        "src/core/a.rs",
        false,
        false,
        "a string prefix is not a directory",
    ),
    // `**`: prefix before it, suffix after it
    ("src/**", "src/a.rs", true, true, ""),
    ("src/**", "src/a/b/c.rs", true, true, ""),
    ("src/**", "lib/a.rs", false, false, ""),
    ("src/**/*.rs", "src/a/b.rs", true, true, ""),
    (
        "src/**/*.rs",
        "src/b.rs",
        true,
        true,
        "`**` may match zero segments",
    ),
    ("src/**/*.rs", "src/a/b.go", false, false, ""),
    ("**/*.rs", "deep/down/x.rs", true, true, ""),
    ("src/**/mod.rs", "src/a/mod.rs", true, true, ""),
    (
        "src/**/mod.rs",
        "src/a/xmod.rs",
        true,
        false,
        "reference: literal suffix test; mod.rs is a whole segment",
    ),
    // single `*`: the parts between stars in order, first as prefix, last as suffix
    ("src/*.go", "src/a.go", true, true, ""),
    (
        "src/*.go",
        "src/a/b.go",
        true,
        false,
        "reference defect: its `*` crosses `/`",
    ),
    (
        "*.md",
        "docs/a.md",
        true,
        false,
        "reference defect: `*` crosses `/`; write **/*.md",
    ),
    ("src/*_test.go", "src/x_test.go", true, true, ""),
    ("src/*_test.go", "src/x_test.rs", false, false, ""),
    ("a*b*c", "axxbyyc", true, true, ""),
    ("a*b*c", "acb", false, false, ""),
    // the server's one-directional gitwildmatch cases, now symmetric overlap (see overlap cases)
    ("src/*.rs", "src/lib.rs", true, true, ""),
];

#[test]
fn reference_matching_cases() {
    for &(pattern, path, reference, ours, note) in REFERENCE_CASES {
        assert_eq!(
            matches(pattern, path),
            ours,
            "{pattern} vs {path} (reference said {reference}; {note})"
        );
        if reference != ours {
            assert!(
                !note.is_empty(),
                "a difference must be documented: {pattern} {path}"
            );
        }
    }
}

#[test]
fn segment_semantics() {
    assert!(matches("a/*", "a/b"));
    assert!(!matches("a/*", "a/b/c"));
    assert!(matches("a/?.rs", "a/x.rs"));
    assert!(!matches("a/?.rs", "a/xy.rs"));
    assert!(!matches("a?b", "a/b"), "`?` never matches `/`");
    assert!(matches("a/**/b", "a/b"));
    assert!(matches("a/**/b", "a/x/y/b"));
    assert!(!matches("a/**/b", "a/x/y/c"));
    assert!(
        matches("docs/", "docs/x/y.md"),
        "a trailing slash is a directory"
    );
    assert!(
        matches("./src//a.rs", "src/a.rs"),
        "`./` and `//` are ignored"
    );
    assert!(matches("/src/a.rs", "src/a.rs"), "leading `/` is the root");
    assert!(matches("src", "src"));
    assert!(matches("f[a-c]o", "fbo"));
    assert!(!matches("f[!a-c]o", "fbo"));
}

/// `(a, b, overlap?)`, checked both ways round.
const OVERLAP_CASES: &[(&str, &str, bool)] = &[
    // from the issue
    ("src/**", "src/a.rs", true),
    ("docs/*.md", "docs/a.md", true),
    ("a/*", "a/b/c", false),
    ("*.rs", "*.md", false),
    // the server's one-directional misses
    ("docs/a.md", "docs/*.md", true),
    ("src/*.rs", "src/**", true),
    ("docs", "docs/b.md", true),
    // literals
    ("a.rs", "a.rs", true),
    ("a.rs", "b.rs", false),
    ("src/a.rs", "src/a.rs/x", false), // a.rs is a file
    ("src/a", "src/a/x", true),        // a is a directory
    ("**/*.md", "src/main.rs", false),
    ("**/*.md", "src/main", true),
    (".github", ".github/workflows/*.yml", true),
    ("src", "srcx/a.rs", false),
    ("src", "src", true),
    // star vs star
    ("src/*.rs", "src/*.rs", true),
    ("src/a*", "src/*b", true),
    ("src/a*", "src/b*", false),
    ("src/*a", "src/*b", false),
    ("*.test.ts", "*.ts", true),
    ("*.ts", "*.tsx", false),
    ("x*y*z", "*q*", true),
    ("a*", "*a", true),
    ("ab*", "*ba", true),
    ("abc", "a*c", true),
    ("abc", "a*d", false),
    // question marks
    ("?", "??", false),
    ("??", "a*", true),
    ("?.rs", "ab.rs", false),
    ("?.rs", "*.rs", true),
    // classes
    ("[ab].rs", "[bc].rs", true),
    ("[ab].rs", "[cd].rs", false),
    ("[!a].rs", "a.rs", false),
    ("[!a].rs", "[a-c].rs", true),
    ("[a-c]", "[!a-c]", false),
    ("[0-9]x", "5*", true),
    // globstars
    ("**", "anything/at/all", true),
    ("**/*.rs", "*.md", false),
    ("**/*.rs", "src/lib.rs", true),
    ("**/*.rs", "src/**/*.go", false),
    ("**/test/**", "src/test/a.rs", true),
    ("**/test/**", "src/tests/*.rs", false),
    ("**/test/**", "src/tests/a.rs", false),
    ("**/test/**", "src/tests/a", true), // a may be a directory holding test/
    ("a/**/z", "a/b/**", true),
    ("a/**/z", "b/**", false),
    ("a/**/b/**/c", "a/x/b/y/c", true),
    ("a/**/b/*.rs", "a/b/c/*.rs", false),
    ("a/**/b/*.rs", "a/q/b/d.rs", true),
    ("**/a/*", "**/b/*", false), // the second-to-last segment cannot be both
    ("**/a/**", "**/b/*", true),
    ("**/a", "**/b", true), // both may be directories: a/b
    ("**/*.a", "**/*.b", false),
    // depth
    ("a/*/c", "a/b/*", true),
    ("a/*/c", "a/b", true),
    ("a/*", "a/*/*", false),
    ("*/*", "*", false),
    ("*/*", "x/**", true),
    ("src/*/mod.rs", "src/a/b/mod.rs", false),
    ("src/*/mod.rs", "src/*/mod.rs/x", false), // mod.rs is a file
    ("src/*/mod", "src/*/mod/x", true),
    // directory covers
    ("crates/core", "crates/*/src/*.rs", true),
    ("crates/core", "crates/mail/**", false),
    ("crates/", "crates/a.rs", true),
];

#[test]
fn overlap_cases_both_ways() {
    assert!(OVERLAP_CASES.len() >= 40);
    for &(a, b, want) in OVERLAP_CASES {
        assert_eq!(overlaps(a, b), want, "{a} vs {b}");
        assert_eq!(overlaps(b, a), want, "{b} vs {a}");
        if want {
            let w = intersection_witness(a, b).expect("witness");
            assert!(matches(a, &w) && matches(b, &w), "{a} {b}: witness {w}");
        }
    }
}

/// A small fixed-seed PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn upto(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PATH_SEGS: &[&str] = &["a", "b", "ab", "ba", "aa", "a.rs", "b.md", "x", "ab.rs"];
const PAT_SEGS: &[&str] = &[
    "a", "b", "ab", "a.rs", "b.md", "*", "**", "?", "a*", "*b", "*.rs", "*.md", "[ab]", "[!a]",
    "?b", "a?", "*a*", "[a-b]*", "x",
];

fn gen_pattern(rng: &mut Rng) -> String {
    let n = 1 + rng.upto(3);
    let segs: Vec<&str> = (0..n).map(|_| rng.pick(PAT_SEGS)).collect();
    let mut p = segs.join("/");
    if rng.upto(8) == 0 {
        p.push('/');
    }
    p
}

fn all_paths() -> Vec<String> {
    // every path of 1..=4 segments over PATH_SEGS
    let mut out: Vec<String> = PATH_SEGS.iter().map(|s| s.to_string()).collect();
    let mut last = out.clone();
    for _ in 0..3 {
        let mut next = Vec::new();
        for p in &last {
            for s in PATH_SEGS {
                next.push(format!("{p}/{s}"));
            }
        }
        out.extend(next.iter().cloned());
        last = next;
    }
    out
}

/// An independent oracle for matching: the pattern as a regex over "/seg/seg…" (handles the
/// generator's alphabet: literals, `*`, `?`, `**`, `[ab]`, `[!a]`, `[a-b]`).
fn oracle(pattern: &str) -> regex::Regex {
    let segs: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let mut re = String::from("^");
    for s in &segs {
        if *s == "**" {
            re.push_str("(?:/[^/]+)*");
            continue;
        }
        re.push('/');
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => re.push_str("[^/]*"),
                '?' => re.push_str("[^/]"),
                '[' => {
                    re.push('[');
                    if chars.peek() == Some(&'!') {
                        chars.next();
                        re.push_str("^/");
                    }
                    for c in chars.by_ref() {
                        re.push(c);
                        if c == ']' {
                            break;
                        }
                    }
                }
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
    }
    let last_literal = segs
        .last()
        .is_some_and(|s| !s.contains(['*', '?', '[']) && !gaffer_core::glob::has_extension(s));
    if pattern.ends_with('/') || last_literal {
        re.push_str("(?:/[^/]+)*");
    }
    re.push('$');
    regex::Regex::new(&re).expect("oracle regex")
}

#[test]
fn matcher_agrees_with_a_regex_oracle() {
    let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
    let paths = all_paths();
    for _ in 0..150 {
        let p = gen_pattern(&mut rng);
        let (pat, re) = (Pattern::new(&p), oracle(&p));
        for path in &paths {
            assert_eq!(
                pat.matches(path),
                re.is_match(&format!("/{path}")),
                "{p} vs {path}"
            );
        }
    }
}

#[test]
fn property_disjoint_patterns_share_no_path_and_witnesses_match() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let paths = all_paths();
    let mut disjoint = 0;
    let mut overlapping = 0;
    for _ in 0..600 {
        let (a, b) = (gen_pattern(&mut rng), gen_pattern(&mut rng));
        let (pa, pb) = (Pattern::new(&a), Pattern::new(&b));
        match pa.witness(&pb) {
            None => {
                disjoint += 1;
                assert!(!pb.overlaps(&pa), "asymmetric: {a} {b}");
                let (ra, rb) = (oracle(&a), oracle(&b));
                for p in &paths {
                    let p = format!("/{p}");
                    assert!(
                        !(ra.is_match(&p) && rb.is_match(&p)),
                        "{a} and {b} reported disjoint, but both match {p}"
                    );
                }
            }
            Some(w) => {
                overlapping += 1;
                assert!(pb.overlaps(&pa), "asymmetric: {a} {b}");
                let w2 = format!("/{w}");
                assert!(
                    pa.matches(&w)
                        && pb.matches(&w)
                        && oracle(&a).is_match(&w2)
                        && oracle(&b).is_match(&w2),
                    "witness {w} of {a} and {b} does not match both"
                );
            }
        }
    }
    assert!(
        disjoint > 50 && overlapping > 50,
        "generator covers both outcomes"
    );
}

/// Character classes over the whole character space: the class tokens of the generator below,
/// and the characters that stand for every region their bounds cut the space into (letters,
/// digits, punctuation on either side of them, non-ASCII, the last scalar value).
const CLASS_TOKS: &[&str] = &[
    "a",
    "Z",
    "0",
    "-",
    "é",
    "?",
    "?",
    "*",
    "[a-z]",
    "[!a-z]",
    "[!a-zA-Z0-9]",
    "[!0-9]",
    "[-_~]",
    "[!-]",
    "[!é]",
    "[~-é]",
    "[A-Z0-9]",
    "[!a-zA-Z0-9-]",
];
const CLASS_CHARS: &[char] = &[
    'a',
    'q',
    'Z',
    '0',
    '-',
    '_',
    '~',
    '#',
    'é',
    '中',
    '\u{10FFFF}',
];

fn gen_segment(rng: &mut Rng) -> String {
    let n = 1 + rng.upto(3);
    (0..n).map(|_| rng.pick(CLASS_TOKS)).collect()
}

/// Every string of 1..=4 characters over `CLASS_CHARS`.
fn all_segments() -> Vec<String> {
    let mut out = Vec::new();
    let mut last = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for p in &last {
            for c in CLASS_CHARS {
                next.push(format!("{p}{c}"));
            }
        }
        out.extend(next.iter().cloned());
        last = next;
    }
    out
}

#[test]
fn negated_classes_intersect_over_every_character() {
    // the audit's case: `?` and a class of everything but letters and digits share `a-b`
    for (a, b) in [
        ("a?b", "a[!a-zA-Z0-9]b"),
        ("[!a-z]", "[!A-Z0-9]"),
        ("x[!a-zA-Z0-9]", "x[!-_~]"),
    ] {
        let w = intersection_witness(a, b).unwrap_or_else(|| panic!("{a} vs {b}: disjoint"));
        assert!(matches(a, &w) && matches(b, &w), "{a} {b} -> {w}");
        assert!(overlaps(b, a));
    }
    // classes that leave only characters far outside ASCII, across the surrogate gap
    let below_gap = "[!\u{0}-\u{D7FF}]";
    let w = intersection_witness(below_gap, "[!\u{E000}-\u{E0FF}]").expect("U+E100 and up");
    assert!(
        matches(below_gap, &w) && w.chars().all(|c| c > '\u{E0FF}'),
        "{w:?}"
    );
    // truly disjoint negations: together they exclude everything
    assert!(!overlaps("[!a-z]", "[a-z]"));
    assert!(!overlaps("[!\u{0}-\u{10FFFF}]", "?"));
}

#[test]
fn property_class_intersection_agrees_with_brute_force() {
    let mut rng = Rng(0xC1A5_55E5_0FC4_A2B7);
    let segs = all_segments();
    let (mut disjoint, mut overlapping) = (0, 0);
    for _ in 0..300 {
        let (a, b) = (gen_segment(&mut rng), gen_segment(&mut rng));
        let (pa, pb) = (Pattern::new(&a), Pattern::new(&b));
        let (ra, rb) = (oracle(&a), oracle(&b));
        let brute = segs.iter().find(|s| {
            let s = format!("/{s}");
            ra.is_match(&s) && rb.is_match(&s)
        });
        match (pa.witness(&pb), brute) {
            (None, Some(s)) => panic!("{a} and {b} reported disjoint, but both match {s:?}"),
            (None, None) => disjoint += 1,
            (Some(w), _) => {
                overlapping += 1;
                assert!(pb.overlaps(&pa), "asymmetric: {a} {b}");
                let w2 = format!("/{w}");
                assert!(
                    ra.is_match(&w2) && rb.is_match(&w2),
                    "witness {w:?} of {a} and {b} does not match both"
                );
            }
        }
    }
    assert!(
        disjoint > 20 && overlapping > 20,
        "generator covers both outcomes ({disjoint} disjoint, {overlapping} overlapping)"
    );
}

/// Found by the `glob` fuzz target (fuzz/artifacts/glob/crash-ca52bc52…: `a\` matched `a`).
/// `\` escapes the next character in every segment, a wildcard one or a literal one alike: a
/// trailing `\` has nothing to escape and is itself, `\\` is one backslash, `\*` a star.
#[test]
fn backslash_escapes_the_same_in_literal_and_wildcard_segments() {
    // a trailing backslash is a literal backslash
    assert!(!matches("a\\", "a"));
    assert!(matches("a\\", "a\\"));
    assert!(matches("a\\?", "a?") && !matches("a\\?", "ab"));
    assert!(
        !matches("x/a\\", "x/a/b.rs"),
        "`a\\` is not the directory `a`"
    );
    // an escaped backslash is one backslash
    assert!(matches("a\\\\b.rs", "a\\b.rs"));
    assert!(!matches("a\\\\b.rs", "ab.rs"));
    // an escaped wildcard is the character
    assert!(matches("a\\*.rs", "a*.rs"));
    assert!(!matches("a\\*.rs", "ab.rs"));
    // literal and wildcard segments read the same text the same way
    for (lit, glob, path) in [
        ("a\\", "[a]\\", "a\\"),
        ("a\\\\b.rs", "[a]\\\\b.rs", "a\\b.rs"),
        ("a\\\\b.rs", "[a]\\\\b.rs", "ab.rs"),
        ("a\\b.rs", "[a]\\b.rs", "ab.rs"),
    ] {
        assert_eq!(
            matches(lit, path),
            matches(glob, path),
            "{lit} vs {glob} on {path}"
        );
    }
    assert!(overlaps("a\\", "[a]\\"));
    assert!(!overlaps("a\\", "a"));
}

/// Found by the `glob` fuzz target (crash-e43a87ec…: `\.` and `/` overlapped with the witness
/// `.`). A path never holds the segment `.`, so a pattern can only match it through a longer
/// segment, and no witness is `.`.
#[test]
fn no_witness_is_the_segment_dot() {
    assert!(!overlaps("\\.", "/"));
    assert!(intersection_witness("\\.", "**").is_none());
    assert!(!overlaps("[.]", "**"));
    assert!(!overlaps("a/\\./b.rs", "a/**"));
    let w = intersection_witness("[.]*", "*").expect("`..` or `.a` matches both");
    assert_ne!(w, ".");
    assert!(matches("[.]*", &w) && matches("*", &w), "witness {w:?}");
    let w = intersection_witness("?", "[.-]").expect("`-` matches both");
    assert_eq!(w, "-");
}
