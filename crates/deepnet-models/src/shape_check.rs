//! The conv arithmetic check: does an input of a given shape flow through a model, and do its
//! sliding windows tile their inputs?
//!
//! [`check_input`] walks the model on a zero tensor of batch 1 under `no_grad`, computing shapes
//! layer by layer. It is cheap: the expensive leaf layers (`Conv2d`, `Linear`) are not run but
//! *simulated* from their arithmetic (a zero tensor of the output shape is passed on), batch
//! norm, dropout and activations pass their input through unchanged (so no running statistic or
//! random stream is touched), and only cheap layers (pooling, flatten, LRN, unknown leaves) and
//! the containers' own glue (residual sums, concatenations) run for real. Checking ResNet-50 at
//! 224x224 takes about 20 ms (VGG-16 60 ms, most of it max pooling zeros) where a real forward
//! pass costs 4 (15) GFLOPs; [`check_input_traced`] also returns every layer's output shape.
//!
//! For every `Conv2d`, `MaxPool2d` and `AvgPool2d` it reports
//!
//! - a **warning** when the window does not tile the (padded) input exactly, with the arithmetic:
//!   `features.0 (Conv2d 11x11, stride 4, pad 2) on 224x224: (224 - 11 + 4)/4 + 1 = 55.25,
//!   rounded down to 55: the last 1 row(s) and column(s) of the padded input are never covered`;
//! - an **error** when the output would be smaller than 1, or the channel count (or `Linear`'s
//!   feature count) differs from what the layer before gives, labelled with the layer path:
//!   `in module "features.3": Conv2d 5x5, stride 2, pad 0 on 3x3: kernel 5x5 is larger than the
//!   padded input 3x3: (3 - 5 + 0)/2 + 1 < 1`.
//!
//! Layers are recognized by their `describe()` string (PyTorch's repr). Containers cooperate by
//! calling their children through [`forward_child`]: `Sequential` is walked child by child, and
//! the zoo's own blocks (ResNet blocks, Inception modules, the models themselves) use
//! [`forward_child`] for every sub-module. A foreign container that calls its children directly
//! still works, but its leaves run for real (on f32 zeros) and are not checked for tiling.

use deepnet_nn::layers::conv_arithmetic;
use deepnet_nn::onnx::{OnnxGraph, OnnxValue};
use deepnet_nn::{record_output, trace_layers, LayerRecord, Module};
use deepnet_tensor::{no_grad, DType, Error, Result, Tensor};
use std::cell::RefCell;

#[derive(Default)]
struct Probe {
    warnings: Vec<String>,
    /// the last 4-d shape a leaf produced (to explain a `Linear` after a flatten)
    last_map: Option<Vec<usize>>,
}

thread_local! {
    static PROBE: RefCell<Option<Probe>> = const { RefCell::new(None) };
}

fn probing() -> bool {
    PROBE.with(|p| p.borrow().is_some())
}

/// Checks that an input of `input_shape` (one sample, without the batch dim, e.g. `[3, 224,
/// 224]`) flows through `model`: returns the tiling warnings in execution order, or the first
/// error (an output size below 1, a channel or feature count mismatch) labelled with the layer
/// path and showing the arithmetic. See the module docs for what is simulated.
///
/// ```
/// use deepnet_models::{check_input, LeNet5, LeNet5Config};
/// use deepnet_nn::ParamStore;
/// let store = ParamStore::new(0);
/// let net = LeNet5::new(&LeNet5Config::default(), &store.root())?;
/// assert!(check_input(&net, &[1, 28, 28])?.is_empty());
/// let e = check_input(&net, &[1, 8, 8]).unwrap_err().to_string();
/// assert!(e.contains("features.3") && e.contains("(4 - 5 + 0)/1 + 1 < 1"), "{e}");
/// # Ok::<(), deepnet_tensor::Error>(())
/// ```
pub fn check_input(model: &dyn Module, input_shape: &[usize]) -> Result<Vec<String>> {
    probe(model, input_shape).map(|(_, w)| w)
}

/// [`check_input`] that also returns every leaf layer's output shape (batch 1), as
/// [`deepnet_nn::trace_layers`] records them in a real forward pass: a cheap summary of a big
/// model.
pub fn check_input_traced(
    model: &dyn Module,
    input_shape: &[usize],
) -> Result<(Vec<String>, Vec<LayerRecord>)> {
    let mut warnings = Vec::new();
    let (_, recs) = trace_layers(|| {
        let (y, w) = probe(model, input_shape)?;
        warnings = w;
        Ok(y)
    })?;
    Ok((warnings, recs))
}

fn probe(model: &dyn Module, input_shape: &[usize]) -> Result<(Tensor, Vec<String>)> {
    let _g = no_grad();
    let mut shape = vec![1];
    shape.extend_from_slice(input_shape);
    let x = Tensor::zeros(shape, DType::F32)?;
    let prev = PROBE.with(|p| p.borrow_mut().replace(Probe::default()));
    let r = walk(model, "", &x);
    let probe = PROBE.with(|p| std::mem::replace(&mut *p.borrow_mut(), prev));
    Ok((r?, probe.map(|p| p.warnings).unwrap_or_default()))
}

/// Calls child `m` of a container at the full dotted path `path`: its forward pass with errors
/// labelled `in module "<path>"` (unless they carry a path already), and, for a leaf, its output
/// noted for [`deepnet_nn::trace_layers`]. Under [`check_input`] it walks `m` instead. Every
/// container of the zoo calls its children through it.
pub fn forward_child(m: &dyn Module, path: &str, x: &Tensor) -> Result<Tensor> {
    if probing() {
        return walk(m, path, x);
    }
    let y = m.forward(x).map_err(|e| label(e, path))?;
    if m.children().is_empty() {
        record_output(path, m, &y);
    }
    Ok(y)
}

/// Exports child `m` of a container at the full dotted path `path` into an ONNX graph (see
/// [`Module::to_onnx`]), errors labelled with the path as [`forward_child`] does.
pub fn onnx_child(
    m: &dyn Module,
    path: &str,
    g: &mut OnnxGraph,
    x: &OnnxValue,
) -> Result<OnnxValue> {
    m.to_onnx(g, x).map_err(|e| label(e, path))
}

/// Labels `e` with `path` unless it is empty or `e` already names a module.
pub(crate) fn label(e: Error, path: &str) -> Error {
    if path.is_empty() || matches!(e, Error::InModule { .. }) {
        e
    } else {
        e.in_module(path)
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn walk(m: &dyn Module, path: &str, x: &Tensor) -> Result<Tensor> {
    let children = m.children();
    if m.describe() == "Sequential" {
        let mut h = x.clone();
        for (name, c) in children {
            h = walk(c, &join(path, &name), &h)?;
        }
        return Ok(h);
    }
    if !children.is_empty() {
        return m.forward(x).map_err(|e| label(e, path));
    }
    let y = leaf(m, path, x).map_err(|e| label(e, path))?;
    record_output(path, m, &y);
    if y.rank() == 4 {
        PROBE.with(|p| {
            if let Some(p) = p.borrow_mut().as_mut() {
                p.last_map = Some(y.dims().to_vec());
            }
        });
    }
    Ok(y)
}

/// A layer's repr split into positional arguments and `key=value` pairs.
struct Repr {
    name: String,
    positional: Vec<String>,
    keys: Vec<(String, String)>,
}

impl Repr {
    fn parse(s: &str) -> Repr {
        let (name, rest) = s.split_once('(').unwrap_or((s, ")"));
        let body = rest.strip_suffix(')').unwrap_or(rest);
        let (mut args, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
        for ch in body.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    args.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(ch);
        }
        args.push(cur);
        let mut r = Repr {
            name: name.trim().to_string(),
            positional: Vec::new(),
            keys: Vec::new(),
        };
        for a in args.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
            match a.split_once('=') {
                Some((k, v)) => r.keys.push((k.trim().into(), v.trim().into())),
                None => r.positional.push(a.to_string()),
            }
        }
        r
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `3` or `(3, 3)` as a pair; `default` when absent.
    fn pair(&self, key: &str, default: (usize, usize)) -> Result<(usize, usize)> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        let nums: Vec<usize> = v
            .trim_matches(|c| c == '(' || c == ')')
            .split(',')
            .map(|t| t.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::msg(format!("{}: cannot read {key}={v}", self.name)))?;
        match nums[..] {
            [a] => Ok((a, a)),
            [a, b] => Ok((a, b)),
            _ => Err(Error::msg(format!("{}: cannot read {key}={v}", self.name))),
        }
    }

    fn num(&self, i: usize, key: &str) -> Result<usize> {
        self.get(key)
            .or(self.positional.get(i).map(|s| s.as_str()))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::msg(format!("{}: cannot read {key}", self.name)))
    }
}

/// The geometry of one sliding-window layer.
struct Window {
    kind: String,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    ceil_mode: bool,
}

fn short(p: (usize, usize)) -> String {
    if p.0 == p.1 {
        p.0.to_string()
    } else {
        format!("{}x{}", p.0, p.1)
    }
}

/// `13.5`, `55.25`, `3.33`: a quotient as a short decimal.
fn decimal(num: usize, den: usize) -> String {
    let s = format!("{:.2}", num as f64 / den as f64);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Window {
    fn header(&self) -> String {
        let dil = if self.dilation == (1, 1) {
            String::new()
        } else {
            format!(", dilation {}", short(self.dilation))
        };
        let ceil = if self.ceil_mode { ", ceil_mode" } else { "" };
        format!(
            "{} {}x{}, stride {}, pad {}{dil}{ceil}",
            self.kind,
            self.kernel.0,
            self.kernel.1,
            short(self.stride),
            short(self.padding)
        )
    }

    /// The output size along one axis and, when the window does not tile the padded input,
    /// the explanation; an error when the output would be below 1.
    fn axis(
        &self,
        size: usize,
        a: usize,
        hw: (usize, usize),
        unit: &str,
    ) -> Result<(usize, Option<String>)> {
        let pick = |p: (usize, usize)| if a == 0 { p.0 } else { p.1 };
        let (k, s, p, d) = (
            pick(self.kernel),
            pick(self.stride),
            pick(self.padding),
            pick(self.dilation),
        );
        let f = d * (k.max(1) - 1) + 1;
        let (out, exact) = conv_arithmetic(size, k, s, p, d);
        let expr = format!("({size} - {f} + {})/{s} + 1", 2 * p);
        if out == 0 {
            return Err(Error::msg(format!(
                "{} on {}x{}: kernel {}x{} is larger than the padded input {}x{}: {expr} < 1",
                self.header(),
                hw.0,
                hw.1,
                self.dilation.0 * (self.kernel.0.max(1) - 1) + 1,
                self.dilation.1 * (self.kernel.1.max(1) - 1) + 1,
                hw.0 + 2 * self.padding.0,
                hw.1 + 2 * self.padding.1
            )));
        }
        if exact {
            return Ok((out, None));
        }
        let num = size + 2 * p - f;
        let r = num % s;
        let value = format!("{expr} = {} + 1 = {}", decimal(num, s), decimal(num + s, s));
        if self.ceil_mode && (out * s) < size + p {
            // ceil mode keeps a last, partial window when it starts inside the input
            return Ok((
                out + 1,
                Some(format!(
                    "{value}, rounded up to {}: the last window hangs {} past the padded input",
                    out + 1,
                    s - r
                )),
            ));
        }
        Ok((
            out,
            Some(format!(
                "{value}, rounded down to {out}: the last {r} {unit} of the padded input are never covered"
            )),
        ))
    }

    /// Output `(h, w)`; pushes a warning for axes that do not tile.
    fn check(&self, path: &str, (h, w): (usize, usize)) -> Result<(usize, usize)> {
        let square = h == w
            && self.kernel.0 == self.kernel.1
            && self.stride.0 == self.stride.1
            && self.padding.0 == self.padding.1
            && self.dilation.0 == self.dilation.1;
        let mut notes = Vec::new();
        let (oh, ow) = if square {
            let (o, note) = self.axis(h, 0, (h, w), "row(s) and column(s)")?;
            notes.extend(note);
            (o, o)
        } else {
            let (oh, nh) = self.axis(h, 0, (h, w), "row(s)")?;
            let (ow, nw) = self.axis(w, 1, (h, w), "column(s)")?;
            notes.extend(nh.map(|n| format!("height {n}")));
            notes.extend(nw.map(|n| format!("width {n}")));
            (oh, ow)
        };
        if !notes.is_empty() {
            let name = if path.is_empty() { "<root>" } else { path };
            let w = format!(
                "{name} ({}) on {h}x{w}: {}",
                self.header(),
                notes.join("; ")
            );
            PROBE.with(|p| {
                if let Some(p) = p.borrow_mut().as_mut() {
                    p.warnings.push(w);
                }
            });
        }
        Ok((oh, ow))
    }
}

fn spatial(r: &Repr, x: &Tensor) -> Result<(usize, usize)> {
    let d = x.dims();
    if !(3..=4).contains(&d.len()) {
        return Err(Error::msg(format!(
            "{} expects an input (N, C, H, W), got {}",
            r.name,
            x.shape()
        )));
    }
    Ok((d[d.len() - 2], d[d.len() - 1]))
}

fn channel_check(r: &Repr, x: &Tensor, want: usize, what: &str) -> Result<()> {
    let d = x.dims();
    if d.len() < 2 || d[1] != want {
        return Err(Error::msg(format!(
            "{} expects {want} input {what} but its input {} has {}",
            r.name,
            x.shape(),
            d.get(1).copied().unwrap_or(0)
        )));
    }
    Ok(())
}

/// One leaf layer: checked and simulated (or run, when cheap or unknown).
fn leaf(m: &dyn Module, path: &str, x: &Tensor) -> Result<Tensor> {
    let r = Repr::parse(&m.describe());
    match r.name.as_str() {
        "Conv2d" => {
            let (cin, cout) = (r.num(0, "in_channels")?, r.num(1, "out_channels")?);
            channel_check(&r, x, cin, "channels")?;
            let win = Window {
                kind: "Conv2d".into(),
                kernel: r.pair("kernel_size", (1, 1))?,
                stride: r.pair("stride", (1, 1))?,
                padding: r.pair("padding", (0, 0))?,
                dilation: r.pair("dilation", (1, 1))?,
                ceil_mode: false,
            };
            let (oh, ow) = win.check(path, spatial(&r, x)?)?;
            Tensor::zeros([x.dims()[0], cout, oh, ow], x.dtype())
        }
        "MaxPool2d" | "AvgPool2d" => {
            let kernel = r.pair("kernel_size", (1, 1))?;
            let win = Window {
                kind: r.name.clone(),
                kernel,
                stride: r.pair("stride", kernel)?,
                padding: r.pair("padding", (0, 0))?,
                dilation: r.pair("dilation", (1, 1))?,
                ceil_mode: r.get("ceil_mode") == Some("True"),
            };
            win.check(path, spatial(&r, x)?)?;
            m.forward(x)
        }
        "Linear" => {
            let (fin, fout) = (r.num(0, "in_features")?, r.num(1, "out_features")?);
            let d = x.dims();
            let got = d.last().copied().unwrap_or(0);
            if got != fin {
                let map = PROBE.with(|p| p.borrow().as_ref().and_then(|p| p.last_map.clone()));
                let flat = match map {
                    Some(s) if d.len() == 2 && s[1] * s[2] * s[3] == got => format!(
                        " = {}x{}x{} (the flattened {}x{}x{} maps before it)",
                        s[1], s[2], s[3], s[1], s[2], s[3]
                    ),
                    _ => String::new(),
                };
                return Err(Error::msg(format!(
                    "Linear expects {fin} input features but its input {} has {got}{flat}",
                    x.shape()
                )));
            }
            let mut out = d.to_vec();
            *out.last_mut().unwrap_or(&mut 0) = fout;
            Tensor::zeros(out, x.dtype())
        }
        "BatchNorm2d" | "BatchNorm1d" => {
            channel_check(&r, x, r.num(0, "num_features")?, "channels")?;
            Ok(x.clone())
        }
        "ReLU" | "LeakyReLU" | "Sigmoid" | "Tanh" | "Identity" | "Dropout" | "Dropout2d"
        | "Softmax" | "LogSoftmax" => Ok(x.clone()),
        _ => m.forward(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_parsing_and_arithmetic_text() {
        let r = Repr::parse("Conv2d(3, 64, kernel_size=(11, 7), stride=(4, 4), padding=(2, 2))");
        assert_eq!((r.num(0, "in").unwrap(), r.num(1, "out").unwrap()), (3, 64));
        assert_eq!(r.pair("kernel_size", (0, 0)).unwrap(), (11, 7));
        assert_eq!(r.pair("dilation", (1, 1)).unwrap(), (1, 1));
        let r = Repr::parse(
            "MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=True)",
        );
        assert_eq!(r.pair("stride", (0, 0)).unwrap(), (2, 2));
        assert_eq!(r.get("ceil_mode"), Some("True"));
        let r = Repr::parse("Linear(in_features=9216, out_features=4096, bias=True)");
        assert_eq!(r.num(0, "in_features").unwrap(), 9216);
        assert_eq!(decimal(217, 4), "54.25");
        assert_eq!(decimal(8, 2), "4");
    }
}
