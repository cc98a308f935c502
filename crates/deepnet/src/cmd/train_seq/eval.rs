//! `deepnet eval` of the weights a sequence run wrote: the model from `deepnet.sequence_task`,
//! the split prepared as in training from the recorded statistics, classes and vocabulary.

use super::{
    has_ts, is_sequence_dataset, parse_source, ucr_options, SeqModel, Source, TASK_KEY, VOCAB_KEY,
};
use crate::cmd::common::{check_finite_tensors, msg, CliResult};
use crate::cmd::eval::{EvalArgs, SplitName};
use deepnet::data::reviews::read_reviews;
use deepnet::data::ucr::{read_ts, read_ucr_tsv, TsFile, ZNorm};
use deepnet::data::{Dataset, PaddedSequences, ReviewsDataset, TimeSeriesDataset, WordVocab};
use deepnet::nn::ParamStore;
use deepnet::tensor::Tensor;
use deepnet::train::{evaluate, load_safetensors_with_metadata, LossKind};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

/// `deepnet eval` of a weights file written by a sequence run: `None` when neither the file
/// nor `--dataset` is a sequence task's (the caller goes on with the image models).
pub fn eval(a: &EvalArgs, json_out: bool) -> Option<CliResult<()>> {
    let read = load_safetensors_with_metadata(&a.weights);
    let task = read.as_ref().ok().and_then(|(_, meta)| {
        meta.iter()
            .find(|(k, _)| k == TASK_KEY)
            .map(|(_, v)| v.clone())
    });
    match (read, task) {
        (Ok((tensors, meta)), Some(task)) => Some(eval_task(a, &tensors, &meta, &task, json_out)),
        (_, None) if is_sequence_dataset(&a.dataset) => Some(Err(format!(
            "{}: not the weights of a sequence task (no {TASK_KEY} metadata): \
             --dataset {} needs a model trained by deepnet train --dataset {}",
            a.weights.display(),
            a.dataset,
            a.dataset
        ))),
        _ => None,
    }
}

fn eval_task(
    a: &EvalArgs,
    tensors: &[(String, Tensor)],
    meta: &[(String, String)],
    task: &str,
    json_out: bool,
) -> CliResult<()> {
    let w = &a.weights;
    if a.batch_size == 0 {
        return Err("--batch-size: expected at least 1".into());
    }
    let rec: Value = serde_json::from_str(task)
        .map_err(|e| format!("{}: {TASK_KEY} is not JSON: {e}", w.display()))?;
    let spec = SeqModel::from_json(rec.get("model").unwrap_or(&Value::Null), w)?;
    check_finite_tensors(tensors, w)?;
    let held: usize = tensors.iter().map(|(_, t)| t.numel()).sum();
    let store = ParamStore::new(0).limit_elements(held);
    let model = spec.build(&store).map_err(|e| {
        format!(
            "{}: {TASK_KEY} does not match the tensors: {e}",
            w.display()
        )
    })?;
    store
        .load_state_dict(tensors, true)
        .map_err(|e| format!("{}: {e}", w.display()))?;
    model.set_training(false);
    // the dataset the run trained on, unless --dataset names another
    let dataset = if is_sequence_dataset(&a.dataset) {
        a.dataset.clone()
    } else {
        let d = rec
            .get("dataset")
            .and_then(Value::as_str)
            .unwrap_or_default();
        d.to_string()
    };
    let split = match a.split {
        SplitName::Train => "TRAIN",
        SplitName::Test => "TEST",
    };
    let data = match parse_source(&dataset)? {
        Source::Ucr { dir, name } => eval_series(w, &rec, &spec, &dir, &name, split)?,
        Source::Reviews { dir } => {
            let words = meta
                .iter()
                .find(|(k, _)| k == VOCAB_KEY)
                .ok_or_else(|| format!("{}: no {VOCAB_KEY} metadata", w.display()))?;
            let vocab = WordVocab::from_metadata(&words.1)
                .map_err(|e| format!("{}: {VOCAB_KEY}: {e}", w.display()))?;
            let max_len = rec
                .get("max_len")
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("{}: {TASK_KEY} lacks max_len", w.display()))?;
            let file = dir.join(format!("{}.csv", split.to_ascii_lowercase()));
            let reviews = read_reviews(&file).map_err(msg)?;
            let ds =
                ReviewsDataset::new(&reviews, Arc::new(vocab), max_len as usize).map_err(msg)?;
            ds.sequences().clone()
        }
    };
    let n = data.len();
    let data: Arc<dyn Dataset> = Arc::new(data);
    let (loss, acc) =
        evaluate(model.as_ref(), &data, a.batch_size, LossKind::CrossEntropy).map_err(msg)?;
    if json_out {
        println!(
            "{}",
            json!({"command": "eval", "weights": w.display().to_string(), "model": spec.name(),
                   "dataset": dataset, "split": split.to_ascii_lowercase(), "samples": n,
                   "accuracy": acc, "loss": loss})
        );
    } else {
        println!(
            "{} on {dataset} {} ({n} sequences): accuracy {:.2}%, cross-entropy {loss:.4}",
            w.display(),
            split.to_ascii_lowercase(),
            100.0 * acc
        );
    }
    Ok(())
}

/// One split of a UCR problem prepared as in training: the recorded z-normalization, the
/// recorded class order, NaN padding.
fn eval_series(
    w: &Path,
    rec: &Value,
    spec: &SeqModel,
    dir: &Path,
    name: &str,
    split: &str,
) -> CliResult<PaddedSequences> {
    let field = |k: &str| {
        rec.get(k)
            .ok_or_else(|| format!("{}: {TASK_KEY} lacks \"{k}\"", w.display()))
    };
    let floats = |v: &Value, k: &str| -> CliResult<Vec<f64>> {
        v.get(k)
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_f64).collect())
            .ok_or_else(|| format!("{}: {TASK_KEY}: znorm.{k} must be numbers", w.display()))
    };
    let classes: Vec<String> = field("classes")?
        .as_array()
        .and_then(|a| a.iter().map(|c| c.as_str().map(str::to_string)).collect())
        .ok_or_else(|| format!("{}: {TASK_KEY}: classes must be names", w.display()))?;
    let z = field("znorm")?;
    let znorm = ZNorm {
        mean: floats(z, "mean")?,
        std: floats(z, "std")?,
    };
    let path = |ext: &str| dir.join(name).join(format!("{name}_{split}.{ext}"));
    let file: TsFile = if has_ts(dir, name) {
        read_ts(path("ts")).map_err(msg)?
    } else {
        read_ucr_tsv(path("tsv"), Some(&classes)).map_err(msg)?
    };
    if file.header.class_labels != classes {
        return Err(format!(
            "{}: classes {} differ from the model's {}",
            file.path.display(),
            file.header.class_labels.join(" "),
            classes.join(" ")
        ));
    }
    let want = match spec {
        SeqModel::Series(c) => c.input_size,
        SeqModel::Fcn(c) => c.input_size,
        SeqModel::Review(_) => return Err(format!("{}: a text model for series", w.display())),
    };
    if file.dims != want {
        return Err(format!(
            "{}: series of {} dimensions, the model of {} takes {want}",
            file.path.display(),
            file.dims,
            w.display()
        ));
    }
    let ds = TimeSeriesDataset::from_file(&file, file.longest(), Some(&znorm), &ucr_options())
        .map_err(msg)?;
    Ok(ds.sequences().clone())
}
