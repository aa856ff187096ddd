//! Inputs over their size limit are refused with a clear error, through the real binary.

use gaffer_core::{exit, limits};

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(d.path().join(".git")).expect("mkdir");
    d
}

/// A sparse file of `len` bytes (no disk used).
fn sparse(path: &std::path::Path, len: u64) {
    let f = std::fs::File::create(path).expect("create");
    f.set_len(len).expect("set_len");
}

#[test]
fn an_oversized_capture_is_not_explained() {
    let d = project();
    let file = d.path().join("screen.txt");
    sparse(&file, 2 * limits::MAX_SCREEN_BYTES as u64 + 1);
    let out = gaffer_testkit::cli::run(
        env!("CARGO_BIN_EXE_gaffer"),
        d.path(),
        &[
            "explain",
            "--agent",
            "cc",
            "--file",
            file.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(out.status.code(), Some(exit::FAILURE));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("larger than 2 MiB"), "{err}");
}

#[test]
fn an_oversized_config_file_is_a_config_error() {
    let d = project();
    std::fs::create_dir(d.path().join(".gaffer")).expect("mkdir");
    sparse(
        &d.path().join(".gaffer/config.toml"),
        limits::MAX_CONFIG_FILE_BYTES + 1,
    );
    let out = gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), d.path(), &["config", "show"]);
    assert_eq!(out.status.code(), Some(exit::CONFIG));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("larger than 4 MiB"), "{err}");
}
