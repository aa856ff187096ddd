//! One human-initiated prompt to one pane, verified: what `gaffer send` and the cockpit's
//! "send" action both do. Only a WAITING agent is sent to (it confirms the delivery by leaving
//! WAITING), unless `force`.

use gaffer_coordinator::observe::ScreenCheck;
use gaffer_core::detect::{Detector, ScreenInput};
use gaffer_core::panes::{DeliveryOptions, DeliveryReport, PaneInfo, Panes};
use gaffer_core::status::AgentStatus;

/// Why a prompt was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The agent is busy, blocked or gone: sending would not be confirmed.
    #[error("agent is {0}, not WAITING; not sent (--force sends anyway)")]
    NotWaiting(AgentStatus),
    /// The pane's screen could not be read.
    #[error("pane could not be captured")]
    NoScreen,
    /// tmux failed while delivering.
    #[error("{0}")]
    Delivery(String),
}

/// The detected status of `info`'s screen now, when it can be captured.
pub fn status_now(panes: &dyn Panes, det: &Detector, info: &PaneInfo) -> Option<AgentStatus> {
    let caps = panes.capture(std::slice::from_ref(&info.pane_id)).ok()?;
    let (_, screen) = caps.first()?;
    let v = det.detect(&ScreenInput {
        agent_type: &info.agent_type,
        screen,
        current_command: &info.current_command,
        observed_at: chrono::Utc::now(),
    });
    Some(v.status)
}

/// Sends `text` to `info`'s pane and waits (up to `opts.deadline`) until the agent took it.
pub fn send_verified(
    panes: &dyn Panes,
    det: &Detector,
    info: &PaneInfo,
    text: &str,
    opts: &DeliveryOptions,
    force: bool,
) -> Result<DeliveryReport, SendError> {
    match status_now(panes, det, info) {
        Some(AgentStatus::Waiting) => {}
        Some(other) if !force => return Err(SendError::NotWaiting(other)),
        None if !force => return Err(SendError::NoScreen),
        _ => {}
    }
    let mut check = ScreenCheck::new(panes, det, info, text);
    panes
        .deliver(&info.pane_id, text, opts, &mut check)
        .map_err(|e| SendError::Delivery(e.to_string()))
}
