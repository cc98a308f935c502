//! Elementwise primitives: `unary`, `binary`, `cmp`, `where_cond`. Every operand is read in
//! row-major order of its (already broadcast) layout; the result is contiguous of that shape.
//!
//! Floats are computed in f64 and rounded once. Scalars carried by an op (`AddScalar(c)`, the
//! clamp bounds, softplus's beta...) take the tensor's dtype first, as the CPU kernels and
//! PyTorch do. Integers (i64) follow the CPU's integer definitions and are computed in i64, so
//! that wrapping arithmetic wraps (exact only up to 2^53, see the module docs of `reference`).

use super::{round, RefStorage};
use crate::primitive::{BinaryOp, CmpOp, UnaryOp};
use crate::{DType, Error, Layout, Result};

/// `op` on one float value (already rounded scalars in the op).
fn float_unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Log1p => x.ln_1p(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        // 0 and -0 stay themselves, NaN stays NaN
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        UnaryOp::Square => x * x,
        UnaryOp::Recip => 1.0 / x,
        // two branches so that exp never overflows
        UnaryOp::Sigmoid => {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
        UnaryOp::Tanh => x.tanh(),
        // PyTorch's relu: 0 for x <= 0, x otherwise, so NaN stays NaN
        UnaryOp::Relu => {
            if x <= 0.0 {
                0.0
            } else {
                x
            }
        }
        UnaryOp::LeakyRelu(s) => {
            if x > 0.0 {
                x
            } else {
                x * s
            }
        }
        // PyTorch's softplus: linear once `beta x` exceeds the threshold
        UnaryOp::Softplus { beta, threshold } => {
            if x * beta > threshold {
                x
            } else {
                (x * beta).exp().ln_1p() / beta
            }
        }
        UnaryOp::AddScalar(c) => x + c,
        UnaryOp::MulScalar(c) => x * c,
        UnaryOp::PowScalar(p) => x.powf(p),
        UnaryOp::ScalarPow(b) => b.powf(x),
        // lower bound first, then upper: with lo > hi the result is hi; a NaN bound never clamps
        UnaryOp::Clamp(lo, hi) => {
            let mut y = x;
            if let Some(lo) = lo {
                if y < lo {
                    y = lo;
                }
            }
            if let Some(hi) = hi {
                if y > hi {
                    y = hi;
                }
            }
            y
        }
    }
}

/// `op` with its scalar parameters converted to `dtype`, as the CPU kernels convert them.
fn scalars_to(dtype: DType, op: UnaryOp) -> UnaryOp {
    let r = |v: f64| round(dtype, v);
    match op {
        UnaryOp::LeakyRelu(s) => UnaryOp::LeakyRelu(r(s)),
        UnaryOp::Softplus { beta, threshold } => UnaryOp::Softplus {
            beta: r(beta),
            threshold: r(threshold),
        },
        UnaryOp::AddScalar(c) => UnaryOp::AddScalar(r(c)),
        UnaryOp::MulScalar(c) => UnaryOp::MulScalar(r(c)),
        UnaryOp::PowScalar(p) => UnaryOp::PowScalar(r(p)),
        UnaryOp::ScalarPow(b) => UnaryOp::ScalarPow(r(b)),
        UnaryOp::Clamp(lo, hi) => UnaryOp::Clamp(lo.map(r), hi.map(r)),
        other => other,
    }
}

/// `op` on one i64 value, or `None` where the op is float-only. Scalars truncate (`as i64`);
/// clamp bounds round inward (`ceil` the lower, `floor` the upper), as on the CPU.
fn int_unary(op: UnaryOp, x: i64) -> Option<i64> {
    Some(match op {
        UnaryOp::Neg => x.wrapping_neg(),
        UnaryOp::Abs => x.wrapping_abs(),
        UnaryOp::Sign => x.signum(),
        UnaryOp::Square => x.wrapping_mul(x),
        UnaryOp::Relu => x.max(0),
        UnaryOp::AddScalar(c) => x.wrapping_add(c as i64),
        UnaryOp::MulScalar(c) => x.wrapping_mul(c as i64),
        UnaryOp::Clamp(lo, hi) => {
            let lo = lo.map_or(i64::MIN, |v| v.ceil() as i64);
            let hi = hi.map_or(i64::MAX, |v| v.floor() as i64);
            x.max(lo).min(hi)
        }
        _ => return None,
    })
}

pub(super) fn unary(s: &RefStorage, l: &Layout, op: UnaryOp) -> Result<RefStorage> {
    let x = s.values(l);
    let dt = s.dtype;
    let out = match dt {
        DType::F32 | DType::F64 => {
            // the CPU (and PyTorch) compute the exponent 0.5, exactly, as sqrt, which differs
            // from powf at -0 and -inf; decided before the exponent is rounded to the dtype
            let op = match op {
                UnaryOp::PowScalar(0.5) => UnaryOp::Sqrt,
                op => scalars_to(dt, op),
            };
            x.into_iter().map(|v| float_unary(op, v)).collect()
        }
        DType::I64 => {
            // checked once up front, so that an empty tensor gets the same error
            if int_unary(op, 0).is_none() {
                return Err(Error::DType {
                    op: op.name(),
                    expected: "a float tensor",
                    got: DType::I64,
                });
            }
            x.into_iter()
                .map(|v| int_unary(op, v as i64).map_or(0.0, |y| y as f64))
                .collect()
        }
        DType::U8 => {
            return Err(Error::DType {
                op: op.name(),
                expected: "a float or int64 tensor (cast masks with to_dtype)",
                got: DType::U8,
            })
        }
    };
    Ok(RefStorage::rounded(dt, out))
}

/// `op(x, y)` on float values.
fn float_binary(op: BinaryOp, x: f64, y: f64) -> f64 {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Pow => x.powf(y),
        // NaN on either side wins; on a tie (0 and -0) the right operand is taken
        BinaryOp::Maximum => {
            if x > y || x.is_nan() {
                x
            } else {
                y
            }
        }
        BinaryOp::Minimum => {
            if x < y || x.is_nan() {
                x
            } else {
                y
            }
        }
        // `x` is the gradient, `y` the input: a NaN input is not `<= 0`, so it passes
        BinaryOp::ReluBackward => {
            if y <= 0.0 {
                0.0
            } else {
                x
            }
        }
    }
}

/// `op(x, y)` on i64 values, or `None` where the op is float-only.
fn int_binary(op: BinaryOp, x: i64, y: i64) -> Option<i64> {
    Some(match op {
        BinaryOp::Add => x.wrapping_add(y),
        BinaryOp::Sub => x.wrapping_sub(y),
        BinaryOp::Mul => x.wrapping_mul(y),
        BinaryOp::Maximum => x.max(y),
        BinaryOp::Minimum => x.min(y),
        BinaryOp::ReluBackward => {
            if y <= 0 {
                0
            } else {
                x
            }
        }
        BinaryOp::Div | BinaryOp::Pow => return None,
    })
}

pub(super) fn binary(
    (a, al): (&RefStorage, &Layout),
    (b, bl): (&RefStorage, &Layout),
    op: BinaryOp,
) -> Result<RefStorage> {
    let dt = a.dtype;
    if dt != b.dtype || dt == DType::U8 {
        return Err(Error::DType {
            op: op.name(),
            expected: "two float or int64 tensors of the same dtype",
            // the CPU names the u8 operand when the left one is u8, else the right one
            got: if dt == DType::U8 { dt } else { b.dtype },
        });
    }
    if dt == DType::I64 && int_binary(op, 0, 1).is_none() {
        return Err(Error::DType {
            op: op.name(),
            expected: "a float tensor",
            got: DType::I64,
        });
    }
    let pairs = a.values(al).into_iter().zip(b.values(bl));
    let out = if dt == DType::I64 {
        pairs
            .map(|(x, y)| int_binary(op, x as i64, y as i64).unwrap_or(0) as f64)
            .collect()
    } else {
        pairs.map(|(x, y)| float_binary(op, x, y)).collect()
    };
    Ok(RefStorage::rounded(dt, out))
}

pub(super) fn cmp(
    (a, al): (&RefStorage, &Layout),
    (b, bl): (&RefStorage, &Layout),
    op: CmpOp,
) -> Result<RefStorage> {
    if a.dtype != b.dtype {
        return Err(Error::msg(format!(
            "{}: operands have different dtypes ({} and {})",
            op.name(),
            a.dtype,
            b.dtype
        )));
    }
    // values of one dtype compare the same in f64 (exactly, for i64 up to 2^53); NaN is
    // unordered: only `!=` holds
    let out = a
        .values(al)
        .into_iter()
        .zip(b.values(bl))
        .map(|(x, y)| {
            let holds = match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                CmpOp::Lt => x < y,
                CmpOp::Le => x <= y,
                CmpOp::Gt => x > y,
                CmpOp::Ge => x >= y,
            };
            if holds {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Ok(RefStorage::rounded(DType::U8, out))
}

pub(super) fn where_cond(
    (m, ml): (&RefStorage, &Layout),
    (t, tl): (&RefStorage, &Layout),
    (f, fl): (&RefStorage, &Layout),
) -> Result<RefStorage> {
    if m.dtype != DType::U8 {
        return Err(Error::DType {
            op: "where",
            expected: "a uint8 mask as condition",
            got: m.dtype,
        });
    }
    if t.dtype != f.dtype {
        return Err(Error::msg(
            "where: the two value tensors have different dtypes",
        ));
    }
    let out = m
        .values(ml)
        .into_iter()
        .zip(t.values(tl))
        .zip(f.values(fl))
        .map(|((c, x), y)| if c != 0.0 { x } else { y })
        .collect();
    Ok(RefStorage::rounded(t.dtype, out))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{t, vals};
    use super::*;
    use crate::Shape;

    fn un(dt: DType, v: &[f64], op: UnaryOp) -> Result<Vec<f64>> {
        let (s, l) = t(dt, v, &[v.len()]);
        unary(&s, &l, op).map(|r| vals(&r))
    }

    #[test]
    fn unary_edge_cases() {
        let nan = f64::NAN;
        let sign = un(DType::F64, &[-3.0, -0.0, 0.0, 2.0], UnaryOp::Sign).unwrap();
        assert_eq!(sign, vec![-1.0, 0.0, 0.0, 1.0]);
        assert!(sign[1].is_sign_negative());
        assert!(un(DType::F64, &[nan], UnaryOp::Sign).unwrap()[0].is_nan());
        // relu and leaky relu keep NaN, as PyTorch's do
        let r = un(DType::F64, &[nan, -1.0, 2.0], UnaryOp::Relu).unwrap();
        assert!(r[0].is_nan());
        assert_eq!(r[1..], [0.0, 2.0]);
        assert!(un(DType::F64, &[nan], UnaryOp::LeakyRelu(0.1)).unwrap()[0].is_nan());
        // sigmoid does not overflow at either end
        let sg = un(DType::F64, &[-1000.0, 0.0, 1000.0], UnaryOp::Sigmoid).unwrap();
        assert_eq!(sg, vec![0.0, 0.5, 1.0]);
        // softplus: linear above the threshold, log(1 + e^x) below
        let sp = UnaryOp::Softplus {
            beta: 1.0,
            threshold: 20.0,
        };
        let v = un(DType::F64, &[30.0, 0.0], sp).unwrap();
        assert_eq!(v[0], 30.0);
        assert!((v[1] - 2f64.ln()).abs() < 1e-15);
        // a NaN bound never clamps, lo > hi gives hi
        let c = un(
            DType::F64,
            &[-5.0, 5.0],
            UnaryOp::Clamp(Some(nan), Some(1.0)),
        )
        .unwrap();
        assert_eq!(c, vec![-5.0, 1.0]);
        let c = un(DType::F64, &[0.0], UnaryOp::Clamp(Some(3.0), Some(1.0))).unwrap();
        assert_eq!(c, vec![1.0]);
        // pow 0.5 is sqrt: sqrt(-inf) is NaN where powf gives inf
        assert!(un(DType::F64, &[f64::NEG_INFINITY], UnaryOp::PowScalar(0.5)).unwrap()[0].is_nan());
        assert_eq!(
            un(DType::F64, &[2.0], UnaryOp::PowScalar(-2.0)).unwrap(),
            vec![0.25]
        );
        // an f32 scalar is rounded to f32 before use
        let m = un(DType::F32, &[3.0], UnaryOp::MulScalar(0.1)).unwrap();
        assert_eq!(m, vec![(3.0 * (0.1f32 as f64)) as f32 as f64]);
    }

    #[test]
    fn integer_unary_rules() {
        let c = un(
            DType::I64,
            &[-3.0, 0.0, 5.0],
            UnaryOp::Clamp(Some(-1.5), Some(2.5)),
        )
        .unwrap();
        assert_eq!(c, vec![-1.0, 0.0, 2.0]);
        assert_eq!(
            un(DType::I64, &[4.0], UnaryOp::AddScalar(2.9)).unwrap(),
            vec![6.0]
        );
        assert_eq!(
            un(DType::I64, &[-4.0, 0.0], UnaryOp::Sign).unwrap(),
            vec![-1.0, 0.0]
        );
        assert!(matches!(
            un(DType::I64, &[], UnaryOp::Exp),
            Err(Error::DType { op: "exp", .. })
        ));
        assert!(matches!(
            un(DType::U8, &[1.0], UnaryOp::Neg),
            Err(Error::DType { got: DType::U8, .. })
        ));
    }

    #[test]
    fn binary_nan_and_broadcast() {
        let nan = f64::NAN;
        let (a, al) = t(DType::F64, &[1.0, nan, 3.0], &[3]);
        let (b, bl) = t(DType::F64, &[nan, 2.0, 2.0], &[3]);
        let mx = vals(&binary((&a, &al), (&b, &bl), BinaryOp::Maximum).unwrap());
        assert!(mx[0].is_nan() && mx[1].is_nan() && mx[2] == 3.0);
        let mn = vals(&binary((&a, &al), (&b, &bl), BinaryOp::Minimum).unwrap());
        assert!(mn[0].is_nan() && mn[1].is_nan() && mn[2] == 2.0);
        // relu backward: gradient a where input b > 0; a NaN input passes it
        let (x, xl) = t(DType::F64, &[nan, -1.0, 0.0], &[3]);
        let g = vals(&binary((&b, &bl), (&x, &xl), BinaryOp::ReluBackward).unwrap());
        assert!(g[0].is_nan());
        assert_eq!(&g[1..], &[0.0, 0.0]);
        // (2, 3) + a row broadcast with stride 0
        let (m, ml) = t(DType::I64, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let (r, _) = t(DType::I64, &[10.0, 20.0, 30.0], &[3]);
        let rl = Layout::new(Shape::new(vec![2, 3]), vec![0, 1], 0);
        let s = binary((&m, &ml), (&r, &rl), BinaryOp::Sub).unwrap();
        assert_eq!(vals(&s), vec![-9.0, -18.0, -27.0, -6.0, -15.0, -24.0]);
        assert!(binary((&m, &ml), (&r, &rl), BinaryOp::Div).is_err());
        let (u, ul) = t(DType::U8, &[1.0, 1.0, 1.0], &[3]);
        assert!(binary((&u, &ul), (&u, &ul), BinaryOp::Add).is_err());
        assert!(binary((&a, &al), (&u, &ul), BinaryOp::Add).is_err());
    }

    #[test]
    fn cmp_and_where() {
        let (a, al) = t(DType::F32, &[1.0, f64::NAN, 3.0], &[3]);
        let (b, bl) = t(DType::F32, &[1.0, f64::NAN, 2.0], &[3]);
        let eq = cmp((&a, &al), (&b, &bl), CmpOp::Eq).unwrap();
        assert_eq!(eq.dtype, DType::U8);
        assert_eq!(vals(&eq), vec![1.0, 0.0, 0.0]);
        let ne = cmp((&a, &al), (&b, &bl), CmpOp::Ne).unwrap();
        assert_eq!(vals(&ne), vec![0.0, 1.0, 1.0]);
        let gt = cmp((&a, &al), (&b, &bl), CmpOp::Gt).unwrap();
        let w = where_cond((&gt, &al), (&a, &al), (&b, &bl)).unwrap();
        assert_eq!(vals(&w)[0], 1.0);
        assert!(vals(&w)[1].is_nan());
        assert_eq!(vals(&w)[2], 3.0);
        assert!(where_cond((&a, &al), (&a, &al), (&b, &bl)).is_err());
        let (i, il) = t(DType::I64, &[1.0, 2.0, 3.0], &[3]);
        assert!(where_cond((&gt, &al), (&a, &al), (&i, &il)).is_err());
        assert!(cmp((&a, &al), (&i, &il), CmpOp::Lt).is_err());
    }
}
