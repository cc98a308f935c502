//! Classification, the one-liner of the general loop: [`fit`] trains a classifier with the loss
//! of the run's choice ([`LossKind`]), L1/L2 penalties, gradient clipping, the max-norm
//! constraint and the gradient-health monitor (all in [`ModelStep`]), evaluates it after every
//! epoch and writes the run folder (see [`crate::run_loop()`]).

use crate::checkpoint::Resume;
use crate::logs::Logs;
use crate::metrics::{correct_count, EpochMetrics, RunningMean};
use crate::model_step::{ModelStep, Objective, Regularization};
use crate::run_loop::{run_loop, LoopConfig};
use crate::{Result, TrainError};
use deepnet_data::{Augment, DataLoader, Dataset};
use deepnet_nn::loss::{cross_entropy, mse_loss, multiclass_hinge_loss, Reduction};
use deepnet_nn::optim::{LrScheduler, Optimizer};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{no_grad, Tensor};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The classification loss of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// softmax cross-entropy on logits
    CrossEntropy,
    /// the canon's K-class hinge `sum_{j != t} max(0, 1 - (y_t - y_j))`
    MultiHinge,
    /// its square
    MultiHingeSquared,
    /// squared error against one-hot targets
    Mse,
}

impl FromStr for LossKind {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cross-entropy" | "cross_entropy" | "ce" => Ok(LossKind::CrossEntropy),
            "multi-hinge" | "hinge" => Ok(LossKind::MultiHinge),
            "multi-hinge-squared" | "squared-hinge" => Ok(LossKind::MultiHingeSquared),
            "mse" | "l2" => Ok(LossKind::Mse),
            _ => Err(TrainError::Config(format!(
                "--loss: unknown loss \"{s}\" (expected cross-entropy, multi-hinge, multi-hinge-squared or mse)"
            ))),
        }
    }
}

impl LossKind {
    /// The mean loss of a batch. `logits: (N, K)`, `labels: (N,)` int64.
    pub fn compute(self, logits: &Tensor, labels: &Tensor) -> deepnet_tensor::Result<Tensor> {
        match self {
            LossKind::CrossEntropy => cross_entropy(logits, labels, Reduction::Mean),
            LossKind::MultiHinge => {
                multiclass_hinge_loss(logits, labels, 1.0, false, false, Reduction::Mean)
            }
            LossKind::MultiHingeSquared => {
                multiclass_hinge_loss(logits, labels, 1.0, true, false, Reduction::Mean)
            }
            LossKind::Mse => {
                let k = logits.size(1)?;
                let t = labels.one_hot(k)?.to_dtype(logits.dtype())?;
                mse_loss(logits, &t, Reduction::Mean)
            }
        }
    }
}

/// Everything about a run except the model and the optimizer.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// number of passes over the training set
    pub epochs: usize,
    /// training batch size
    pub batch_size: usize,
    /// seed of the shuffling (the model's initialization is seeded by its `ParamStore`)
    pub seed: u64,
    /// the run folder
    pub out_dir: PathBuf,
    /// the loss
    pub loss: LossKind,
    /// coefficient of the L1 penalty on weights (0 = off)
    pub l1: f64,
    /// coefficient of the L2 penalty on weights (0 = off)
    pub l2: f64,
    /// max-norm constraint on each neuron's incoming weights, applied after every step
    pub max_norm: Option<f64>,
    /// clip the global gradient norm to this
    pub clip_norm: Option<f64>,
    /// clip every gradient element to `[-v, v]`
    pub clip_value: Option<f64>,
    /// the gradient monitor records every this many steps
    pub monitor_every: usize,
    /// no progress output (for `--json`)
    pub quiet: bool,
    /// the run's settings, written to `config.json`
    pub config_json: serde_json::Value,
    /// metadata stored in the weights file (e.g. the model config, so `eval` can rebuild it)
    pub metadata: Vec<(String, String)>,
    /// stop at the next batch with a checkpoint when set (see [`LoopConfig::stop`])
    pub stop: Option<Arc<AtomicBool>>,
    /// continue the run of this checkpoint (see [`crate::read_checkpoint`])
    pub resume: Option<Resume>,
    /// also write TensorBoard event files (see [`LoopConfig::tensorboard`])
    pub tensorboard: bool,
    /// augmentation of the training batches (see [`LoopConfig::augment`]; `Augment::NONE`
    /// for none)
    pub augment: Augment,
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// one row per epoch
    pub epochs: Vec<EpochMetrics>,
    /// the distinct gradient-health warnings, in the order first seen
    pub warnings: Vec<String>,
    /// total training seconds (evaluation excluded)
    pub train_seconds: f64,
    /// wall-clock seconds of the whole run
    pub seconds: f64,
    /// the run folder
    pub out_dir: PathBuf,
    /// whether the run stopped early on [`TrainConfig::stop`] (its checkpoint is written)
    pub interrupted: bool,
}

impl TrainSummary {
    /// The last epoch's metrics.
    pub fn last(&self) -> Option<&EpochMetrics> {
        self.epochs.last()
    }
    /// Mean training throughput over all epochs.
    pub fn images_per_sec(&self, train_len: usize) -> f64 {
        (train_len * self.epochs.len()) as f64 / self.train_seconds.max(1e-9)
    }
}

/// Mean loss and accuracy of `model` on `data`, in evaluation mode, without a graph.
pub fn evaluate(
    model: &dyn Module,
    data: &Arc<dyn Dataset>,
    batch_size: usize,
    loss: LossKind,
) -> Result<(f64, f64)> {
    let _g = no_grad();
    model.set_training(false);
    let loader = DataLoader::new(data.clone(), batch_size)?.prefetch(1);
    let mut total = RunningMean::new();
    let (mut correct, mut seen) = (0usize, 0usize);
    for batch in loader.iter_epoch(0) {
        let (x, y) = batch?;
        let logits = model.forward(&x)?;
        let n = y.numel();
        total.add(loss.compute(&logits, &y)?.item()?, n);
        correct += correct_count(&logits, &y)?;
        seen += n;
    }
    Ok((total.mean(), correct as f64 / seen.max(1) as f64))
}

/// The optimizer and its optional learning-rate schedule (stepped once per epoch).
pub struct Optimization<'a> {
    /// the optimizer
    pub optimizer: &'a mut dyn Optimizer,
    /// the schedule, if any
    pub scheduler: Option<&'a mut dyn LrScheduler>,
}

/// The classification objective of a [`ModelStep`]: `loss` on the model's logits `(N, K)`
/// against the labels `(N,)`, and the batch accuracy as `acc`.
pub fn classification<'a>(loss: LossKind) -> Objective<'a> {
    Box::new(move |m: &dyn Module, x: &Tensor, y: &Tensor| {
        let logits = m.forward(x)?;
        let l = loss.compute(&logits, y)?;
        let n = y.numel();
        let correct = {
            let _g = no_grad();
            correct_count(&logits, y)?
        };
        let acc = correct as f64 / n.max(1) as f64;
        Ok((l, Logs::new().with("acc", acc, n as f64)))
    })
}

/// Trains the classifier `model` (whose parameters live in `store`) and evaluates it after every
/// epoch: a [`ModelStep`] with the [`classification`] objective in the general [`run_loop`].
pub fn fit<'a>(
    model: &'a dyn Module,
    store: &'a ParamStore,
    opt: Optimization<'a>,
    train: Arc<dyn Dataset>,
    test: Arc<dyn Dataset>,
    cfg: &TrainConfig,
) -> Result<TrainSummary> {
    let mut step = ModelStep::new(model, store, opt, classification(cfg.loss))
        .regularization(Regularization {
            l1: cfg.l1,
            l2: cfg.l2,
            max_norm: cfg.max_norm,
            clip_norm: cfg.clip_norm,
            clip_value: cfg.clip_value,
        })
        .monitor_every(cfg.monitor_every);
    let lc = LoopConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        eval_batch_size: 1000,
        seed: cfg.seed,
        out_dir: cfg.out_dir.clone(),
        quiet: cfg.quiet,
        unit: "images".into(),
        config_json: cfg.config_json.clone(),
        metadata: cfg.metadata.clone(),
        stop: cfg.stop.clone(),
        resume: cfg.resume.clone(),
        tensorboard: cfg.tensorboard,
        augment: cfg.augment,
    };
    let s = run_loop(&mut step, train, Some(test), &lc)?;
    let get = |l: &Logs, k: &str| l.get(k).unwrap_or(f64::NAN);
    Ok(TrainSummary {
        epochs: s
            .epochs
            .iter()
            .map(|e| EpochMetrics {
                epoch: e.epoch,
                train_loss: get(&e.train, "loss"),
                train_acc: get(&e.train, "acc"),
                test_loss: get(&e.test, "loss"),
                test_acc: get(&e.test, "acc"),
                seconds: e.seconds,
                images_per_sec: e.samples_per_sec,
                lr: e.lr,
            })
            .collect(),
        warnings: s.warnings,
        train_seconds: s.train_seconds,
        seconds: s.seconds,
        out_dir: s.out_dir,
        interrupted: s.interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepnet_data::InMemoryDataset;
    use deepnet_nn::layers::{Linear, ReLU, Sequential};
    use deepnet_nn::optim::{Sgd, SgdConfig};
    use deepnet_tensor::Generator;

    /// Two Gaussian blobs in 2-d, labels 0 and 1.
    fn blobs(n: usize, seed: u64) -> Arc<dyn Dataset> {
        let mut g = Generator::new(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = (i % 2) as i64;
            let m = if c == 0 { -1.5 } else { 1.5 };
            x.push((m + 0.5 * g.next_normal()) as f32);
            x.push((m + 0.5 * g.next_normal()) as f32);
            y.push(c);
        }
        Arc::new(InMemoryDataset::new(x, vec![2], y, 2).unwrap())
    }

    #[test]
    fn fit_learns_and_writes_the_run_folder() {
        let store = ParamStore::new(0);
        let pb = store.root().push("layers");
        let mut net = Sequential::new(&pb);
        net.push(Linear::new(2, 16, true, &pb.push(0)).unwrap());
        net.push(ReLU);
        net.push(Linear::new(16, 2, true, &pb.push(2)).unwrap());
        let mut sgd = Sgd::new(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            ..Default::default()
        })
        .unwrap();
        let dir = std::env::temp_dir().join(format!("deepnet-fit-{}", std::process::id()));
        let cfg = TrainConfig {
            epochs: 3,
            batch_size: 16,
            seed: 1,
            out_dir: dir.clone(),
            loss: LossKind::CrossEntropy,
            l1: 1e-5,
            l2: 1e-4,
            max_norm: Some(3.0),
            clip_norm: Some(5.0),
            clip_value: None,
            monitor_every: 5,
            quiet: true,
            config_json: serde_json::json!({"test": true}),
            metadata: vec![("model".into(), "blobs".into())],
            stop: None,
            resume: None,
            tensorboard: true,
            augment: deepnet_data::Augment::NONE,
        };
        let opt = Optimization {
            optimizer: &mut sgd,
            scheduler: None,
        };
        let s = fit(&net, &store, opt, blobs(256, 1), blobs(128, 2), &cfg).unwrap();
        assert_eq!(s.epochs.len(), 3);
        assert!(s.last().unwrap().test_acc > 0.95, "{:?}", s.last());
        for f in [
            "config.json",
            "metrics.csv",
            "model.safetensors",
            "checkpoint.safetensors",
            "loss.png",
            "accuracy.png",
            "gradient_norms.png",
            "tensorboard",
        ] {
            assert!(dir.join(f).exists(), "{f} missing");
        }
        let back = crate::load_safetensors(dir.join("model.safetensors")).unwrap();
        assert_eq!(back.len(), 4);
        let rows = crate::read_metrics(dir.join("metrics.csv")).unwrap();
        assert_eq!(rows.len(), 3);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn loss_names_parse_and_unknown_is_an_error() {
        assert_eq!(
            "multi-hinge".parse::<LossKind>().unwrap(),
            LossKind::MultiHinge
        );
        let e = "focal".parse::<LossKind>().unwrap_err().to_string();
        assert!(e.contains("--loss") && e.contains("focal"), "{e}");
    }
}
