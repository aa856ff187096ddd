//! The pinned real agent CLIs: `agents.lock` and the per-machine install cache.

use std::path::{Path, PathBuf};

/// One line of `agents.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedAgent {
    /// gaffer's agent type: `cc`, `cod`, `gmi`.
    pub kind: String,
    /// The npm package.
    pub package: String,
    /// The exact version.
    pub version: String,
    /// The executable's name in `node_modules/.bin`.
    pub bin: String,
}

impl PinnedAgent {
    /// Where `scripts/install-agents.sh` installs it.
    pub fn prefix(&self) -> PathBuf {
        cache_dir().join(format!("{}-{}", self.kind, self.version))
    }
    /// The executable, when installed.
    pub fn executable(&self) -> Option<PathBuf> {
        let p = self.prefix().join("node_modules/.bin").join(&self.bin);
        p.exists().then_some(p)
    }
}

/// `$XDG_CACHE_HOME/gaffer/agents` (or `~/.cache/gaffer/agents`).
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("gaffer/agents")
}

/// Parses `agents.lock` text: `kind package version bin` per line, `#` comments.
pub fn parse_lock(text: &str) -> Vec<PinnedAgent> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| PinnedAgent {
                kind: f[0].into(),
                package: f[1].into(),
                version: f[2].into(),
                bin: f[3].into(),
            })
        })
        .collect()
}

/// The workspace's `agents.lock`.
pub fn pinned() -> Vec<PinnedAgent> {
    let path = workspace_root().join("agents.lock");
    parse_lock(&std::fs::read_to_string(&path).unwrap_or_default())
}

/// The pinned agent of `kind`, installed; panics with the remedy when it is not (in CI the
/// install script runs first, so a missing CLI is a real failure).
pub fn require(kind: &str) -> (PinnedAgent, PathBuf) {
    let agent = pinned()
        .into_iter()
        .find(|a| a.kind == kind)
        .unwrap_or_else(|| panic!("agents.lock names no agent of kind {kind}"));
    match agent.executable() {
        Some(exe) => (agent, exe),
        None => panic!(
            "{} {} is not installed in {}: run scripts/install-agents.sh",
            agent.package,
            agent.version,
            agent.prefix().display()
        ),
    }
}

/// The workspace root (where `agents.lock` is), as built.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_lines_parse() {
        let a = parse_lock("# c\ncc @anthropic-ai/claude-code 2.1.332 claude\n\nbad line\n");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].bin, "claude");
        assert!(
            pinned().len() >= 3,
            "the workspace's agents.lock pins three CLIs"
        );
    }
}
