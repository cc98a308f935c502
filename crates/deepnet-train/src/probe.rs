//! Features judged by a classifier: a small supervised head trained on fixed features (the codes
//! of an unsupervised model, or raw pixels for comparison) and its test accuracy. This is the
//! canon's "unsupervised pretraining, then a small supervised head", with the features frozen.
//!
//! Both feature sets get the same treatment: each feature has its training mean subtracted and
//! all are divided by one scale (the root-mean-square of the centred training features), so
//! that codes and intensities reach the head at comparable magnitudes without blowing up the
//! near-constant border pixels a per-feature standard deviation would. The head is
//! `Linear(F, hidden) -> ReLU -> Linear(hidden, classes)` (or one `Linear` with `hidden = 0`),
//! trained by [`crate::fit`] with Adam and cross-entropy.

use crate::trainer::{fit, LossKind, Optimization, TrainConfig};
use crate::{Result, TrainError};
use deepnet_data::{Dataset, InMemoryDataset};
use deepnet_nn::layers::{Linear, ReLU, Sequential};
use deepnet_nn::optim::{Adam, AdamConfig};
use deepnet_nn::ParamStore;
use deepnet_tensor::{no_grad, DType, Tensor};
use std::path::PathBuf;
use std::sync::Arc;

/// The head and its training.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// hidden width of the head (0: a linear classifier)
    pub hidden: usize,
    /// passes over the labelled examples
    pub epochs: usize,
    /// batch size
    pub batch_size: usize,
    /// Adam's learning rate
    pub lr: f64,
    /// seed of the head's initialization and the shuffling
    pub seed: u64,
    /// the run folder [`crate::fit`] writes
    pub out_dir: PathBuf,
}

impl ProbeConfig {
    /// A 128-unit hidden layer, 50 epochs of batches of 50, Adam at 1e-3, seed 0.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        ProbeConfig {
            hidden: 128,
            epochs: 50,
            batch_size: 50,
            lr: 1e-3,
            seed: 0,
            out_dir: out_dir.into(),
        }
    }
}

/// Features `(N, F)` and int64 labels `(N,)`.
pub type Labelled<'a> = (&'a Tensor, &'a Tensor);

/// `x: (N, *)` as an in-memory dataset of `(F,)` samples, centred by `mean` and divided by
/// `scale`.
fn dataset(
    x: &Tensor,
    y: &Tensor,
    mean: &Tensor,
    scale: f64,
    classes: usize,
) -> Result<Arc<dyn Dataset>> {
    let f = mean.dims()[0];
    let v = x
        .reshape([x.dims()[0], f])?
        .to_dtype(DType::F64)?
        .sub(mean)?
        .div_scalar(scale)?
        .to_dtype(DType::F32)?
        .to_vec::<f32>()?;
    Ok(Arc::new(InMemoryDataset::new(
        v,
        vec![f],
        y.to_vec::<i64>()?,
        classes,
    )?))
}

/// Trains the head of `cfg` on `train` features and returns its accuracy on `test` (after the
/// last epoch). Errors name mismatched shapes or labels out of `0..classes`.
pub fn probe_accuracy(
    train: Labelled,
    test: Labelled,
    classes: usize,
    cfg: &ProbeConfig,
) -> Result<f64> {
    let _g = no_grad();
    let (n, m) = (
        train.0.dims().first().copied().unwrap_or(0),
        test.0.dims().first().copied().unwrap_or(0),
    );
    let f: usize = train.0.dims().iter().skip(1).product();
    let ft: usize = test.0.dims().iter().skip(1).product();
    if n == 0 || m == 0 || f == 0 || f != ft || train.1.dims() != [n] || test.1.dims() != [m] {
        return Err(TrainError::Config(format!(
            "probe: expected features (N, F) and labels (N,) for both sets with the same F, got {:?}/{:?} and {:?}/{:?}",
            train.0.dims(),
            train.1.dims(),
            test.0.dims(),
            test.1.dims()
        )));
    }
    let x = train.0.reshape([n, f])?.to_dtype(DType::F64)?;
    let mean = x.mean(0usize, false)?;
    let ms = x.sub(&mean)?.square()?.mean_all()?.item()?;
    let scale = if ms > 0.0 { ms.sqrt() } else { 1.0 };
    let train_set = dataset(train.0, train.1, &mean, scale, classes)?;
    let test_set = dataset(test.0, test.1, &mean, scale, classes)?;
    drop(_g);
    let store = ParamStore::new(cfg.seed);
    let pb = store.root().push("layers");
    let mut head = Sequential::new(&pb);
    if cfg.hidden == 0 {
        head.push(Linear::new(f, classes, true, &pb.push(0))?);
    } else {
        head.push(Linear::new(f, cfg.hidden, true, &pb.push(0))?);
        head.push(ReLU);
        head.push(Linear::new(cfg.hidden, classes, true, &pb.push(2))?);
    }
    let mut adam = Adam::new(AdamConfig {
        lr: cfg.lr,
        ..Default::default()
    })?;
    let tc = TrainConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        out_dir: cfg.out_dir.clone(),
        loss: LossKind::CrossEntropy,
        l1: 0.0,
        l2: 0.0,
        max_norm: None,
        clip_norm: None,
        clip_value: None,
        monitor_every: 1000,
        quiet: true,
        config_json: serde_json::json!({"probe": {"features": f, "hidden": cfg.hidden, "labels": n}}),
        metadata: Vec::new(),
        stop: None,
        resume: None,
        tensorboard: false,
        augment: deepnet_data::Augment::NONE,
    };
    let opt = Optimization {
        optimizer: &mut adam,
        scheduler: None,
    };
    let s = fit(&head, &store, opt, train_set, test_set, &tc)?;
    Ok(s.last().map(|e| e.test_acc).unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_tensor::Generator;

    /// Two classes that differ only in feature 0's sign, buried among noise features.
    fn blobs(n: usize, seed: u64) -> (Tensor, Tensor) {
        let mut g = Generator::new(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = (i % 2) as i64;
            x.push(if c == 0 { -1.0 } else { 1.0 } + 0.3 * g.next_normal());
            for _ in 0..4 {
                x.push(g.next_normal());
            }
            y.push(c);
        }
        (
            Tensor::from_vec(x, [n, 5]).unwrap(),
            Tensor::from_vec(y, [n]).unwrap(),
        )
    }

    #[test]
    fn a_head_learns_informative_features_and_bad_shapes_are_named() {
        let dir = crate::atomic::tests::temp_dir("probe");
        let (a, b) = (blobs(200, 1), blobs(200, 2));
        let cfg = ProbeConfig {
            epochs: 10,
            ..ProbeConfig::new(&dir)
        };
        let acc = probe_accuracy((&a.0, &a.1), (&b.0, &b.1), 2, &cfg).unwrap();
        assert!(acc > 0.95, "{acc}");
        // features of different widths are refused
        let narrow = a.0.narrow(1usize, 0, 3).unwrap();
        let e = probe_accuracy((&narrow, &a.1), (&b.0, &b.1), 2, &cfg).unwrap_err();
        assert!(e.to_string().contains("same F"), "{e}");
    }
}
