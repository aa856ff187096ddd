//! Task complexity (0–1) from type, priority and unblock count, and the agent-type bonus it
//! drives (spec/coordinator.md §3.1–3.2).
//!
//! Complexity is computed in exact hundredths, so `task, P0` is exactly 0.30 and gets the
//! ≤ 0.3 bonuses that the reference's floating point (0.30000000000000004) missed.

/// Complexity in hundredths, 0–100.
pub fn complexity_hundredths(issue_type: &str, priority: i64, unblocks: usize) -> i64 {
    let mut c: i64 = 50;
    c += match issue_type.to_lowercase().as_str() {
        "epic" => 30,
        "feature" => 20,
        "bug" => 0,
        "task" => -10,
        "chore" => -20,
        _ => 0,
    };
    c += match priority {
        0 => -10,
        3 | 4 => 10,
        _ => 0,
    };
    c += if unblocks >= 5 {
        15
    } else if unblocks >= 3 {
        10
    } else {
        0
    };
    c.clamp(0, 100)
}

/// Complexity as a fraction, 0–1.
pub fn complexity(issue_type: &str, priority: i64, unblocks: usize) -> f64 {
    complexity_hundredths(issue_type, priority, unblocks) as f64 / 100.0
}

/// The agent-type bonus for a task of the given complexity (hundredths), from the kind's
/// `type_bonus` bands in the [registry](crate::kinds::registry): cc likes complex work, cod
/// simple work, gmi the middle; aliases behave the same; an unknown type gets 0.
#[inline]
pub fn agent_type_bonus(agent_type: &str, complexity_hundredths: i64) -> f64 {
    crate::kinds::registry().type_bonus(agent_type, complexity_hundredths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_table() {
        // (type, priority, unblocks, complexity, cc, cod, gmi)
        let table: [(&str, i64, usize, i64, f64, f64, f64); 7] = [
            ("epic", 1, 0, 80, 0.15, -0.10, 0.0),
            ("feature", 2, 0, 70, 0.15, -0.10, 0.0),
            ("bug", 2, 0, 50, 0.0, 0.0, 0.05),
            ("task", 2, 0, 40, 0.0, 0.0, 0.05),
            ("chore", 2, 0, 30, -0.05, 0.15, 0.0),
            // The reference computed 0.30000000000000004 here and gave 0 / 0; exact tenths fix it.
            ("task", 0, 0, 30, -0.05, 0.15, 0.0),
            ("task", 3, 5, 65, 0.0, 0.0, 0.0),
        ];
        for (ty, p, u, want, cc, cod, gmi) in table {
            let c = complexity_hundredths(ty, p, u);
            assert_eq!(c, want, "{ty} P{p} unblocks {u}");
            assert_eq!(agent_type_bonus("cc", c), cc, "cc {ty} P{p}");
            assert_eq!(agent_type_bonus("claude", c), cc, "claude alias");
            assert_eq!(agent_type_bonus("cod", c), cod, "cod {ty} P{p}");
            assert_eq!(agent_type_bonus("codex", c), cod, "codex alias");
            assert_eq!(agent_type_bonus("gmi", c), gmi, "gmi {ty} P{p}");
            assert_eq!(agent_type_bonus("gemini", c), gmi, "gemini alias");
            assert_eq!(agent_type_bonus("aider", c), 0.0);
        }
    }

    #[test]
    fn clamped_and_unblock_steps() {
        assert_eq!(complexity_hundredths("epic", 4, 9), 100);
        assert_eq!(complexity_hundredths("chore", 0, 0), 20);
        assert_eq!(complexity_hundredths("bug", 2, 3), 60);
        assert_eq!(complexity_hundredths("bug", 2, 4), 60);
        assert_eq!(complexity_hundredths("weird", 2, 0), 50);
        assert_eq!(complexity("feature", 2, 0), 0.7);
    }
}
