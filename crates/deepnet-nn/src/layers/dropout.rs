//! Inverted dropout (`torch.nn.Dropout`).

use super::{in_module, py_float};
use crate::{functional, Module, ParamBuilder};
use deepnet_tensor::{Generator, Result, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Zeroes each element with probability `p` in training and scales the kept ones by
/// `1 / (1 - p)`; the identity in evaluation (`torch.nn.Dropout`). Layers start in training mode.
///
/// The masks come from the layer's own generator, seeded from the parameter store's generator
/// when the layer is built, so a seeded store reproduces a whole run.
///
/// Shapes: `(*)` -> `(*)`.
pub struct Dropout {
    p: f64,
    training: AtomicBool,
    gen: Mutex<Generator>,
    path: String,
}

impl Dropout {
    /// A dropout layer with drop probability `p` in `[0, 1)` (PyTorch's default is 0.5).
    pub fn new(p: f64, pb: &ParamBuilder) -> Result<Dropout> {
        functional::check_dropout_p(p).map_err(|e| in_module(e, pb.path()))?;
        let seed = pb.with_generator(|g| g.next_u64());
        Ok(Dropout {
            p,
            training: AtomicBool::new(true),
            gen: Mutex::new(Generator::new(seed)),
            path: pb.path().to_string(),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training.load(Ordering::Relaxed)
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let training = self.is_training();
        if !training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let mut g = self.gen.lock().unwrap_or_else(|e| e.into_inner());
        functional::dropout(x, self.p, training, &mut g).map_err(|e| in_module(e, &self.path))
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!("Dropout(p={})", py_float(self.p))
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
}
