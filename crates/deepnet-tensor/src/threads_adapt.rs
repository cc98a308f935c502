//! How the kernel pool degrades when other processes take its cores.
//!
//! A parallel loop ends when its slowest thread ends. On a machine where another busy process
//! shares the cores, the scheduler takes a worker off its core for a whole time slice
//! (milliseconds) in the middle of a task of a few microseconds, and the calling thread waits for
//! it: measured on 2 cores with other jobs running, an MLP training step on 2 threads ran at half
//! the speed of the same step on 1 thread. So the pool watches what its parallel loops cost
//! against what they would have cost on the calling thread alone, and when parallelism has been
//! a loss over a window of loops it runs the following loops on the calling thread for a while
//! (the idle workers then go to sleep and give their cores back), and tries again after that,
//! backing off while the contention lasts. Which thread runs a task never changes a result (see
//! [`crate::threads`]), so this changes speed only.
//!
//! The estimate: the calling thread claims tasks like a worker, so it measures its own tasks.
//! If it ran `k` of a loop's `n` tasks in `own`, the loop would have taken about `n * own / k`
//! on it alone; the loop took `total` (its own tasks plus the wait for the workers' last ones).
//! A window counts as lost unless it took at most 90% of the estimate: the other way parallel
//! loops lose under contention is that the workers, off their cores, claim nothing while their
//! spinning between loops takes CPU time from the caller (measured: the caller then ran every
//! task itself, at half its speed on one thread).

use std::time::{Duration, Instant};

/// Parallel loops per decision.
const WINDOW: u32 = 32;
/// The first and the longest stretch of running inline after a losing window; each losing
/// window in a row doubles it.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(320);

/// The pool's record of its recent parallel loops.
#[derive(Debug)]
pub(crate) struct Adapt {
    /// parallel loops in the current window
    loops: u32,
    /// their wall time
    parallel: Duration,
    /// their estimated time on the calling thread alone
    alone: Duration,
    /// loops run inline until then
    inline_until: Option<Instant>,
    /// the next stretch of running inline
    backoff: Duration,
}

impl Adapt {
    pub(crate) const fn new() -> Adapt {
        Adapt {
            loops: 0,
            parallel: Duration::ZERO,
            alone: Duration::ZERO,
            inline_until: None,
            backoff: BACKOFF_MIN,
        }
    }

    /// Whether the loop starting at `now` should run on the calling thread alone.
    pub(crate) fn inline_now(&mut self, now: Instant) -> bool {
        match self.inline_until {
            Some(t) if now < t => true,
            Some(_) => {
                self.inline_until = None;
                false
            }
            None => false,
        }
    }

    /// Records a parallel loop of `n` tasks, finished at `now`: the calling thread ran `own_tasks`
    /// of them in `own`, and the loop took `total`.
    pub(crate) fn record(
        &mut self,
        n: usize,
        own_tasks: usize,
        own: Duration,
        total: Duration,
        now: Instant,
    ) {
        // without a task of its own the caller cannot tell; count the loop as neutral
        let alone = if own_tasks == 0 {
            total
        } else {
            own.mul_f64(n as f64 / own_tasks as f64)
        };
        self.loops += 1;
        self.parallel += total;
        self.alone += alone;
        if self.loops < WINDOW {
            return;
        }
        // not a clear win: the window took more than 90% of what the caller alone would have
        if self.parallel > self.alone.mul_f64(0.9) {
            self.inline_until = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        } else {
            self.backoff = BACKOFF_MIN;
        }
        self.loops = 0;
        self.parallel = Duration::ZERO;
        self.alone = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    /// `WINDOW` loops of 2 tasks where the caller ran one task in `own` and the loop took
    /// `total`.
    fn window(a: &mut Adapt, own: Duration, total: Duration, now: Instant) {
        for _ in 0..WINDOW {
            a.record(2, 1, own, total, now);
        }
    }

    #[test]
    fn parallel_loops_that_win_stay_parallel() {
        let (mut a, t0) = (Adapt::new(), Instant::now());
        // balanced: both halves in 10 us each
        window(&mut a, 10 * US, 11 * US, t0);
        assert!(!a.inline_now(t0));
        // 2 threads 1.2 times as fast as one
        for _ in 0..WINDOW {
            a.record(4, 2, 20 * US, 33 * US, t0);
        }
        assert!(!a.inline_now(t0));
    }

    /// Measured under load: the workers, off their cores, claimed nothing, and their spinning
    /// only took time from the caller.
    #[test]
    fn workers_that_never_help_are_let_go() {
        let (mut a, t0) = (Adapt::new(), Instant::now());
        for _ in 0..WINDOW {
            a.record(8, 8, 40 * US, 41 * US, t0);
        }
        assert!(a.inline_now(t0));
    }

    #[test]
    fn losing_windows_run_inline_with_a_growing_backoff() {
        let (mut a, t0) = (Adapt::new(), Instant::now());
        // a worker taken off its core: 10 us of own work, 2 ms waiting for the other task
        window(&mut a, 10 * US, 2000 * US, t0);
        assert!(a.inline_now(t0));
        assert!(a.inline_now(t0 + BACKOFF_MIN - US));
        assert!(!a.inline_now(t0 + BACKOFF_MIN));
        // still losing: twice as long, up to the cap
        let t1 = t0 + BACKOFF_MIN;
        window(&mut a, 10 * US, 2000 * US, t1);
        assert!(a.inline_now(t1 + 2 * BACKOFF_MIN - US));
        assert!(!a.inline_now(t1 + 2 * BACKOFF_MIN));
        let mut t = t1 + 2 * BACKOFF_MIN;
        for _ in 0..10 {
            window(&mut a, 10 * US, 2000 * US, t);
            t += BACKOFF_MAX;
        }
        assert!(!a.inline_now(t));
        assert_eq!(a.backoff, BACKOFF_MAX);
        // a winning window resets the backoff
        window(&mut a, 10 * US, 11 * US, t);
        assert!(!a.inline_now(t));
        assert_eq!(a.backoff, BACKOFF_MIN);
    }

    #[test]
    fn one_slow_loop_in_a_window_is_not_a_loss() {
        let (mut a, t0) = (Adapt::new(), Instant::now());
        a.record(2, 1, 10 * US, 25 * US, t0);
        for _ in 1..WINDOW {
            a.record(2, 1, 10 * US, 11 * US, t0);
        }
        assert!(!a.inline_now(t0));
    }
}
