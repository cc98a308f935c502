//! Gradient health: per-layer gradient and weight L2 norms every `n` steps, warnings for
//! vanishing and exploding gradients, a hard check for NaN/inf losses and gradients, and the
//! norm history for `gradient_norms.png`.
//!
//! A layer is a module path: a parameter's name without its final `.weight` or `.bias`
//! (`layers.0.weight` and `layers.0.bias` form layer `layers.0`). Layers keep registration order;
//! the last one is the output layer that vanishing gradients are measured against.

use crate::plot::Plot;
use deepnet_tensor::{no_grad, Error, GradStore, Tensor};
use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// The layer (module path) a parameter belongs to. Recurrent layers (`torch.nn.LSTM` keys such
/// as `rnn.weight_ih_l1_reverse`) hold one stack per depth and direction; each is its own layer,
/// named by the module path and the key's suffix (`rnn.l1_reverse`), so the monitor compares the
/// depths of a stacked RNN as it compares the layers of an MLP. A cell's parameters
/// (`cell.weight_ih`, `cell.bias_hh`) form the cell's layer.
pub fn layer_of(param: &str) -> Cow<'_, str> {
    if let Some(l) = param
        .strip_suffix(".weight")
        .or_else(|| param.strip_suffix(".bias"))
    {
        return Cow::Borrowed(l);
    }
    let (module, name) = param.rsplit_once('.').unwrap_or(("", param));
    // a recurrent cell's parameters (`cell.weight_ih`, `cell.weight_cf`) form one layer
    const CELL: [&str; 8] = [
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
        "weight_hr",
        "weight_ci",
        "weight_cf",
        "weight_co",
    ];
    match recurrent_suffix(name) {
        Some(suffix) if module.is_empty() => Cow::Owned(suffix.to_string()),
        Some(suffix) => Cow::Owned(format!("{module}.{suffix}")),
        None if !module.is_empty() && CELL.contains(&name) => Cow::Borrowed(module),
        None => Cow::Borrowed(param),
    }
}

/// `l1_reverse` for a recurrent parameter name `weight_ih_l1_reverse` (any `weight_*`/`bias_*`
/// with a `_l<depth>[_reverse]` suffix), else `None`.
fn recurrent_suffix(name: &str) -> Option<&str> {
    if !(name.starts_with("weight_") || name.starts_with("bias_")) {
        return None;
    }
    let i = name.rfind("_l")?;
    let suffix = &name[i + 1..];
    let depth = suffix[1..].strip_suffix("_reverse").unwrap_or(&suffix[1..]);
    (!depth.is_empty() && depth.bytes().all(|b| b.is_ascii_digit())).then_some(suffix)
}

/// A gradient-health warning (printed by the trainer, never fatal).
#[derive(Clone, Debug, PartialEq)]
pub enum Warning {
    /// A layer's gradient norm is more than `1 / vanishing_ratio` times below the output layer's.
    Vanishing {
        /// The step.
        step: usize,
        /// The layer whose gradient vanishes.
        layer: String,
        /// Its gradient L2 norm.
        grad_norm: f64,
        /// The output (last) layer.
        output_layer: String,
        /// The output layer's gradient L2 norm.
        output_grad_norm: f64,
    },
    /// A layer's gradient norm is above the explosion threshold.
    Exploding {
        /// The step.
        step: usize,
        /// The layer.
        layer: String,
        /// Its gradient L2 norm.
        grad_norm: f64,
        /// The threshold it exceeds.
        threshold: f64,
    },
}

impl Warning {
    /// The layer the warning is about.
    pub fn layer(&self) -> &str {
        match self {
            Warning::Vanishing { layer, .. } | Warning::Exploding { layer, .. } => layer,
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Vanishing {
                step,
                layer,
                grad_norm,
                output_layer,
                output_grad_norm,
            } => write!(
                f,
                "step {step}: VANISHING gradient in layer \"{layer}\": grad norm {grad_norm:.3e} vs \
                 {output_grad_norm:.3e} at the output layer \"{output_layer}\" ({:.1} orders of \
                 magnitude below)",
                (output_grad_norm / grad_norm).log10()
            ),
            Warning::Exploding {
                step,
                layer,
                grad_norm,
                threshold,
            } => write!(
                f,
                "step {step}: EXPLODING gradient in layer \"{layer}\": grad norm {grad_norm:.3e} \
                 exceeds {threshold:.1e}"
            ),
        }
    }
}

/// One layer's recorded `(step, grad_norm, weight_norm)` points, with the layer's name.
pub type LayerHistory = (String, Vec<(usize, f64, f64)>);

/// Records per-layer gradient and weight norms every `every_n_steps` steps and flags unhealthy
/// gradients.
#[derive(Clone, Debug)]
pub struct GradientMonitor {
    every_n_steps: usize,
    /// A layer whose gradient norm is below `vanishing_ratio` times the output layer's is
    /// reported as vanishing (default `1e-3`: three orders of magnitude).
    pub vanishing_ratio: f64,
    /// A layer whose gradient norm exceeds this is reported as exploding (default `1e3`).
    pub exploding_threshold: f64,
    history: Vec<LayerHistory>,
}

/// The L2 norm of a tensor as f64, without recording a graph.
fn l2(t: &Tensor) -> deepnet_tensor::Result<f64> {
    if t.numel() == 0 {
        return Ok(0.0);
    }
    t.norm_all(2.0)?.item()
}

impl GradientMonitor {
    /// A monitor that records on steps divisible by `every_n_steps` (0 is treated as 1).
    pub fn new(every_n_steps: usize) -> Self {
        GradientMonitor {
            every_n_steps: every_n_steps.max(1),
            vanishing_ratio: 1e-3,
            exploding_threshold: 1e3,
            history: Vec::new(),
        }
    }

    /// Whether `step` is one the monitor records.
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; the MSRV is 1.80
    pub fn due(&self, step: usize) -> bool {
        step % self.every_n_steps == 0
    }

    /// Per-layer `(layer, grad_norm, weight_norm)` for the parameters that have a gradient in
    /// `grads`, layers in registration order. Layers without any gradient (frozen) are left out.
    pub fn layer_norms(
        params: &[(String, Tensor)],
        grads: &GradStore,
    ) -> deepnet_tensor::Result<Vec<(String, f64, f64)>> {
        let _guard = no_grad();
        // (layer, sum of squared grad norms, sum of squared weight norms)
        let mut layers: Vec<(String, f64, f64)> = Vec::new();
        for (name, p) in params {
            let Some(g) = grads.get(p) else { continue };
            let layer = layer_of(name);
            let (gn, wn) = (l2(g)?, l2(p)?);
            match layers.iter_mut().find(|(l, _, _)| *l == layer) {
                Some(e) => {
                    e.1 += gn * gn;
                    e.2 += wn * wn;
                }
                None => layers.push((layer.to_string(), gn * gn, wn * wn)),
            }
        }
        Ok(layers
            .into_iter()
            .map(|(l, g2, w2)| (l, g2.sqrt(), w2.sqrt()))
            .collect())
    }

    /// On due steps, records every layer's gradient and weight norms and returns the warnings;
    /// on other steps does nothing and returns no warnings. `params` are the named parameters in
    /// registration order (`ParamStore::trainable()`), `grads` the result of `backward()`.
    pub fn record(
        &mut self,
        step: usize,
        params: &[(String, Tensor)],
        grads: &GradStore,
    ) -> deepnet_tensor::Result<Vec<Warning>> {
        if !self.due(step) {
            return Ok(Vec::new());
        }
        let norms = Self::layer_norms(params, grads)?;
        for (layer, g, w) in &norms {
            match self.history.iter_mut().find(|(l, _)| l == layer) {
                Some((_, h)) => h.push((step, *g, *w)),
                None => self.history.push((layer.clone(), vec![(step, *g, *w)])),
            }
        }
        Ok(self.warnings(step, &norms))
    }

    fn warnings(&self, step: usize, norms: &[(String, f64, f64)]) -> Vec<Warning> {
        let mut out = Vec::new();
        let Some((output_layer, output_norm, _)) = norms.last() else {
            return out;
        };
        for (i, (layer, g, _)) in norms.iter().enumerate() {
            if *g > self.exploding_threshold {
                out.push(Warning::Exploding {
                    step,
                    layer: layer.clone(),
                    grad_norm: *g,
                    threshold: self.exploding_threshold,
                });
            }
            if i + 1 < norms.len()
                && output_norm.is_finite()
                && *g < output_norm * self.vanishing_ratio
            {
                out.push(Warning::Vanishing {
                    step,
                    layer: layer.clone(),
                    grad_norm: *g,
                    output_layer: output_layer.clone(),
                    output_grad_norm: *output_norm,
                });
            }
        }
        out
    }

    /// The recorded norms: per layer (registration order) its `(step, grad_norm, weight_norm)`.
    pub fn history(&self) -> &[LayerHistory] {
        &self.history
    }

    /// Writes the per-layer gradient norms over steps on a log scale (`gradient_norms.png`),
    /// atomically.
    pub fn write_plot(&self, path: impl AsRef<Path>) -> crate::Result<()> {
        let series: Vec<(&str, Vec<(f64, f64)>)> = self
            .history
            .iter()
            .map(|(l, h)| {
                (
                    l.as_str(),
                    h.iter().map(|&(s, g, _)| (s as f64, g)).collect(),
                )
            })
            .collect();
        Plot::new("gradient L2 norm per layer")
            .x_label("step")
            .y_label("gradient L2 norm")
            .log_y(true)
            .draw(path, &series)
    }
}

/// Counts of NaN and infinite elements of a tensor.
fn non_finite(t: &Tensor) -> deepnet_tensor::Result<(usize, usize)> {
    let _guard = no_grad();
    // fast path: the sum is finite only when every element is finite (or an overflow happened,
    // which the exact count below sorts out)
    if t.numel() == 0 || t.sum_all()?.item()?.is_finite() {
        return Ok((0, 0));
    }
    let v = t.to_vec_f64();
    Ok((
        v.iter().filter(|x| x.is_nan()).count(),
        v.iter().filter(|x| x.is_infinite()).count(),
    ))
}

/// Fails when the loss or any gradient is NaN or infinite, naming `loss` or the layer and the
/// parameter (training cannot recover from either; the error says where it started).
pub fn check_finite(
    loss: f64,
    params: &[(String, Tensor)],
    grads: &GradStore,
) -> Result<(), Error> {
    if !loss.is_finite() {
        return Err(Error::msg(format!(
            "non-finite loss: {loss} (lower the learning rate, or check the inputs)"
        )));
    }
    for (name, p) in params {
        let Some(g) = grads.get(p) else { continue };
        let (nan, inf) = non_finite(g)?;
        if nan + inf > 0 {
            return Err(Error::msg(format!(
                "non-finite gradient in layer \"{}\" (parameter \"{name}\", shape {}): {nan} NaN \
                 and {inf} infinite of {} elements",
                layer_of(name),
                g.shape(),
                g.numel()
            )));
        }
    }
    Ok(())
}

/// The L2 norm of `grad`'s slice at each index of dimension `time_dim`: for the gradient of a
/// loss with respect to a sequence input `(L, N, F)` and `time_dim = 0`, the `L` norms
/// `||dL/dx_t||` (over the batch and the features), in step order. Computed in f64 from the
/// host copy, so the result does not depend on the number of threads. A zero-sized time
/// dimension gives no norms; a slice with no elements has norm 0.
///
/// Plotted on a log scale against `t` ([`write_time_step_plot`]), these show how far back in a
/// sequence the loss still reaches: for an Elman RNN they fall roughly exponentially with the
/// distance from the step the loss reads (the vanishing gradient through time).
pub fn time_step_grad_norms(grad: &Tensor, time_dim: usize) -> deepnet_tensor::Result<Vec<f64>> {
    let dims = grad.dims();
    if time_dim >= dims.len() {
        return Err(Error::DimOutOfRange {
            op: "time_step_grad_norms",
            dim: time_dim as isize,
            rank: dims.len(),
            shape: grad.shape().clone(),
        });
    }
    let steps = dims[time_dim];
    let outer: usize = dims[..time_dim].iter().product();
    let inner: usize = dims[time_dim + 1..].iter().product();
    let mut sq = vec![0.0f64; steps];
    if grad.numel() > 0 {
        let v = grad.to_vec_f64();
        for o in 0..outer {
            for (t, s) in sq.iter_mut().enumerate() {
                let start = (o * steps + t) * inner;
                *s += v[start..start + inner].iter().map(|x| x * x).sum::<f64>();
            }
        }
    }
    Ok(sq.into_iter().map(f64::sqrt).collect())
}

/// Writes per-time-step gradient norms (from [`time_step_grad_norms`]) as one line per
/// `(name, norms)` series, x = time step (`norms[t]` at `t`), log-scale y, to the PNG `path`,
/// atomically. Zero norms (and non-finite ones) are left out, as on any log-scale plot.
pub fn write_time_step_plot(
    path: impl AsRef<Path>,
    series: &[(&str, Vec<f64>)],
) -> crate::Result<()> {
    write_time_step_plot_titled(path, "gradient L2 norm per time step", series)
}

/// [`write_time_step_plot`] with a title of the caller's choosing.
pub fn write_time_step_plot_titled(
    path: impl AsRef<Path>,
    title: &str,
    series: &[(&str, Vec<f64>)],
) -> crate::Result<()> {
    let points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, norms)| {
            let pts = norms
                .iter()
                .enumerate()
                .map(|(t, &n)| (t as f64, n))
                .collect();
            (*name, pts)
        })
        .collect();
    Plot::new(title)
        .x_label("time step t")
        .y_label("||dL/dx_t||")
        .log_y(true)
        .draw(path, &points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::temp_dir;

    /// Parameters of a 3-layer net and gradients filled with a per-layer constant.
    fn net(grad_scale: [f32; 3]) -> (Vec<(String, Tensor)>, GradStore) {
        let mut params = Vec::new();
        let mut grads = GradStore::new();
        for (i, name) in ["layers.0", "layers.1", "head"].iter().enumerate() {
            for (suffix, shape) in [("weight", vec![4, 4]), ("bias", vec![4])] {
                let n: usize = shape.iter().product();
                let p = Tensor::from_vec(vec![0.5f32; n], shape.clone())
                    .unwrap()
                    .requires_grad_(true)
                    .unwrap();
                let g = Tensor::from_vec(vec![grad_scale[i]; n], shape).unwrap();
                grads.insert(&p, g);
                params.push((format!("{name}.{suffix}"), p));
            }
        }
        (params, grads)
    }

    #[test]
    fn vanishing_layer_is_named() {
        let (params, grads) = net([1e-7, 1e-2, 1.0]);
        let mut m = GradientMonitor::new(10);
        assert!(m.record(5, &params, &grads).unwrap().is_empty(), "not due");
        assert!(m.history().is_empty());
        let w = m.record(10, &params, &grads).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].layer(), "layers.0");
        let msg = w[0].to_string();
        assert!(
            msg.contains("VANISHING") && msg.contains("\"layers.0\"") && msg.contains("\"head\"")
        );
        // 20 elements per layer: norm = scale * sqrt(20)
        let Warning::Vanishing {
            grad_norm,
            output_grad_norm,
            ..
        } = &w[0]
        else {
            panic!()
        };
        assert!((grad_norm - 1e-7 * 20f64.sqrt()).abs() < 1e-12);
        assert!((output_grad_norm - 20f64.sqrt()).abs() < 1e-5);
        assert!(msg.contains(&format!("{grad_norm:.3e}")), "{msg}");
        // history: three layers, one record each, weight norm 0.5 * sqrt(20)
        let h = m.history();
        let names: Vec<&str> = h.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(names, ["layers.0", "layers.1", "head"]);
        assert_eq!(h[2].1.len(), 1);
        assert_eq!(h[2].1[0].0, 10);
        assert!((h[2].1[0].2 - 0.5 * 20f64.sqrt()).abs() < 1e-5);
    }

    #[test]
    fn exploding_and_thresholds() {
        let (params, grads) = net([1.0, 5e3, 1.0]);
        let mut m = GradientMonitor::new(1);
        let w = m.record(3, &params, &grads).unwrap();
        assert_eq!(w.len(), 1);
        assert!(matches!(&w[0], Warning::Exploding { layer, .. } if layer == "layers.1"));
        assert!(w[0].to_string().contains("EXPLODING"));
        m.exploding_threshold = 1e6;
        assert!(m.record(4, &params, &grads).unwrap().is_empty());
        let (params, grads) = net([1e-2, 1.0, 1.0]);
        m.vanishing_ratio = 0.1;
        let w = m.record(5, &params, &grads).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].layer(), "layers.0");
        let d = temp_dir("monitor");
        let p = d.join("gradient_norms.png");
        m.write_plot(&p).unwrap();
        assert_eq!(&std::fs::read(&p).unwrap()[..4], b"\x89PNG");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn frozen_params_are_skipped() {
        let (params, mut grads) = net([1.0, 1.0, 1.0]);
        for i in [0, 1, 3] {
            let p = &params[i].1;
            grads.remove(p);
        }
        let norms = GradientMonitor::layer_norms(&params, &grads).unwrap();
        let names: Vec<&str> = norms.iter().map(|(l, _, _)| l.as_str()).collect();
        assert_eq!(names, ["layers.1", "head"]);
        // layers.1 now only has its weight's gradient
        assert!((norms[0].1 - 4.0).abs() < 1e-6);
    }

    #[test]
    fn nan_gradient_is_an_error_naming_the_layer() {
        let (params, grads) = net([1.0, f32::NAN, 1.0]);
        let e = check_finite(0.5, &params, &grads).unwrap_err().to_string();
        assert!(
            e.contains("\"layers.1\"") && e.contains("layers.1.weight"),
            "{e}"
        );
        assert!(e.contains("16 NaN"), "{e}");
        let (params, grads) = net([1.0, 1.0, f32::INFINITY]);
        let e = check_finite(0.5, &params, &grads).unwrap_err().to_string();
        assert!(e.contains("\"head\"") && e.contains("16 infinite"), "{e}");
        let (params, grads) = net([1.0, 1.0, 1.0]);
        check_finite(0.5, &params, &grads).unwrap();
        let e = check_finite(f64::NAN, &params, &grads)
            .unwrap_err()
            .to_string();
        assert!(e.contains("loss"), "{e}");
        // finite values whose f32 sum overflows are not reported
        let (params, grads) = net([3e37, 1.0, 1.0]);
        check_finite(0.5, &params, &grads).unwrap();
    }

    #[test]
    fn layer_names() {
        assert_eq!(layer_of("features.0.weight"), "features.0");
        assert_eq!(layer_of("fc.bias"), "fc");
        assert_eq!(layer_of("cls_token"), "cls_token");
        assert_eq!(layer_of("bn.weight_extra"), "bn.weight_extra");
        // recurrent stacks: one layer per depth and direction
        assert_eq!(layer_of("rnn.weight_ih_l0"), "rnn.l0");
        assert_eq!(layer_of("rnn.bias_hh_l0"), "rnn.l0");
        assert_eq!(
            layer_of("encoder.lstm.weight_hr_l1_reverse"),
            "encoder.lstm.l1_reverse"
        );
        assert_eq!(layer_of("weight_ci_l2"), "l2");
        assert_eq!(layer_of("cell.weight_ih"), "cell");
        assert_eq!(layer_of("cell.weight_cf"), "cell");
        assert_eq!(layer_of("rnn.weight_ih_lx"), "rnn.weight_ih_lx");
        assert_eq!(layer_of("rnn.weight_ih_l"), "rnn.weight_ih_l");
    }

    #[test]
    fn time_step_norms_of_a_sequence_gradient() {
        // (L, N, F) = (3, 2, 2): step t holds the values t+1 in batch 0 and 2(t+1) in batch 1,
        // so ||g_t|| = sqrt(2 (t+1)^2 + 2 (2(t+1))^2) = (t+1) sqrt(10)
        let mut v = Vec::new();
        for t in 0..3 {
            let a = (t + 1) as f32;
            v.extend([a, a, 2.0 * a, 2.0 * a]);
        }
        let g = Tensor::from_vec(v, vec![3, 2, 2]).unwrap();
        let n = time_step_grad_norms(&g, 0).unwrap();
        assert_eq!(n.len(), 3);
        for (t, x) in n.iter().enumerate() {
            assert!((x - (t + 1) as f64 * 10f64.sqrt()).abs() < 1e-9, "{n:?}");
        }
        // batch-first (N, L, F) = (2, 3, 2), time in dim 1: the same norms
        let bf = g.transpose(0, 1).unwrap();
        let m = time_step_grad_norms(&bf, 1).unwrap();
        for (a, b) in n.iter().zip(&m) {
            assert!((a - b).abs() < 1e-9, "{n:?} vs {m:?}");
        }
        // the last dim as the time dim (no features after it): norms of columns
        let col = time_step_grad_norms(&g, 2).unwrap();
        let expect = (1..=3).map(|a| (a * a) as f64 * 5.0).sum::<f64>().sqrt();
        assert_eq!(col.len(), 2);
        assert!(col.iter().all(|c| (c - expect).abs() < 1e-9), "{col:?}");
        // empty: a zero-length time dim gives no norms, an empty batch gives zeros
        let e = Tensor::from_vec(Vec::<f32>::new(), vec![0, 2, 2]).unwrap();
        assert!(time_step_grad_norms(&e, 0).unwrap().is_empty());
        let e = Tensor::from_vec(Vec::<f32>::new(), vec![4, 0, 2]).unwrap();
        assert_eq!(time_step_grad_norms(&e, 0).unwrap(), vec![0.0; 4]);
        // a time dim past the rank is an error naming the op and the shape
        let err = time_step_grad_norms(&g, 3).unwrap_err().to_string();
        assert!(
            err.contains("time_step_grad_norms") && err.contains("rank 3"),
            "{err}"
        );
    }

    #[test]
    fn time_step_plot_is_a_png() {
        let d = temp_dir("time-steps");
        let p = d.join("time.png");
        // a zero norm (vanished to underflow) is skipped on the log axis, not an error
        let rnn: Vec<f64> = (0..50).map(|t| 0.8f64.powi(49 - t)).collect();
        let mut lstm = vec![0.5; 50];
        lstm[0] = 0.0;
        write_time_step_plot(&p, &[("rnn", rnn), ("lstm", lstm)]).unwrap();
        let png = std::fs::read(&p).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        // written atomically: nothing but the PNG is left in the folder
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("time.png")]);
        // into a missing folder: an error naming the file
        let bad = d.join("missing").join("t.png");
        let err = write_time_step_plot(&bad, &[("x", vec![1.0])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.png"), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
