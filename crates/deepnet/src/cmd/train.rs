//! `deepnet train`: trains a model on an IDX dataset (the shipped MNIST by default), shows a
//! progress bar, writes the run folder and ends with the test accuracy.

use super::common::{
    dataset_name, model_store, msg, resolve_dataset, run_dir, CliResult, ModelArgs, ModelSpec,
};
use clap::{Args, ValueEnum};
use deepnet::data::Dataset;
use deepnet::nn::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, CosineAnnealingLR, LrScheduler, Optimizer,
    RmsProp, RmsPropConfig, Sgd, SgdConfig, StepLR,
};
use deepnet::train::{fit, LossKind, Optimization, TrainConfig};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerName {
    Sgd,
    Adam,
    Adamw,
    Rmsprop,
    Adagrad,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchedulerName {
    /// constant learning rate
    None,
    /// cosine annealing to 0 over the run
    Cosine,
    /// multiply by 0.1 every third of the run
    Step,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LossName {
    /// softmax cross-entropy
    CrossEntropy,
    /// K-class hinge, sum over wrong classes
    MultiHinge,
    /// squared K-class hinge
    MultiHingeSquared,
    /// squared error against one-hot targets
    Mse,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// mnist, fashion-mnist, or a directory: IDX files, an image folder (DIR/train/<class>/*.png
    /// or .jpg and DIR/test/<class>/..., classes sorted by name) or CIFAR-10 binaries
    /// (data_batch_1.bin ... data_batch_5.bin, whichever exist, and test_batch.bin), recognized
    /// by their content; for char_lstm: shakespeare, jane-austen, moby-dick, or a UTF-8 text file.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    /// Image folders and CIFAR-10: resize every image to HxW (default: the first training
    /// image's size; an image of another size is then an error).
    #[arg(long, value_name = "HxW")]
    pub image_size: Option<String>,
    /// Image folders and CIFAR-10: 1 (gray) or 3 (RGB) channels (default: the first training
    /// image's).
    #[arg(long, value_name = "1|3")]
    pub channels: Option<usize>,
    /// Data augmentation of the training batches: none, or crop=P (pad P zero pixels on each
    /// side, crop back at a random offset) and/or flip[=P] (mirror left-right with probability
    /// P, 0.5 alone), e.g. crop=4,flip. Seeded by --seed, epoch and batch (a resumed run sees
    /// the same). The padding is zero after normalization, i.e. the training mean.
    #[arg(long, value_name = "SPEC", default_value = "none")]
    pub augment: String,
    /// Passes over the training set (default: 10; gan: 15; dcgan: 5; char_lstm: 1; the
    /// autoencoders' recipes have their own).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training batch size (default: 64; the vaes and gans: 128; the autoencoders' recipes have
    /// their own).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (default: 0.05 for sgd, 0.001 for adam/adamw/rmsprop, 0.01 for adagrad).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer (default: sgd; adam for lstm, gru, rnn and md_lstm).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerName>,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Weight decay in the optimizer (coupled in sgd/adam/rmsprop/adagrad, decoupled in adamw).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Learning-rate schedule (default: cosine; the vaes and gans: none).
    #[arg(long, value_enum)]
    pub scheduler: Option<SchedulerName>,
    #[arg(long, value_enum, default_value_t = LossName::CrossEntropy)]
    pub loss: LossName,
    /// L1 penalty coefficient on the weights.
    #[arg(long, default_value_t = 0.0)]
    pub l1: f64,
    /// L2 penalty coefficient on the weights (added to the loss).
    #[arg(long, default_value_t = 0.0)]
    pub l2: f64,
    /// Max-norm constraint on each neuron's incoming weight vector.
    #[arg(long)]
    pub max_norm: Option<f64>,
    /// Clip the global gradient norm (default: off; 1.0 for lstm, gru, rnn and md_lstm; 0 turns
    /// it off).
    #[arg(long)]
    pub clip_norm: Option<f64>,
    /// Clip each gradient element to [-v, v].
    #[arg(long)]
    pub clip_value: Option<f64>,
    /// Seed of the initialization and the shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run folder (default: runs/<model>-<dataset>-<local date and time>); one that already
    /// holds a run is refused.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Record per-layer gradient norms every this many steps.
    #[arg(long, default_value_t = 50)]
    pub monitor_every: usize,
    /// Use only the first N training and test samples (quick runs and smoke tests).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Use only the first N training samples (e.g. fine-tuning with few labels); the test set
    /// stays whole.
    #[arg(long, value_name = "N")]
    pub train_samples: Option<usize>,
    /// Start from the weights of another run (by parameter name) instead of a random
    /// initialization.
    #[arg(long, value_name = "WEIGHTS")]
    pub init_from: Option<PathBuf>,
    /// With --init-from: keep the model's head (its last layer with a weight) freshly
    /// initialized instead of loading it, e.g. for another task or class count.
    #[arg(long, requires = "init_from")]
    pub reset_head: bool,
    /// Freeze every parameter whose name starts with PREFIX (comma separated or repeated),
    /// e.g. "features" for the convolutional backbone of lenet5: no gradient, no update.
    #[arg(long, value_name = "PREFIX", value_delimiter = ',')]
    pub freeze: Vec<String>,
    /// With --init-from: multiply the learning rate of every loaded parameter (all but a
    /// --reset-head head) by F, 0 < F <= 1: the pretrained backbone moves slower than the new
    /// head (an alternative to --freeze, as PyTorch's parameter groups).
    #[arg(long, value_name = "F", requires = "init_from")]
    pub backbone_lr_scale: Option<f64>,
    /// Number of output classes (default: the dataset's).
    #[arg(long, value_name = "K")]
    pub num_classes: Option<usize>,
    /// Also write TensorBoard event files into RUN/tensorboard (view with `tensorboard
    /// --logdir RUN`): per-batch and per-epoch metrics, learning rate, per-layer gradient norms.
    #[arg(long)]
    pub tensorboard: bool,
    /// Continue the run in RUN_DIR from its checkpoint (after Ctrl-C or a crash), with the
    /// run's own flags; it ends with the weights an uninterrupted run would have.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Code size of pca, an autoencoder or a generative model (default: 30 for pca and the
    /// autoencoders, 20 for vae and conv_vae, 100 for gan and dcgan); pca takes 1 to the input's size, the
    /// autoencoders and the VAE less than it.
    #[arg(long, value_name = "K")]
    pub code: Option<usize>,
    #[command(flatten)]
    pub ae: super::train_ae::AeArgs,
    #[command(flatten)]
    pub seq: super::train_seq::SeqArgs,
    #[command(flatten)]
    pub text: super::train_text::TextArgs,
}

impl TrainArgs {
    /// Whether `--model` is a recurrent network: those train with their own defaults (Adam at
    /// 1e-3, gradient norm clipped to 1.0), the usual recipe for LSTMs, whose gradients through
    /// many steps occasionally explode; any flag given still wins.
    fn recurrent(&self) -> bool {
        self.model.arch.is_none()
            && (deepnet::models::RECURRENT_MODELS.contains(&self.model.model.as_str())
                || self.model.model == "md_lstm")
    }

    /// `--optimizer`, or the model's default.
    pub(super) fn optimizer_name(&self) -> OptimizerName {
        self.optimizer.unwrap_or(if self.recurrent() {
            OptimizerName::Adam
        } else {
            OptimizerName::Sgd
        })
    }

    /// `--epochs`, or the classifiers' default.
    fn epochs(&self) -> usize {
        self.epochs.unwrap_or(10)
    }

    /// `--batch-size`, or the classifiers' default.
    fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(64)
    }

    /// `--scheduler`, or the classifiers' default.
    pub(super) fn scheduler(&self) -> SchedulerName {
        self.scheduler.unwrap_or(SchedulerName::Cosine)
    }

    /// `--clip-norm`, or the model's default; 0 is off.
    pub(super) fn clip_norm(&self) -> Option<f64> {
        self.clip_norm
            .or(self.recurrent().then_some(1.0))
            .filter(|&v| v != 0.0)
    }
}

pub(super) fn positive(name: &str, v: f64) -> CliResult<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(format!("--{name}: expected a positive number, got {v}"))
    }
}

pub(super) fn optimizer(a: &TrainArgs) -> CliResult<(Box<dyn Optimizer>, f64)> {
    let lr = a.lr.unwrap_or(match a.optimizer_name() {
        OptimizerName::Sgd => 0.05,
        OptimizerName::Adagrad => 0.01,
        _ => 1e-3,
    });
    positive("lr", lr)?;
    let wd = a.weight_decay;
    let opt: Box<dyn Optimizer> = match a.optimizer_name() {
        OptimizerName::Sgd => Box::new(
            Sgd::new(SgdConfig {
                lr,
                momentum: a.momentum,
                weight_decay: wd,
                ..Default::default()
            })
            .map_err(msg)?,
        ),
        OptimizerName::Adam => Box::new(
            Adam::new(AdamConfig {
                lr,
                weight_decay: wd,
                ..Default::default()
            })
            .map_err(msg)?,
        ),
        OptimizerName::Adamw => Box::new(
            AdamW::new(AdamConfig {
                lr,
                weight_decay: wd,
                ..AdamConfig::adamw()
            })
            .map_err(msg)?,
        ),
        OptimizerName::Rmsprop => Box::new(
            RmsProp::new(RmsPropConfig {
                lr,
                weight_decay: wd,
                ..Default::default()
            })
            .map_err(msg)?,
        ),
        OptimizerName::Adagrad => Box::new(
            Adagrad::new(AdagradConfig {
                lr,
                weight_decay: wd,
                ..Default::default()
            })
            .map_err(msg)?,
        ),
    };
    Ok((opt, lr))
}

/// The ids of the `train` flags given on the command line `argv` (clap ids: `batch_size` for
/// `--batch-size`), as opposed to those left at their defaults.
pub(super) fn given_flags(argv: &[String]) -> Vec<String> {
    use clap::parser::ValueSource;
    use clap::{Arg, ArgAction};
    // the global flags may stand after `train`
    let cmd = TrainArgs::augment_args(clap::Command::new("train").no_binary_name(true))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue))
        .arg(Arg::new("threads").long("threads").num_args(1));
    // only arguments: clap also reports the groups of flattened structs (`ModelArgs`)
    let args: Vec<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    match cmd.try_get_matches_from(argv) {
        Ok(m) => m
            .ids()
            .filter(|id| args.iter().any(|a| a == id.as_str()))
            .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Refuses the flags of `argv` that model `name`'s training ignores (everything but `used`
/// and the global flags), naming them, so that a flag is never silently without effect.
pub(super) fn refuse_unused_flags(name: &str, argv: &[String], used: &[&str]) -> CliResult<()> {
    let unused: Vec<String> = given_flags(argv)
        .into_iter()
        .filter(|f| !used.contains(&f.as_str()) && !["json", "threads"].contains(&f.as_str()))
        .map(|f| format!("--{}", f.replace('_', "-")))
        .collect();
    if unused.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}: not used by --model {name} (its recipe sets the architecture; see deepnet train --help)",
        unused.join(", ")
    ))
}

/// Checks the flags every training run shares; `epochs` and `batch_size` are the run's.
pub(super) fn check_flags(a: &TrainArgs, epochs: usize, batch_size: usize) -> CliResult<()> {
    if epochs == 0 {
        return Err("--epochs: expected at least 1".into());
    }
    if batch_size == 0 {
        return Err("--batch-size: expected at least 1".into());
    }
    for (name, v) in [("l1", a.l1), ("l2", a.l2), ("weight-decay", a.weight_decay)] {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(format!("--{name}: expected a number >= 0, got {v}"));
        }
    }
    for (name, v) in [
        ("max-norm", a.max_norm),
        ("clip-norm", a.clip_norm()),
        ("clip-value", a.clip_value),
    ] {
        if let Some(v) = v {
            positive(name, v)?;
        }
    }
    if a.limit == Some(0) {
        return Err("--limit: expected at least 1".into());
    }
    Ok(())
}

/// The learning-rate schedule `which` over `epochs`, stepping `opt`.
pub(super) fn scheduler(
    which: SchedulerName,
    opt: &mut dyn Optimizer,
    epochs: usize,
) -> CliResult<Option<Box<dyn LrScheduler>>> {
    Ok(match which {
        SchedulerName::None => None,
        SchedulerName::Cosine => Some(Box::new(
            CosineAnnealingLR::new(opt, epochs as u64, 0.0).map_err(msg)?,
        )),
        SchedulerName::Step => Some(Box::new(
            StepLR::new(opt, (epochs as u64 / 3).max(1), 0.1).map_err(msg)?,
        )),
    })
}

pub fn run(a: TrainArgs, json_out: bool) -> CliResult<()> {
    let argv = super::resume::train_argv();
    let (a, resume) = match &a.resume {
        Some(dir) => {
            let args = super::resume::resumed_args(dir, &argv)?;
            if args.model.arch.is_none() && args.model.model == "pca" {
                return Err(format!(
                    "--resume {}: pca is fitted in closed form in one pass, so its run has no \
                     checkpoint and nothing to resume; fit it again",
                    dir.display()
                ));
            }
            let ck = dir.join("checkpoint.safetensors");
            let r = deepnet::train::read_checkpoint(&ck).map_err(|e| format!("--resume: {e}"))?;
            (args, Some(r))
        }
        None => (a, None),
    };
    if super::train_gen::handles(&a) {
        return super::train_gen::run(a, resume, argv, json_out);
    }
    if super::train_ae::handles(&a) {
        return super::train_ae::run(a, resume, argv, json_out);
    }
    if a.model.model == super::train_text::CHAR_LSTM {
        return super::train_text::run(a, resume, argv, json_out);
    }
    if super::train_seq::is_sequence_dataset(&a.dataset) {
        return super::train_seq::run(a, resume, argv, json_out);
    }
    check_flags(&a, a.epochs(), a.batch_size())?;
    let dir = resolve_dataset(&a.dataset)?;
    let data = super::image_data::load_train_data(&dir, &a)?;
    let (norm, mut train, mut test) = (data.norm, data.train, data.test);
    if let Some(n) = a.limit {
        train = train.take(n);
        test = test.take(n);
    }
    if let Some(n) = a.train_samples {
        if n == 0 || n > train.len() {
            return Err(format!(
                "--train-samples: expected 1 to {} (the training set), got {n}",
                train.len()
            ));
        }
        train = train.take(n);
    }
    let data_classes = data.classes.len();
    let classes = a.num_classes.unwrap_or(data_classes);
    if classes < data_classes {
        return Err(format!(
            "--num-classes {classes}: the dataset's labels go up to {}",
            data_classes - 1
        ));
    }
    let spec = ModelSpec::from_args(&a.model, train.sample_shape(), classes)?;
    let store = model_store(a.seed);
    let model = spec.build(&store)?;
    let reset = match &a.init_from {
        Some(w) => super::finetune::init_from(&store, w, a.reset_head)?,
        None => None,
    };
    let frozen = super::finetune::freeze(&store, &a.freeze)?;
    // the conv arithmetic of every layer, before any training: errors stop here, windows that
    // do not tile their input are reported
    let warnings = deepnet::models::check_input(model.as_ref(), &spec.input).map_err(msg)?;
    if !json_out {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let (mut opt, lr) = optimizer(&a)?;
    if let Some(f) = a.backbone_lr_scale {
        opt = super::finetune::scale_backbone_lr(opt, &store, reset.as_deref(), f)?;
    }
    let mut sched = scheduler(a.scheduler(), opt.as_mut(), a.epochs())?;
    let loss = match a.loss {
        LossName::CrossEntropy => LossKind::CrossEntropy,
        LossName::MultiHinge => LossKind::MultiHinge,
        LossName::MultiHingeSquared => LossKind::MultiHingeSquared,
        LossName::Mse => LossKind::Mse,
    };
    let dataset_name = dataset_name(&dir);
    let out = match &resume {
        Some(_) => a.out.clone().ok_or("--resume: no run folder")?,
        None => run_dir(a.out.as_deref(), &spec.name, &dataset_name)?,
    };
    let mut metadata = vec![
        ("deepnet.model".into(), spec.to_json().to_string()),
        ("deepnet.normalize".into(), norm.to_json().to_string()),
    ];
    // named classes (image folders, CIFAR-10) go with the weights, so that predict prints
    // names; IDX classes are the digits themselves
    if data.format != deepnet::data::DatasetFormat::Idx && data.classes.len() == classes {
        metadata.push(("deepnet.classes".into(), json!(data.classes).to_string()));
    }
    let config_json = json!({
        "model": spec.to_json(), "dataset": dir.display().to_string(), "epochs": a.epochs(),
        "batch_size": a.batch_size(), "optimizer": format!("{:?}", a.optimizer_name()).to_lowercase(),
        "lr": lr, "momentum": a.momentum, "weight_decay": a.weight_decay,
        "scheduler": format!("{:?}", a.scheduler()).to_lowercase(), "loss": format!("{:?}", a.loss),
        "l1": a.l1, "l2": a.l2, "max_norm": a.max_norm, "clip_norm": a.clip_norm(),
        "clip_value": a.clip_value, "seed": a.seed, "threads": deepnet::tensor::num_threads(),
        "normalize": norm.to_json(), "data_format": data.format.name(), "classes": data.classes,
        "image_size": a.image_size, "channels": a.channels, "augment": data.augment.to_string(),
        "train_samples": train.len(), "init_from": a.init_from.as_ref().map(|p| p.display().to_string()),
        "reset_head": reset, "freeze": a.freeze, "backbone_lr_scale": a.backbone_lr_scale,
        "argv": argv,
    });
    let cfg = TrainConfig {
        epochs: a.epochs(),
        batch_size: a.batch_size(),
        seed: a.seed,
        out_dir: out.clone(),
        loss,
        l1: a.l1,
        l2: a.l2,
        max_norm: a.max_norm,
        clip_norm: a.clip_norm(),
        clip_value: a.clip_value,
        monitor_every: a.monitor_every,
        quiet: json_out,
        config_json,
        metadata,
        augment: data.augment,
        stop: Some(super::resume::stop_flag()),
        resume,
        tensorboard: a.tensorboard,
    };
    if !json_out {
        eprintln!(
            "training {} ({} parameters) on {} ({} train / {} test) for {} epochs; run folder {}",
            match &spec.arch {
                Some(arch) => format!("--arch {arch}"),
                None => spec.name.clone(),
            },
            store.num_params(),
            dir.display(),
            train.len(),
            test.len(),
            a.epochs(),
            out.display()
        );
        if a.init_from.is_some() || frozen > 0 {
            eprintln!(
                "initialized from {}{}; {frozen} parameter tensors frozen ({} of {} elements trainable)",
                a.init_from.as_ref().map(|w| w.display().to_string()).unwrap_or_else(|| "scratch".into()),
                reset.map(|h| format!(" (head {h} reset)")).unwrap_or_default(),
                store.num_trainable(),
                store.num_params()
            );
        }
    }
    let train_len = train.len();
    let (train, test): (Arc<dyn Dataset>, Arc<dyn Dataset>) = (Arc::new(train), Arc::new(test));
    let opt = Optimization {
        optimizer: opt.as_mut(),
        scheduler: sched.as_mut().map(|s| s.as_mut() as &mut dyn LrScheduler),
    };
    let s = fit(model.as_ref(), &store, opt, train, test, &cfg).map_err(msg)?;
    super::resume::exit_if_interrupted(s.interrupted, &out);
    let last = s.last().ok_or("no epoch ran")?;
    let ips = s.images_per_sec(train_len);
    if json_out {
        println!(
            "{}",
            json!({"command": "train", "model": spec.name, "arch": spec.arch, "dataset": dataset_name,
                   "epochs": a.epochs(), "test_accuracy": last.test_acc, "test_loss": last.test_loss,
                   "train_accuracy": last.train_acc, "train_loss": last.train_loss,
                   "seconds": s.seconds, "train_seconds": s.train_seconds,
                   "images_per_sec": ips, "warnings": s.warnings,
                   "out": s.out_dir.display().to_string()})
        );
    } else {
        println!(
            "test accuracy {:.2}% (loss {:.4}) after {} epochs in {:.1} s ({:.0} images/s); run folder {}",
            100.0 * last.test_acc,
            last.test_loss,
            a.epochs(),
            s.seconds,
            ips,
            s.out_dir.display()
        );
    }
    Ok(())
}
