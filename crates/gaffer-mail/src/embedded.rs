//! `EmbeddedMailbox`: the `Mailbox` semantics of Agent Mail on SQLite, for one machine
//! without a server. Lives in `.gaffer/state.db` (WAL) next to gaffer's other state, in tables
//! prefixed `mail_`.
//!
//! Same semantics as the server (spec agentmail.md §4): reservations are advisory (a clashing
//! request is granted and reported), exclusive or shared, with a TTL (lazily expired) and
//! renew (`max(expiry, now) + max(60 s, extend)`); release by exact pattern. One deliberate
//! improvement: clashes are found by true glob overlap in both directions, not the server's
//! one-directional match.

use chrono::{DateTime, Utc};
use gaffer_core::conflicts::ReservationIndex;
use gaffer_core::mailbox::*;
use gaffer_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mail_projects (
  id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, human_key TEXT NOT NULL,
  created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mail_agents (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, name TEXT NOT NULL,
  program TEXT NOT NULL, model TEXT NOT NULL, task_description TEXT NOT NULL,
  inception_us INTEGER NOT NULL, last_active_us INTEGER NOT NULL,
  UNIQUE(project_id, name));
CREATE TABLE IF NOT EXISTS mail_messages (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, sender TEXT NOT NULL,
  thread_id TEXT, subject TEXT NOT NULL, body_md TEXT NOT NULL, importance TEXT NOT NULL,
  ack_required INTEGER NOT NULL, created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mail_recipients (
  message_id INTEGER NOT NULL, agent TEXT NOT NULL, kind TEXT NOT NULL,
  read_us INTEGER, ack_us INTEGER, PRIMARY KEY(message_id, agent));
CREATE INDEX IF NOT EXISTS mail_recipients_agent ON mail_recipients(agent, message_id);
CREATE TABLE IF NOT EXISTS mail_reservations (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, agent TEXT NOT NULL,
  path_pattern TEXT NOT NULL, exclusive INTEGER NOT NULL, reason TEXT NOT NULL,
  created_us INTEGER NOT NULL, expires_us INTEGER NOT NULL, released_us INTEGER);
CREATE INDEX IF NOT EXISTS mail_reservations_active ON mail_reservations(project_id, released_us);
";

/// The SQLite-backed mailbox.
pub struct EmbeddedMailbox {
    conn: Mutex<Connection>,
    path: PathBuf,
    seed: AtomicU64,
}

impl std::fmt::Debug for EmbeddedMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedMailbox")
            .field("path", &self.path)
            .finish()
    }
}

/// The server's slug: lowercase, every run outside `[a-z0-9]` becomes `-`, trimmed.
pub fn slugify(key: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in key.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
            dash = false;
        } else if !dash {
            out.push('-');
            dash = true;
        }
    }
    out.trim_matches('-').to_string()
}

fn db_err(e: rusqlite::Error) -> MailError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            MailError::Unavailable(format!("state.db is busy: {e}"))
        }
        other => MailError::Unavailable(format!("state.db: {other}")),
    }
}

fn us(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

fn ts(us: i64) -> Timestamp {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn now_us() -> i64 {
    us(Utc::now())
}

impl EmbeddedMailbox {
    /// Opens (creating) `<project_root>/.gaffer/state.db`.
    pub fn open_project(project_root: &Path) -> Result<Self, MailError> {
        let dir = project_root.join(".gaffer");
        std::fs::create_dir_all(&dir)
            .map_err(|e| MailError::Unavailable(format!("{}: {e}", dir.display())))?;
        Self::open(&dir.join("state.db"))
    }

    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, MailError> {
        let conn = Connection::open(path).map_err(db_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        let seed =
            (Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64) ^ u64::from(std::process::id());
        Ok(EmbeddedMailbox {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            seed: AtomicU64::new(seed),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, MailError>,
    ) -> Result<T, MailError> {
        let mut g = self
            .conn
            .lock()
            .map_err(|_| MailError::Unavailable("state.db lock poisoned".into()))?;
        f(&mut g)
    }

    /// Runs `f(tx, project id, now)` in an immediate transaction for the registered `agent`
    /// of `project`, after expired reservations are released; commits when `f` succeeds.
    fn with_agent_tx<T>(
        &self,
        project: &str,
        agent: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>, i64, i64) -> Result<T, MailError>,
    ) -> Result<T, MailError> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let pid = project_id(&tx, project)?;
            require_agent(&tx, pid, agent)?;
            let now = now_us();
            expire(&tx, pid, now)?;
            let out = f(&tx, pid, now)?;
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
    }

    fn next_seed(&self) -> u64 {
        let s = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut x = s ^ (s >> 31);
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^ (x >> 29)
    }
}

fn project_id(c: &Connection, key: &str) -> Result<i64, MailError> {
    c.query_row(
        "SELECT id FROM mail_projects WHERE slug = ?1",
        params![slugify(key)],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err)?
    .ok_or_else(|| MailError::NotFound(format!("project '{key}' not found; ensure it first")))
}

/// The id of agent `name` in project `pid`, if it is registered.
fn agent_id(c: &Connection, pid: i64, name: &str) -> Result<Option<i64>, MailError> {
    c.query_row(
        "SELECT id FROM mail_agents WHERE project_id = ?1 AND name = ?2",
        params![pid, name],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err)
}

fn require_agent(c: &Connection, pid: i64, name: &str) -> Result<(), MailError> {
    if agent_id(c, pid, name)?.is_none() {
        return Err(MailError::NotFound(format!(
            "agent '{name}' not found in project"
        )));
    }
    c.execute(
        "UPDATE mail_agents SET last_active_us = ?3 WHERE project_id = ?1 AND name = ?2",
        params![pid, name, now_us()],
    )
    .map_err(db_err)?;
    Ok(())
}

fn expire(c: &Connection, pid: i64, now: i64) -> Result<(), MailError> {
    c.execute(
        "UPDATE mail_reservations SET released_us = expires_us
         WHERE project_id = ?1 AND released_us IS NULL AND expires_us <= ?2",
        params![pid, now],
    )
    .map_err(db_err)?;
    Ok(())
}

fn row_reservation(r: &rusqlite::Row<'_>) -> rusqlite::Result<Reservation> {
    Ok(Reservation {
        id: r.get(0)?,
        agent_name: r.get(1)?,
        path_pattern: r.get(2)?,
        exclusive: r.get::<_, i64>(3)? != 0,
        reason: r.get(4)?,
        created_ts: Some(ts(r.get(5)?)),
        expires_ts: ts(r.get(6)?),
        released_ts: r.get::<_, Option<i64>>(7)?.map(ts),
    })
}

const RES_COLS: &str =
    "id, agent, path_pattern, exclusive, reason, created_us, expires_us, released_us";

fn active(c: &Connection, pid: i64) -> Result<Vec<Reservation>, MailError> {
    let mut st = c
        .prepare(&format!(
            "SELECT {RES_COLS} FROM mail_reservations
             WHERE project_id = ?1 AND released_us IS NULL ORDER BY id"
        ))
        .map_err(db_err)?;
    let rows = st
        .query_map(params![pid], row_reservation)
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(rows)
}

impl Mailbox for EmbeddedMailbox {
    fn ensure_project(&self, project: &str) -> Result<ProjectInfo, MailError> {
        if !project.starts_with('/') {
            return Err(MailError::Invalid(format!(
                "project key must be an absolute path: {project:?}"
            )));
        }
        let slug = slugify(project);
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO mail_projects (slug, human_key, created_us) VALUES (?1, ?2, ?3)",
                params![slug, project, now_us()],
            )
            .map_err(db_err)?;
            c.query_row(
                "SELECT id, slug, human_key FROM mail_projects WHERE slug = ?1",
                params![slug],
                |r| {
                    Ok(ProjectInfo {
                        id: r.get(0)?,
                        slug: r.get(1)?,
                        human_key: r.get(2)?,
                    })
                },
            )
            .map_err(db_err)
        })
    }

    fn register_agent(
        &self,
        project: &str,
        reg: &AgentRegistration,
    ) -> Result<AgentInfo, MailError> {
        if reg.program.is_empty() || reg.model.is_empty() {
            return Err(MailError::Invalid("program and model are required".into()));
        }
        let wanted = reg.name.clone().filter(|n| is_valid_agent_name(n));
        let seeds: Vec<u64> = (0..64).map(|_| self.next_seed()).collect();
        self.with(|c| {
            let pid = project_id(c, project)?;
            let name = match wanted {
                Some(n) => n,
                None => {
                    let mut chosen = None;
                    for s in &seeds {
                        let n = generate_agent_name(*s);
                        if agent_id(c, pid, &n)?.is_none() {
                            chosen = Some(n);
                            break;
                        }
                    }
                    chosen.unwrap_or_else(|| format!("{}{}", generate_agent_name(seeds[0]), seeds[1] % 1000))
                }
            };
            let now = now_us();
            c.execute(
                "INSERT INTO mail_agents (project_id, name, program, model, task_description, inception_us, last_active_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT(project_id, name) DO UPDATE SET program = excluded.program,
                   model = excluded.model, task_description = excluded.task_description,
                   last_active_us = excluded.last_active_us",
                params![pid, name, reg.program, reg.model, reg.task_description, now],
            )
            .map_err(db_err)?;
            c.query_row(
                "SELECT id, name, program, model, task_description FROM mail_agents
                 WHERE project_id = ?1 AND name = ?2",
                params![pid, name],
                |r| {
                    Ok(AgentInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        program: r.get(2)?,
                        model: r.get(3)?,
                        task_description: r.get(4)?,
                    })
                },
            )
            .map_err(db_err)
        })
    }

    fn send_message(&self, project: &str, msg: &OutgoingMessage) -> Result<SentMessage, MailError> {
        if msg.to.is_empty() {
            return Err(MailError::Invalid(
                "a message needs at least one recipient".into(),
            ));
        }
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let pid = project_id(&tx, project)?;
            require_agent(&tx, pid, &msg.sender)?;
            for r in msg.to.iter().chain(&msg.cc) {
                require_agent(&tx, pid, r)?;
            }
            tx.execute(
                "INSERT INTO mail_messages (project_id, sender, thread_id, subject, body_md, importance, ack_required, created_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    pid,
                    msg.sender,
                    msg.thread_id.as_deref().filter(|t| !t.is_empty()),
                    msg.subject,
                    msg.body_md,
                    msg.importance.as_str(),
                    msg.ack_required as i64,
                    now_us()
                ],
            )
            .map_err(db_err)?;
            let id = tx.last_insert_rowid();
            for (list, kind) in [(&msg.to, "to"), (&msg.cc, "cc")] {
                for r in list {
                    tx.execute(
                            "INSERT OR IGNORE INTO mail_recipients (message_id, agent, kind) VALUES (?1, ?2, ?3)",
                            params![id, r, kind],
                        )
                        .map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)?;
            Ok(SentMessage {
                id,
                thread_id: msg.thread_id.clone(),
                // like the server: one delivery per project
                count: 1,
            })
        })
    }

    fn fetch_inbox(
        &self,
        project: &str,
        agent: &str,
        query: &InboxQuery,
    ) -> Result<Vec<InboxMessage>, MailError> {
        self.with(|c| {
            let pid = project_id(c, project)?;
            require_agent(c, pid, agent)?;
            let mut st = c
                .prepare(
                    "SELECT m.id, m.sender, m.subject, m.body_md, m.importance, m.ack_required,
                            m.thread_id, m.created_us, r.kind
                     FROM mail_messages m JOIN mail_recipients r ON r.message_id = m.id
                     WHERE m.project_id = ?1 AND r.agent = ?2
                       AND (?3 = 0 OR m.importance IN ('high', 'urgent'))
                     ORDER BY m.id DESC LIMIT ?4",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(
                    params![
                        pid,
                        agent,
                        query.urgent_only as i64,
                        query.limit.clamp(1, 1000) as i64
                    ],
                    |r| {
                        let body: String = r.get(3)?;
                        let imp: String = r.get(4)?;
                        Ok(InboxMessage {
                            id: r.get(0)?,
                            from: r.get(1)?,
                            subject: r.get(2)?,
                            body_md: query.include_bodies.then_some(body),
                            importance: Importance::parse(&imp).unwrap_or_default(),
                            ack_required: r.get::<_, i64>(5)? != 0,
                            thread_id: r.get(6)?,
                            created_ts: ts(r.get(7)?),
                            kind: r.get(8)?,
                        })
                    },
                )
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(rows)
        })
    }

    fn acknowledge(&self, project: &str, agent: &str, message_id: i64) -> Result<(), MailError> {
        self.with(|c| {
            let pid = project_id(c, project)?;
            require_agent(c, pid, agent)?;
            let now = now_us();
            let n = c
                .execute(
                    "UPDATE mail_recipients SET ack_us = COALESCE(ack_us, ?3), read_us = COALESCE(read_us, ?3)
                     WHERE message_id = ?1 AND agent = ?2",
                    params![message_id, agent, now],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(MailError::NotFound(format!("message {message_id} not found for {agent}")));
            }
            Ok(())
        })
    }

    fn mark_read(&self, project: &str, agent: &str, message_id: i64) -> Result<(), MailError> {
        self.with(|c| {
            let pid = project_id(c, project)?;
            require_agent(c, pid, agent)?;
            let n = c
                .execute(
                    "UPDATE mail_recipients SET read_us = COALESCE(read_us, ?3) WHERE message_id = ?1 AND agent = ?2",
                    params![message_id, agent, now_us()],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(MailError::NotFound(format!("message {message_id} not found for {agent}")));
            }
            Ok(())
        })
    }

    fn reserve_paths(
        &self,
        project: &str,
        req: &ReserveRequest,
    ) -> Result<ReserveResult, MailError> {
        if req.paths.is_empty() {
            return Err(MailError::Invalid("no paths to reserve".into()));
        }
        self.with_agent_tx(project, &req.agent, |tx, pid, now| {
            // the one overlap engine, over the active reservations in id order
            let existing = ReservationIndex::from_entries(active(tx, pid)?);
            let expires = now + (req.ttl.as_micros().min(i64::MAX as u128 / 2) as i64).max(1_000_000);
            let mut granted = Vec::new();
            let mut conflicts = Vec::new();
            for path in &req.paths {
                let holders: Vec<ConflictHolder> = existing
                    .clashes(&req.agent, path, req.exclusive)
                    .into_iter()
                    .filter_map(|i| existing.get(i))
                    .map(|r| ConflictHolder {
                        agent_name: r.agent_name.clone(),
                        path_pattern: r.path_pattern.clone(),
                        exclusive: r.exclusive,
                        expires_ts: Some(r.expires_ts),
                    })
                    .collect();
                if !holders.is_empty() {
                    conflicts.push(PathConflict {
                        path: path.clone(),
                        holders,
                    });
                }
                tx.execute(
                    "INSERT INTO mail_reservations (project_id, agent, path_pattern, exclusive, reason, created_us, expires_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![pid, req.agent, path, req.exclusive as i64, req.reason, now, expires],
                )
                .map_err(db_err)?;
                granted.push(Reservation {
                    id: tx.last_insert_rowid(),
                    agent_name: req.agent.clone(),
                    path_pattern: path.clone(),
                    exclusive: req.exclusive,
                    reason: req.reason.clone(),
                    created_ts: Some(ts(now)),
                    expires_ts: ts(expires),
                    released_ts: None,
                });
            }
            Ok(ReserveResult { granted, conflicts })
        })
    }

    fn release(&self, project: &str, agent: &str, paths: &[String]) -> Result<usize, MailError> {
        self.with_agent_tx(project, agent, |tx, pid, now| {
            let mut n = 0;
            if paths.is_empty() {
                n = tx
                    .execute(
                        "UPDATE mail_reservations SET released_us = ?3
                         WHERE project_id = ?1 AND agent = ?2 AND released_us IS NULL",
                        params![pid, agent, now],
                    )
                    .map_err(db_err)?;
            } else {
                for p in paths {
                    n += tx
                        .execute(
                            "UPDATE mail_reservations SET released_us = ?4
                             WHERE project_id = ?1 AND agent = ?2 AND path_pattern = ?3 AND released_us IS NULL",
                            params![pid, agent, p, now],
                        )
                        .map_err(db_err)?;
                }
            }
            Ok(n)
        })
    }

    fn renew(
        &self,
        project: &str,
        agent: &str,
        paths: &[String],
        extend: Duration,
    ) -> Result<usize, MailError> {
        let extend_us = (extend.as_secs().max(60) as i64).saturating_mul(1_000_000);
        self.with_agent_tx(project, agent, |tx, pid, now| {
            let mut n = 0;
            for r in active(tx, pid)? {
                if r.agent_name != agent || !(paths.is_empty() || paths.contains(&r.path_pattern)) {
                    continue;
                }
                let new = us(r.expires_ts).max(now) + extend_us;
                n += tx
                    .execute(
                        "UPDATE mail_reservations SET expires_us = ?2 WHERE id = ?1",
                        params![r.id, new],
                    )
                    .map_err(db_err)?;
            }
            Ok(n)
        })
    }

    fn list_reservations(
        &self,
        project: &str,
        agent: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<Reservation>, MailError> {
        self.with(|c| {
            let pid = project_id(c, project)?;
            expire(c, pid, now_us())?;
            let mut st = c
                .prepare(&format!(
                    "SELECT {RES_COLS} FROM mail_reservations
                     WHERE project_id = ?1 AND (?2 IS NULL OR agent = ?2)
                       AND (?3 = 0 OR released_us IS NULL)
                     ORDER BY id"
                ))
                .map_err(db_err)?;
            let rows = st
                .query_map(params![pid, agent, active_only as i64], row_reservation)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(rows)
        })
    }

    fn health(&self) -> Result<MailHealth, MailError> {
        self.with(|c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map_err(db_err)?;
            Ok(MailHealth {
                status: "ok".into(),
                backend: "embedded".into(),
                location: self.path.display().to_string(),
            })
        })
    }
}
