//! `deepnet summary`: a model's layers with their output shapes and parameter counts.

use super::common::{model_store, parse_shape, CliResult, ModelArgs, ModelSpec};
use clap::Args;
use deepnet::models::{AutoencoderConfig, AUTOENCODER_MODELS};
use serde_json::json;

#[derive(Args, Debug)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Shape of one input sample, e.g. 1x28x28.
    #[arg(long, default_value = "1x28x28")]
    pub input: String,
    /// Number of classes (default: 1000 for the ImageNet models, 10 for mlp, lenet5, small_cnn,
    /// lstm, gru, rnn, the last fc's size for --arch).
    #[arg(long)]
    pub classes: Option<usize>,
}

pub fn run(a: SummaryArgs, json_out: bool) -> CliResult<()> {
    let input = parse_shape(&a.input)?;
    // an --arch spec says its class count in its last fc; --classes, when given, must agree
    let arch_classes = match &a.model.arch {
        Some(text) => deepnet::models::ArchSpec::parse(text)
            .map_err(|e| format!("--arch: {e}"))?
            .num_outputs(),
        None => None,
    };
    let classes = a
        .classes
        .or(arch_classes)
        .unwrap_or(match a.model.model.as_str() {
            "mlp" | "lenet5" | "small_cnn" | "lstm" | "gru" | "rnn" => 10,
            _ => 1000,
        });
    let name = a.model.model.as_str();
    let spec = if AUTOENCODER_MODELS.contains(&name) && a.model.arch.is_none() {
        // an autoencoder as `train` builds it by default: the preset with a 30-d code, then
        // --hidden and --activation
        let d = input.iter().product();
        let mut cfg = AutoencoderConfig::preset(name, d, 30).map_err(|e| e.to_string())?;
        if let Some(act) = &a.model.activation {
            cfg.activation = act.parse().map_err(|e| format!("--activation: {e}"))?;
        }
        if let Some(h) = &a.model.hidden {
            cfg.hidden = h.clone();
        }
        cfg.validate().map_err(|e| e.to_string())?;
        ModelSpec::reconstruction(name, input.clone(), Some(&cfg), cfg.code)
    } else if name == "pca" {
        return Err(
            "--model pca: a linear projection fitted in closed form, no layers to \
                    summarize (deepnet train --model pca reports its components)"
                .into(),
        );
    } else {
        ModelSpec::from_args(&a.model, input.clone(), classes)?
    };
    let store = model_store(0);
    let model = spec.build(&store)?;
    // shapes layer by layer without running the big convolutions; errors name the layer and
    // the arithmetic, windows that do not tile their input are warnings
    let (warnings, layers) =
        deepnet::models::shape_check::check_input_traced(model.as_ref(), &input)
            .map_err(|e| e.to_string())?;
    let params_of = |path: &str| -> usize {
        store
            .all_params()
            .iter()
            .filter(|(k, _)| k.strip_prefix(path).is_some_and(|r| r.starts_with('.')))
            .map(|(_, t)| t.numel())
            .sum()
    };
    let total = store.num_params();
    if json_out {
        let rows: Vec<_> = layers
            .iter()
            .map(|l| json!({"path": l.path, "layer": l.describe, "output_shape": &l.output_shape[1..], "params": params_of(&l.path)}))
            .collect();
        println!(
            "{}",
            json!({"command": "summary", "model": spec.name, "arch": spec.arch, "input": input, "layers": rows, "warnings": warnings,
                   "total_params": total, "trainable_params": store.num_trainable()})
        );
        return Ok(());
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if let Some(arch) = &spec.arch {
        println!("arch {arch} on input {}", a.input);
    }
    // columns as wide as their longest entry, so long reprs (pools, convs) keep the table aligned
    let pw = layers
        .iter()
        .map(|l| l.path.len())
        .max()
        .unwrap_or(0)
        .max(12);
    let lw = layers
        .iter()
        .map(|l| l.describe.len())
        .max()
        .unwrap_or(0)
        .max(5);
    println!(
        "{:<pw$} {:<lw$} {:>16} {:>12}",
        "path", "layer", "output", "params"
    );
    for l in &layers {
        let out = l.output_shape[1..]
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        println!(
            "{:<pw$} {:<lw$} {:>16} {:>12}",
            l.path,
            l.describe,
            out,
            params_of(&l.path)
        );
    }
    println!(
        "total parameters: {total} (trainable {})",
        store.num_trainable()
    );
    Ok(())
}
