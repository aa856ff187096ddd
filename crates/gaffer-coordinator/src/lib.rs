//! gaffer-coordinator: the runtime. It runs the loop of gaffer-core's `cycle` against the
//! ports (panes, mailbox, work source): [`observe`] builds a snapshot, `cycle::decide` makes
//! the decisions, [`act`] carries them out, [`report`] hands the events to their consumers,
//! and [`scheduler`] runs the passes at their intervals. [`SessionCoordinator`] is the
//! reference API over it.

pub mod act;
pub mod bus;
pub(crate) mod claims;
pub mod control;
pub mod disk;
pub mod fleet;
pub mod follow;
pub mod lease;
pub mod ledger;
pub mod memory;
pub mod observe;
pub mod report;
pub(crate) mod scheduler;
pub mod session;
pub mod signal_store;
pub mod wake;

pub use bus::EventBus;
pub use observe::monitor;
pub use report::{Consumer, Origin};
pub use session::{CoordinatorError, EventSink, Identity, Ports, SessionCoordinator};
