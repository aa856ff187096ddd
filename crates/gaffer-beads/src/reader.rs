//! Finding the beads project and reading `.beads/issues.jsonl` tolerantly (spec/beads.md §3).

use gaffer_core::beads::Issue;
use gaffer_core::digest::WorkDigestSummary;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::HealthCounts;
use gaffer_core::triage_engine::{self, graph::BeadGraph};
use gaffer_core::work_source::work_digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Data files in the order tools prefer them.
pub const DATA_FILES: [&str; 3] = ["issues.jsonl", "beads.jsonl", "beads.base.jsonl"];

/// A reader failure.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No `.beads/` in the directory or any ancestor.
    #[error("no .beads/ directory in {0} or any parent (run `br init` first)")]
    NoProject(PathBuf),
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than gaffer reads.
    #[error("{path} is {size} bytes, more than the {limit} MiB gaffer reads")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit, in MiB.
        limit: u64,
    },
}

/// A beads project: the directory that holds `.beads/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeadsProject {
    /// The project root.
    pub root: PathBuf,
    /// `<root>/.beads`.
    pub beads_dir: PathBuf,
    /// The last reading of the data file, shared by the clones of this project.
    cache: LoadCache,
}

/// What identifies one version of the data file: path, size, modification time, inode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileKey {
    path: PathBuf,
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileKey {
    fn of(path: &Path, m: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(m);
        #[cfg(not(unix))]
        let inode = 0;
        FileKey {
            path: path.to_path_buf(),
            len: m.len(),
            modified: m.modified().ok(),
            inode,
        }
    }
}

/// The last reading of the data file. A file unchanged since (same size, time and inode) is
/// not read and parsed again: the coordinator reads it several times a pass, and a file `br`
/// has stopped rewriting (an unreadable line) stays the same for hours. Every project is
/// equal to every other in this respect (the cache is not part of the value).
#[derive(Debug, Clone, Default)]
struct LoadCache(std::sync::Arc<std::sync::Mutex<Option<(FileKey, LoadedIssues)>>>);

impl PartialEq for LoadCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LoadCache {}

impl LoadCache {
    fn get(&self, key: &FileKey) -> Option<LoadedIssues> {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.as_ref().filter(|(k, _)| k == key).map(|(_, l)| l.clone())
    }

    fn put(&self, key: FileKey, loaded: &LoadedIssues) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, loaded.clone()));
    }
}

impl BeadsProject {
    /// Finds the nearest `.beads/` in `start` or an ancestor.
    pub fn discover(start: &Path) -> Result<Self, ReadError> {
        let start_abs = if start.is_absolute() {
            start.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(start))
                .unwrap_or_else(|_| start.to_path_buf())
        };
        find_root(&start_abs)
            .map(Self::at)
            .ok_or(ReadError::NoProject(start_abs))
    }

    /// The project rooted at `root` (no check that `.beads/` exists).
    pub fn at(root: PathBuf) -> Self {
        let beads_dir = root.join(".beads");
        BeadsProject {
            root,
            beads_dir,
            cache: LoadCache::default(),
        }
    }

    /// The data file: the first of [`DATA_FILES`] that exists, else `issues.jsonl`.
    pub fn jsonl_path(&self) -> PathBuf {
        DATA_FILES
            .iter()
            .map(|f| self.beads_dir.join(f))
            .find(|p| p.is_file())
            .unwrap_or_else(|| self.beads_dir.join(DATA_FILES[0]))
    }

    /// Reads the issues. A missing data file is an empty project.
    /// A file unchanged since the last read (size, modification time, inode) is not read
    /// again.
    pub fn load(&self) -> Result<LoadedIssues, ReadError> {
        let path = self.jsonl_path();
        let limit = gaffer_core::limits::MAX_ISSUES_FILE_BYTES;
        let mut key = None;
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > limit => {
                return Err(ReadError::TooLarge {
                    path,
                    size: m.len(),
                    limit: gaffer_core::limits::mib(limit),
                });
            }
            Ok(m) => {
                let k = FileKey::of(&path, &m);
                if let Some(hit) = self.cache.get(&k) {
                    return Ok(hit);
                }
                key = Some(k);
            }
            _ => {}
        }
        match std::fs::read(&path) {
            Ok(bytes) => {
                let mut loaded = parse_issues(&bytes);
                drop(bytes);
                loaded.path = Some(path.clone());
                // Kept only when the file did not change while it was read.
                let same = std::fs::metadata(&path)
                    .ok()
                    .map(|m| FileKey::of(&path, &m));
                if let Some(k) = key.filter(|k| same.as_ref() == Some(k)) {
                    self.cache.put(k, &loaded);
                }
                Ok(loaded)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LoadedIssues {
                path: Some(path),
                ..LoadedIssues::default()
            }),
            Err(source) => Err(ReadError::Io { path, source }),
        }
    }
}

/// The nearest directory at or above `start` that contains a `.beads/` directory.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(".beads").is_dir())
        .map(Path::to_path_buf)
}

/// A line that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

impl std::fmt::Display for SkippedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The issues of a data file, with the lines that could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedIssues {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    /// Issues in file order; for a duplicate id the last line wins (at the first one's place).
    pub issues: Vec<Issue>,
    /// Lines skipped, with their reasons.
    pub skipped: Vec<SkippedLine>,
}

impl LoadedIssues {
    /// The dependency graph (§4.1).
    pub fn graph(&self) -> BeadGraph<'_> {
        BeadGraph::new(&self.issues)
    }

    /// The native ready set (br's rule), sorted by id.
    pub fn ready_ids(&self, now: Timestamp) -> Vec<String> {
        triage_engine::ready_ids(&self.issues, now)
    }

    /// The ready issues, sorted by id.
    pub fn ready(&self, now: Timestamp) -> Vec<Issue> {
        let ids: std::collections::HashSet<String> = self.ready_ids(now).into_iter().collect();
        let mut out: Vec<Issue> = self
            .issues
            .iter()
            .filter(|i| ids.contains(&i.id))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The counts of §4.5.
    pub fn counts(&self, now: Timestamp) -> HealthCounts {
        triage_engine::health_counts(&self.issues, now)
    }

    /// The digest's work figures, ranked by the native triage: pending, in progress, blocked,
    /// completed today and the best `top` ready ids.
    pub fn digest(&self, now: Timestamp, top: usize) -> WorkDigestSummary {
        let ranked: Vec<String> = triage_engine::triage(&self.issues, now)
            .ranked
            .into_iter()
            .map(|r| r.id)
            .collect();
        work_digest(&self.issues, &ranked, &self.ready_ids(now), now, top)
    }
}

/// One line's outcome: an issue, a skip, or nothing (blank).
enum Line {
    Issue(Box<Issue>),
    Skip(SkippedLine),
    Blank,
}

fn parse_line(n: usize, raw: &[u8]) -> Line {
    let line_no = n + 1;
    let mut raw = raw;
    if n == 0 && raw.starts_with(&[0xEF, 0xBB, 0xBF]) {
        raw = &raw[3..];
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    let skip = |reason: String| {
        Line::Skip(SkippedLine {
            line: line_no,
            reason,
        })
    };
    let max = gaffer_core::limits::MAX_JSONL_LINE_BYTES;
    if raw.len() > max {
        return skip(format!(
            "line of {} bytes, longer than the {} MiB limit",
            raw.len(),
            max >> 20
        ));
    }
    let result = match std::str::from_utf8(raw) {
        Ok(text) => serde_json::from_str::<Issue>(text),
        Err(_) => return skip("not valid UTF-8".to_string()),
    };
    match result {
        Ok(issue) if issue.id.trim().is_empty() => skip("empty id".to_string()),
        Ok(issue) => Line::Issue(Box::new(issue)),
        Err(e) => skip(format!("invalid issue JSON: {e}")),
    }
}

/// Parses JSONL bytes. Blank lines are ignored; a line that is not UTF-8, not JSON, not an
/// object, or lacks a non-empty `id` is skipped and reported; every other line loads.
pub fn parse_issues(bytes: &[u8]) -> LoadedIssues {
    // One UTF-8 check for the whole file lets every line be parsed as `str` (serde_json's
    // fastest path); a file with a bad byte is checked line by line instead. One thread is
    // faster than several here: allocations in per-thread arenas cost more than they save.
    let parsed: Vec<Line> = match std::str::from_utf8(bytes) {
        Ok(text) => text
            .split('\n')
            .enumerate()
            .map(|(k, line)| parse_line(k, line.as_bytes()))
            .collect(),
        Err(_) => bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(k, raw)| parse_line(k, raw))
            .collect(),
    };
    let mut issues: Vec<Issue> = Vec::with_capacity(parsed.len());
    let mut skipped = Vec::new();
    for line in parsed {
        match line {
            Line::Blank => {}
            Line::Skip(s) => skipped.push(s),
            Line::Issue(issue) => issues.push(*issue),
        }
    }
    // A duplicate id: the last line wins, at the place of the first.
    let mut first_at: HashMap<&str, usize> = HashMap::with_capacity(issues.len());
    let mut replace: Vec<(usize, usize)> = Vec::new();
    for (k, issue) in issues.iter().enumerate() {
        if let Some(&at) = first_at.get(issue.id.as_str()) {
            replace.push((at, k));
        } else {
            first_at.insert(issue.id.as_str(), k);
        }
    }
    drop(first_at);
    if !replace.is_empty() {
        let mut slots: Vec<Option<Issue>> = issues.into_iter().map(Some).collect();
        for (at, k) in replace {
            slots[at] = slots[k].take();
        }
        issues = slots.into_iter().flatten().collect();
    }
    LoadedIssues {
        path: None,
        issues,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_file_is_read_once_and_a_changed_one_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(".beads")).expect("mkdir");
        let file = dir.path().join(".beads/issues.jsonl");
        std::fs::write(&file, "{\"id\":\"a-1\",\"title\":\"one\"}\n").expect("write");
        let p = BeadsProject::at(dir.path().to_path_buf());
        let first = p.load().expect("load");
        assert_eq!(first.issues.len(), 1);
        // A clone shares the reading: the file is not parsed again (its content is replaced by
        // garbage of the same size with the same times, which a fresh parse would skip).
        let meta = std::fs::metadata(&file).expect("meta");
        let same_size = "x".repeat(meta.len() as usize - 1) + "\n";
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("open");
        std::io::Write::write_all(&mut &f, same_size.as_bytes()).expect("overwrite");
        f.set_modified(meta.modified().expect("mtime"))
            .expect("set mtime");
        drop(f);
        assert_eq!(p.clone().load().expect("cached").issues, first.issues);
        // A change of size (or time) is read.
        let mut text = std::fs::read_to_string(&file).expect("read");
        text.push_str("{\"id\":\"a-2\",\"title\":\"two\"}\n");
        std::fs::write(&file, text).expect("append");
        let again = p.load().expect("load");
        let ids: Vec<&str> = again.issues.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a-2"]);
        assert_eq!(again.skipped.len(), 1);
    }

    #[test]
    fn bad_lines_are_skipped_with_line_and_reason() {
        let text = b"{\"id\":\"a-1\",\"title\":\"one\"}\n\nnot json\n{\"title\":\"no id\"}\n{\"id\":\"\",\"title\":\"x\"}\n[1,2]\n{\"id\":\"a-2\",\"title\":\"two\",\"priority\":\"high\"}\n{\"id\":\"a-3\",\"title\":\"three\"}\n";
        let l = parse_issues(text);
        let ids: Vec<&str> = l.issues.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a-1", "a-3"]);
        let lines: Vec<usize> = l.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7]);
        assert!(
            l.skipped[0].reason.contains("invalid issue JSON"),
            "{:?}",
            l.skipped
        );
        assert!(l.skipped[1].reason.contains("id"), "{:?}", l.skipped[1]);
        assert_eq!(l.skipped[2].reason, "empty id");
        assert!(
            l.skipped[4].reason.contains("invalid type"),
            "{:?}",
            l.skipped[4]
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_and_reported() {
        let big = format!(
            "{{\"id\":\"a-big\",\"title\":\"{}\"}}",
            "x".repeat(gaffer_core::limits::MAX_JSONL_LINE_BYTES)
        );
        let text = format!(
            "{{\"id\":\"a-1\",\"title\":\"one\"}}\n{big}\n{{\"id\":\"a-2\",\"title\":\"two\"}}\n"
        );
        let l = parse_issues(text.as_bytes());
        let ids: Vec<&str> = l.issues.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a-1", "a-2"]);
        assert_eq!(l.skipped.len(), 1);
        assert_eq!(l.skipped[0].line, 2);
        assert!(
            l.skipped[0].reason.contains("1 MiB limit"),
            "{:?}",
            l.skipped[0]
        );
    }

    #[test]
    fn a_data_file_over_the_limit_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(".beads")).expect("mkdir");
        let f = std::fs::File::create(dir.path().join(".beads/issues.jsonl")).expect("create");
        // a sparse file: no disk used
        f.set_len(gaffer_core::limits::MAX_ISSUES_FILE_BYTES + 1)
            .expect("set_len");
        let p = BeadsProject::at(dir.path().to_path_buf());
        let e = p.load().expect_err("too large");
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("256 MiB"), "{e}");
    }

    #[test]
    fn non_utf8_and_bom_and_crlf_are_handled() {
        let mut text = vec![0xEF, 0xBB, 0xBF];
        text.extend_from_slice(b"{\"id\":\"a-1\",\"title\":\"one\"}\r\n");
        text.extend_from_slice(&[b'{', 0xff, 0xfe, b'}', b'\n']);
        text.extend_from_slice(b"{\"id\":\"a-2\",\"title\":\"two\"}");
        let l = parse_issues(&text);
        assert_eq!(l.issues.len(), 2);
        assert_eq!(l.skipped.len(), 1);
        assert_eq!(l.skipped[0].line, 2);
        assert_eq!(l.skipped[0].reason, "not valid UTF-8");
    }

    #[test]
    fn duplicate_ids_last_line_wins() {
        let text = b"{\"id\":\"a-1\",\"title\":\"old\"}\n{\"id\":\"a-2\",\"title\":\"b\"}\n{\"id\":\"a-1\",\"title\":\"new\"}\n";
        let l = parse_issues(text);
        assert_eq!(l.issues.len(), 2);
        assert_eq!(l.issues[0].title, "new");
    }

    #[test]
    fn root_is_found_in_an_ancestor() {
        let dir = std::env::temp_dir().join(format!("gaffer-beads-root-{}", std::process::id()));
        let deep = dir.join("a/b/c");
        std::fs::create_dir_all(&deep).expect("mkdir");
        std::fs::create_dir_all(dir.join(".beads")).expect("mkdir");
        let p = BeadsProject::discover(&deep).expect("found");
        assert_eq!(p.root, dir);
        let loaded = p.load().expect("empty project loads");
        assert!(loaded.issues.is_empty());
        std::fs::remove_dir_all(&dir).ok();
        assert!(matches!(
            BeadsProject::discover(Path::new("/")),
            Err(ReadError::NoProject(_))
        ));
    }
}
