//! The native work source: triage and readiness computed from the JSONL; read-only.

use crate::reader::{BeadsProject, ReadError};
use gaffer_core::beads::Issue;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageResponse;
use gaffer_core::triage_engine::{self, TriageOptions};
use gaffer_core::work_source::{ClaimOutcome, CloseOutcome, WorkSource, WorkSourceError};

/// Reads `.beads/issues.jsonl` and ranks it with the native triage. Claims and closes are
/// [`ClaimOutcome::ReadOnly`]: without `br`, claims live in gaffer's own ledger.
#[derive(Debug, Clone)]
pub struct NativeSource {
    /// The project.
    pub project: BeadsProject,
    /// Triage tunables.
    pub options: TriageOptions,
}

impl NativeSource {
    /// A native source for `project`.
    pub fn new(project: BeadsProject) -> Self {
        NativeSource {
            project,
            options: TriageOptions::default(),
        }
    }

    pub(crate) fn load(&self) -> Result<crate::reader::LoadedIssues, WorkSourceError> {
        let loaded = self.project.load().map_err(read_error)?;
        // The coordinator reports new bad lines once (`beads_malformed`); here, only a trace.
        for s in &loaded.skipped {
            tracing::debug!(
                file = %loaded.path.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                line = s.line,
                reason = %s.reason,
                "skipped a bad line in the beads file"
            );
        }
        Ok(loaded)
    }
}

pub(crate) fn read_error(e: ReadError) -> WorkSourceError {
    match e {
        ReadError::NoProject(p) => WorkSourceError::Unavailable {
            tool: "beads".into(),
            message: format!("no .beads/ in {} or a parent", p.display()),
        },
        ReadError::Io { path, source } => WorkSourceError::Io {
            path: path.display().to_string(),
            message: source.to_string(),
        },
    }
}

impl WorkSource for NativeSource {
    fn name(&self) -> &'static str {
        "native"
    }

    fn triage(&self, now: Timestamp) -> Result<TriageResponse, WorkSourceError> {
        let loaded = self.load()?;
        Ok(triage_engine::triage_with(&loaded.issues, now, &self.options).response)
    }

    fn ready(&self, now: Timestamp) -> Result<Vec<Issue>, WorkSourceError> {
        Ok(self.load()?.ready(now))
    }

    fn claim(&self, _id: &str, _actor: &str) -> Result<ClaimOutcome, WorkSourceError> {
        Ok(ClaimOutcome::ReadOnly)
    }

    fn close(&self, _id: &str, _reason: &str) -> Result<CloseOutcome, WorkSourceError> {
        Ok(CloseOutcome::ReadOnly)
    }
}
