//! The `bv` work source: `bv --robot-triage` when bv is on PATH (spec/beads.md §1.1).

use crate::native::NativeSource;
use crate::process;
use crate::reader::BeadsProject;
use gaffer_core::beads::Issue;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageResponse;
use gaffer_core::work_source::{ClaimOutcome, CloseOutcome, WorkSource, WorkSourceError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// bv's default timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a triage is reused per directory.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Attempts when bv reports a locked or busy database.
const ATTEMPTS: usize = 3;

type Cache = Arc<Mutex<HashMap<PathBuf, (Instant, TriageResponse)>>>;

fn global_cache() -> Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default).clone()
}

/// Runs `bv --robot-triage` in the project root, with a timeout and a 30 s per-directory
/// cache shared by every `BvSource` of the process. Ready work is read natively; claims and
/// closes are read-only (bv never writes).
#[derive(Debug, Clone)]
pub struct BvSource {
    /// The project.
    pub project: BeadsProject,
    /// The bv executable.
    pub program: PathBuf,
    /// Kill bv after this long.
    pub timeout: Duration,
    /// Reuse a triage for this long.
    pub cache_ttl: Duration,
    cache: Cache,
}

impl BvSource {
    /// A bv source when `bv` is on PATH.
    pub fn detect(project: BeadsProject) -> Option<Self> {
        process::which("bv").map(|p| Self::with_program(project, p))
    }

    /// A bv source running `program`, with its own cache (tests, explicit paths).
    pub fn with_program(project: BeadsProject, program: PathBuf) -> Self {
        BvSource {
            project,
            program,
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: CACHE_TTL,
            cache: global_cache(),
        }
    }

    /// Uses a private cache instead of the process-wide one.
    pub fn with_private_cache(mut self) -> Self {
        self.cache = Cache::default();
        self
    }

    /// Forgets the cached triage of this project (after a change to the beads).
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&self.project.root);
        }
    }

    fn run_bv(&self) -> Result<TriageResponse, WorkSourceError> {
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(50 << attempt));
            }
            let out = process::run_tool(
                "bv",
                &self.program,
                &["--robot-triage"],
                &self.project.root,
                &[],
                self.timeout,
            )?;
            let all = format!("{}\n{}", out.stdout, out.stderr).to_lowercase();
            if out.code != Some(0) {
                let err = WorkSourceError::Failed {
                    tool: "bv".into(),
                    exit_code: out.code,
                    code: String::new(),
                    message: first_line(&out.stderr, &out.stdout),
                    retryable: all.contains("database is locked")
                        || all.contains("database is busy"),
                };
                let retry = matches!(
                    &err,
                    WorkSourceError::Failed {
                        retryable: true,
                        ..
                    }
                );
                last = Some(err);
                if retry {
                    continue;
                }
                break;
            }
            return parse_triage(&out.stdout);
        }
        Err(last.unwrap_or(WorkSourceError::Failed {
            tool: "bv".into(),
            exit_code: None,
            code: String::new(),
            message: "no attempt ran".into(),
            retryable: false,
        }))
    }
}

fn first_line(a: &str, b: &str) -> String {
    let pick = if a.trim().is_empty() { b } else { a };
    pick.trim()
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(500)
        .collect()
}

/// Reads bv's triage leniently: unknown fields are kept, `null` lists read as empty, noise
/// before the JSON is skipped, and a missing `generated_at` falls back to `triage.meta`'s.
pub fn parse_triage(stdout: &str) -> Result<TriageResponse, WorkSourceError> {
    let parse_err = |message: String| WorkSourceError::Parse {
        tool: "bv".into(),
        message,
    };
    let mut v = process::lenient_json(stdout).map_err(parse_err)?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| parse_err("top level is not an object".into()))?;
    if !obj.contains_key("triage") {
        return Err(parse_err("no `triage` object (was --brief used?)".into()));
    }
    if !obj.contains_key("generated_at") {
        let meta_time = obj
            .get("triage")
            .and_then(|t| t.get("meta"))
            .and_then(|m| m.get("generated_at"))
            .cloned();
        match meta_time {
            Some(t) => {
                obj.insert("generated_at".into(), t);
            }
            None => return Err(parse_err("no generated_at".into())),
        }
    }
    serde_json::from_value(v).map_err(|e| parse_err(e.to_string()))
}

impl WorkSource for BvSource {
    fn name(&self) -> &'static str {
        "bv"
    }

    fn triage(&self, _now: Timestamp) -> Result<TriageResponse, WorkSourceError> {
        let key = self.project.root.clone();
        if let Ok(c) = self.cache.lock()
            && let Some((at, resp)) = c.get(&key)
            && at.elapsed() < self.cache_ttl
        {
            return Ok(resp.clone());
        }
        let resp = self.run_bv()?;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, (Instant::now(), resp.clone()));
        }
        Ok(resp)
    }

    fn ready(&self, now: Timestamp) -> Result<Vec<Issue>, WorkSourceError> {
        NativeSource::new(self.project.clone()).ready(now)
    }

    fn claim(&self, _id: &str, _actor: &str) -> Result<ClaimOutcome, WorkSourceError> {
        Ok(ClaimOutcome::ReadOnly)
    }

    fn close(&self, _id: &str, _reason: &str) -> Result<CloseOutcome, WorkSourceError> {
        Ok(CloseOutcome::ReadOnly)
    }
}
