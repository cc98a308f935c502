//! The general training loop: epochs over a [`DataLoader`], a [`TrainStep`] that does whatever
//! one batch needs (one optimizer or two, a loss the model returns, extra metrics), evaluation
//! after every epoch, and the run folder: `config.json`, `metrics.csv` with one column per
//! metric, a PNG per metric, `checkpoint.safetensors` after every epoch and `model.safetensors`
//! at the end, all written atomically.
//!
//! Classification is [`crate::fit`]; a model with one optimizer and any loss is a
//! [`crate::ModelStep`] with an objective closure; a GAN implements [`TrainStep`] itself.

use crate::checkpoint::{write_checkpoint, Resume};
use crate::logs::{read_history, EpochLogs, Logs, MetricsTable};
use crate::plot::plot_curves;
use crate::progress::{Progress, ProgressMode};
use crate::safetensors::save_safetensors;
use crate::tensorboard::{EventImage, EventWriter};
use crate::{Result, TrainError};
use deepnet_data::{Augment, DataLoader, Dataset};
use deepnet_tensor::{no_grad, Tensor};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What one training run does with a batch. `x` and `y` are what the data loader yields
/// (`(B, *sample_shape)` f32 and `(B,)` i64).
pub trait TrainStep {
    /// Trains on one batch (forward, backward, optimizer steps) and returns its metrics; the
    /// first one is shown on the progress line. `step` counts batches from 0 over the run.
    fn train_batch(&mut self, x: &Tensor, y: &Tensor, step: usize) -> Result<Logs>;

    /// The metrics of one evaluation batch. The loop calls it in evaluation mode, without a
    /// graph.
    fn eval_batch(&mut self, x: &Tensor, y: &Tensor) -> Result<Logs>;

    /// Switches the model(s) between training (`true`) and evaluation mode.
    fn set_training(&mut self, on: bool);

    /// The learning rate of the coming epoch, for `metrics.csv` (NaN if there is none).
    fn lr(&self) -> f64 {
        f64::NAN
    }

    /// Called after each epoch's evaluation, before the checkpoint: step schedulers, write sample
    /// grids into `run_dir`. Returns lines to show the user.
    fn end_epoch(&mut self, _epoch: usize, _run_dir: &Path) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Warnings raised since the last call (e.g. the gradient monitor's), shown once each.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Extra per-step scalars for TensorBoard since the last call (e.g. per-layer gradient
    /// norms, `grad_norm/<layer>`).
    fn take_scalars(&mut self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// Images for TensorBoard since the last call: `(tag, PNG path)` of grids the step wrote
    /// (e.g. a GAN's samples in `end_epoch`).
    fn take_images(&mut self) -> Vec<(String, PathBuf)> {
        Vec::new()
    }

    /// The trained model's tensors, saved as `model.safetensors`.
    fn model_state(&self) -> Vec<(String, Tensor)>;

    /// Everything a checkpoint holds: the model under `model.`, optimizer states under
    /// `optimizer.` (or one prefix per optimizer).
    fn checkpoint_state(&self) -> Vec<(String, Tensor)>;

    /// Restores what [`TrainStep::checkpoint_state`] saved (to resume a run). The default
    /// refuses: a step that can resume overrides it.
    fn load_checkpoint(&mut self, _state: &[(String, Tensor)]) -> Result<()> {
        Err(TrainError::Config(
            "this training step cannot resume from a checkpoint".into(),
        ))
    }

    /// Called once after the last epoch (e.g. to plot gradient norms into `run_dir`).
    fn finish(&mut self, _run_dir: &Path) -> Result<()> {
        Ok(())
    }
}

/// Everything about a run that does not depend on the model.
#[derive(Clone, Debug)]
pub struct LoopConfig {
    /// passes over the training set
    pub epochs: usize,
    /// training batch size
    pub batch_size: usize,
    /// evaluation batch size
    pub eval_batch_size: usize,
    /// seed of the shuffling
    pub seed: u64,
    /// the run folder
    pub out_dir: PathBuf,
    /// no progress output (for `--json`)
    pub quiet: bool,
    /// what a sample is called in the throughput column (`images` gives `images_per_sec`)
    pub unit: String,
    /// the run's settings, written to `config.json`
    pub config_json: serde_json::Value,
    /// metadata stored in the weights and checkpoint files
    pub metadata: Vec<(String, String)>,
    /// when set (e.g. by a Ctrl-C handler), the loop writes a checkpoint after the batch in
    /// hand and returns with [`RunSummary::interrupted`]
    pub stop: Option<Arc<AtomicBool>>,
    /// continue from this checkpoint (see [`crate::read_checkpoint`]) instead of starting
    pub resume: Option<Resume>,
    /// also write TensorBoard event files into `<out_dir>/tensorboard`: every batch's metrics
    /// (`batch/<name>`), the step's extra scalars (gradient norms), each epoch's means
    /// (`train/<name>`, `test/<name>`), the learning rate, and the step's images
    pub tensorboard: bool,
    /// augmentation of the training batches (crops and flips of `(N, C, H, W)` images), drawn
    /// from a generator that the loader seeds by `seed`, epoch and batch, so that a resumed run
    /// draws what the uninterrupted one did without saving generator state
    pub augment: Augment,
}

impl LoopConfig {
    /// `epochs` of `batch_size` into `out_dir`, evaluation batches of 1000, seed 0, progress
    /// shown, samples called `images`, no metadata.
    pub fn new(epochs: usize, batch_size: usize, out_dir: impl Into<PathBuf>) -> Self {
        LoopConfig {
            epochs,
            batch_size,
            eval_batch_size: 1000,
            seed: 0,
            out_dir: out_dir.into(),
            quiet: false,
            unit: "images".into(),
            config_json: serde_json::Value::Null,
            metadata: Vec::new(),
            stop: None,
            resume: None,
            tensorboard: false,
            augment: Augment::NONE,
        }
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// one entry per epoch
    pub epochs: Vec<EpochLogs>,
    /// the distinct warnings, in the order first seen
    pub warnings: Vec<String>,
    /// training seconds (evaluation excluded)
    pub train_seconds: f64,
    /// wall-clock seconds of the whole run
    pub seconds: f64,
    /// the run folder
    pub out_dir: PathBuf,
    /// whether the run stopped early on [`LoopConfig::stop`] (its checkpoint is written)
    pub interrupted: bool,
}

impl RunSummary {
    /// The last epoch.
    pub fn last(&self) -> Option<&EpochLogs> {
        self.epochs.last()
    }
}

/// The metrics of `step` over all of `data`, in evaluation mode without a graph.
pub fn evaluate_step(
    step: &mut dyn TrainStep,
    data: &Arc<dyn Dataset>,
    batch_size: usize,
) -> Result<Logs> {
    let _g = no_grad();
    step.set_training(false);
    let loader = DataLoader::new(data.clone(), batch_size)?.prefetch(1);
    let mut total = Logs::new();
    for batch in loader.iter_epoch(0) {
        let (x, y) = batch?;
        total.extend(&step.eval_batch(&x, &y)?);
    }
    Ok(total)
}

/// Trains with `step` for `cfg.epochs` over `train`, evaluating on `test` after every epoch,
/// or continues the run of `cfg.resume` from where its checkpoint stands.
pub fn run_loop(
    step: &mut dyn TrainStep,
    train: Arc<dyn Dataset>,
    test: Option<Arc<dyn Dataset>>,
    cfg: &LoopConfig,
) -> Result<RunSummary> {
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.eval_batch_size == 0 {
        return Err(TrainError::Config(format!(
            "training loop: epochs ({}), batch size ({}) and evaluation batch size ({}) must be at least 1",
            cfg.epochs, cfg.batch_size, cfg.eval_batch_size
        )));
    }
    if train.is_empty() {
        return Err(TrainError::Config(
            "training loop: the training set is empty".into(),
        ));
    }
    if let Some(t) = test.as_ref().filter(|t| t.is_empty()) {
        return Err(TrainError::Config(format!(
            "training loop: the evaluation set is empty (sample shape {:?})",
            t.sample_shape()
        )));
    }
    let start = Instant::now();
    let out = &cfg.out_dir;
    let mut loader = DataLoader::new(train, cfg.batch_size)?
        .shuffle(true)
        .seed(cfg.seed);
    if !cfg.augment.is_none() {
        loader = loader.with_batch_transform(cfg.augment.batch_transform());
    }
    let metrics_path = out.join("metrics.csv");
    // where to start: nothing done, or the checkpoint's position
    let mut pos = Resume {
        epoch: 0,
        batch: 0,
        step: 0,
        partial: Logs::new(),
        seen: 0,
        epoch_seconds: 0.0,
        train_seconds: 0.0,
        warnings: Vec::new(),
        tensors: Vec::new(),
        metadata: Vec::new(),
    };
    let (mut table, mut epochs) = match &cfg.resume {
        Some(r) => {
            if r.epoch > cfg.epochs || (r.epoch == cfg.epochs && r.batch > 0) {
                return Err(TrainError::Config(format!(
                    "resume: the checkpoint is at epoch {} batch {}, past the run's {} epochs",
                    r.epoch, r.batch, cfg.epochs
                )));
            }
            if r.batch >= loader.len() {
                return Err(TrainError::Config(format!(
                    "resume: the checkpoint is at batch {} of an epoch of {} batches: not this run's data or batch size",
                    r.batch,
                    loader.len()
                )));
            }
            step.load_checkpoint(&r.tensors)?;
            let mut history = read_history(&metrics_path)?;
            history.retain(|e| e.epoch <= r.epoch);
            if history.len() != r.epoch {
                return Err(TrainError::Config(format!(
                    "resume: {} has {} epochs, the checkpoint {}",
                    metrics_path.display(),
                    history.len(),
                    r.epoch
                )));
            }
            pos = Resume {
                tensors: Vec::new(),
                ..r.clone()
            };
            (
                MetricsTable::resume(&metrics_path, &cfg.unit, &history)?,
                history,
            )
        }
        None => {
            std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
            let cfg_text = serde_json::to_string_pretty(&cfg.config_json)
                .map_err(|e| TrainError::Config(format!("config.json: {e}")))?;
            crate::write_atomic(out.join("config.json"), cfg_text.as_bytes())
                .map_err(|e| TrainError::io(out.join("config.json"), e))?;
            (MetricsTable::create(&metrics_path, &cfg.unit)?, Vec::new())
        }
    };
    let mut board = match cfg.tensorboard {
        true => Some(EventWriter::create(out.join("tensorboard"))?),
        false => None,
    };
    let progress = Progress::new(ProgressMode::auto(cfg.quiet)).unit(short_unit(&cfg.unit));
    let stopped = || cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
    let checkpoint = |step: &dyn TrainStep, pos: &Resume| {
        write_checkpoint(
            &out.join("checkpoint.safetensors"),
            &step.checkpoint_state(),
            &cfg.metadata,
            pos,
        )
    };
    let mut interrupted = false;
    'epochs: for epoch in pos.epoch + 1..=cfg.epochs {
        step.set_training(true);
        let lr = step.lr();
        let t0 = Instant::now();
        let first = pos.batch;
        let mut bar = progress.epoch(epoch, cfg.epochs, loader.len());
        for (i, batch) in loader
            .iter_epoch_from(epoch as u64 - 1, first)
            .enumerate()
            .map(|(i, b)| (first + i, b))
        {
            let (x, y) = batch?;
            let logs = step.train_batch(&x, &y, pos.step)?;
            if let Some(b) = board.as_mut() {
                for (n, v) in logs.values() {
                    b.scalar(&format!("batch/{n}"), v, pos.step as u64)?;
                }
                for (n, v) in step.take_scalars() {
                    b.scalar(&n, v, pos.step as u64)?;
                }
            }
            pos.partial.extend(&logs);
            for w in step.take_warnings() {
                if !pos.warnings.contains(&w) {
                    progress.println(&format!("warning: {w}"));
                    pos.warnings.push(w);
                }
            }
            pos.seen += x.dims().first().copied().unwrap_or(0);
            pos.step += 1;
            pos.batch = i + 1;
            let secs = pos.epoch_seconds + t0.elapsed().as_secs_f64();
            bar.update(
                i + 1,
                pos.partial.first().unwrap_or(f64::NAN),
                pos.seen as f64 / secs.max(1e-9),
            );
            if stopped() && i + 1 < loader.len() {
                pos.epoch_seconds = secs;
                pos.train_seconds += t0.elapsed().as_secs_f64();
                checkpoint(&*step, &pos)?;
                bar.finish("interrupted: checkpoint written");
                interrupted = true;
                break 'epochs;
            }
        }
        let seconds = pos.epoch_seconds + t0.elapsed().as_secs_f64();
        pos.train_seconds += t0.elapsed().as_secs_f64();
        let test_logs = match &test {
            Some(t) => evaluate_step(step, t, cfg.eval_batch_size)?,
            None => Logs::new(),
        };
        let e = EpochLogs {
            epoch,
            train: std::mem::take(&mut pos.partial),
            test: test_logs,
            seconds,
            samples_per_sec: pos.seen as f64 / seconds.max(1e-9),
            lr,
        };
        let mut line = format!("train {}", e.train.display());
        if !e.test.is_empty() {
            line += &format!(" | test {}", e.test.display());
        }
        line += &format!(" | {:.0} {}/s", e.samples_per_sec, short_unit(&cfg.unit));
        bar.finish(&line);
        table.log(&e)?;
        for l in step.end_epoch(epoch, out)? {
            progress.println(&l);
        }
        if let Some(b) = board.as_mut() {
            write_epoch_events(b, &e, pos.step as u64, step.take_images())?;
        }
        epochs.push(e);
        pos.epoch = epoch;
        pos.batch = 0;
        pos.seen = 0;
        pos.epoch_seconds = 0.0;
        checkpoint(&*step, &pos)?;
        write_metric_plots(out, &epochs)?;
        if stopped() && epoch < cfg.epochs {
            interrupted = true;
            break;
        }
    }
    if !interrupted {
        save_safetensors(
            out.join("model.safetensors"),
            &step.model_state(),
            &cfg.metadata,
        )?;
        step.finish(out)?;
    }
    Ok(RunSummary {
        epochs,
        warnings: pos.warnings,
        train_seconds: pos.train_seconds,
        seconds: start.elapsed().as_secs_f64(),
        out_dir: out.clone(),
        interrupted,
    })
}

/// An epoch's means, its learning rate and the step's images as TensorBoard events at `step`.
fn write_epoch_events(
    b: &mut EventWriter,
    e: &EpochLogs,
    step: u64,
    images: Vec<(String, PathBuf)>,
) -> Result<()> {
    for (split, logs) in [("train", &e.train), ("test", &e.test)] {
        for (n, v) in logs.values() {
            b.scalar(&format!("{split}/{n}"), v, step)?;
        }
    }
    if e.lr.is_finite() {
        b.scalar("lr", e.lr, step)?;
    }
    for (tag, path) in images {
        let png = std::fs::read(&path).map_err(|err| TrainError::io(&path, err))?;
        let (width, height, channels) = png_header(&png)
            .ok_or_else(|| TrainError::Config(format!("{}: not a PNG image", path.display())))?;
        let img = EventImage {
            png: &png,
            width,
            height,
            channels,
        };
        b.image(&tag, &img, step)?;
    }
    Ok(())
}

/// Width, height and channel count from a PNG's IHDR chunk.
fn png_header(png: &[u8]) -> Option<(u32, u32, u32)> {
    if png.len() < 26 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(png[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(png[20..24].try_into().ok()?);
    let channels = match png[25] {
        0 => 1,
        2 => 3,
        4 => 2,
        6 => 4,
        _ => 3, // palette images decode to RGB
    };
    Some((w, h, channels))
}

/// `images` -> `img` on the progress line; other units as they are.
fn short_unit(unit: &str) -> &str {
    if unit == "images" {
        "img"
    } else {
        unit
    }
}

/// One PNG per metric name, train and test curves over the epochs: `loss.png`, `accuracy.png`
/// for `acc`, `<name>.png` for the rest.
fn write_metric_plots(out: &Path, epochs: &[EpochLogs]) -> Result<()> {
    let Some(last) = epochs.last() else {
        return Ok(());
    };
    let mut names: Vec<&str> = last.train.names();
    for n in last.test.names() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for name in names {
        let series = |l: fn(&EpochLogs) -> &Logs| -> Vec<(f64, f64)> {
            epochs
                .iter()
                .filter_map(|e| l(e).get(name).map(|v| (e.epoch as f64, v)))
                .collect()
        };
        let file = match name {
            "acc" => "accuracy".to_string(),
            n => n.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_"),
        };
        let title = if name == "acc" { "accuracy" } else { name };
        plot_curves(
            out.join(format!("{file}.png")),
            title,
            &[
                ("train", series(|e| &e.train)),
                ("test", series(|e| &e.test)),
            ],
            title,
            false,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_step::ModelStep;
    use crate::trainer::Optimization;
    use deepnet_data::InMemoryDataset;
    use deepnet_nn::layers::Linear;
    use deepnet_nn::loss::{mse_loss, Reduction};
    use deepnet_nn::optim::{Sgd, SgdConfig};
    use deepnet_nn::{Module, ParamStore};
    use deepnet_tensor::{is_grad_enabled, Generator};

    /// `n` points on the line `x1 = 2 x0` with noise, label 0.
    fn line(n: usize, seed: u64) -> Arc<dyn Dataset> {
        let mut g = Generator::new(seed);
        let mut x = Vec::new();
        for _ in 0..n {
            let a = g.next_normal();
            x.push(a as f32);
            x.push((2.0 * a + 0.05 * g.next_normal()) as f32);
        }
        Arc::new(InMemoryDataset::new(x, vec![2], vec![0; n], 1).unwrap())
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("deepnet-loop-{name}-{}", std::process::id()))
    }

    #[test]
    fn a_model_step_with_its_own_objective_trains_and_logs_its_metrics() {
        // a 2-1-2 linear autoencoder: the reconstruction loss of points on a line goes to ~0
        let store = ParamStore::new(3);
        let enc = Linear::new(2, 1, true, &store.root().push("enc")).unwrap();
        let dec = Linear::new(1, 2, true, &store.root().push("dec")).unwrap();
        struct Ae(Linear, Linear);
        impl Module for Ae {
            fn forward(&self, x: &Tensor) -> deepnet_tensor::Result<Tensor> {
                self.1.forward(&self.0.forward(x)?)
            }
        }
        let ae = Ae(enc, dec);
        let mut sgd = Sgd::new(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..Default::default()
        })
        .unwrap();
        let objective = |m: &dyn Module, x: &Tensor, _y: &Tensor| {
            let r = m.forward(x)?;
            let per_image = r.sub(x)?.square()?.sum_all()?.item()? / x.dims()[0] as f64;
            let n = x.dims()[0] as f64;
            Ok((
                mse_loss(&r, x, Reduction::Mean)?,
                Logs::new().with("recon", per_image, n),
            ))
        };
        let opt = Optimization {
            optimizer: &mut sgd,
            scheduler: None,
        };
        let mut step = ModelStep::new(&ae, &store, opt, Box::new(objective));
        let dir = temp("ae");
        let mut cfg = LoopConfig::new(8, 16, &dir);
        cfg.quiet = true;
        cfg.unit = "samples".into();
        let s = run_loop(&mut step, line(256, 1), Some(line(64, 2)), &cfg).unwrap();
        let first = s.epochs[0].train.get("recon").unwrap();
        let last = s.last().unwrap().test.get("recon").unwrap();
        assert!(last < 0.05 && last < first / 10.0, "{first} -> {last}");
        let (header, rows) = crate::read_metrics_table(dir.join("metrics.csv")).unwrap();
        assert_eq!(
            header.join(","),
            "epoch,train_loss,train_recon,test_loss,test_recon,seconds,samples_per_sec,lr"
        );
        assert_eq!(rows.len(), 8);
        for f in [
            "config.json",
            "loss.png",
            "recon.png",
            "model.safetensors",
            "checkpoint.safetensors",
            "gradient_norms.png",
        ] {
            assert!(dir.join(f).exists(), "{f} missing");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A step with two phases per batch, like a GAN's: it counts what the loop asks of it.
    #[derive(Default)]
    struct Counting {
        batches: usize,
        evals: usize,
        ends: Vec<usize>,
        training: bool,
        finished: bool,
    }

    impl TrainStep for Counting {
        fn train_batch(&mut self, x: &Tensor, _y: &Tensor, step: usize) -> Result<Logs> {
            assert!(self.training && is_grad_enabled());
            assert_eq!(step, self.batches);
            self.batches += 1;
            let n = x.dims()[0] as f64;
            Ok(Logs::new().with("d_loss", 1.0, n).with("g_loss", 2.0, n))
        }
        fn eval_batch(&mut self, x: &Tensor, _y: &Tensor) -> Result<Logs> {
            assert!(!self.training && !is_grad_enabled());
            self.evals += 1;
            Ok(Logs::new().with("score", 0.5, x.dims()[0] as f64))
        }
        fn set_training(&mut self, on: bool) {
            self.training = on;
        }
        fn end_epoch(&mut self, epoch: usize, run_dir: &Path) -> Result<Vec<String>> {
            assert!(run_dir.join("metrics.csv").exists());
            self.ends.push(epoch);
            Ok(vec![format!("epoch {epoch} done")])
        }
        fn take_warnings(&mut self) -> Vec<String> {
            vec!["the same warning".into()]
        }
        fn model_state(&self) -> Vec<(String, Tensor)> {
            vec![(
                "g.w".into(),
                Tensor::zeros([2], deepnet_tensor::DType::F32).unwrap(),
            )]
        }
        fn checkpoint_state(&self) -> Vec<(String, Tensor)> {
            vec![(
                "g_opt.m".into(),
                Tensor::zeros([2], deepnet_tensor::DType::F32).unwrap(),
            )]
        }
        fn finish(&mut self, _run_dir: &Path) -> Result<()> {
            self.finished = true;
            Ok(())
        }
    }

    #[test]
    fn a_hand_written_step_gets_every_call_in_order() {
        let dir = temp("count");
        let mut cfg = LoopConfig::new(3, 10, &dir);
        cfg.quiet = true;
        cfg.eval_batch_size = 7;
        let mut step = Counting::default();
        let s = run_loop(&mut step, line(25, 1), Some(line(20, 2)), &cfg).unwrap();
        assert_eq!(step.batches, 9);
        assert_eq!(step.evals, 9); // 3 epochs x ceil(20 / 7)
        assert_eq!(step.ends, [1, 2, 3]);
        assert!(step.finished);
        assert_eq!(s.warnings, ["the same warning"]);
        assert_eq!(s.last().unwrap().train.names(), ["d_loss", "g_loss"]);
        assert!(s.last().unwrap().lr.is_nan());
        let ck = crate::load_safetensors(dir.join("checkpoint.safetensors")).unwrap();
        assert_eq!(ck[0].0, "g_opt.m");
        assert!(dir.join("score.png").exists() && dir.join("g_loss.png").exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Trains Linear-Dropout-Linear with SGD momentum and a cosine schedule for 3 epochs into
    /// `dir`, from `seed`; `stop_after` sets the stop flag after that many batches; `resume`
    /// continues a checkpoint.
    fn dropout_run(
        dir: &Path,
        seed: u64,
        stop_after: Option<usize>,
        resume: Option<Resume>,
    ) -> RunSummary {
        use deepnet_nn::layers::{Dropout, Sequential};
        use deepnet_nn::optim::{CosineAnnealingLR, LrScheduler};
        let store = ParamStore::new(seed);
        let pb = store.root();
        let mut net = Sequential::new(&pb);
        net.push(Linear::new(2, 16, true, &pb.push(0)).unwrap());
        net.push(Dropout::new(0.3, &pb.push(1)).unwrap());
        net.push(Linear::new(16, 2, true, &pb.push(2)).unwrap());
        let mut sgd = Sgd::new(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..Default::default()
        })
        .unwrap();
        let mut sched = CosineAnnealingLR::new(&mut sgd, 3, 0.0).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, mut n) = (stop.clone(), 0usize);
        let objective = move |m: &dyn Module, x: &Tensor, _y: &Tensor| {
            if is_grad_enabled() {
                n += 1;
                if Some(n) == stop_after {
                    flag.store(true, Ordering::SeqCst);
                }
            }
            let r = m.forward(x)?;
            Ok((mse_loss(&r, x, Reduction::Mean)?, Logs::new()))
        };
        let opt = Optimization {
            optimizer: &mut sgd,
            scheduler: Some(&mut sched as &mut dyn LrScheduler),
        };
        let mut step = ModelStep::new(&net, &store, opt, Box::new(objective));
        let mut cfg = LoopConfig::new(3, 16, dir);
        cfg.quiet = true;
        cfg.stop = Some(stop);
        cfg.resume = resume;
        run_loop(&mut step, line(100, 1), Some(line(30, 2)), &cfg).unwrap()
    }

    #[test]
    fn a_run_stopped_mid_epoch_resumes_to_the_same_bits() {
        let (a, b) = (temp("whole"), temp("parts"));
        let whole = dropout_run(&a, 7, None, None);
        assert!(!whole.interrupted);
        // 7 batches per epoch: stop in the middle of epoch 2
        let first = dropout_run(&b, 7, Some(10), None);
        assert!(first.interrupted && first.epochs.len() == 1);
        assert!(!b.join("model.safetensors").exists());
        let ck = crate::read_checkpoint(b.join("checkpoint.safetensors")).unwrap();
        assert_eq!((ck.epoch, ck.batch, ck.step), (1, 3, 10));
        // another seed: everything must come from the checkpoint
        let rest = dropout_run(&b, 99, None, Some(ck));
        assert!(!rest.interrupted);
        let bits = |d: &Path| -> Vec<(String, Vec<u32>)> {
            crate::load_safetensors(d.join("model.safetensors"))
                .unwrap()
                .into_iter()
                .map(|(k, t)| {
                    (
                        k,
                        t.to_vec::<f32>()
                            .unwrap()
                            .iter()
                            .map(|v| v.to_bits())
                            .collect(),
                    )
                })
                .collect()
        };
        assert_eq!(bits(&a), bits(&b));
        let table = |d: &Path| crate::read_metrics_table(d.join("metrics.csv")).unwrap();
        let (ta, tb) = (table(&a), table(&b));
        assert_eq!(ta.0, tb.0);
        assert_eq!(tb.1.len(), 3);
        for (ra, rb) in ta.1.iter().zip(&tb.1) {
            // epoch, losses, lr equal; timing columns differ
            let n = ra.len();
            assert_eq!(ra[..n - 3], rb[..n - 3]);
            assert_eq!(ra[n - 1], rb[n - 1]);
        }
        // a resume past the end of the run is refused
        let ck = crate::read_checkpoint(b.join("checkpoint.safetensors")).unwrap();
        let mut cfg = LoopConfig::new(2, 16, &b);
        cfg.resume = Some(ck);
        let e = run_loop(&mut Counting::default(), line(100, 1), None, &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("past the run's 2 epochs"), "{e}");
        let _ = std::fs::remove_dir_all(a);
        let _ = std::fs::remove_dir_all(b);
    }

    #[test]
    fn empty_sets_and_zero_sizes_are_errors() {
        let mut step = Counting::default();
        let mut cfg = LoopConfig::new(1, 4, temp("empty"));
        cfg.quiet = true;
        let empty: Arc<dyn Dataset> =
            Arc::new(InMemoryDataset::new(vec![], vec![2], vec![], 1).unwrap());
        let e = run_loop(&mut step, line(4, 1), Some(empty.clone()), &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("evaluation set is empty"), "{e}");
        let e = run_loop(&mut step, empty, None, &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("training set is empty"), "{e}");
        cfg.batch_size = 0;
        let e = run_loop(&mut step, line(4, 1), None, &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch size (0)"), "{e}");
    }
}
