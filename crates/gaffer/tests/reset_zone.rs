//! A rate-limit reset printed without a zone ("resets 3pm") is read in the agents' local zone:
//! `[detection] timezone`, else this machine's (`TZ`); run as the real binary.

use chrono::{Timelike, Utc};
use chrono_tz::Tz;
use gaffer_core::exit;
use std::path::Path;

const SCREEN: &str = "> go\n  ⎿  5-hour limit reached ∙ resets 3pm\n\n────\n❯ \n────\n";

/// `gaffer --json explain --agent cc --file <screen>` with `TZ` set; the reset it reports.
fn reset(dir: &Path, tz: &str) -> Result<chrono::DateTime<Utc>, String> {
    let file = dir.join("screen.txt");
    std::fs::write(&file, SCREEN).expect("write screen");
    let out = gaffer_testkit::cli::command(env!("CARGO_BIN_EXE_gaffer"), dir)
        .env("TZ", tz)
        .args(["--json", "explain", "--agent", "cc", "--file"])
        .arg(&file)
        .output()
        .expect("run gaffer");
    if out.status.code() != Some(exit::SUCCESS) {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let at = v["rate_limit_reset"]
        .as_str()
        .unwrap_or_else(|| panic!("no reset in {v}"));
    Ok(gaffer_core::time::parse_rfc3339(at).expect("rfc3339"))
}

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(d.path().join(".git")).expect("mkdir");
    d
}

#[test]
fn resets_without_a_zone_are_the_machines_local_time() {
    let d = project();
    for zone in [
        "Europe/Berlin",
        "Asia/Kolkata",
        "America/Los_Angeles",
        "UTC",
    ] {
        let tz: Tz = zone.parse().expect("zone");
        let r = reset(d.path(), zone).expect("explain");
        let local = r.with_timezone(&tz);
        assert_eq!(
            (local.hour(), local.minute()),
            (15, 0),
            "{zone}: {r} is {local}"
        );
        let ahead = r - Utc::now();
        assert!(
            ahead > chrono::Duration::zero() && ahead <= chrono::Duration::days(1),
            "{zone}: the next 3pm, got {r}"
        );
    }
}

#[test]
fn the_configured_zone_wins_and_a_bad_one_is_a_config_error() {
    let d = project();
    std::fs::create_dir(d.path().join(".gaffer")).expect("mkdir");
    let config = d.path().join(".gaffer/config.toml");
    std::fs::write(&config, "[detection]\ntimezone = \"America/New_York\"\n").expect("write");
    let r = reset(d.path(), "Asia/Tokyo").expect("explain");
    let local = r.with_timezone(&chrono_tz::America::New_York);
    assert_eq!((local.hour(), local.minute()), (15, 0), "{r} is {local}");

    std::fs::write(&config, "[detection]\ntimezone = \"Mars/Olympus_Mons\"\n").expect("write");
    let err = reset(d.path(), "UTC").expect_err("a config error");
    assert!(
        err.contains("[detection] timezone") && err.contains("Mars/Olympus_Mons"),
        "{err}"
    );
}
