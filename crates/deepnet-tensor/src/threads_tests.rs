//! Tests of the kernel thread pool and the flush-denormal mode.

use super::*;
use std::sync::atomic::AtomicU32;

/// Counts how often each index ran.
fn counts(n: usize) -> Vec<AtomicU32> {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

#[test]
fn every_task_runs_exactly_once_on_any_thread_count() {
    for threads in [1, 2, 3, 5] {
        with_num_threads(threads, || {
            assert_eq!(num_threads(), threads);
            for n in [0, 1, 2, 7, 1000] {
                for _ in 0..20 {
                    let c = counts(n);
                    for_each(n, |i| {
                        c[i].fetch_add(1, Relaxed);
                    });
                    assert!(
                        c.iter().all(|x| x.load(Relaxed) == 1),
                        "{threads} threads, n {n}"
                    );
                }
            }
        })
        .unwrap();
    }
}

#[test]
fn the_work_is_shared_between_threads() {
    with_num_threads(2, || {
        let ids = Mutex::new(std::collections::HashSet::new());
        // tasks long enough that the worker wakes and claims some
        for_each(64, |_| {
            ids.lock().unwrap().insert(std::thread::current().id());
            std::thread::sleep(Duration::from_millis(2));
        });
        assert_eq!(ids.lock().unwrap().len(), 2);
    })
    .unwrap();
}

#[test]
fn nested_loops_run_inline_and_complete() {
    with_num_threads(3, || {
        let c = counts(40 * 30);
        for_each(40, |i| {
            for_each(30, |j| {
                c[i * 30 + j].fetch_add(1, Relaxed);
            })
        });
        assert!(c.iter().all(|x| x.load(Relaxed) == 1));
    })
    .unwrap();
}

#[test]
fn a_panicking_task_reaches_the_caller_and_the_pool_keeps_working() {
    with_num_threads(2, || {
        let r = catch_unwind(AssertUnwindSafe(|| {
            for_each(100, |i| {
                if i == 57 {
                    panic!("task 57 failed");
                }
            })
        }));
        let msg = r.unwrap_err();
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"task 57 failed"));
        let c = counts(100);
        for_each(100, |i| {
            c[i].fetch_add(1, Relaxed);
        });
        assert!(c.iter().all(|x| x.load(Relaxed) == 1));
    })
    .unwrap();
}

#[test]
fn threads_sharing_a_pool_each_get_all_their_tasks() {
    with_num_threads(2, || {
        let pool = current();
        std::thread::scope(|sc| {
            for _ in 0..4 {
                let pool = pool.clone();
                sc.spawn(move || {
                    for n in [3usize, 100, 1000] {
                        let c = counts(n);
                        pool.run(n, &|i| {
                            c[i].fetch_add(1, Relaxed);
                        });
                        assert!(c.iter().all(|x| x.load(Relaxed) == 1));
                    }
                });
            }
        });
    })
    .unwrap();
}

#[test]
fn with_num_threads_restores_the_previous_pool() {
    with_num_threads(3, || {
        assert_eq!(with_num_threads(2, num_threads).unwrap(), 2);
        assert_eq!(num_threads(), 3);
        let r = catch_unwind(|| with_num_threads(1, || panic!("inside")));
        assert!(r.is_err());
        assert_eq!(num_threads(), 3, "restored after a panic too");
    })
    .unwrap();
}

#[test]
fn zero_threads_is_an_error() {
    assert!(with_num_threads(0, || ()).is_err());
}

/// The cost of an empty parallel loop:
/// `cargo test --release -p deepnet-tensor --lib loop_overhead -- --ignored --nocapture`.
#[test]
#[ignore]
fn loop_overhead() {
    for threads in [1, 2] {
        with_num_threads(threads, || {
            for n in [2, 16] {
                let reps = 200_000;
                let t = Instant::now();
                for _ in 0..reps {
                    for_each(n, |i| {
                        std::hint::black_box(i);
                    });
                }
                let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
                println!("{threads} threads, {n} empty tasks: {us:.2} us per loop");
            }
        })
        .unwrap();
    }
}
