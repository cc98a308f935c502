//! Comparisons (giving u8 masks of 0 and 1, with broadcasting) and `where_cond`, which selects
//! between two tensors by a mask.

use crate::autograd::Backward;
use crate::primitive::CmpOp;
use crate::{DType, Error, Result, Shape, Tensor};

impl Tensor {
    fn compare(&self, rhs: &Tensor, op: CmpOp) -> Result<Tensor> {
        let (a, b, shape) = self.broadcast_pair(rhs, op.name())?;
        let al = a.layout().broadcast_as(op.name(), &shape)?;
        let bl = b.layout().broadcast_as(op.name(), &shape)?;
        let s = a.storage().cmp(&al, &b.storage(), &bl, op)?;
        Ok(Tensor::from_storage(s, shape))
    }

    fn compare_scalar(&self, v: f64, op: CmpOp) -> Result<Tensor> {
        // compare in the tensor's own dtype, except that a fractional bound against integers
        // compares in f64 (so `x > 0.5` on int64 means what it says)
        let dt = if !self.dtype().is_float() && v.fract() != 0.0 {
            DType::F64
        } else {
            self.dtype()
        };
        let s = Tensor::full_on(Shape::scalar(), v, dt, self.device())?;
        self.to_dtype(dt)?.detach().compare(&s, op)
    }

    /// `self == rhs` as a u8 mask.
    pub fn eq(&self, rhs: &Tensor) -> Result<Tensor> {
        self.compare(rhs, CmpOp::Eq)
    }
    /// `self != rhs` as a u8 mask.
    pub fn ne(&self, rhs: &Tensor) -> Result<Tensor> {
        self.compare(rhs, CmpOp::Ne)
    }
    /// `self < rhs` as a u8 mask.
    pub fn lt(&self, rhs: &Tensor) -> Result<Tensor> {
        self.compare(rhs, CmpOp::Lt)
    }
    /// `self <= rhs` as a u8 mask.
    pub fn le(&self, rhs: &Tensor) -> Result<Tensor> {
        self.compare(rhs, CmpOp::Le)
    }
    /// `self > rhs` as a u8 mask.
    pub fn gt(&self, rhs: &Tensor) -> Result<Tensor> {
        self.compare(rhs, CmpOp::Gt)
    }
    /// `self >= rhs` as a u8 mask.
    pub fn ge(&self, rhs: &Tensor) -> Result<Tensor> {
        self.compare(rhs, CmpOp::Ge)
    }
    /// `self == v` as a u8 mask.
    pub fn eq_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare_scalar(v, CmpOp::Eq)
    }
    /// `self != v` as a u8 mask.
    pub fn ne_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare_scalar(v, CmpOp::Ne)
    }
    /// `self < v` as a u8 mask.
    pub fn lt_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare_scalar(v, CmpOp::Lt)
    }
    /// `self <= v` as a u8 mask.
    pub fn le_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare_scalar(v, CmpOp::Le)
    }
    /// `self > v` as a u8 mask.
    pub fn gt_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare_scalar(v, CmpOp::Gt)
    }
    /// `self >= v` as a u8 mask.
    pub fn ge_scalar(&self, v: f64) -> Result<Tensor> {
        self.compare_scalar(v, CmpOp::Ge)
    }

    /// `cond ? on_true : on_false` elementwise, all three broadcast together (PyTorch
    /// `torch.where(cond, x, y)`). `cond` is a u8 mask (any nonzero value selects `on_true`).
    pub fn where_cond(cond: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        if cond.dtype() != DType::U8 {
            return Err(Error::DType {
                op: "where",
                expected: "a uint8 mask (from a comparison) as the condition",
                got: cond.dtype(),
            });
        }
        let (t, f, tf_shape) = on_true.broadcast_pair(on_false, "where")?;
        let shape = Shape::broadcast("where", cond.shape(), &tf_shape)?;
        let ml = cond.layout().broadcast_as("where", &shape)?;
        let tl = t.layout().broadcast_as("where", &shape)?;
        let fl = f.layout().broadcast_as("where", &shape)?;
        let s = {
            let (ms, ts, fs) = (cond.storage(), t.storage(), f.storage());
            ms.where_cond(&ml, (&ts, &tl), (&fs, &fl))?
        };
        Ok(Tensor::from_op(
            s,
            shape,
            WhereBackward,
            &[&cond.detach(), &t, &f],
        ))
    }
}

struct WhereBackward;

impl Backward for WhereBackward {
    fn name(&self) -> &'static str {
        "where"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (m, t, f) = (&inputs[0], &inputs[1], &inputs[2]);
        let z = Tensor::zeros_on(Shape::scalar(), g.dtype(), g.device())?;
        let gt = Tensor::where_cond(m, g, &z)?.sum_to(t.shape())?;
        let gf = Tensor::where_cond(m, &z, g)?.sum_to(f.shape())?;
        Ok(vec![None, Some(gt), Some(gf)])
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Error, Tensor};

    #[test]
    fn comparisons_give_masks() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]).unwrap();
        let b = Tensor::from_vec(vec![2.0f32], [1]).unwrap();
        assert_eq!(a.lt(&b).unwrap().to_vec::<u8>().unwrap(), vec![1, 0, 0]);
        assert_eq!(a.le(&b).unwrap().to_vec::<u8>().unwrap(), vec![1, 1, 0]);
        assert_eq!(a.eq(&b).unwrap().to_vec::<u8>().unwrap(), vec![0, 1, 0]);
        assert_eq!(a.ne(&b).unwrap().to_vec::<u8>().unwrap(), vec![1, 0, 1]);
        assert_eq!(a.gt(&b).unwrap().to_vec::<u8>().unwrap(), vec![0, 0, 1]);
        assert_eq!(a.ge(&b).unwrap().to_vec::<u8>().unwrap(), vec![0, 1, 1]);
        assert_eq!(a.gt_scalar(1.5).unwrap().dtype(), DType::U8);
        let i = Tensor::from_vec(vec![0i64, 1, 2], [3]).unwrap();
        assert_eq!(
            i.gt_scalar(0.5).unwrap().to_vec::<u8>().unwrap(),
            vec![0, 1, 1]
        );
    }

    #[test]
    fn where_selects_and_differentiates() {
        let x = seeded([3, 4], 1);
        let y = seeded([4], 2);
        let c = x.gt_scalar(0.0).unwrap();
        let w = Tensor::where_cond(&c, &x, &y).unwrap();
        let (xv, yv, wv) = (x.to_vec_f64(), y.to_vec_f64(), w.to_vec_f64());
        for i in 0..12 {
            assert_eq!(wv[i], if xv[i] > 0.0 { xv[i] } else { yv[i % 4] });
        }
        gradcheck(
            "where",
            |t| Tensor::where_cond(&c, &t[0], &t[1]),
            &[x.clone(), y],
        )
        .unwrap();
        let e = Tensor::where_cond(&x, &x, &x).unwrap_err();
        assert!(matches!(e, Error::DType { op: "where", .. }));
    }
}
