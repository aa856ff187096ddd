//! gaffer-sim: simulated Claude Code, Codex and Gemini CLI screens.
//!
//! The library holds the pure parts: the simulated agent's model (state, transcript, composer),
//! the script format, the input decoder (keys and bracketed paste) and the renderer that turns
//! the model into screen rows. The binary (`src/main.rs`) adds the terminal and the clock.
//!
//! - [`state`]: the agent kinds and the states;
//! - [`script`]: the script format;
//! - [`input`]: the input decoder;
//! - [`sim`]: the model and its reactions;
//! - [`render`]: the transcript text and the screen rows.

pub mod input;
pub mod render;
pub mod script;
pub mod sim;
pub mod state;

pub use input::{Decoder, Input};
pub use script::{Hook, Step, parse_script};
pub use sim::{Action, COMPACT_SECS, CONTEXT_AFTER_COMPACT, Sim, prompt_bead, prompt_mail_name};
pub use state::{Agent, SimState};

#[cfg(test)]
mod tests;
