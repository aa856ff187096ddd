//! Running an external tool with a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished tool printed.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Why a tool produced no output.
#[derive(Debug)]
pub enum RunError {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It ran past the deadline and was killed.
    Timeout,
}

/// Finds an executable named `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Runs `program args…` in `dir` with stdin closed, killing it after `timeout`.
pub fn run(
    program: &Path,
    args: &[&str],
    dir: &Path,
    envs: &[(&str, String)],
    timeout: Duration,
) -> Result<ToolOutput, RunError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    // "Text file busy" (ETXTBSY) is transient: a script that was just written can still be
    // open in a child that another thread forked and has not yet exec'ed. Retry briefly.
    let mut attempt = 0;
    let mut child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(26) && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(RunError::Spawn(e)),
        }
    };
    let limit = gaffer_core::limits::MAX_TOOL_OUTPUT_BYTES;
    let out_reader = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let (buf, dropped) = read_capped(&mut s, limit);
            if dropped {
                tracing::warn!(limit, "tool output over the limit: the rest was dropped");
            }
            buf
        })
    });
    let err_reader = child
        .stderr
        .take()
        .map(|mut s| std::thread::spawn(move || read_capped(&mut s, limit).0));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => {
                let _ = child.kill();
                break child.wait().ok();
            }
        }
    };
    let Some(status) = status else {
        // Readers finish once the pipes close; a grandchild holding them is not waited for.
        return Err(RunError::Timeout);
    };
    let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    Ok(ToolOutput {
        code: status.code(),
        stdout: collect(out_reader),
        stderr: collect(err_reader),
    })
}

/// Reads `r` to its end, keeping at most `limit` bytes (the rest is read and dropped, so the
/// writer never blocks on a full pipe); true when something was dropped.
fn read_capped(r: &mut impl Read, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut dropped = false;
    let mut buf = [0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped |= n > room;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, dropped)
}

/// Runs a tool like [`run`], turning a timeout or a failed start into the work-source error
/// naming `tool`.
pub fn run_tool(
    tool: &str,
    program: &Path,
    args: &[&str],
    dir: &Path,
    envs: &[(&str, String)],
    timeout: Duration,
) -> Result<ToolOutput, gaffer_core::work_source::WorkSourceError> {
    use gaffer_core::work_source::WorkSourceError;
    run(program, args, dir, envs, timeout).map_err(|e| match e {
        RunError::Timeout => WorkSourceError::Timeout {
            tool: tool.into(),
            seconds: timeout.as_secs_f64(),
        },
        RunError::Spawn(e) => WorkSourceError::Unavailable {
            tool: tool.into(),
            message: format!("{}: {e}", program.display()),
        },
    })
}

/// Every JSON document in a tool's stdout, in order (br prints a result and then an error
/// envelope for a partial failure). Text before the first `{` or `[` line is ignored.
pub fn json_documents(stdout: &str) -> Vec<serde_json::Value> {
    let trimmed = stdout.trim();
    let start = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        Some(0)
    } else {
        trimmed
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .find(|&i| matches!(trimmed[i..].chars().next(), Some('{') | Some('[')))
    };
    let Some(start) = start else {
        return Vec::new();
    };
    serde_json::Deserializer::from_str(&trimmed[start..])
        .into_iter::<serde_json::Value>()
        .map_while(Result::ok)
        .collect()
}

/// Parses JSON from a tool's stdout leniently: surrounding whitespace and any non-JSON lines
/// before the first `{` or `[` line are ignored.
pub fn lenient_json(stdout: &str) -> Result<serde_json::Value, String> {
    let trimmed = stdout.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Ok(v);
    }
    let start = trimmed
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| matches!(trimmed[i..].chars().next(), Some('{') | Some('[')));
    match start {
        Some(i) => serde_json::from_str(&trimmed[i..]).map_err(|e| e.to_string()),
        None => match serde_json::from_str::<serde_json::Value>(trimmed) {
            Ok(v) => Ok(v),
            Err(e) if trimmed.is_empty() => Err(format!("empty output ({e})")),
            Err(e) => Err(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_documents_and_noise_are_read() {
        let docs =
            json_documents("warning: x\n{\"closed\":[]}\n{\n  \"error\": {\"code\": \"E\"}\n}\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["error"]["code"], "E");
        assert!(json_documents("nothing").is_empty());
        assert_eq!(
            lenient_json(" [1] ").expect("array"),
            serde_json::json!([1])
        );
        assert!(lenient_json("").is_err());
    }
}
