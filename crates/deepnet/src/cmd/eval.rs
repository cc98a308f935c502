//! `deepnet eval`: loads a weights file written by `train` (its metadata says how to rebuild the
//! model and normalize the inputs) and reports loss and accuracy on a dataset split.

use super::common::{load_split, msg, resolve_dataset, CliResult, ModelSpec};
use clap::{Args, ValueEnum};
use deepnet::data::{Dataset, Split};
use deepnet::nn::ParamStore;
use deepnet::train::{evaluate, load_safetensors_with_metadata, LossKind};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SplitName {
    Train,
    Test,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A model.safetensors written by `deepnet train`.
    #[arg(long)]
    pub weights: PathBuf,
    /// mnist, fashion-mnist, or a directory holding the four IDX files.
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    #[arg(long, value_enum, default_value_t = SplitName::Test)]
    pub split: SplitName,
    /// Evaluation batch size.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
}

pub fn run(a: EvalArgs, json_out: bool) -> CliResult<()> {
    if a.batch_size == 0 {
        return Err("--batch-size: expected at least 1".into());
    }
    let (tensors, meta) = load_safetensors_with_metadata(&a.weights).map_err(msg)?;
    let get = |k: &str| {
        meta.iter()
            .find(|(m, _)| m == k)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                format!(
                    "{}: metadata has no \"{k}\": not a weights file written by deepnet train",
                    a.weights.display()
                )
            })
    };
    let spec = ModelSpec::from_json(&get("deepnet.model")?, &a.weights)?;
    let norm: serde_json::Value = serde_json::from_str(&get("deepnet.normalize")?)
        .map_err(|e| format!("{}: deepnet.normalize: {e}", a.weights.display()))?;
    let stat = |k: &str| {
        norm.get(k)
            .and_then(|v| v.as_f64())
            .map(|v| v as f32)
            .ok_or_else(|| format!("{}: deepnet.normalize lacks \"{k}\"", a.weights.display()))
    };
    let store = ParamStore::new(0);
    let model = spec.build(&store)?;
    store
        .load_state_dict(&tensors, true)
        .map_err(|e| format!("{}: {e}", a.weights.display()))?;
    let dir = resolve_dataset(&a.dataset)?;
    let split = match a.split {
        SplitName::Train => Split::Train,
        SplitName::Test => Split::Test,
    };
    let data = load_split(&dir, split, (stat("mean")?, stat("std")?))?;
    if data.sample_shape() != spec.input {
        return Err(format!(
            "{}: samples of {} have shape {:?}, the model expects {:?}",
            a.weights.display(),
            dir.display(),
            data.sample_shape(),
            spec.input
        ));
    }
    let n = data.len();
    let data: Arc<dyn Dataset> = Arc::new(data);
    let (loss, acc) =
        evaluate(model.as_ref(), &data, a.batch_size, LossKind::CrossEntropy).map_err(msg)?;
    if json_out {
        println!(
            "{}",
            json!({"command": "eval", "weights": a.weights.display().to_string(),
                   "dataset": dir.display().to_string(), "split": format!("{:?}", a.split).to_lowercase(),
                   "samples": n, "accuracy": acc, "loss": loss})
        );
    } else {
        println!(
            "{} on {} ({n} samples): accuracy {:.2}%, cross-entropy {:.4}",
            a.weights.display(),
            dir.display(),
            100.0 * acc,
            loss
        );
    }
    Ok(())
}
