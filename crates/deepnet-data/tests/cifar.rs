//! The 20 real CIFAR-10 test images in `../shared/data/cifar10-sample`: the binary file reads
//! with the labels its README lists and the class names of `batches.meta.txt`.

mod common;

use deepnet_data::{Cifar10, Dataset, Split};

#[test]
fn the_shared_sample_reads_with_its_labels_and_class_names() {
    let Some(dir) = common::shared_data("cifar10-sample") else {
        return;
    };
    let ds = Cifar10::load(&dir, Split::Test).unwrap();
    assert_eq!((ds.len(), ds.sample_shape()), (20, vec![3, 32, 32]));
    assert_eq!(
        ds.labels(),
        [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]
    );
    assert!(ds.images().iter().all(|v| (0.0..=1.0).contains(v)));
    let names = Cifar10::class_names(&dir).unwrap();
    assert_eq!(names, Cifar10::CLASS_NAMES);
    let raw = deepnet_data::read_cifar10(dir.join("test_batch.bin")).unwrap();
    assert_eq!(raw.len(), 20);
    assert_eq!(raw.image(0).len(), 3072);
    // the pixels are not constant: a real image
    let first = raw.image(0);
    assert!(first.iter().any(|&p| p != first[0]));
}
