//! The agents' hook signals in the ledger (`.gaffer/state.db`, table `signals`): the writer
//! `gaffer hook` uses (one lean connection, one insert), and [`LedgerSignalFeed`], the
//! coordinator's [`SignalFeed`] over it.
//!
//! Many hook processes may write at once (a hook storm): WAL and a busy timeout let them queue
//! instead of failing. The feed reads only rows newer than the last it saw and keeps the last
//! signal of each kind per pane, so repeats coalesce; superseded rows are pruned now and then.

use crate::ledger::LedgerError;
use gaffer_core::signals::{HookEvent, PaneSignals, Signal, SignalFeed};
use gaffer_core::time::{format_rfc3339, parse_rfc3339};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, params};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pane_id TEXT NOT NULL,
    socket TEXT,
    agent TEXT NOT NULL,
    event TEXT NOT NULL,
    raw_event TEXT NOT NULL,
    at TEXT NOT NULL,
    session_id TEXT,
    transcript_path TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS signals_by_pane_event ON signals(pane_id, event, seq);
";

/// How long a writer waits for another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// The feed prunes superseded rows after reading this many.
const PRUNE_EVERY: usize = 2_000;
/// The most rows the feed reads in one call.
const READ_BATCH: i64 = 50_000;

/// Whether `pane` looks like a tmux pane id (`%` and digits).
pub fn is_pane_id(pane: &str) -> bool {
    pane.len() > 1
        && pane.len() < 16
        && pane.starts_with('%')
        && pane[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A connection to the `signals` table.
pub struct SignalStore {
    conn: Connection,
}

impl SignalStore {
    /// Opens (creating) the table in the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<SignalStore, LedgerError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
        // A hook process is often the last connection to close; its checkpoint on close would
        // fsync the database every time. The coordinator and SQLite's auto-checkpoint do it.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        conn.execute_batch(SCHEMA)?;
        Ok(SignalStore { conn })
    }

    /// Opens an existing database for reading; `None` when there is none yet.
    fn open_existing(path: &Path) -> Result<Option<SignalStore>, LedgerError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Some(SignalStore { conn }))
    }

    /// Appends a signal; returns its sequence number.
    pub fn record(&self, s: &Signal) -> Result<i64, LedgerError> {
        self.conn.execute(
            "INSERT INTO signals (pane_id, socket, agent, event, raw_event, at, session_id, transcript_path, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                s.pane_id,
                s.socket,
                s.agent,
                s.event.as_str(),
                s.raw_event,
                format_rfc3339(&s.at),
                s.session_id,
                s.transcript_path.as_ref().map(|p| p.display().to_string()),
                s.detail,
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Signals after `after`, oldest first (at most `limit`). Rows that no longer parse are
    /// skipped and counted.
    pub fn since(&self, after: i64, limit: i64) -> Result<(Vec<Signal>, usize), LedgerError> {
        self.select(
            "SELECT seq, pane_id, socket, agent, event, raw_event, at, session_id, transcript_path, detail
             FROM signals WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![after, limit],
        )
    }

    /// The last signal of each kind per pane, oldest first.
    pub fn latest(&self) -> Result<(Vec<Signal>, usize), LedgerError> {
        self.select(
            "SELECT seq, pane_id, socket, agent, event, raw_event, at, session_id, transcript_path, detail
             FROM signals WHERE seq IN (SELECT MAX(seq) FROM signals GROUP BY pane_id, event) ORDER BY seq",
            [],
        )
    }

    /// The highest sequence number stored (0 when empty).
    pub fn last_seq(&self) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM signals", [], |r| {
                r.get(0)
            })?)
    }

    /// Deletes rows superseded by a newer one of the same pane and kind; returns how many.
    pub fn prune(&self) -> Result<usize, LedgerError> {
        Ok(self.conn.execute(
            "DELETE FROM signals WHERE seq NOT IN (SELECT MAX(seq) FROM signals GROUP BY pane_id, event)",
            [],
        )?)
    }

    /// Deletes every signal of `pane` (its agent is gone).
    pub fn forget_pane(&self, pane: &str) -> Result<usize, LedgerError> {
        Ok(self
            .conn
            .execute("DELETE FROM signals WHERE pane_id = ?1", params![pane])?)
    }

    fn select<P: rusqlite::Params>(
        &self,
        sql: &str,
        p: P,
    ) -> Result<(Vec<Signal>, usize), LedgerError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(p, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        let (mut out, mut bad) = (Vec::new(), 0);
        for row in rows {
            let (seq, pane_id, socket, agent, event, raw_event, at, session_id, transcript, detail) =
                row?;
            let event = HookEvent::ALL.into_iter().find(|e| e.as_str() == event);
            let at = parse_rfc3339(&at).ok();
            match (event, at) {
                (Some(event), Some(at)) => out.push(Signal {
                    seq,
                    pane_id,
                    socket,
                    agent,
                    event,
                    raw_event,
                    at,
                    session_id,
                    transcript_path: transcript.map(PathBuf::from),
                    detail,
                }),
                _ => bad += 1,
            }
        }
        Ok((out, bad))
    }
}

#[derive(Default)]
struct FeedState {
    store: Option<SignalStore>,
    loaded: bool,
    cursor: i64,
    panes: BTreeMap<String, PaneSignals>,
    known: Option<BTreeSet<String>>,
    refused: BTreeSet<String>,
    since_prune: usize,
    failing: bool,
}

/// The coordinator's [`SignalFeed`] over the ledger's `signals` table.
///
/// The first call loads the last signal of each kind per pane; later calls read only newer
/// rows. Signals from panes that are not agent panes gaffer knows (see
/// [`LedgerSignalFeed::set_known_panes`]) are refused with a log line, once per pane, and
/// change nothing.
pub struct LedgerSignalFeed {
    path: PathBuf,
    state: Mutex<FeedState>,
}

impl LedgerSignalFeed {
    /// A feed over the database at `path` (it need not exist yet).
    pub fn new(path: &Path) -> LedgerSignalFeed {
        LedgerSignalFeed {
            path: path.to_path_buf(),
            state: Mutex::new(FeedState::default()),
        }
    }

    /// The agent panes gaffer knows; signals of other panes are refused. Until this is called
    /// every well-formed pane id is accepted.
    pub fn set_known_panes(&self, panes: BTreeSet<String>) {
        let mut st = crate::session::lock(&self.state);
        st.refused.retain(|p| !panes.contains(p));
        st.known = Some(panes);
    }

    fn refresh(&self, st: &mut FeedState) -> Result<(), LedgerError> {
        if st.store.is_none() {
            st.store = SignalStore::open_existing(&self.path)?;
        }
        let Some(store) = st.store.as_ref() else {
            return Ok(());
        };
        let (rows, bad) = if st.loaded {
            store.since(st.cursor, READ_BATCH)?
        } else {
            let cursor = store.last_seq()?;
            let (rows, bad) = store.latest()?;
            st.cursor = cursor;
            st.loaded = true;
            (rows, bad)
        };
        if bad > 0 {
            tracing::warn!(rows = bad, "signals: skipped rows that no longer parse");
        }
        st.since_prune += rows.len();
        for s in rows {
            st.cursor = st.cursor.max(s.seq);
            if !is_pane_id(&s.pane_id) {
                tracing::warn!(pane = %s.pane_id.escape_debug(), "signals: refused a signal with a malformed pane id");
                continue;
            }
            let slot = st.panes.entry(s.pane_id.clone()).or_default();
            match slot.last.get(&s.event) {
                Some(old) if old.seq > s.seq => {}
                _ => {
                    slot.last.insert(s.event, s);
                }
            }
        }
        if st.since_prune >= PRUNE_EVERY {
            st.since_prune = 0;
            if let Some(store) = st.store.as_ref() {
                match store.prune() {
                    Ok(n) => tracing::debug!(rows = n, "signals: pruned superseded rows"),
                    Err(e) => tracing::debug!(error = %e, "signals: prune failed"),
                }
            }
        }
        Ok(())
    }
}

impl SignalFeed for LedgerSignalFeed {
    fn pane_signals(&self) -> BTreeMap<String, PaneSignals> {
        let mut guard = crate::session::lock(&self.state);
        let st = &mut *guard;
        match self.refresh(st) {
            Ok(()) => st.failing = false,
            Err(e) => {
                if !st.failing {
                    tracing::warn!(path = %self.path.display(), error = %e, "signals: cannot read the ledger");
                }
                st.failing = true;
                st.store = None;
            }
        }
        let mut out = BTreeMap::new();
        for (pane, sig) in &st.panes {
            if let Some(known) = &st.known
                && !known.contains(pane)
            {
                if st.refused.insert(pane.clone()) {
                    tracing::info!(pane = %pane, "signals: refused signals from a pane that is not a known agent pane");
                }
                continue;
            }
            out.insert(pane.clone(), sig.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sig(pane: &str, event: HookEvent, secs: i64) -> Signal {
        Signal {
            seq: 0,
            pane_id: pane.into(),
            socket: Some("/tmp/tmux-1/x".into()),
            agent: "cc".into(),
            event,
            raw_event: "Raw".into(),
            at: chrono::Utc
                .timestamp_opt(1_800_000_000 + secs, 0)
                .single()
                .unwrap_or_default(),
            session_id: Some("s".into()),
            transcript_path: Some(PathBuf::from("/t.jsonl")),
            detail: Some(format!("d{secs}")),
        }
    }

    fn store(dir: &Path) -> SignalStore {
        match SignalStore::open(&dir.join("state.db")) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn signals_round_trip_and_the_feed_keeps_the_last_of_each_kind() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let st = store(dir.path());
        let feed = LedgerSignalFeed::new(&dir.path().join("state.db"));
        assert!(feed.pane_signals().is_empty());
        for (i, e) in [
            HookEvent::TurnStart,
            HookEvent::ToolStart,
            HookEvent::ToolStart,
        ]
        .into_iter()
        .enumerate()
        {
            assert!(st.record(&sig("%1", e, i as i64)).is_ok());
        }
        let got = feed.pane_signals();
        let p1 = &got["%1"];
        assert_eq!(p1.last.len(), 2);
        assert_eq!(p1.last[&HookEvent::ToolStart].detail.as_deref(), Some("d2"));
        assert_eq!(p1.last[&HookEvent::ToolStart].seq, 3);
        assert_eq!(p1.newest().map(|s| s.seq), Some(3));
        let back = &p1.last[&HookEvent::TurnStart];
        assert_eq!(back.socket.as_deref(), Some("/tmp/tmux-1/x"));
        assert_eq!(back.transcript_path, Some(PathBuf::from("/t.jsonl")));
        // A new reader (an unrunning coordinator, `status`) finds the same from the ledger.
        let fresh = LedgerSignalFeed::new(&dir.path().join("state.db"));
        assert_eq!(fresh.pane_signals(), got);
        // Only new rows are read afterwards.
        assert!(st.record(&sig("%2", HookEvent::Stop, 9)).is_ok());
        let got = feed.pane_signals();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got["%2"].last[&HookEvent::Stop].detail.as_deref(),
            Some("d9")
        );
    }

    #[test]
    fn unknown_and_malformed_panes_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let st = store(dir.path());
        let feed = LedgerSignalFeed::new(&dir.path().join("state.db"));
        feed.set_known_panes(["%1".to_string()].into());
        assert!(st.record(&sig("%1", HookEvent::Stop, 1)).is_ok());
        assert!(
            st.record(&sig("%7", HookEvent::PermissionRequest, 2))
                .is_ok()
        );
        assert!(st.record(&sig("not-a-pane", HookEvent::Stop, 3)).is_ok());
        let got = feed.pane_signals();
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["%1"]);
        assert_eq!(got["%1"].last.len(), 1);
        // When %7 becomes a known agent pane, its signal shows.
        feed.set_known_panes(["%1".to_string(), "%7".to_string()].into());
        assert!(feed.pane_signals().contains_key("%7"));
    }

    #[test]
    fn prune_keeps_the_last_of_each_kind() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let st = store(dir.path());
        for i in 0..10 {
            assert!(st.record(&sig("%1", HookEvent::ToolEnd, i)).is_ok());
        }
        assert!(st.record(&sig("%1", HookEvent::Stop, 11)).is_ok());
        let before = LedgerSignalFeed::new(&dir.path().join("state.db")).pane_signals();
        assert_eq!(st.prune().ok(), Some(9));
        let after = LedgerSignalFeed::new(&dir.path().join("state.db")).pane_signals();
        assert_eq!(before, after);
        assert_eq!(st.forget_pane("%1").ok(), Some(2));
    }

    #[test]
    fn pane_ids() {
        assert!(is_pane_id("%0") && is_pane_id("%123"));
        assert!(!is_pane_id("%") && !is_pane_id("3") && !is_pane_id("%3;rm") && !is_pane_id(""));
    }
}
