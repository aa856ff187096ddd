//! Extracting file paths and capability tags from task text (spec/coordinator.md §3.5).
//!
//! Both keep the reference's documented examples, and fix its false positives:
//! - a URL (`http://x`, `www.x`) or a common slash phrase (`and/or`, `input/output`) is not a file;
//! - tags match whole words (with plural and verb endings), so `address` is not `add`, `latest`
//!   is not `test` and `checkout` is not `check`.

const TRIM_CHARS: &[char] = &[',', ';', ':', '(', ')', '[', ']', '{', '}', '"', '\'', '`'];

const FILE_EXTENSIONS: &[&str] = &[
    ".go", ".ts", ".js", ".py", ".rs", ".md", ".yaml", ".yml", ".json", ".toml",
];

/// Slash phrases of ordinary prose that are not paths.
const SLASH_PHRASES: &[&str] = &[
    "and/or",
    "either/or",
    "input/output",
    "i/o",
    "read/write",
    "yes/no",
    "on/off",
    "true/false",
    "pass/fail",
    "client/server",
    "he/she",
    "his/her",
    "him/her",
    "s/he",
    "w/o",
    "n/a",
    "and/",
    "or/",
    "start/stop",
    "open/close",
    "get/set",
    "push/pull",
    "before/after",
    "win/loss",
    "plus/minus",
];

/// File paths and globs mentioned in a task's title and description, in order, duplicates kept.
///
/// A word (split on whitespace, trimmed of `,;:()[]{}"'` and backticks, and of trailing `.` so
/// that `.env` keeps its dot) of at least 3
/// characters counts when it contains `/` or `\`, ends with a known source extension, contains
/// `*`, or starts with `.`; URLs and slash phrases of prose do not count.
pub fn extract_mentioned_files(title: &str, description: &str) -> Vec<String> {
    mentioned_files(title, description)
        .map(str::to_string)
        .collect()
}

/// [`extract_mentioned_files`] without copies: the mentioned files as slices of the texts.
pub fn mentioned_files<'a>(title: &'a str, description: &'a str) -> impl Iterator<Item = &'a str> {
    // Words never span the two texts (they were joined with a space), so split each alone.
    title
        .split_whitespace()
        .chain(description.split_whitespace())
        .map(trim_word)
        .filter(|w| w.len() >= 3 && looks_like_path(w))
}

/// A word less the punctuation around it ([`TRIM_CHARS`], and trailing `.,;:`).
fn trim_word(w: &str) -> &str {
    // Most words start and end with a character no trim removes.
    let plain = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'*');
    match (w.as_bytes().first(), w.as_bytes().last()) {
        (Some(&a), Some(&z)) if plain(a) && plain(z) => w,
        _ => w
            .trim_matches(TRIM_CHARS)
            .trim_end_matches(['.', ',', ';', ':']),
    }
}

/// Whether `w` ends with one of [`FILE_EXTENSIONS`] (each is a `.` and no other `.`, so
/// only the text from the last `.` can be one).
fn has_source_extension(w: &str) -> bool {
    w.rfind('.')
        .is_some_and(|i| FILE_EXTENSIONS.contains(&&w[i..]))
}

fn looks_like_path(w: &str) -> bool {
    // What makes a path, first: most words fail here, before any case folding.
    let path_like = w.bytes().any(|b| matches!(b, b'/' | b'\\' | b'*'))
        || has_source_extension(w)
        || (w.starts_with('.') && w.len() > 1);
    if !path_like {
        return false;
    }
    if w.is_ascii() {
        // ASCII: compare ignoring case, without lowercasing a copy.
        let starts = |p: &str| {
            w.len() >= p.len() && w.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        };
        !(w.contains("://")
            || starts("www.")
            || starts("mailto:")
            || SLASH_PHRASES.iter().any(|p| p.eq_ignore_ascii_case(w)))
    } else {
        let lower = w.to_lowercase();
        !(lower.contains("://")
            || lower.starts_with("www.")
            || lower.starts_with("mailto:")
            || SLASH_PHRASES.contains(&lower.as_str()))
    }
}

/// Tags and the keywords (single words or phrases) that signal them; `keyword_tag` is the
/// same table as a `match`, and a test keeps the two in agreement.
#[cfg(test)]
const TAG_KEYWORDS: &[(&str, &[&str])] = &[
    (
        "testing",
        &[
            "test",
            "tests",
            "testing",
            "unittest",
            "unit test",
            "e2e",
            "qa",
            "coverage",
        ],
    ),
    (
        "architecture",
        &[
            "refactor",
            "restructure",
            "redesign",
            "architecture",
            "pattern",
            "design",
        ],
    ),
    (
        "documentation",
        &[
            "document",
            "documentation",
            "readme",
            "docs",
            "docstring",
            "comment",
        ],
    ),
    (
        "implementation",
        &["implement", "add", "create", "build", "feature", "develop"],
    ),
    ("review", &["review", "audit", "inspect", "check"]),
    ("bugs", &["fix", "bug", "patch", "error", "crash"]),
];

/// Endings accepted after a keyword: `tests`, `fixes`, `added`, `created`, `building`.
const SUFFIXES: &[&str] = &["", "s", "es", "ed", "d", "ing", "ings", "er", "ers"];

/// The tag of a single-word keyword (the phrase `unit test` is covered by `test`). A `match`
/// on the string compiles to length and byte comparisons: no hashing per word.
fn keyword_tag(word: &str) -> Option<&'static str> {
    Some(match word {
        "test" | "tests" | "testing" | "unittest" | "e2e" | "qa" | "coverage" => "testing",
        "refactor" | "restructure" | "redesign" | "architecture" | "pattern" | "design" => {
            "architecture"
        }
        "document" | "documentation" | "readme" | "docs" | "docstring" | "comment" => {
            "documentation"
        }
        "implement" | "add" | "create" | "build" | "feature" | "develop" => "implementation",
        "review" | "audit" | "inspect" | "check" => "review",
        "fix" | "bug" | "patch" | "error" | "crash" => "bugs",
        _ => return None,
    })
}

/// The tag of one lowercase word: the word itself, or the word less a common ending (with a
/// doubled final consonant undone: `bugged` → `bug`).
fn word_tag(word: &str) -> Option<&'static str> {
    // Every keyword starts with one of these letters; most words are rejected here.
    let first = word.as_bytes().first()?;
    if !matches!(
        first,
        b't' | b'u' | b'e' | b'q' | b'c' | b'r' | b'p' | b'd' | b'a' | b'i' | b'b' | b'f'
    ) {
        return None;
    }
    if let Some(t) = keyword_tag(word) {
        return Some(t);
    }
    for suffix in SUFFIXES.iter().filter(|s| !s.is_empty()) {
        let Some(stem) = word.strip_suffix(suffix) else {
            continue;
        };
        if let Some(t) = keyword_tag(stem) {
            return Some(t);
        }
        let mut chars = stem.chars().rev();
        if let (Some(a), Some(b)) = (chars.next(), chars.next()) {
            if a == b {
                if let Some(t) = keyword_tag(&stem[..stem.len() - a.len_utf8()]) {
                    return Some(t);
                }
            }
        }
    }
    None
}

/// The capability tags, sorted: [`extract_task_tags`] returns a subset in this order.
pub const TASK_TAGS: [&str; 6] = [
    "architecture",
    "bugs",
    "documentation",
    "implementation",
    "review",
    "testing",
];

/// A set of capability tags ([`TASK_TAGS`]), one bit each: no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TagSet(u8);

impl TagSet {
    /// The set holding `tag` when it is one of [`TASK_TAGS`] (ignoring ASCII case).
    pub fn of(tag: &str) -> TagSet {
        TagSet(
            TASK_TAGS
                .iter()
                .position(|t| t.eq_ignore_ascii_case(tag))
                .map_or(0, |i| 1 << i),
        )
    }

    /// The set of a tag [`keyword_tag`] returned: the tags differ in their first letter.
    fn of_known(tag: &'static str) -> TagSet {
        let bit = match tag.as_bytes().first() {
            Some(b'a') => 0,
            Some(b'b') => 1,
            Some(b'd') => 2,
            Some(b'i') => 3,
            Some(b'r') => 4,
            Some(b't') => 5,
            _ => return TagSet::of(tag),
        };
        debug_assert_eq!(TASK_TAGS[bit], tag);
        TagSet(1 << bit)
    }

    /// The known tags among `tags` (ignoring ASCII case); unknown ones are left out.
    pub fn from_tags<S: AsRef<str>>(tags: &[S]) -> TagSet {
        tags.iter()
            .fold(TagSet(0), |acc, t| acc.union(TagSet::of(t.as_ref())))
    }

    /// Both sets together.
    pub fn union(self, other: TagSet) -> TagSet {
        TagSet(self.0 | other.0)
    }

    /// The tags in both sets.
    pub fn intersection(self, other: TagSet) -> TagSet {
        TagSet(self.0 & other.0)
    }

    /// Number of tags.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The tags, sorted.
    pub fn iter(self) -> impl Iterator<Item = &'static str> {
        TASK_TAGS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, t)| *t)
    }
}

/// Capability tags of a task, sorted: `testing`, `architecture`, `documentation`,
/// `implementation`, `review`, `bugs`. Keywords match whole words, with common endings.
pub fn extract_task_tags(title: &str, description: &str) -> Vec<String> {
    task_tags(title, description)
        .iter()
        .map(str::to_string)
        .collect()
}

/// [`extract_task_tags`] as a [`TagSet`].
pub fn task_tags(title: &str, description: &str) -> TagSet {
    let mut tags = TagSet::default();
    let mut add = |word: &str| {
        if let Some(t) = word_tag(word) {
            tags = tags.union(TagSet::of_known(t));
        }
    };
    let mut buf = String::new();
    for text in [title, description] {
        if text.is_ascii() {
            // ASCII: lowercase word by word (the same words as lowercasing the text first)
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if !bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                    continue;
                }
                let start = i;
                let mut upper = false;
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    upper |= bytes[i].is_ascii_uppercase();
                    i += 1;
                }
                let word = &text[start..i];
                if upper {
                    buf.clear();
                    buf.push_str(word);
                    buf.make_ascii_lowercase();
                    add(&buf);
                } else {
                    add(word);
                }
            }
        } else {
            let lower = text.to_lowercase();
            for word in lower
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                add(word);
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(s: &str) -> Vec<String> {
        extract_mentioned_files(s, "")
    }

    #[test]
    fn mentioned_files_reference_table() {
        assert_eq!(
            files("Fix bug in internal/cli/send.go"),
            vec!["internal/cli/send.go"]
        );
        assert_eq!(
            files("Update README.md and config.yaml"),
            vec!["README.md", "config.yaml"]
        );
        assert_eq!(files("Refactor src/**/*.ts files"), vec!["src/**/*.ts"]);
        assert_eq!(
            files("Edit (main.go), then lib.rs."),
            vec!["main.go", "lib.rs"]
        );
        assert_eq!(files("Check .env handling"), vec![".env"]);
        assert_eq!(files("a/b"), vec!["a/b"]);
        assert!(files("go to the store").is_empty());
        assert!(files("Fix it").is_empty());
    }

    #[test]
    fn mentioned_files_uses_description_and_keeps_duplicates() {
        let got = extract_mentioned_files("Touch a.rs", "then `a.rs` and docs/x.md");
        assert_eq!(got, vec!["a.rs", "a.rs", "docs/x.md"]);
    }

    #[test]
    fn urls_and_slash_phrases_are_not_files() {
        // The reference counted all of these.
        assert!(files("see http://x").is_empty());
        assert!(files("see https://example.com/a/b.md").is_empty());
        assert!(files("tests and/or docs").is_empty());
        assert!(files("handle input/output errors").is_empty());
        assert_eq!(files("see http://x and fix src/x.rs"), vec!["src/x.rs"]);
    }

    fn tags(s: &str) -> Vec<String> {
        extract_task_tags(s, "")
    }

    #[test]
    fn task_tags_reference_examples() {
        assert_eq!(
            tags("Add unit tests for parser"),
            vec!["implementation", "testing"]
        );
        assert_eq!(tags("Refactor the auth module"), vec!["architecture"]);
        assert_eq!(tags("Fix crash in login"), vec!["bugs"]);
        assert_eq!(tags("Update README"), vec!["documentation"]);
        assert!(tags("").is_empty());
    }

    #[test]
    fn task_tags_every_keyword() {
        for (tag, keywords) in TAG_KEYWORDS {
            // The match table in `keyword_tag` must agree with the keyword list.
            for k in *keywords {
                assert!(
                    tags(&format!("please {k} now")).contains(&tag.to_string()),
                    "{k} -> {tag}"
                );
            }
        }
    }

    #[test]
    fn task_tags_no_substring_false_positives() {
        // The reference tagged each of these through substrings.
        assert!(
            tags("Update the mailing address").is_empty(),
            "address is not add"
        );
        assert!(
            tags("Bump to the latest version").is_empty(),
            "latest is not test"
        );
        assert!(
            tags("Speed up git checkout").is_empty(),
            "checkout is not check"
        );
        assert!(tags("Aqua theme colours").is_empty(), "aqua is not qa");
        assert!(tags("Rebuild caches").is_empty(), "rebuild is not build");
        assert!(tags("Prefix the ids").is_empty(), "prefix is not fix");
    }

    #[test]
    fn task_tags_inflections() {
        assert_eq!(tags("Fixes the parser"), vec!["bugs"]);
        assert_eq!(tags("Added retries"), vec!["implementation"]);
        assert_eq!(tags("Testing the bugged path"), vec!["bugs", "testing"]);
        assert_eq!(tags("Reviewing checks"), vec!["review"]);
        assert_eq!(tags("Write unit-tests"), vec!["testing"]);
    }

    #[test]
    fn source_extensions_are_one_dot_each() {
        for ext in FILE_EXTENSIONS {
            assert!(
                ext.starts_with('.') && ext.matches('.').count() == 1,
                "{ext}"
            );
            assert!(has_source_extension(&format!("a/b.c{ext}")));
        }
        assert!(!has_source_extension("a.rs.bak"));
        assert!(!has_source_extension("rs"));
    }

    /// The allocation-free paths give what lowercasing whole texts gave, ASCII or not.
    #[test]
    fn borrowed_extraction_agrees_with_lowercasing_copies() {
        fn old_tags(title: &str, description: &str) -> Vec<String> {
            let mut tags: Vec<&'static str> = Vec::new();
            for text in [title, description] {
                let lower = text.to_lowercase();
                for word in lower
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    if let Some(t) = word_tag(word) {
                        if !tags.contains(&t) {
                            tags.push(t);
                        }
                    }
                }
            }
            tags.sort_unstable();
            tags.into_iter().map(str::to_string).collect()
        }
        fn old_path(w: &str) -> bool {
            let lower = w.to_lowercase();
            if lower.contains("://") || lower.starts_with("www.") || lower.starts_with("mailto:") {
                return false;
            }
            if SLASH_PHRASES.contains(&lower.as_str()) {
                return false;
            }
            w.contains('/')
                || w.contains('\\')
                || FILE_EXTENSIONS.iter().any(|ext| w.ends_with(ext))
                || w.contains('*')
                || (w.starts_with('.') && w.len() > 1)
        }
        let texts = [
            "Fix CRASH in src/Main.rs and add Tests",
            "See HTTP://x.io/a.md, WWW.example.com and MAILTO:me; And/Or Input/Output",
            "Réparer le BUG dans src/ä.rs: ÉCRIRE les tests, Refactoring",
            "İnspect the Docs (README.md) — review the K\u{212A}ELVIN patch",
            "Building features; bugged; Checks w/o N/A `a.rs`",
            "",
            "  .env  *.md  docs/**/*.MD  Client/Server  START/STOP",
        ];
        for t in texts {
            for d in texts {
                assert_eq!(extract_task_tags(t, d), old_tags(t, d), "{t} | {d}");
                let old_files: Vec<String> = format!("{t} {d}")
                    .split_whitespace()
                    .map(|w| {
                        w.trim_matches(TRIM_CHARS)
                            .trim_end_matches(['.', ',', ';', ':'])
                    })
                    .filter(|w| w.len() >= 3 && old_path(w))
                    .map(str::to_string)
                    .collect();
                assert_eq!(extract_mentioned_files(t, d), old_files, "{t} | {d}");
            }
        }
        let set = task_tags("Fix crash and add tests", "");
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            ["bugs", "implementation", "testing"]
        );
        assert_eq!(set.len(), 3);
        let profile = TagSet::from_tags(&["Testing", "frontend", "BUGS"]);
        assert_eq!(set.intersection(profile).len(), 2);
    }
}
