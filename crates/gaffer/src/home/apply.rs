//! Applying a host's report in the coordinator's project, once per message id, through the
//! same code as the local command (`gaffer done`, `refuse`, `quality record-tests`, `hook`).

use crate::adapters;
use crate::cli::GlobalArgs;
use crate::commands::{hook, quality, report};
use gaffer_coordinator::ledger::HomeReportRow;
use gaffer_coordinator::session::EventSink;
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::home::{Ack, HomeMessage, Report};
use std::sync::Mutex;

/// Applies messages from every host (one at a time: the dedupe check and the record it guards
/// must not interleave).
pub struct Applier {
    global: GlobalArgs,
    sink: Option<EventSink>,
    one_at_a_time: Mutex<()>,
}

impl Applier {
    /// Applies into the project of `global`; `report_received` goes to `sink` (the running
    /// coordinator's events) or, without one, straight into the ledger.
    pub fn new(global: &GlobalArgs, sink: Option<EventSink>) -> Self {
        Applier {
            global: global.clone(),
            sink,
            one_at_a_time: Mutex::new(()),
        }
    }

    /// The coordinator's project directory.
    pub fn project_dir(&self) -> std::path::PathBuf {
        crate::config_load::project_root(&self.global)
    }

    /// Applies `msg`, which arrived from `host` over `via` (`socket` or `spool`), unless its id
    /// was applied before; the answer for the sender.
    pub fn apply(&self, host: &str, via: &str, mut msg: HomeMessage) -> Ack {
        let _one = self.one_at_a_time.lock().unwrap_or_else(|p| p.into_inner());
        let ack = |ok: bool, retry: bool, note: String| Ack {
            id: msg.id.clone(),
            ok,
            retry,
            note,
        };
        let mut ledger = match adapters::ledger(&self.global) {
            Ok(l) => l,
            Err(e) => return ack(false, true, format!("the coordinator's ledger: {e}")),
        };
        match ledger.home_report(&msg.id) {
            Ok(Some(outcome)) => return ack(true, false, format!("already applied: {outcome}")),
            Ok(None) => {}
            Err(e) => return ack(false, true, format!("the coordinator's ledger: {e}")),
        }
        msg.report.qualify(host);
        let kind = msg.report.kind();
        let (pane, outcome) = self.apply_report(&msg.report);
        let text = match &outcome {
            Ok(t) => t.clone(),
            Err(e) => format!("error: {e}"),
        };
        let row = HomeReportRow {
            id: msg.id.clone(),
            host: host.to_string(),
            kind: kind.to_string(),
            via: via.to_string(),
            outcome: text.clone(),
        };
        if let Err(e) = ledger.record_home_report(&row, chrono::Utc::now()) {
            // Applied but not recorded: a second copy would find the work done already
            // (done, refuse), or count twice (a test run, a signal); say so.
            tracing::warn!(id = %msg.id, error = %e, "recording a host report");
        }
        let event = CoordinatorEvent::new(CoordinatorEventType::ReportReceived, chrono::Utc::now())
            .with_agent(pane)
            .with_detail("host", host)
            .with_detail("kind", kind)
            .with_detail("via", via)
            .with_detail("id", msg.id.as_str())
            .with_detail("outcome", text.as_str());
        match &self.sink {
            Some(s) => s.report(&event),
            None => {
                if let Err(e) = ledger.record_event(&event) {
                    tracing::warn!(error = %e, "recording report_received");
                }
            }
        }
        // The observation lane wakes at once (a signal, a finished assignment).
        gaffer_coordinator::wake::notify(&adapters::signal_socket(&self.global));
        match outcome {
            Ok(t) => ack(true, false, t),
            Err(e) => ack(false, false, e),
        }
    }

    /// The pane the report is about (may be empty) and what applying it did.
    fn apply_report(&self, r: &Report) -> (String, Result<String, String>) {
        let g = &self.global;
        match r {
            Report::Done { bead_id, reason } => match report::apply_done(g, bead_id, reason) {
                Ok(rec) => {
                    let pane = rec.assignment.agent_pane_id;
                    let text = format!("{bead_id}: done (was assigned to {pane})");
                    (pane, Ok(text))
                }
                Err(e) => (String::new(), Err(e.to_string())),
            },
            Report::Refuse { bead_id, reason } => match report::apply_refuse(g, bead_id, reason) {
                Ok(rec) => {
                    let pane = rec.assignment.agent_pane_id;
                    let text = format!("{bead_id}: refused (was assigned to {pane})");
                    (pane, Ok(text))
                }
                Err(e) => (String::new(), Err(e.to_string())),
            },
            Report::TestRun { run } => (
                run.agent_pane_id.clone(),
                quality::apply_test_run(g, run)
                    .map(|_| {
                        format!(
                            "recorded {} passed, {} failed, {} skipped",
                            run.passed, run.failed, run.skipped
                        )
                    })
                    .map_err(|e| e.to_string()),
            ),
            Report::Signal { signal } => {
                let dir = crate::config_load::project_root(g).join(".gaffer");
                (
                    signal.pane_id.clone(),
                    hook::store_signal(&dir, signal).map(|seq| {
                        format!(
                            "recorded {} {} from {} as #{seq}",
                            signal.agent,
                            signal.event.as_str(),
                            signal.pane_id
                        )
                    }),
                )
            }
        }
    }
}
