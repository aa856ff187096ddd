//! The scheduler: runs the passes of the loop at their intervals. Every lane is the same loop:
//! wait until the next task is due (waking early when the panes report activity, for a lane
//! with a task that wants it), run the due tasks in order, repeat until stopped. The
//! coordinator runs two lanes: observation, and acting (assign, conflicts, digest), so a slow
//! delivery never delays observation.

use crate::session::Shared;
use crate::wake::{Wake, WakeSource, Wakeup};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `stop` is noticed within this long.
const STOP_CHECK: Duration = Duration::from_millis(250);
/// Activity runs a waking task at most this often.
const MIN_GAP: Duration = Duration::from_millis(100);
/// An agent's own signal (a hook) runs a waking task at most this often: sooner than a redraw,
/// since the hook is the exact moment of a state change (at most 50 passes a second even in a
/// hook storm, whose datagrams each wake-up drains together).
const SIGNAL_GAP: Duration = Duration::from_millis(20);
/// A lane without an activity source sleeps in steps this long.
const SLEEP_STEP: Duration = Duration::from_millis(20);

/// One pass run at an interval, over the lane's context `S` (the coordinator's [`Shared`]).
pub(crate) struct Task<S = Shared> {
    name: &'static str,
    every: Duration,
    wake_on_activity: bool,
    run: fn(&S),
    /// Runs it early (after the gap) when it returns true.
    wanted: Option<fn(&S) -> bool>,
    last: Instant,
}

impl<S> Task<S> {
    /// `run` every `every`, and sooner on pane activity when `wake_on_activity`.
    pub(crate) fn new(
        name: &'static str,
        every: Duration,
        wake_on_activity: bool,
        run: fn(&S),
    ) -> Task<S> {
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
    pub(crate) fn when(mut self, wanted: fn(&S) -> bool) -> Task<S> {
        self.wanted = Some(wanted);
        self
    }

    fn due(&self, wake: Wake, wanted: bool) -> bool {
        let since = self.last.elapsed();
        since >= self.every
            || (wake != Wake::None && self.wake_on_activity && since >= gap(wake))
            || (wanted && since >= MIN_GAP)
    }

    /// How long until a wake-up (or wanting) held back by its gap may run it.
    fn gap_left(&self, wake: Wake) -> Duration {
        gap(wake).saturating_sub(self.last.elapsed())
    }
}

/// The least time between two runs of a waking task, by what woke it.
fn gap(wake: Wake) -> Duration {
    if wake == Wake::Signal {
        SIGNAL_GAP
    } else {
        MIN_GAP
    }
}

/// A thread running tasks.
pub(crate) struct Lane<S = Shared> {
    name: &'static str,
    tasks: Vec<Task<S>>,
}

impl<S> Lane<S> {
    /// An empty lane.
    pub(crate) fn new(name: &'static str) -> Lane<S> {
        Lane {
            name,
            tasks: Vec::new(),
        }
    }

    /// Adds a task after the others.
    pub(crate) fn task(mut self, t: Task<S>) -> Lane<S> {
        self.tasks.push(t);
        self
    }

    /// The lane's loop over `ctx` while `running` holds: `wait(timeout)` blocks until a
    /// wake-up (what woke it) or the timeout ([`Wake::None`]). A wake-up, or a task wanted,
    /// within its gap of the task's last run ([`MIN_GAP`]; [`SIGNAL_GAP`] for a hook signal) is
    /// held until the gap has passed, never dropped: a hook signal that lands just after a pass
    /// still runs the next pass 20 ms after it, not a poll interval later.
    fn run_with(
        &mut self,
        ctx: &S,
        running: impl Fn() -> bool,
        mut wait: impl FnMut(Duration) -> Wake,
    ) {
        let mut held = Wake::None;
        while running() {
            let mut slice = self
                .tasks
                .iter()
                .map(|t| t.every.saturating_sub(t.last.elapsed()))
                .min()
                .unwrap_or(STOP_CHECK)
                .min(STOP_CHECK);
            for t in &self.tasks {
                if held != Wake::None && t.wake_on_activity {
                    slice = slice.min(t.gap_left(held));
                }
                if t.wanted.is_some_and(|f| f(ctx)) {
                    slice = slice.min(t.gap_left(Wake::Activity));
                }
            }
            // a zero wait still looks for a wake-up without blocking
            let wake = wait(slice).max(held);
            held = Wake::None;
            for t in self.tasks.iter_mut() {
                if !running() {
                    return;
                }
                let wanted = t.wanted.is_some_and(|f| f(ctx));
                if t.due(wake, wanted) {
                    t.last = Instant::now();
                    tracing::trace!(task = t.name, "pass");
                    (t.run)(ctx);
                } else if wake != Wake::None && t.wake_on_activity {
                    held = held.max(wake);
                }
            }
        }
    }
}

impl Lane<Shared> {
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
                                                if src.is_signal() {
                                                    hub.notify_signal();
                                                } else {
                                                    hub.notify();
                                                }
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
        let running = || shared.running.load(Ordering::SeqCst);
        let wait = |slice: Duration| {
            if let Some(hub) = hub {
                hub.wait_wake(slice)
            } else if wakes {
                // An adapter without an event source sleeps the whole timeout, so only
                // an early return is activity.
                let started = Instant::now();
                if shared.panes.wait_for_activity(slice)
                    && started.elapsed() + Duration::from_millis(5) < slice
                {
                    Wake::Activity
                } else {
                    Wake::None
                }
            } else {
                std::thread::sleep(slice.min(SLEEP_STEP));
                Wake::None
            }
        };
        self.run_with(shared, running, wait);
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

    /// A lane's context for tests: when each pass ran.
    #[derive(Default)]
    struct Runs(std::sync::Mutex<Vec<Instant>>);

    fn record(r: &Runs) {
        crate::session::lock(&r.0).push(Instant::now());
    }

    #[test]
    fn activity_inside_the_gap_is_held_until_the_gap_passes_not_dropped() {
        // A pass has just run (the task's `last` is now); a hook signal wakes the lane 20 ms
        // later, inside the 100 ms gap. The pass must run once the gap has passed, not a poll
        // interval (5 s here) later.
        let mut lane: Lane<Runs> =
            Lane::new("t").task(Task::new("poll", Duration::from_secs(5), true, record));
        let runs = Runs::default();
        let hub = std::sync::Arc::new(Wakeup::default());
        let start = Instant::now();
        let h = {
            let hub = std::sync::Arc::clone(&hub);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                hub.notify();
            })
        };
        let stop_at = start + Duration::from_millis(1500);
        lane.run_with(&runs, || Instant::now() < stop_at, |d| hub.wait_wake(d));
        let _ = h.join();
        let runs = crate::session::lock(&runs.0).clone();
        assert_eq!(runs.len(), 1, "one pass for one wake-up: {runs:?}");
        let after = runs[0] - start;
        assert!(
            after >= MIN_GAP && after < Duration::from_millis(600),
            "the held wake-up ran the pass {after:?} after the last one"
        );
    }

    #[test]
    fn a_signal_inside_its_gap_is_held_too() {
        let mut lane: Lane<Runs> =
            Lane::new("t").task(Task::new("poll", Duration::from_secs(5), true, record));
        let runs = Runs::default();
        let hub = std::sync::Arc::new(Wakeup::default());
        let start = Instant::now();
        hub.notify_signal();
        let stop_at = start + Duration::from_millis(1000);
        lane.run_with(&runs, || Instant::now() < stop_at, |d| hub.wait_wake(d));
        let runs = crate::session::lock(&runs.0).clone();
        assert_eq!(runs.len(), 1, "{runs:?}");
        let after = runs[0] - start;
        assert!(
            after >= SIGNAL_GAP && after < Duration::from_millis(600),
            "ran {after:?} after the last pass"
        );
    }

    #[test]
    fn activity_after_the_gap_runs_at_once_and_quiet_runs_nothing() {
        let mut lane: Lane<Runs> =
            Lane::new("t").task(Task::new("poll", Duration::from_secs(5), true, record));
        let runs = Runs::default();
        let hub = std::sync::Arc::new(Wakeup::default());
        let start = Instant::now();
        let h = {
            let hub = std::sync::Arc::clone(&hub);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                hub.notify();
            })
        };
        let stop_at = start + Duration::from_millis(1000);
        lane.run_with(&runs, || Instant::now() < stop_at, |d| hub.wait_wake(d));
        let _ = h.join();
        let runs = crate::session::lock(&runs.0).clone();
        assert_eq!(runs.len(), 1, "{runs:?}");
        let after = runs[0] - start;
        assert!(
            after >= Duration::from_millis(300) && after < Duration::from_millis(550),
            "ran {after:?} after start"
        );
    }

    #[test]
    fn a_task_is_due_at_its_interval_or_on_activity_after_the_gap() {
        let (none, act) = (Wake::None, Wake::Activity);
        let mut t = Task::new("poll", Duration::from_secs(5), true, noop);
        assert!(!t.due(none, false), "not before its interval");
        assert!(
            !t.due(act, false),
            "activity right after a pass waits for the gap"
        );
        t.last = Instant::now() - MIN_GAP;
        assert!(t.due(act, false), "activity after the gap runs it early");
        assert!(!t.due(none, false));
        t.last = Instant::now() - Duration::from_secs(5);
        assert!(t.due(none, false), "due at its interval");
        let mut quiet = Task::new("digest", Duration::from_secs(5), false, noop);
        quiet.last = Instant::now() - Duration::from_secs(1);
        assert!(
            !quiet.due(act, false),
            "activity does not wake a task that does not want it"
        );
        assert!(
            quiet.due(none, true),
            "a wanted task runs early after the gap"
        );
        quiet.last = Instant::now();
        assert!(!quiet.due(none, true), "but not within the gap");
    }

    #[test]
    fn a_signal_has_a_shorter_gap_than_activity() {
        let mut t = Task::new("poll", Duration::from_secs(5), true, noop);
        t.last = Instant::now();
        assert!(!t.due(Wake::Signal, false), "not right after a pass");
        // 50 ms after a pass: past the signal's gap, inside activity's
        t.last = Instant::now() - (SIGNAL_GAP + MIN_GAP) / 2;
        assert!(t.due(Wake::Signal, false), "a hook signal runs it");
        assert!(!t.due(Wake::Activity, false), "a redraw waits");
        assert!(t.gap_left(Wake::Signal).is_zero());
        assert!(!t.gap_left(Wake::Activity).is_zero());
    }
}
