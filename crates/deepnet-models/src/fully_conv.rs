//! Fully connected layers as convolutions (the "convolutionalization" of a classifier).
//!
//! A Linear layer that reads the flattened `C x H x W` output of a feature extractor computes,
//! for each output unit, one dot product with the whole volume: exactly an `H x W` convolution
//! with `C` input channels, no padding, evaluated at the single position where it fits. The
//! Linear layers after it read vectors, which are `K x 1 x 1` volumes, so they are `1 x 1`
//! convolutions. With every Linear replaced this way (weights reshaped
//! `[out, C*H*W] -> [out, C, H, W]`, biases kept) the network takes images of any size at least
//! as large as the training size: on the training size it returns `(N, classes, 1, 1)`, the
//! original's `(N, classes)`; on a larger image it returns a map of outputs, one per position of
//! the training-size window, spaced by the net's total stride (the product of the strides of
//! its convolutions and pools). Computing that map costs one pass instead of one per window,
//! because the windows share their convolutions.
//!
//! [`fully_convolutional`] converts any *chain* of layers (a model whose forward applies its
//! leaf layers one after another: LeNet-5, the small CNN, the MLP, AlexNet, VGG, the `arch`
//! nets) and checks the claim on a random input before returning. Models with branches or skip
//! connections (ResNet, GoogLeNet) are refused, as are layers with no sliding equivalent; the
//! error names the layer.
//!
//! Zero padding: a window at an interior position of a larger image sees real pixels where the
//! original, run on that window cut out, sees padding. So the map equals "crop and run the
//! original" exactly only for nets without padded layers (the MLP, or convolutions without
//! padding); for padded nets (the zoo's LeNet-5 pads its first convolution) it is the usual
//! sliding-window approximation, exact on the training size.
//!
//! [`layer_output`] runs a chain the same way, layer by layer, and returns one layer's output
//! (the feature maps `deepnet show features` draws).

use crate::shape_check::forward_child;
use deepnet_nn::layers::{Conv2d, Conv2dConfig};
use deepnet_nn::{trace_layers, Module, ParamStore};
use deepnet_tensor::{no_grad, DType, Error, Generator, Result, Tensor};

/// One Linear layer of the original turned into a convolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertedLayer {
    /// the layer's dotted path (`classifier.0`); its tensors keep their keys
    pub path: String,
    /// the Linear's `in_features`
    pub in_features: usize,
    /// the Linear's `out_features`
    pub out_features: usize,
    /// the convolution's weight shape `[out, C, kH, kW]` (`[out, in, 1, 1]` after the first)
    pub weight_shape: [usize; 4],
}

/// One step of the converted network.
enum Step {
    /// a layer of the original, applied unchanged (convolutions, pools, activations)
    Kept { path: String, describe: String },
    /// a Linear of the original as a convolution
    Conv { path: String, conv: Conv2d },
}

/// A chain-of-layers classifier with its Linear layers turned into convolutions: built by
/// [`fully_convolutional`]. `(N, C, H', W')` with `H' >= H`, `W' >= W` (the training size) ->
/// `(N, classes, (H' - H)/s + 1, (W' - W)/s + 1)` for the total stride `s` (when the sizes tile).
pub struct FullyConvNet {
    /// the original, which still runs every kept layer (it owns them)
    model: Box<dyn Module>,
    steps: Vec<Step>,
    /// the original's tensors by key, for [`FullyConvNet::state_dict`]
    state: Vec<(String, Tensor)>,
    /// owns the converted convolutions' tensors, under the Linear layers' keys
    head: ParamStore,
    converted: Vec<ConvertedLayer>,
    input: [usize; 3],
    stride: (usize, usize),
    name: String,
}

/// Where the flatten stands while the layers are converted in order.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// before the flatten: layers see `(N, C, H, W)` maps and are kept as they are
    Map,
    /// right after a Flatten of a `C x H x W` volume; the next Linear reads all of it
    Flattened(usize, usize, usize),
    /// after a Linear with this many outputs: later layers see `(N, K, 1, 1)` in the new net
    Vector(usize),
}

/// The leaf module at dotted `path` under `root`, found through `children()`.
pub(crate) fn find_leaf<'a>(root: &'a dyn Module, path: &str) -> Option<&'a dyn Module> {
    let mut m = root;
    for part in path.split('.') {
        m = m.children().into_iter().find(|(n, _)| n == part)?.1;
    }
    Some(m)
}

/// Layers that act on each value (or, for softmax over dim 1, on the channel axis) and so
/// give on an `(N, K, 1, 1)` map what they give on `(N, K)`.
fn pointwise(describe: &str) -> bool {
    const OK: [&str; 9] = [
        "ReLU(",
        "LeakyReLU(",
        "Sigmoid(",
        "Tanh(",
        "Dropout(",
        "Identity(",
        "ELU(",
        "GELU(",
        "Softmax(dim=1)",
    ];
    OK.iter().any(|p| describe.starts_with(p)) || describe.starts_with("LogSoftmax(dim=1)")
}

/// The `stride=` a layer's description states: `stride=2` or `stride=(2, 1)`; `(1, 1)` for
/// layers that do not move a window.
fn stride_of(describe: &str) -> (usize, usize) {
    let Some(rest) = describe.split("stride=").nth(1) else {
        return (1, 1);
    };
    let num = |s: &str| s.trim().parse::<usize>().ok();
    if let Some(inner) = rest.strip_prefix('(') {
        let inner = inner.split(')').next().unwrap_or_default();
        let mut it = inner.split(',');
        match (it.next().and_then(num), it.next().and_then(num)) {
            (Some(a), Some(b)) => (a, b),
            _ => (1, 1),
        }
    } else {
        let n: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        num(&n).map_or((1, 1), |s| (s, s))
    }
}

/// Converts `model`, a chain of layers built for one sample of shape `input` (`[C, H, W]`),
/// into the equivalent fully convolutional network. `state` holds the model's tensors by
/// `state_dict` key (`ParamStore::state_dict()`, or a loaded weights file); the Linear weights
/// are read from it and reshaped. The model is put in evaluation mode (dropout off, batch norm
/// on its running statistics) and checked on a seeded random input: the converted network must
/// give the model's outputs.
///
/// Errors name the model and the layer: a Linear whose input is not the flattened output of
/// the layer before it (e.g. one applied to the last dimension of a map), a layer after the
/// flatten that does not act pointwise (`BatchNorm1d`), an adaptive pool that resizes its map,
/// a locally connected layer (its weights are tied to positions), a flatten that ends the
/// model, and models whose forward is not its layers applied in order (branches, skips).
pub fn fully_convolutional(
    model: Box<dyn Module>,
    state: &[(String, Tensor)],
    input: &[usize],
) -> Result<FullyConvNet> {
    let name = model.describe();
    let &[c, h, w] = input else {
        return Err(Error::msg(format!(
            "{name}: fully convolutional conversion needs an image input shape [C, H, W], got {input:?}"
        )));
    };
    model.set_training(false);
    let _g = no_grad();
    // the parameters' float type (integer buffers such as num_batches_tracked do not count)
    let dtype = state
        .iter()
        .map(|(_, t)| t.dtype())
        .find(|d| matches!(d, DType::F32 | DType::F64))
        .unwrap_or(DType::F32);
    // two samples, so that a layer mixing the batch would show in the check below
    let x = Tensor::randn([2, c, h, w], dtype, &mut Generator::new(0))?;
    let (y_model, records) = trace_layers(|| model.forward(&x))?;

    let head = ParamStore::with_dtype(0, dtype);
    let tensor = |key: &str| state.iter().find(|(k, _)| k == key).map(|(_, t)| t.clone());
    let mut steps = Vec::new();
    let mut converted = Vec::new();
    let mut stride = (1, 1);
    let mut stage = Stage::Map;
    let mut prev: Vec<usize> = x.dims().to_vec();
    for rec in &records {
        let (path, d) = (rec.path.as_str(), rec.describe.as_str());
        let at = |m: String| Error::msg(format!("{name}: layer \"{path}\" ({d}): {m}"));
        if find_leaf(model.as_ref(), path).is_none() {
            return Err(at(
                "it runs in the forward pass but is not reachable through the model's children"
                    .into(),
            ));
        }
        let out = &rec.output_shape;
        if d.starts_with("Linear(") {
            let weight = tensor(&format!("{path}.weight"))
                .ok_or_else(|| at(format!("the weights have no tensor \"{path}.weight\"")))?;
            let &[units, fan_in] = weight.dims() else {
                return Err(at(format!(
                    "its weight has shape {:?}, expected [out, in]",
                    weight.dims()
                )));
            };
            let (cin, kh, kw) = match stage {
                // a Linear straight on a map: the model flattened it without a Flatten layer
                // (the MLP flattens in its forward); it must have read all of the map
                Stage::Map if prev.len() == 4 && out.len() == 2 => (prev[1], prev[2], prev[3]),
                Stage::Map if prev.len() == 4 => {
                    return Err(at(format!(
                        "its input is the {prev:?} map of the layer before, not that map \
                         flattened: a Linear on the last dimension of a map does not read a \
                         whole window, so it has no convolution equivalent"
                    )))
                }
                Stage::Map => {
                    return Err(at(format!(
                        "its input has shape {prev:?}, not the flattened (N, C*H*W) output of a \
                         feature map"
                    )))
                }
                Stage::Flattened(c, h, w) => (c, h, w),
                Stage::Vector(k) => (k, 1, 1),
            };
            if fan_in != cin * kh * kw {
                return Err(at(format!(
                    "it reads {fan_in} features, but the layer before gives {cin}x{kh}x{kw} = {}",
                    cin * kh * kw
                )));
            }
            let bias = tensor(&format!("{path}.bias"));
            let cfg = Conv2dConfig {
                bias: bias.is_some(),
                ..Default::default()
            };
            let conv = Conv2d::new(cin, units, (kh, kw), cfg, &head.root().push(path))?;
            // PyTorch's flatten is channel-major, then rows, then columns: the same order as a
            // row-major [out, C, kH, kW] weight, so the reshape needs no permutation
            let shape = [units, cin, kh, kw];
            let mut new = vec![(format!("{path}.weight"), weight.reshape(shape)?)];
            if let Some(b) = bias {
                new.push((format!("{path}.bias"), b));
            }
            head.load_state_dict(&new, false)
                .map_err(|e| at(e.to_string()))?;
            converted.push(ConvertedLayer {
                path: path.to_string(),
                in_features: fan_in,
                out_features: units,
                weight_shape: shape,
            });
            steps.push(Step::Conv {
                path: path.to_string(),
                conv,
            });
            stage = Stage::Vector(units);
        } else if d.starts_with("Flatten(") {
            match stage {
                Stage::Map
                    if prev.len() == 4 && out[..] == [prev[0], prev[1] * prev[2] * prev[3]] =>
                {
                    stage = Stage::Flattened(prev[1], prev[2], prev[3]);
                }
                Stage::Vector(_) if prev.len() == 2 => {} // flattening a vector: nothing to do
                _ => {
                    return Err(at(format!(
                        "it flattens {prev:?} into {out:?}; only a flatten of an (N, C, H, W) \
                         map into (N, C*H*W) converts"
                    )))
                }
            }
        } else if stage == Stage::Map {
            if d.starts_with("Adaptive") {
                if *out != prev {
                    return Err(at(format!(
                        "it pools a {prev:?} map to a fixed size {out:?}: on a larger image it \
                         would squeeze the map instead of sliding over it"
                    )));
                }
                // an identity on the training size: leaving it out keeps the map sliding
                prev = out.clone();
                continue;
            }
            if d.starts_with("LocallyConnected") {
                return Err(at(
                    "its weights are tied to positions of the training-size map, so it cannot \
                     slide over a larger one"
                        .into(),
                ));
            }
            let (sh, sw) = stride_of(d);
            stride = (stride.0 * sh, stride.1 * sw);
            steps.push(Step::Kept {
                path: path.to_string(),
                describe: d.to_string(),
            });
        } else if pointwise(d) {
            steps.push(Step::Kept {
                path: path.to_string(),
                describe: d.to_string(),
            });
        } else {
            return Err(at(
                "after the flatten only Linear layers and pointwise activations convert, and \
                 this layer is neither"
                    .into(),
            ));
        }
        prev = out.clone();
    }
    if let Stage::Flattened(..) = stage {
        return Err(Error::msg(format!(
            "{name}: the model ends with a flatten, not a Linear layer: there is no classifier to \
             turn into convolutions"
        )));
    }

    let net = FullyConvNet {
        model,
        steps,
        state: state.to_vec(),
        head,
        converted,
        input: [c, h, w],
        stride,
        name: name.clone(),
    };
    let not_a_chain = "only models whose forward applies their layers one after another \
                       convert (no branches or skip connections)";
    let y = net.forward(&x).map_err(|e| {
        Error::msg(format!(
            "{name}: running its layers in order fails ({e}); {not_a_chain}"
        ))
    })?;
    let diff = max_abs_diff(&y, &y_model)?;
    let differs = match diff {
        Some((d, scale)) => d.is_nan() || d > 1e-4 * (1.0 + scale),
        None => true,
    };
    if differs {
        let got = match diff {
            Some((d, _)) => format!("outputs that differ from the model's by up to {d:.3e}"),
            None => format!("output {:?} for the model's {:?}", y.dims(), y_model.dims()),
        };
        return Err(Error::msg(format!(
            "{name}: its layers run in order give {got}; {not_a_chain}"
        )));
    }
    Ok(net)
}

/// Runs `model` on `x` and returns the output of its leaf layer at `path` (feature maps, for
/// pictures), by running the model's layers one after another and keeping that one's output.
/// That is only the model's own computation for chains of layers, so the chain's final output
/// is checked against the model's: models with branches or skip connections are errors, and so
/// is a `path` that names no layer of the forward pass (the error lists them).
pub fn layer_output(model: &dyn Module, x: &Tensor, path: &str) -> Result<Tensor> {
    let name = model.describe();
    let _g = no_grad();
    let (y, records) = trace_layers(|| model.forward(x))?;
    if !records.iter().any(|r| r.path == path) {
        let all: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
        return Err(Error::msg(format!(
            "{name}: no layer \"{path}\" (the layers are {})",
            all.join(", ")
        )));
    }
    let not_a_chain = |what: String| {
        Error::msg(format!(
            "{name}: {what}; only models whose forward applies their layers one after another \
             can show the output of one layer (no branches or skip connections)"
        ))
    };
    let mut h = x.clone();
    let mut found = None;
    for rec in &records {
        let m = find_leaf(model, &rec.path).ok_or_else(|| {
            not_a_chain(format!("layer \"{}\" is not among its children", rec.path))
        })?;
        let out = match m.forward(&h) {
            Ok(o) if o.dims() == rec.output_shape.as_slice() => o,
            // the model flattened the map in its own forward (the MLP does), not in a layer
            _ if h.rank() > 2 => m.forward(&h.flatten(1, -1)?)?,
            r => r?,
        };
        if out.dims() != rec.output_shape.as_slice() {
            return Err(not_a_chain(format!(
                "layer \"{}\" gives {:?} when run in order, {:?} in the model",
                rec.path,
                out.dims(),
                rec.output_shape
            )));
        }
        if rec.path == path && found.is_none() {
            found = Some(out.clone());
        }
        h = out;
    }
    match max_abs_diff(&h, &y)? {
        Some((d, scale)) if d <= 1e-4 * (1.0 + scale) => {}
        _ => {
            return Err(not_a_chain(
                "its layers run in order do not give the model's output".into(),
            ))
        }
    }
    found.ok_or_else(|| not_a_chain(format!("layer \"{path}\" did not run")))
}

/// The largest `|a - b|` and the largest `|b|` when `a` holds `b`'s values (`(N, K, 1, 1)`
/// against `(N, K)`), or `None` when the counts differ.
fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<Option<(f64, f64)>> {
    if a.numel() != b.numel() {
        return Ok(None);
    }
    let a = a.to_dtype(DType::F64)?.contiguous()?.to_vec::<f64>()?;
    let b = b.to_dtype(DType::F64)?.contiguous()?.to_vec::<f64>()?;
    let mut worst = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(&b) {
        let d = (x - y).abs();
        // a NaN difference must fail the check, and f64::max would drop it
        worst.0 = if d.is_nan() || d > worst.0 {
            d
        } else {
            worst.0
        };
        worst.1 = worst.1.max(y.abs());
    }
    Ok(Some(worst))
}

impl FullyConvNet {
    /// The Linear layers that became convolutions, input to output.
    pub fn converted(&self) -> &[ConvertedLayer] {
        &self.converted
    }

    /// The total stride `(sH, sW)` of the layers before the first converted one: neighbouring
    /// entries of the output map are this many input pixels apart.
    pub fn stride(&self) -> (usize, usize) {
        self.stride
    }

    /// The training size `[C, H, W]`: the smallest input, which gives a 1x1 map.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    /// The paths of the original's convolutions (not the converted ones), input to output.
    pub fn conv_layers(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Kept { path, describe } if describe.starts_with("Conv2d(") => {
                    Some(path.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The tensors of the converted network under the original's keys: the original's, with
    /// each converted Linear's weight reshaped to its convolution's `[out, C, kH, kW]`.
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        let head = self.head.state_dict();
        self.state
            .iter()
            .map(|(k, t)| {
                let t = head.iter().find(|(hk, _)| hk == k).map_or(t, |(_, ht)| ht);
                (k.clone(), t.clone())
            })
            .collect()
    }

    /// Runs the layers up to and including the one at `path` and returns its output (feature
    /// maps, for pictures). Unknown paths are errors listing the layers.
    pub fn forward_to(&self, x: &Tensor, path: &str) -> Result<Tensor> {
        self.run(x, Some(path))
    }

    fn run(&self, x: &Tensor, until: Option<&str>) -> Result<Tensor> {
        let mut h = x.clone();
        for step in &self.steps {
            let path = match step {
                Step::Kept { path, .. } => {
                    let m = find_leaf(self.model.as_ref(), path).ok_or_else(|| {
                        Error::msg(format!("{}: layer \"{path}\" is gone", self.name))
                    })?;
                    h = forward_child(m, path, &h)?;
                    path
                }
                Step::Conv { path, conv } => {
                    h = forward_child(conv, path, &h)?;
                    path
                }
            };
            if until == Some(path.as_str()) {
                return Ok(h);
            }
        }
        match until {
            None => Ok(h),
            Some(p) => Err(Error::msg(format!(
                "{}: no layer \"{p}\" (the layers are {})",
                self.name,
                self.steps
                    .iter()
                    .map(|s| match s {
                        Step::Kept { path, .. } | Step::Conv { path, .. } => path.as_str(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

impl Module for FullyConvNet {
    /// `(N, C, H', W')` -> `(N, classes, h, w)`, see [`FullyConvNet`].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, None)
    }
    fn set_training(&self, training: bool) {
        self.model.set_training(training);
    }
    fn describe(&self) -> String {
        format!("FullyConv({})", self.name)
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Kept { path, .. } => {
                    find_leaf(self.model.as_ref(), path).map(|m| (path.clone(), m))
                }
                Step::Conv { path, conv } => Some((path.clone(), conv as &dyn Module)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_read_from_descriptions() {
        assert_eq!(
            stride_of("Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 2))"),
            (1, 2)
        );
        assert_eq!(
            stride_of("MaxPool2d(kernel_size=2, stride=2, padding=0)"),
            (2, 2)
        );
        assert_eq!(stride_of("ReLU()"), (1, 1));
        assert!(pointwise("Dropout(p=0.5)") && !pointwise("BatchNorm1d(4, eps=1e-05)"));
        assert!(!pointwise("Softmax(dim=0)"));
    }
}
