//! ConflictDetector: true overlap, exclusive/shared, stable ids, priorities, failing closed.
//! The mailbox here is an in-memory stand-in (pure logic under test).

use chrono::{Duration, TimeZone, Utc};
use gaffer_core::conflicts::{ConflictDetector, ConflictError, ReservationIndex};
use gaffer_core::mailbox::*;
use gaffer_core::time::Timestamp;
use std::collections::HashMap;

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 29, 4, 0, 0)
        .single()
        .unwrap()
}

fn res(id: i64, agent: &str, pattern: &str, exclusive: bool) -> Reservation {
    Reservation {
        id,
        agent_name: agent.into(),
        path_pattern: pattern.into(),
        exclusive,
        reason: format!("r{id}"),
        created_ts: Some(now() - Duration::minutes(5)),
        expires_ts: now() + Duration::hours(1),
        released_ts: None,
    }
}

struct Fixed(Result<Vec<Reservation>, MailError>);

impl Mailbox for Fixed {
    fn ensure_project(&self, _: &str) -> Result<ProjectInfo, MailError> {
        unimplemented!()
    }
    fn register_agent(&self, _: &str, _: &AgentRegistration) -> Result<AgentInfo, MailError> {
        unimplemented!()
    }
    fn send_message(&self, _: &str, _: &OutgoingMessage) -> Result<SentMessage, MailError> {
        unimplemented!()
    }
    fn fetch_inbox(
        &self,
        _: &str,
        _: &str,
        _: &InboxQuery,
    ) -> Result<Vec<InboxMessage>, MailError> {
        unimplemented!()
    }
    fn acknowledge(&self, _: &str, _: &str, _: i64) -> Result<(), MailError> {
        unimplemented!()
    }
    fn mark_read(&self, _: &str, _: &str, _: i64) -> Result<(), MailError> {
        unimplemented!()
    }
    fn reserve_paths(&self, _: &str, _: &ReserveRequest) -> Result<ReserveResult, MailError> {
        unimplemented!()
    }
    fn release(&self, _: &str, _: &str, _: &[String]) -> Result<usize, MailError> {
        unimplemented!()
    }
    fn renew(
        &self,
        _: &str,
        _: &str,
        _: &[String],
        _: std::time::Duration,
    ) -> Result<usize, MailError> {
        unimplemented!()
    }
    fn list_reservations(
        &self,
        _: &str,
        _: Option<&str>,
        _: bool,
    ) -> Result<Vec<Reservation>, MailError> {
        self.0.clone()
    }
    fn health(&self) -> Result<MailHealth, MailError> {
        unimplemented!()
    }
}

fn detect(rs: Vec<Reservation>) -> Vec<gaffer_core::conflicts::DetectedConflict> {
    let mb = Fixed(Ok(rs));
    ConflictDetector::new(&mb, "/p")
        .detect_conflicts(now())
        .unwrap()
}

#[test]
fn true_overlap_between_different_patterns() {
    let cs = detect(vec![
        res(1, "GreenCastle", "src/**", true),
        res(2, "BlueLake", "src/a.rs", true),
    ]);
    assert_eq!(cs.len(), 1);
    let c = &cs[0];
    assert_eq!(c.conflict.pattern, "src/** & src/a.rs");
    assert!(c.overlap.starts_with("src/a.rs"), "{}", c.overlap);
    let names: Vec<&str> = c
        .conflict
        .holders
        .iter()
        .map(|h| h.agent_name.as_str())
        .collect();
    assert_eq!(names, ["BlueLake", "GreenCastle"]);
}

#[test]
fn same_pattern_conflict_uses_the_pattern_as_overlap() {
    let cs = detect(vec![
        res(1, "A", "docs/*.md", true),
        res(2, "B", "docs/*.md", false),
    ]);
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].conflict.pattern, "docs/*.md");
    assert_eq!(cs[0].overlap, "docs/*.md");
}

#[test]
fn shared_with_shared_and_same_agent_never_conflict() {
    assert!(
        detect(vec![
            res(1, "A", "docs/**", false),
            res(2, "B", "docs/a.md", false)
        ])
        .is_empty()
    );
    assert!(
        detect(vec![
            res(1, "A", "src/**", true),
            res(2, "A", "src/a.rs", true)
        ])
        .is_empty()
    );
    // shared vs exclusive does conflict
    assert_eq!(
        detect(vec![
            res(1, "A", "docs/**", false),
            res(2, "B", "docs/a.md", true)
        ])
        .len(),
        1
    );
}

#[test]
fn disjoint_patterns_do_not_conflict() {
    let rs = vec![
        res(1, "A", "a/*", true),
        res(2, "B", "a/b/*.rs", true),
        res(3, "C", "*.rs", true),
        res(4, "D", "*.md", true),
        res(5, "E", "src/*.go", true),
        res(6, "F", "src/a/b.go", true),
    ];
    assert!(detect(rs).is_empty());
}

#[test]
fn expired_and_released_reservations_are_ignored() {
    let mut old = res(1, "A", "src/**", true);
    old.expires_ts = now() - Duration::seconds(1);
    let mut released = res(2, "C", "src/**", true);
    released.released_ts = Some(now() - Duration::minutes(1));
    assert!(detect(vec![old, released, res(3, "B", "src/a.rs", true)]).is_empty());
}

#[test]
fn ids_are_stable_and_content_derived() {
    let a = detect(vec![
        res(1, "A", "src/**", true),
        res(2, "B", "src/a.rs", true),
    ]);
    let mut rs = vec![res(7, "B", "src/a.rs", true), res(9, "A", "src/**", true)];
    rs[0].created_ts = Some(now() - Duration::hours(3));
    let b = detect(rs);
    assert_eq!(a[0].conflict.id, b[0].conflict.id);
    assert!(a[0].conflict.id.starts_with("conflict-"));
    let c = detect(vec![
        res(1, "A", "src/**", true),
        res(2, "C", "src/a.rs", true),
    ]);
    assert_ne!(a[0].conflict.id, c[0].conflict.id);
}

#[test]
fn holders_carry_priority_and_details() {
    let mb = Fixed(Ok(vec![
        res(1, "A", "src/**", true),
        res(2, "B", "src/a.rs", true),
    ]));
    let prio = HashMap::from([("A".to_string(), 1), ("B".to_string(), 3)]);
    let cs = ConflictDetector::new(&mb, "/p")
        .with_priorities(prio)
        .detect_conflicts(now())
        .unwrap();
    let a = cs[0]
        .conflict
        .holders
        .iter()
        .find(|h| h.agent_name == "A")
        .unwrap();
    assert_eq!(a.priority, 1);
    assert_eq!(a.reason, "r1");
    assert_eq!(a.expires_at, now() + Duration::hours(1));
    let b = cs[0]
        .conflict
        .holders
        .iter()
        .find(|h| h.agent_name == "B")
        .unwrap();
    assert_eq!(b.priority, 3);
}

#[test]
fn unreadable_reservations_fail_closed() {
    let mb = Fixed(Err(MailError::Unavailable("connection refused".into())));
    let d = ConflictDetector::new(&mb, "/p");
    match d.detect_conflicts(now()) {
        Err(ConflictError::Unknown(MailError::Unavailable(_))) => {}
        other => panic!("expected Unknown, got {other:?}"),
    }
    assert!(matches!(
        d.check_path_conflict("src/a.rs", "A", now()),
        Err(ConflictError::Unknown(_))
    ));
}

#[test]
fn check_path_conflict_finds_other_holders() {
    let mb = Fixed(Ok(vec![
        res(1, "A", "src/**", true),
        res(2, "B", "src/*.rs", false),
        res(3, "C", "docs/**", true),
        res(4, "D", "**/*.rs", true),
        res(5, "E", "src/lib", true),
    ]));
    let d = ConflictDetector::new(&mb, "/p");
    let c = d
        .check_path_conflict("src/main.rs", "A", now())
        .unwrap()
        .unwrap();
    assert_eq!(c.conflict.file_path, "src/main.rs");
    let names: Vec<&str> = c
        .conflict
        .holders
        .iter()
        .map(|h| h.agent_name.as_str())
        .collect();
    assert_eq!(names, ["B", "D"]);
    let c = d
        .check_path_conflict("src/lib/x/y.c", "Z", now())
        .unwrap()
        .unwrap();
    let names: Vec<&str> = c
        .conflict
        .holders
        .iter()
        .map(|h| h.agent_name.as_str())
        .collect();
    assert_eq!(names, ["A", "E"]);
    assert!(
        d.check_path_conflict("README.md", "A", now())
            .unwrap()
            .is_none()
    );
    assert!(
        d.check_path_conflict("docs/a.md", "C", now())
            .unwrap()
            .is_none()
    );
}

#[test]
fn index_agrees_with_brute_force() {
    // every pair of generated reservations: the index must find exactly the overlapping ones
    let pats = [
        "src/**",
        "src/a.rs",
        "src/*.rs",
        "src/b/c.rs",
        "docs",
        "docs/*.md",
        "**/*.md",
        "*.rs",
        "src/b/**",
        "a/*",
        "a/b/c",
        "x",
        "src/[ab].rs",
    ];
    let mut rs = Vec::new();
    for (i, p) in pats.iter().enumerate() {
        rs.push(res(i as i64, &format!("Agent{}", i % 4), p, i % 3 != 0));
    }
    let cs = ReservationIndex::new(&rs, now()).detect_conflicts(now(), &|_| 0);
    let mut want = 0;
    for (i, a) in rs.iter().enumerate() {
        for b in &rs[i + 1..] {
            if a.agent_name != b.agent_name
                && (a.exclusive || b.exclusive)
                && gaffer_core::glob::overlaps(&a.path_pattern, &b.path_pattern)
            {
                want += 1;
            }
        }
    }
    assert_eq!(cs.len(), want);
    assert!(want > 5);
}

/// The conflict patterns by comparing every pair of reservations: one per distinct pattern
/// pair (`p` or `p & q`), as the detector groups them.
fn brute_force_conflict_patterns(rs: &[Reservation]) -> std::collections::BTreeSet<String> {
    let mut want = std::collections::BTreeSet::new();
    for a in rs {
        for b in rs {
            if a.agent_name != b.agent_name
                && (a.exclusive || b.exclusive)
                && gaffer_core::glob::overlaps(&a.path_pattern, &b.path_pattern)
            {
                let (p, q) = if a.path_pattern <= b.path_pattern {
                    (&a.path_pattern, &b.path_pattern)
                } else {
                    (&b.path_pattern, &a.path_pattern)
                };
                want.insert(if p == q {
                    p.clone()
                } else {
                    format!("{p} & {q}")
                });
            }
        }
    }
    want
}

/// A xorshift generator with a fixed seed: `next(n)` is in `0..n`.
fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    }
}

/// Asserts that the index detects exactly the conflicting pattern pairs brute force finds;
/// returns them and how many conflicts the index reported.
fn detect_agrees_with_brute_force(
    rs: &[Reservation],
    round: usize,
) -> (std::collections::BTreeSet<String>, usize) {
    let cs = ReservationIndex::new(rs, now()).detect_conflicts(now(), &|_| 0);
    let want = brute_force_conflict_patterns(rs);
    let got: std::collections::BTreeSet<String> =
        cs.iter().map(|c| c.conflict.pattern.clone()).collect();
    assert_eq!(got, want, "round {round}");
    (got, cs.len())
}

#[test]
fn index_agrees_with_brute_force_on_generated_reservations() {
    let mut next = xorshift(0x5EED_1234_ABCD_0001);
    let segs = [
        "src", "a", "b", "lib.rs", "*.rs", "**", "*", "docs", "x.md", "*.md", "[ab]",
    ];
    let paths = [
        "src/a/lib.rs",
        "src/lib.rs",
        "docs/x.md",
        "a/b",
        "src/b/x.md",
        "b/lib.rs",
    ];
    for round in 0..40 {
        let mut rs = Vec::new();
        for i in 0..30 {
            let n = 1 + next(4);
            let pat: Vec<&str> = (0..n)
                .map(|_| segs[next(segs.len() as u64) as usize])
                .collect();
            rs.push(res(
                i,
                &format!("Agent{}", next(5)),
                &pat.join("/"),
                next(3) != 0,
            ));
        }
        let (got, conflicts) = detect_agrees_with_brute_force(&rs, round);
        assert_eq!(got.len(), conflicts, "one conflict per pattern pair");
        // check_path_conflict agrees with matching every reservation
        let index = ReservationIndex::new(&rs, now());
        for path in paths {
            for agent in ["Agent0", "Agent3"] {
                let hit = index.check_path_conflict(path, agent, now(), &|_| 0);
                let mut want: Vec<&str> = rs
                    .iter()
                    .filter(|r| r.agent_name != agent)
                    .filter(|r| gaffer_core::glob::matches(&r.path_pattern, path))
                    .map(|r| r.agent_name.as_str())
                    .collect();
                want.sort();
                want.dedup();
                let got: Vec<&str> = hit
                    .as_ref()
                    .map(|c| {
                        c.conflict
                            .holders
                            .iter()
                            .map(|h| h.agent_name.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(got, want, "round {round}: {path} excluding {agent}");
            }
        }
    }
}

#[test]
fn suffix_prefilter_never_hides_an_overlap() {
    let cases = [
        ("**/*.md", "docs/readme.md", true),
        ("**/*.md", "docs/readme.rs", false),
        ("src/*.[rR]s", "src/a.Rs", true),
        ("src/*.r?", "src/a.rs", true),
        ("src/a*", "src/abc.rs", true),
        ("**/*.md", "docs", true), // a directory may hold .md files
        ("**/*.md", "docs/", true),
        ("**/*.md/**", "x.md/a.rs", true), // x.md/a.rs itself
        ("**/*.md/*", "x.rs/a.rs", false),
        ("**/*.md/**", "x.md/sub", true),
    ];
    for (glob, file, want) in cases {
        let rs = vec![res(1, "A", glob, true), res(2, "B", file, true)];
        let got = !detect(rs).is_empty();
        assert_eq!(got, want, "{glob} vs {file}");
        assert_eq!(
            gaffer_core::glob::overlaps(glob, file),
            want,
            "{glob} vs {file}"
        );
    }
}

/// Patterns rich in tails: root-level globs, extensions, dotless suffixes, file names under a
/// globstar, directories. The tail index must never hide an overlap.
const TAIL_SEGS: [&str; 18] = [
    "src",
    "a",
    "lib.rs",
    "mod.rs",
    "*.rs",
    "**",
    "*",
    "x.md",
    "*.md",
    "*rs",
    "a*.rs",
    "*.tar.gz",
    "b.tar.gz",
    "*.gz",
    "docs",
    "[ab].rs",
    "*_test.rs",
    "a_test.rs",
];

fn tail_rich_reservations(next: &mut impl FnMut(u64) -> u64, n: i64) -> Vec<Reservation> {
    (0..n)
        .map(|i| {
            let k = 1 + next(3);
            let pat: Vec<&str> = (0..k)
                .map(|_| TAIL_SEGS[next(TAIL_SEGS.len() as u64) as usize])
                .collect();
            let mut p = pat.join("/");
            if next(8) == 0 {
                p.push('/');
            }
            res(i, &format!("Agent{}", next(4)), &p, next(3) != 0)
        })
        .collect()
}

#[test]
fn tail_index_agrees_with_brute_force_on_root_globs() {
    let mut next = xorshift(0x7A11_0000_BEEF_0003);
    let mut overlapping_pairs = 0;
    for round in 0..60 {
        let mut rs = tail_rich_reservations(&mut next, 30);
        // root-level globs as real reservations hold them
        for (i, p) in ["**/*.rs", "*.md", "**/mod.rs", "**/*.gz"]
            .iter()
            .enumerate()
        {
            if next(2) == 0 {
                rs.push(res(100 + i as i64, "Root", p, true));
            }
        }
        let (want, _) = detect_agrees_with_brute_force(&rs, round);
        overlapping_pairs += want.len();

        // the general query agrees with comparing every reservation, for patterns and paths
        let index = ReservationIndex::new(&rs, now());
        let queries: Vec<String> = tail_rich_reservations(&mut next, 12)
            .into_iter()
            .map(|r| r.path_pattern)
            .chain(["src/a/lib.rs", "x.md", "docs/b.tar.gz", "**", "src"].map(String::from))
            .collect();
        for q in &queries {
            let want: Vec<usize> = rs
                .iter()
                .enumerate()
                .filter(|(_, r)| gaffer_core::glob::overlaps(&r.path_pattern, q))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(index.overlapping(q), want, "round {round}: query {q}");
        }
    }
    assert!(
        overlapping_pairs > 200,
        "the cases overlap: {overlapping_pairs}"
    );
}

#[test]
fn overlapping_reads_back_entries_of_any_kind() {
    let pairs = [
        ("Agent1", "src/**"),
        ("Agent2", "**/*.md"),
        ("Agent3", "docs/a.rs"),
        ("Agent1", "README.md"),
    ];
    let index = ReservationIndex::from_entries(pairs.to_vec());
    assert_eq!(index.len(), 4);
    let holders = |q: &str| -> Vec<&str> {
        index
            .overlapping(q)
            .into_iter()
            .filter_map(|i| index.get(i).map(|e| e.0))
            .collect()
    };
    assert_eq!(holders("src/a.md"), ["Agent1", "Agent2"]);
    // tuples are exclusive: every other holder that overlaps clashes, never one's own
    assert_eq!(index.clashes("Agent1", "src/a.md", false), [1]);
    assert_eq!(index.clashes("Agent9", "docs/**", false), [1, 2]);
    assert_eq!(holders("docs/*.rs"), ["Agent3"]);
    assert_eq!(holders("*.md"), ["Agent2", "Agent1"]);
    assert!(holders("lib/x.rs").is_empty());
}

#[test]
fn clashes_follow_exclusivity_and_holder() {
    let rs = vec![
        res(1, "A", "src/**", true),
        res(2, "B", "src/a.rs", false),
        res(3, "C", "src/*.rs", true),
        res(4, "A", "docs/x.md", false),
    ];
    let index = ReservationIndex::new(&rs, now());
    let ids = |v: Vec<usize>| -> Vec<i64> { v.into_iter().map(|i| rs[i].id).collect() };
    // an exclusive request clashes with every other overlapping holder
    assert_eq!(ids(index.clashes("B", "src/a.rs", true)), [1, 3]);
    // a shared request only with exclusive holders
    assert_eq!(ids(index.clashes("D", "src/a.rs", false)), [1, 3]);
    assert_eq!(
        ids(index.clashes("D", "docs/x.md", false)),
        Vec::<i64>::new()
    );
    assert_eq!(ids(index.clashes("D", "docs/x.md", true)), [4]);
    // one's own holds never clash
    assert_eq!(ids(index.clashes("A", "src/**", true)), [2, 3]);
}
