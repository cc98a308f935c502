//! In-place updates of leaf tensors, for optimizers and initializers: `axpby_` (the fused
//! `self = a * self + b * src` every optimizer step is made of), `mul_scalar_`, `fill_`. Allowed
//! on leaves only, and under `no_grad` when the tensor requires grad, as in PyTorch.

use crate::{is_grad_enabled, Error, Result, Tensor};

impl Tensor {
    /// In-place writes go to leaves only, and under `no_grad` when they require grad.
    pub(crate) fn check_writable(&self, op: &'static str) -> Result<()> {
        if !self.is_leaf() || (self.tracks_grad() && is_grad_enabled()) {
            return Err(Error::invalid(
                op,
                "in-place writes are only allowed on leaves, under no_grad when they require grad",
            ));
        }
        Ok(())
    }

    /// `src` as the source of an in-place write into `self`: the same shape (else an error
    /// naming `op`), cast to this dtype and copied to this device, and in storage of its own, so
    /// the write lock on this tensor's storage never meets a read of the same storage.
    pub(crate) fn inplace_source(&self, op: &'static str, src: &Tensor) -> Result<Tensor> {
        if src.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op,
                expected: self.shape().clone(),
                got: src.shape().clone(),
            });
        }
        let same_device = src.device() == self.device();
        if src.dtype() == self.dtype() && same_device && !self.same_storage(src) {
            return Ok(src.clone());
        }
        let _g = crate::no_grad();
        // like PyTorch's `copy_`, the source may live on another device: it is copied over
        let c = src.to_dtype(self.dtype())?.to_device(self.device())?;
        Ok(if self.same_storage(&c) {
            c.force_copy()
        } else {
            c
        })
    }

    fn check_inplace(&self, op: &'static str) -> Result<()> {
        self.check_writable(op)?;
        if !self.dtype().is_float() {
            return Err(Error::DType {
                op,
                expected: "a float tensor",
                got: self.dtype(),
            });
        }
        Ok(())
    }

    /// `self = a * self + b * src` in place (`src` has this tensor's shape; it is cast to this
    /// dtype). One pass over memory: SGD's `p -= lr * g` is `p.axpby_(1, -lr, g)`.
    pub fn axpby_(&self, a: f64, b: f64, src: &Tensor) -> Result<()> {
        self.check_inplace("axpby_")?;
        let src = self.inplace_source("axpby_", src)?;
        let s = src.storage();
        self.storage_mut()
            .axpby_(self.layout(), &s, src.layout(), a, b)
    }

    /// `self *= c` in place.
    pub fn mul_scalar_(&self, c: f64) -> Result<()> {
        // b = 0 reads the source but never uses it; pass the tensor itself through a copy-free
        // path by scaling against zeros would allocate, so scale directly
        self.check_inplace("mul_scalar_")?;
        let l = self.layout().clone();
        self.storage_mut().scale_(&l, c)
    }

    /// Sets every element to `v` in place.
    pub fn fill_(&self, v: f64) -> Result<()> {
        self.check_inplace("fill_")?;
        let src = self.full_like(v)?;
        self.assign_(&src)
    }

    /// A copy in new storage (PyTorch `clone()`; Rust's `Clone` only copies the handle).
    /// Differentiable.
    pub fn copy(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            // contiguous() would return the same storage: force the copy
            let s = self.storage().contiguous(self.layout());
            return Ok(Tensor::from_op(
                s,
                self.shape().clone(),
                CopyBackward,
                &[self],
            ));
        }
        self.contiguous()
    }
}

struct CopyBackward;
impl crate::Backward for CopyBackward {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn backward(&self, _i: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.clone())])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{no_grad, DType, Tensor};

    #[test]
    fn axpby_updates_in_place_and_guards_the_graph() {
        let p = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).unwrap();
        let g = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], [3]).unwrap();
        let view = p.reshape([3, 1]).unwrap();
        p.axpby_(0.5, 0.1, &g).unwrap();
        assert_eq!(p.to_vec::<f32>().unwrap(), vec![1.5, 3.0, 4.5]);
        assert_eq!(
            view.to_vec::<f32>().unwrap(),
            vec![1.5, 3.0, 4.5],
            "views see the write"
        );
        p.mul_scalar_(2.0).unwrap();
        assert_eq!(p.to_vec::<f32>().unwrap(), vec![3.0, 6.0, 9.0]);
        // self-aliasing source: p = p + p
        p.axpby_(1.0, 1.0, &p).unwrap();
        assert_eq!(p.to_vec::<f32>().unwrap(), vec![6.0, 12.0, 18.0]);
        // a strided destination (a transposed leaf view is not a leaf: use a strided leaf)
        let m = Tensor::zeros([2, 3], DType::F64).unwrap();
        let mt = m.t().unwrap().detach();
        mt.axpby_(
            0.0,
            1.0,
            &Tensor::arange(0.0, 6.0, 1.0, DType::F64)
                .unwrap()
                .reshape([3, 2])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(m.to_vec::<f64>().unwrap(), vec![0., 2., 4., 1., 3., 5.]);
        let w = Tensor::ones([2], DType::F32)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        assert!(
            w.axpby_(1.0, 1.0, &w.ones_like().unwrap()).is_err(),
            "needs no_grad"
        );
        {
            let _g = no_grad();
            w.axpby_(1.0, 1.0, &w.ones_like().unwrap()).unwrap();
            w.fill_(7.0).unwrap();
        }
        assert_eq!(w.to_vec::<f32>().unwrap(), vec![7.0, 7.0]);
        assert!(p
            .axpby_(1.0, 1.0, &Tensor::ones([2], DType::F32).unwrap())
            .is_err());
        assert!(
            w.exp().unwrap().mul_scalar_(2.0).is_err(),
            "non-leaves are rejected"
        );
        let i = Tensor::zeros([2], DType::I64).unwrap();
        assert!(i.mul_scalar_(2.0).is_err());
    }

    #[test]
    fn copy_owns_its_storage_and_differentiates() {
        let x = seeded([3, 4], 1);
        let c = x.copy().unwrap();
        assert!(!c.same_storage(&x));
        assert_eq!(c.to_vec::<f64>().unwrap(), x.to_vec::<f64>().unwrap());
        gradcheck("copy", |t| t[0].copy(), &[x.clone()]).unwrap();
        gradcheck("copy_view", |t| t[0].t()?.copy(), &[x]).unwrap();
    }
}
