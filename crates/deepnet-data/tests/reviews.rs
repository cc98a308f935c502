//! The fine-food reviews in `../shared/data/fine-foods-reviews`: the counts and label balance
//! its README states (skipped with a message when the folder is missing). The vocabulary size,
//! token counts and truncations were cross-checked with a Python implementation of the same
//! tokenizer rules over Python's `csv` module.

use deepnet_data::reviews::read_reviews;
use deepnet_data::{load_reviews, Dataset, ReviewsConfig, SequenceDataset, WordVocab};
use std::path::PathBuf;

mod common;

fn reviews_dir() -> Option<PathBuf> {
    common::shared_data("fine-foods-reviews")
}

#[test]
fn counts_labels_vocab_and_lengths() {
    let Some(dir) = reviews_dir() else { return };
    let (train, test) = load_reviews(&dir, &ReviewsConfig::default()).unwrap();
    // README: train 4000 (great 2600, other 1400) / test 1000 (great 658, other 342)
    assert_eq!((train.len(), test.len()), (4000, 1000));
    let balance = |d: &deepnet_data::ReviewsDataset| {
        let l = d.sequences().data().labels();
        (
            l.iter().filter(|&&v| v == 0).count(),
            l.iter().filter(|&&v| v == 1).count(),
        )
    };
    assert_eq!(balance(&train), (2600, 1400));
    assert_eq!(balance(&test), (658, 342));
    assert_eq!(
        (train.sample_shape(), train.num_classes()),
        (vec![200], Some(2))
    );
    // 7314 words seen at least twice in train, plus <pad> and <unk>
    let v = train.vocab();
    assert_eq!(v.len(), 7316);
    assert_eq!(v.words()[2..6], ["the", "i", "and", "a"]);
    assert!(std::sync::Arc::ptr_eq(v, test.vocab()));
    assert_eq!(WordVocab::from_metadata(&v.to_metadata()).unwrap(), **v);
    // reviews longer than 200 tokens are cut
    assert_eq!((train.truncated(), test.truncated()), (198, 43));
    let max = |d: &deepnet_data::ReviewsDataset| *d.lengths().iter().max().unwrap();
    let min = |d: &deepnet_data::ReviewsDataset| *d.lengths().iter().min().unwrap();
    assert_eq!(
        (min(&train), max(&train), min(&test), max(&test)),
        (10, 200, 13, 200)
    );
    // the first train review, "This stuff is not stuffing...", and its ids
    let b = train.get_batch_with_lengths(&[0]).unwrap();
    assert_eq!(b.lengths, [13]);
    let ids: Vec<u32> =
        b.x.to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|&x| x as u32)
            .collect();
    assert_eq!(
        ids[..14],
        [10, 156, 9, 18, 3276, 174, 18, 28, 38, 44, 469, 70, 317, 0]
    );
    let words: Vec<&str> = ids[..3].iter().map(|&i| v.word(i).unwrap()).collect();
    assert_eq!(words, ["this", "stuff", "is"]);
    // within the first 200 tokens: 274697 train tokens, 5756 of them words seen once in train
    // (<unk>); 68486 test tokens, 2676 unknown
    let count = |d: &deepnet_data::ReviewsDataset, id: u32| {
        let x = d.sequences().data().images();
        x.iter().filter(|&&v| v == id as f32).count()
    };
    let tokens = |d: &deepnet_data::ReviewsDataset| d.lengths().iter().sum::<usize>();
    assert_eq!(
        (tokens(&train), count(&train, WordVocab::UNK)),
        (274_697, 5756)
    );
    assert_eq!(
        (tokens(&test), count(&test, WordVocab::UNK)),
        (68_486, 2676)
    );
    let raw = read_reviews(dir.join("test.csv")).unwrap();
    assert_eq!(raw.len(), 1000);
    assert_eq!(raw[0].line, 2);
}
