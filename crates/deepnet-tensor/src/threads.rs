//! The kernels' thread pool, parallel loops over it, and the threads' floating-point mode.
//!
//! A pool of `n` threads is the calling thread plus `n - 1` workers. A parallel loop publishes
//! its body and task count; the caller and the workers claim task indices from one atomic
//! counter until none are left, and the caller returns once every task has finished. Idle
//! workers spin for [`SPIN`] before they sleep: a training step issues a parallel op every few
//! microseconds, and waking a sleeping thread costs tens of microseconds on a virtual machine,
//! which is what a general work-stealing pool (rayon) spent a third of an MLP step on. A loop
//! started inside a task, or while another thread is using the pool, runs on its own thread.
//!
//! Tasks are numbered and each kernel decides what task `i` computes from the shape alone, so
//! which thread runs a task never changes a result.
//!
//! When other processes take the cores, a worker can lose its core in the middle of a task and
//! the caller waits for it; the pool then runs its loops on the caller alone for a while
//! ([`crate::threads_adapt`]).
//!
//! Subnormal floats (below 1.2e-38 in f32) take around a hundred cycles per multiply on x86.
//! Gradients and momentum buffers of a converging network fill up with them, and an SGD step
//! then runs several times slower. [`set_flush_denormal`] makes the kernels' threads treat them
//! as zero, like `torch.set_flush_denormal(True)` (TensorFlow does this by default). It is off by
//! default in the library, so results are exact IEEE arithmetic unless asked otherwise; the
//! `deepnet` command line turns it on.

use crate::threads_adapt::Adapt;
use crate::{Error, Result};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// Whether kernel threads flush subnormals (see [`set_flush_denormal`]), and a counter that
/// changes with every call, so that workers notice and apply the new mode.
static FLUSH_DENORMAL: AtomicBool = AtomicBool::new(false);
static FLUSH_GENERATION: AtomicUsize = AtomicUsize::new(0);

/// The global pool (built on first use with one thread per core, or by [`set_num_threads`]).
static GLOBAL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);

thread_local! {
    /// The pool entered with [`with_num_threads`] on this thread, if any.
    static CURRENT: RefCell<Option<Arc<Pool>>> = const { RefCell::new(None) };
    /// Whether this thread is running a task (a nested loop then runs inline).
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// The [`FLUSH_GENERATION`] this thread last applied.
    static APPLIED: Cell<usize> = const { Cell::new(0) };
}

/// A loop body shared with the workers for the duration of one loop.
struct Job<'a> {
    body: &'a (dyn Fn(usize) + Sync),
}

/// State shared by a pool's caller and workers.
struct Shared {
    /// `(epoch << 32) | next unclaimed task`: claiming a task is one compare-and-swap, and a
    /// worker still holding an old epoch can never claim a task of a newer loop.
    claim: AtomicU64,
    /// `(epoch << 32) | task count` of the current loop.
    count: AtomicU64,
    /// The current loop's [`Job`] (valid while the epoch's tasks are unfinished).
    job: AtomicUsize,
    /// Finished tasks of the current loop.
    done: AtomicUsize,
    /// The first panic of a task in the current loop, re-raised on the calling thread.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    /// Sleeping workers wait here for a new epoch or shutdown.
    sleepers: Mutex<usize>,
    wake: Condvar,
    shutdown: AtomicBool,
}

/// What the thread running a loop on a pool owns: the loop's epoch and the record of recent
/// loops that decides whether parallelism pays ([`Adapt`]).
struct Running {
    epoch: u32,
    adapt: Adapt,
}

/// A pool of `threads` kernel threads (the caller and `threads - 1` workers).
pub(crate) struct Pool {
    threads: usize,
    shared: Arc<Shared>,
    /// Held by the thread running a loop on this pool; others run theirs inline.
    busy: Mutex<Running>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize) -> Result<Arc<Pool>> {
        if threads == 0 {
            return Err(Error::msg("a thread pool needs at least one thread"));
        }
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            count: AtomicU64::new(0),
            job: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panic: Mutex::new(None),
            sleepers: Mutex::new(0),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let mut pool = Pool {
            threads,
            shared,
            busy: Mutex::new(Running {
                epoch: 0,
                adapt: Adapt::new(),
            }),
            workers: Vec::with_capacity(threads - 1),
        };
        for i in 1..threads {
            let s = pool.shared.clone();
            // on failure, dropping `pool` stops and joins the workers already started
            let h = std::thread::Builder::new()
                .name(format!("deepnet-{i}"))
                .spawn(move || worker(&s))
                .map_err(|e| Error::msg(format!("cannot start kernel thread {i}: {e}")))?;
            pool.workers.push(h);
        }
        Ok(Arc::new(pool))
    }

    /// Runs `body(i)` for every `i < n` on the pool's threads; returns when all have finished.
    fn run(&self, n: usize, body: &(dyn Fn(usize) + Sync)) {
        let mut running = match self.busy.try_lock() {
            Ok(g) if self.threads > 1 && n > 1 => g,
            // one thread, one task, or the pool is taken by another thread: run inline
            _ => return run_inline(n, body),
        };
        let start = Instant::now();
        if running.adapt.inline_now(start) {
            // other processes hold the cores (see `Adapt`): the caller alone is faster
            drop(running);
            return run_inline(n, body);
        }
        running.epoch = running.epoch.wrapping_add(1);
        let e = u64::from(running.epoch) << 32;
        let s = &*self.shared;
        let job = Job { body };
        s.done.store(0, Relaxed);
        s.job.store(&job as *const Job as usize, Relaxed);
        s.count.store(e | n as u64, Relaxed);
        // publishes job, count and done to every worker that sees the new epoch (Acquire)
        s.claim.store(e, Release);
        {
            let sleepers = s.sleepers.lock().unwrap_or_else(|p| p.into_inner());
            if *sleepers > 0 {
                s.wake.notify_all();
            }
        }
        let own_tasks = claim_tasks(s, e);
        let own = start.elapsed();
        // every claimed task runs to its end (panics are caught), so this terminates; `job`
        // must outlive the wait because workers may still be running tasks of this epoch
        let mut spins = 0u32;
        while s.done.load(Acquire) < n {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        let now = Instant::now();
        running
            .adapt
            .record(n, own_tasks, own, now.duration_since(start), now);
        let panic = s.panic.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(running);
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Release);
        {
            let _g = self
                .shared
                .sleepers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn run_inline(n: usize, body: &(dyn Fn(usize) + Sync)) {
    for i in 0..n {
        body(i);
    }
}

/// Claims and runs tasks of epoch `e` until none are left; returns how many it ran.
fn claim_tasks(s: &Shared, e: u64) -> usize {
    let count = s.count.load(Acquire);
    if count >> 32 != e >> 32 {
        return 0; // a newer loop has started: nothing of epoch e is left
    }
    let n = count & 0xffff_ffff;
    let mut c = s.claim.load(Acquire);
    let mut ran = 0;
    loop {
        if c >> 32 != e >> 32 || c & 0xffff_ffff >= n {
            return ran;
        }
        match s.claim.compare_exchange_weak(c, c + 1, AcqRel, Acquire) {
            Ok(_) => {
                // SAFETY: a task of epoch e was claimed, so the loop of epoch e has unfinished
                // tasks and its caller is still waiting with `job` alive on its stack.
                let job = unsafe { &*(s.job.load(Relaxed) as *const Job) };
                let was = IN_TASK.with(|t| t.replace(true));
                let r = catch_unwind(AssertUnwindSafe(|| (job.body)((c & 0xffff_ffff) as usize)));
                IN_TASK.with(|t| t.set(was));
                if let Err(p) = r {
                    let mut slot = s.panic.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(p);
                }
                s.done.fetch_add(1, Release);
                ran += 1;
                c = s.claim.load(Acquire);
            }
            Err(now) => c = now,
        }
    }
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        let e = loop {
            let c = s.claim.load(Acquire);
            if c >> 32 != seen {
                break c >> 32;
            }
            if s.shutdown.load(Acquire) {
                return;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(256) || start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let mut sleepers = s.sleepers.lock().unwrap_or_else(|p| p.into_inner());
            // re-checked under the lock the caller takes after publishing: no lost wake-up
            if s.claim.load(Acquire) >> 32 == seen && !s.shutdown.load(Acquire) {
                *sleepers += 1;
                sleepers = s.wake.wait(sleepers).unwrap_or_else(|p| p.into_inner());
                *sleepers -= 1;
            }
        };
        seen = e;
        sync_flush_denormal();
        let _ = claim_tasks(s, e << 32);
    }
}

/// The pool kernels on this thread use.
fn current() -> Arc<Pool> {
    if let Some(p) = CURRENT.with(|c| c.borrow().clone()) {
        return p;
    }
    let mut g = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = &*g {
        return p.clone();
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    // a pool that cannot start its workers still runs everything on the caller
    let p = Pool::new(n).unwrap_or_else(|_| Pool::new(1).expect("one thread needs no spawn"));
    *g = Some(p.clone());
    p
}

/// Runs `body(i)` for every `i < n`, spread over the kernel threads. Tasks may run in any order
/// and on any thread; a loop inside a task runs inline.
pub(crate) fn for_each(n: usize, body: impl Fn(usize) + Sync) {
    if n == 0 {
        return;
    }
    if n == 1 || IN_TASK.with(|t| t.get()) {
        return run_inline(n, &body);
    }
    sync_flush_denormal();
    let pool = current();
    // task indices live in the low 32 bits of the claim counter: longer loops run in parts
    const MAX_TASKS: usize = u32::MAX as usize;
    let mut start = 0;
    while start < n {
        let len = MAX_TASKS.min(n - start);
        pool.run(len, &|i| body(start + i));
        start += len;
    }
}

/// Sets the number of kernel threads of the global pool (the calling thread counts as one).
/// Replaces the pool if one was built already; threads that entered their own pool with
/// [`with_num_threads`] keep it.
pub fn set_num_threads(n: usize) -> Result<()> {
    let p = Pool::new(n).map_err(|e| Error::msg(format!("set_num_threads({n}): {e}")))?;
    let old = GLOBAL.lock().unwrap_or_else(|p| p.into_inner()).replace(p);
    drop(old); // outside the lock: joins the old workers once no loop holds the pool
    Ok(())
}

/// The number of threads kernels on this thread run on.
pub fn num_threads() -> usize {
    current().threads
}

/// Runs `f` on the calling thread with its kernels on a pool of `n` threads (for tests and
/// benchmarks that compare thread counts, and for long jobs with their own thread count).
pub fn with_num_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    let p = Pool::new(n).map_err(|e| Error::msg(format!("with_num_threads({n}): {e}")))?;
    let prev = CURRENT.with(|c| c.replace(Some(p)));
    // restore the previous pool even if f panics
    struct Restore(Option<Arc<Pool>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let _restore = Restore(prev);
    Ok(f())
}

/// Treat subnormal floats as zero (inputs) and flush subnormal results to zero, or restore IEEE
/// behaviour, on the calling thread and on every kernel worker thread (each applies it before
/// its next task). Returns `false` where the CPU has no such mode (nothing changes then), like
/// PyTorch's `torch.set_flush_denormal`.
pub fn set_flush_denormal(on: bool) -> bool {
    if !apply_flush_denormal(on) {
        return false;
    }
    FLUSH_DENORMAL.store(on, Relaxed);
    let g = FLUSH_GENERATION.fetch_add(1, AcqRel) + 1;
    APPLIED.with(|a| a.set(g));
    true
}

/// Applies the latest [`set_flush_denormal`] setting on this thread if it has not yet.
fn sync_flush_denormal() {
    let g = FLUSH_GENERATION.load(Acquire);
    if APPLIED.with(|a| a.replace(g)) != g {
        apply_flush_denormal(FLUSH_DENORMAL.load(Relaxed));
    }
}

/// Whether the calling thread flushes subnormals to zero.
pub fn flush_denormal() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        mxcsr() & MXCSR_FTZ_DAZ == MXCSR_FTZ_DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// MXCSR bits: FTZ (15, flush results) and DAZ (6, read inputs as zero).
#[cfg(target_arch = "x86_64")]
const MXCSR_FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

#[cfg(target_arch = "x86_64")]
fn mxcsr() -> u32 {
    let mut v: u32 = 0;
    // SAFETY: stmxcsr stores the 32-bit SSE control/status register to the given address, which
    // is a valid, aligned u32 on this stack frame; SSE is part of the x86_64 baseline.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
    v
}

/// Sets the mode on the calling thread only.
fn apply_flush_denormal(on: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let v = if on {
            mxcsr() | MXCSR_FTZ_DAZ
        } else {
            mxcsr() & !MXCSR_FTZ_DAZ
        };
        // SAFETY: ldmxcsr loads a value derived from the current MXCSR with only the FTZ and DAZ
        // bits changed (both defined on every x86_64 CPU with SSE2, which is the baseline), so
        // no reserved bit is set and no exception is unmasked.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &v, options(nostack, readonly)) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        false
    }
}

#[cfg(test)]
#[path = "threads_tests.rs"]
mod tests;
