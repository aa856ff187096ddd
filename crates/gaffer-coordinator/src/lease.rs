//! Which process decides: a lease is a write lock (`fcntl`; on Linux an open-file-description
//! lock, so that no other descriptor of the same file can drop it) on a file in `.gaffer/`, held
//! for the life of the [`Lease`]. The kernel drops it when its process ends, however it ends, so
//! a crash never leaves a stale lease. The file says who holds it (`gaffer run, pid
//! 4242, session main`), for the message of whoever finds it taken. Another process can ask
//! whether a lease is held ([`holder`]) without taking it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// `gaffer run`'s lease: at most one process decides for a project's ledger.
pub const DECIDER_FILE: &str = "decider.lock";
/// The views' lease (`gaffer serve`, `gaffer dashboard`): while no `gaffer run` holds the
/// decider's lease, the one view holding this one decides and the others follow.
pub const VIEW_FILE: &str = "view.lock";

/// Why a lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another process holds it.
    #[error("{path}: held by {holder}")]
    Held {
        /// The lease file.
        path: PathBuf,
        /// Who holds it, as its file says.
        holder: String,
    },
    /// The file could not be opened or locked.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// A lease held; dropping it (or the process ending) lets it go.
#[derive(Debug)]
pub struct Lease {
    _file: File,
    path: PathBuf,
}

impl Lease {
    /// The lease file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(target_os = "linux")]
const SET: libc::c_int = libc::F_OFD_SETLK;
#[cfg(target_os = "linux")]
const GET: libc::c_int = libc::F_OFD_GETLK;
#[cfg(not(target_os = "linux"))]
const SET: libc::c_int = libc::F_SETLK;
#[cfg(not(target_os = "linux"))]
const GET: libc::c_int = libc::F_GETLK;

fn whole_file(kind: libc::c_short) -> libc::flock {
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value, the fields that matter
    // are set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0;
    fl
}

/// Takes the lease at `path` (creating the file), saying `holder` in it; `Held` when another
/// process has it.
pub fn acquire(path: &Path, holder: &str) -> Result<Lease, LeaseError> {
    let io = |e| LeaseError::Io(path.to_path_buf(), e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    let fl = whole_file(libc::F_WRLCK as libc::c_short);
    // SAFETY: a valid descriptor and a pointer to a live `flock`.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), SET, &fl) };
    if r == -1 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Err(LeaseError::Held {
                path: path.to_path_buf(),
                holder: said(&mut file),
            }),
            _ => Err(io(e)),
        };
    }
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(holder.as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(Lease {
        _file: file,
        path: path.to_path_buf(),
    })
}

/// Who holds the lease at `path`, when anyone does (on Linux: any [`Lease`] but none; this
/// process's own too); `None` when nobody does, or there is no such file. It takes nothing.
pub fn holder(path: &Path) -> Option<String> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    let mut fl = whole_file(libc::F_WRLCK as libc::c_short);
    // SAFETY: a valid descriptor and a pointer to a live `flock`, which the call fills in.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), GET, &mut fl) };
    if r == -1 || fl.l_type == libc::F_UNLCK as libc::c_short {
        return None;
    }
    Some(said(&mut file))
}

fn said(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(512).read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "another process".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_lease_held_by_another_process_is_refused_and_named_and_freed_when_it_ends() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(DECIDER_FILE);
        assert_eq!(holder(&path), None, "no file, no holder");
        // Another process: this test binary again, running the ignored test below.
        let mut child = Command::new(std::env::current_exe().unwrap_or_else(|e| panic!("{e}")))
            .args([
                "--exact",
                "lease::tests::hold_the_lease_for_a_while",
                "--ignored",
                "--nocapture",
            ])
            .env("GAFFER_LEASE_TEST_PATH", &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while holder(&path).is_none() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(holder(&path).as_deref(), Some("gaffer run, pid test"));
        match acquire(&path, "gaffer run, pid me") {
            Err(LeaseError::Held { holder, .. }) => assert_eq!(holder, "gaffer run, pid test"),
            other => panic!("{other:?}"),
        }
        let _ = child.kill();
        let _ = child.wait();
        // Killed: the kernel let the lease go.
        assert_eq!(holder(&path), None);
        let lease = acquire(&path, "gaffer run, pid me").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(lease.path()).unwrap_or_default(),
            "gaffer run, pid me"
        );
        // Looking does not drop it (no other descriptor can), and a second taker is refused.
        assert_eq!(holder(&path).as_deref(), Some("gaffer run, pid me"));
        assert!(matches!(
            acquire(&path, "again"),
            Err(LeaseError::Held { .. })
        ));
        drop(lease);
        assert_eq!(holder(&path), None, "dropped, free");
    }

    /// The other process of the test above (run only by it).
    #[test]
    #[ignore]
    fn hold_the_lease_for_a_while() {
        let Some(path) = std::env::var_os("GAFFER_LEASE_TEST_PATH") else {
            return;
        };
        let _lease =
            acquire(Path::new(&path), "gaffer run, pid test").unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(std::time::Duration::from_secs(30));
    }
}
