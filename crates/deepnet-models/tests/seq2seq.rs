//! The GRU encoder-decoder: shapes, state_dict keys, teacher forcing, greedy decoding, gradient
//! flow, and a short training run on the sorted-distinct-digits task checked by exact match.

use deepnet_models::seq2seq::{
    exact_match, pad_sequences, teacher_forcing_input, Seq2Seq, Seq2SeqConfig, SortedDigits, Split,
};
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::regularize::clip_grad_norm_;
use deepnet_nn::ParamStore;
use deepnet_tensor::{Generator, Tensor};
use std::time::Instant;

fn tokens(v: Vec<i64>, n: usize, l: usize) -> Tensor {
    Tensor::from_vec(v, [n, l]).unwrap()
}

fn small(seed: u64) -> (ParamStore, Seq2Seq) {
    let store = ParamStore::new(seed);
    let cfg = Seq2SeqConfig::new(SortedDigits::VOCAB, 8, 12);
    let m = Seq2Seq::new(&cfg, &store.root()).unwrap();
    (store, m)
}

#[test]
fn state_dict_keys_and_parameter_count() {
    let (store, _m) = small(0);
    assert_eq!(
        store.keys(),
        vec![
            "src_embed.weight",
            "encoder.weight_ih_l0",
            "encoder.weight_hh_l0",
            "encoder.bias_ih_l0",
            "encoder.bias_hh_l0",
            "tgt_embed.weight",
            "decoder.weight_ih_l0",
            "decoder.weight_hh_l0",
            "decoder.bias_ih_l0",
            "decoder.bias_hh_l0",
            "out.weight",
            "out.bias",
        ]
    );
    // embeddings 2 * 13*8, GRUs 2 * (3*12*(8 + 12) + 2*3*12), out 12*13 + 13
    let want = 2 * 13 * 8 + 2 * (3 * 12 * 20 + 72) + 12 * 13 + 13;
    assert_eq!(store.num_params(), want);
    // the pad rows of both embeddings start at zero
    for k in ["src_embed.weight", "tgt_embed.weight"] {
        let w = store.get(k).unwrap().to_vec_f64();
        assert_eq!(w[..8], [0.0; 8], "{k}");
    }
}

#[test]
fn shapes_of_encode_decode_and_forward() {
    let (_s, m) = small(1);
    // two sources of lengths 4 and 2, right-padded
    let src = tokens(vec![3, 5, 7, 5, 9, 4, 0, 0], 2, 4);
    assert_eq!(m.source_lengths(&src).unwrap(), vec![4, 2]);
    let h = m.encode(&src).unwrap();
    assert_eq!(h.dims(), [1, 2, 12]);
    let tgt = tokens(vec![3, 5, 7, 2, 4, 9, 2, 0], 2, 4);
    let logits = m.forward(&src, &tgt).unwrap();
    assert_eq!(logits.dims(), [2, 4, 13]);
    let (l, hn) = m.decode(&tokens(vec![1, 1], 2, 1), &h).unwrap();
    assert_eq!(
        (l.dims(), hn.dims()),
        ([2, 1, 13].as_slice(), [1, 2, 12].as_slice())
    );
    assert!(m.loss(&src, &tgt).unwrap().item().unwrap() > 0.0);
}

#[test]
fn padding_does_not_change_the_encoding() {
    // the encoder stops at each row's own length: extra padding columns change nothing
    let (_s, m) = small(2);
    let a = m.encode(&tokens(vec![4, 8, 6], 1, 3)).unwrap();
    let b = m.encode(&tokens(vec![4, 8, 6, 0, 0], 1, 5)).unwrap();
    // to rounding: the full-length batch runs the whole-sequence GRU op, the padded one the
    // masked per-step path, whose recurrent products sum in another order
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-6, "{a:?} vs {b:?}");
    }
    // and the loss is over the non-pad target positions only: padding both sides changes nothing
    let la = m.loss(
        &tokens(vec![4, 8, 6], 1, 3),
        &tokens(vec![4, 6, 8, 2], 1, 4),
    );
    let lb = m.loss(
        &tokens(vec![4, 8, 6, 0, 0], 1, 5),
        &tokens(vec![4, 6, 8, 2, 0, 0], 1, 6),
    );
    let (la, lb) = (la.unwrap().item().unwrap(), lb.unwrap().item().unwrap());
    assert!((la - lb).abs() < 1e-6, "{la} vs {lb}");
}

#[test]
fn bad_inputs_are_errors() {
    let (_s, m) = small(3);
    let e = m.encode(&tokens(vec![0, 3], 1, 2)).unwrap_err().to_string();
    assert!(
        e.contains("source row 0 is not a non-empty right-padded"),
        "{e}"
    );
    let e = m
        .encode(&tokens(vec![3, 0, 4], 1, 3))
        .unwrap_err()
        .to_string();
    assert!(e.contains("[3, 0, 4]"), "{e}");
    let e = m
        .encode(&Tensor::zeros([2, 3], deepnet_tensor::DType::F32).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected non-empty int64 tokens (N, L)"), "{e}");
    // a token outside the vocabulary names the embedding
    let e = m
        .encode(&tokens(vec![3, 13], 1, 2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"src_embed\"") && e.contains("index 13"), "{e}");
    let store = ParamStore::new(0);
    let bad = Seq2SeqConfig {
        eos: 1,
        ..Seq2SeqConfig::new(13, 4, 4)
    };
    let e = Seq2Seq::new(&bad, &store.root().push("s2s"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("in module \"s2s\"") && e.contains("distinct"),
        "{e}"
    );
}

#[test]
fn teacher_forcing_input_is_bos_then_target_shifted_right() {
    let tgt = tokens(vec![5, 7, 2, 0, 9, 2, 0, 0], 2, 4);
    let d = teacher_forcing_input(&tgt, 1).unwrap();
    assert_eq!(d.dims(), [2, 4]);
    assert_eq!(d.to_vec::<i64>().unwrap(), vec![1, 5, 7, 2, 1, 9, 2, 0]);
    let one = teacher_forcing_input(&tokens(vec![2, 2], 2, 1), 1).unwrap();
    assert_eq!(one.to_vec::<i64>().unwrap(), vec![1, 1]);
    assert!(teacher_forcing_input(&Tensor::from_vec(vec![1i64, 2], [2]).unwrap(), 1).is_err());
}

#[test]
fn teacher_forced_step_t_sees_only_target_tokens_before_t() {
    // changing target token t changes the logits of steps > t only
    let (_s, m) = small(4);
    let src = tokens(vec![3, 4, 5], 1, 3);
    let a = m.forward(&src, &tokens(vec![3, 4, 5, 2], 1, 4)).unwrap();
    let b = m.forward(&src, &tokens(vec![3, 9, 5, 2], 1, 4)).unwrap();
    let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
    assert_eq!(a[..2 * 13], b[..2 * 13]);
    assert_ne!(a[2 * 13..3 * 13], b[2 * 13..3 * 13]);
}

#[test]
fn generate_stops_at_eos_and_at_max_len() {
    let (store, m) = small(5);
    // force the output layer: zero weights and a bias favouring `eos` make every row stop at
    // its first step, with no tokens
    let zero_w = Tensor::zeros([13, 12], deepnet_tensor::DType::F32).unwrap();
    let mut bias = vec![0f32; 13];
    bias[2] = 5.0;
    let sd = vec![
        ("out.weight".to_string(), zero_w.clone()),
        (
            "out.bias".to_string(),
            Tensor::from_vec(bias, [13]).unwrap(),
        ),
    ];
    store.load_state_dict(&sd, false).unwrap();
    let src = tokens(vec![3, 4, 5, 6, 7, 0], 2, 3);
    assert_eq!(m.generate(&src, 10).unwrap(), vec![Vec::<i64>::new(); 2]);
    // digit 7 always wins: no eos, so each row is cut at max_len
    let mut bias = vec![0f32; 13];
    bias[10] = 5.0;
    let sd = vec![(
        "out.bias".to_string(),
        Tensor::from_vec(bias, [13]).unwrap(),
    )];
    store.load_state_dict(&sd, false).unwrap();
    assert_eq!(m.generate(&src, 4).unwrap(), vec![vec![10i64; 4]; 2]);
    assert_eq!(m.generate(&src, 0).unwrap(), vec![Vec::<i64>::new(); 2]);
}

#[test]
fn gradient_reaches_the_encoder() {
    let (store, m) = small(6);
    let src = tokens(vec![3, 5, 7, 5, 9, 4, 0, 0], 2, 4);
    let tgt = tokens(vec![3, 5, 7, 2, 4, 9, 2, 0], 2, 4);
    let g = m.loss(&src, &tgt).unwrap().backward().unwrap();
    for (name, p) in store.trainable() {
        let gp = g
            .get(&p)
            .unwrap_or_else(|| panic!("{name} has no gradient"));
        let norm: f64 = gp.to_vec_f64().iter().map(|v| v * v).sum();
        assert!(norm > 0.0, "{name}: zero gradient");
    }
    // the pad rows of the embeddings get none
    for k in ["src_embed.weight", "tgt_embed.weight"] {
        let gp = g.get(&store.get(k).unwrap()).unwrap().to_vec_f64();
        assert_eq!(gp[..8], [0.0; 8], "{k}");
    }
}

#[test]
fn task_data_is_seeded_split_and_correct() {
    let task = SortedDigits::default();
    let a = task.pairs(50, Split::Train, &mut Generator::new(9));
    let b = task.pairs(50, Split::Train, &mut Generator::new(9));
    assert_eq!(a, b);
    let test = task.pairs(200, Split::Test, &mut Generator::new(9));
    for (s, t) in &a {
        assert!((3..=8).contains(&s.len()));
        assert!(!SortedDigits::is_test(s));
        assert!(t.len() <= s.len() + 1 && t.last() == Some(&SortedDigits::EOS));
        assert!(t[..t.len() - 1].windows(2).all(|w| w[0] < w[1]));
    }
    assert!(test.iter().all(|(s, _)| SortedDigits::is_test(s)));
    assert_eq!(
        SortedDigits::target_of(&[10, 6, 10, 4]),
        vec![4, 6, 10, SortedDigits::EOS]
    );
    assert_eq!(SortedDigits::show(&[4, 3, 12, 2]), "109<eos>");
    // the test split is about one string in eight of uniformly drawn strings
    let mut g = Generator::new(1);
    let n_test = (0..4000)
        .filter(|_| {
            let s: Vec<i64> = (0..6).map(|_| 3 + g.next_below(10) as i64).collect();
            SortedDigits::is_test(&s)
        })
        .count();
    assert!((400..600).contains(&n_test), "{n_test} of 4000");
    let p = pad_sequences(&[vec![5, 6], vec![7]], 0).unwrap();
    assert_eq!(p.to_vec::<i64>().unwrap(), vec![5, 6, 7, 0]);
    assert_eq!(exact_match(&[vec![1], vec![2]], &[vec![1], vec![3]]), 0.5);
}

/// 600 Adam steps of 64 sequences (embed 16, hidden 64). Measured in the debug test profile on 2
/// shared cores: about 10 s, and exact match 1.000 on the 200 held-out strings for model seeds 42,
/// 1, 2 and 3 (0.94..0.99 already after 300 steps, 1.000 from step 400). The bar of 0.97 leaves
/// room for a different summation order; chance is far below 1% (a guess must get the right
/// digits, in order, and the right length).
#[test]
fn learns_sorted_distinct_digits() {
    const STEPS: usize = 600;
    let task = SortedDigits::default();
    let store = ParamStore::new(42);
    let cfg = Seq2SeqConfig::new(SortedDigits::VOCAB, 16, 64);
    let m = Seq2Seq::new(&cfg, &store.root()).unwrap();
    let mut opt = Adam::new(AdamConfig {
        lr: 3e-3,
        ..Default::default()
    })
    .unwrap();
    let params = store.trainable();
    let tensors: Vec<Tensor> = params.iter().map(|(_, t)| t.clone()).collect();
    // strings of the test split are never drawn for training
    let test = task.pairs(200, Split::Test, &mut Generator::new(1234));
    let (before, _) = task.evaluate(&m, &test, 200).unwrap();
    assert!(before < 0.05, "untrained exact match {before}");
    let mut g = Generator::new(7);
    let t0 = Instant::now();
    let mut first_loss = None;
    let mut loss = 0.0;
    for _ in 0..STEPS {
        let (src, tgt) = SortedDigits::batch(&task.pairs(64, Split::Train, &mut g)).unwrap();
        let l = m.loss(&src, &tgt).unwrap();
        let mut grads = l.backward().unwrap();
        clip_grad_norm_(&mut grads, &tensors, 1.0).unwrap();
        opt.step(&params, &grads).unwrap();
        loss = l.item().unwrap();
        first_loss.get_or_insert(loss);
    }
    let (acc, preds) = task.evaluate(&m, &test, 200).unwrap();
    eprintln!(
        "{STEPS} steps in {:.1} s: loss {:.3} -> {loss:.4}, held-out exact match {acc:.3}",
        t0.elapsed().as_secs_f64(),
        first_loss.unwrap_or(0.0)
    );
    for ((s, t), p) in test
        .iter()
        .zip(&preds)
        .filter(|((_, t), p)| t[..t.len() - 1] != p[..])
    {
        eprintln!(
            "  {} -> {} (want {})",
            SortedDigits::show(s),
            SortedDigits::show(p),
            SortedDigits::show(t)
        );
    }
    assert!(loss < 0.05, "final training loss {loss}");
    assert!(acc >= 0.97, "held-out exact match {acc}");
}
