//! Free space on a filesystem, for the ledger's full-disk check.

use std::path::Path;

/// Bytes an unprivileged writer can still allocate on the filesystem holding `path`
/// (`statvfs`: available blocks × fragment size); `None` when it cannot be read.
pub fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data; zeroed is a valid value for it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_directory_has_a_figure_and_a_missing_one_none() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let free = available_bytes(dir.path());
        assert!(free.is_some_and(|b| b > 0), "{free:?}");
        assert_eq!(available_bytes(&dir.path().join("missing/deeper")), None);
        assert_eq!(available_bytes(Path::new("a\0b")), None);
    }
}
