//! The real CLI of kind `gmi`: its throwaway HOME and launch. (To be written.)

use super::{Launch, LaunchOptions};
use std::path::Path;

/// Writes the config under `home` and returns the launch.
pub fn prepare(
    _home: &Path,
    _cwd: &Path,
    _model_url: &str,
    _opts: &LaunchOptions,
) -> std::io::Result<Launch> {
    Err(std::io::Error::other("the gmi launcher is not written yet"))
}
