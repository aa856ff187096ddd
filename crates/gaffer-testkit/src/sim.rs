//! The gaffer-sim executable, built next to the test binaries once per test process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The directory cargo puts the workspace's executables in (`target/<profile>`), found from
/// the running test executable (`target/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let deps = exe
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", exe.display()));
    match deps.file_name().and_then(|n| n.to_str()) {
        Some("deps") => deps
            .parent()
            .map(PathBuf::from)
            .unwrap_or(deps.to_path_buf()),
        _ => deps.to_path_buf(),
    }
}

/// Builds gaffer-sim (a no-op when it is up to date) and returns its path. Panics when the
/// build fails (tests only).
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            // A benchmark (`cargo bench`) runs from target/release: build the sim there too.
            let release = target_dir().ends_with("release");
            let ok = Command::new(cargo)
                .args(["build", "-p", "gaffer-sim", "--bin", "gaffer-sim"])
                .args(release.then_some("--release"))
                .current_dir(crate::workspace_root())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "building gaffer-sim failed");
            let bin = target_dir().join("gaffer-sim");
            assert!(bin.is_file(), "{} was not built", bin.display());
            bin
        })
        .clone()
}
