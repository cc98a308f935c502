//! The recurrent sequence classifiers (`lstm`, `gru`, `rnn`): parameter counts and keys as a
//! PyTorch module would have them, the head on `h_n`, shapes, errors, and a small learning task.

use deepnet_models::{
    build_recurrent_model, check_input, RecurrentClassifier, RecurrentClassifierConfig,
    RecurrentKind,
};
use deepnet_nn::layers::{Linear, RnnConfig, GRU, LSTM};
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::{loss, trace_layers, Module, ParamStore, Reduction};
use deepnet_tensor::{no_grad, DType, Generator, Result, Tensor};

/// `G*H*(in + H + 2)` per layer and direction: `G` gates of input and recurrent weights and
/// both biases.
fn layer_params(gates: usize, input: usize, hidden: usize) -> usize {
    gates * hidden * (input + hidden + 2)
}

#[test]
fn default_models_have_pytorch_counts_keys_and_shapes() -> Result<()> {
    // LSTM(28, 128) + Linear(128, 10): 4*128*(28+128+2) + 128*10 + 10 = 80,896 + 1,290
    let want = [
        ("lstm", 82_186, "LSTM(28, 128, batch_first=True)"),
        ("gru", 61_962, "GRU(28, 128, batch_first=True)"),
        ("rnn", 21_514, "RNN(28, 128, batch_first=True)"),
    ];
    for (name, count, repr) in want {
        let kind: RecurrentKind = name.parse()?;
        assert_eq!(count, layer_params(kind.gates(), 28, 128) + 1290, "{name}");
        let store = ParamStore::new(0);
        let m = build_recurrent_model(name, &[1, 28, 28], 10, &store.root())?;
        assert_eq!(store.num_params(), count, "{name}");
        assert_eq!(
            store.keys(),
            [
                "rnn.weight_ih_l0",
                "rnn.weight_hh_l0",
                "rnn.bias_ih_l0",
                "rnn.bias_hh_l0",
                "fc.weight",
                "fc.bias"
            ],
            "{name}"
        );
        let g = kind.gates();
        assert_eq!(store.get("rnn.weight_ih_l0").unwrap().dims(), [g * 128, 28]);
        assert_eq!(
            store.get("rnn.weight_hh_l0").unwrap().dims(),
            [g * 128, 128]
        );
        assert_eq!(store.get("fc.weight").unwrap().dims(), [10, 128]);
        // what `summary` lists: the recurrent layer and the head, with their outputs
        let x = Tensor::zeros([3, 1, 28, 28], DType::F32)?;
        let (y, recs) = trace_layers(|| m.forward(&x))?;
        assert_eq!(y.dims(), [3, 10]);
        let rows: Vec<(&str, &str, &[usize])> = recs
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.describe.as_str(),
                    r.output_shape.as_slice(),
                )
            })
            .collect();
        assert_eq!(rows[0], ("rnn", repr, &[3, 28, 128][..]));
        assert_eq!(rows[1].0, "fc");
        assert_eq!(rows[1].2, [3, 10]);
        assert_eq!(rows.len(), 2);
        let children: Vec<String> = m.children().into_iter().map(|(n, _)| n).collect();
        assert_eq!(children, ["rnn", "fc"]);
        assert_eq!(
            m.describe(),
            format!("{}Classifier", &repr[..repr.find('(').unwrap()])
        );
        assert!(check_input(m.as_ref(), &[1, 28, 28])?.is_empty());
    }
    Ok(())
}

#[test]
fn bidirectional_stacked_keys_and_counts() -> Result<()> {
    let cfg = RecurrentClassifierConfig {
        kind: RecurrentKind::Gru,
        num_layers: 2,
        bidirectional: true,
        dropout: 0.25,
        ..Default::default()
    };
    let store = ParamStore::new(1);
    let m = RecurrentClassifier::new(&cfg, &store.root())?;
    // layer 0 reads 28 features, layer 1 the 2*128 of both directions; the head sees 2*128
    let count = 2 * layer_params(3, 28, 128) + 2 * layer_params(3, 256, 128) + 256 * 10 + 10;
    assert_eq!(count, 2 * 60_672 + 2 * 3 * 128 * 386 + 2_570);
    assert_eq!(store.num_params(), count);
    let keys = store.keys();
    for k in [
        "rnn.weight_ih_l0_reverse",
        "rnn.bias_hh_l1_reverse",
        "rnn.weight_ih_l1",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
    }
    assert_eq!(store.get("rnn.weight_ih_l1").unwrap().dims(), [384, 256]);
    assert_eq!(store.get("fc.weight").unwrap().dims(), [10, 256]);
    assert_eq!(keys.len(), 4 * 4 + 2);
    assert_eq!(
        m.children()[0].1.describe(),
        "GRU(28, 128, num_layers=2, batch_first=True, dropout=0.25, bidirectional=True)"
    );
    m.set_training(false);
    let y = m.forward(&Tensor::zeros([2, 1, 28, 28], DType::F32)?)?;
    assert_eq!(y.dims(), [2, 10]);
    Ok(())
}

/// Random inputs in [-1, 1).
fn uniform(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut g = Generator::new(seed);
    Tensor::rand(shape.to_vec(), DType::F32, &mut g)?
        .mul_scalar(2.0)?
        .add_scalar(-1.0)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    a.sub(b)?.abs()?.max_all()?.item()
}

#[test]
fn the_head_reads_h_n_of_both_directions() -> Result<()> {
    // the same weights in a plain LSTM and Linear: logits = fc(cat(h_n forward, h_n reverse))
    let cfg = RecurrentClassifierConfig {
        input_size: 6,
        hidden_size: 5,
        bidirectional: true,
        classes: 3,
        ..Default::default()
    };
    let store = ParamStore::new(3);
    let m = RecurrentClassifier::new(&cfg, &store.root())?;
    let plain = ParamStore::new(99);
    let rcfg = RnnConfig {
        bidirectional: true,
        batch_first: true,
        ..RnnConfig::new(6, 5)
    };
    let lstm = LSTM::new(&rcfg, &plain.root().push("rnn"))?;
    let fc = Linear::new(10, 3, true, &plain.root().push("fc"))?;
    plain.load_state_dict(&store.state_dict(), true)?;
    // (N, C, H, W) = (4, 2, 7, 3): 7 steps of 2*3 features, channel 0's row first
    let x = uniform(&[4, 2, 7, 3], 5)?;
    let seq = x.permute([0, 2, 1, 3])?.reshape([4, 7, 6])?;
    let (_, (h_n, _)) = lstm.forward_with_state(&seq, None, None)?;
    let h = Tensor::cat(&[h_n.narrow(0, 0, 1)?, h_n.narrow(0, 1, 1)?], 2)?.squeeze(0)?;
    let want = fc.forward(&h)?;
    let got = m.forward(&x)?;
    assert!(max_abs_diff(&got, &want)? < 1e-6);
    // a sequence input (N, L, F) is read as it is
    assert!(max_abs_diff(&m.forward(&seq)?, &want)? < 1e-6);
    Ok(())
}

#[test]
fn unidirectional_head_is_the_last_step_and_row_order_matters() -> Result<()> {
    let cfg = RecurrentClassifierConfig {
        kind: RecurrentKind::Gru,
        input_size: 4,
        hidden_size: 6,
        classes: 2,
        ..Default::default()
    };
    let store = ParamStore::new(4);
    let m = RecurrentClassifier::new(&cfg, &store.root())?;
    let plain = ParamStore::new(0);
    let gru = GRU::new(
        &RnnConfig {
            batch_first: true,
            ..RnnConfig::new(4, 6)
        },
        &plain.root().push("rnn"),
    )?;
    let fc = Linear::new(6, 2, true, &plain.root().push("fc"))?;
    plain.load_state_dict(&store.state_dict(), true)?;
    let x = uniform(&[3, 1, 5, 4], 6)?;
    let out = gru.forward(&x.reshape([3, 5, 4])?)?;
    let want = fc.forward(&out.narrow(1, 4, 1)?.squeeze(1)?)?;
    assert!(max_abs_diff(&m.forward(&x)?, &want)? < 1e-6);
    // reading the rows bottom-up is a different sequence: the model is not a bag of rows
    let flipped = Tensor::cat(
        &(0..5)
            .rev()
            .map(|r| x.narrow(2, r, 1))
            .collect::<Result<Vec<_>>>()?,
        2,
    )?;
    assert!(max_abs_diff(&m.forward(&flipped)?, &want)? > 1e-4);
    Ok(())
}

#[test]
fn wrong_inputs_are_named_with_shapes() -> Result<()> {
    let store = ParamStore::new(0);
    let m = RecurrentClassifier::new(&RecurrentClassifierConfig::default(), &store.root())?;
    let e = m
        .forward(&Tensor::zeros([2, 3, 28, 28], DType::F32)?)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("LSTMClassifier") && e.contains("C*W = 28") && e.contains("3*28 = 84"),
        "{e}"
    );
    let e = m
        .forward(&Tensor::zeros([2, 784], DType::F32)?)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[2, 784]"), "{e}");
    // the pre-training shape check names the problem too
    let e = check_input(&m, &[1, 28, 20]).unwrap_err().to_string();
    assert!(e.contains("1*20 = 20"), "{e}");
    // under a parent the model's path labels the error
    let nested = RecurrentClassifier::new(
        &RecurrentClassifierConfig::default(),
        &ParamStore::new(0).root().push("encoder"),
    )?;
    let e = nested
        .forward(&Tensor::zeros([2, 1, 28, 5], DType::F32)?)
        .unwrap_err()
        .to_string();
    assert!(e.contains("encoder"), "{e}");
    let e = build_recurrent_model("lstm", &[784], 10, &store.root().push("x"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("[C, H, W]"), "{e}");
    let e = build_recurrent_model("tcn", &[1, 28, 28], 10, &store.root().push("y"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("\"tcn\""), "{e}");
    let zero = RecurrentClassifierConfig {
        classes: 0,
        ..Default::default()
    };
    assert!(RecurrentClassifier::new(&zero, &store.root().push("z")).is_err());
    Ok(())
}

/// Images of `rows x 4` pixels, noise in [0, 0.2), with one bright pixel (1.0) at a random
/// column of row `class`: the class is *when* in the sequence the pixel comes, so the network
/// has to count steps, not just see a feature.
fn bright_row_data(n: usize, rows: usize, seed: u64) -> Result<(Tensor, Tensor)> {
    let mut g = Generator::new(seed);
    let (mut x, mut y) = (Vec::with_capacity(n * rows * 4), Vec::with_capacity(n));
    for _ in 0..n {
        let class = (g.next_u64() % rows as u64) as usize;
        let col = (g.next_u64() % 4) as usize;
        for r in 0..rows {
            for c in 0..4 {
                let bright = r == class && c == col;
                x.push(if bright {
                    1.0
                } else {
                    0.2 * g.next_f64() as f32
                });
            }
        }
        y.push(class as i64);
    }
    Ok((
        Tensor::from_vec(x, [n, 1, rows, 4])?,
        Tensor::from_vec(y, [n])?,
    ))
}

fn accuracy(m: &dyn Module, x: &Tensor, y: &Tensor) -> Result<f64> {
    let _g = no_grad();
    let pred = m.forward(x)?.argmax(1, false)?.to_vec::<i64>()?;
    let y = y.to_vec::<i64>()?;
    Ok(pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64)
}

#[test]
fn lstm_and_gru_learn_which_row_is_bright() -> Result<()> {
    let rows = 6;
    let (x, y) = bright_row_data(256, rows, 11)?;
    let (xt, yt) = bright_row_data(256, rows, 12)?;
    for kind in [RecurrentKind::Lstm, RecurrentKind::Gru] {
        let cfg = RecurrentClassifierConfig {
            kind,
            input_size: 4,
            hidden_size: 16,
            classes: rows,
            ..Default::default()
        };
        let store = ParamStore::new(7);
        let m = RecurrentClassifier::new(&cfg, &store.root())?;
        let params = store.trainable();
        let mut opt = Adam::new(AdamConfig {
            lr: 0.02,
            ..Default::default()
        })?;
        let before = accuracy(&m, &xt, &yt)?;
        // full batches of 64: 4 per pass, 50 passes
        for step in 0..200 {
            let b = (step % 4) * 64;
            let logits = m.forward(&x.narrow(0, b, 64)?)?;
            let l = loss::cross_entropy(&logits, &y.narrow(0, b, 64)?, Reduction::Mean)?;
            let grads = l.backward()?;
            opt.step(&params, &grads)?;
        }
        let after = accuracy(&m, &xt, &yt)?;
        assert!(before < 0.4, "{kind}: untrained accuracy {before}");
        assert!(after > 0.95, "{kind}: test accuracy {before} -> {after}");
    }
    Ok(())
}
