//! The `Panes` port: what the core needs from a terminal multiplexer (the observation issue
//! fills this in).
