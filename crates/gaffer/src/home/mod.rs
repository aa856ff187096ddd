//! Agents on another host reporting home (issue 15, item 4), with no daemon on the host.
//!
//! - [`link`] (the coordinator, `gaffer run`): per `[[hosts]]` entry with a `project`, writes
//!   the marker `<project>/.gaffer/remote.json` there, forwards the host's
//!   `<project>/.gaffer/home.sock` to a local socket over the host's one SSH connection
//!   (`ssh -O forward -R`), answers each message on it, and drains the host's spool on every
//!   (re)connection and pass.
//! - [`client`] (`gaffer done`, `refuse`, `quality record-tests`, `hook` run on the host):
//!   finds the marker, sends the message and waits a short bound for the ack; without one it
//!   appends the message to `<project>/.gaffer/outbox.jsonl` (locked) and exits normally.
//! - [`apply`]: applies a message once (the ledger's `home_reports` record) through the same
//!   code as the local command, and reports `report_received`.

pub mod apply;
pub mod client;
pub mod link;
