//! `deepnet convert IN OUT`: between PyTorch checkpoints (`.pt`/`.pth`, read with a restricted
//! unpickler that never runs code) and safetensors, by the file names; and `deepnet convert
//! --fully-convolutional IN OUT`, which rewrites a trained classifier's Linear layers as
//! convolutions (see `deepnet_models::fully_conv`) and saves the converted net's tensors,
//! atomically, with metadata saying what it is.

use super::common::{load_trained, msg, CliResult};
use clap::Args;
use deepnet::models::fully_convolutional;
use deepnet::train::{load_safetensors_with_metadata, save_safetensors};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Output: the converted file holds the same keys as IN; each converted \
Linear's weight [out, C*H*W] becomes [out, C, H, W] (the first) or [out, in, 1, 1] (the rest). \
Its metadata \"deepnet.fully_convolutional\" describes the conversion (source model, training \
size, total stride, converted layers); \"deepnet.normalize\" is copied from IN. With --json: \
{\"command\": \"convert\", \"input\", \"output\", \"stride\", \"converted\": [{\"layer\", \
\"linear\", \"conv\"}]}."
)]
pub struct ConvertArgs {
    /// Turn the fully connected layers into convolutions. Without it, the file is converted
    /// between formats by the names: .pt/.pth (PyTorch) to .safetensors or back.
    #[arg(long)]
    pub fully_convolutional: bool,
    /// A model.safetensors written by `deepnet train`, or (format conversion) a PyTorch
    /// checkpoint or a safetensors file.
    pub input: PathBuf,
    /// Where to write the result.
    pub output: PathBuf,
}

/// Whether `p` names a PyTorch checkpoint.
fn is_torch(p: &std::path::Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("pt" | "pth" | "bin" | "ckpt")
    )
}

/// `.pt` -> `.safetensors` or back: the tensors by name, nothing else.
fn convert_format(a: &ConvertArgs, json_out: bool) -> CliResult<()> {
    let tensors = match is_torch(&a.input) {
        true => deepnet::train::load_torch_checkpoint(&a.input).map_err(msg)?,
        false => load_safetensors_with_metadata(&a.input).map_err(msg)?.0,
    };
    match (is_torch(&a.input), is_torch(&a.output)) {
        (true, false) => save_safetensors(&a.output, &tensors, &[]).map_err(msg)?,
        (false, true) => deepnet::train::save_torch_checkpoint(&a.output, &tensors).map_err(msg)?,
        _ => {
            return Err(format!(
                "convert: {} -> {}: one side must be a PyTorch checkpoint (.pt, .pth, .bin, .ckpt) and the other safetensors (or give --fully-convolutional)",
                a.input.display(),
                a.output.display()
            ))
        }
    }
    let elements: usize = tensors.iter().map(|(_, t)| t.numel()).sum();
    if json_out {
        println!(
            "{}",
            json!({"command": "convert", "input": a.input.display().to_string(),
                   "output": a.output.display().to_string(), "tensors": tensors.len(),
                   "elements": elements})
        );
    } else {
        println!(
            "wrote {} ({} tensors, {elements} elements)",
            a.output.display(),
            tensors.len()
        );
    }
    Ok(())
}

pub fn run(a: ConvertArgs, json_out: bool) -> CliResult<()> {
    if !a.fully_convolutional {
        return convert_format(&a, json_out);
    }
    let trained = load_trained(&a.input)?;
    // the raw tensors by key: the model only exposes its layers, the Linear weights are read
    // from here (load_trained has checked that they fit the model)
    let (tensors, meta) = load_safetensors_with_metadata(&a.input).map_err(msg)?;
    let spec = trained.spec;
    let input = spec.input.clone();
    let net = fully_convolutional(trained.model, &tensors, &input)
        .map_err(|e| format!("{}: cannot convert: {e}", a.input.display()))?;
    let layers: Vec<_> = net
        .converted()
        .iter()
        .map(|c| {
            json!({"layer": c.path, "linear": [c.out_features, c.in_features],
                   "conv": c.weight_shape})
        })
        .collect();
    let stride = [net.stride().0, net.stride().1];
    let about = json!({
        "source": a.input.display().to_string(),
        "model": spec.name,
        "input": input,
        "stride": stride,
        "converted": layers,
        "output": "(N, classes, (H - h)/stride + 1, (W - w)/stride + 1) for an N x C x H x W \
                   input and training size h x w",
    });
    // deepnet.model is left out on purpose: it describes the Linear layers this file no longer
    // has, so `eval`/`predict` refuse the file with a clear message instead of a shape error
    let mut metadata = vec![("deepnet.fully_convolutional".to_string(), about.to_string())];
    metadata.extend(meta.into_iter().filter(|(k, _)| k == "deepnet.normalize"));
    save_safetensors(&a.output, &net.state_dict(), &metadata).map_err(msg)?;
    if json_out {
        println!(
            "{}",
            json!({"command": "convert", "input": a.input.display().to_string(),
                   "output": a.output.display().to_string(), "model": spec.name,
                   "stride": stride, "converted": layers})
        );
    } else {
        for c in net.converted() {
            println!(
                "{}: Linear({}, {}) -> Conv2d weight {:?}",
                c.path, c.in_features, c.out_features, c.weight_shape
            );
        }
        println!(
            "wrote {} (fully convolutional {}, total stride {}x{}: an input larger than {}x{} \
             gives a map of outputs)",
            a.output.display(),
            spec.name,
            stride[0],
            stride[1],
            input.get(1).copied().unwrap_or(0),
            input.get(2).copied().unwrap_or(0),
        );
    }
    Ok(())
}
