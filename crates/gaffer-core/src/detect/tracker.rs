//! Per-pane time series: hysteresis, STALLED and the activity clock.
//!
//! [`AgentTracker`] is a pure state machine; the caller passes each [`Verdict`] (whose
//! `observed_at` is the clock) and whether the pane's content changed since the previous
//! observation (use [`super::activity_fingerprint`], which ignores spinner animation and ticking
//! counters, so a spinner alone is not progress).
//!
//! Hysteresis (documented choice):
//! * ERROR, EXITED, BLOCKED and RATE_LIMITED are adopted at once: they need attention, and a
//!   delay would only hide them. Their rules already look only at the live bottom of the screen.
//! * A busy verdict (GENERATING/THINKING) with confidence ≥ 0.9 (a live spinner with its
//!   interrupt hint) is adopted at once, and GENERATING ↔ THINKING switches at once.
//! * Every other change (to WAITING, UNKNOWN, or a weak busy verdict) must be proposed by
//!   `confirm_observations` consecutive observations. This stops the classic flicker: a redraw
//!   caught between spinner frames reads as WAITING for one capture.
//! * A status decided by a hook or the session file (see [`crate::fuse`]) is adopted at once:
//!   those sources are exact, and flicker is a screen artefact.
//! * The first verdict is adopted at once.
//!
//! STALLED: the status is busy and the content has not changed for `stall_threshold`. Any
//! content change ends it at once.
//!
//! `last_activity` is the time of the last content change (never simply "now"): the first
//! observation only sets the baseline, and later observations move it only when
//! `content_changed` is true.

use super::Verdict;
use crate::status::AgentStatus;
use crate::time::{self, Timestamp};
use serde::{Serialize, Serializer};
use std::time::Duration;

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Busy with no content change for this long ⇒ STALLED.
    pub stall_threshold: Duration,
    /// Consecutive observations needed to adopt a non-urgent change (1 = at once).
    pub confirm_observations: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            stall_threshold: Duration::from_secs(30),
            confirm_observations: 2,
        }
    }
}

/// The tracked state of a pane after one observation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// Status after hysteresis and STALLED.
    pub status: AgentStatus,
    /// The raw verdict of this screen.
    pub verdict: Verdict,
    /// Last content change.
    #[serde(with = "time::rfc3339")]
    pub last_activity: Timestamp,
    /// Time since the last content change (seconds in JSON).
    #[serde(serialize_with = "secs")]
    pub idle_for: Duration,
    /// When the current status began.
    #[serde(with = "time::rfc3339")]
    pub since: Timestamp,
    /// Whether the status changed at this observation.
    pub changed: bool,
    /// The status before the change, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<AgentStatus>,
    /// A proposed status still waiting for confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<AgentStatus>,
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// One pane's tracker.
#[derive(Debug, Clone)]
pub struct AgentTracker {
    cfg: TrackerConfig,
    status: Option<AgentStatus>,
    since: Option<Timestamp>,
    last_activity: Option<Timestamp>,
    pending: Option<(AgentStatus, u32)>,
}

fn urgent(s: AgentStatus) -> bool {
    matches!(
        s,
        AgentStatus::Error | AgentStatus::Exited | AgentStatus::Blocked | AgentStatus::RateLimited
    )
}

impl AgentTracker {
    /// A tracker that has seen nothing yet.
    pub fn new(cfg: TrackerConfig) -> Self {
        AgentTracker {
            cfg,
            status: None,
            since: None,
            last_activity: None,
            pending: None,
        }
    }

    /// The current status (UNKNOWN before the first observation).
    pub fn status(&self) -> AgentStatus {
        self.status.unwrap_or(AgentStatus::Unknown)
    }

    /// Feeds one observation.
    pub fn observe(&mut self, verdict: Verdict, content_changed: bool) -> Observation {
        let now = verdict.observed_at;
        let last_activity = match self.last_activity {
            None => now,
            Some(_) if content_changed => now,
            Some(t) => t,
        };
        self.last_activity = Some(last_activity);
        let idle_for = (now - last_activity).to_std().unwrap_or(Duration::ZERO);
        let proposed = verdict.status;
        let before = self.status;

        // the hysteresis-filtered base status (busy, not stalled)
        let base_current = match self.status {
            Some(AgentStatus::Stalled) => Some(AgentStatus::Generating),
            s => s,
        };
        let mut next = match base_current {
            None => {
                self.pending = None;
                proposed
            }
            Some(cur) if cur == proposed => {
                self.pending = None;
                cur
            }
            Some(cur) => {
                let exact = verdict.fusion.as_ref().is_some_and(|f| f.is_exact());
                let immediate = exact
                    || urgent(proposed)
                    || (proposed.is_busy() && (cur.is_busy() || verdict.confidence >= 0.9))
                    || self.cfg.confirm_observations <= 1;
                if immediate {
                    self.pending = None;
                    proposed
                } else {
                    let count = match self.pending {
                        Some((p, n)) if p == proposed => n + 1,
                        _ => 1,
                    };
                    if count >= self.cfg.confirm_observations {
                        self.pending = None;
                        proposed
                    } else {
                        self.pending = Some((proposed, count));
                        cur
                    }
                }
            }
        };
        // keep THINKING vs GENERATING from the verdict when we stay busy after a stall
        if self.status == Some(AgentStatus::Stalled) && next.is_busy() && proposed.is_busy() {
            next = proposed;
        }
        if next.is_busy() && !content_changed && idle_for >= self.cfg.stall_threshold {
            next = AgentStatus::Stalled;
        }
        let changed = before != Some(next);
        if changed {
            self.since = Some(now);
        }
        self.status = Some(next);
        Observation {
            status: next,
            verdict,
            last_activity,
            idle_for,
            since: self.since.unwrap_or(now),
            changed,
            previous: if changed { before } else { None },
            pending: self.pending.map(|(p, _)| p),
        }
    }
}
