//! Embeds every rules file: `rules/<kind>.toml` becomes an entry of `detect::BUILTIN_RULES`,
//! so a kind shipped with gaffer is one `kinds.toml` entry and one rules file.

use std::io::Write;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?;
    let out = std::env::var("OUT_DIR").map_err(std::io::Error::other)?;
    let dir = PathBuf::from(manifest).join("rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut kinds: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            kinds.push((stem.to_string(), path.clone()));
        }
    }
    // File-name order, the generic shell rules last.
    kinds.sort_by(|a, b| (a.0 == "shell", &a.0).cmp(&(b.0 == "shell", &b.0)));
    let mut f = std::fs::File::create(PathBuf::from(out).join("builtin_rules.rs"))?;
    writeln!(
        f,
        "/// The embedded rule files, by kind (`rules/<kind>.toml`, all of them); the registry"
    )?;
    writeln!(f, "/// names them ([`crate::kinds`]).")?;
    writeln!(
        f,
        "pub const BUILTIN_RULES: [(&str, &str); {}] = [",
        kinds.len()
    )?;
    for (kind, path) in &kinds {
        writeln!(
            f,
            "    ({kind:?}, include_str!({:?})),",
            path.display().to_string()
        )?;
    }
    writeln!(f, "];")?;
    Ok(())
}
