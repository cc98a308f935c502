//! Character-level LM data on `../shared/data/shakespeare` and `jane-austen`: the sizes their
//! READMEs state (skipped with a message when the folder is missing).

use deepnet_data::{load_text, CharLmConfig, CharLmDataset, CharVocab, Dataset};

mod common;
use common::shared_data as shared;

#[test]
fn shakespeare_vocab_split_and_round_trip() {
    let Some(path) = shared("shakespeare/shakespeare.txt") else {
        return;
    };
    let text = load_text(&path).unwrap();
    // README: 4868870 characters, 178571 lines, 79 distinct characters
    assert_eq!(text.chars().count(), 4_868_870);
    assert_eq!(text.matches('\n').count(), 178_571);
    let (train, val) = CharLmDataset::load(&path, &CharLmConfig::default()).unwrap();
    // README: split at character 4381983
    assert_eq!((train.ids().len(), val.ids().len()), (4_381_983, 486_887));
    let vocab = train.vocab().clone();
    assert_eq!(vocab.len(), 79);
    assert_eq!(vocab.chars()[..3], ['\n', ' ', '!']);
    assert_eq!(vocab.chars()[78], '—');
    assert_eq!(**val.vocab(), *vocab);
    assert_eq!(vocab.to_metadata().chars().count(), 79);
    assert_eq!(
        CharVocab::from_metadata(&vocab.to_metadata()).unwrap(),
        *vocab
    );
    // windows of 101 ids, stride 100: (n - 1) / 100 of them
    assert_eq!((train.len(), val.len()), (43_819, 4_868));
    assert_eq!(train.sample_shape(), [101]);
    // round trip: the two parts decode to the text, and the first validation window is the
    // text at character 4381983
    let mut back = vocab.decode(train.ids()).unwrap();
    back.push_str(&vocab.decode(val.ids()).unwrap());
    assert!(back == text, "decode(encode(text)) differs from the text");
    let w = vocab.decode(val.window(0).unwrap()).unwrap();
    assert!(w.starts_with("rial of his men\nTill he disbursed"), "{w:?}");
    let (x, _) = val.get(0).unwrap();
    let ids: Vec<u32> = x
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&v| v as u32)
        .collect();
    assert_eq!(ids, val.window(0).unwrap());
    // deterministic
    let (again, _) = CharLmDataset::split(&text, &CharLmConfig::default()).unwrap();
    assert_eq!(again.ids(), train.ids());
}

#[test]
fn jane_austen_vocab_and_split() {
    let Some(path) = shared("jane-austen/jane_austen.txt") else {
        return;
    };
    let cfg = CharLmConfig {
        seq_len: 64,
        ..CharLmConfig::default()
    };
    let (train, val) = CharLmDataset::load(&path, &cfg).unwrap();
    // README: 4025043 characters, 81 distinct; the first 90% holds all 81
    assert_eq!(train.ids().len() + val.ids().len(), 4_025_043);
    assert_eq!((train.ids().len(), val.ids().len()), (3_622_539, 402_504));
    assert_eq!(train.vocab().len(), 81);
    assert_eq!(val.len(), (402_504 - 1) / 64);
}
