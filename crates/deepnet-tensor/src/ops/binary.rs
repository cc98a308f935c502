//! Elementwise arithmetic of two tensors with PyTorch broadcasting and type promotion. The
//! backward of a broadcast operand sums the gradient back to that operand's shape (`sum_to`).

use crate::autograd::Backward;
use crate::primitive::BinaryOp;
use crate::{DType, Result, Shape, Tensor};

struct BinaryBackward(BinaryOp);

impl Backward for BinaryBackward {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn backward(&self, inputs: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let (ga, gb) = match self.0 {
            BinaryOp::Add => (g.clone(), g.clone()),
            BinaryOp::Sub => (g.clone(), g.neg()?),
            BinaryOp::Mul => (g.mul(b)?, g.mul(a)?),
            BinaryOp::Div => {
                let ga = g.div(b)?;
                (ga.clone(), ga.mul(y)?.neg()?)
            }
            BinaryOp::Pow => {
                let ga = g.mul(b)?.mul(&a.pow(&b.sub_scalar(1.0)?)?)?;
                // d/db a^b = a^b ln a; PyTorch defines it as 0 where a == 0 (and b >= 0).
                let zero = a.eq_scalar(0.0)?;
                let ln = Tensor::where_cond(&zero, &a.zeros_like()?, &a.log()?)?;
                (ga, g.mul(y)?.mul(&ln)?)
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                // ties share the gradient equally, as in PyTorch
                let dt = a.dtype();
                let wins = if self.0 == BinaryOp::Maximum {
                    a.gt(b)?
                } else {
                    a.lt(b)?
                };
                let half = a.eq(b)?.to_dtype(dt)?.mul_scalar(0.5)?;
                let wa = wins.to_dtype(dt)?.add(&half)?;
                let wb = wa.rsub_scalar(1.0)?;
                (g.mul(&wa)?, g.mul(&wb)?)
            }
            // piecewise constant in the input: no gradient flows to it
            BinaryOp::ReluBackward => (g.relu_backward(b)?, b.zeros_like()?),
        };
        Ok(vec![
            Some(ga.sum_to(a.shape())?),
            Some(gb.sum_to(b.shape())?),
        ])
    }
}

impl Tensor {
    /// Promotes both operands to a common dtype and broadcasts their layouts to a common shape.
    pub(crate) fn broadcast_pair(
        &self,
        rhs: &Tensor,
        op: &'static str,
    ) -> Result<(Tensor, Tensor, Shape)> {
        let shape = Shape::broadcast(op, self.shape(), rhs.shape())?;
        let dt = DType::promote(self.dtype(), rhs.dtype());
        Ok((self.to_dtype(dt)?, rhs.to_dtype(dt)?, shape))
    }

    fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let (a, b, shape) = self.broadcast_pair(rhs, op.name())?;
        let (a, b) = match op {
            // true division and pow of integers compute in float, as in PyTorch
            BinaryOp::Div | BinaryOp::Pow if !a.dtype().is_float() => (a.to_f32()?, b.to_f32()?),
            _ => (a, b),
        };
        let al = a.layout().broadcast_as(op.name(), &shape)?;
        let bl = b.layout().broadcast_as(op.name(), &shape)?;
        let s = {
            let (sa, sb) = (a.storage(), b.storage());
            sa.binary(&al, &sb, &bl, op)?
        };
        Ok(Tensor::from_op(s, shape, BinaryBackward(op), &[&a, &b]))
    }

    /// ReLU's backward: `self` (the output gradient) where `x > 0`, else 0.
    pub(crate) fn relu_backward(&self, x: &Tensor) -> Result<Tensor> {
        self.binary(x, BinaryOp::ReluBackward)
    }

    /// `self + rhs` with broadcasting.
    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Add)
    }
    /// `self - rhs` with broadcasting.
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Sub)
    }
    /// `self * rhs` with broadcasting.
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Mul)
    }
    /// `self / rhs` with broadcasting (true division: integers divide in float).
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Div)
    }
    /// `self ^ rhs` elementwise with broadcasting.
    pub fn pow(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Pow)
    }
    /// The elementwise larger value (NaN propagates), as `torch.maximum`.
    pub fn maximum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Maximum)
    }
    /// The elementwise smaller value (NaN propagates), as `torch.minimum`.
    pub fn minimum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Minimum)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Error, Tensor};

    #[test]
    fn relu_backward_masks_like_pytorch_threshold_backward() {
        let g = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, f32::NAN], [5]).unwrap();
        let x = Tensor::from_vec(vec![-1.0f32, 0.0, 2.0, f32::NAN, -3.0], [5]).unwrap();
        let d = g.relu_backward(&x).unwrap().to_vec::<f32>().unwrap();
        // 0 at x <= 0 (a NaN gradient there too), the gradient at x > 0 and at a NaN input
        assert_eq!(d, vec![0.0, 0.0, 3.0, 4.0, 0.0]);
        let gi = Tensor::from_vec(vec![5i64, 6, 7], [3]).unwrap();
        let xi = Tensor::from_vec(vec![-1i64, 0, 1], [3]).unwrap();
        assert_eq!(
            gi.relu_backward(&xi).unwrap().to_vec::<i64>().unwrap(),
            vec![0, 0, 7]
        );
        // differentiable in the gradient (double backward of relu), broadcast and strided
        let (x, g) = (seeded([3, 4], 1), seeded([4, 3], 2));
        gradcheck("relu_backward", |t| t[0].t()?.relu_backward(&x), &[g]).unwrap();
    }

    #[test]
    fn broadcast_values() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3, 1]).unwrap();
        let b = Tensor::from_vec(vec![10.0f32, 20.0], [2]).unwrap();
        let c = a.add(&b).unwrap();
        assert_eq!(c.dims(), &[3, 2]);
        assert_eq!(
            c.to_vec::<f32>().unwrap(),
            vec![11., 21., 12., 22., 13., 23.]
        );
        let i = Tensor::from_vec(vec![7i64, 8], [2]).unwrap();
        let d = i
            .div(&Tensor::from_vec(vec![2i64, 4], [2]).unwrap())
            .unwrap();
        assert_eq!(d.dtype(), DType::F32);
        assert_eq!(d.to_vec::<f32>().unwrap(), vec![3.5, 2.0]);
        let p = i.add(&b).unwrap();
        assert_eq!(p.dtype(), DType::F32);
    }

    #[test]
    fn broadcast_error_names_shapes_and_dim() {
        let a = Tensor::zeros([2, 3], DType::F32).unwrap();
        let b = Tensor::zeros([4], DType::F32).unwrap();
        let e = a.mul(&b).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Broadcast {
                    op: "mul",
                    l: 3,
                    r: 4,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("[2, 3]") && e.to_string().contains("[4]"));
    }

    #[test]
    fn binary_gradients_with_broadcast_and_views() {
        let a = seeded([2, 3, 4], 1);
        let b = seeded([3, 1], 2);
        let pos_a = a.abs().unwrap().add_scalar(0.5).unwrap();
        let pos_b = seeded([4], 3).abs().unwrap().add_scalar(0.5).unwrap();
        gradcheck("add", |t| t[0].add(&t[1]), &[a.clone(), b.clone()]).unwrap();
        gradcheck("sub", |t| t[0].sub(&t[1]), &[a.clone(), b.clone()]).unwrap();
        gradcheck("mul", |t| t[0].mul(&t[1]), &[a.clone(), b.clone()]).unwrap();
        gradcheck("div", |t| t[0].div(&t[1]), &[a.clone(), pos_b.clone()]).unwrap();
        gradcheck("pow", |t| t[0].pow(&t[1]), &[pos_a.clone(), b.clone()]).unwrap();
        gradcheck("maximum", |t| t[0].maximum(&t[1]), &[a.clone(), b.clone()]).unwrap();
        gradcheck("minimum", |t| t[0].minimum(&t[1]), &[a.clone(), b.clone()]).unwrap();
        // non-contiguous operands: a transposed view against a broadcast row
        let m = seeded([4, 3], 4);
        gradcheck("mul_view", |t| t[0].t()?.mul(&t[1]), &[m, seeded([4], 5)]).unwrap();
        // an operand used twice accumulates its gradient
        gradcheck("square_by_mul", |t| t[0].mul(&t[0]), &[seeded([5], 6)]).unwrap();
    }

    #[test]
    fn maximum_ties_split_the_gradient() {
        let a = Tensor::from_vec(vec![1.0f64, 2.0], [2])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let b = Tensor::from_vec(vec![1.0f64, 3.0], [2])
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let g = a
            .maximum(&b)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(g.get(&a).unwrap().to_vec::<f64>().unwrap(), vec![0.5, 0.0]);
        assert_eq!(g.get(&b).unwrap().to_vec::<f64>().unwrap(), vec![0.5, 1.0]);
    }

    #[test]
    fn empty_tensors_broadcast() {
        let a = Tensor::zeros([0, 3], DType::F32).unwrap();
        let b = Tensor::ones([3], DType::F32).unwrap();
        let c = a.add(&b).unwrap();
        assert_eq!(c.dims(), &[0, 3]);
        assert!(c.to_vec::<f32>().unwrap().is_empty());
    }
}
