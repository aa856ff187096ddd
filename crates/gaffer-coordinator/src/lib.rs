//! gaffer-coordinator: the runtime. It wires the pure policy of gaffer-core to the ports
//! (panes, mailbox, work source), runs the loops, publishes events and keeps the ledger.

pub mod ledger;
