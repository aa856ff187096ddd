//! One module per command.

pub mod config;
pub mod explain;
pub mod send;
pub mod status;
