//! gaffer-coordinator: the runtime. It wires the pure policy of gaffer-core to the ports
//! (panes, mailbox, work source), runs the loops, publishes events and keeps the ledger.

pub mod bus;
pub mod ledger;
pub mod monitor;
pub mod observe;
pub mod session;

pub use bus::EventBus;
pub use session::{CoordinatorError, Identity, Ports, SessionCoordinator};
