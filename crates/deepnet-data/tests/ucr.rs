//! The five UCR/UEA sets in `../shared/data/timeseries-ucr-uea` load with the sample counts,
//! dimensions, lengths and classes their README states (skipped with a message when the folder
//! is missing).

use deepnet_data::ucr::read_ts;
use deepnet_data::{load_ucr, load_ucr_tsv, load_ucr_with, Dataset, SequenceDataset, UcrOptions};
use std::path::PathBuf;

mod common;

fn ucr_dir() -> Option<PathBuf> {
    common::shared_data("timeseries-ucr-uea")
}

/// name, train count, test count, dimensions, shortest and longest series, class names
type Expected<'a> = (&'a str, usize, usize, usize, usize, usize, &'a [&'a str]);

fn class_counts(labels: &[i64], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    labels.iter().for_each(|&l| c[l as usize] += 1);
    c
}

#[test]
fn the_five_sets_match_their_readme() {
    let Some(dir) = ucr_dir() else { return };
    let table: &[Expected] = &[
        (
            "JapaneseVowels",
            270,
            370,
            12,
            7,
            29,
            &["1", "2", "3", "4", "5", "6", "7", "8", "9"],
        ),
        (
            "BasicMotions",
            40,
            40,
            6,
            100,
            100,
            &["Standing", "Running", "Walking", "Badminton"],
        ),
        ("GunPoint", 50, 150, 1, 150, 150, &["1", "2"]),
        ("ItalyPowerDemand", 67, 1029, 1, 24, 24, &["1", "2"]),
        ("ArrowHead", 36, 175, 1, 251, 251, &["0", "1", "2"]),
    ];
    for &(name, n_train, n_test, dims, lmin, lmax, classes) in table {
        let (train, test) = load_ucr(&dir, name).unwrap();
        assert_eq!((train.len(), test.len()), (n_train, n_test), "{name}");
        assert_eq!(train.problem_name(), name);
        for d in [&train, &test] {
            assert_eq!(d.sample_shape(), [lmax, dims], "{name}");
            assert_eq!(d.class_names(), classes, "{name}");
            assert_eq!(d.num_classes(), Some(classes.len()));
            assert!(d.data().images().iter().all(|v| v.is_finite()), "{name}");
        }
        let all: Vec<usize> = [train.lengths(), test.lengths()].concat();
        assert_eq!(
            (*all.iter().min().unwrap(), *all.iter().max().unwrap()),
            (lmin, lmax),
            "{name}"
        );
        // every class is present in both splits
        for d in [&train, &test] {
            let c = class_counts(d.data().labels(), classes.len());
            assert!(c.iter().all(|&k| k > 0), "{name}: {c:?}");
        }
    }
}

#[test]
fn japanese_vowels_class_counts_lengths_and_values() {
    let Some(dir) = ucr_dir() else { return };
    let (train, test) = load_ucr(&dir, "JapaneseVowels").unwrap();
    assert_eq!(class_counts(train.data().labels(), 9), [30; 9]);
    assert_eq!(
        class_counts(test.data().labels(), 9),
        [31, 35, 88, 44, 29, 24, 40, 50, 29]
    );
    assert_eq!(*train.lengths().iter().max().unwrap(), 26);
    assert_eq!(train.max_len(), 29, "padded to the longest of both splits");
    // the first case of the train file, dimension 0 starts 1.860936,1.891651 and dimension 1
    // starts -0.207383: time-major, so x[0, 0], x[0, 1], x[1, 0]
    let (x, y) = train.get(0).unwrap();
    let v = x.to_vec::<f32>().unwrap();
    assert_eq!((v[0], v[1], v[12]), (1.860936, -0.207383, 1.891651));
    assert_eq!(y, 0);
    let len0 = train.lengths()[0];
    assert_eq!(len0, 20);
    assert!(v[len0 * 12..].iter().all(|&p| p == 0.0), "zero padding");
    let b = train.get_batch_with_lengths(&[0, 1]).unwrap();
    assert_eq!(b.x.dims(), &[2, 29, 12]);
    assert_eq!(b.lengths, train.lengths()[..2]);
    assert_eq!(
        b.trimmed().unwrap().x.dims()[1],
        len0.max(train.lengths()[1])
    );
}

#[test]
fn znormalized_train_has_zero_mean_unit_std_per_dimension() {
    let Some(dir) = ucr_dir() else { return };
    let opts = UcrOptions {
        znormalize: true,
        ..UcrOptions::default()
    };
    let (train, test) = load_ucr_with(&dir, "BasicMotions", &opts).unwrap();
    assert_eq!(train.znorm(), test.znorm());
    let x = train.data().images();
    for f in 0..6 {
        let vals: Vec<f64> = x.iter().skip(f).step_by(6).map(|&v| v as f64).collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "dim {f}: {mean} {var}"
        );
    }
}

#[test]
fn tsv_and_ts_files_agree() {
    let Some(dir) = ucr_dir() else { return };
    for name in ["GunPoint", "ItalyPowerDemand", "ArrowHead"] {
        let (a_train, a_test) = load_ucr(&dir, name).unwrap();
        let (b_train, b_test) = load_ucr_tsv(&dir, name, &UcrOptions::default()).unwrap();
        for (a, b) in [(&a_train, &b_train), (&a_test, &b_test)] {
            assert_eq!(a.class_names(), b.class_names(), "{name}");
            assert_eq!(a.data(), b.data(), "{name}");
            assert_eq!(a.lengths(), b.lengths(), "{name}");
        }
    }
    let f = read_ts(dir.join("GunPoint/GunPoint_TRAIN.ts")).unwrap();
    assert_eq!(f.header.series_length, Some(150));
    assert_eq!(f.header.equal_length, Some(true));
}
