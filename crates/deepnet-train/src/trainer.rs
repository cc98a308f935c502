//! The training loop: epochs over a `DataLoader`, the loss of the run's choice plus L1/L2
//! penalties, gradient clipping, the optimizer step, the max-norm constraint, the gradient-health
//! monitor, per-epoch evaluation, and the run folder (config, metrics.csv, weights, checkpoint,
//! plots). The loop is explicit and readable; everything it writes is written atomically.

use crate::metrics::{correct_count, EpochMetrics, MetricsLog, RunningMean};
use crate::monitor::{check_finite, GradientMonitor};
use crate::plot::plot_curves;
use crate::progress::{Progress, ProgressMode};
use crate::safetensors::save_safetensors;
use crate::{Result, TrainError};
use deepnet_data::{DataLoader, Dataset};
use deepnet_nn::loss::{cross_entropy, mse_loss, multiclass_hinge_loss, Reduction};
use deepnet_nn::optim::{LrScheduler, Optimizer};
use deepnet_nn::regularize::{
    clip_grad_norm_, clip_grad_value_, l1_penalty, l2_penalty, max_norm_, weights_only,
};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{no_grad, Tensor};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

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

/// Trains `model` (whose parameters live in `store`) and evaluates it after every epoch.
pub fn fit(
    model: &dyn Module,
    store: &ParamStore,
    opt: Optimization<'_>,
    train: Arc<dyn Dataset>,
    test: Arc<dyn Dataset>,
    cfg: &TrainConfig,
) -> Result<TrainSummary> {
    let Optimization {
        optimizer,
        mut scheduler,
    } = opt;
    let start = Instant::now();
    let out = &cfg.out_dir;
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let cfg_text = serde_json::to_string_pretty(&cfg.config_json)
        .map_err(|e| TrainError::Config(format!("config.json: {e}")))?;
    crate::write_atomic(out.join("config.json"), cfg_text.as_bytes())
        .map_err(|e| TrainError::io(out.join("config.json"), e))?;
    let mut log = MetricsLog::create(out.join("metrics.csv"))?;
    let progress = Progress::new(ProgressMode::auto(cfg.quiet));
    let loader = DataLoader::new(train.clone(), cfg.batch_size)?
        .shuffle(true)
        .seed(cfg.seed);
    let params = store.trainable();
    let param_tensors: Vec<Tensor> = params.iter().map(|(_, t)| t.clone()).collect();
    let penalized = weights_only(&params);
    let constrained: Vec<Tensor> = penalized
        .iter()
        .filter(|w| w.rank() >= 2)
        .cloned()
        .collect();
    let mut monitor = GradientMonitor::new(cfg.monitor_every);
    let mut seen_warnings = BTreeSet::new();
    let mut warnings = Vec::new();
    let mut epochs = Vec::new();
    let mut train_seconds = 0.0;
    let mut step = 0usize;
    for epoch in 1..=cfg.epochs {
        model.set_training(true);
        let lr = optimizer.lr();
        let t0 = Instant::now();
        let mut bar = progress.epoch(epoch, cfg.epochs, loader.len());
        let mut running = RunningMean::new();
        let (mut correct, mut seen) = (0usize, 0usize);
        for (i, batch) in loader.iter_epoch(epoch as u64 - 1).enumerate() {
            let (x, y) = batch?;
            let logits = model.forward(&x)?;
            let mut loss = cfg.loss.compute(&logits, &y)?;
            let data_loss = loss.item()?;
            if cfg.l1 > 0.0 {
                loss = loss.add(&l1_penalty(&penalized)?.mul_scalar(cfg.l1)?)?;
            }
            if cfg.l2 > 0.0 {
                loss = loss.add(&l2_penalty(&penalized)?.mul_scalar(cfg.l2)?)?;
            }
            let mut grads = loss.backward()?;
            check_finite(data_loss, &params, &grads)?;
            for w in monitor.record(step, &params, &grads)? {
                let key = format!("{:?}:{}", std::mem::discriminant(&w), w.layer());
                if seen_warnings.insert(key) {
                    progress.println(&format!("warning: {w}"));
                    warnings.push(w.to_string());
                }
            }
            if let Some(c) = cfg.clip_norm {
                clip_grad_norm_(&mut grads, &param_tensors, c)?;
            }
            if let Some(v) = cfg.clip_value {
                clip_grad_value_(&mut grads, &param_tensors, v)?;
            }
            optimizer.step(&params, &grads)?;
            if let Some(c) = cfg.max_norm {
                for w in &constrained {
                    max_norm_(w, c)?;
                }
            }
            let n = y.numel();
            running.add(data_loss, n);
            {
                let _g = no_grad();
                correct += correct_count(&logits, &y)?;
            }
            seen += n;
            step += 1;
            bar.update(
                i + 1,
                running.mean(),
                seen as f64 / t0.elapsed().as_secs_f64(),
            );
        }
        let seconds = t0.elapsed().as_secs_f64();
        train_seconds += seconds;
        let (test_loss, test_acc) = evaluate(model, &test, 1000, cfg.loss)?;
        let m = EpochMetrics {
            epoch,
            train_loss: running.mean(),
            train_acc: correct as f64 / seen.max(1) as f64,
            test_loss,
            test_acc,
            seconds,
            images_per_sec: seen as f64 / seconds.max(1e-9),
            lr,
        };
        bar.finish(&format!(
            "train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | {:.0} img/s",
            m.train_loss,
            100.0 * m.train_acc,
            m.test_loss,
            100.0 * m.test_acc,
            m.images_per_sec
        ));
        log.log(&m)?;
        epochs.push(m);
        if let Some(s) = scheduler.as_deref_mut() {
            s.step(optimizer);
        }
        save_checkpoint(out, store, optimizer, epoch, &cfg.metadata)?;
        write_plots(out, &epochs)?;
    }
    save_safetensors(
        out.join("model.safetensors"),
        &store.state_dict(),
        &cfg.metadata,
    )?;
    monitor.write_plot(out.join("gradient_norms.png"))?;
    Ok(TrainSummary {
        epochs,
        warnings,
        train_seconds,
        seconds: start.elapsed().as_secs_f64(),
        out_dir: out.clone(),
    })
}

/// Writes `checkpoint.safetensors`: the model under `model.`, the optimizer state under
/// `optimizer.`, the finished epoch in the metadata.
fn save_checkpoint(
    out: &Path,
    store: &ParamStore,
    opt: &dyn Optimizer,
    epoch: usize,
    metadata: &[(String, String)],
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = store
        .state_dict()
        .into_iter()
        .map(|(k, v)| (format!("model.{k}"), v))
        .collect();
    tensors.extend(
        opt.state_dict()
            .into_iter()
            .map(|(k, v)| (format!("optimizer.{k}"), v)),
    );
    let mut meta = metadata.to_vec();
    meta.push(("epoch".into(), epoch.to_string()));
    save_safetensors(out.join("checkpoint.safetensors"), &tensors, &meta)
}

fn write_plots(out: &Path, epochs: &[EpochMetrics]) -> Result<()> {
    let pts = |f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        epochs.iter().map(|m| (m.epoch as f64, f(m))).collect()
    };
    plot_curves(
        out.join("loss.png"),
        "loss",
        &[
            ("train", pts(|m| m.train_loss)),
            ("test", pts(|m| m.test_loss)),
        ],
        "loss",
        false,
    )?;
    plot_curves(
        out.join("accuracy.png"),
        "accuracy",
        &[
            ("train", pts(|m| m.train_acc)),
            ("test", pts(|m| m.test_acc)),
        ],
        "accuracy",
        false,
    )
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
