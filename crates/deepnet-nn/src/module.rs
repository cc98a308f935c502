//! The `Module` trait: a layer or a model maps a tensor to a tensor.

use crate::onnx::{OnnxGraph, OnnxValue};
use deepnet_tensor::{Result, Tensor};
use std::cell::RefCell;

/// A layer or model. Parameters live in a [`crate::ParamStore`]; a module holds handles to them
/// (the same tensors), so an optimizer updating the store updates the module.
pub trait Module: Send + Sync {
    /// The forward pass.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Switches between training (true) and evaluation (false) behaviour, as PyTorch's
    /// `train()`/`eval()`. Only layers that behave differently (dropout, batch norm) and
    /// containers need to override it.
    fn set_training(&self, _training: bool) {}

    /// A one-line description for summaries, e.g. `Linear(in_features=784, out_features=256)`.
    fn describe(&self) -> String {
        std::any::type_name::<Self>()
            .rsplit("::")
            .next()
            .unwrap_or("Module")
            .to_string()
    }

    /// The direct sub-modules with their names, for summaries (empty for leaf layers).
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// Adds this module's evaluation-mode computation to an ONNX graph (see [`crate::onnx`]):
    /// `x` is its input, the returned value its output. Layers without an ONNX form keep this
    /// default, an error naming the layer.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let _ = (g, x);
        Err(crate::onnx::unsupported(
            &self.describe(),
            "this layer has no ONNX form yet",
        ))
    }
}

/// One layer's output, recorded while tracing a forward pass (for summaries).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRecord {
    /// the layer's dotted path (`layers.2`)
    pub path: String,
    /// the layer's description (`Linear(in_features=256, out_features=128, bias=True)`)
    pub describe: String,
    /// the output shape, batch dim included
    pub output_shape: Vec<usize>,
}

thread_local! {
    static RECORDER: RefCell<Option<Vec<LayerRecord>>> = const { RefCell::new(None) };
}

/// Notes a leaf layer's output while [`trace_layers`] runs on this thread (a no-op otherwise).
/// Containers call it for their leaf children, so models built from containers are traced
/// without any code of their own.
pub fn record_output(path: &str, layer: &dyn Module, output: &Tensor) {
    RECORDER.with(|r| {
        if let Some(v) = r.borrow_mut().as_mut() {
            v.push(LayerRecord {
                path: path.to_string(),
                describe: layer.describe(),
                output_shape: output.dims().to_vec(),
            });
        }
    });
}

/// Runs `f` (a forward pass) and returns its result with the outputs of every leaf layer, in
/// execution order.
pub fn trace_layers(f: impl FnOnce() -> Result<Tensor>) -> Result<(Tensor, Vec<LayerRecord>)> {
    let prev = RECORDER.with(|r| r.borrow_mut().replace(Vec::new()));
    let out = f();
    let recs = RECORDER
        .with(|r| std::mem::replace(&mut *r.borrow_mut(), prev))
        .unwrap_or_default();
    Ok((out?, recs))
}
