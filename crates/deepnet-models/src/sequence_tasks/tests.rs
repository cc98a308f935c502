use super::*;
use crate::RecurrentKind;
use deepnet_nn::loss::{cross_entropy, Reduction};
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::Generator;

const NAN: f32 = f32::NAN;

/// Series `seqs` (each `len * f` values, step-major) NaN-padded to `l` steps: `(N, l, f)`.
fn padded(seqs: &[Vec<f32>], f: usize, l: usize) -> Tensor {
    let mut v = Vec::new();
    for s in seqs {
        v.extend_from_slice(s);
        v.resize(v.len() + l * f - s.len(), NAN);
    }
    Tensor::from_vec(v, [seqs.len(), l, f]).unwrap()
}

/// `n` random series of `f` features with the given lengths.
fn random_series(lengths: &[usize], f: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut g = Generator::new(seed);
    lengths
        .iter()
        .map(|&k| (0..k * f).map(|_| g.next_normal() as f32).collect())
        .collect()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn nan_padding_gives_the_lengths_and_never_a_nan() {
    let x = padded(
        &[vec![1.0, 2.0], vec![3.0, 4.0, 5.0, 6.0], vec![7.0, 8.0]],
        2,
        4,
    );
    let (v, lengths) = split_nan_padding("test", &x).unwrap();
    assert_eq!(lengths, [1, 2, 1]);
    // cut to the longest series (2 steps), the padding zero
    assert_eq!(v.dims(), &[3, 2, 2]);
    assert_eq!(
        v.to_vec::<f32>().unwrap(),
        [1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0]
    );
    // no padding at all: unchanged, full lengths; f64 stays f64
    let full = seeded([2, 3, 1], 0);
    let (v, lengths) = split_nan_padding("test", &full).unwrap();
    assert_eq!((lengths, v.dtype()), (vec![3, 3], DType::F64));
    assert_eq!(v.to_vec::<f64>().unwrap(), full.to_vec::<f64>().unwrap());

    let err = |x: &Tensor| split_nan_padding("Model", x).unwrap_err().to_string();
    let e = err(&Tensor::from_vec(vec![1.0f32, NAN, 2.0, 3.0], [1, 2, 2]).unwrap());
    assert!(
        e.starts_with("Model: series 0, step 0: 1 of 2 values are NaN"),
        "{e}"
    );
    let e = err(&Tensor::from_vec(vec![1.0f32, NAN, 2.0], [1, 3, 1]).unwrap());
    assert!(
        e.contains("series 0: step 2 has values after the padding that starts at step 1"),
        "{e}"
    );
    let e = err(&Tensor::from_vec(vec![1.0f32, NAN, NAN], [3, 1, 1]).unwrap());
    assert!(e.contains("series 1 is all padding"), "{e}");
    let e = err(&Tensor::zeros([2, 3], DType::F32).unwrap());
    assert!(
        e.contains("expected a batch of series (N, L, F)") && e.contains("[2, 3]"),
        "{e}"
    );
    assert!(err(&Tensor::zeros([0, 3, 1], DType::F32).unwrap()).contains("empty"));
}

#[test]
fn token_rows_give_their_lengths_and_int64_ids() {
    let x = Tensor::from_vec(vec![5.0f32, 3.0, 0.0, 0.0, 7.0, 0.0, 0.0, 0.0], [2, 4]).unwrap();
    let (ids, lengths) = token_lengths("test", &x, 0).unwrap();
    assert_eq!(lengths, [2, 1]);
    assert_eq!(ids.dtype(), DType::I64);
    assert_eq!(ids.to_vec::<i64>().unwrap(), [5, 3, 7, 0]);
    let i64_ids = Tensor::from_vec(vec![4i64, 2, 9], [1, 3]).unwrap();
    assert_eq!(token_lengths("test", &i64_ids, 0).unwrap().1, [3]);

    let err = |v: Vec<f32>, shape: [usize; 2]| {
        let x = Tensor::from_vec(v, shape).unwrap();
        token_lengths("Texts", &x, 0).unwrap_err().to_string()
    };
    let e = err(vec![3.0, 0.0, 4.0], [1, 3]);
    assert!(
        e.starts_with("Texts: row 0: token 4 at position 2 follows the padding that starts at 1"),
        "{e}"
    );
    let e = err(vec![2.0, 1.0, 0.0, 1.0], [2, 2]);
    assert!(e.contains("row 1 starts with the padding id 0"), "{e}");
    let e = err(vec![2.5, 1.0], [1, 2]);
    assert!(
        e.contains("row 0, position 0: 2.5 is not a token id"),
        "{e}"
    );
    assert!(err(vec![-1.0, 1.0], [1, 2]).contains("-1 is not a token id"));
    let e = token_lengths("Texts", &Tensor::zeros([2], DType::F32).unwrap(), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected token ids (N, L)"), "{e}");
}

#[test]
fn the_masked_pieces_have_correct_gradients() {
    // (N, L, C) with zeros past the lengths, as a recurrent layer leaves them
    let lengths = [2, 4, 1];
    let keep: Vec<f64> = lengths
        .iter()
        .flat_map(|&k| (0..4).flat_map(move |t| [f64::from(u8::from(t < k)); 3]))
        .collect();
    let keep = Tensor::from_vec(keep, [3, 4, 3]).unwrap();
    gradcheck(
        "mean_over_valid",
        |xs| mean_over_valid(&xs[0].mul(&keep)?, 1, &lengths),
        &[seeded([3, 4, 3], 1)],
    )
    .unwrap();
    let h = seeded([3, 4, 3], 1).mul(&keep).unwrap();
    let m = mean_over_valid(&h, 1, &lengths)
        .unwrap()
        .to_vec::<f64>()
        .unwrap();
    let hv = h.to_vec::<f64>().unwrap();
    // row 0, channel 2: (h[0,0,2] + h[0,1,2]) / 2
    assert!((m[2] - (hv[2] + hv[5]) / 2.0).abs() < 1e-12);
    // the time mask of the convolutional blocks, (N, 1, 1, L), and none when nothing is padded
    let x = seeded([3, 2, 1, 4], 2);
    let mask = time_mask(&lengths, 4, DType::F64, &x).unwrap().unwrap();
    assert_eq!(mask.dims(), &[3, 1, 1, 4]);
    assert_eq!(
        mask.to_vec::<f64>().unwrap(),
        [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    );
    gradcheck(
        "masked time mean",
        |xs| mean_over_valid(&xs[0].mul(&mask)?.reshape([3, 2, 4])?, 2, &lengths),
        &[x],
    )
    .unwrap();
    assert!(time_mask(&[4, 4], 4, DType::F32, &keep).unwrap().is_none());
}

/// Each series' logits alone (unpadded, batch of one) and inside a NaN-padded batch with a
/// longer series and extra padding: they must agree.
fn assert_padding_invariant(model: &dyn Module, f: usize, what: &str) {
    let lengths = [3, 7, 1, 5];
    let seqs = random_series(&lengths, f, 9);
    let batch = model
        .forward(&padded(&seqs, f, 10))
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (b, s) in seqs.iter().enumerate() {
        let alone = model
            .forward(&padded(std::slice::from_ref(s), f, lengths[b]))
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert!(
            close(&alone, &batch[b], 1e-5),
            "{what}: series {b} alone {alone:?}, in the padded batch {:?}",
            batch[b]
        );
    }
}

#[test]
fn recurrent_series_predictions_ignore_the_padding() {
    for kind in [RecurrentKind::Lstm, RecurrentKind::Gru, RecurrentKind::Rnn] {
        for (pooling, bidirectional, layers) in [
            (Pooling::Last, false, 1),
            (Pooling::Mean, false, 1),
            (Pooling::Last, true, 2),
            (Pooling::Mean, true, 1),
        ] {
            let store = ParamStore::new(3);
            let cfg = SeriesRnnConfig {
                hidden_size: 6,
                num_layers: layers,
                bidirectional,
                pooling,
                ..SeriesRnnConfig::new(kind, 2, 3)
            };
            let m = SeriesRnnClassifier::new(&cfg, &store.root()).unwrap();
            let what = format!("{kind} {pooling:?} bidirectional={bidirectional} x{layers}");
            assert_padding_invariant(&m, 2, &what);
        }
    }
}

#[test]
fn the_padding_never_reaches_the_gradient() {
    // the summed loss of a padded batch has the gradients of the two series' losses computed
    // alone, without padding
    let store = ParamStore::new(4);
    let cfg = SeriesRnnConfig {
        hidden_size: 5,
        bidirectional: true,
        ..SeriesRnnConfig::new(RecurrentKind::Lstm, 1, 2)
    };
    let m = SeriesRnnClassifier::new(&cfg, &store.root()).unwrap();
    let seqs = random_series(&[2, 5], 1, 5);
    let grads_of = |x: &Tensor, y: &[i64]| {
        let y = Tensor::from_vec(y.to_vec(), [y.len()]).unwrap();
        let loss = cross_entropy(&m.forward(x).unwrap(), &y, Reduction::Sum).unwrap();
        let g = loss.backward().unwrap();
        store
            .trainable()
            .iter()
            .map(|(_, p)| g.get(p).unwrap().to_vec::<f32>().unwrap())
            .collect::<Vec<_>>()
    };
    let batch = grads_of(&padded(&seqs, 1, 8), &[0, 1]);
    let a = grads_of(&padded(&seqs[..1], 1, 2), &[0]);
    let b = grads_of(&padded(&seqs[1..], 1, 5), &[1]);
    for (i, g) in batch.iter().enumerate() {
        let sum: Vec<f32> = a[i].iter().zip(&b[i]).map(|(x, y)| x + y).collect();
        assert!(close(g, &sum, 1e-5), "parameter {i}: {g:?} vs {sum:?}");
    }
}

#[test]
fn fcn_predictions_ignore_the_padding_in_evaluation() {
    let store = ParamStore::new(5);
    let cfg = FcnConfig {
        channels: [4, 6, 5],
        ..FcnConfig::new(3, 4)
    };
    let m = Fcn::new(&cfg, &store.root()).unwrap();
    // a few training batches so that the running statistics are not the initial (0, 1)
    for seed in 0..3 {
        let seqs = random_series(&[6, 4, 9], 3, seed);
        m.forward(&padded(&seqs, 3, 9)).unwrap();
    }
    m.set_training(false);
    assert_padding_invariant(&m, 3, "fcn");
}

#[test]
fn review_predictions_ignore_the_padding() {
    let store = ParamStore::new(6);
    let cfg = ReviewClassifierConfig {
        embed: 4,
        hidden: 5,
        num_layers: 2,
        ..ReviewClassifierConfig::new(30)
    };
    let m = ReviewClassifier::new(&cfg, &store.root()).unwrap();
    m.set_training(false); // dropout off
    let texts: [&[f32]; 3] = [&[4.0, 9.0, 2.0], &[7.0, 1.0, 3.0, 3.0, 29.0, 5.0], &[11.0]];
    let mut rows = Vec::new();
    for t in texts {
        rows.extend_from_slice(t);
        rows.resize(rows.len() + 8 - t.len(), 0.0);
    }
    let batch = m
        .forward(&Tensor::from_vec(rows, [3, 8]).unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    for (b, t) in texts.iter().enumerate() {
        let alone = Tensor::from_vec(t.to_vec(), [1, t.len()]).unwrap();
        let alone = m.forward(&alone).unwrap().to_vec::<f32>().unwrap();
        assert!(close(&alone, &batch[b], 1e-5), "text {b}");
    }
    // an id outside the vocabulary is named
    let e = m
        .forward(&Tensor::from_vec(vec![30.0f32], [1, 1]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("embed") && e.contains("30"), "{e}");
}

#[test]
fn parameter_counts_and_keys_are_pytorchs() {
    let count = |build: &dyn Fn(&ParamStore)| {
        let store = ParamStore::new(0);
        build(&store);
        (store.num_params(), store.keys())
    };
    let (n, keys) = count(&|s| {
        let c = SeriesRnnConfig::new(RecurrentKind::Lstm, 1, 8);
        SeriesRnnClassifier::new(&c, &s.root()).unwrap();
    });
    assert_eq!(n, 17_672);
    assert_eq!(
        keys,
        [
            "rnn.weight_ih_l0",
            "rnn.weight_hh_l0",
            "rnn.bias_ih_l0",
            "rnn.bias_hh_l0",
            "fc.weight",
            "fc.bias"
        ]
    );
    let (n, _) = count(&|s| {
        let c = SeriesRnnConfig::new(RecurrentKind::Gru, 1, 8);
        SeriesRnnClassifier::new(&c, &s.root()).unwrap();
    });
    assert_eq!(n, 13_384);
    let (n, keys) = count(&|s| {
        Fcn::new(&FcnConfig::new(1, 8), &s.root()).unwrap();
    });
    // the published FCN's ~265k parameters (with the batch norms' weight and bias)
    assert_eq!(n, 265_736);
    assert_eq!(keys[..3], ["conv1.weight", "conv1.bias", "bn1.weight"]);
    let (n, keys) = count(&|s| {
        ReviewClassifier::new(&ReviewClassifierConfig::new(20_000), &s.root()).unwrap();
    });
    assert_eq!(n, 1_330_178);
    assert!(
        keys.contains(&"rnn.weight_hh_l0_reverse".to_string()),
        "{keys:?}"
    );
    assert_eq!(keys[0], "embed.weight");
}

#[test]
fn bad_configs_and_inputs_are_named_errors() {
    let store = ParamStore::new(0);
    let e = SeriesRnnClassifier::new(
        &SeriesRnnConfig::new(RecurrentKind::Gru, 2, 0),
        &store.root().push("net"),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("net") && e.contains("classes must be at least 1"),
        "{e}"
    );
    let e = Fcn::new(&FcnConfig::new(0, 2), &store.root())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("fcn: input_size"), "{e}");
    assert!(ReviewClassifier::new(&ReviewClassifierConfig::new(1), &store.root()).is_err());
    assert_eq!("mean".parse::<Pooling>().unwrap(), Pooling::Mean);
    assert!("max".parse::<Pooling>().is_err());

    let store = ParamStore::new(0);
    let m = SeriesRnnClassifier::new(
        &SeriesRnnConfig::new(RecurrentKind::Gru, 2, 3),
        &store.root(),
    )
    .unwrap();
    // F = 3 features for a model of 2: the recurrent layer names itself and the shape
    let e = m
        .forward(&seeded([1, 4, 3], 0).to_dtype(DType::F32).unwrap())
        .unwrap_err();
    assert!(
        e.to_string().contains("rnn") && e.to_string().contains("2)"),
        "{e}"
    );
    let e = m
        .forward(&Tensor::zeros([4, 2], DType::F32).unwrap())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("SeriesGRUClassifier(pooling=mean): expected a batch"),
        "{e}"
    );
}

#[test]
fn a_gru_learns_through_the_nan_padding() {
    // the class is the sign of each series' last real value; the series are 2 to 8 steps long
    // and NaN-padded to 8: training goes through the padding path end to end (a NaN reaching
    // any arithmetic would make the loss NaN), and the last-state pooling reads each series'
    // own last step
    let mut g = Generator::new(11);
    let n = 64;
    let mut lengths = Vec::new();
    let mut labels = Vec::new();
    let seqs: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            let k = 2 + (g.next_u64() % 7) as usize;
            let s: Vec<f32> = (0..k).map(|_| g.next_normal() as f32).collect();
            lengths.push(k);
            labels.push(i64::from(s[k - 1] > 0.0));
            s
        })
        .collect();
    let x = padded(&seqs, 1, 8);
    let y = Tensor::from_vec(labels.clone(), [n]).unwrap();
    let store = ParamStore::new(1);
    let cfg = SeriesRnnConfig {
        hidden_size: 8,
        pooling: Pooling::Last,
        ..SeriesRnnConfig::new(RecurrentKind::Gru, 1, 2)
    };
    let m = SeriesRnnClassifier::new(&cfg, &store.root()).unwrap();
    let mut opt = Adam::new(AdamConfig {
        lr: 0.05,
        ..Default::default()
    })
    .unwrap();
    for _ in 0..80 {
        let loss = cross_entropy(&m.forward(&x).unwrap(), &y, Reduction::Mean).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&store.trainable(), &grads).unwrap();
    }
    let logits = m.forward(&x).unwrap().to_vec2::<f32>().unwrap();
    let correct = logits
        .iter()
        .zip(&labels)
        .filter(|(l, &y)| i64::from(l[1] > l[0]) == y)
        .count();
    // about 0.5 by chance; a GRU that reads each series to its own end gets nearly all
    assert!(correct >= 58, "{correct} of {n}");
}
