//! The `br` (beads_rust) work source: claims, closes and the ready set through the real CLI
//! (spec/beads.md §3.6, §6). gaffer never writes `beads.db` itself.

use crate::bv::BvSource;
use crate::native::NativeSource;
use crate::process;
use crate::reader::BeadsProject;
use gaffer_core::beads::Issue;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageResponse;
use gaffer_core::work_source::{ClaimOutcome, CloseOutcome, Holding, WorkSource, WorkSourceError};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// br's exit codes.
pub mod exit {
    /// Internal error.
    pub const INTERNAL: i32 = 1;
    /// Database error.
    pub const DATABASE: i32 = 2;
    /// Issue not found or ambiguous.
    pub const ISSUE: i32 = 3;
    /// Validation failed (e.g. a lost claim).
    pub const VALIDATION: i32 = 4;
    /// Dependency error (a cycle).
    pub const DEPENDENCY: i32 = 5;
    /// Sync/JSONL error or an `--if-unchanged` conflict.
    pub const SYNC: i32 = 6;
    /// Config error.
    pub const CONFIG: i32 = 7;
    /// I/O error.
    pub const IO: i32 = 8;
}

/// Per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts when br reports a locked or busy database.
const ATTEMPTS: usize = 6;

/// br's JSON error envelope, `{"error":{code,message,hint,retryable,context}}` on stdout.
#[derive(Debug, Clone, PartialEq)]
pub struct BrError {
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Machine code, e.g. `VALIDATION_FAILED`.
    pub code: String,
    /// Message.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
}

/// Ready set, claims and closes through `br`; triage from `bv` when it is on PATH, else native.
#[derive(Debug, Clone)]
pub struct BrSource {
    /// The project.
    pub project: BeadsProject,
    /// The br executable.
    pub program: PathBuf,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Where the triage comes from.
    pub bv: Option<BvSource>,
    /// The last call's failure, if it failed; whether br's JSONL was last found unreadable.
    health: std::sync::Arc<std::sync::Mutex<BrHealth>>,
}

#[derive(Debug, Default)]
struct BrHealth {
    failing: Option<String>,
    jsonl_unreadable: bool,
}

enum Reply {
    Ok(Value),
    Err(BrError),
}

impl BrSource {
    /// A br source when `br` is on PATH (triage from bv when it is on PATH too).
    pub fn detect(project: BeadsProject) -> Option<Self> {
        let program = process::which("br")?;
        let bv = BvSource::detect(project.clone());
        Some(BrSource {
            project,
            program,
            timeout: DEFAULT_TIMEOUT,
            bv,
            health: Default::default(),
        })
    }

    /// A br source running `program`, with native triage.
    pub fn with_program(project: BeadsProject, program: PathBuf) -> Self {
        BrSource {
            project,
            program,
            timeout: DEFAULT_TIMEOUT,
            bv: None,
            health: Default::default(),
        }
    }

    /// Runs `br args…` (see [`call_once`](Self::call_once)) and keeps the tool's health. When
    /// br refuses to run because its JSONL file has an unreadable line (it imports the file
    /// before each command), the call is made again on br's database alone
    /// (`--no-auto-import`): the file's other issues are all in the database, and gaffer
    /// reports the bad lines itself (`beads_malformed`).
    fn call(&self, args: &[&str]) -> Result<Reply, WorkSourceError> {
        let mut reply = self.call_once(args);
        if let Ok(Reply::Err(e)) = &reply {
            if jsonl_unreadable(e) {
                let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
                if !h.jsonl_unreadable {
                    tracing::warn!(error = %e.message, "br cannot import its JSONL file; using its database alone until the file is fixed");
                }
                h.jsonl_unreadable = true;
                drop(h);
                let mut again = vec!["--no-auto-import"];
                again.extend_from_slice(args);
                reply = self.call_once(&again);
            }
        } else if let Ok(Reply::Ok(_)) = &reply {
            self.health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .jsonl_unreadable = false;
        }
        let failure = match &reply {
            Err(e) => Some(e.to_string()),
            Ok(Reply::Err(e)) if tool_failure(e) => Some(format!(
                "br failed (exit {}): {}",
                e.exit_code.map_or("none".to_string(), |c| c.to_string()),
                e.message
            )),
            Ok(_) => None,
        };
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failing = failure;
        reply
    }

    /// Runs `br args…` and reads its JSON reply or error envelope.
    fn call_once(&self, args: &[&str]) -> Result<Reply, WorkSourceError> {
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis((50u64 << attempt).min(800)));
            }
            let out = process::run_tool(
                "br",
                &self.program,
                args,
                &self.project.root,
                &[
                    ("NO_COLOR", "1".to_string()),
                    ("RUST_LOG", "error".to_string()),
                ],
                self.timeout,
            )?;
            let docs = process::json_documents(&out.stdout);
            if let Some(err) = docs
                .iter()
                .find_map(|d| d.get("error").filter(|e| e.is_object()))
            {
                let e = BrError {
                    exit_code: out.code,
                    code: err
                        .get("code")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    message: err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    retryable: err
                        .get("retryable")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                };
                if is_locked(&e.message) {
                    last = Some(Reply::Err(e));
                    continue;
                }
                return Ok(Reply::Err(e));
            }
            if out.code == Some(0) {
                return match docs.into_iter().next() {
                    Some(v) => Ok(Reply::Ok(v)),
                    None => Err(WorkSourceError::Parse {
                        tool: "br".into(),
                        message: process::lenient_json(&out.stdout)
                            .err()
                            .unwrap_or_else(|| "no JSON output".into()),
                    }),
                };
            }
            let message = if out.stderr.trim().is_empty() {
                out.stdout.trim().to_string()
            } else {
                out.stderr.trim().to_string()
            };
            let e = BrError {
                exit_code: out.code,
                code: String::new(),
                message: message.chars().take(1000).collect(),
                retryable: false,
            };
            if is_locked(&e.message) {
                last = Some(Reply::Err(e));
                continue;
            }
            return Ok(Reply::Err(e));
        }
        Ok(last.unwrap_or(Reply::Err(BrError {
            exit_code: None,
            code: String::new(),
            message: "no attempt ran".into(),
            retryable: false,
        })))
    }
}

/// br refused to run because its JSONL file has a line it cannot read.
fn jsonl_unreadable(e: &BrError) -> bool {
    e.code == "CONFIG_ERROR" && e.message.contains("Invalid JSON")
}

/// The tool itself failed (crashed, refused to run, unknown error), as opposed to an answer
/// about the issue (not found, already assigned, not claimable).
fn tool_failure(e: &BrError) -> bool {
    if not_found(e) || e.message.contains("already assigned") {
        return false;
    }
    if e.exit_code == Some(exit::VALIDATION) {
        return false;
    }
    e.code.is_empty() || e.code.ends_with("_ERROR")
}

fn is_locked(msg: &str) -> bool {
    let m = msg.to_lowercase();
    m.contains("database is locked") || m.contains("database is busy")
}

fn failed(e: BrError) -> WorkSourceError {
    WorkSourceError::Failed {
        tool: "br".into(),
        exit_code: e.exit_code,
        code: e.code,
        message: e.message,
        retryable: e.retryable,
    }
}

fn not_found(e: &BrError) -> bool {
    e.code.contains("NOT_FOUND") || (e.code.is_empty() && e.exit_code == Some(exit::ISSUE))
}

/// A list reply: a raw array, or an envelope with `issues`, `beads` or `items`.
pub fn list_of(v: Value) -> Result<Vec<Value>, WorkSourceError> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Object(mut o) => {
            for key in ["issues", "beads", "items"] {
                if let Some(Value::Array(a)) = o.remove(key) {
                    return Ok(a);
                }
            }
            if o.is_empty() {
                Ok(Vec::new())
            } else {
                Err(WorkSourceError::Parse {
                    tool: "br".into(),
                    message: "expected a list of issues".into(),
                })
            }
        }
        Value::Null => Ok(Vec::new()),
        _ => Err(WorkSourceError::Parse {
            tool: "br".into(),
            message: "expected a list of issues".into(),
        }),
    }
}

/// The holder named in a lost-claim message (`… already assigned to agent-1`).
pub fn holder_from(message: &str) -> Option<String> {
    let at = message.find("already assigned to ")? + "already assigned to ".len();
    let who: String = message[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != ',' && *c != ';')
        .collect();
    let who = who.trim_end_matches('.').to_string();
    (!who.is_empty()).then_some(who)
}

/// Who holds an issue with `status` and `assignee` (br's `show`).
fn holding_of(status: &str, assignee: &str) -> Holding {
    match (status, assignee) {
        ("open", "") => Holding::Free,
        ("closed" | "tombstone", _) => Holding::Other(status.to_string()),
        (_, "") => Holding::Other(status.to_string()),
        (_, who) => Holding::HeldBy(who.to_string()),
    }
}

impl WorkSource for BrSource {
    fn name(&self) -> &'static str {
        "br"
    }

    fn triage(&self, now: Timestamp) -> Result<TriageResponse, WorkSourceError> {
        match &self.bv {
            Some(bv) => bv.triage(now),
            None => NativeSource::new(self.project.clone()).triage(now),
        }
    }

    fn health(&self) -> Result<(), String> {
        let failing = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failing
            .clone();
        if failing.is_none() {
            return Ok(());
        }
        // Failed last time: look again, cheaply.
        let _ = self.call(&["ready", "--json", "--limit", "1"]);
        match self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failing
            .clone()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn ready(&self, _now: Timestamp) -> Result<Vec<Issue>, WorkSourceError> {
        match self.call(&["ready", "--json", "--limit", "0"])? {
            Reply::Ok(v) => list_of(v)?
                .into_iter()
                .map(|item| {
                    serde_json::from_value(item).map_err(|e| WorkSourceError::Parse {
                        tool: "br".into(),
                        message: format!("ready item: {e}"),
                    })
                })
                .collect(),
            Reply::Err(e) => Err(failed(e)),
        }
    }

    fn claim(&self, id: &str, actor: &str) -> Result<ClaimOutcome, WorkSourceError> {
        let reply = self.call(&["update", id, "--claim", "--actor", actor, "--json"])?;
        if let Some(bv) = &self.bv {
            bv.invalidate();
        }
        match reply {
            Reply::Ok(v) => {
                let first = list_of(v)?.into_iter().next();
                let assignee = first
                    .as_ref()
                    .and_then(|f| f.get("assignee"))
                    .and_then(Value::as_str)
                    .unwrap_or(actor)
                    .to_string();
                Ok(ClaimOutcome::Claimed {
                    id: id.to_string(),
                    assignee,
                })
            }
            Reply::Err(e) if e.message.contains("already assigned") => {
                Ok(ClaimOutcome::AlreadyClaimed {
                    id: id.to_string(),
                    holder: holder_from(&e.message),
                    message: e.message,
                })
            }
            Reply::Err(e) if not_found(&e) => Err(WorkSourceError::NotFound {
                id: id.to_string(),
                message: e.message,
            }),
            Reply::Err(e) if e.exit_code == Some(exit::VALIDATION) => {
                Ok(ClaimOutcome::NotClaimable {
                    id: id.to_string(),
                    reason: e.message,
                })
            }
            Reply::Err(e) => Err(failed(e)),
        }
    }

    fn unclaim(&self, id: &str, actor: &str) -> Result<bool, WorkSourceError> {
        let reply = self.call(&[
            "update",
            id,
            "--status",
            "open",
            "--assignee",
            "",
            "--actor",
            actor,
            "--json",
        ])?;
        if let Some(bv) = &self.bv {
            bv.invalidate();
        }
        match reply {
            Reply::Ok(_) => Ok(true),
            Reply::Err(e) if not_found(&e) => Err(WorkSourceError::NotFound {
                id: id.to_string(),
                message: e.message,
            }),
            Reply::Err(e) => Err(failed(e)),
        }
    }

    fn holding(&self, id: &str) -> Result<Holding, WorkSourceError> {
        match self.call(&["show", id, "--json"])? {
            Reply::Ok(v) => {
                let first = list_of(v)?.into_iter().next();
                let field = |k: &str| {
                    first
                        .as_ref()
                        .and_then(|f| f.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                Ok(holding_of(&field("status"), &field("assignee")))
            }
            Reply::Err(e) if not_found(&e) => Err(WorkSourceError::NotFound {
                id: id.to_string(),
                message: e.message,
            }),
            Reply::Err(e) => Err(failed(e)),
        }
    }

    fn close(&self, id: &str, reason: &str) -> Result<CloseOutcome, WorkSourceError> {
        let reply = self.call(&["close", id, "--reason", reason, "--suggest-next", "--json"])?;
        if let Some(bv) = &self.bv {
            bv.invalidate();
        }
        match reply {
            Reply::Ok(v) => {
                let ids = |key: &str| -> Vec<String> {
                    v.get(key)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.get("id").and_then(Value::as_str))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let closed = ids("closed");
                if !closed.iter().any(|c| c == id) {
                    let reason = v
                        .get("skipped")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(|s| s.get("reason"))
                        .and_then(Value::as_str)
                        .unwrap_or("br did not close it")
                        .to_string();
                    return Ok(CloseOutcome::NotClosable {
                        id: id.to_string(),
                        reason,
                    });
                }
                Ok(CloseOutcome::Closed {
                    id: id.to_string(),
                    unblocked: ids("unblocked"),
                })
            }
            Reply::Err(e) if e.code == "NOTHING_TO_DO" => Ok(CloseOutcome::NotClosable {
                id: id.to_string(),
                reason: e.message,
            }),
            Reply::Err(e) if not_found(&e) => Err(WorkSourceError::NotFound {
                id: id.to_string(),
                message: e.message,
            }),
            Reply::Err(e) if e.exit_code == Some(exit::VALIDATION) => {
                Ok(CloseOutcome::NotClosable {
                    id: id.to_string(),
                    reason: e.message,
                })
            }
            Reply::Err(e) => Err(failed(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_is_read_from_the_lost_claim_message() {
        assert_eq!(
            holder_from("Validation failed: claim: issue demo-qtf already assigned to agent-1"),
            Some("agent-1".to_string())
        );
        assert_eq!(holder_from("something else"), None);
    }

    #[test]
    fn lists_are_read_from_arrays_and_envelopes() {
        let a = list_of(serde_json::json!([{"id": "x"}])).expect("array");
        assert_eq!(a.len(), 1);
        let e = list_of(serde_json::json!({"issues": [{"id": "x"}, {"id": "y"}], "total": 2}))
            .expect("envelope");
        assert_eq!(e.len(), 2);
        assert!(list_of(serde_json::json!({})).expect("empty").is_empty());
        assert!(list_of(serde_json::json!("nope")).is_err());
    }
}
