//! The session and socket `gaffer spawn` last made for this project, kept in
//! `.gaffer/last-spawn.json`, so that `gaffer status` (and every command that talks to tmux)
//! finds that session without `--session`/`--socket`.

use gaffer_tmux::cmd::Socket;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `gaffer spawn` last made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSpawn {
    /// The session.
    pub session: String,
    /// `tmux -L` name, empty for none.
    #[serde(default)]
    pub socket_name: String,
    /// `tmux -S` path, empty for none.
    #[serde(default)]
    pub socket_path: String,
}

impl LastSpawn {
    /// The record of a spawn of `session` on `socket`.
    pub fn new(session: &str, socket: &Socket) -> LastSpawn {
        let (socket_name, socket_path) = match socket {
            Socket::Default => (String::new(), String::new()),
            Socket::Name(n) => (n.clone(), String::new()),
            Socket::Path(p) => (String::new(), p.display().to_string()),
        };
        LastSpawn {
            session: session.to_string(),
            socket_name,
            socket_path,
        }
    }

    /// The socket it was made on.
    pub fn socket(&self) -> Socket {
        Socket::from_config(&self.socket_name, &self.socket_path)
    }

    /// The flags that reach it: `--session S [--socket N | --socket-path P]`, shell-quoted.
    pub fn flags(&self) -> String {
        let q = word;
        let mut f = format!("--session {}", q(&self.session));
        if !self.socket_path.is_empty() {
            f.push_str(&format!(" --socket-path {}", q(&self.socket_path)));
        } else if !self.socket_name.is_empty() {
            f.push_str(&format!(" --socket {}", q(&self.socket_name)));
        }
        f
    }
}

/// `s` as one shell word: as it is when that is safe, else single-quoted.
pub fn word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./%:@=+,".contains(c));
    if plain {
        s.to_string()
    } else {
        gaffer_tmux::spawn::shell_quote(s)
    }
}

/// `.gaffer/last-spawn.json` of the project at `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(".gaffer").join("last-spawn.json")
}

/// The last spawn recorded for the project at `root`; `None` when there is none or the file
/// cannot be read (a damaged file is ignored with a warning: it is only a default).
pub fn load(root: &Path) -> Option<LastSpawn> {
    let p = path(root);
    let text = std::fs::read_to_string(&p).ok()?;
    match serde_json::from_str::<LastSpawn>(&text) {
        Ok(l) if !l.session.is_empty() => Some(l),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(file = %p.display(), error = %e, "ignoring an unreadable last-spawn record");
            None
        }
    }
}

/// Records a spawn for the project at `root`.
pub fn save(root: &Path, last: &LastSpawn) -> std::io::Result<()> {
    let p = path(root);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(last).map_err(std::io::Error::other)?;
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawn_is_remembered_with_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), None);
        let l = LastSpawn::new("try", &Socket::Name("gaffer-try".into()));
        save(dir.path(), &l).unwrap();
        assert_eq!(load(dir.path()), Some(l.clone()));
        assert_eq!(l.socket(), Socket::Name("gaffer-try".into()));
        assert_eq!(l.flags(), "--session try --socket gaffer-try");
        let p = LastSpawn::new("my try", &Socket::Path("/tmp/s".into()));
        assert_eq!(p.flags(), "--session 'my try' --socket-path /tmp/s");
        assert_eq!(LastSpawn::new("x", &Socket::Default).flags(), "--session x");
        std::fs::write(path(dir.path()), "{not json").unwrap();
        assert_eq!(load(dir.path()), None);
    }
}
