//! One module per command.

pub mod config;
pub mod control;
pub mod coordinate;
pub mod dashboard;
pub mod demo;
pub mod doctor;
pub mod explain;
pub mod hook;
pub mod hooks;
pub mod mail;
pub mod quality;
pub mod report;
pub mod send;
pub mod serve;
pub mod spawn;
pub mod status;
pub mod triage;
