//! Architectures typed as a string: the canon's pattern
//! `INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC` written as comma-separated
//! tokens, e.g. `conv32k3p1,relu,conv32k3p1,relu,maxpool2,fc256,relu,fc10`.
//!
//! # Grammar
//!
//! A spec is a comma-separated list of tokens (whitespace around commas is ignored, letters may
//! be upper or lower case). Numbers are decimal; `<C>`, `<K>`, `<S>`, `<N>` are at least 1.
//!
//! | token | layer | notes |
//! |---|---|---|
//! | `conv<C>k<K>[s<S>][p<P>]` | `Conv2d(in, C, K, stride=S, padding=P)` | square kernel; stride 1, padding 0 by default; options in any order |
//! | `relu`, `sigmoid`, `tanh` | `ReLU`, `Sigmoid`, `Tanh` | |
//! | `maxpool<K>[s<S>]` | `MaxPool2d(K, S)` | stride defaults to K, as in PyTorch |
//! | `avgpool<K>[s<S>]` | `AvgPool2d(K, S)` | stride defaults to K |
//! | `dropout<P>` | `Dropout(P)` | `P` in `[0, 1)` is the **drop** probability (PyTorch's convention; the canon's slides write the keep probability) |
//! | `bn` | `BatchNorm2d(C)` on feature maps, `BatchNorm1d(F)` on vectors | |
//! | `flatten` | `Flatten(1, -1)` | optional, see below |
//! | `fc<N>` | `Linear(in, N)` | `in` is computed from the shape that reaches it |
//!
//! Input sizes are never written: each layer takes what the layer before gives, starting from
//! the input shape passed to [`build`] (`[C, H, W]` for images, `[F]` for vectors). A `Flatten`
//! is inserted automatically before the first `fc` whose input is not yet flat (after the last
//! conv or pool, or on an image input), so `conv12k3p1,relu,maxpool2,fc10` builds
//! `Conv2d, ReLU, MaxPool2d, Flatten, Linear`. Writing `flatten` yourself gives the same net.
//!
//! [`ArchSpec`]'s `Display` writes the canonical form (lower case, defaults left out:
//! `conv8k3s1p0` is written `conv8k3`, `maxpool2s2` is `maxpool2`), which parses back to the same
//! spec; the command line stores it in the weights file to rebuild the net.
//!
//! # Parameter names
//!
//! The layers are children `0, 1, 2, ...` of one `Sequential` named `layers`, numbered in build
//! order with the automatic `Flatten` counted, so the keys are those of a PyTorch
//! `self.layers = nn.Sequential(...)`: `conv8k3,relu,maxpool2,fc10` has `layers.0.weight`,
//! `layers.0.bias`, `layers.4.weight`, `layers.4.bias`.
//!
//! # Errors
//!
//! A malformed token is an error naming its 1-based index and text, with the spec and a caret
//! under the token:
//!
//! ```text
//! token 3 "conv32k3q1": unknown option 'q' (expected conv<C>k<K>[s<S>][p<P>])
//!   conv32k3p1,relu,conv32k3q1,fc10
//!                   ^^^^^^^^^^
//! ```
//!
//! [`build`] reports a window that does not fit its input with the arithmetic, as the zoo
//! models do (`token 3 "maxpool4" (layers.2): window 4, stride 4, pad 0 on 2: (2 - 4 + 0)/4 + 1
//! < 1`); windows that fit but do not tile are warned about by [`crate::check_input`].

use crate::shape_check::{forward_child, onnx_child};
use crate::{conv, join, out_size};
use deepnet_nn::layers::{
    AvgPool2d, BatchNorm1d, BatchNorm2d, BatchNormConfig, Dropout, Flatten, Linear, MaxPool2d,
    ReLU, Sequential, Sigmoid, Tanh,
};
use deepnet_nn::onnx::{OnnxGraph, OnnxValue};
use deepnet_nn::{Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};
use std::fmt;
use std::str::FromStr;

/// Every token form, for help texts and error messages.
pub const GRAMMAR: &str = "conv<C>k<K>[s<S>][p<P>], relu, sigmoid, tanh, maxpool<K>[s<S>], \
                           avgpool<K>[s<S>], dropout<P>, bn, flatten, fc<N>";

const CONV_FORM: &str = "conv<C>k<K>[s<S>][p<P>]";

/// One token of a spec.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// `conv<C>k<K>[s<S>][p<P>]`: a square convolution with bias.
    Conv {
        /// output channels `C`
        out_channels: usize,
        /// kernel side `K`
        kernel: usize,
        /// stride `S` (default 1)
        stride: usize,
        /// zero padding `P` on each side (default 0)
        padding: usize,
    },
    /// `relu`
    ReLU,
    /// `sigmoid`
    Sigmoid,
    /// `tanh`
    Tanh,
    /// `maxpool<K>[s<S>]`
    MaxPool {
        /// window side
        kernel: usize,
        /// stride (default: the window side)
        stride: usize,
    },
    /// `avgpool<K>[s<S>]`
    AvgPool {
        /// window side
        kernel: usize,
        /// stride (default: the window side)
        stride: usize,
    },
    /// `dropout<P>`, `P` the drop probability
    Dropout {
        /// the probability of zeroing an element, in `[0, 1)`
        p: f64,
    },
    /// `bn`: batch norm over channels (maps) or features (vectors)
    BatchNorm,
    /// `flatten`
    Flatten,
    /// `fc<N>`: a fully connected layer with bias
    Fc {
        /// output features `N`
        out_features: usize,
    },
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Conv {
                out_channels,
                kernel,
                stride,
                padding,
            } => {
                write!(f, "conv{out_channels}k{kernel}")?;
                if *stride != 1 {
                    write!(f, "s{stride}")?;
                }
                if *padding != 0 {
                    write!(f, "p{padding}")?;
                }
                Ok(())
            }
            Layer::ReLU => f.write_str("relu"),
            Layer::Sigmoid => f.write_str("sigmoid"),
            Layer::Tanh => f.write_str("tanh"),
            Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride } => {
                let name = if matches!(self, Layer::MaxPool { .. }) {
                    "maxpool"
                } else {
                    "avgpool"
                };
                write!(f, "{name}{kernel}")?;
                if stride != kernel {
                    write!(f, "s{stride}")?;
                }
                Ok(())
            }
            // f64's Display is the shortest text that parses back to the same value
            Layer::Dropout { p } => write!(f, "dropout{p}"),
            Layer::BatchNorm => f.write_str("bn"),
            Layer::Flatten => f.write_str("flatten"),
            Layer::Fc { out_features } => write!(f, "fc{out_features}"),
        }
    }
}

/// A parsed architecture: the tokens in order. Build it with [`build`].
///
/// ```
/// use deepnet_models::arch::ArchSpec;
/// let s = ArchSpec::parse(" conv12k3p1 , relu, maxpool2s2, fc10")?;
/// assert_eq!(s.to_string(), "conv12k3p1,relu,maxpool2,fc10");
/// let e = ArchSpec::parse("conv12k3p1,relu,conv32k3q1").unwrap_err().to_string();
/// assert!(e.starts_with("token 3 \"conv32k3q1\": unknown option 'q'"), "{e}");
/// # Ok::<(), deepnet_tensor::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ArchSpec {
    layers: Vec<Layer>,
}

impl ArchSpec {
    /// Parses a spec (see the module docs for the grammar); errors name the token.
    pub fn parse(text: &str) -> Result<ArchSpec> {
        if text.trim().is_empty() {
            return Err(Error::msg(format!(
                "the architecture is empty (expected comma-separated layers: {GRAMMAR})"
            )));
        }
        let mut layers = Vec::new();
        let mut start = 0;
        for (i, raw) in text.split(',').enumerate() {
            let tok = raw.trim();
            let col = start + (raw.len() - raw.trim_start().len());
            start += raw.len() + 1;
            let parsed = if tok.is_empty() {
                Err("empty token (a trailing comma, or two commas in a row?)".to_string())
            } else {
                parse_token(&tok.to_ascii_lowercase())
            };
            match parsed {
                Ok(l) => layers.push(l),
                Err(m) => {
                    // the caret line points at the token (or the gap where one is missing)
                    let width = tok.chars().count().max(1);
                    let pad = text[..col.min(text.len())].chars().count();
                    return Err(Error::msg(format!(
                        "token {} \"{tok}\": {m}\n  {text}\n  {}{}",
                        i + 1,
                        " ".repeat(pad),
                        "^".repeat(width)
                    )));
                }
            }
        }
        Ok(ArchSpec { layers })
    }

    /// The spec of `layers`.
    pub fn from_layers(layers: Vec<Layer>) -> ArchSpec {
        ArchSpec { layers }
    }

    /// The tokens in order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The output size when the spec ends with `fc<N>` (the class scores).
    pub fn num_outputs(&self) -> Option<usize> {
        match self.layers.last() {
            Some(Layer::Fc { out_features }) => Some(*out_features),
            _ => None,
        }
    }

    /// Checks that the spec ends with an `fc` giving one score per class, as a classifier must.
    pub fn check_classes(&self, num_classes: usize) -> Result<()> {
        let n = self.layers.len();
        match self.layers.last() {
            Some(Layer::Fc { out_features }) if *out_features == num_classes => Ok(()),
            Some(Layer::Fc { out_features }) => Err(Error::msg(format!(
                "the last layer, token {n} \"fc{out_features}\", gives {out_features} outputs \
                 but the dataset has {num_classes} classes (end the spec with fc{num_classes})"
            ))),
            Some(l) => Err(Error::msg(format!(
                "the spec must end with fc<N> giving the {num_classes} class scores, but its \
                 last token {n} is \"{l}\" (append fc{num_classes})"
            ))),
            None => Err(Error::msg("the architecture is empty")),
        }
    }
}

impl FromStr for ArchSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<ArchSpec> {
        ArchSpec::parse(s)
    }
}

impl fmt::Display for ArchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{l}")?;
        }
        Ok(())
    }
}

/// Reads the decimal number at the start of `s`: `None` when there is no digit, else the value
/// (or an error when it does not fit) and the rest.
fn number(s: &str) -> Option<std::result::Result<(usize, &str), String>> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some(
        s[..end]
            .parse::<usize>()
            .map(|v| (v, &s[end..]))
            .map_err(|_| format!("the number {} is too large", &s[..end])),
    )
}

/// Reads `<name>` letter options each followed by a number (`k3s2`), allowed ones only, each at
/// most once; `form` is the token's form for messages.
fn options(
    mut s: &str,
    allowed: &[char],
    form: &str,
) -> std::result::Result<Vec<(char, usize)>, String> {
    let mut got: Vec<(char, usize)> = Vec::new();
    while let Some(c) = s.chars().next() {
        if !allowed.contains(&c) {
            return Err(if c.is_ascii_digit() {
                format!("unexpected number after the token (expected {form})")
            } else {
                format!("unknown option '{c}' (expected {form})")
            });
        }
        if got.iter().any(|(o, _)| *o == c) {
            return Err(format!("option '{c}' given twice (expected {form})"));
        }
        let rest = &s[c.len_utf8()..];
        let (v, rest) = number(rest)
            .ok_or_else(|| format!("missing the number after '{c}' (expected {form})"))??;
        got.push((c, v));
        s = rest;
    }
    Ok(got)
}

fn opt(got: &[(char, usize)], c: char) -> Option<usize> {
    got.iter().find(|(o, _)| *o == c).map(|(_, v)| *v)
}

/// `what` must be at least 1.
fn at_least_1(v: usize, what: &str, form: &str) -> std::result::Result<usize, String> {
    if v == 0 {
        Err(format!(
            "{what} is 0; it must be at least 1 (expected {form})"
        ))
    } else {
        Ok(v)
    }
}

/// Parses one lower-cased, trimmed, non-empty token; the message names what is wrong in it.
fn parse_token(tok: &str) -> std::result::Result<Layer, String> {
    // no name is a prefix of another, so the first match is the only one
    const NAMES: [&str; 10] = [
        "conv", "relu", "sigmoid", "tanh", "maxpool", "avgpool", "dropout", "bn", "flatten", "fc",
    ];
    let Some(name) = NAMES.iter().find(|n| tok.starts_with(*n)) else {
        let word: String = tok.chars().take_while(|c| c.is_alphabetic()).collect();
        return Err(format!(
            "unknown layer \"{}\" (expected one of {GRAMMAR})",
            if word.is_empty() { tok } else { &word }
        ));
    };
    let rest = &tok[name.len()..];
    match *name {
        "conv" => {
            let (c, rest) = number(rest).ok_or_else(|| {
                format!("missing the output channel count after 'conv' (expected {CONV_FORM}, e.g. conv32k3p1)")
            })??;
            at_least_1(c, "the output channel count", CONV_FORM)?;
            let got = options(rest, &['k', 's', 'p'], CONV_FORM)?;
            let kernel = opt(&got, 'k').ok_or_else(|| {
                format!("missing the kernel size k<K> (expected {CONV_FORM}, e.g. conv{c}k3)")
            })?;
            Ok(Layer::Conv {
                out_channels: c,
                kernel: at_least_1(kernel, "the kernel size", CONV_FORM)?,
                stride: at_least_1(opt(&got, 's').unwrap_or(1), "the stride", CONV_FORM)?,
                padding: opt(&got, 'p').unwrap_or(0),
            })
        }
        "maxpool" | "avgpool" => {
            let form = format!("{name}<K>[s<S>]");
            let (k, rest) = number(rest).ok_or_else(|| {
                format!("missing the window size after '{name}' (expected {form}, e.g. {name}2)")
            })??;
            let kernel = at_least_1(k, "the window size", &form)?;
            let got = options(rest, &['s'], &form)?;
            let stride = at_least_1(opt(&got, 's').unwrap_or(kernel), "the stride", &form)?;
            Ok(if *name == "maxpool" {
                Layer::MaxPool { kernel, stride }
            } else {
                Layer::AvgPool { kernel, stride }
            })
        }
        "fc" => {
            let (n, rest) = number(rest).ok_or_else(|| {
                "missing the output size after 'fc' (expected fc<N>, e.g. fc10)".to_string()
            })??;
            if !rest.is_empty() {
                return Err(format!(
                    "unexpected \"{rest}\" after fc{n} (expected fc<N>)"
                ));
            }
            Ok(Layer::Fc {
                out_features: at_least_1(n, "the output size", "fc<N>")?,
            })
        }
        "dropout" => {
            if rest.is_empty() {
                return Err(
                    "missing the drop probability after 'dropout' (expected dropout<P>, e.g. dropout0.5)"
                        .into(),
                );
            }
            // digits and one dot only: no signs, exponents, inf or nan
            let p = rest
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                .then(|| rest.parse::<f64>().ok())
                .flatten()
                .ok_or_else(|| {
                    format!(
                        "\"{rest}\" is not a probability (expected dropout<P>, e.g. dropout0.5)"
                    )
                })?;
            if !(0.0..1.0).contains(&p) {
                return Err(format!(
                    "the drop probability {p} is not in [0, 1) (dropout<P> takes the probability of dropping)"
                ));
            }
            Ok(Layer::Dropout { p })
        }
        simple => {
            if !rest.is_empty() {
                return Err(format!(
                    "{simple} takes no number or option, got \"{rest}\""
                ));
            }
            Ok(match simple {
                "relu" => Layer::ReLU,
                "sigmoid" => Layer::Sigmoid,
                "tanh" => Layer::Tanh,
                "bn" => Layer::BatchNorm,
                _ => Layer::Flatten,
            })
        }
    }
}

/// A network built from an [`ArchSpec`]: one `Sequential` named `layers`.
/// Shapes: `(N, *input)` -> `(N, *output_shape)`.
pub struct ArchNet {
    layers: Sequential,
    spec: ArchSpec,
    output_shape: Vec<usize>,
    path: String,
}

impl ArchNet {
    /// The spec it was built from.
    pub fn spec(&self) -> &ArchSpec {
        &self.spec
    }

    /// The shape of one output sample (without the batch dim), e.g. `[10]`.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }
}

impl Module for ArchNet {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        forward_child(&self.layers, &join(&self.path, "layers"), x)
    }
    fn set_training(&self, training: bool) {
        self.layers.set_training(training);
    }
    fn describe(&self) -> String {
        "ArchNet".to_string()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("layers".to_string(), &self.layers as &dyn Module)]
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        onnx_child(&self.layers, &join(&self.path, "layers"), g, x)
    }
}

/// Builds `spec` for samples of shape `input` (`[C, H, W]` or `[F]`, no batch dim) under `pb`.
/// Each layer's input size comes from the shape the layers before it give; a window larger
/// than its (padded) input, a convolution or pool after the maps were flattened, or a
/// batch norm on a shape it cannot take is an error naming the token and its `layers.i` path.
///
/// ```
/// use deepnet_models::arch::{build, ArchSpec};
/// use deepnet_nn::ParamStore;
/// let store = ParamStore::new(0);
/// let spec = ArchSpec::parse("conv12k3p1,relu,maxpool2,fc10")?;
/// let net = build(&spec, &[3, 32, 32], &store.root())?;
/// assert_eq!(net.output_shape(), [10]);
/// // 3*12*9 + 12 for the conv, 12*16*16*10 + 10 for the fc
/// assert_eq!(store.num_params(), 336 + 30_730);
/// # Ok::<(), deepnet_tensor::Error>(())
/// ```
pub fn build(spec: &ArchSpec, input: &[usize], pb: &ParamBuilder) -> Result<ArchNet> {
    if input.is_empty() || input.contains(&0) {
        return Err(Error::msg(format!(
            "architecture: the input shape {input:?} must be [C, H, W] or [F] with sizes >= 1"
        )));
    }
    let lp = pb.push("layers");
    let mut seq = Sequential::new(&lp);
    let mut shape = input.to_vec();
    for (t, layer) in spec.layers.iter().enumerate() {
        let at = |i: usize| format!("token {} \"{layer}\" (layers.{i})", t + 1);
        let maps = |shape: &[usize], i: usize| -> Result<(usize, usize, usize)> {
            match *shape {
                [c, h, w] => Ok((c, h, w)),
                _ => Err(Error::msg(format!(
                    "{}: needs feature maps C x H x W but its input is {}{}",
                    at(i),
                    dims(shape),
                    if shape.len() == 1 {
                        " (already flat: put convolutions and pools before the first fc or flatten)"
                    } else {
                        ""
                    }
                ))),
            }
        };
        let i = seq.len();
        match *layer {
            Layer::Conv {
                out_channels,
                kernel,
                stride,
                padding,
            } => {
                let (c, h, w) = maps(&shape, i)?;
                let oh = out_size(&at(i), h, kernel, stride, padding)?;
                let ow = out_size(&at(i), w, kernel, stride, padding)?;
                seq.push(conv(
                    c,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    true,
                    &lp.push(i),
                )?);
                shape = vec![out_channels, oh, ow];
            }
            Layer::MaxPool { kernel, stride } | Layer::AvgPool { kernel, stride } => {
                let (c, h, w) = maps(&shape, i)?;
                let oh = out_size(&at(i), h, kernel, stride, 0)?;
                let ow = out_size(&at(i), w, kernel, stride, 0)?;
                if matches!(layer, Layer::MaxPool { .. }) {
                    seq.push(MaxPool2d::new((kernel, kernel), (stride, stride)));
                } else {
                    seq.push(AvgPool2d::new((kernel, kernel), (stride, stride)));
                }
                shape = vec![c, oh, ow];
            }
            Layer::ReLU => {
                seq.push(ReLU);
            }
            Layer::Sigmoid => {
                seq.push(Sigmoid);
            }
            Layer::Tanh => {
                seq.push(Tanh);
            }
            Layer::Dropout { p } => {
                seq.push(Dropout::new(p, &lp.push(i))?);
            }
            Layer::BatchNorm => match shape[..] {
                [c, _, _] => {
                    seq.push(BatchNorm2d::new(
                        c,
                        BatchNormConfig::default(),
                        &lp.push(i),
                    )?);
                }
                [f] => {
                    seq.push(BatchNorm1d::new(
                        f,
                        BatchNormConfig::default(),
                        &lp.push(i),
                    )?);
                }
                _ => {
                    return Err(Error::msg(format!(
                        "{}: batch norm takes feature maps C x H x W or a vector, got {}",
                        at(i),
                        dims(&shape)
                    )))
                }
            },
            Layer::Flatten => {
                seq.push(Flatten::default());
                shape = vec![shape.iter().product()];
            }
            Layer::Fc { out_features } => {
                if shape.len() != 1 {
                    // the automatic flatten takes the index before the fc's
                    seq.push(Flatten::default());
                    shape = vec![shape.iter().product()];
                }
                let i = seq.len();
                seq.push(Linear::new(shape[0], out_features, true, &lp.push(i))?);
                shape = vec![out_features];
            }
        }
    }
    Ok(ArchNet {
        layers: seq,
        spec: spec.clone(),
        output_shape: shape,
        path: pb.path().to_string(),
    })
}

/// `32x14x14`, `784`.
fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}
