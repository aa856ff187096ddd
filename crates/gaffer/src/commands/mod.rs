//! One module per command.

pub mod config;
pub mod send;
pub mod status;
