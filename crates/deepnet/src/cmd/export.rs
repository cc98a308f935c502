//! `deepnet export --onnx OUT`: a trained model (its weights file names the model; the graph
//! takes pixels in [0, 1] as `deepnet predict` does and applies the training normalization
//! itself), or a zoo model by name with optional weights (e.g. a torchvision `state_dict` saved as safetensors),
//! as an ONNX graph of its evaluation mode (see `deepnet_nn::onnx`), written atomically. With
//! `--test-data DIR`, a seeded example input and deepnet's output for it are written as ONNX
//! `TensorProto` files (`input_0.pb`, `output_0.pb`, ONNX's own test-data layout), so that any
//! ONNX runtime can be checked against deepnet (`tools/onnx/check_onnx.py` does it with
//! onnxruntime).

use super::common::{
    check_finite_tensors, load_trained, model_store, msg, parse_shape, CliResult, Normalization,
};
use super::common::{ModelArgs, ModelSpec};
use clap::Args;
use deepnet::nn::onnx::{export_onnx, tensor_file, OnnxGraph, OnnxValue, OPSET};
use deepnet::nn::Module;
use deepnet::tensor::{DType, Generator, Tensor};
use deepnet::train::{load_safetensors_with_metadata, write_atomic};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  deepnet export --weights runs/lenet5-mnist-.../model.safetensors --onnx lenet5.onnx\n  \
deepnet export --model resnet18 --input 3x224x224 --weights resnet18.safetensors --onnx resnet18.onnx\n\n\
Exported: Linear, Conv2d, BatchNorm (running statistics), ReLU/LeakyReLU/Sigmoid/Tanh, Softmax, \
max/average/adaptive pooling, Flatten, Dropout (as the identity), LocalResponseNorm, Sequential, and \
the zoo's mlp, lenet5, small_cnn, alexnet, zfnet, vgg*, resnet* and --arch nets. Recurrent layers \
and the rest are refused by name. The graph's input is \"input\" (N, *sample) with N free, its \
output \"output\"; the opset is 17."
)]
pub struct ExportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Weights: a model.safetensors written by `deepnet train` (its model is rebuilt from its
    /// metadata; leave --model out), or, with --model, a state_dict in safetensors (PyTorch keys)
    /// for that zoo model. Without it, --model exports a freshly initialized net.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Where to write the ONNX model.
    #[arg(long, value_name = "OUT.onnx")]
    pub onnx: PathBuf,
    /// With --model: shape of one input sample (default 1x28x28).
    #[arg(long)]
    pub input: Option<String>,
    /// With --model: number of classes (default 10 for the MNIST-sized nets, 1000 otherwise).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Also write a seeded example input and deepnet's output for it into DIR as ONNX
    /// TensorProto files (input_0.pb, output_0.pb).
    #[arg(long, value_name = "DIR")]
    pub test_data: Option<PathBuf>,
    /// Batch size of the --test-data example.
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
}

pub fn run(a: ExportArgs, json_out: bool) -> CliResult<()> {
    // a weights file written by `deepnet train` names its model; a bare state_dict needs --model
    let trained = match &a.weights {
        Some(w) => {
            let (_, meta) = load_safetensors_with_metadata(w).map_err(msg)?;
            meta.iter().any(|(k, _)| k == "deepnet.model").then_some(w)
        }
        None => None,
    };
    let (model, input, name): (Box<dyn Module>, Vec<usize>, String) = match trained {
        Some(w) => {
            if !is_default_model(&a.model) || a.input.is_some() || a.classes.is_some() {
                return Err(format!(
                    "--model/--arch/--input/--classes: {} was written by deepnet train and names \
                     its model and sizes itself; leave them out",
                    w.display()
                ));
            }
            let t = load_trained(w)?;
            // the graph takes what `deepnet predict` takes: pixels in [0, 1], normalized inside
            let model: Box<dyn Module> = if t.norm.is_identity() {
                t.model
            } else {
                Box::new(Normalized {
                    inner: t.model,
                    norm: t.norm,
                })
            };
            (model, t.spec.input.clone(), t.spec.name.clone())
        }
        None => zoo_model(&a)?,
    };
    if a.batch == 0 || a.batch > 1024 {
        return Err(format!("--batch: expected 1 to 1024, got {}", a.batch));
    }
    model.set_training(false);
    let mut dims = vec![a.batch];
    dims.extend(&input);
    // a seeded standard-normal example (the same every run)
    let example = Tensor::randn(dims, DType::F32, &mut Generator::new(0)).map_err(msg)?;
    let e = export_onnx(model.as_ref(), &example, "deepnet").map_err(|e| format!("--onnx: {e}"))?;
    write_atomic(&a.onnx, &e.bytes).map_err(|err| format!("{}: {err}", a.onnx.display()))?;
    if let Some(dir) = &a.test_data {
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        for (file, t) in [("input_0.pb", &example), ("output_0.pb", &e.output)] {
            let name = file.trim_end_matches("_0.pb");
            let bytes = tensor_file(name, t).map_err(msg)?;
            let path = dir.join(file);
            write_atomic(&path, &bytes).map_err(|err| format!("{}: {err}", path.display()))?;
        }
    }
    if json_out {
        println!(
            "{}",
            json!({"command": "export", "model": name, "onnx": a.onnx.display().to_string(),
                   "opset": OPSET, "bytes": e.bytes.len(), "input": input,
                   "output": &e.output.dims()[1..],
                   "test_data": a.test_data.as_ref().map(|d| d.display().to_string())})
        );
    } else {
        println!(
            "exported {name} to {} ({} bytes, opset {OPSET}): input (N, {}), output (N, {})",
            a.onnx.display(),
            e.bytes.len(),
            join(&input),
            join(&e.output.dims()[1..])
        );
    }
    Ok(())
}

/// A trained model behind the input normalization it was trained with (`deepnet.normalize`):
/// `(x - mean) / std`, exported as `Sub` and `Div` nodes whose constants are one value, or one
/// per channel of shape `(C, 1, 1)` (broadcast over `(N, C, H, W)`).
struct Normalized {
    inner: Box<dyn Module>,
    norm: Normalization,
}

impl Module for Normalized {
    fn forward(&self, x: &Tensor) -> deepnet::tensor::Result<Tensor> {
        self.inner.forward(&self.norm.apply_tensor(x)?)
    }
    fn set_training(&self, training: bool) {
        self.inner.set_training(training)
    }
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> deepnet::tensor::Result<OnnxValue> {
        let n = &self.norm;
        let dims = if n.mean.len() == 1 {
            vec![1]
        } else {
            vec![n.mean.len(), 1, 1]
        };
        let constant = |v: &[f32]| Tensor::from_slice(v, dims.clone());
        let mean = g.weight("input_mean", &constant(&n.mean)?)?;
        let std = g.weight("input_std", &constant(&n.std)?)?;
        let ones = vec![1.0f32; n.std.len()];
        // the examples of the two nodes: centred, then divided (as forward computes them)
        let centred = Normalization {
            mean: n.mean.clone(),
            std: ones,
        }
        .apply_tensor(&x.example)?;
        let centred = g.node("Sub", &[&x.name, &mean], &[], centred);
        let z = self.norm.apply_tensor(&x.example)?;
        let z = g.node("Div", &[&centred.name, &std], &[], z);
        self.inner.to_onnx(g, &z)
    }
}

fn join(d: &[usize]) -> String {
    d.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `--model`/`--arch` were left at their defaults (a trained weights file then names
/// the model).
fn is_default_model(m: &ModelArgs) -> bool {
    m.model == "mlp" && m.arch.is_none()
}

/// The zoo model `--model` (or `--arch`) at `--input`/`--classes`, with `--weights` loaded by
/// key (strictly: missing or unexpected keys and shape mismatches are errors naming them).
fn zoo_model(a: &ExportArgs) -> CliResult<(Box<dyn Module>, Vec<usize>, String)> {
    let input = parse_shape(a.input.as_deref().unwrap_or("1x28x28"))?;
    let classes = a.classes.unwrap_or(match a.model.model.as_str() {
        "mlp" | "lenet5" | "small_cnn" => 10,
        _ => 1000,
    });
    let spec = ModelSpec::from_args(&a.model, input.clone(), classes)?;
    let store = model_store(0);
    let model = spec.build(&store)?;
    if let Some(w) = &a.weights {
        let (tensors, _) = load_safetensors_with_metadata(w).map_err(msg)?;
        check_finite_tensors(&tensors, w)?;
        store
            .load_state_dict(&tensors, true)
            .map_err(|e| format!("{}: {e}", w.display()))?;
    }
    Ok((model, input, spec.name))
}
