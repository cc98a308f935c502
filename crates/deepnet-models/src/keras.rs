//! Keras weights in: converting tensors saved in Keras's layouts (TensorFlow backend,
//! `channels_last`) to the PyTorch layouts of the zoo, and checking a Keras architecture JSON
//! (`model.to_json()`, as in `keras_model_config.json`) against the zoo model it is loaded into.
//!
//! | Keras tensor | Keras shape | deepnet (PyTorch) shape | conversion |
//! |---|---|---|---|
//! | `Conv2D` `kernel`, `SeparableConv2D` `pointwise_kernel` | `(kh, kw, in, out)` | `(out, in, kh, kw)` | permute `(3, 2, 0, 1)` |
//! | `SeparableConv2D` / `DepthwiseConv2D` `depthwise_kernel` | `(kh, kw, in, mult)` | `(in * mult, 1, kh, kw)` | permute `(2, 3, 0, 1)`, reshape (output channel `c * mult + m`, as `groups = in`) |
//! | `Dense` `kernel` | `(in, out)` | `(out, in)` | transpose |
//! | `Dense` `kernel` after `Flatten` of an `(H, W, C)` map | `(H*W*C, out)` | `(out, C*H*W)` | reshape `(H, W, C, out)`, permute `(3, 2, 0, 1)`, reshape |
//! | `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance` | `(C,)` | `(C,)` | none (`gamma` is `weight`, `beta` is `bias`, `moving_*` are `running_*`) |
//!
//! A zoo model that can take Keras weights describes them as a list of [`KerasWeight`]s (a plan:
//! which Keras tensor goes to which parameter, in which layout) and its Keras layers as
//! [`KerasLayerSpec`]s; [`load_keras_weights`] converts and loads a whole file strictly (every
//! Keras tensor used, every parameter given; errors name the Keras key, its shape and the shape
//! expected), and [`KerasConfig::check`] compares the architecture JSON with the zoo's layers.
//! Keras's `BatchNormalization` has no batch counter: `num_batches_tracked` keeps its value.
//! Keras's default batch-norm epsilon is `1e-3` (PyTorch's `1e-5`): the zoo models built for
//! Keras weights take it from [`KerasConfig::batch_norm_epsilon`].

use deepnet_nn::ParamStore;
use deepnet_tensor::{Error, Result, Tensor};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Keras's default `BatchNormalization(epsilon=...)`.
pub const KERAS_BN_EPS: f64 = 1e-3;

/// How a Keras tensor is laid out (see the module docs for each conversion).
#[derive(Clone, Debug, PartialEq)]
pub enum KerasLayout {
    /// A convolution kernel `(kh, kw, in, out)` (HWIO) to `(out, in, kh, kw)` (OIHW).
    ConvKernel,
    /// A depthwise kernel `(kh, kw, channels, mult)` to `(channels * mult, 1, kh, kw)`.
    DepthwiseKernel {
        /// the input channels (the convolution's `groups`)
        channels: usize,
    },
    /// A dense kernel `(in, out)` to `(out, in)`.
    DenseKernel {
        /// `Some([C, H, W])` when the layer reads a Keras `Flatten` of an `(H, W, C)` map: its
        /// rows are reordered from Keras's `(h, w, c)` flattening to PyTorch's `(c, h, w)`
        flatten_chw: Option<[usize; 3]>,
    },
    /// A vector (bias, batch-norm statistics) taken as it is.
    Vector,
}

impl KerasLayout {
    /// The Keras shape of the tensor that converts to deepnet shape `target`, or `None` when
    /// `target` cannot come from this layout (wrong rank or sizes).
    pub fn keras_shape(&self, target: &[usize]) -> Option<Vec<usize>> {
        match (self, target) {
            (KerasLayout::ConvKernel, &[o, i, kh, kw]) => Some(vec![kh, kw, i, o]),
            (KerasLayout::DepthwiseKernel { channels }, &[cm, 1, kh, kw])
                if *channels > 0 && cm % channels == 0 =>
            {
                Some(vec![kh, kw, *channels, cm / channels])
            }
            (KerasLayout::DenseKernel { flatten_chw }, &[o, i]) => match flatten_chw {
                Some([c, h, w]) if c * h * w != i => None,
                _ => Some(vec![i, o]),
            },
            (KerasLayout::Vector, &[c]) => Some(vec![c]),
            _ => None,
        }
    }

    /// Converts `t`, in this Keras layout, to deepnet's layout (contiguous). `t` must have the
    /// shape [`KerasLayout::keras_shape`] gives.
    pub fn to_deepnet(&self, t: &Tensor) -> Result<Tensor> {
        let y = match (self, t.dims()) {
            (KerasLayout::ConvKernel, &[_, _, _, _]) => t.permute([3, 2, 0, 1])?,
            (KerasLayout::DepthwiseKernel { .. }, &[kh, kw, c, m]) => t
                .permute([2, 3, 0, 1])?
                .contiguous()?
                .reshape([c * m, 1, kh, kw])?,
            (KerasLayout::DenseKernel { flatten_chw: None }, &[_, _]) => t.t()?,
            (
                KerasLayout::DenseKernel {
                    flatten_chw: Some([c, h, w]),
                },
                &[n, o],
            ) if n == c * h * w => t
                .reshape([*h, *w, *c, o])?
                .permute([3, 2, 0, 1])?
                .contiguous()?
                .reshape([o, n])?,
            (KerasLayout::Vector, &[_]) => t.clone(),
            _ => {
                return Err(Error::msg(format!(
                    "keras: a tensor of shape {} is not in the layout {self:?}",
                    t.shape()
                )))
            }
        };
        y.contiguous()
    }
}

/// One Keras tensor of a zoo model's plan: the Keras key (`conv2d_1/kernel`), the deepnet
/// parameter it fills (`features.3.weight`) and its layout.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasWeight {
    /// the key in the Keras export, `<layer>/<variable>`
    pub keras: String,
    /// the `state_dict` key of the zoo model
    pub target: String,
    /// how the Keras tensor is laid out
    pub layout: KerasLayout,
}

/// Builds a plan: `add_*` methods append the tensors of one Keras layer.
#[derive(Clone, Debug, Default)]
pub struct KerasPlan(pub Vec<KerasWeight>);

impl KerasPlan {
    fn push(&mut self, layer: &str, var: &str, target: String, layout: KerasLayout) {
        self.0.push(KerasWeight {
            keras: format!("{layer}/{var}"),
            target,
            layout,
        });
    }

    /// A `Conv2D` layer to the `Conv2d` at `target` (`kernel` -> `weight`, `bias` -> `bias`).
    pub fn conv(&mut self, layer: &str, target: &str, bias: bool) -> &mut Self {
        self.push(
            layer,
            "kernel",
            format!("{target}.weight"),
            KerasLayout::ConvKernel,
        );
        if bias {
            self.push(layer, "bias", format!("{target}.bias"), KerasLayout::Vector);
        }
        self
    }

    /// A `SeparableConv2D` layer (no bias) to a depthwise `Conv2d` (groups = `channels`) and a
    /// pointwise 1x1 `Conv2d`.
    pub fn separable(
        &mut self,
        layer: &str,
        depthwise: &str,
        pointwise: &str,
        channels: usize,
    ) -> &mut Self {
        self.push(
            layer,
            "depthwise_kernel",
            format!("{depthwise}.weight"),
            KerasLayout::DepthwiseKernel { channels },
        );
        self.push(
            layer,
            "pointwise_kernel",
            format!("{pointwise}.weight"),
            KerasLayout::ConvKernel,
        );
        self
    }

    /// A `BatchNormalization` layer (with `center` and `scale`) to the batch norm at `target`.
    pub fn batch_norm(&mut self, layer: &str, target: &str) -> &mut Self {
        for (var, name) in [
            ("gamma", "weight"),
            ("beta", "bias"),
            ("moving_mean", "running_mean"),
            ("moving_variance", "running_var"),
        ] {
            self.push(layer, var, format!("{target}.{name}"), KerasLayout::Vector);
        }
        self
    }

    /// A `Dense` layer with bias to the `Linear` at `target`; `flatten_chw` as in
    /// [`KerasLayout::DenseKernel`].
    pub fn dense(
        &mut self,
        layer: &str,
        target: &str,
        flatten_chw: Option<[usize; 3]>,
    ) -> &mut Self {
        self.push(
            layer,
            "kernel",
            format!("{target}.weight"),
            KerasLayout::DenseKernel { flatten_chw },
        );
        self.push(layer, "bias", format!("{target}.bias"), KerasLayout::Vector);
        self
    }
}

/// `[3, 3, 64, 64]`.
fn shape_str(d: &[usize]) -> String {
    format!("{d:?}")
}

/// Converts the Keras tensors `tensors` (as read from the export) into the `state_dict` of
/// `store` following `plan`: every Keras tensor must be in the plan, every planned tensor must be
/// there with the shape its target asks for. All problems are reported at once, each naming the
/// Keras key, its shape and the expected one. Buffers the plan does not fill
/// (`num_batches_tracked`) keep the store's values; every other parameter of `store` must be in
/// the plan.
pub fn convert_keras_weights(
    tensors: &[(String, Tensor)],
    plan: &[KerasWeight],
    store: &ParamStore,
) -> Result<Vec<(String, Tensor)>> {
    let given: HashMap<&str, &Tensor> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mine: HashMap<String, Tensor> = store.state_dict().into_iter().collect();
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(plan.len());
    for w in plan {
        let Some(target) = mine.get(&w.target) else {
            return Err(Error::msg(format!(
                "keras: the plan names \"{}\", which the model does not have",
                w.target
            )));
        };
        let want = w.layout.keras_shape(target.dims()).ok_or_else(|| {
            Error::msg(format!(
                "keras: \"{}\" {} cannot come from the layout {:?}",
                w.target,
                target.shape(),
                w.layout
            ))
        })?;
        let Some(t) = given.get(w.keras.as_str()) else {
            problems.push(format!(
                "missing \"{}\" (shape {} for {} {})",
                w.keras,
                shape_str(&want),
                w.target,
                shape_str(target.dims())
            ));
            continue;
        };
        if t.dims() != want.as_slice() {
            problems.push(format!(
                "\"{}\" has shape {}, expected {} (the Keras layout of {} {})",
                w.keras,
                shape_str(t.dims()),
                shape_str(&want),
                w.target,
                shape_str(target.dims())
            ));
        } else if !t.dtype().is_float() {
            problems.push(format!(
                "\"{}\" holds {:?} values, expected floats",
                w.keras,
                t.dtype()
            ));
        } else {
            out.push((w.target.clone(), w.layout.to_deepnet(t)?));
        }
    }
    let planned: HashSet<&str> = plan.iter().map(|w| w.keras.as_str()).collect();
    let unexpected: Vec<&str> = tensors
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !planned.contains(k))
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!(
            "unexpected tensors {unexpected:?} (not part of this model)"
        ));
    }
    if !problems.is_empty() {
        return Err(Error::msg(format!(
            "keras weights do not fit the model: {}",
            problems.join("; ")
        )));
    }
    let filled: HashSet<&str> = plan.iter().map(|w| w.target.as_str()).collect();
    for (k, t) in store.buffers() {
        if !filled.contains(k.as_str()) {
            out.push((k, t));
        }
    }
    Ok(out)
}

/// [`convert_keras_weights`], then a strict `load_state_dict` into `store`.
pub fn load_keras_weights(
    tensors: &[(String, Tensor)],
    plan: &[KerasWeight],
    store: &ParamStore,
) -> Result<()> {
    let state = convert_keras_weights(tensors, plan, store)?;
    store.load_state_dict(&state, true)
}

/// The token that stands for the model's input among a functional layer's inputs.
pub const MODEL_INPUT: &str = "<input>";

/// What a zoo model expects of one Keras layer: its name, class, config fields (compared for
/// equality with the JSON values), and, in a functional model, the names of its inputs
/// ([`MODEL_INPUT`] for the model input).
#[derive(Clone, Debug, PartialEq)]
pub struct KerasLayerSpec {
    /// the Keras layer name (`conv2d_1`)
    pub name: String,
    /// the Keras class (`Conv2D`)
    pub class: &'static str,
    /// config fields that must hold these values (`("strides", [2, 2])`)
    pub fields: Vec<(&'static str, Value)>,
    /// the input layers' names (functional models only; ignored for `Sequential`)
    pub inputs: Vec<String>,
}

impl KerasLayerSpec {
    /// A spec without field or input expectations.
    pub fn new(name: impl Into<String>, class: &'static str) -> Self {
        KerasLayerSpec {
            name: name.into(),
            class,
            fields: Vec::new(),
            inputs: Vec::new(),
        }
    }
    /// Expects config field `key` to equal `value`.
    pub fn field(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((key, value.into()));
        self
    }
    /// Expects these inputs (functional models).
    pub fn inputs(mut self, names: &[&str]) -> Self {
        self.inputs = names.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// One layer of a parsed Keras architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasLayerEntry {
    /// the Keras class
    pub class: String,
    /// the layer name
    pub name: String,
    /// its `config` object
    pub config: Value,
    /// input layer names (functional models; [`MODEL_INPUT`] for an `InputLayer`)
    pub inputs: Vec<String>,
}

/// A Keras architecture JSON (`model.to_json()`), `Sequential` or functional.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasConfig {
    /// whether the model is a `Sequential` (its layers run in order)
    pub sequential: bool,
    /// every layer, `InputLayer`s included, in the file's order
    pub layers: Vec<KerasLayerEntry>,
}

impl KerasConfig {
    /// Parses the JSON text; errors name the field that is missing or malformed.
    pub fn parse(text: &str) -> Result<KerasConfig> {
        let bad = |m: String| Error::msg(format!("keras model config: {m}"));
        let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let class = v["class_name"]
            .as_str()
            .ok_or_else(|| bad("no \"class_name\" at the top".into()))?;
        let sequential = class == "Sequential";
        if !sequential && !matches!(class, "Model" | "Functional") {
            return Err(bad(format!(
                "class_name \"{class}\" is not Sequential, Model or Functional"
            )));
        }
        // Keras 2.x writes {"config": {"layers": [...]}}; early Sequential exports a bare list
        let list = match &v["config"] {
            Value::Array(a) => a,
            c => c["layers"]
                .as_array()
                .ok_or_else(|| bad("no \"config.layers\" list".into()))?,
        };
        let input_names: HashSet<&str> = list
            .iter()
            .filter(|l| l["class_name"] == "InputLayer")
            .filter_map(|l| l["name"].as_str().or(l["config"]["name"].as_str()))
            .collect();
        let mut layers = Vec::with_capacity(list.len());
        for (i, l) in list.iter().enumerate() {
            let class = l["class_name"]
                .as_str()
                .ok_or_else(|| bad(format!("layer {i} has no class_name")))?;
            let name = l["name"]
                .as_str()
                .or(l["config"]["name"].as_str())
                .ok_or_else(|| bad(format!("layer {i} ({class}) has no name")))?;
            // inbound_nodes: [[[name, node, tensor, kwargs], ...]] for the first call
            let inputs = l["inbound_nodes"][0]
                .as_array()
                .map(|ins| {
                    ins.iter()
                        .filter_map(|n| n[0].as_str())
                        .map(|n| {
                            if input_names.contains(n) {
                                MODEL_INPUT.to_string()
                            } else {
                                n.to_string()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            layers.push(KerasLayerEntry {
                class: class.to_string(),
                name: name.to_string(),
                config: l["config"].clone(),
                inputs,
            });
        }
        Ok(KerasConfig { sequential, layers })
    }

    /// The input shape of one sample in Keras's order (`[H, W, C]`), from the `InputLayer` or
    /// the first layer's `batch_input_shape`.
    pub fn input_shape(&self) -> Option<Vec<usize>> {
        let shape = self
            .layers
            .iter()
            .find_map(|l| l.config["batch_input_shape"].as_array())?;
        shape[1..]
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect()
    }

    /// The epsilon of the `BatchNormalization` layers: `None` without any; an error naming two
    /// layers when they differ (the zoo models built for Keras weights take one epsilon) or one
    /// that is not a non-negative number.
    pub fn batch_norm_epsilon(&self) -> Result<Option<f64>> {
        let mut found: Option<(f64, &str)> = None;
        for l in self
            .layers
            .iter()
            .filter(|l| l.class == "BatchNormalization")
        {
            let eps = l.config["epsilon"]
                .as_f64()
                .filter(|e| e.is_finite() && *e >= 0.0)
                .ok_or_else(|| {
                    Error::msg(format!(
                        "keras model config: layer \"{}\": epsilon {} is not a non-negative number",
                        l.name, l.config["epsilon"]
                    ))
                })?;
            match found {
                Some((e, first)) if e != eps => {
                    return Err(Error::msg(format!(
                        "keras model config: batch norm epsilon differs between layers \"{first}\" \
                         ({e}) and \"{}\" ({eps}); the zoo model takes one",
                        l.name
                    )))
                }
                Some(_) => {}
                None => found = Some((eps, &l.name)),
            }
        }
        Ok(found.map(|(e, _)| e))
    }

    /// Checks the architecture against a zoo model's Keras layers `expected` (`model` names the
    /// zoo model in messages): the same layer names (`InputLayer`s aside), each of the expected
    /// class with the expected config fields, in the same order for a `Sequential` and with the
    /// same inputs for a functional model; and the input shape `input_hwc` when the JSON gives
    /// one. The first difference is the error.
    pub fn check(
        &self,
        model: &str,
        expected: &[KerasLayerSpec],
        input_hwc: &[usize],
    ) -> Result<()> {
        let bad = |m: String| Err(Error::msg(format!("keras model config vs {model}: {m}")));
        if let Some(shape) = self.input_shape() {
            if shape != input_hwc {
                return bad(format!(
                    "input shape (H, W, C) is {shape:?}, the zoo model takes {input_hwc:?}"
                ));
            }
        }
        let mine: Vec<&KerasLayerEntry> = self
            .layers
            .iter()
            .filter(|l| l.class != "InputLayer")
            .collect();
        let by_name: HashMap<&str, &KerasLayerEntry> =
            mine.iter().map(|l| (l.name.as_str(), *l)).collect();
        let names: HashSet<&str> = expected.iter().map(|s| s.name.as_str()).collect();
        if let Some(extra) = mine.iter().find(|l| !names.contains(l.name.as_str())) {
            return bad(format!(
                "layer \"{}\" ({}) is not part of the zoo model",
                extra.name, extra.class
            ));
        }
        for (i, spec) in expected.iter().enumerate() {
            let Some(l) = by_name.get(spec.name.as_str()) else {
                return bad(format!("no layer \"{}\" ({})", spec.name, spec.class));
            };
            if l.class != spec.class {
                return bad(format!(
                    "layer \"{}\" is a {}, expected a {}",
                    spec.name, l.class, spec.class
                ));
            }
            for (k, v) in &spec.fields {
                if &l.config[*k] != v {
                    return bad(format!(
                        "layer \"{}\" ({}): {k} is {}, expected {v}",
                        spec.name, spec.class, l.config[*k]
                    ));
                }
            }
            if self.sequential {
                if mine[i].name != spec.name {
                    return bad(format!(
                        "layer {i} is \"{}\", expected \"{}\" (a Sequential runs in order)",
                        mine[i].name, spec.name
                    ));
                }
            } else if l.inputs != spec.inputs {
                return bad(format!(
                    "layer \"{}\" reads {:?}, expected {:?}",
                    spec.name, l.inputs, spec.inputs
                ));
            }
        }
        Ok(())
    }
}

/// A Keras layer name with Keras's numbering: `base` for `i = 0`, `base_i` after
/// (`conv2d`, `conv2d_1`, ...).
pub(crate) fn numbered(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}_{i}")
    }
}

/// `[k, k]` as a JSON value (kernel sizes, strides).
pub(crate) fn pair(k: usize) -> Value {
    Value::from(vec![k, k])
}

#[cfg(test)]
#[path = "keras_tests.rs"]
mod tests;
