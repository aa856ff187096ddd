//! The coordinator's heap: freed memory handed back to the system.
//!
//! glibc's allocator keeps what a thread frees in that thread's arena (up to eight arenas a
//! core), and gives it back to the system only from the top of an arena. A pass that reads the
//! beads file and ranks a few thousand beads allocates tens of MB for a moment, on whichever
//! thread runs it (the observation lane, the acting lane, the delivery threads), so a long-lived
//! coordinator's RSS climbs towards the sum of every arena's peak although nothing is kept
//! (the 60-minute soak: 23 → 79 MB). [`limit_arenas`] at start keeps the arenas few, and
//! [`Trimmer`] returns the free pages of all of them after a pass, at most every
//! [`TRIM_EVERY`]. Both do nothing on other allocators.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest time between two trims.
pub const TRIM_EVERY: Duration = Duration::from_secs(20);

/// Limits the allocator to `n` arenas (glibc's `M_ARENA_MAX`). Call early, before the threads
/// start; later threads share the arenas. Returns whether the allocator took it.
pub fn limit_arenas(n: i32) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a tunable of the allocator.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = n;
        false
    }
}

/// Returns the free memory of every arena to the system now (glibc's `malloc_trim`). Returns
/// whether any was returned.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Trims the heap at most every [`TRIM_EVERY`].
#[derive(Debug)]
pub struct Trimmer {
    last: Mutex<Option<Instant>>,
}

impl Default for Trimmer {
    fn default() -> Self {
        Trimmer {
            last: Mutex::new(None),
        }
    }
}

impl Trimmer {
    /// Trims when the last trim is [`TRIM_EVERY`] old (or there was none); returns whether it
    /// trimmed.
    pub fn maybe_trim(&self) -> bool {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| now.duration_since(t) < TRIM_EVERY) {
                return false;
            }
            *last = Some(now);
        }
        trim();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trimmer_trims_at_most_every_interval() {
        let t = Trimmer::default();
        assert!(t.maybe_trim());
        assert!(!t.maybe_trim());
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_goes_back_to_the_system() {
        fn rss_kb() -> u64 {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                })
                .unwrap_or(0)
        }
        // Many small blocks (below the mmap threshold, so from the arena), then one kept at
        // the top so the arena cannot shrink from its end: only a trim returns the pages.
        let blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 4000]).collect();
        let pin = vec![1u8; 4000];
        let before = rss_kb();
        drop(blocks);
        let after_free = rss_kb();
        trim();
        let after_trim = rss_kb();
        assert!(pin[0] == 1);
        assert!(
            after_trim + 40_000 < after_free.max(before),
            "before={before} kB after free={after_free} kB after trim={after_trim} kB"
        );
    }
}
