//! One module per command.

pub mod config;
pub mod quality;
pub mod report;
pub mod triage;
pub mod mail;
pub mod explain;
