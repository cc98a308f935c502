//! The MNIST copy shipped in `data/mnist`, and Fashion-MNIST from `../shared/data/fashion-mnist`
//! when that folder exists (skipped with a message otherwise).

use deepnet_data::transforms::{mean_std, scale_u8};
use deepnet_data::{read_idx_pair, DataLoader, Dataset, InMemoryDataset, Mnist, Split};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

fn fashion_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fashion-mnist")
}

/// Each split is decoded once per test binary.
fn mnist(split: Split) -> &'static InMemoryDataset {
    static TRAIN: OnceLock<InMemoryDataset> = OnceLock::new();
    static TEST: OnceLock<InMemoryDataset> = OnceLock::new();
    let cell = if split == Split::Train { &TRAIN } else { &TEST };
    cell.get_or_init(|| Mnist::load(mnist_dir(), split).unwrap())
}

fn class_counts(labels: &[i64]) -> Vec<usize> {
    let mut c = vec![0; 10];
    labels.iter().for_each(|&l| c[l as usize] += 1);
    c
}

#[test]
fn shipped_mnist_has_the_official_split() {
    assert_eq!(
        Mnist::shipped_dir().canonicalize().unwrap(),
        mnist_dir().canonicalize().unwrap()
    );
    let train = mnist(Split::Train);
    let test = mnist(Split::Test);
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    for d in [train, test] {
        assert_eq!(d.sample_shape(), vec![1, 28, 28]);
        assert_eq!(d.num_classes(), Some(10));
        assert!(d.labels().iter().all(|l| (0..10).contains(l)));
        let (lo, hi) = d
            .images()
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        assert_eq!((lo, hi), (0.0, 1.0), "pixels scaled to [0, 1]");
    }
    assert_eq!(&train.labels()[..8], &[5, 0, 4, 1, 9, 2, 1, 3]);
    assert_eq!(&test.labels()[..8], &[7, 2, 1, 0, 4, 1, 4, 9]);
    // class counts from data/mnist/README.md
    assert_eq!(
        class_counts(train.labels()),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        class_counts(test.labels()),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // the usual normalization constants, transforms.Normalize((0.1307,), (0.3081,))
    let (m, s) = mean_std(train.images());
    assert!(
        (m - 0.1307).abs() < 1e-4 && (s - 0.3081).abs() < 1e-4,
        "{m} {s}"
    );
}

#[test]
fn raw_pair_and_batches_agree() {
    let dir = mnist_dir();
    let (images, labels) = read_idx_pair(
        dir.join("t10k-images-idx3-ubyte.gz"),
        dir.join("t10k-labels-idx1-ubyte.gz"),
        10,
    )
    .unwrap();
    assert_eq!(images.dims, vec![10_000, 28, 28]);
    let test = mnist(Split::Test);
    assert_eq!(labels, test.labels());
    assert_eq!(scale_u8(&images.data), test.images());

    let (x, y) = test.get_batch(&[0, 9_999]).unwrap();
    assert_eq!(
        (x.dims(), y.dims()),
        (&[2usize, 1, 28, 28][..], &[2usize][..])
    );
    assert_eq!(y.to_vec::<i64>().unwrap(), vec![7, labels[9_999]]);
    let flat = test.clone().reshape_samples(vec![784]).unwrap();
    assert_eq!(flat.get_batch(&[0]).unwrap().0.dims(), &[1, 784]);
}

#[test]
fn one_shuffled_epoch_over_the_training_set() {
    let train = Arc::new(mnist(Split::Train).clone());
    let loader = DataLoader::new(train, 1000).unwrap().shuffle(true).seed(1);
    assert_eq!(loader.len(), 60);
    let mut labels = Vec::with_capacity(60_000);
    for b in loader.iter_epoch(0) {
        let (x, y) = b.unwrap();
        assert_eq!(x.dims(), &[1000, 1, 28, 28]);
        labels.extend(y.to_vec::<i64>().unwrap());
    }
    assert_ne!(&labels[..8], &[5, 0, 4, 1, 9, 2, 1, 3]);
    assert_eq!(
        class_counts(&labels),
        class_counts(mnist(Split::Train).labels())
    );
}

#[test]
fn fashion_mnist_if_present() {
    let dir = fashion_dir();
    if !dir.is_dir() {
        eprintln!(
            "skipping fashion_mnist_if_present: {} not found (Fashion-MNIST is not shipped)",
            dir.display()
        );
        return;
    }
    let train = Mnist::load(&dir, Split::Train).unwrap();
    let test = Mnist::load(&dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.sample_shape(), vec![1, 28, 28]);
    assert_eq!(class_counts(train.labels()), vec![6000; 10]);
    assert_eq!(class_counts(test.labels()), vec![1000; 10]);
    assert_eq!(
        train.labels()[0],
        9,
        "the first training image is an ankle boot"
    );
    let (m, s) = mean_std(train.images());
    assert!(
        (m - 0.2860).abs() < 1e-3 && (s - 0.3530).abs() < 1e-3,
        "{m} {s}"
    );
}
