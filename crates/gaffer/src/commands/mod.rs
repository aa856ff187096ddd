//! One module per command.

pub mod config;
