//! Text from outside never reaches the user's terminal as escapes: a bead titled with escape
//! sequences is printed inert, in text and in JSON.

use std::path::Path;

const NOW: &str = "2026-11-28T19:05:00Z";

/// A title that would clear the screen, retitle the window, draw a sixel, start an 8-bit CSI
/// and switch the character set.
const EVIL: &str = "Fix \u{1b}[2J\u{1b}[H\u{1b}]0;pwned\u{7}\u{1b}Pq#0;2\u{1b}\\\u{9b}31m\u{1b}(0login\u{1b}[2~\r\u{8}";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".beads")).expect("mkdir");
    let issue = serde_json::json!({
        "id": "esc-1", "title": EVIL, "description": EVIL, "status": "open", "priority": 1,
        "issue_type": "task", "created_at": "2026-11-18T19:05:00Z",
        "updated_at": "2026-11-18T19:05:00Z", "labels": [EVIL],
    });
    std::fs::write(dir.path().join(".beads/issues.jsonl"), format!("{issue}\n")).expect("write");
    dir
}

/// Every byte a terminal acts on: C0 controls but line feed, DEL, and C1 controls (as UTF-8).
fn assert_inert(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let bad: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| (c.is_control() && *c != '\n') || ('\u{7f}'..='\u{9f}').contains(c))
        .collect();
    assert!(bad.is_empty(), "{what} holds controls {bad:?}:\n{text}");
}

fn gaffer(dir: &Path, args: &[&str]) -> std::process::Output {
    gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), dir, args)
}

#[test]
fn a_bead_titled_with_escapes_cannot_rewrite_the_screen() {
    let dir = project();
    let out = gaffer(dir.path(), &["triage", "--now", NOW, "--source", "native"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("esc-1"), "the bead is listed:\n{text}");
    assert!(text.contains("login"), "its title's text is kept:\n{text}");
    assert_inert("triage stdout", &out.stdout);
    assert_inert("triage stderr", &out.stderr);

    // JSON keeps the title exactly, with every control escaped
    let out = gaffer(
        dir.path(),
        &["triage", "--json", "--now", NOW, "--source", "native"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_inert("triage --json stdout", &out.stdout);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let title = v["triage"]["recommendations"][0]["title"].as_str();
    assert_eq!(title, Some(EVIL), "the data is not changed, only escaped");
}
