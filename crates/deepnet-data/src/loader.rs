//! The [`DataLoader`]: batches of a [`Dataset`] in a seeded, per-epoch order, assembled ahead of
//! time on a background thread.
//!
//! ```
//! use deepnet_data::{DataLoader, Dataset, InMemoryDataset};
//! use std::sync::Arc;
//! let ds = InMemoryDataset::new(vec![0.0; 10 * 4], vec![2, 2], vec![0; 10], 2)?;
//! let loader = DataLoader::new(Arc::new(ds), 4)?.shuffle(true).seed(7);
//! for epoch in 0..2 {
//!     for batch in loader.iter_epoch(epoch) {
//!         let (x, y) = batch?; // x: (B, 2, 2) f32, y: (B,) i64, B = 4, 4, 2
//!         assert_eq!(x.dims()[0], y.dims()[0]);
//!     }
//! }
//! # Ok::<(), deepnet_data::DataError>(())
//! ```
//!
//! Determinism: epoch `e` shuffles with a generator derived from `(seed, e)` only, so epoch 7 of
//! a resumed run sees the same order as epoch 7 of the original run, whatever came before, and
//! the order does not depend on prefetching.

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use deepnet_tensor::{Generator, Tensor};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A batch: images `(B, *sample_shape)` f32 and labels `(B,)` i64.
pub type Batch = (Tensor, Tensor);

/// A function applied to every batch on the loader's thread (augmentation, noise), with a
/// generator derived from `(seed, epoch)` and advanced batch after batch.
pub type BatchTransform = dyn Fn(Tensor, Tensor, &mut Generator) -> Result<Batch> + Send + Sync;

/// Batches over a dataset. Cheap to clone (the dataset is shared).
#[derive(Clone)]
pub struct DataLoader {
    dataset: Arc<dyn Dataset>,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    seed: u64,
    prefetch: usize,
    transform: Option<Arc<BatchTransform>>,
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("len", &self.dataset.len())
            .field("batch_size", &self.batch_size)
            .field("shuffle", &self.shuffle)
            .field("drop_last", &self.drop_last)
            .field("seed", &self.seed)
            .field("prefetch", &self.prefetch)
            .field("transform", &self.transform.is_some())
            .finish()
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of stream `stream` (0: shuffling, 1: batch transforms) of epoch `epoch`.
pub fn epoch_seed(seed: u64, epoch: u64, stream: u64) -> u64 {
    splitmix(splitmix(splitmix(seed) ^ epoch) ^ stream)
}

impl DataLoader {
    /// A loader with batches of `batch_size` (> 0), in dataset order (PyTorch's defaults:
    /// no shuffling, last partial batch kept), 2 batches prefetched.
    pub fn new(dataset: Arc<dyn Dataset>, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(DataError::invalid(
                "DataLoader::new",
                "batch_size must be at least 1",
            ));
        }
        Ok(DataLoader {
            dataset,
            batch_size,
            shuffle: false,
            drop_last: false,
            seed: 0,
            prefetch: 2,
            transform: None,
        })
    }
    /// Reshuffle every epoch (with a stream derived from the seed and the epoch).
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }
    /// The seed of the shuffling and transform streams (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Drop the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, on: bool) -> Self {
        self.drop_last = on;
        self
    }
    /// How many batches the background thread assembles ahead (default 2); 0 builds each batch
    /// on the calling thread when it is asked for, with no thread.
    pub fn prefetch(mut self, batches: usize) -> Self {
        self.prefetch = batches;
        self
    }
    /// Applies `f` to every batch on the loader's thread.
    pub fn with_batch_transform(
        mut self,
        f: impl Fn(Tensor, Tensor, &mut Generator) -> Result<Batch> + Send + Sync + 'static,
    ) -> Self {
        self.transform = Some(Arc::new(f));
        self
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }
    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// The number of batches per epoch.
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }
    /// Whether an epoch has no batches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample order of epoch `epoch`: a permutation of `0..len` when shuffling, else
    /// `0..len`.
    pub fn epoch_indices(&self, epoch: u64) -> Vec<usize> {
        let n = self.dataset.len();
        if self.shuffle {
            Generator::new(epoch_seed(self.seed, epoch, 0)).permutation(n)
        } else {
            (0..n).collect()
        }
    }

    /// The sample indices of every batch of epoch `epoch`, in the order
    /// [`DataLoader::iter_epoch`] yields the batches (the last one shorter, or dropped with
    /// `drop_last`). Training code that needs more per sample than `(x, y)` (the true lengths of
    /// a [`crate::SequenceDataset`]) looks them up with these.
    pub fn batch_indices(&self, epoch: u64) -> Vec<Vec<usize>> {
        let order = self.epoch_indices(epoch);
        order
            .chunks(self.batch_size)
            .take(self.len())
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// The batches of epoch `epoch`, each a `Result<(images, labels)>`. After an error the
    /// iterator ends. Dropping it early stops the background thread.
    pub fn iter_epoch(&self, epoch: u64) -> Batches {
        self.iter_epoch_from(epoch, 0)
    }

    /// The batches of epoch `epoch` from batch `first` on (0-based), exactly as
    /// [`DataLoader::iter_epoch`] would yield them after `first` batches: the order is the
    /// epoch's, and each batch's transform draws from its own generator (seeded by the epoch
    /// and the batch index), so skipping batches changes nothing that follows. This is how a
    /// run resumes mid-epoch.
    pub fn iter_epoch_from(&self, epoch: u64, first: usize) -> Batches {
        let job = Job {
            dataset: self.dataset.clone(),
            order: self.epoch_indices(epoch),
            batch_size: self.batch_size,
            transform: self.transform.clone(),
            seed: epoch_seed(self.seed, epoch, 1),
        };
        let num = self.len().saturating_sub(first);
        if self.prefetch == 0 || num == 0 {
            return Batches {
                state: State::Inline { job, next: first },
                remaining: num,
            };
        }
        let (tx, rx) = sync_channel(self.prefetch);
        let spawned = std::thread::Builder::new()
            .name("deepnet-data-prefetch".into())
            .spawn(move || {
                for b in first..first + num {
                    let r = job.batch(b);
                    let failed = r.is_err();
                    // a failed send means the iterator was dropped: stop quietly
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                }
            });
        let state = match spawned {
            Ok(handle) => State::Thread {
                rx: Some(rx),
                handle: Some(handle),
            },
            Err(e) => State::Failed(Some(DataError::WorkerPanicked(format!(
                "could not start the prefetch thread: {e}"
            )))),
        };
        Batches {
            state,
            remaining: num,
        }
    }
}

struct Job {
    dataset: Arc<dyn Dataset>,
    order: Vec<usize>,
    batch_size: usize,
    transform: Option<Arc<BatchTransform>>,
    /// the epoch's transform seed; batch `b` draws from a generator seeded by it and `b`
    seed: u64,
}

impl Job {
    fn batch(&self, b: usize) -> Result<Batch> {
        let start = b * self.batch_size;
        let end = (start + self.batch_size).min(self.order.len());
        let (x, y) = self.dataset.get_batch(&self.order[start..end])?;
        match &self.transform {
            Some(f) => f(x, y, &mut Generator::new(splitmix(self.seed ^ b as u64))),
            None => Ok((x, y)),
        }
    }
}

enum State {
    Inline {
        job: Job,
        next: usize,
    },
    Thread {
        rx: Option<Receiver<Result<Batch>>>,
        handle: Option<JoinHandle<()>>,
    },
    Failed(Option<DataError>),
}

/// The batches of one epoch (see [`DataLoader::iter_epoch`]).
pub struct Batches {
    state: State,
    remaining: usize,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into())
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let r = match &mut self.state {
            State::Inline { job, next } => {
                let r = job.batch(*next);
                *next += 1;
                r
            }
            State::Thread { rx, handle } => match rx.as_ref().map(|rx| rx.recv()) {
                Some(Ok(r)) => r,
                _ => {
                    // the sender hung up before the last batch: the thread panicked
                    rx.take();
                    self.remaining = 0;
                    let msg = match handle.take().map(|h| h.join()) {
                        Some(Err(p)) => panic_message(p),
                        _ => "the thread stopped early".into(),
                    };
                    return Some(Err(DataError::WorkerPanicked(msg)));
                }
            },
            State::Failed(e) => {
                self.remaining = 0;
                return e.take().map(Err);
            }
        };
        self.remaining = if r.is_err() { 0 } else { self.remaining - 1 };
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        if let State::Thread { rx, handle } = &mut self.state {
            // Closing the channel first wakes a sender blocked on a full queue; the thread then
            // finishes the batch in hand (if any) and returns.
            drop(rx.take());
            if let Some(h) = handle.take() {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryDataset;
    use std::time::{Duration, Instant};

    /// n samples of shape (1,), sample i holds the value i, label i % 5.
    fn ds(n: usize) -> Arc<dyn Dataset> {
        let images = (0..n).map(|i| i as f32).collect();
        let labels = (0..n).map(|i| (i % 5) as i64).collect();
        Arc::new(InMemoryDataset::new(images, vec![1], labels, 5).unwrap())
    }

    fn epoch(l: &DataLoader, e: u64) -> Vec<Vec<usize>> {
        l.iter_epoch(e)
            .map(|b| {
                let (x, y) = b.unwrap();
                let v: Vec<usize> = x
                    .to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|&v| v as usize)
                    .collect();
                assert_eq!(x.dims(), &[v.len(), 1]);
                let labels = y.to_vec::<i64>().unwrap();
                assert_eq!(
                    labels,
                    v.iter().map(|&i| (i % 5) as i64).collect::<Vec<_>>()
                );
                v
            })
            .collect()
    }

    #[test]
    fn every_sample_once_per_epoch_in_a_seeded_order() {
        let l = DataLoader::new(ds(103), 10).unwrap().shuffle(true).seed(42);
        assert_eq!(l.len(), 11);
        let e0 = epoch(&l, 0);
        let sizes: Vec<usize> = e0.iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [vec![10; 10], vec![3]].concat());
        let mut all: Vec<usize> = e0.concat();
        assert_ne!(all, (0..103).collect::<Vec<_>>(), "shuffled");
        all.sort();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        let e1 = epoch(&l, 1);
        assert_ne!(e0, e1, "a new order every epoch");
        // same seed and epoch: same order, whether prefetched or not, from a fresh loader
        let again = DataLoader::new(ds(103), 10).unwrap().shuffle(true).seed(42);
        assert_eq!(epoch(&again, 1), e1);
        assert_eq!(epoch(&again.clone().prefetch(0), 1), e1);
        assert_eq!(epoch(&again.prefetch(5), 0), e0);
        assert_eq!(l.epoch_indices(1), e1.concat());
        assert_eq!(
            l.batch_indices(1),
            e1,
            "batch_indices matches iter_epoch batch by batch"
        );
        let other = DataLoader::new(ds(103), 10).unwrap().shuffle(true).seed(43);
        assert_ne!(epoch(&other, 0), e0);
        // no shuffling: dataset order
        let plain = DataLoader::new(ds(25), 10).unwrap();
        assert_eq!(epoch(&plain, 3).concat(), (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn drop_last_counts() {
        let l = DataLoader::new(ds(103), 10)
            .unwrap()
            .drop_last(true)
            .shuffle(true);
        assert_eq!(l.len(), 10);
        let e = epoch(&l, 0);
        assert_eq!(e.len(), 10);
        assert!(e.iter().all(|b| b.len() == 10));
        assert_eq!(l.batch_indices(0), e);
        let small = DataLoader::new(ds(7), 10).unwrap().drop_last(true);
        assert!(small.is_empty());
        assert_eq!(small.iter_epoch(0).count(), 0);
        let exact = DataLoader::new(ds(20), 10).unwrap();
        assert_eq!((exact.len(), exact.clone().drop_last(true).len()), (2, 2));
        assert_eq!(DataLoader::new(ds(0), 3).unwrap().iter_epoch(0).count(), 0);
        assert!(DataLoader::new(ds(3), 0).is_err());
    }

    /// A dataset whose batches are slow, fail at a given index, or panic.
    struct Slow {
        inner: Arc<dyn Dataset>,
        delay: Duration,
        fail_at: Option<usize>,
        panic_at: Option<usize>,
    }
    impl Dataset for Slow {
        fn len(&self) -> usize {
            self.inner.len()
        }
        fn sample_shape(&self) -> Vec<usize> {
            self.inner.sample_shape()
        }
        fn get(&self, i: usize) -> Result<(Tensor, i64)> {
            self.inner.get(i)
        }
        fn get_batch(&self, indices: &[usize]) -> Result<Batch> {
            std::thread::sleep(self.delay);
            if indices.iter().any(|&i| Some(i) == self.fail_at) {
                return Err(DataError::invalid("slow", "injected failure"));
            }
            if indices.iter().any(|&i| Some(i) == self.panic_at) {
                panic!("injected panic");
            }
            self.inner.get_batch(indices)
        }
    }

    fn slow(delay_ms: u64, fail_at: Option<usize>, panic_at: Option<usize>) -> Arc<dyn Dataset> {
        Arc::new(Slow {
            inner: ds(1000),
            delay: Duration::from_millis(delay_ms),
            fail_at,
            panic_at,
        })
    }

    #[test]
    fn dropping_early_stops_the_thread() {
        let l = DataLoader::new(slow(5, None, None), 1).unwrap().prefetch(2);
        let t = Instant::now();
        let mut it = l.iter_epoch(0);
        assert!(it.next().unwrap().is_ok());
        drop(it); // 999 batches left: must not wait for them
        drop(l.iter_epoch(1)); // never polled
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn errors_end_the_epoch() {
        let l = DataLoader::new(slow(0, Some(25), None), 10).unwrap();
        let r: Vec<_> = l.iter_epoch(0).collect();
        assert_eq!(r.len(), 3);
        assert!(r[0].is_ok() && r[1].is_ok());
        assert_eq!(
            r[2].as_ref().unwrap_err().to_string(),
            "slow: injected failure"
        );
        let inline: Vec<_> = l.clone().prefetch(0).iter_epoch(0).collect();
        assert_eq!(inline.len(), 3);

        let l = DataLoader::new(slow(0, None, Some(15)), 10).unwrap();
        let r: Vec<_> = l.iter_epoch(0).collect();
        assert_eq!(r.len(), 2);
        let e = r[1].as_ref().unwrap_err().to_string();
        assert_eq!(
            e,
            "data loader: the prefetch thread panicked: injected panic"
        );
    }

    #[test]
    fn batch_transforms_are_seeded_per_epoch() {
        let l = DataLoader::new(ds(40), 8)
            .unwrap()
            .seed(9)
            .with_batch_transform(|x, y, g| {
                Ok((crate::transforms::gaussian_noise_tensor(&x, 1.0, g)?, y))
            });
        let run = |l: &DataLoader, e| -> Vec<f32> {
            l.iter_epoch(e)
                .flat_map(|b| b.unwrap().0.to_vec::<f32>().unwrap())
                .collect()
        };
        let a = run(&l, 0);
        assert_eq!(a, run(&l.clone().prefetch(0), 0));
        assert_ne!(a, run(&l, 1));
        assert!(a.iter().enumerate().any(|(i, &v)| v != i as f32));
        // resuming at batch 2 yields the same batches 2.. as the whole epoch, with and without
        // the prefetch thread; the batches of one epoch draw different noise
        for l in [l.clone(), l.clone().prefetch(0)] {
            let rest: Vec<f32> = l
                .iter_epoch_from(0, 2)
                .flat_map(|b| b.unwrap().0.to_vec::<f32>().unwrap())
                .collect();
            assert_eq!(rest, a[2 * 8..]);
            assert_eq!(l.iter_epoch_from(0, 5).count(), 0);
        }
        let noise = |i: usize| a[i] - i as f32;
        assert_ne!(noise(0), noise(8));
    }
}
