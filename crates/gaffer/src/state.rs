//! The project's state directory, `.gaffer/`, and its ledger.

use crate::cli::GlobalArgs;
use crate::config_load;
use crate::error::ExitError;
use gaffer_coordinator::ledger::Ledger;
use std::path::PathBuf;

/// `.gaffer/state.db` of the project.
pub fn state_db(global: &GlobalArgs) -> PathBuf {
    config_load::project_root(global)
        .join(".gaffer")
        .join("state.db")
}

/// Opens the project's ledger.
pub fn open_ledger(global: &GlobalArgs) -> Result<Ledger, ExitError> {
    let path = state_db(global);
    Ledger::open(&path).map_err(|e| ExitError::failure(format!("{}: {e}", path.display())))
}
