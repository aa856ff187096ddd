//! The README cannot rot: every `gaffer …` command in its shell examples names a real
//! subcommand, and every flag it uses is one that subcommand accepts; every script it names
//! exists and is executable. (The demo itself is run by demo_e2e.rs and `.ci/run`.)

use std::path::PathBuf;
use std::process::Command;

fn readme() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(p).expect("README.md")
}

/// The lines of the README's ```sh blocks.
fn shell_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            inside = !inside && t == "```sh";
            continue;
        }
        if inside && !t.is_empty() {
            out.push(t.to_string());
        }
    }
    out
}

/// Splits a shell line into words: quotes grouped, `#` comments dropped.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    any = true;
                }
                '#' if cur.is_empty() => break,
                c if c.is_whitespace() => {
                    if !cur.is_empty() || any {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                c => cur.push(c),
            },
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(path)
        .arg("--help")
        .output()
        .expect("gaffer runs");
    assert!(
        out.status.success(),
        "`gaffer {} --help` fails: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_readme_command_parses() {
    let text = readme();
    let mut checked = 0;
    let mut scripts = 0;
    for line in shell_lines(&text) {
        for segment in line.split('|') {
            let w = words(segment);
            let Some(first) = w.first() else { continue };
            if first.starts_with("scripts/") {
                let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../..")
                    .join(first);
                let meta = std::fs::metadata(&p).unwrap_or_else(|_| panic!("{first} exists"));
                use std::os::unix::fs::PermissionsExt;
                assert!(
                    meta.permissions().mode() & 0o111 != 0,
                    "{first} is executable"
                );
                scripts += 1;
                // Its flags go to `gaffer demo` (scripts/demo.sh) and must be demo flags.
                if first == "scripts/demo.sh" {
                    let h = help(&["demo".to_string()]);
                    for f in w.iter().skip(1).filter(|x| x.starts_with("--")) {
                        assert!(h.contains(f.as_str()), "gaffer demo has no {f}: {line}");
                    }
                }
                continue;
            }
            if first != "gaffer" {
                continue;
            }
            // The subcommand path: the words before the first option, placeholder or value.
            let mut path: Vec<String> = Vec::new();
            let mut h = help(&path);
            for word in &w[1..] {
                let is_sub = word.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    && !word.starts_with('-')
                    && h.lines().any(|l| {
                        l.trim_start().starts_with(&format!("{word} "))
                            && l.starts_with("  ")
                            && !l.trim_start().starts_with('-')
                    });
                if !is_sub {
                    break;
                }
                path.push(word.clone());
                h = help(&path);
            }
            assert!(!path.is_empty(), "no subcommand in README line: {line}");
            for f in w.iter().filter(|x| x.starts_with("--")) {
                let name = f.trim_end_matches(']').split('=').next().unwrap_or(f);
                assert!(
                    h.contains(&format!("{name} ")) || h.contains(&format!("{name}\n")),
                    "`gaffer {}` has no {name} (README: {line})",
                    path.join(" ")
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "README shows many commands ({checked} checked)"
    );
    assert!(scripts >= 2, "the quickstart's scripts are checked");
}

#[test]
fn readme_keeps_its_reference_sections() {
    let text = readme();
    for heading in [
        "## Quickstart",
        "## Using it with real agents",
        "## Commands",
        "## Configuration",
        "## Exit codes",
        "## JSON conventions",
        "## Architecture",
    ] {
        assert!(text.contains(heading), "README lacks {heading}");
    }
    // The exit-code table matches the binary's codes.
    for (code, name, _) in gaffer_core::exit::ALL {
        assert!(
            text.contains(&format!("| {code} | `{name}` |")),
            "exit code {code} {name} is documented"
        );
    }
}
