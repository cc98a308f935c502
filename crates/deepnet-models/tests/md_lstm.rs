//! The 2-D LSTM classifier: parameter counts, keys and shapes, errors, and a small task that
//! needs information carried across the whole grid, learned in seconds.

use deepnet_models::md_lstm::{MdLstmClassifier, MdLstmClassifierConfig, MdPooling};
use deepnet_nn::layers::{Linear, MdLstm2d, MdLstm2dConfig};
use deepnet_nn::loss::cross_entropy;
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::{trace_layers, Module, ParamStore, Reduction};
use deepnet_tensor::{no_grad, DType, Generator, Result, Tensor};

#[test]
fn default_model_counts_keys_and_shapes() -> Result<()> {
    let store = ParamStore::new(0);
    let m = MdLstmClassifier::new(&MdLstmClassifierConfig::default(), &store.root())?;
    // 4 directions of 5*32*(16 + 64 + 1), then Linear(128*7*7, 10)
    assert_eq!(store.num_params(), 4 * 160 * 81 + 6272 * 10 + 10);
    assert_eq!(store.num_params(), 114_570);
    let keys = store.keys();
    assert_eq!(
        keys[..3],
        [
            "mdlstm.weight_ih_tl",
            "mdlstm.weight_hh_tl",
            "mdlstm.bias_tl"
        ]
    );
    assert_eq!(
        keys[9..],
        [
            "mdlstm.weight_ih_br",
            "mdlstm.weight_hh_br",
            "mdlstm.bias_br",
            "fc.weight",
            "fc.bias"
        ]
    );
    let x = Tensor::zeros([2, 1, 28, 28], DType::F32)?;
    let (y, recs) = trace_layers(|| m.forward(&x))?;
    assert_eq!(y.dims(), [2, 10]);
    let rows: Vec<(&str, &[usize])> = recs
        .iter()
        .map(|r| (r.path.as_str(), r.output_shape.as_slice()))
        .collect();
    assert_eq!(
        rows,
        [
            ("mdlstm", [2, 128, 7, 7].as_slice()),
            ("fc", [2, 10].as_slice())
        ]
    );

    // the mean head takes any image the patches tile
    let store = ParamStore::new(0);
    let cfg = MdLstmClassifierConfig {
        pooling: MdPooling::Mean,
        hidden_size: 4,
        ..Default::default()
    };
    let m = MdLstmClassifier::new(&cfg, &store.root())?;
    assert_eq!(store.get("fc.weight").unwrap().dims(), [10, 16]);
    assert_eq!(
        m.forward(&Tensor::zeros([1, 1, 8, 12], DType::F32)?)?
            .dims(),
        [1, 10]
    );
    let cfg = MdLstmClassifierConfig::for_input(&[3, 30, 30], 5)?;
    assert_eq!(
        (cfg.in_channels, cfg.patch_size, cfg.classes),
        (3, (1, 1), 5)
    );
    Ok(())
}

#[test]
fn bad_inputs_name_the_layer() -> Result<()> {
    let store = ParamStore::new(0);
    let m = MdLstmClassifier::new(
        &MdLstmClassifierConfig::default(),
        &store.root().push("net"),
    )?;
    let e = m
        .forward(&Tensor::zeros([1, 1, 32, 32], DType::F32)?)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"net\"") && e.contains("built for 28x28"),
        "{e}"
    );
    let e = m
        .forward(&Tensor::zeros([1, 2, 28, 28], DType::F32)?)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"net.mdlstm\"") && e.contains("with 1 channels"),
        "{e}"
    );
    let bad = MdLstmClassifierConfig {
        input_size: (30, 28),
        ..Default::default()
    };
    let e = MdLstmClassifier::new(&bad, &store.root().push("b"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("30x28 is not tiled by 4x4 patches"), "{e}");
    let e = MdLstmClassifierConfig::for_input(&[784], 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[C, H, W]") && e.contains("[784]"), "{e}");
    Ok(())
}

/// A 5x5 grid of noise; the label is the sign of the bottom-right cell, and the head reads only
/// the top-left cell's state. Only the scan from the bottom-right corner brings the bit there,
/// across 8 cells of noise (the other three directions' states at the top-left cell do not
/// depend on it at all, as the layer's own tests show).
fn far_corner_batch(n: usize, g: &mut Generator) -> Result<(Tensor, Tensor)> {
    let x = Tensor::randn([n, 1, 5, 5], DType::F32, g)?;
    let corner = x.narrow(2, 4, 1)?.narrow(3, 4, 1)?.reshape([n])?;
    let y = corner.gt_scalar(0.0)?.to_dtype(DType::I64)?;
    Ok((x, y))
}

#[test]
fn md_lstm_carries_a_corner_across_the_grid() -> Result<()> {
    let store = ParamStore::new(3);
    let md = MdLstm2d::new(&MdLstm2dConfig::new(1, 8), &store.root().push("md"))?;
    let fc = Linear::new(32, 2, true, &store.root().push("fc"))?;
    let logits = |x: &Tensor| -> Result<Tensor> {
        let s = md.forward(x)?;
        let n = s.dims()[0];
        fc.forward(&s.narrow(2, 0, 1)?.narrow(3, 0, 1)?.reshape([n, 32])?)
    };
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-2,
        ..Default::default()
    })?;
    let params = store.trainable();
    let mut g = Generator::new(4);
    for _ in 0..150 {
        let (x, y) = far_corner_batch(64, &mut g)?;
        let loss = cross_entropy(&logits(&x)?, &y, Reduction::Mean)?;
        opt.step(&params, &loss.backward()?)?;
    }
    let (x, y) = far_corner_batch(1000, &mut Generator::new(5))?;
    let _g = no_grad();
    let pred = logits(&x)?.argmax(1, false)?.to_vec::<i64>()?;
    let right = pred
        .iter()
        .zip(y.to_vec::<i64>()?)
        .filter(|(p, l)| **p == *l)
        .count();
    let acc = right as f64 / 1000.0;
    eprintln!("far-corner accuracy {acc:.3}");
    assert!(acc > 0.95, "{acc}");
    Ok(())
}
