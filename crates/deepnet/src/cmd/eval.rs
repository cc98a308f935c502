//! `deepnet eval`: loads a weights file written by `train` (its metadata says how to rebuild the
//! model and normalize the inputs) and reports loss and accuracy on a dataset split.

use super::common::{
    check_sample_shape, load_split_for_model, load_trained, msg, resolve_dataset, CliResult,
};
use clap::{Args, ValueEnum};
use deepnet::data::{Dataset, Split};
use deepnet::train::{evaluate, LossKind};
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
    /// mnist, fashion-mnist, or a directory: IDX files, an image folder (DIR/train/<class>/*.png,
    /// DIR/test/<class>/...; images converted to the model's channels and size) or CIFAR-10
    /// binaries; for the weights of a sequence task, the dataset it trained on unless ucr:NAME, ucr:PATH/NAME or reviews[:DIR].
    #[arg(long, default_value = "mnist")]
    pub dataset: String,
    #[arg(long, value_enum, default_value_t = SplitName::Test)]
    pub split: SplitName,
    /// Evaluation batch size.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
}

pub fn run(a: EvalArgs, json_out: bool) -> CliResult<()> {
    if let Some(done) = super::train_seq::eval(&a, json_out) {
        return done;
    }
    if a.batch_size == 0 {
        return Err("--batch-size: expected at least 1".into());
    }
    let trained = load_trained(&a.weights)?;
    let dir = resolve_dataset(&a.dataset)?;
    let split = match a.split {
        SplitName::Train => Split::Train,
        SplitName::Test => Split::Test,
    };
    let data = load_split_for_model(&dir, split, trained.norm.clone(), &trained.spec.input)?;
    check_sample_shape(&a.weights, &trained.spec.input, &dir, &data.sample_shape())?;
    if data.classes() > trained.spec.classes {
        return Err(format!(
            "{}: has {} classes, the model of {} only {}: not the data it was trained for",
            dir.display(),
            data.classes(),
            a.weights.display(),
            trained.spec.classes
        ));
    }
    let n = data.len();
    let data: Arc<dyn Dataset> = Arc::new(data);
    let (loss, acc) = evaluate(
        trained.model.as_ref(),
        &data,
        a.batch_size,
        LossKind::CrossEntropy,
    )
    .map_err(msg)?;
    if json_out {
        println!(
            "{}",
            json!({"command": "eval", "weights": a.weights.display().to_string(),
                   "model": trained.spec.name, "arch": trained.spec.arch,
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
