//! Agents on another host reporting home: the messages `gaffer done`, `refuse`, `quality
//! record-tests` and `hook` send to the coordinator instead of writing a ledger they cannot
//! reach, the acknowledgement, and the marker that tells a command it runs on a remote host.
//!
//! A message travels as one JSON line: over the host's reverse-forwarded socket (answered by
//! one [`Ack`] line), or appended to the host's spool (`.gaffer/outbox.jsonl`) when the socket
//! gives no ack in time. Every message has an id; the coordinator applies each id once.

use crate::quality::TestRunMetrics;
use crate::signals::Signal;
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// The marker's file name inside the remote project's `.gaffer/`.
pub const MARKER_FILE: &str = "remote.json";
/// The spool's file name inside the remote project's `.gaffer/`.
pub const SPOOL_FILE: &str = "outbox.jsonl";
/// The spool taken for draining (renamed from [`SPOOL_FILE`]); read again after a failed drain.
pub const TAKEN_FILE: &str = "outbox.taken";
/// The reverse-forwarded socket's file name inside the remote project's `.gaffer/`.
pub const SOCKET_FILE: &str = "home.sock";
/// The longest message line accepted (a hook payload is at most 1 MiB, a report less).
pub const MAX_LINE: usize = 2 << 20;

/// Written by the coordinator into `<project>/.gaffer/remote.json` on a host when it connects:
/// commands run under that directory report home instead of writing a ledger there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteMarker {
    /// The host's name in the coordinator's `[[hosts]]`.
    pub host: String,
    /// The reverse-forwarded socket on the host (absolute path).
    pub socket: String,
    /// The spool file on the host (absolute path).
    pub spool: String,
}

/// What a message reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    /// `gaffer done BEAD`.
    Done {
        /// The bead.
        bead_id: String,
        /// The reason given.
        #[serde(default)]
        reason: String,
    },
    /// `gaffer refuse BEAD`.
    Refuse {
        /// The bead.
        bead_id: String,
        /// The reason given.
        #[serde(default)]
        reason: String,
    },
    /// `gaffer quality record-tests`.
    TestRun {
        /// The run (its `agent_pane_id` a pane id on the host, or empty).
        run: TestRunMetrics,
    },
    /// `gaffer hook`.
    Signal {
        /// The signal (its `pane_id` the pane id on the host, `%N`).
        signal: Signal,
    },
}

impl Report {
    /// The kind's wire name (`done`, `refuse`, `test_run`, `signal`).
    pub fn kind(&self) -> &'static str {
        match self {
            Report::Done { .. } => "done",
            Report::Refuse { .. } => "refuse",
            Report::TestRun { .. } => "test_run",
            Report::Signal { .. } => "signal",
        }
    }

    /// Makes the pane ids it carries host-qualified (`%3` → `box1:%3`): the host is the one
    /// whose connection it arrived on, never what the message says.
    pub fn qualify(&mut self, host: &str) {
        let q = |id: &mut String| {
            if id.starts_with('%') {
                *id = format!("{host}:{id}");
            }
        };
        match self {
            Report::TestRun { run } => q(&mut run.agent_pane_id),
            Report::Signal { signal } => {
                q(&mut signal.pane_id);
                // The remote tmux socket means nothing here.
                signal.socket = None;
            }
            Report::Done { .. } | Report::Refuse { .. } => {}
        }
    }
}

/// One message from a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeMessage {
    /// Unique per message (made by the sender); the coordinator applies an id once.
    pub id: String,
    /// The host the sender believes it runs on (from the marker; informational).
    #[serde(default)]
    pub host: String,
    /// When the command ran.
    #[serde(with = "time::rfc3339")]
    pub sent_at: Timestamp,
    /// What it reports.
    #[serde(flatten)]
    pub report: Report,
}

/// The coordinator's answer to one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The message's id.
    pub id: String,
    /// Whether it was applied (or had been already).
    pub ok: bool,
    /// Not applied for a passing reason (the ledger is busy): the sender keeps it in its spool.
    #[serde(default)]
    pub retry: bool,
    /// Why not, or a note (`duplicate`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The messages of a spool's text, and the lines that are not messages (line number, error).
pub fn parse_spool(text: &str) -> (Vec<HomeMessage>, Vec<(usize, String)>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<HomeMessage>(line) {
            Ok(m) => good.push(m),
            Err(e) => bad.push((i + 1, e.to_string())),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        time::parse_rfc3339("2026-12-07T10:00:00Z").unwrap()
    }

    #[test]
    fn a_message_is_one_json_line_and_round_trips() {
        let m = HomeMessage {
            id: "m1".into(),
            host: "box1".into(),
            sent_at: at(),
            report: Report::Done {
                bead_id: "b-1".into(),
                reason: "tests pass".into(),
            },
        };
        let line = serde_json::to_string(&m).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""kind":"done""#), "{line}");
        assert_eq!(serde_json::from_str::<HomeMessage>(&line).unwrap(), m);
    }

    #[test]
    fn pane_ids_are_qualified_with_the_arrival_host() {
        let mut r = Report::TestRun {
            run: TestRunMetrics {
                timestamp: at(),
                agent_pane_id: "%4".into(),
                passed: 1,
                failed: 0,
                skipped: 0,
                duration: 0,
                package: String::new(),
            },
        };
        r.qualify("box1");
        let Report::TestRun { run } = &r else {
            unreachable!()
        };
        assert_eq!(run.agent_pane_id, "box1:%4");
        // An empty pane stays empty; done names no pane.
        let mut d = Report::Done {
            bead_id: "b".into(),
            reason: String::new(),
        };
        d.qualify("box1");
        assert_eq!(d.kind(), "done");
    }

    #[test]
    fn a_spool_with_a_torn_line_keeps_the_good_ones() {
        let good = serde_json::to_string(&HomeMessage {
            id: "a".into(),
            host: String::new(),
            sent_at: at(),
            report: Report::Refuse {
                bead_id: "b".into(),
                reason: "no".into(),
            },
        })
        .unwrap();
        let text = format!("{good}\n{{\"id\":\"b\",\"ki\n\n{good}\n");
        let (msgs, bad) = parse_spool(&text);
        assert_eq!(msgs.len(), 2);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 2);
    }
}
