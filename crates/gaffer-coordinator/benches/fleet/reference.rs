//! The baseline, built from the reference's prose (spec/coordinator.md §2.1, §2.3, §3.6): every
//! poll interval (5 s) the agents are observed; idle agents are WAITING, healthy and idle at
//! least `idle_threshold` (30 s); each idle agent, in pane order, takes the first recommendation
//! of the triage that is not blocked (first-fit; the score is the triage score). Nothing is
//! claimed, reserved or recorded by the coordinator: the prompt tells the agent to claim the
//! bead and reserve its files itself. No restarts, no hand-backs, no conflict loop.
//!
//! Given what it needs to be a strong baseline: correct observations (the reference's own
//! `last_activity` is always "now", so its idle signal never fires and it would assign nothing);
//! a prompt that reaches the pane (the reference only mails it); and it skips beads that are
//! already claimed (NTM HEAD's rule; v1.7.0 would hand them out again).

use crate::world::{Ms, Phase, SEC, TriageCache, World, bead_index};
use std::collections::BTreeSet;

pub struct Reference {
    poll_every: Ms,
    idle_threshold: Ms,
    last_poll: Ms,
    triage: TriageCache,
    pub polls: u64,
}

impl Default for Reference {
    fn default() -> Self {
        Reference::new()
    }
}

impl Reference {
    pub fn new() -> Reference {
        Reference {
            poll_every: 5 * SEC,
            idle_threshold: 30 * SEC,
            last_poll: -1_000_000,
            triage: TriageCache::new(),
            polls: 0,
        }
    }

    pub fn triage_runs(&self) -> u64 {
        self.triage.runs
    }

    pub fn next_at(&self) -> Ms {
        self.last_poll + self.poll_every
    }

    pub fn run_due(&mut self, world: &mut World, t: Ms) {
        if t < self.last_poll + self.poll_every {
            return;
        }
        self.last_poll = t;
        self.polls += 1;
        world.activity = None;
        // GetIdleAgents, with a correct activity clock.
        let idle: Vec<usize> = (0..world.agents.len())
            .filter(|&a| {
                let ag = &world.agents[a];
                matches!(ag.phase, Phase::Idle) && t - ag.last_activity >= self.idle_threshold
            })
            .collect();
        if idle.is_empty() {
            return;
        }
        let recs = self.triage.get(world, t).triage.recommendations.clone();
        let mut given: BTreeSet<String> = BTreeSet::new();
        for a in idle {
            // findBestMatch: the first recommendation that is not blocked.
            let Some(rec) = recs
                .iter()
                .find(|r| !r.is_blocked() && r.status == "open" && !given.contains(&r.id))
            else {
                break;
            };
            let Some(b) = bead_index(&rec.id) else {
                continue;
            };
            given.insert(rec.id.clone());
            let _ = world.prompt(a, b, t);
        }
    }
}
