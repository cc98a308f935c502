//! The documented way of feeding a sequence dataset's lengths to a recurrent layer works: batches
//! from a shuffling `DataLoader`, their lengths from `batch_indices` + `lengths_of`, into
//! `LSTM::forward_with_state` (batch-first); every sequence's `h_n` equals that of the sequence
//! run alone, cut to its true length, and `SequenceBatch::trimmed` changes nothing.

use deepnet_data::{DataLoader, PaddedSequences, SequenceDataset};
use deepnet_nn::layers::{RnnConfig, LSTM};
use deepnet_nn::ParamStore;
use deepnet_tensor::Tensor;
use std::sync::Arc;

fn close(a: &Tensor, b: &Tensor, what: &str) {
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "{what}: {a:?} vs {b:?}");
    }
}

#[test]
fn lengths_from_the_loader_give_each_sequence_its_own_final_state() {
    // 7 sequences of 3 features, lengths 1..=7 in a scrambled order, padded to L = 7
    let (f, l) = (3, 7);
    let lens = [3, 7, 1, 5, 2, 6, 4];
    let seqs: Vec<Vec<f32>> = lens
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (0..n * f)
                .map(|j| ((i * 31 + j * 17) % 13) as f32 / 6.0 - 1.0)
                .collect()
        })
        .collect();
    let labels = (0..7).map(|i| i % 2).collect();
    let ds = Arc::new(PaddedSequences::new(&seqs, &[f], l, 0.0, labels, 2).unwrap());
    let store = ParamStore::new(3);
    let cfg = RnnConfig {
        batch_first: true,
        ..RnnConfig::new(f, 4)
    };
    let lstm = LSTM::new(&cfg, &store.root()).unwrap();
    let loader = DataLoader::new(ds.clone(), 3)
        .unwrap()
        .shuffle(true)
        .seed(9);
    let mut seen = 0;
    for (batch, idx) in loader.iter_epoch(2).zip(loader.batch_indices(2)) {
        let (x, _) = batch.unwrap();
        let lengths = ds.lengths_of(&idx).unwrap();
        assert_eq!(x.dims(), &[idx.len(), l, f]);
        let (_, (h, _)) = lstm.forward_with_state(&x, None, Some(&lengths)).unwrap();
        for (b, &i) in idx.iter().enumerate() {
            let alone = x.narrow(0, b, 1).unwrap().narrow(1, 0, lens[i]).unwrap();
            let (_, (h1, _)) = lstm.forward_with_state(&alone, None, None).unwrap();
            close(&h.narrow(1, b, 1).unwrap(), &h1, &format!("sample {i}"));
            seen += 1;
        }
        // the same batch from the dataset, trimmed to its longest sequence
        let sb = ds.get_batch_with_lengths(&idx).unwrap().trimmed().unwrap();
        assert_eq!(sb.lengths, lengths);
        assert_eq!(sb.x.dims()[1], *lengths.iter().max().unwrap());
        let (_, (ht, _)) = lstm
            .forward_with_state(&sb.x, None, Some(&sb.lengths))
            .unwrap();
        close(&ht, &h, "trimmed");
    }
    assert_eq!(seen, 7);
}
