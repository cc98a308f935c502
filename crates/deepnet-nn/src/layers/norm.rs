//! Normalization layers: batch normalization (`torch.nn.BatchNorm1d`/`BatchNorm2d`) and local
//! response normalization (`torch.nn.LocalResponseNorm`). Batch normalization is one fused
//! tensor op each way (`Tensor::batch_norm_train` with the batch's statistics,
//! `Tensor::batch_norm_eval` with the running ones); LRN is composed from differentiable tensor
//! ops, so its backward pass comes from autograd.

use super::{in_module, py_float};
use crate::onnx::{param_name, Attr, OnnxGraph, OnnxValue};
use crate::{Init, Module, ParamBuilder};
use deepnet_tensor::{no_grad, DType, Error, Result, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

/// A float as Python's `repr` prints it: `0.1`, `1.0`, `0.0001`, but `1e-05` below `1e-4`.
fn py_repr(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() || (1e-4..1e16).contains(&a) {
        return py_float(v);
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The options of a batch normalization layer, with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// added to the variance for numerical stability (default `1e-5`)
    pub eps: f64,
    /// weight of the new batch statistic in the running averages (default `0.1`):
    /// `running = (1 - momentum) * running + momentum * batch`
    pub momentum: f64,
    /// whether to learn a per-channel `weight` (scale) and `bias` (shift) (default true)
    pub affine: bool,
    /// whether to keep running statistics for evaluation (default true); without them the
    /// batch statistics are used in both modes
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
            track_running_stats: true,
        }
    }
}

/// Batch normalization over dim 1 of `x`, as `torch.nn.functional.batch_norm`.
///
/// With `training`, `x` is normalized with the statistics of the batch (the mean and the biased
/// variance over every dim but 1) and, when given, `running_mean`/`running_var` (shape `(C,)`,
/// leaves) are updated in place under `no_grad` with the batch mean and the *unbiased* batch
/// variance: `running = (1 - momentum) * running + momentum * batch`. Without `training`, the
/// running statistics are used (both must be given). `weight` and `bias` (shape `(C,)`) scale and
/// shift the result.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    x: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<Tensor> {
    if x.rank() < 2 {
        return Err(Error::Rank {
            op: "batch_norm",
            expected: "an input (N, C, *)".to_string(),
            got: x.shape().clone(),
        });
    }
    let c = x.dims()[1];
    for (t, what) in [
        (running_mean, "running_mean"),
        (running_var, "running_var"),
        (weight, "weight"),
        (bias, "bias"),
    ] {
        if let Some(t) = t.filter(|t| t.dims() != [c]) {
            return Err(Error::msg(format!(
                "batch_norm: {what} has shape {}, expected [{c}] for input {}",
                t.shape(),
                x.shape()
            )));
        }
    }
    if training {
        let n = x.numel() / c.max(1);
        if n <= 1 {
            return Err(Error::msg(format!(
                "batch_norm: expected more than 1 value per channel when training, got input {}",
                x.shape()
            )));
        }
        // one fused op: the statistics, the normalization and, backward, its closed form
        let (y, mean, var) = x.batch_norm_train(weight, bias, eps)?;
        if let (Some(rm), Some(rv)) = (running_mean, running_var) {
            let _g = no_grad();
            let unbiased = var.mul_scalar(n as f64 / (n - 1) as f64)?;
            rm.axpby_(1.0 - momentum, momentum, &mean)?;
            rv.axpby_(1.0 - momentum, momentum, &unbiased)?;
        }
        return Ok(y);
    }
    match (running_mean, running_var) {
        (Some(rm), Some(rv)) => x.batch_norm_eval(rm, rv, weight, bias, eps),
        _ => Err(Error::msg(
            "batch_norm: evaluation mode needs running_mean and running_var",
        )),
    }
}

/// The state and accessors shared by [`BatchNorm1d`] and [`BatchNorm2d`], which dereference to
/// it.
pub struct BatchNorm {
    kind: &'static str,
    num_features: usize,
    cfg: BatchNormConfig,
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    running_mean: Option<Tensor>,
    running_var: Option<Tensor>,
    num_batches_tracked: Option<Tensor>,
    training: AtomicBool,
    path: String,
}

impl BatchNorm {
    /// `BatchNormalization` on the running statistics (a layer without them, or one in
    /// training mode, normalizes with batch statistics, which an inference graph cannot).
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue, y: Tensor) -> Result<OnnxValue> {
        let bad =
            |why: &str| in_module(crate::onnx::unsupported(&self.describe(), why), &self.path);
        let (Some(mean), Some(var)) = (&self.running_mean, &self.running_var) else {
            return Err(bad(
                "it keeps no running statistics (track_running_stats=False)",
            ));
        };
        if self.training.load(Ordering::Relaxed) {
            return Err(bad(
                "in training mode; call set_training(false) before exporting",
            ));
        }
        let c = self.num_features;
        let name = |leaf: &str| param_name(&self.path, leaf);
        let scale = match &self.weight {
            Some(w) => g.weight(&name("weight"), w)?,
            None => g.weight(&name("onnx_scale"), &Tensor::ones([c], DType::F32)?)?,
        };
        let bias = match &self.bias {
            Some(b) => g.weight(&name("bias"), b)?,
            None => g.weight(&name("onnx_bias"), &Tensor::zeros([c], DType::F32)?)?,
        };
        let mean = g.weight(&name("running_mean"), mean)?;
        let var = g.weight(&name("running_var"), var)?;
        let eps = Attr::Float("epsilon", self.cfg.eps as f32);
        Ok(g.node(
            "BatchNormalization",
            &[&x.name, &scale, &bias, &mean, &var],
            &[eps],
            y,
        ))
    }

    fn new(
        kind: &'static str,
        num_features: usize,
        cfg: BatchNormConfig,
        pb: &ParamBuilder,
    ) -> Result<BatchNorm> {
        let bad = |m: String| Err(in_module(Error::msg(format!("{kind}: {m}")), pb.path()));
        if num_features == 0 {
            return bad("num_features must be at least 1".to_string());
        }
        if !(cfg.eps.is_finite() && cfg.eps >= 0.0) {
            return bad(format!("eps = {} must be finite and >= 0", cfg.eps));
        }
        if !cfg.momentum.is_finite() {
            return bad(format!("momentum = {} must be finite", cfg.momentum));
        }
        let (weight, bias) = if cfg.affine {
            (
                Some(pb.param("weight", [num_features], Init::Ones)?),
                Some(pb.param("bias", [num_features], Init::Zeros)?),
            )
        } else {
            (None, None)
        };
        let dt = pb.store().dtype();
        let (running_mean, running_var, num_batches_tracked) = if cfg.track_running_stats {
            (
                Some(pb.buffer("running_mean", Tensor::zeros([num_features], dt)?)?),
                Some(pb.buffer("running_var", Tensor::ones([num_features], dt)?)?),
                Some(pb.buffer("num_batches_tracked", Tensor::scalar(0i64))?),
            )
        } else {
            (None, None, None)
        };
        Ok(BatchNorm {
            kind,
            num_features,
            cfg,
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            training: AtomicBool::new(true),
            path: pb.path().to_string(),
        })
    }

    fn forward(&self, x: &Tensor, ranks: &[usize], expected: &str) -> Result<Tensor> {
        if !ranks.contains(&x.rank()) || x.dims()[1] != self.num_features {
            return Err(in_module(
                Error::msg(format!(
                    "{}: expected input {expected}, got {}",
                    self.kind,
                    x.shape()
                )),
                &self.path,
            ));
        }
        let training = self.training.load(Ordering::Relaxed);
        let y = batch_norm(
            x,
            self.running_mean.as_ref(),
            self.running_var.as_ref(),
            self.weight.as_ref(),
            self.bias.as_ref(),
            training || !self.cfg.track_running_stats,
            self.cfg.momentum,
            self.cfg.eps,
        )
        .map_err(|e| in_module(e, &self.path))?;
        if training {
            if let Some(nbt) = &self.num_batches_tracked {
                let _g = no_grad();
                let n = nbt.to_scalar::<i64>()?;
                nbt.assign_(&Tensor::scalar(n + 1))?;
            }
        }
        Ok(y)
    }

    fn describe(&self) -> String {
        format!(
            "{}({}, eps={}, momentum={}, affine={}, track_running_stats={})",
            self.kind,
            self.num_features,
            py_repr(self.cfg.eps),
            py_repr(self.cfg.momentum),
            py_bool(self.cfg.affine),
            py_bool(self.cfg.track_running_stats)
        )
    }
}

impl BatchNorm {
    /// The number of channels `C`.
    pub fn num_features(&self) -> usize {
        self.num_features
    }
    /// The options the layer was built with.
    pub fn config(&self) -> BatchNormConfig {
        self.cfg
    }
    /// The scale `(C,)`, when `affine`.
    pub fn weight(&self) -> Option<&Tensor> {
        self.weight.as_ref()
    }
    /// The shift `(C,)`, when `affine`.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
    /// The running mean `(C,)`, when tracking running statistics.
    pub fn running_mean(&self) -> Option<&Tensor> {
        self.running_mean.as_ref()
    }
    /// The running (unbiased) variance `(C,)`, when tracking running statistics.
    pub fn running_var(&self) -> Option<&Tensor> {
        self.running_var.as_ref()
    }
    /// The number of training batches seen (an int64 scalar), when tracking.
    pub fn num_batches_tracked(&self) -> Option<&Tensor> {
        self.num_batches_tracked.as_ref()
    }
    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training.load(Ordering::Relaxed)
    }
}

macro_rules! batch_norm_layer {
    ($name:ident, $ranks:expr, $expected:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Registered under the builder path, with PyTorch's `state_dict` names: parameters
        /// `weight` (ones) and `bias` (zeros) of shape `(C,)` when `affine`; buffers
        /// `running_mean` (zeros), `running_var` (ones) and `num_batches_tracked` (an int64
        /// scalar) when `track_running_stats`. Layers start in training mode: they normalize
        /// with the batch mean and biased variance and update the running statistics (with the
        /// unbiased variance); in evaluation they use the running statistics.
        pub struct $name(BatchNorm);

        impl $name {
            /// A new layer over `num_features` channels (`C`).
            pub fn new(
                num_features: usize,
                cfg: BatchNormConfig,
                pb: &ParamBuilder,
            ) -> Result<Self> {
                BatchNorm::new(stringify!($name), num_features, cfg, pb).map($name)
            }
        }

        impl std::ops::Deref for $name {
            type Target = BatchNorm;
            fn deref(&self) -> &BatchNorm {
                &self.0
            }
        }

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                let expected = format!($expected, c = self.0.num_features);
                self.0.forward(x, &$ranks, &expected)
            }
            fn set_training(&self, training: bool) {
                self.0.training.store(training, Ordering::Relaxed);
            }
            fn describe(&self) -> String {
                self.0.describe()
            }
            fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
                let y = self.forward(&x.example)?;
                self.0.to_onnx(g, x, y)
            }
        }
    };
}

batch_norm_layer!(
    BatchNorm2d,
    [4],
    "(N, {c}, H, W)",
    "Batch normalization of `(N, C, H, W)` inputs over `N, H, W` per channel, as \
     `torch.nn.BatchNorm2d`: `y = (x - mean) / sqrt(var + eps) * weight + bias`."
);

batch_norm_layer!(
    BatchNorm1d,
    [2, 3],
    "(N, {c}) or (N, {c}, L)",
    "Batch normalization of `(N, C)` or `(N, C, L)` inputs over `N` (and `L`) per channel, as \
     `torch.nn.BatchNorm1d`: `y = (x - mean) / sqrt(var + eps) * weight + bias`."
);

/// Local response normalization across channels, as `torch.nn.functional.local_response_norm`:
/// `b_c = a_c / (k + alpha / size * sum_{c'} a_{c'}^2)^beta`, the sum running over the window of
/// `size` channels from `c - size / 2` to `c + (size - 1) / 2` (missing channels count as zero).
/// `x: (N, C, *)` with at least one dim after `C`.
pub fn local_response_norm(
    x: &Tensor,
    size: usize,
    alpha: f64,
    beta: f64,
    k: f64,
) -> Result<Tensor> {
    if size == 0 {
        return Err(Error::msg("local_response_norm: size must be at least 1"));
    }
    if x.rank() < 3 {
        return Err(Error::Rank {
            op: "local_response_norm",
            expected: "an input (N, C, *) of 3 or more dims".to_string(),
            got: x.shape().clone(),
        });
    }
    if x.numel() == 0 {
        return Ok(x.clone());
    }
    let d = x.dims().to_vec();
    let (n, c) = (d[0], d[1]);
    let sq = x.square()?.reshape([n, c, x.numel() / (n * c)])?;
    let padded = sq.pad(&[0, 0, size / 2, (size - 1) / 2], 0.0)?;
    let mut sum = padded.narrow(1, 0, c)?;
    for i in 1..size {
        sum = sum.add(&padded.narrow(1, i, c)?)?;
    }
    let div = sum
        .reshape(d)?
        .div_scalar(size as f64)?
        .mul_scalar(alpha)?
        .add_scalar(k)?
        .pow_scalar(beta)?;
    x.div(&div)
}

/// Local response normalization (`torch.nn.LocalResponseNorm`); see [`local_response_norm`].
/// No parameters. Shapes: `(N, C, *)` -> the same.
#[derive(Clone, Debug)]
pub struct LocalResponseNorm {
    size: usize,
    alpha: f64,
    beta: f64,
    k: f64,
}

impl LocalResponseNorm {
    /// Normalization over `size` neighbouring channels (PyTorch's defaults: `alpha = 1e-4`,
    /// `beta = 0.75`, `k = 1.0`; AlexNet uses `size = 5, k = 2.0`).
    pub fn new(size: usize, alpha: f64, beta: f64, k: f64) -> Result<LocalResponseNorm> {
        if size == 0 {
            return Err(Error::msg("LocalResponseNorm: size must be at least 1"));
        }
        Ok(LocalResponseNorm {
            size,
            alpha,
            beta,
            k,
        })
    }

    /// The number of channels in the window.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl Module for LocalResponseNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        local_response_norm(x, self.size, self.alpha, self.beta, self.k)
    }

    fn describe(&self) -> String {
        format!(
            "LocalResponseNorm({}, alpha={}, beta={}, k={})",
            self.size,
            py_repr(self.alpha),
            py_repr(self.beta),
            py_repr(self.k)
        )
    }

    /// `LRN`; ONNX centres an even window one channel later than PyTorch, so only odd sizes
    /// are exported.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        if self.size.is_multiple_of(2) {
            return Err(crate::onnx::unsupported(
                &self.describe(),
                "an even size puts the window where ONNX's LRN does not",
            ));
        }
        let y = self.forward(&x.example)?;
        let attrs = [
            Attr::Int("size", self.size as i64),
            Attr::Float("alpha", self.alpha as f32),
            Attr::Float("beta", self.beta as f32),
            Attr::Float("bias", self.k as f32),
        ];
        Ok(g.node("LRN", &[&x.name], &attrs, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    fn bn2d(c: usize, cfg: BatchNormConfig, path: &str) -> (ParamStore, BatchNorm2d) {
        let store = ParamStore::with_dtype(0, DType::F64);
        let bn = BatchNorm2d::new(c, cfg, &store.root().push(path)).unwrap();
        (store, bn)
    }

    #[test]
    fn parameters_buffers_and_repr() {
        // the full state_dict names, shapes and dtypes are compared with PyTorch's in
        // tests/torch_norm.rs
        let (store, bn) = bn2d(64, BatchNormConfig::default(), "bn1");
        assert_eq!(store.keys()[4], "bn1.num_batches_tracked");
        assert_eq!((store.num_params(), store.buffers().len()), (128, 3));
        assert_eq!(bn.weight().unwrap().to_vec_f64(), vec![1.0; 64]);
        assert_eq!(bn.running_var().unwrap().to_vec_f64(), vec![1.0; 64]);
        assert_eq!(
            bn.describe(),
            "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
        );
        let cfg = BatchNormConfig {
            affine: false,
            track_running_stats: false,
            eps: 1e-3,
            momentum: 0.01,
        };
        let (store, bn) = bn2d(3, cfg, "b");
        assert!(store.keys().is_empty() && bn.weight().is_none());
        assert_eq!(
            bn.describe(),
            "BatchNorm2d(3, eps=0.001, momentum=0.01, affine=False, track_running_stats=False)"
        );
        assert!(BatchNorm2d::new(0, cfg, &store.root().push("z")).is_err());
        assert_eq!(py_repr(1.5e-7), "1.5e-07");
        assert_eq!(py_repr(2e20), "2e+20");
    }

    fn nbt(bn: &BatchNorm) -> i64 {
        bn.num_batches_tracked().unwrap().item().unwrap() as i64
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn train_updates_running_stats_and_eval_uses_them() {
        let (_s, bn) = bn2d(2, BatchNormConfig::default(), "bn");
        // channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3); channel 1 is 0
        let x = Tensor::from_vec(vec![1.0, 2.0, 0., 0., 3.0, 4.0, 0., 0.], [2, 2, 1, 2]).unwrap();
        let y = bn.forward(&x).unwrap().to_vec_f64();
        let s = (1.25f64 + 1e-5).sqrt();
        assert!(close(y[0], -1.5 / s) && y[2] == 0.0, "{y:?}");
        let rm = bn.running_mean().unwrap().to_vec_f64();
        let rv = bn.running_var().unwrap().to_vec_f64();
        assert!(close(rm[0], 0.25) && rm[1] == 0.0, "{rm:?}");
        assert!(
            close(rv[0], 0.9 + 0.1 * 5.0 / 3.0) && close(rv[1], 0.9),
            "{rv:?}"
        );
        assert_eq!(nbt(&bn), 1);
        bn.set_training(false);
        assert!(!bn.is_training());
        let y = bn.forward(&x).unwrap().to_vec_f64();
        assert!(close(y[0], (1.0 - rm[0]) / (rv[0] + 1e-5).sqrt()), "{y:?}");
        assert_eq!(
            bn.running_mean().unwrap().to_vec_f64(),
            rm,
            "eval changes nothing"
        );
        assert_eq!(nbt(&bn), 1);
        bn.set_training(true);
        bn.forward(&x).unwrap();
        assert_eq!(nbt(&bn), 2);
        // without running statistics, evaluation still normalizes with the batch statistics
        let cfg = BatchNormConfig {
            track_running_stats: false,
            ..Default::default()
        };
        let (_s, plain) = bn2d(2, cfg, "p");
        plain.set_training(false);
        assert!(close(plain.forward(&x).unwrap().to_vec_f64()[0], -1.5 / s));
    }

    #[test]
    fn errors_name_the_layer_and_shapes() {
        let (_s, bn) = bn2d(3, BatchNormConfig::default(), "features.1");
        let e = |x: Tensor| bn.forward(&x).unwrap_err().to_string();
        let pre = "in module \"features.1\": BatchNorm2d: expected input (N, 3, H, W), got";
        assert_eq!(e(seeded([2, 4, 5, 5], 0)), format!("{pre} [2, 4, 5, 5]"));
        assert_eq!(e(seeded([2, 3, 5], 0)), format!("{pre} [2, 3, 5]"));
        assert!(e(seeded([1, 3, 1, 1], 0)).contains("more than 1 value per channel"));
        let s = ParamStore::new(0);
        let b1 = BatchNorm1d::new(4, BatchNormConfig::default(), &s.root().push("bn")).unwrap();
        let e = b1.forward(&seeded([2, 3], 0)).unwrap_err().to_string();
        let want = "in module \"bn\": BatchNorm1d: expected input (N, 4) or (N, 4, L), got [2, 3]";
        assert_eq!(e, want);
        assert!(LocalResponseNorm::new(0, 1e-4, 0.75, 1.0).is_err());
        let lrn = LocalResponseNorm::new(5, 1e-4, 0.75, 2.0).unwrap();
        let want = "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2.0)";
        assert_eq!(lrn.describe(), want);
        let e = lrn.forward(&seeded([2, 3], 0)).unwrap_err().to_string();
        assert!(
            e.contains("local_response_norm") && e.contains("[2, 3]"),
            "{e}"
        );
    }

    #[test]
    fn gradcheck_batch_norm_train_and_eval() {
        let (_s, bn) = bn2d(3, BatchNormConfig::default(), "bn");
        let x = seeded([2, 3, 2, 3], 1);
        gradcheck("BatchNorm2d(train)", |t| bn.forward(&t[0]), &[x]).unwrap();
        let s = ParamStore::with_dtype(0, DType::F64);
        let b1 = BatchNorm1d::new(3, BatchNormConfig::default(), &s.root()).unwrap();
        gradcheck("BatchNorm1d", |t| b1.forward(&t[0]), &[seeded([5, 3], 8)]).unwrap();
        // weight and bias as inputs, in training (batch statistics) and evaluation
        let rm = seeded([3], 5);
        let rv = seeded([3], 6).abs().unwrap().add_scalar(0.5).unwrap();
        for (shape, training) in [
            (vec![4, 3], true),
            (vec![2, 3, 4], true),
            (vec![2, 3, 2], false),
        ] {
            let (rm, rv) = (Some(&rm), Some(&rv));
            let f = |t: &[Tensor]| {
                batch_norm(&t[0], rm, rv, Some(&t[1]), Some(&t[2]), training, 0.1, 1e-5)
            };
            let inputs = [seeded(shape, 4), seeded([3], 2), seeded([3], 3)];
            gradcheck("batch_norm(x, w, b)", f, &inputs).unwrap();
        }
    }

    #[test]
    fn local_response_norm_gradcheck_and_empty_input() {
        // values are compared with PyTorch in tests/torch_norm.rs
        for size in [1, 2, 4, 5, 7] {
            let lrn = LocalResponseNorm::new(size, 0.3, 0.75, 1.5).unwrap();
            let x = seeded([2, 4, 2, 3], 9);
            gradcheck("LocalResponseNorm", |t| lrn.forward(&t[0]), &[x]).unwrap();
        }
        let empty = Tensor::zeros([0, 3, 2, 2], DType::F64).unwrap();
        let y = local_response_norm(&empty, 3, 1e-4, 0.75, 1.0).unwrap();
        assert_eq!(y.dims(), [0, 3, 2, 2]);
    }
}
