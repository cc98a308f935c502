//! Matrix products with `torch.matmul` semantics: 1-d @ 1-d is a dot product, a 1-d operand is
//! treated as a row (left) or column (right) vector, and leading batch dims broadcast.
//! a: (*, m, k) @ b: (*, k, n) -> (*, m, n).

use crate::autograd::Backward;
use crate::{Error, Result, Shape, Tensor};

/// dA = G @ B^T and dB = A^T @ G, each summed back over broadcast batch dims.
struct MatmulBackward;

impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        // skip the product for an operand that needs no gradient (the input batch of a first
        // layer): it is as expensive as the forward pass
        // When an operand is a transposed view (`x @ w.t()` in every Linear layer), its gradient
        // is computed transposed too, so that it arrives contiguous in the underlying weight's
        // layout and the optimizer streams through memory.
        let ga = a
            .tracks_grad()
            .then(|| {
                let ga = if is_transposed(a) {
                    b.matmul(&g.transpose(-1, -2)?)?.transpose(-1, -2)?
                } else {
                    g.matmul(&b.transpose(-1, -2)?)?
                };
                ga.sum_to(a.shape())
            })
            .transpose()?;
        let gb = b
            .tracks_grad()
            .then(|| {
                let gb = if is_transposed(b) {
                    g.transpose(-1, -2)?.matmul(a)?.transpose(-1, -2)?
                } else {
                    a.transpose(-1, -2)?.matmul(g)?
                };
                gb.sum_to(b.shape())
            })
            .transpose()?;
        Ok(vec![ga, gb])
    }
}

/// Whether the last two dims are stored column-major (the transpose of a contiguous matrix).
fn is_transposed(t: &Tensor) -> bool {
    let r = t.rank();
    let (d, s) = (t.dims(), t.stride());
    r >= 2 && d[r - 2] > 1 && d[r - 1] > 1 && s[r - 2] == 1 && s[r - 1] == d[r - 2]
}

impl Tensor {
    /// The matrix product `self @ rhs` (`torch.matmul`).
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        let (ra, rb) = (self.rank(), rhs.rank());
        if ra == 0 || rb == 0 {
            return Err(Error::Rank {
                op: "matmul",
                expected: "both operands to have at least 1 dim".into(),
                got: if ra == 0 {
                    self.shape().clone()
                } else {
                    rhs.shape().clone()
                },
            });
        }
        let ka = self.dims()[ra - 1];
        let kb = if rb == 1 {
            rhs.dims()[0]
        } else {
            rhs.dims()[rb - 2]
        };
        if ka != kb {
            return Err(Error::MatmulInner {
                lhs: self.shape().clone(),
                rhs: rhs.shape().clone(),
                k_lhs: ka,
                k_rhs: kb,
            });
        }
        check_dtype(self.dtype())?;
        check_dtype(rhs.dtype())?;
        let a = if ra == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let b = if rb == 1 {
            rhs.unsqueeze(1)?
        } else {
            rhs.clone()
        };
        let (a, b) = if a.dtype() != b.dtype() {
            let dt = crate::DType::promote(a.dtype(), b.dtype());
            (a.to_dtype(dt)?, b.to_dtype(dt)?)
        } else {
            (a, b)
        };
        let y = a.matmul_nd(&b)?;
        // drop the dims that were added for 1-d operands
        let mut shape = y.dims().to_vec();
        if rb == 1 {
            shape.pop();
        }
        if ra == 1 {
            shape.remove(shape.len() - 1 - usize::from(rb != 1));
        }
        y.reshape(shape)
    }

    /// Both operands have rank >= 2 and the same dtype.
    fn matmul_nd(&self, rhs: &Tensor) -> Result<Tensor> {
        let (ra, rb) = (self.rank(), rhs.rank());
        let (m, k) = (self.dims()[ra - 2], self.dims()[ra - 1]);
        let n = rhs.dims()[rb - 1];
        let batch_a = Shape::new(self.dims()[..ra - 2].to_vec());
        let batch_b = Shape::new(rhs.dims()[..rb - 2].to_vec());
        let batch = Shape::broadcast("matmul", &batch_a, &batch_b)?;
        let mut sa = batch.dims().to_vec();
        sa.extend([m, k]);
        let mut sb = batch.dims().to_vec();
        sb.extend([k, n]);
        let al = self.layout().broadcast_as("matmul", &Shape::new(sa))?;
        let bl = rhs.layout().broadcast_as("matmul", &Shape::new(sb))?;
        let s = self.storage().matmul(&al, &rhs.storage(), &bl)?;
        let mut so = batch.dims().to_vec();
        so.extend([m, n]);
        Ok(Tensor::from_op(s, so, MatmulBackward, &[self, rhs]))
    }
}

/// Both operands must be float: integer products are refused rather than silently cast.
fn check_dtype(d: crate::DType) -> Result<()> {
    if d.is_float() {
        Ok(())
    } else {
        Err(Error::DType {
            op: "matmul",
            expected: "float32 or float64 (cast integer tensors first)",
            got: d,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Error, Tensor};

    #[test]
    fn matmul_shapes_follow_torch() {
        let cases: [(&[usize], &[usize], &[usize]); 7] = [
            (&[4], &[4], &[]),
            (&[3, 4], &[4], &[3]),
            (&[4], &[4, 5], &[5]),
            (&[3, 4], &[4, 5], &[3, 5]),
            (&[2, 3, 4], &[2, 4, 5], &[2, 3, 5]),
            (&[2, 1, 3, 4], &[3, 4, 5], &[2, 3, 3, 5]),
            (&[2, 3, 4], &[4], &[2, 3]),
        ];
        for (a, b, out) in cases {
            let y = seeded(a.to_vec(), 1)
                .matmul(&seeded(b.to_vec(), 2))
                .unwrap();
            assert_eq!(y.dims(), out, "{a:?} @ {b:?}");
        }
    }

    #[test]
    fn matmul_values_and_errors() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
        let b = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], [3, 2]).unwrap();
        assert_eq!(
            a.matmul(&b).unwrap().to_vec::<f32>().unwrap(),
            vec![4., 5., 10., 11.]
        );
        // a transposed view multiplies without a copy and gives the same numbers
        let at = Tensor::from_vec(vec![1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0], [3, 2])
            .unwrap()
            .t()
            .unwrap();
        assert_eq!(
            at.matmul(&b).unwrap().to_vec::<f32>().unwrap(),
            vec![4., 5., 10., 11.]
        );
        let e = Tensor::zeros([3, 4], DType::F32)
            .unwrap()
            .matmul(&Tensor::zeros([5, 6], DType::F32).unwrap())
            .unwrap_err();
        assert!(matches!(
            e,
            Error::MatmulInner {
                k_lhs: 4,
                k_rhs: 5,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "matmul: inner dimensions differ, [3, 4] @ [5, 6] (4 != 5)"
        );
        let i = Tensor::zeros([2, 2], DType::I64).unwrap();
        assert!(matches!(i.matmul(&i), Err(Error::DType { .. })));
        let e = Tensor::zeros([2, 3, 4], DType::F32)
            .unwrap()
            .matmul(&Tensor::zeros([3, 4, 5], DType::F32).unwrap())
            .unwrap_err();
        assert!(matches!(e, Error::Broadcast { .. }), "{e}");
    }

    #[test]
    fn larger_product_matches_naive() {
        let (m, k, n) = (67, 129, 45);
        let a = seeded([m, k], 3);
        let b = seeded([k, n], 4);
        let y = a.matmul(&b).unwrap().to_vec::<f64>().unwrap();
        let (av, bv) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        for i in 0..m {
            for j in 0..n {
                let r: f64 = (0..k).map(|p| av[i * k + p] * bv[p * n + j]).sum();
                assert!((y[i * n + j] - r).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn matmul_gradients() {
        let pairs: [(&[usize], &[usize]); 7] = [
            (&[4], &[4]),
            (&[3, 4], &[4]),
            (&[4], &[4, 5]),
            (&[3, 4], &[4, 5]),
            (&[2, 3, 4], &[2, 4, 5]),
            (&[2, 1, 3, 4], &[3, 4, 5]),
            (&[2, 3, 4], &[4, 5]),
        ];
        for (i, (a, b)) in pairs.into_iter().enumerate() {
            gradcheck(
                "matmul",
                |t| t[0].matmul(&t[1]),
                &[
                    seeded(a.to_vec(), i as u64),
                    seeded(b.to_vec(), 10 + i as u64),
                ],
            )
            .unwrap();
        }
        gradcheck(
            "matmul_t",
            |t| t[0].t()?.matmul(&t[1].t()?),
            &[seeded([4, 3], 1), seeded([5, 4], 2)],
        )
        .unwrap();
    }
}
