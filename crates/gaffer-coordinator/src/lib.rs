//! gaffer-coordinator: the runtime library (SessionCoordinator, loops, event bus, ledger).

pub mod monitor;
