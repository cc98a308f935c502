//! `deepnet train` on sequence tasks, and `deepnet eval` of what it writes:
//!
//! - `--dataset ucr:NAME` (a problem of `../shared/data/timeseries-ucr-uea`) or `ucr:PATH/NAME`
//!   (`PATH/NAME/NAME_TRAIN.ts` and `_TEST.ts`, or the UCR-2018 `.tsv` pair) with `--model lstm`,
//!   `gru`, `rnn` ([`SeriesRnnClassifier`]) or `fcn` ([`Fcn`], the archive's published baseline);
//! - `--dataset reviews` (`../shared/data/fine-foods-reviews`) or `reviews:DIR` with `--model
//!   bigru` ([`ReviewClassifier`]).
//!
//! The series are z-normalized per dimension with the TRAIN split's statistics and padded with
//! NaN, the reviews with the `<pad>` id 0: the models read each sequence's length off the batch
//! (see `deepnet_models::sequence_tasks`), since the training loop hands a step only `(x, y)`.
//!
//! Every flag of `train` not given takes the task's recipe ([`recipe`]): Adam, a cosine schedule,
//! gradient norms clipped to 1 for the recurrent models, a batch size and epoch count measured to
//! reach good accuracy in about a minute of CPU time per problem (see [`recipe`]). The UCR training sets hold
//! 36 to 270 series, so an epoch there is several passes over the training set (`--passes`,
//! each pass freshly shuffled): the loop evaluates, checkpoints and plots once per epoch, not
//! once per tiny pass.
//!
//! The weights file records what `eval` needs under `deepnet.sequence_task` (the model, the
//! dataset, and the z-normalization statistics and class names of a UCR problem or the token
//! limit of the reviews) and, for the reviews, the vocabulary under `deepnet.vocab`.

use super::common::{model_store, msg, repo_root, run_dir, CliResult};
use super::train::{LossName, OptimizerName, TrainArgs};
use clap::Args;
use deepnet::data::{
    load_reviews, load_ucr_tsv, load_ucr_with, Dataset, PaddedSequences, ReviewsConfig,
    ReviewsDataset, SequenceDataset as _, TimeSeriesDataset, UcrOptions, WordVocab,
};
use deepnet::models::{
    Fcn, FcnConfig, Pooling, RecurrentKind, ReviewClassifier, ReviewClassifierConfig,
    SeriesRnnClassifier, SeriesRnnConfig,
};
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::{Result as TensorResult, Tensor};
use deepnet::train::{
    classification, run_loop, LoopConfig, LossKind, ModelStep, Optimization, Regularization, Resume,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The flags of `train` that only sequence tasks read.
#[derive(Args, Clone, Debug)]
pub struct SeqArgs {
    /// Sequence tasks: features of the recurrent state, per direction (64; char_lstm: 256).
    #[arg(long, value_name = "H")]
    pub hidden_size: Option<usize>,
    /// Sequence tasks: stacked recurrent layers (1; char_lstm: 2).
    #[arg(long, value_name = "N")]
    pub num_layers: Option<usize>,
    /// ucr:* with lstm/gru/rnn: also read each series backwards.
    #[arg(long)]
    pub bidirectional: bool,
    /// ucr:* with lstm/gru/rnn: what the head sees, the final state (last) or the mean of the
    /// outputs over the series' steps (mean). Default: last for series of at most 64 steps,
    /// mean for longer ones (whose final state has forgotten their start).
    #[arg(long, value_name = "last|mean")]
    pub pooling: Option<String>,
    /// ucr:*: passes over the training set per epoch (default: enough for about 1,000 series
    /// per epoch).
    #[arg(long, value_name = "N")]
    pub passes: Option<usize>,
    /// reviews: tokens kept of each review (the median review has 52 tokens, 80% have at most
    /// 100; a batch runs as many steps as its longest review).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_len: usize,
    /// reviews: word ids, <pad> and <unk> included (the most frequent words of the train split).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub vocab_size: usize,
    /// reviews and char_lstm: features of each word (character) vector (64).
    #[arg(long, value_name = "N")]
    pub embed: Option<usize>,
}

/// The longest series (padded length) whose recurrent classifier pools the last state by
/// default; longer ones average the outputs over their steps.
const LAST_STATE_MAX_LEN: usize = 64;

/// The metadata key of a sequence model's description in its weights file.
const TASK_KEY: &str = "deepnet.sequence_task";
/// The metadata key of the reviews vocabulary (one word per line, in id order).
const VOCAB_KEY: &str = "deepnet.vocab";

/// Whether `--dataset` names a sequence task (`ucr:...`, `reviews`, `reviews:DIR`).
pub fn is_sequence_dataset(name: &str) -> bool {
    name.starts_with("ucr:") || name == "reviews" || name.starts_with("reviews:")
}

/// Where a sequence dataset lives.
#[derive(Clone, Debug)]
enum Source {
    /// `<dir>/<name>/<name>_TRAIN.ts` (or `.tsv`) and `_TEST`
    Ucr { dir: PathBuf, name: String },
    /// `<dir>/train.csv` and `<dir>/test.csv`
    Reviews { dir: PathBuf },
}

/// The first of `candidates` that is a folder, or an error listing them.
fn first_dir(what: &str, candidates: &[PathBuf]) -> CliResult<PathBuf> {
    candidates
        .iter()
        .find(|p| p.is_dir())
        .cloned()
        .ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!(
                "--dataset {what}: not found; looked in {}",
                tried.join(", ")
            )
        })
}

/// `shared/data/<rel>` next to the working directory or next to the repository.
fn shared(rel: &str) -> Vec<PathBuf> {
    let rel = Path::new("../shared/data").join(rel);
    vec![rel.clone(), repo_root().join(rel)]
}

fn parse_source(spec: &str) -> CliResult<Source> {
    if let Some(rest) = spec.strip_prefix("ucr:") {
        let p = Path::new(rest);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("--dataset {spec}: expected ucr:NAME or ucr:PATH/NAME"))?;
        let dir = match p.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => d.to_path_buf(),
            None => {
                let candidates: Vec<PathBuf> = shared("timeseries-ucr-uea")
                    .into_iter()
                    .map(|d| d.join(&name))
                    .collect();
                let found = first_dir(spec, &candidates)?;
                found.parent().map(Path::to_path_buf).unwrap_or_default()
            }
        };
        if !dir.join(&name).is_dir() {
            return Err(format!(
                "--dataset {spec}: {} is not a folder",
                dir.join(&name).display()
            ));
        }
        return Ok(Source::Ucr { dir, name });
    }
    let dir = match spec.strip_prefix("reviews:") {
        Some(d) => first_dir(spec, &[PathBuf::from(d)])?,
        None => first_dir(spec, &shared("fine-foods-reviews"))?,
    };
    Ok(Source::Reviews { dir })
}

/// Whether the UCR problem has the archive's `.ts` files (else the UCR-2018 `.tsv` ones).
fn has_ts(dir: &Path, name: &str) -> bool {
    dir.join(name).join(format!("{name}_TRAIN.ts")).is_file()
}

/// The series options of every UCR run: TRAIN statistics, NaN padding, missing values 0 (the
/// TRAIN mean).
fn ucr_options() -> UcrOptions {
    UcrOptions {
        znormalize: true,
        fill_missing: 0.0,
        pad: f32::NAN,
    }
}

/// A task's two splits, with what the weights file must record about them.
struct Loaded {
    train: PaddedSequences,
    test: PaddedSequences,
    /// features per step (`F` of a series, 1 for token ids)
    features: usize,
    classes: usize,
    /// the vocabulary of the reviews
    vocab: Option<Arc<WordVocab>>,
    /// `deepnet.sequence_task` without the model
    record: Value,
}

fn load(source: &Source, spec: &str, a: &TrainArgs) -> CliResult<Loaded> {
    let ctx = |e: deepnet::data::DataError| format!("--dataset {spec}: {e}");
    let mut l = match source {
        Source::Ucr { dir, name } => {
            let opts = ucr_options();
            let ts = has_ts(dir, name);
            let (train, test): (TimeSeriesDataset, TimeSeriesDataset) = if ts {
                load_ucr_with(dir, name, &opts).map_err(ctx)?
            } else {
                load_ucr_tsv(dir, name, &opts).map_err(ctx)?
            };
            let z = train.znorm().ok_or("the series were not normalized")?;
            Loaded {
                features: train.dims(),
                classes: train.class_names().len(),
                record: json!({
                    "task": "ucr", "dataset": spec, "problem": train.problem_name(),
                    "format": if ts { "ts" } else { "tsv" },
                    "classes": train.class_names(), "znorm": {"mean": z.mean, "std": z.std},
                }),
                train: train.sequences().clone(),
                test: test.sequences().clone(),
                vocab: None,
            }
        }
        Source::Reviews { dir } => {
            let cfg = ReviewsConfig {
                max_len: a.seq.max_len,
                max_size: a.seq.vocab_size,
                ..ReviewsConfig::default()
            };
            let (train, test) = load_reviews(dir, &cfg).map_err(ctx)?;
            Loaded {
                features: 1,
                classes: ReviewsDataset::CLASSES.len(),
                record: json!({
                    "task": "reviews", "dataset": spec, "max_len": cfg.max_len,
                    "classes": ReviewsDataset::CLASSES,
                }),
                vocab: Some(train.vocab().clone()),
                train: train.sequences().clone(),
                test: test.sequences().clone(),
            }
        }
    };
    let first = |d: &PaddedSequences, n: usize| d.subset(&(0..n.min(d.len())).collect::<Vec<_>>());
    if let Some(n) = a.limit {
        if n == 0 {
            return Err("--limit: expected at least 1".into());
        }
        l.train = first(&l.train, n).map_err(msg)?;
        l.test = first(&l.test, n).map_err(msg)?;
    }
    if let Some(n) = a.train_samples {
        if n == 0 || n > l.train.len() {
            return Err(format!(
                "--train-samples: expected 1 to {} (the training set), got {n}",
                l.train.len()
            ));
        }
        l.train = first(&l.train, n).map_err(msg)?;
    }
    Ok(l)
}

/// A sequence model's description: what the weights file records to rebuild it.
#[derive(Clone, Debug, PartialEq)]
enum SeqModel {
    Series(SeriesRnnConfig),
    Fcn(FcnConfig),
    Review(ReviewClassifierConfig),
}

impl SeqModel {
    /// The model of `--model` (and the sequence flags) for `data`.
    fn from_args(a: &TrainArgs, source: &Source, data: &Loaded) -> CliResult<Self> {
        let (model, s) = (a.model.model.as_str(), &a.seq);
        if a.model.arch.is_some() {
            return Err("--arch: sequence tasks take --model".into());
        }
        let layers = |n: Option<usize>| {
            let n = n.unwrap_or(1);
            if n == 0 {
                Err("--num-layers: expected at least 1".to_string())
            } else {
                Ok(n)
            }
        };
        let hidden = s.hidden_size.unwrap_or(64);
        if hidden == 0 {
            return Err("--hidden-size: expected at least 1".into());
        }
        match (source, model) {
            (Source::Ucr { .. }, "lstm" | "gru" | "rnn") => Ok(SeqModel::Series(SeriesRnnConfig {
                hidden_size: hidden,
                num_layers: layers(s.num_layers)?,
                bidirectional: s.bidirectional,
                pooling: match &s.pooling {
                    Some(p) => p.parse().map_err(|e| format!("--pooling: {e}"))?,
                    None if data.train.max_len() <= LAST_STATE_MAX_LEN => Pooling::Last,
                    None => Pooling::Mean,
                },
                ..SeriesRnnConfig::new(model.parse().map_err(msg)?, data.features, data.classes)
            })),
            (Source::Ucr { .. }, "fcn") => {
                Ok(SeqModel::Fcn(FcnConfig::new(data.features, data.classes)))
            }
            (Source::Reviews { .. }, "bigru") => {
                let vocab = data.vocab.as_ref().map_or(0, |v| v.len());
                let embed = a.seq.embed.unwrap_or(64);
                if embed == 0 {
                    return Err("--embed: expected at least 1".into());
                }
                Ok(SeqModel::Review(ReviewClassifierConfig {
                    embed,
                    hidden,
                    num_layers: layers(s.num_layers)?,
                    classes: data.classes,
                    ..ReviewClassifierConfig::new(vocab)
                }))
            }
            (Source::Ucr { .. }, m) => Err(format!(
                "--model {m}: a UCR/UEA problem trains lstm, gru, rnn or fcn"
            )),
            (Source::Reviews { .. }, m) => Err(format!("--model {m}: the reviews train bigru")),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            SeqModel::Series(c) => c.kind.name(),
            SeqModel::Fcn(_) => "fcn",
            SeqModel::Review(_) => "bigru",
        }
    }

    fn to_json(&self) -> Value {
        match self {
            SeqModel::Series(c) => json!({
                "name": c.kind.name(), "input_size": c.input_size, "hidden_size": c.hidden_size,
                "num_layers": c.num_layers, "bidirectional": c.bidirectional,
                "dropout": c.dropout, "pooling": c.pooling.name(), "classes": c.classes,
            }),
            SeqModel::Fcn(c) => json!({
                "name": "fcn", "input_size": c.input_size, "channels": c.channels,
                "kernels": c.kernels, "classes": c.classes,
            }),
            SeqModel::Review(c) => json!({
                "name": "bigru", "vocab": c.vocab, "embed": c.embed, "hidden": c.hidden,
                "num_layers": c.num_layers, "dropout": c.dropout, "classes": c.classes,
            }),
        }
    }

    /// The description back from `v` (the `model` of `deepnet.sequence_task`); errors name
    /// `source` and the field.
    fn from_json(v: &Value, source: &Path) -> CliResult<Self> {
        let bad = |k: &str, what: &str| {
            format!("{}: {TASK_KEY}: model.{k} must be {what}", source.display())
        };
        let size = |k: &str| -> CliResult<usize> {
            v.get(k)
                .and_then(Value::as_u64)
                .map(|u| u as usize)
                .ok_or_else(|| bad(k, "a size"))
        };
        let float = |k: &str| {
            v.get(k)
                .and_then(Value::as_f64)
                .ok_or_else(|| bad(k, "a number"))
        };
        let three = |k: &str| -> CliResult<[usize; 3]> {
            let a: Option<Vec<usize>> = v
                .get(k)
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|x| x.as_u64().map(|u| u as usize)).collect());
            a.and_then(|a| a.try_into().ok())
                .ok_or_else(|| bad(k, "a list of 3 sizes"))
        };
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        Ok(match name {
            "lstm" | "gru" | "rnn" => SeqModel::Series(SeriesRnnConfig {
                kind: name.parse::<RecurrentKind>().map_err(msg)?,
                input_size: size("input_size")?,
                hidden_size: size("hidden_size")?,
                num_layers: size("num_layers")?,
                bidirectional: v
                    .get("bidirectional")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| bad("bidirectional", "true or false"))?,
                dropout: float("dropout")?,
                pooling: v
                    .get("pooling")
                    .and_then(Value::as_str)
                    .and_then(|p| p.parse::<Pooling>().ok())
                    .ok_or_else(|| bad("pooling", "last or mean"))?,
                classes: size("classes")?,
            }),
            "fcn" => SeqModel::Fcn(FcnConfig {
                input_size: size("input_size")?,
                channels: three("channels")?,
                kernels: three("kernels")?,
                classes: size("classes")?,
            }),
            "bigru" => SeqModel::Review(ReviewClassifierConfig {
                vocab: size("vocab")?,
                embed: size("embed")?,
                hidden: size("hidden")?,
                num_layers: size("num_layers")?,
                dropout: float("dropout")?,
                classes: size("classes")?,
            }),
            _ => return Err(bad("name", "lstm, gru, rnn, fcn or bigru")),
        })
    }

    fn build(&self, store: &ParamStore) -> CliResult<Box<dyn Module>> {
        let pb = store.root();
        let m: TensorResult<Box<dyn Module>> = match self {
            SeqModel::Series(c) => SeriesRnnClassifier::new(c, &pb).map(|m| Box::new(m) as _),
            SeqModel::Fcn(c) => Fcn::new(c, &pb).map(|m| Box::new(m) as _),
            SeqModel::Review(c) => ReviewClassifier::new(c, &pb).map(|m| Box::new(m) as _),
        };
        m.map_err(|e| format!("--model {}: {e}", self.name()))
    }
}

/// The defaults a sequence run takes for the flags not given.
#[derive(Clone, Debug)]
struct Recipe {
    epochs: usize,
    batch_size: usize,
    passes: usize,
    optimizer: OptimizerName,
    lr: f64,
    /// 0 = no clipping
    clip_norm: f64,
}

/// The recipe of `model` on a training set of `n` sequences: Adam with a cosine schedule.
/// UCR: 10 epochs of about 1,000 series each (at least one pass); the recurrent models in
/// batches of a quarter of the set (at most 16) at a rate of 3e-3 with clipped gradients, the
/// FCN in batches of a tenth (at most 16, as Wang et al. and Ismail Fawaz et al. train it) at
/// 1e-3. The reviews: 5 epochs of batches of 32 at 2e-3, clipped.
fn recipe(model: &SeqModel, n: usize) -> Recipe {
    let passes = 1000_usize.div_ceil(n.max(1));
    match model {
        SeqModel::Series(_) => Recipe {
            epochs: 10,
            batch_size: (n / 4).clamp(1, 16),
            passes,
            optimizer: OptimizerName::Adam,
            lr: 3e-3,
            clip_norm: 1.0,
        },
        SeqModel::Fcn(_) => Recipe {
            epochs: 10,
            batch_size: (n / 10).clamp(1, 16),
            passes,
            optimizer: OptimizerName::Adam,
            lr: 1e-3,
            clip_norm: 0.0,
        },
        SeqModel::Review(_) => Recipe {
            epochs: 5,
            batch_size: 32,
            passes: 1,
            optimizer: OptimizerName::Adam,
            lr: 2e-3,
            clip_norm: 1.0,
        },
    }
}

/// A dataset seen `passes` times per epoch: sample `i` is sample `i % len` of the inner set.
struct Passes {
    inner: PaddedSequences,
    passes: usize,
}

impl Dataset for Passes {
    fn len(&self) -> usize {
        self.inner.len() * self.passes
    }
    fn sample_shape(&self) -> Vec<usize> {
        self.inner.sample_shape()
    }
    fn num_classes(&self) -> Option<usize> {
        self.inner.num_classes()
    }
    fn get(&self, i: usize) -> deepnet::data::Result<(Tensor, i64)> {
        self.inner.get(i % self.inner.len().max(1))
    }
    fn get_batch(&self, indices: &[usize]) -> deepnet::data::Result<(Tensor, Tensor)> {
        let n = self.inner.len().max(1);
        let inner: Vec<usize> = indices.iter().map(|&i| i % n).collect();
        self.inner.get_batch(&inner)
    }
}

/// `deepnet train` with a sequence `--dataset`: `a` has passed `train`'s checks of the
/// shared flags; `resume` continues the run in `a.out`; `argv` is this command line's.
pub fn run(
    mut a: TrainArgs,
    resume: Option<Resume>,
    argv: Vec<String>,
    json_out: bool,
) -> CliResult<()> {
    let source = parse_source(&a.dataset)?;
    if !matches!(a.loss, LossName::CrossEntropy) {
        return Err("--loss: sequence tasks train with cross-entropy".into());
    }
    let data = load(&source, &a.dataset, &a)?;
    let spec = SeqModel::from_args(&a, &source, &data)?;
    let r = recipe(&spec, data.train.len());
    // the recipe's numbers where the run's command line gave none
    let epochs = *a.epochs.get_or_insert(r.epochs);
    let batch_size = *a.batch_size.get_or_insert(r.batch_size);
    a.optimizer.get_or_insert(r.optimizer);
    a.lr.get_or_insert(r.lr);
    let clip_norm = a.clip_norm.unwrap_or(r.clip_norm);
    let clip_norm = (clip_norm != 0.0).then_some(clip_norm);
    let passes = match (&source, a.seq.passes) {
        (_, Some(0)) => return Err("--passes: expected at least 1".into()),
        (Source::Reviews { .. }, Some(_)) => {
            return Err("--passes: only for ucr:* (the reviews are 4,000 per epoch)".into())
        }
        (_, p) => p.unwrap_or(r.passes),
    };

    let store = model_store(a.seed);
    let model = spec.build(&store)?;
    let reset = match &a.init_from {
        Some(w) => super::finetune::init_from(&store, w, a.reset_head)?,
        None => None,
    };
    let frozen = super::finetune::freeze(&store, &a.freeze)?;
    let (mut opt, lr) = super::train::optimizer(&a)?;
    let mut sched = super::train::scheduler(a.scheduler(), opt.as_mut(), epochs)?;
    let dataset_name = a.dataset.replace([':', '/'], "-");
    let out = match &resume {
        Some(_) => a.out.clone().ok_or("--resume: no run folder")?,
        None => run_dir(a.out.as_deref(), spec.name(), &dataset_name)?,
    };
    let mut record = data.record.clone();
    record["model"] = spec.to_json();
    let config_json = json!({
        "model": spec.to_json(), "dataset": a.dataset, "task": record, "epochs": epochs,
        "passes_per_epoch": passes, "batch_size": batch_size,
        "optimizer": a.optimizer.map(|o| format!("{o:?}").to_lowercase()), "lr": lr,
        "weight_decay": a.weight_decay, "scheduler": format!("{:?}", a.scheduler()).to_lowercase(),
        "l1": a.l1, "l2": a.l2, "max_norm": a.max_norm, "clip_norm": clip_norm,
        "clip_value": a.clip_value, "seed": a.seed, "threads": deepnet::tensor::num_threads(),
        "train_samples": data.train.len(), "test_samples": data.test.len(),
        "init_from": a.init_from.as_ref().map(|p| p.display().to_string()),
        "reset_head": reset, "freeze": a.freeze, "argv": argv,
    });
    let mut metadata = vec![(TASK_KEY.to_string(), record.to_string())];
    if let Some(v) = &data.vocab {
        metadata.push((VOCAB_KEY.to_string(), v.to_metadata()));
    }
    if !json_out {
        eprintln!(
            "training {} ({} parameters) on {} ({} train x {passes} passes per epoch / {} test) \
             for {} epochs; run folder {}",
            spec.name(),
            store.num_params(),
            a.dataset,
            data.train.len(),
            data.test.len(),
            epochs,
            out.display()
        );
        if a.init_from.is_some() || frozen > 0 {
            eprintln!(
                "{frozen} parameter tensors frozen ({} of {} elements trainable)",
                store.num_trainable(),
                store.num_params()
            );
        }
    }
    let (train_len, test_len) = (data.train.len(), data.test.len());
    let train: Arc<dyn Dataset> = Arc::new(Passes {
        inner: data.train,
        passes,
    });
    let test: Arc<dyn Dataset> = Arc::new(data.test);
    let opt = Optimization {
        optimizer: opt.as_mut(),
        scheduler: sched
            .as_mut()
            .map(|s| s.as_mut() as &mut dyn deepnet::nn::optim::LrScheduler),
    };
    let mut step = ModelStep::new(
        model.as_ref(),
        &store,
        opt,
        classification(LossKind::CrossEntropy),
    )
    .regularization(Regularization {
        l1: a.l1,
        l2: a.l2,
        max_norm: a.max_norm,
        clip_norm,
        clip_value: a.clip_value,
    })
    .monitor_every(a.monitor_every);
    let lc = LoopConfig {
        eval_batch_size: 256,
        seed: a.seed,
        quiet: json_out,
        unit: "sequences".into(),
        config_json,
        metadata,
        stop: Some(super::resume::stop_flag()),
        resume,
        ..LoopConfig::new(epochs, batch_size, out.clone())
    };
    let s = run_loop(&mut step, train, Some(test), &lc).map_err(msg)?;
    super::resume::exit_if_interrupted(s.interrupted, &out);
    let last = s.last().ok_or("no epoch ran")?;
    let get = |l: &deepnet::train::Logs, k: &str| l.get(k).unwrap_or(f64::NAN);
    let (acc, loss) = (get(&last.test, "acc"), get(&last.test, "loss"));
    let per_sec = (train_len * passes * s.epochs.len()) as f64 / s.train_seconds.max(1e-9);
    if json_out {
        println!(
            "{}",
            json!({"command": "train", "model": spec.name(), "dataset": a.dataset,
                   "epochs": epochs, "passes_per_epoch": passes, "test_accuracy": acc,
                   "test_loss": loss, "test_samples": test_len,
                   "train_accuracy": get(&last.train, "acc"),
                   "train_loss": get(&last.train, "loss"), "seconds": s.seconds,
                   "sequences_per_sec": per_sec, "warnings": s.warnings,
                   "out": s.out_dir.display().to_string()})
        );
    } else {
        println!(
            "test accuracy {:.2}% (loss {loss:.4}) after {} epochs in {:.1} s ({per_sec:.0} \
             sequences/s); run folder {}",
            100.0 * acc,
            epochs,
            s.seconds,
            s.out_dir.display()
        );
    }
    Ok(())
}

mod eval;
pub use eval::eval;

#[cfg(test)]
mod tests;
