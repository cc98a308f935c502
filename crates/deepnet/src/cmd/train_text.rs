//! `deepnet train --model char_lstm --dataset shakespeare`: a character-level language model
//! ([`CharLstm`]) trained on windows of a UTF-8 text, the last 10% of its characters held out
//! for validation (see `deepnet_data::text`). The loss everywhere (progress line,
//! `metrics.csv`, `--json`) is the cross-entropy of the next character in nats per character,
//! with `bpc` (bits per character, `loss / ln 2`) beside it; the `test` columns are the
//! held-out validation part.
//!
//! The weights file carries what `sample_text` needs to rebuild the model: `deepnet.model`
//! (the sizes, as JSON, `"name": "char_lstm"`) and `deepnet.vocab` (the characters in id order).
//! The run survives Ctrl-C and continues with `--resume` like every other run.

use super::common::{msg, repo_root, run_dir, CliResult};
use super::train::{check_flags, optimizer, scheduler, LossName, OptimizerName, TrainArgs};
use clap::Args;
use deepnet::data::{CharLmConfig, CharLmDataset, CharVocab, Dataset};
use deepnet::models::{CharLstm, CharLstmConfig};
use deepnet::nn::optim::LrScheduler;
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::Tensor;
use deepnet::train::{run_loop, Logs, LoopConfig, ModelStep, Optimization, Regularization, Resume};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The registry name of the character-level LSTM, in `--model` and in `deepnet.model`.
pub const CHAR_LSTM: &str = "char_lstm";

/// The metadata key of the vocabulary (the characters in id order).
pub const VOCAB_KEY: &str = "deepnet.vocab";

/// The default learning rate of Adam for char_lstm (Karpathy's char-rnn recipe).
const DEFAULT_LR: f64 = 2e-3;

/// The default gradient-norm clip for char_lstm.
const DEFAULT_CLIP_NORM: f64 = 5.0;

/// The default passes over the text: one pass over Shakespeare's 44k windows takes about 10-20
/// minutes on two cores.
const DEFAULT_EPOCHS: usize = 1;

/// The default windows per batch.
const DEFAULT_BATCH_SIZE: usize = 64;

/// The flags of the character-level language model (`--model char_lstm`); other models ignore
/// them. Its sizes are the sequence tasks' `--embed` (64), `--hidden-size` (256) and
/// `--num-layers` (2); `--dropout` (between the LSTM layers), `--epochs`, `--batch-size`,
/// `--lr`, the optimizer, schedule and regularization flags are the shared ones.
#[derive(Args, Clone, Debug)]
pub struct TextArgs {
    /// char_lstm: characters per training window, the steps backpropagation runs through.
    #[arg(long, default_value_t = CharLmConfig::default().seq_len)]
    pub seq_len: usize,
    /// char_lstm: the fraction of the text, at its end, held out for validation.
    #[arg(long, default_value_t = CharLmConfig::default().val_fraction)]
    pub val_fraction: f64,
}

/// The text files of the named datasets: `(name, file)` under `../shared/data/<name>/`.
const TEXTS: &[(&str, &str)] = &[
    ("shakespeare", "shakespeare.txt"),
    ("jane-austen", "jane_austen.txt"),
    ("moby-dick", "moby_dick.txt"),
];

/// Resolves `--dataset` for a text model: `shakespeare`, `jane-austen`, `moby-dick` (found in
/// `data/<name>/` or `../shared/data/<name>/`, from here or from the repository), or the path
/// of a UTF-8 text file.
pub fn resolve_text(name: &str) -> CliResult<PathBuf> {
    let Some(&(_, file)) = TEXTS.iter().find(|(n, _)| *n == name) else {
        let p = PathBuf::from(name);
        if p.is_file() {
            return Ok(p);
        }
        let names: Vec<&str> = TEXTS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "--dataset: \"{name}\" is neither {} nor a text file",
            names.join(", ")
        ));
    };
    let candidates = [
        PathBuf::from(format!("data/{name}/{file}")),
        PathBuf::from(format!("../shared/data/{name}/{file}")),
        repo_root().join(format!("../shared/data/{name}/{file}")),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "--dataset {name}: not found; looked for {}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// The model settings stored as `deepnet.model`.
fn model_json(c: &CharLstmConfig, seq_len: usize) -> Value {
    json!({"name": CHAR_LSTM, "vocab_size": c.vocab_size, "embedding_dim": c.embedding_dim,
           "hidden_size": c.hidden_size, "num_layers": c.num_layers, "dropout": c.dropout,
           "seq_len": seq_len})
}

/// The model configuration back from `deepnet.model`; `source` names the file in errors.
pub fn config_from_json(text: &str, source: &Path) -> CliResult<CharLstmConfig> {
    let bad = |what: String| format!("{}: metadata deepnet.model {what}", source.display());
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("is not JSON: {e}")))?;
    let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
    if name != CHAR_LSTM {
        return Err(bad(format!(
            "is a \"{name}\", not a {CHAR_LSTM} (a character-level language model)"
        )));
    }
    let size = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .map(|u| u as usize)
            .ok_or_else(|| bad(format!("lacks the size \"{k}\"")))
    };
    Ok(CharLstmConfig {
        vocab_size: size("vocab_size")?,
        embedding_dim: size("embedding_dim")?,
        hidden_size: size("hidden_size")?,
        num_layers: size("num_layers")?,
        dropout: v.get("dropout").and_then(Value::as_f64).unwrap_or(0.0),
    })
}

/// The weights-file metadata of a char_lstm: the model and the vocabulary.
pub fn metadata(c: &CharLstmConfig, seq_len: usize, vocab: &CharVocab) -> Vec<(String, String)> {
    vec![
        ("deepnet.model".into(), model_json(c, seq_len).to_string()),
        (VOCAB_KEY.into(), vocab.to_metadata()),
    ]
}

/// The first `n` windows of `d` (all of them when it has fewer).
fn first_windows(d: CharLmDataset, n: usize) -> CliResult<CharLmDataset> {
    if n >= d.len() {
        return Ok(d);
    }
    let ids = d.ids()[..(n - 1) * d.stride() + d.seq_len() + 1].to_vec();
    CharLmDataset::from_ids(ids, d.vocab().clone(), d.seq_len(), d.stride()).map_err(msg)
}

/// Trains a char_lstm: `train::run` hands over its arguments (already those of the run being
/// resumed, with its checkpoint in `resume`) and the command line `argv` for `config.json`.
pub fn run(
    mut a: TrainArgs,
    resume: Option<Resume>,
    argv: Vec<String>,
    json_out: bool,
) -> CliResult<()> {
    // the recipe's defaults; any flag given wins (and is what --resume reads back)
    let opt_name = *a.optimizer.get_or_insert(OptimizerName::Adam);
    if matches!(opt_name, OptimizerName::Adam | OptimizerName::Adamw) {
        a.lr.get_or_insert(DEFAULT_LR);
    }
    a.clip_norm.get_or_insert(DEFAULT_CLIP_NORM);
    let epochs = *a.epochs.get_or_insert(DEFAULT_EPOCHS);
    let batch_size = *a.batch_size.get_or_insert(DEFAULT_BATCH_SIZE);
    let mcfg_default = CharLstmConfig::new(1);
    let embedding_dim = a.seq.embed.unwrap_or(mcfg_default.embedding_dim);
    let hidden_size = a.seq.hidden_size.unwrap_or(mcfg_default.hidden_size);
    let num_layers = a.seq.num_layers.unwrap_or(mcfg_default.num_layers);
    check_flags(&a, epochs, batch_size)?;
    let unsupported = [
        ("--init-from", a.init_from.is_some()),
        ("--freeze", !a.freeze.is_empty()),
        ("--num-classes", a.num_classes.is_some()),
        ("--loss", !matches!(a.loss, LossName::CrossEntropy)),
        ("--code", a.code.is_some()),
        ("--bidirectional", a.seq.bidirectional),
    ];
    if let Some((flag, _)) = unsupported.iter().find(|(_, given)| *given) {
        return Err(format!(
            "{flag}: not supported by {CHAR_LSTM} (its loss is the cross-entropy of the next \
             character over its vocabulary)"
        ));
    }
    let t = &a.text;
    if t.seq_len == 0 {
        return Err("--seq-len: expected at least 1".into());
    }
    if !(t.val_fraction > 0.0 && t.val_fraction < 1.0) {
        return Err(format!(
            "--val-fraction: expected a number in (0, 1), got {}",
            t.val_fraction
        ));
    }
    let path = resolve_text(&a.dataset)?;
    let cfg = CharLmConfig {
        seq_len: t.seq_len,
        val_fraction: t.val_fraction,
        ..CharLmConfig::default()
    };
    let (mut train, mut val) = CharLmDataset::load(&path, &cfg).map_err(msg)?;
    if let Some(n) = a.limit {
        train = first_windows(train, n)?;
        val = first_windows(val, n)?;
    }
    if let Some(n) = a.train_samples {
        if n == 0 || n > train.len() {
            return Err(format!(
                "--train-samples: expected 1 to {} (the training windows), got {n}",
                train.len()
            ));
        }
        train = first_windows(train, n)?;
    }
    if val.is_empty() {
        return Err(format!(
            "--dataset {}: the validation part ({} characters) is shorter than a window of \
             --seq-len {} + 1",
            path.display(),
            val.ids().len(),
            t.seq_len
        ));
    }
    let vocab = train.vocab().clone();
    let mcfg = CharLstmConfig {
        vocab_size: vocab.len(),
        embedding_dim,
        hidden_size,
        num_layers,
        dropout: a.model.dropout,
    };
    let store = ParamStore::new(a.seed);
    let model = CharLstm::new(&mcfg, &store.root()).map_err(|e| format!("--model: {e}"))?;
    let (mut opt, lr) = optimizer(&a)?;
    let mut sched = scheduler(a.scheduler(), opt.as_mut(), epochs)?;
    let dataset_name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let out = match &resume {
        Some(_) => a.out.clone().ok_or("--resume: no run folder")?,
        None => run_dir(a.out.as_deref(), CHAR_LSTM, &dataset_name)?,
    };
    let config_json = json!({
        "model": model_json(&mcfg, t.seq_len), "dataset": path.display().to_string(),
        "vocab": vocab.to_metadata(), "epochs": epochs, "batch_size": batch_size,
        "optimizer": format!("{:?}", opt_name).to_lowercase(), "lr": lr,
        "momentum": a.momentum, "weight_decay": a.weight_decay,
        "scheduler": format!("{:?}", a.scheduler()).to_lowercase(),
        "loss": "cross-entropy of the next character, nats per character",
        "l1": a.l1, "l2": a.l2, "max_norm": a.max_norm, "clip_norm": a.clip_norm,
        "clip_value": a.clip_value, "seed": a.seed, "threads": deepnet::tensor::num_threads(),
        "val_fraction": t.val_fraction, "train_windows": train.len(), "val_windows": val.len(),
        "argv": argv,
    });
    let chars_per_window = t.seq_len as f64;
    if !json_out {
        eprintln!(
            "training {CHAR_LSTM} ({} parameters; embedding {}, LSTM {}x{}, {} characters) on \
             {} ({} train / {} validation windows of {} characters) for {} epochs; run folder {}",
            store.num_params(),
            mcfg.embedding_dim,
            mcfg.num_layers,
            mcfg.hidden_size,
            vocab.len(),
            path.display(),
            train.len(),
            val.len(),
            t.seq_len,
            epochs,
            out.display()
        );
        eprintln!(
            "loss: cross-entropy in nats per character (bpc = loss / ln 2); \"test\" is the \
             held-out last {}% of the text",
            100.0 * t.val_fraction
        );
    }
    let objective = |_: &dyn Module, x: &Tensor, _: &Tensor| {
        let loss = model.loss(x)?;
        let bpc = loss.item()? / std::f64::consts::LN_2;
        Ok((loss, Logs::new().with("bpc", bpc, x.dims()[0] as f64)))
    };
    let opt = Optimization {
        optimizer: opt.as_mut(),
        scheduler: sched.as_mut().map(|s| s.as_mut() as &mut dyn LrScheduler),
    };
    let mut step = ModelStep::new(&model, &store, opt, Box::new(objective))
        .regularization(Regularization {
            l1: a.l1,
            l2: a.l2,
            max_norm: a.max_norm,
            clip_norm: a.clip_norm.filter(|&v| v != 0.0),
            clip_value: a.clip_value,
        })
        .monitor_every(a.monitor_every);
    let lc = LoopConfig {
        epochs,
        batch_size,
        // forward only, no graph: large batches are cheap
        eval_batch_size: 256,
        seed: a.seed,
        out_dir: out.clone(),
        quiet: json_out,
        unit: "sequences".into(),
        config_json,
        metadata: metadata(&mcfg, t.seq_len, &vocab),
        stop: Some(super::resume::stop_flag()),
        resume,
        tensorboard: a.tensorboard,
        augment: deepnet::data::Augment::NONE,
    };
    let (train, val): (Arc<dyn Dataset>, Arc<dyn Dataset>) = (Arc::new(train), Arc::new(val));
    let s = run_loop(&mut step, train, Some(val), &lc).map_err(msg)?;
    super::resume::exit_if_interrupted(s.interrupted, &out);
    let last = s.last().ok_or("no epoch ran")?;
    let get = |l: &Logs| l.get("loss").unwrap_or(f64::NAN);
    let (val_loss, train_loss) = (get(&last.test), get(&last.train));
    let seqs = s.epochs.iter().map(|e| e.samples_per_sec).sum::<f64>() / s.epochs.len() as f64;
    let ln2 = std::f64::consts::LN_2;
    if json_out {
        println!(
            "{}",
            json!({"command": "train", "model": CHAR_LSTM, "dataset": dataset_name,
                   "epochs": epochs, "val_loss_nats_per_char": val_loss,
                   "val_bpc": val_loss / ln2, "test_loss": val_loss,
                   "train_loss_nats_per_char": train_loss, "train_loss": train_loss,
                   "parameters": store.num_params(), "seconds": s.seconds,
                   "train_seconds": s.train_seconds, "sequences_per_sec": seqs,
                   "chars_per_sec": seqs * chars_per_window, "warnings": s.warnings,
                   "out": s.out_dir.display().to_string()})
        );
    } else {
        println!(
            "validation loss {val_loss:.4} nats/char ({:.4} bits/char) after {} epochs in {:.1} s \
             ({:.0} characters/s); run folder {}",
            val_loss / ln2,
            epochs,
            s.seconds,
            seqs * chars_per_window,
            s.out_dir.display()
        );
    }
    Ok(())
}
