//! The ledger: assignments and events in `.gaffer/state.db` (SQLite, WAL).
//!
//! Every assignment is written before it is acted on and updated after each step, so a crash
//! can neither run it twice nor lose it. A unique index makes every bead go to at most one
//! agent at a time, across restarts: a bead with an offered, delivered, working or done entry
//! cannot be offered again.

use gaffer_core::assign::{BackoffBook, BackoffEntry, BackoffReason};
use gaffer_core::cycle::{Compaction, RestartHistory};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::quality::{ScanMetrics, TestRunMetrics};
use gaffer_core::quality_monitor::QualityMonitor;
use gaffer_core::time::{Timestamp, format_rfc3339, parse_rfc3339};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why the ledger failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// SQLite failed.
    #[error("ledger database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored row could not be read back.
    #[error("ledger row {0}: {1}")]
    Corrupt(i64, String),
    /// A transition that the state machine does not allow.
    #[error("assignment {id}: cannot go from {from} to {to}")]
    BadTransition {
        /// Row id.
        id: i64,
        /// Current state.
        from: AssignmentState,
        /// Wanted state.
        to: AssignmentState,
    },
    /// No such assignment.
    #[error("no assignment {0}")]
    NotFound(i64),
}

/// The life of an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentState {
    /// Written, being carried out (claim, reserve, deliver).
    Offered,
    /// The prompt reached the agent (it left WAITING).
    Delivered,
    /// The agent is seen working on it.
    Working,
    /// The bead was closed.
    Done,
    /// A step failed, or the agent stalled; undone.
    Failed,
    /// The agent declined it.
    Refused,
}

impl AssignmentState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentState::Offered => "offered",
            AssignmentState::Delivered => "delivered",
            AssignmentState::Working => "working",
            AssignmentState::Done => "done",
            AssignmentState::Failed => "failed",
            AssignmentState::Refused => "refused",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<AssignmentState> {
        Some(match s {
            "offered" => AssignmentState::Offered,
            "delivered" => AssignmentState::Delivered,
            "working" => AssignmentState::Working,
            "done" => AssignmentState::Done,
            "failed" => AssignmentState::Failed,
            "refused" => AssignmentState::Refused,
            _ => return None,
        })
    }

    /// Offered, delivered or working.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AssignmentState::Offered | AssignmentState::Delivered | AssignmentState::Working
        )
    }

    /// Whether `self → to` is allowed.
    pub fn can_become(self, to: AssignmentState) -> bool {
        use AssignmentState::*;
        match self {
            Offered => matches!(to, Delivered | Working | Done | Failed | Refused),
            Delivered => matches!(to, Working | Done | Failed | Refused),
            Working => matches!(to, Done | Failed | Refused),
            Done | Failed | Refused => false,
        }
    }
}

impl std::fmt::Display for AssignmentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new assignment to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAssignment {
    /// Bead id.
    pub bead_id: String,
    /// Bead title.
    pub bead_title: String,
    /// Target pane.
    pub agent_pane_id: String,
    /// The agent's Agent Mail name.
    pub agent_name: String,
    /// Agent type code.
    pub agent_type: String,
    /// Total score.
    pub score: f64,
    /// Files to reserve.
    pub files: Vec<String>,
}

/// A stored assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentRecord {
    /// Row id.
    pub id: i64,
    /// What was assigned.
    #[serde(flatten)]
    pub assignment: NewAssignment,
    /// Where it is.
    pub state: AssignmentState,
    /// Reservations actually granted.
    pub reserved: Vec<String>,
    /// Whether the bead was claimed in the work source.
    pub claimed: bool,
    /// Why it failed, when it did.
    pub error: String,
    /// When offered.
    #[serde(with = "gaffer_core::time::rfc3339")]
    pub created_at: Timestamp,
    /// Last change.
    #[serde(with = "gaffer_core::time::rfc3339")]
    pub updated_at: Timestamp,
}

/// The outcome of offering a bead.
#[derive(Debug, Clone, PartialEq)]
pub enum Offer {
    /// Recorded with this id.
    Created(i64),
    /// The bead already has an active or finished assignment.
    Taken(Box<AssignmentRecord>),
}

/// One bounded read of the event log ([`Ledger::events_page`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The events that parsed, with their ids, oldest first.
    pub events: Vec<(i64, CoordinatorEvent)>,
    /// Rows that no longer parse.
    pub bad: usize,
    /// The id of the last row read (the cursor to continue from); `after_id` when none.
    pub last_id: i64,
    /// Rows read: fewer than the limit means the log's end was reached.
    pub rows: usize,
}

/// A report from an agent on another host, as applied (the dedupe record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeReportRow {
    /// The message id.
    pub id: String,
    /// The host it arrived from.
    pub host: String,
    /// `done`, `refuse`, `test_run`, `signal`.
    pub kind: String,
    /// `socket` or `spool`.
    pub via: String,
    /// `applied`, or why it could not be (`error: …`).
    pub outcome: String,
}

/// The SQLite ledger.
pub struct Ledger {
    conn: Connection,
    /// The database file; `None` in memory.
    path: Option<PathBuf>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bead_id TEXT NOT NULL,
    bead_title TEXT NOT NULL,
    agent_pane_id TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    agent_type TEXT NOT NULL,
    score REAL NOT NULL,
    files TEXT NOT NULL,
    state TEXT NOT NULL,
    reserved TEXT NOT NULL DEFAULT '[]',
    claimed INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_live_assignment_per_bead
    ON assignments(bead_id) WHERE state IN ('offered','delivered','working','done');
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS test_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_names (
    pane_key TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS backoff (
    agent TEXT NOT NULL,
    bead TEXT NOT NULL,
    failures INTEGER NOT NULL,
    until TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (agent, bead)
);
CREATE TABLE IF NOT EXISTS restarts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pane_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS pauses (
    target TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS home_reports (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    kind TEXT NOT NULL,
    via TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS compactions (
    pane_id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    context_before REAL NOT NULL,
    done INTEGER NOT NULL
);
";

/// A row of the restart log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartKind {
    /// An automatic restart of an exited agent (attempted: a failed one counts too).
    Auto,
    /// A restart by hand (`gaffer restart`): the crash-loop count starts again.
    Manual,
    /// Restarting stopped after a crash loop.
    Halted,
}

impl RestartKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartKind::Auto => "auto",
            RestartKind::Manual => "manual",
            RestartKind::Halted => "halted",
        }
    }
}

fn ts(t: &Timestamp) -> String {
    format_rfc3339(t)
}

impl Ledger {
    /// Opens (creating) the ledger at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        let mut ledger = Self::init(conn)?;
        ledger.path = Some(path.to_path_buf());
        Ok(ledger)
    }

    /// Bytes still free on the disk that holds the ledger; `None` in memory or when it cannot
    /// be read. SQLite can go on writing into room it already holds (its write-ahead log) for
    /// a while after the disk fills, so a failed write is a late sign of a full disk.
    pub fn free_bytes(&self) -> Option<u64> {
        let path = self.path.as_deref()?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crate::disk::available_bytes(dir)
    }

    /// An in-memory ledger, for tests and dry runs.
    pub fn open_in_memory() -> Result<Ledger, LedgerError> {
        Self::init(Connection::open_in_memory()?)
    }

    /// Caps the database at `pages` pages (`PRAGMA max_page_count`): writes beyond fail as on a
    /// full disk. For fault drills and tests; returns the cap in effect.
    pub fn limit_pages(&self, pages: u64) -> Result<u64, LedgerError> {
        Ok(self
            .conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get(0)
            })?)
    }

    /// Pages the database uses now.
    pub fn page_count(&self) -> Result<u64, LedgerError> {
        Ok(self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?)
    }

    fn init(conn: Connection) -> Result<Ledger, LedgerError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Ledger { conn, path: None })
    }

    /// Records an offer, unless the bead already has a live (offered, delivered, working or
    /// done) assignment.
    pub fn offer(&mut self, a: &NewAssignment, now: Timestamp) -> Result<Offer, LedgerError> {
        let tx = self.conn.transaction()?;
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM assignments WHERE bead_id = ?1 AND state IN ('offered','delivered','working','done')",
                params![a.bead_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            drop(tx);
            return Ok(Offer::Taken(Box::new(self.get(id)?)));
        }
        let files = serde_json::to_string(&a.files).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO assignments (bead_id, bead_title, agent_pane_id, agent_name, agent_type, score, files, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'offered', ?8, ?8)",
            params![a.bead_id, a.bead_title, a.agent_pane_id, a.agent_name, a.agent_type, a.score, files, ts(&now)],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Offer::Created(id))
    }

    /// Moves an assignment to a new state, checking the transition.
    pub fn set_state(
        &mut self,
        id: i64,
        to: AssignmentState,
        error: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let rec = self.get(id)?;
        if rec.state == to {
            return Ok(());
        }
        if !rec.state.can_become(to) {
            return Err(LedgerError::BadTransition {
                id,
                from: rec.state,
                to,
            });
        }
        self.conn.execute(
            "UPDATE assignments SET state = ?1, error = CASE WHEN ?2 = '' THEN error ELSE ?2 END, updated_at = ?3 WHERE id = ?4",
            params![to.as_str(), error, ts(&now), id],
        )?;
        Ok(())
    }

    /// Records that the bead was claimed in the work source.
    pub fn set_claimed(
        &mut self,
        id: i64,
        claimed: bool,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE assignments SET claimed = ?1, updated_at = ?2 WHERE id = ?3",
            params![claimed as i64, ts(&now), id],
        )?;
        Ok(())
    }

    /// Records that the claim of an ended assignment was undone in the work source (or that
    /// there was nothing to undo); the record's times are kept.
    pub fn set_claim_undone(&mut self, id: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE assignments SET claimed = 0 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    /// Marks the claim of an ended assignment as left standing in the work source (found held
    /// by its agent), so the retry undoes it; the record's times are kept.
    pub fn mark_claim_to_undo(&mut self, id: i64) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE assignments SET claimed = 1 WHERE id = ?1 AND state IN ('failed','refused')",
            params![id],
        )?;
        Ok(())
    }

    /// Ended assignments that did not finish (failed, refused) whose claim in the work source
    /// may still stand: gaffer claimed (or tried to) and has not undone it. Oldest first, at
    /// most `limit`.
    pub fn claims_to_undo(&self, limit: usize) -> Result<Vec<AssignmentRecord>, LedgerError> {
        let mut out = self.query("WHERE claimed = 1 AND state IN ('failed','refused')", &[])?;
        out.truncate(limit);
        Ok(out)
    }

    /// Records the reservations granted.
    pub fn set_reserved(
        &mut self,
        id: i64,
        reserved: &[String],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let json = serde_json::to_string(reserved).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "UPDATE assignments SET reserved = ?1, updated_at = ?2 WHERE id = ?3",
            params![json, ts(&now), id],
        )?;
        Ok(())
    }

    fn decode(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AssignmentRecord, LedgerError>> {
        let id: i64 = r.get(0)?;
        let text = |i: usize| r.get::<_, String>(i);
        let (files, state, reserved, created, updated) =
            (text(7)?, text(8)?, text(9)?, text(12)?, text(13)?);
        let assignment = NewAssignment {
            bead_id: text(1)?,
            bead_title: text(2)?,
            agent_pane_id: text(3)?,
            agent_name: text(4)?,
            agent_type: text(5)?,
            score: r.get(6)?,
            files: Vec::new(),
        };
        let claimed: i64 = r.get(10)?;
        let error = text(11)?;
        let bad = |what: &str| LedgerError::Corrupt(id, what.to_string());
        let record = || -> Result<AssignmentRecord, LedgerError> {
            Ok(AssignmentRecord {
                id,
                assignment: NewAssignment {
                    files: serde_json::from_str(&files).map_err(|_| bad("files"))?,
                    ..assignment.clone()
                },
                state: AssignmentState::parse(&state).ok_or_else(|| bad("unknown state"))?,
                reserved: serde_json::from_str(&reserved).map_err(|_| bad("reserved"))?,
                claimed: claimed != 0,
                error: error.clone(),
                created_at: parse_rfc3339(&created).map_err(|_| bad("created_at"))?,
                updated_at: parse_rfc3339(&updated).map_err(|_| bad("updated_at"))?,
            })
        };
        Ok(record())
    }

    const COLUMNS: &'static str = "id, bead_id, bead_title, agent_pane_id, agent_name, agent_type, score, files, state, reserved, claimed, error, created_at, updated_at";

    fn query(
        &self,
        where_clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<AssignmentRecord>, LedgerError> {
        let sql = format!(
            "SELECT {} FROM assignments {where_clause} ORDER BY id",
            Self::COLUMNS
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(args, Self::decode)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// One assignment.
    pub fn get(&self, id: i64) -> Result<AssignmentRecord, LedgerError> {
        self.query("WHERE id = ?1", &[&id])?
            .into_iter()
            .next()
            .ok_or(LedgerError::NotFound(id))
    }

    /// Offered, delivered and working assignments.
    pub fn active(&self) -> Result<Vec<AssignmentRecord>, LedgerError> {
        self.query("WHERE state IN ('offered','delivered','working')", &[])
    }

    /// Ids of the beads whose assignment is done (in the ledger, whatever the work source says).
    pub fn done_beads(&self) -> Result<BTreeSet<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT bead_id FROM assignments WHERE state = 'done'")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = BTreeSet::new();
        for r in rows {
            out.insert(r?);
        }
        Ok(out)
    }

    /// Every assignment of a bead.
    pub fn by_bead(&self, bead: &str) -> Result<Vec<AssignmentRecord>, LedgerError> {
        self.query("WHERE bead_id = ?1", &[&bead])
    }

    /// Every assignment.
    pub fn all(&self) -> Result<Vec<AssignmentRecord>, LedgerError> {
        self.query("", &[])
    }

    /// Appends an event to the log; returns its id.
    pub fn record_event(&mut self, e: &CoordinatorEvent) -> Result<i64, LedgerError> {
        let json = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
        self.conn.execute(
            "INSERT INTO events (ts, type, agent_id, json) VALUES (?1, ?2, ?3, ?4)",
            params![ts(&e.timestamp), e.event_type.as_str(), e.agent_id, json],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Events after `after_id`, oldest first, with their ids. Rows that no longer parse are
    /// skipped and counted.
    pub fn events_since(
        &self,
        after_id: i64,
    ) -> Result<(Vec<(i64, CoordinatorEvent)>, usize), LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, json FROM events WHERE id > ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![after_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let (mut out, mut bad) = (Vec::new(), 0);
        for r in rows {
            let (id, json) = r?;
            match serde_json::from_str(&json) {
                Ok(e) => out.push((id, e)),
                Err(_) => bad += 1,
            }
        }
        Ok((out, bad))
    }

    /// The newest event of one of `types`, if the log has one that parses.
    pub fn last_event_of(
        &self,
        types: &[CoordinatorEventType],
    ) -> Result<Option<CoordinatorEvent>, LedgerError> {
        if types.is_empty() {
            return Ok(None);
        }
        let marks = vec!["?"; types.len()].join(",");
        let sql =
            format!("SELECT json FROM events WHERE type IN ({marks}) ORDER BY id DESC LIMIT 1");
        let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        let json: Option<String> = self
            .conn
            .query_row(&sql, rusqlite::params_from_iter(names), |r| r.get(0))
            .optional()?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// The id of the newest event in the log, 0 when it is empty.
    pub fn last_event_id(&self) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
    }

    /// At most `limit` events after `after_id`, oldest first: a bounded read for tailing the
    /// log. `last_id` is the last row read, parsed or not, so a reader's cursor passes rows
    /// that no longer parse (they are counted in `bad`).
    pub fn events_page(&self, after_id: i64, limit: usize) -> Result<EventPage, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, json FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![after_id, limit], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut page = EventPage {
            events: Vec::new(),
            bad: 0,
            last_id: after_id,
            rows: 0,
        };
        for r in rows {
            let (id, json) = r?;
            page.last_id = id;
            page.rows += 1;
            match serde_json::from_str(&json) {
                Ok(e) => page.events.push((id, e)),
                Err(_) => page.bad += 1,
            }
        }
        Ok(page)
    }

    /// Appends a test run.
    pub fn record_test_run(&mut self, run: &TestRunMetrics) -> Result<(), LedgerError> {
        let json = serde_json::to_string(run).unwrap_or_else(|_| "{}".into());
        self.conn
            .execute("INSERT INTO test_runs (json) VALUES (?1)", params![json])?;
        Ok(())
    }

    /// Appends a scan result.
    pub fn record_scan(&mut self, scan: &ScanMetrics) -> Result<(), LedgerError> {
        let json = serde_json::to_string(scan).unwrap_or_else(|_| "{}".into());
        self.conn
            .execute("INSERT INTO scans (json) VALUES (?1)", params![json])?;
        Ok(())
    }

    fn json_rows<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
    ) -> Result<Vec<T>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT json FROM {table} ORDER BY id"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(v) = serde_json::from_str(&r?) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Test runs recorded after row `after_id`, with their row ids.
    pub fn test_runs_since(
        &self,
        after_id: i64,
    ) -> Result<Vec<(i64, TestRunMetrics)>, LedgerError> {
        self.json_rows_since("test_runs", after_id)
    }

    /// Scans recorded after row `after_id`, with their row ids.
    pub fn scans_since(&self, after_id: i64) -> Result<Vec<(i64, ScanMetrics)>, LedgerError> {
        self.json_rows_since("scans", after_id)
    }

    fn json_rows_since<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        after_id: i64,
    ) -> Result<Vec<(i64, T)>, LedgerError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, json FROM {table} WHERE id > ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![after_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (id, json) = r?;
            if let Ok(v) = serde_json::from_str(&json) {
                out.push((id, v));
            }
        }
        Ok(out)
    }

    /// Rebuilds the quality monitor from stored test runs, scans and agent events.
    pub fn quality_monitor(&self, ubs_available: bool) -> Result<QualityMonitor, LedgerError> {
        let mut q = QualityMonitor::new(ubs_available);
        for scan in self.json_rows::<ScanMetrics>("scans")? {
            q.record_scan(scan);
        }
        for run in self.json_rows::<TestRunMetrics>("test_runs")? {
            q.record_test_run(run);
        }
        let (events, _) = self.events_since(0)?;
        for (_, e) in events {
            let agent_type = e
                .details
                .get("agent_type")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            match e.event_type {
                CoordinatorEventType::AgentError => {
                    q.record_agent_error(&e.agent_id, agent_type, e.timestamp)
                }
                CoordinatorEventType::AgentRecovered => q.record_agent_recovery(&e.agent_id),
                _ => {}
            }
        }
        Ok(q)
    }

    /// The Agent Mail name given to a pane before (key: session and pane title or id).
    pub fn agent_name(&self, pane_key: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT name FROM agent_names WHERE pane_key = ?1",
                params![pane_key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Remembers the Agent Mail name of a pane, so every gaffer process uses the same one.
    pub fn set_agent_name(&mut self, pane_key: &str, name: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO agent_names (pane_key, name) VALUES (?1, ?2) ON CONFLICT(pane_key) DO UPDATE SET name = ?2",
            params![pane_key, name],
        )?;
        Ok(())
    }

    /// Records a restart (or the end of restarting) of an agent pane.
    pub fn record_restart(
        &mut self,
        pane_id: &str,
        kind: RestartKind,
        detail: &str,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO restarts (pane_id, kind, at, detail) VALUES (?1, ?2, ?3, ?4)",
            params![pane_id, kind.as_str(), ts(&now), detail],
        )?;
        Ok(())
    }

    /// The restart history of every pane that was ever restarted: automatic restarts since the
    /// last restart by hand, the last restart of any kind, and whether restarting stopped.
    pub fn restart_histories(&self) -> Result<BTreeMap<String, RestartHistory>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT pane_id, kind, at FROM restarts ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out: BTreeMap<String, RestartHistory> = BTreeMap::new();
        for r in rows {
            let (pane, kind, at) = r?;
            let Ok(at) = parse_rfc3339(&at) else {
                continue;
            };
            let h = out.entry(pane).or_default();
            match kind.as_str() {
                "auto" => {
                    h.restarts.push(at);
                    h.last = Some(at);
                }
                "manual" => {
                    h.restarts.clear();
                    h.halted = false;
                    h.last = Some(at);
                }
                "halted" => h.halted = true,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Records that an assignment's prompt was delivered again (to its restarted agent): it is
    /// `delivered` again, as of `now`.
    pub fn set_redelivered(&mut self, id: i64, now: Timestamp) -> Result<(), LedgerError> {
        let rec = self.get(id)?;
        if !matches!(
            rec.state,
            AssignmentState::Delivered | AssignmentState::Working
        ) {
            return Err(LedgerError::BadTransition {
                id,
                from: rec.state,
                to: AssignmentState::Delivered,
            });
        }
        self.conn.execute(
            "UPDATE assignments SET state = 'delivered', updated_at = ?1 WHERE id = ?2",
            params![ts(&now), id],
        )?;
        Ok(())
    }

    /// Pauses auto-assign for one agent (its pane id) or for all (`*`), as of `now`.
    pub fn pause(&mut self, target: &str, now: Timestamp) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO pauses (target, at) VALUES (?1, ?2) ON CONFLICT(target) DO NOTHING",
            params![target, ts(&now)],
        )?;
        Ok(())
    }

    /// Resumes auto-assign for one agent; `*` resumes every agent (the pause of all and each
    /// agent's own). Returns whether something was paused.
    pub fn resume(&mut self, target: &str) -> Result<bool, LedgerError> {
        let n = if target == "*" {
            self.conn.execute("DELETE FROM pauses", [])?
        } else {
            self.conn
                .execute("DELETE FROM pauses WHERE target = ?1", params![target])?
        };
        Ok(n > 0)
    }

    /// Which agents are paused.
    pub fn pauses(&self) -> Result<gaffer_core::control::Pauses, LedgerError> {
        let mut stmt = self.conn.prepare("SELECT target FROM pauses")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = gaffer_core::control::Pauses::default();
        for r in rows {
            let t = r?;
            if t == "*" {
                out.all = true;
            } else {
                out.panes.insert(t);
            }
        }
        Ok(out)
    }

    /// The outcome recorded for a host's report `id`, when it was applied already.
    pub fn home_report(&self, id: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT outcome FROM home_reports WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records that a host's report `id` was applied (`via` `socket` or `spool`), so it is
    /// never applied again; false when it was recorded already.
    pub fn record_home_report(
        &mut self,
        r: &HomeReportRow,
        now: Timestamp,
    ) -> Result<bool, LedgerError> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO home_reports (id, host, kind, via, outcome, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.id, r.host, r.kind, r.via, r.outcome, ts(&now)],
        )?;
        Ok(n == 1)
    }

    /// Per host: how many reports were applied, the last one and when.
    pub fn home_reports_by_host(
        &self,
    ) -> Result<BTreeMap<String, (u64, HomeReportRow, Timestamp)>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT h.host, c.n, h.id, h.kind, h.via, h.outcome, h.at
             FROM home_reports h
             JOIN (SELECT host, COUNT(*) AS n, MAX(rowid) AS last FROM home_reports GROUP BY host) c
               ON h.rowid = c.last",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                HomeReportRow {
                    id: r.get(2)?,
                    host: r.get(0)?,
                    kind: r.get(3)?,
                    via: r.get(4)?,
                    outcome: r.get(5)?,
                },
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (host, n, last, at) = row?;
            let at = parse_rfc3339(&at).unwrap_or_default();
            out.insert(host, (n.max(0) as u64, last, at));
        }
        Ok(out)
    }

    /// Stores the last compaction of an agent pane (replacing the one before).
    pub fn save_compaction(&mut self, pane_id: &str, c: &Compaction) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO compactions (pane_id, at, context_before, done) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(pane_id) DO UPDATE SET at = ?2, context_before = ?3, done = ?4",
            params![pane_id, ts(&c.at), c.context_before, c.done],
        )?;
        Ok(())
    }

    /// The last compaction of every agent pane ever compacted (rows whose time no longer
    /// parses are left out).
    pub fn compactions(&self) -> Result<BTreeMap<String, Compaction>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT pane_id, at, context_before, done FROM compactions")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for r in rows {
            let (pane, at, context_before, done) = r?;
            let Ok(at) = parse_rfc3339(&at) else {
                continue;
            };
            out.insert(
                pane,
                Compaction {
                    at,
                    context_before,
                    done,
                },
            );
        }
        Ok(out)
    }

    /// Every applied host report, oldest first.
    pub fn home_reports(&self) -> Result<Vec<HomeReportRow>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, host, kind, via, outcome FROM home_reports ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| {
            Ok(HomeReportRow {
                id: r.get(0)?,
                host: r.get(1)?,
                kind: r.get(2)?,
                via: r.get(3)?,
                outcome: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores one back-off entry.
    pub fn save_backoff(
        &mut self,
        agent: &str,
        bead: &str,
        e: &BackoffEntry,
    ) -> Result<(), LedgerError> {
        let reason = serde_json::to_value(e.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.conn.execute(
            "INSERT INTO backoff (agent, bead, failures, until, reason) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(agent, bead) DO UPDATE SET failures = ?3, until = ?4, reason = ?5",
            params![agent, bead, e.failures, ts(&e.until), reason],
        )?;
        Ok(())
    }

    /// Loads every back-off entry into `book`.
    pub fn load_backoff(&self, book: &mut BackoffBook) -> Result<(), LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT agent, bead, failures, until, reason FROM backoff")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for r in rows {
            let (agent, bead, failures, until, reason) = r?;
            let Ok(until) = parse_rfc3339(&until) else {
                continue;
            };
            let reason: BackoffReason = serde_json::from_value(serde_json::Value::String(reason))
                .unwrap_or(BackoffReason::Stalled);
            book.restore(
                &agent,
                &bead,
                BackoffEntry {
                    failures,
                    until,
                    reason,
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        parse_rfc3339("2026-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn the_last_compaction_of_each_pane_is_kept() {
        let mut l = Ledger::open_in_memory().unwrap();
        assert!(l.compactions().unwrap().is_empty());
        let c = |secs: i64, done: bool| Compaction {
            at: now() + chrono::Duration::seconds(secs),
            context_before: 95.5,
            done,
        };
        l.save_compaction("%1", &c(0, false)).unwrap();
        l.save_compaction("%2", &c(5, true)).unwrap();
        l.save_compaction("%1", &c(10, true)).unwrap();
        let got = l.compactions().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got["%1"], c(10, true));
        assert_eq!(got["%2"], c(5, true));
    }

    #[test]
    fn restart_histories_count_automatic_restarts_since_the_last_by_hand() {
        let mut l = Ledger::open_in_memory().unwrap();
        let at = |s: i64| now() + chrono::Duration::seconds(s);
        l.record_restart("%1", RestartKind::Auto, "", at(0))
            .unwrap();
        l.record_restart("%1", RestartKind::Auto, "", at(20))
            .unwrap();
        l.record_restart("%2", RestartKind::Auto, "", at(5))
            .unwrap();
        l.record_restart("%2", RestartKind::Halted, "", at(6))
            .unwrap();
        let h = l.restart_histories().unwrap();
        assert_eq!(h["%1"].restarts, vec![at(0), at(20)]);
        assert_eq!(h["%1"].last, Some(at(20)));
        assert!(!h["%1"].halted && h["%2"].halted);
        l.record_restart("%2", RestartKind::Manual, "", at(30))
            .unwrap();
        let h = l.restart_histories().unwrap();
        assert!(h["%2"].restarts.is_empty() && !h["%2"].halted);
        assert_eq!(h["%2"].last, Some(at(30)));
    }

    #[test]
    fn redelivery_moves_a_live_assignment_back_to_delivered() {
        let mut l = Ledger::open_in_memory().unwrap();
        let Offer::Created(id) = l.offer(&new("b1", "%1"), now()).unwrap() else {
            panic!("taken")
        };
        assert!(
            l.set_redelivered(id, now()).is_err(),
            "an offer is not redelivered"
        );
        l.set_state(id, AssignmentState::Working, "", now())
            .unwrap();
        let later = now() + chrono::Duration::seconds(9);
        l.set_redelivered(id, later).unwrap();
        let r = l.get(id).unwrap();
        assert_eq!((r.state, r.updated_at), (AssignmentState::Delivered, later));
    }

    fn new(bead: &str, pane: &str) -> NewAssignment {
        NewAssignment {
            bead_id: bead.into(),
            bead_title: "T".into(),
            agent_pane_id: pane.into(),
            agent_name: "Blue".into(),
            agent_type: "cc".into(),
            score: 0.5,
            files: vec!["src/a.rs".into()],
        }
    }

    #[test]
    fn a_bead_goes_to_one_agent() {
        let mut l = Ledger::open_in_memory().unwrap();
        let Offer::Created(id) = l.offer(&new("b1", "%1"), now()).unwrap() else {
            panic!("created")
        };
        match l.offer(&new("b1", "%2"), now()).unwrap() {
            Offer::Taken(r) => assert_eq!(r.assignment.agent_pane_id, "%1"),
            other => panic!("{other:?}"),
        }
        l.set_state(id, AssignmentState::Delivered, "", now())
            .unwrap();
        l.set_state(id, AssignmentState::Done, "", now()).unwrap();
        assert!(
            matches!(l.offer(&new("b1", "%2"), now()).unwrap(), Offer::Taken(_)),
            "done beads stay taken"
        );
        let Offer::Created(id2) = l.offer(&new("b2", "%1"), now()).unwrap() else {
            panic!()
        };
        l.set_state(id2, AssignmentState::Failed, "stalled", now())
            .unwrap();
        assert!(
            matches!(l.offer(&new("b2", "%3"), now()).unwrap(), Offer::Created(_)),
            "failed beads can be offered again"
        );
        assert_eq!(l.by_bead("b2").unwrap().len(), 2);
        assert_eq!(l.by_bead("b2").unwrap()[0].error, "stalled");
    }

    #[test]
    fn quality_is_rebuilt_from_rows_and_events() {
        let mut l = Ledger::open_in_memory().unwrap();
        l.record_test_run(&TestRunMetrics {
            timestamp: now(),
            agent_pane_id: "%1".into(),
            passed: 9,
            failed: 1,
            skipped: 0,
            duration: 5,
            package: String::new(),
        })
        .unwrap();
        l.record_event(
            &CoordinatorEvent::new(CoordinatorEventType::AgentError, now())
                .with_agent("%1")
                .with_detail("agent_type", "cc"),
        )
        .unwrap();
        let q = l.quality_monitor(false).unwrap();
        let m = q.agent_metrics("%1").unwrap();
        assert_eq!((m.tests_passed, m.tests_failed, m.error_count), (9, 1, 1));
        assert_eq!(q.summary(now()).test_pass_rate, 90.0);
    }

    #[test]
    fn transitions_are_checked() {
        let mut l = Ledger::open_in_memory().unwrap();
        let Offer::Created(id) = l.offer(&new("b1", "%1"), now()).unwrap() else {
            panic!()
        };
        l.set_state(id, AssignmentState::Refused, "no", now())
            .unwrap();
        let err = l
            .set_state(id, AssignmentState::Working, "", now())
            .unwrap_err();
        assert!(matches!(err, LedgerError::BadTransition { .. }));
        assert!(l.active().unwrap().is_empty());
    }

    #[test]
    fn survives_reopen_and_keeps_events_and_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gaffer/state.db");
        {
            let mut l = Ledger::open(&path).unwrap();
            let Offer::Created(id) = l.offer(&new("b1", "%1"), now()).unwrap() else {
                panic!()
            };
            l.set_claimed(id, true, now()).unwrap();
            l.set_reserved(id, &["src/a.rs".into()], now()).unwrap();
            l.record_event(
                &CoordinatorEvent::new(CoordinatorEventType::WorkAssigned, now())
                    .with_detail("bead_id", "b1"),
            )
            .unwrap();
            let mut book = BackoffBook::new(
                std::time::Duration::from_secs(60),
                std::time::Duration::from_secs(600),
            );
            book.record("%2", "b9", BackoffReason::Refused, now());
            let (a, b, e) = book
                .entries()
                .next()
                .map(|(a, b, e)| (a.to_string(), b.to_string(), e.clone()))
                .unwrap();
            l.save_backoff(&a, &b, &e).unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        let active = l.active().unwrap();
        assert_eq!(active.len(), 1);
        assert!(active[0].claimed);
        assert_eq!(active[0].reserved, vec!["src/a.rs".to_string()]);
        let (events, bad) = l.events_since(0).unwrap();
        assert_eq!((events.len(), bad), (1, 0));
        assert_eq!(events[0].1.details["bead_id"], "b1");
        let mut book = BackoffBook::new(
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(600),
        );
        l.load_backoff(&mut book).unwrap();
        assert!(book.is_backing_off("%2", "b9", now()));
    }

    #[test]
    fn event_pages_are_bounded_and_their_cursor_passes_bad_rows() {
        use gaffer_core::event::CoordinatorEventType;
        let mut l = Ledger::open_in_memory().unwrap();
        assert_eq!(l.last_event_id().unwrap(), 0);
        let ev = |n: u32| {
            CoordinatorEvent::new(CoordinatorEventType::AgentIdle, now())
                .with_detail("n", n.to_string())
        };
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(l.record_event(&ev(n)).unwrap());
        }
        l.conn
            .execute(
                "INSERT INTO events (ts, type, agent_id, json) VALUES ('', 'x', '', 'not json')",
                [],
            )
            .unwrap();
        let bad_id = l.conn.last_insert_rowid();
        ids.push(l.record_event(&ev(3)).unwrap());
        assert_eq!(l.last_event_id().unwrap(), ids[3]);
        let p = l.events_page(0, 2).unwrap();
        assert_eq!((p.rows, p.bad, p.last_id), (2, 0, ids[1]));
        assert_eq!(p.events[1].1.details["n"], "1");
        // The second page ends on the bad row: the cursor still moves past it.
        let p = l.events_page(ids[1], 2).unwrap();
        assert_eq!((p.rows, p.bad, p.last_id), (2, 1, bad_id));
        assert_eq!(p.events.len(), 1);
        let p = l.events_page(bad_id, 2).unwrap();
        assert_eq!((p.rows, p.bad, p.last_id), (1, 0, ids[3]));
        assert_eq!(p.events[0].1.details["n"], "3");
        let p = l.events_page(ids[3], 2).unwrap();
        assert_eq!((p.rows, p.last_id, p.events.len()), (0, ids[3], 0));
    }
}
