//! Inverted dropout (`torch.nn.Dropout`) and channel dropout (`torch.nn.Dropout2d`).
//!
//! **`p` is the probability of dropping**, as in PyTorch and Keras: `Dropout::new(0.2, pb)` zeroes
//! about 20% of the elements in training and scales the other 80% by `1 / 0.8`. The original
//! dropout paper and the canon's slides use `p` for the opposite, the probability of *keeping* a
//! unit, so their `p = 0.8` is `p = 0.2` here. [`Dropout::from_keep_prob`] (and
//! [`Dropout2d::from_keep_prob`]) take that reading: `Dropout::from_keep_prob(0.8, pb)` is the
//! same layer as `Dropout::new(0.2, pb)`.
//!
//! Both readings build the same inverted dropout: the survivors are scaled up during training, so
//! evaluation is the identity. (The paper instead leaves training unscaled and multiplies the
//! weights by the keep probability at test time; the expected activations are the same.)

use super::{in_module, py_float};
use crate::onnx::{OnnxGraph, OnnxValue};
use crate::{functional, Module, ParamBuilder};
use deepnet_tensor::{Error, Generator, Result, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// What both dropout layers hold: the drop probability, the mode, and their own generator,
/// seeded from the parameter store's when the layer is built, so a seeded store reproduces a
/// whole run. Layers start in training mode.
struct DropState {
    p: f64,
    training: AtomicBool,
    gen: Arc<Mutex<Generator>>,
    path: String,
}

impl DropState {
    fn new(p: f64, pb: &ParamBuilder) -> Result<DropState> {
        functional::check_dropout_p(p).map_err(|e| in_module(e, pb.path()))?;
        Ok(DropState {
            p,
            training: AtomicBool::new(true),
            gen: pb.generator(),
            path: pb.path().to_string(),
        })
    }

    /// The layer with keep probability `q`, stored as `p = 1 - q` so that both readings share
    /// one code path. For `q >= 0.5` the forward pass's `1 - p` is `q` exactly (the subtractions
    /// are exact there); below that it may differ from `q` in the last bit.
    fn from_keep_prob(q: f64, pb: &ParamBuilder) -> Result<DropState> {
        // `1 - q < 1` also rejects a positive q so small that 1 - q rounds to 1 (drop everything);
        // NaN fails both comparisons
        if !(q <= 1.0 && 1.0 - q < 1.0) {
            let e = Error::InvalidArgument {
                op: "dropout",
                msg: format!("keep probability q = {q} must be in (0, 1]"),
            };
            return Err(in_module(e, pb.path()));
        }
        DropState::new(1.0 - q, pb)
    }

    fn is_training(&self) -> bool {
        self.training.load(Ordering::Relaxed)
    }

    /// Whether a forward pass drops anything (training, and p > 0).
    fn active(&self) -> bool {
        self.is_training() && self.p > 0.0
    }

    /// The identity node of an evaluation-mode export; a layer still in training mode (which
    /// would drop) is an error naming it (`what` is its description).
    fn to_onnx(&self, what: &str, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        if self.active() {
            return Err(in_module(
                crate::onnx::unsupported(
                    what,
                    "in training mode; call set_training(false) before exporting",
                ),
                &self.path,
            ));
        }
        Ok(g.node("Identity", &[&x.name], &[], x.example.clone()))
    }

    fn generator(&self) -> std::sync::MutexGuard<'_, Generator> {
        crate::params::lock(&self.gen)
    }
}

/// Zeroes each element with probability `p` in training and scales the kept ones by
/// `1 / (1 - p)`; the identity in evaluation (`torch.nn.Dropout`). Layers start in training mode
/// and draw from their own generator, seeded from the parameter store's when built.
///
/// `p` is the *drop* probability (PyTorch's reading). The canon's slides write `p` for the *keep*
/// probability; build from that reading with [`Dropout::from_keep_prob`]: `from_keep_prob(0.8)`
/// and `new(0.2)` both drop 20% and scale by `1 / 0.8`.
///
/// Shapes: `(*)` -> `(*)`.
pub struct Dropout(DropState);

impl Dropout {
    /// A dropout layer with drop probability `p` in `[0, 1)` (PyTorch's default is 0.5).
    pub fn new(p: f64, pb: &ParamBuilder) -> Result<Dropout> {
        DropState::new(p, pb).map(Dropout)
    }

    /// A dropout layer that keeps each element with probability `q` in `(0, 1]`: the canon's
    /// (and the dropout paper's) reading of `p`. It is `Dropout::new(1 - q, pb)`, so it reports
    /// `p() = 1 - q` (`0.19999999999999996` for `q = 0.8`, as PyTorch prints
    /// `nn.Dropout(1 - 0.8)`), and with the same store seed it draws the same masks. `q = 1`
    /// keeps everything; `q = 0` would keep nothing and is an error.
    pub fn from_keep_prob(q: f64, pb: &ParamBuilder) -> Result<Dropout> {
        DropState::from_keep_prob(q, pb).map(Dropout)
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.0.p
    }

    /// The keep probability `1 - p` (the canon's `p`).
    pub fn keep_prob(&self) -> f64 {
        1.0 - self.0.p
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.0.is_training()
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = &self.0;
        if !s.active() {
            return Ok(x.clone());
        }
        functional::dropout(x, s.p, true, &mut s.generator()).map_err(|e| in_module(e, &s.path))
    }

    fn set_training(&self, training: bool) {
        self.0.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", py_float(self.0.p))
    }

    /// The identity: the export is of the evaluation-mode graph.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        self.0.to_onnx(&self.describe(), g, x)
    }
}

/// Zeroes whole channels with probability `p` in training and scales the kept ones by
/// `1 / (1 - p)`; the identity in evaluation (`torch.nn.Dropout2d`). One Bernoulli draw per
/// `(sample, channel)` is broadcast over the spatial dims. Layers start in training mode, and
/// draw from their own generator, seeded from the parameter store's when built.
///
/// `p` is the probability of *dropping* a channel, as in [`Dropout`]; for the canon's keep
/// probability use [`Dropout2d::from_keep_prob`].
///
/// Shapes: `(N, C, H, W)` -> the same; a 3-d input is taken as `(N, C, L)` (PyTorch's current
/// behaviour) and zeroes whole `L` rows.
pub struct Dropout2d(DropState);

impl Dropout2d {
    /// A channel dropout layer with drop probability `p` in `[0, 1)` (PyTorch's default is 0.5).
    pub fn new(p: f64, pb: &ParamBuilder) -> Result<Dropout2d> {
        DropState::new(p, pb).map(Dropout2d)
    }

    /// A channel dropout layer that keeps each channel with probability `q` in `(0, 1]` (the
    /// canon's reading); `Dropout2d::new(1 - q, pb)`, as [`Dropout::from_keep_prob`].
    pub fn from_keep_prob(q: f64, pb: &ParamBuilder) -> Result<Dropout2d> {
        DropState::from_keep_prob(q, pb).map(Dropout2d)
    }

    /// The drop probability of a channel.
    pub fn p(&self) -> f64 {
        self.0.p
    }

    /// The keep probability of a channel, `1 - p`.
    pub fn keep_prob(&self) -> f64 {
        1.0 - self.0.p
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.0.is_training()
    }

    fn channel_dropout(&self, x: &Tensor) -> Result<Tensor> {
        if !(3..=4).contains(&x.rank()) {
            return Err(Error::Rank {
                op: "dropout2d",
                expected: "an input (N, C, H, W) or (N, C, L)".to_string(),
                got: x.shape().clone(),
            });
        }
        if !x.dtype().is_float() {
            return Err(Error::DType {
                op: "dropout2d",
                expected: "float32 or float64",
                got: x.dtype(),
            });
        }
        let mut mask_shape = vec![1usize; x.rank()];
        mask_shape[..2].copy_from_slice(&x.dims()[..2]);
        let keep = 1.0 - self.0.p;
        let mask = Tensor::bernoulli(mask_shape, keep, x.dtype(), &mut self.0.generator())?
            .to_device(x.device())?;
        x.mul(&mask.mul_scalar(1.0 / keep)?)
    }
}

impl Module for Dropout2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.0.active() {
            return Ok(x.clone());
        }
        self.channel_dropout(x)
            .map_err(|e| in_module(e, &self.0.path))
    }

    fn set_training(&self, training: bool) {
        self.0.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!("Dropout2d(p={})", py_float(self.0.p))
    }

    /// The identity: the export is of the evaluation-mode graph.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        self.0.to_onnx(&self.describe(), g, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use deepnet_tensor::testing::gradcheck;
    use deepnet_tensor::DType;

    #[test]
    fn training_eval_and_reproducibility() {
        let x = Tensor::ones([2000], DType::F32).unwrap();
        let run = |seed| {
            let store = ParamStore::new(seed);
            let d = Dropout::new(0.5, &store.root().push("drop")).unwrap();
            assert!(d.is_training());
            let a = d.forward(&x).unwrap().to_vec::<f32>().unwrap();
            let b = d.forward(&x).unwrap().to_vec::<f32>().unwrap();
            d.set_training(false);
            assert!(!d.is_training());
            assert_eq!(
                d.forward(&x).unwrap().to_vec::<f32>().unwrap(),
                vec![1.0; 2000]
            );
            (a, b)
        };
        let (a, b) = run(3);
        // kept units are scaled by 1 / (1 - 0.5) = 2
        assert!(a.iter().all(|&v| v == 0.0 || v == 2.0));
        let kept = a.iter().filter(|&&v| v == 2.0).count();
        assert!((900..1100).contains(&kept), "{kept}");
        assert_ne!(a, b, "each call draws a fresh mask");
        assert_eq!(
            run(3),
            (a.clone(), b),
            "the same store seed gives the same masks"
        );
        assert_ne!(run(4).0, a);
    }

    #[test]
    fn bad_p_and_repr() {
        let store = ParamStore::new(0);
        let e = Dropout::new(1.0, &store.root().push("d"))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "in module \"d\": dropout: probability p = 1 must be in [0, 1)"
        );
        assert!(Dropout::new(-0.5, &store.root()).is_err());
        assert!(Dropout::new(f64::NAN, &store.root()).is_err());
        let d = Dropout::new(0.5, &store.root()).unwrap();
        assert_eq!(d.describe(), "Dropout(p=0.5)");
        assert_eq!(d.p(), 0.5);
        assert_eq!(
            Dropout::new(0.0, &store.root()).unwrap().describe(),
            "Dropout(p=0.0)"
        );
        // integer input in training is an error naming the dtype, not a panic
        let i = Tensor::from_vec(vec![1i64, 2], [2]).unwrap();
        assert!(d.forward(&i).is_err());
    }

    #[test]
    fn drop_and_keep_readings_build_the_same_layer() {
        // p = 0.2 rather than 0.5, where dropping and keeping would look alike
        let n = 100_000;
        let x = Tensor::ones([n], DType::F32).unwrap();
        let layer = |keep_reading: bool| {
            let store = ParamStore::new(11);
            let pb = store.root().push("drop");
            if keep_reading {
                Dropout::from_keep_prob(0.8, &pb).unwrap()
            } else {
                Dropout::new(0.2, &pb).unwrap()
            }
        };
        let (by_drop, by_keep) = (layer(false), layer(true));
        assert_eq!((by_drop.p(), by_drop.keep_prob()), (0.2, 0.8));
        assert_eq!(by_keep.keep_prob(), 0.8);
        // stored as p = 1 - q, and shown as PyTorch shows nn.Dropout(1 - 0.8)
        assert_eq!(by_keep.p(), 1.0 - 0.8);
        assert_eq!(by_keep.describe(), "Dropout(p=0.19999999999999996)");
        let y = by_drop.forward(&x).unwrap().to_vec::<f32>().unwrap();
        // every survivor is scaled by exactly 1 / 0.8
        assert!(y.iter().all(|&v| v == 0.0 || v == 1.25));
        // about 20% dropped: the binomial's standard deviation is 0.13% here, the bound 8 of them
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        assert!((dropped - 0.2).abs() < 0.01, "{dropped}");
        // the same store seed: the same draws, bit for bit
        let yk = by_keep.forward(&x).unwrap().to_vec::<f32>().unwrap();
        assert!(y.iter().zip(&yk).all(|(a, b)| a.to_bits() == b.to_bits()));
        // evaluation is the identity for both readings
        let z = deepnet_tensor::testing::seeded([50, 20], 2);
        for d in [&by_drop, &by_keep] {
            d.set_training(false);
            let out = d.forward(&z).unwrap();
            assert!(out.same_storage(&z));
            assert_eq!(out.to_vec_f64(), z.to_vec_f64());
        }
        // keeping everything is no dropout at all, even in training
        let keep_all = Dropout::from_keep_prob(1.0, &ParamStore::new(0).root()).unwrap();
        assert_eq!(keep_all.p(), 0.0);
        assert!(keep_all.forward(&x).unwrap().same_storage(&x));
        // channel dropout reads q the same way
        let c = Dropout2d::from_keep_prob(0.75, &ParamStore::new(0).root()).unwrap();
        assert_eq!((c.p(), c.keep_prob()), (0.25, 0.75));
    }

    #[test]
    fn invalid_drop_and_keep_probabilities_are_errors() {
        let store = ParamStore::new(0);
        let pb = store.root().push("d");
        for p in [-0.1, 1.0, 1.5, f64::NAN] {
            assert!(Dropout::new(p, &pb).is_err(), "p = {p}");
            assert!(Dropout2d::new(p, &pb).is_err(), "p = {p}");
        }
        let e = Dropout::from_keep_prob(0.0, &pb).err().unwrap().to_string();
        assert_eq!(
            e,
            "in module \"d\": dropout: keep probability q = 0 must be in (0, 1]"
        );
        // 1e-300 is positive but 1 - 1e-300 rounds to 1: a layer that drops everything
        for q in [-0.2, 1.5, 1e-300, f64::NAN] {
            assert!(Dropout::from_keep_prob(q, &pb).is_err(), "q = {q}");
            assert!(Dropout2d::from_keep_prob(q, &pb).is_err(), "q = {q}");
        }
    }

    #[test]
    fn gradcheck_in_eval_and_with_p_zero() {
        let store = ParamStore::with_dtype(0, DType::F64);
        let d = Dropout::new(0.3, &store.root()).unwrap();
        d.set_training(false);
        let x = deepnet_tensor::testing::seeded([3, 3], 1);
        gradcheck(
            "Dropout(eval)",
            |t| d.forward(&t[0]),
            std::slice::from_ref(&x),
        )
        .unwrap();
        let d0 = Dropout::new(0.0, &store.root()).unwrap();
        gradcheck("Dropout(p=0)", |t| d0.forward(&t[0]), &[x]).unwrap();
    }

    #[test]
    fn dropout2d_zeroes_whole_channels_with_the_expected_scale() {
        let store = ParamStore::new(5);
        let d = Dropout2d::new(0.25, &store.root().push("drop")).unwrap();
        assert_eq!(d.describe(), "Dropout2d(p=0.25)");
        let (n, c, hw) = (20, 50, 6);
        let x = Tensor::ones([n, c, 2, 3], DType::F32).unwrap();
        let y = d.forward(&x).unwrap();
        assert_eq!(y.dims(), [n, c, 2, 3]);
        let v = y.to_vec::<f32>().unwrap();
        let mut kept = 0;
        for ch in v.chunks(hw) {
            // every channel is all zeros or all 1 / (1 - 0.25)
            assert!(ch.iter().all(|&e| e == ch[0]), "{ch:?}");
            assert!(
                ch[0] == 0.0 || (ch[0] - 4.0 / 3.0).abs() < 1e-6,
                "{}",
                ch[0]
            );
            kept += usize::from(ch[0] != 0.0);
        }
        // 1000 channels kept with probability 0.75
        assert!((700..800).contains(&kept), "{kept}");
        let mean = v.iter().map(|&e| f64::from(e)).sum::<f64>() / v.len() as f64;
        assert!((mean - 1.0).abs() < 0.1, "{mean}");
        assert_ne!(d.forward(&x).unwrap().to_vec::<f32>().unwrap(), v);
        // the same store seed reproduces the mask
        let d2 = Dropout2d::new(0.25, &ParamStore::new(5).root().push("drop")).unwrap();
        assert_eq!(d2.forward(&x).unwrap().to_vec::<f32>().unwrap(), v);
        // (N, C, L): whole rows
        let v3 = d
            .forward(&Tensor::ones([4, 8, 5], DType::F32).unwrap())
            .unwrap();
        for row in v3.to_vec::<f32>().unwrap().chunks(5) {
            assert!(row.iter().all(|&e| e == row[0]));
        }
        d.set_training(false);
        assert!(!d.is_training());
        assert!(d.forward(&x).unwrap().same_storage(&x));
    }

    #[test]
    fn dropout2d_errors_and_gradient() {
        let store = ParamStore::with_dtype(0, DType::F64);
        let e = Dropout2d::new(1.0, &store.root().push("d")).err().unwrap();
        assert_eq!(
            e.to_string(),
            "in module \"d\": dropout: probability p = 1 must be in [0, 1)"
        );
        let d = Dropout2d::new(0.5, &store.root().push("d")).unwrap();
        assert_eq!(d.p(), 0.5);
        let e = d
            .forward(&Tensor::ones([3, 4], DType::F64).unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "in module \"d\": dropout2d: expected an input (N, C, H, W) or (N, C, L), got shape [3, 4]"
        );
        let i = Tensor::from_vec(vec![1i64; 8], [1, 2, 2, 2]).unwrap();
        assert!(d.forward(&i).is_err());
        // the gradient is the mask (scaled): zero on dropped channels, 2 on kept ones
        let x = deepnet_tensor::testing::seeded([2, 3, 2, 2], 1)
            .requires_grad_(true)
            .unwrap();
        let y = d.forward(&x).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        let (yv, xv) = (y.to_vec_f64(), x.to_vec_f64());
        for ((gi, yi), xi) in g.get(&x).unwrap().to_vec_f64().iter().zip(&yv).zip(&xv) {
            assert!(*gi == 0.0 && *yi == 0.0 || (*gi == 2.0 && (*yi - 2.0 * *xi).abs() < 1e-12));
        }
        d.set_training(false);
        gradcheck("Dropout2d(eval)", |t| d.forward(&t[0]), &[x]).unwrap();
    }
}
