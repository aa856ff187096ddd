//! The scheduler: runs the passes of the loop at their intervals. Every lane is the same loop:
//! wait until the next task is due (waking early when the panes report activity, for a lane
//! with a task that wants it), run the due tasks in order, repeat until stopped. The
//! coordinator runs two lanes: observation, and acting (assign, conflicts, digest), so a slow
//! delivery never delays observation.

use crate::session::Shared;
use crate::wake::{WakeSource, Wakeup};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `stop` is noticed within this long.
const STOP_CHECK: Duration = Duration::from_millis(250);
/// Activity runs a waking task at most this often.
const MIN_GAP: Duration = Duration::from_millis(100);
/// A lane without an activity source sleeps in steps this long.
const SLEEP_STEP: Duration = Duration::from_millis(20);

/// One pass run at an interval.
pub(crate) struct Task {
    name: &'static str,
    every: Duration,
    wake_on_activity: bool,
    run: fn(&Shared),
    /// Runs it early (after the gap) when it returns true.
    wanted: Option<fn(&Shared) -> bool>,
    last: Instant,
}

impl Task {
    /// `run` every `every`, and sooner on pane activity when `wake_on_activity`.
    pub(crate) fn new(
        name: &'static str,
        every: Duration,
        wake_on_activity: bool,
        run: fn(&Shared),
    ) -> Task {
        Task {
            name,
            every,
            wake_on_activity,
            run,
            wanted: None,
            last: Instant::now(),
        }
    }

    /// Also runs the task as soon as `wanted` says so (at most every 100 ms): the assign pass
    /// runs right after a poll that found an agent ready, not up to a poll interval later.
    pub(crate) fn when(mut self, wanted: fn(&Shared) -> bool) -> Task {
        self.wanted = Some(wanted);
        self
    }

    fn due(&self, active: bool, wanted: bool) -> bool {
        let since = self.last.elapsed();
        since >= self.every
            || (active && self.wake_on_activity && since >= MIN_GAP)
            || (wanted && since >= MIN_GAP)
    }
}

/// A thread running tasks.
pub(crate) struct Lane {
    name: &'static str,
    tasks: Vec<Task>,
}

impl Lane {
    /// An empty lane.
    pub(crate) fn new(name: &'static str) -> Lane {
        Lane {
            name,
            tasks: Vec::new(),
        }
    }

    /// Adds a task after the others.
    pub(crate) fn task(mut self, t: Task) -> Lane {
        self.tasks.push(t);
        self
    }

    /// Runs the lane on its own thread until `shared.running` is cleared; `None` when it has
    /// no task or the thread could not start.
    pub(crate) fn spawn(mut self, shared: Arc<Shared>) -> Option<JoinHandle<()>> {
        if self.tasks.is_empty() {
            return None;
        }
        let wakes = self.tasks.iter().any(|t| t.wake_on_activity);
        let extra: Vec<Arc<dyn WakeSource>> = if wakes {
            crate::session::lock(&shared.wakes).clone()
        } else {
            Vec::new()
        };
        std::thread::Builder::new()
            .name(format!("gaffer-{}", self.name))
            .spawn(move || {
                // With extra wake sources, every source (the panes too) runs on a forwarder
                // thread that sets one latch, and the lane waits on the latch.
                let hub = (!extra.is_empty()).then(|| Arc::new(Wakeup::default()));
                let forwarders: Vec<JoinHandle<()>> = match &hub {
                    Some(hub) => {
                        let panes = Arc::clone(&shared.panes);
                        let mut sources: Vec<Arc<dyn WakeSource>> =
                            vec![Arc::new(PanesWake(panes))];
                        sources.extend(extra.iter().cloned());
                        sources
                            .into_iter()
                            .filter_map(|src| {
                                let (hub, shared) = (Arc::clone(hub), Arc::clone(&shared));
                                std::thread::Builder::new()
                                    .name("gaffer-wake".into())
                                    .spawn(move || {
                                        while shared.running.load(Ordering::SeqCst) {
                                            if src.wait(STOP_CHECK) {
                                                hub.notify();
                                            }
                                        }
                                    })
                                    .ok()
                            })
                            .collect()
                    }
                    None => Vec::new(),
                };
                self.run(&shared, wakes, hub.as_deref());
                for f in forwarders {
                    let _ = f.join();
                }
            })
            .ok()
    }

    fn run(&mut self, shared: &Shared, wakes: bool, hub: Option<&Wakeup>) {
        while shared.running.load(Ordering::SeqCst) {
            let remaining = self
                .tasks
                .iter()
                .map(|t| t.every.saturating_sub(t.last.elapsed()))
                .min()
                .unwrap_or(STOP_CHECK);
            let slice = remaining.min(STOP_CHECK);
            let active = if let Some(hub) = hub {
                hub.wait(slice)
            } else if wakes {
                // An adapter without an event source sleeps the whole timeout, so only
                // an early return is activity.
                let started = Instant::now();
                shared.panes.wait_for_activity(slice)
                    && started.elapsed() + Duration::from_millis(5) < slice
            } else {
                std::thread::sleep(slice.min(SLEEP_STEP));
                false
            };
            for t in self.tasks.iter_mut() {
                if !shared.running.load(Ordering::SeqCst) {
                    return;
                }
                let wanted = t.wanted.is_some_and(|f| f(shared));
                if t.due(active, wanted) {
                    t.last = Instant::now();
                    tracing::trace!(task = t.name, "pass");
                    (t.run)(shared);
                }
            }
        }
    }
}

/// The panes' activity (tmux control mode) as a wake source: only an early return counts.
struct PanesWake(Arc<dyn gaffer_core::panes::Panes>);

impl WakeSource for PanesWake {
    fn wait(&self, timeout: Duration) -> bool {
        let started = Instant::now();
        self.0.wait_for_activity(timeout) && started.elapsed() + Duration::from_millis(5) < timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &Shared) {}

    #[test]
    fn a_task_is_due_at_its_interval_or_on_activity_after_the_gap() {
        let mut t = Task::new("poll", Duration::from_secs(5), true, noop);
        assert!(!t.due(false, false), "not before its interval");
        assert!(
            !t.due(true, false),
            "activity right after a pass waits for the gap"
        );
        t.last = Instant::now() - MIN_GAP;
        assert!(t.due(true, false), "activity after the gap runs it early");
        assert!(!t.due(false, false));
        t.last = Instant::now() - Duration::from_secs(5);
        assert!(t.due(false, false), "due at its interval");
        let mut quiet = Task::new("digest", Duration::from_secs(5), false, noop);
        quiet.last = Instant::now() - Duration::from_secs(1);
        assert!(
            !quiet.due(true, false),
            "activity does not wake a task that does not want it"
        );
        assert!(
            quiet.due(false, true),
            "a wanted task runs early after the gap"
        );
        quiet.last = Instant::now();
        assert!(!quiet.due(false, true), "but not within the gap");
    }
}
