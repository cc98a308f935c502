//! CPU kernels for the elementwise primitives. The op is matched once, outside the loop, so each
//! arm compiles to its own monomorphic (and, where possible, vectorized) loop.

use super::{map, with_cpu, zip, zip3, CpuStorage};
use crate::primitive::{BinaryOp, CmpOp, UnaryOp};
use crate::{DType, Element, Error, FloatElement, Layout, Result};

fn float_unary<T: super::Float>(v: &[T], l: &Layout, op: UnaryOp) -> Vec<T> {
    let c = |x: f64| T::from_f64(x);
    let zero = T::zero();
    let one = T::one();
    match op {
        UnaryOp::Neg => map(v, l, |x| -x),
        UnaryOp::Exp => match l.contiguous_range() {
            Some(r) => {
                let src = &v[r];
                super::build(src.len(), super::MIN_TASK, |start, out| {
                    T::exp_slice(&src[start..start + out.len()], out)
                })
            }
            None => map(v, l, |x| x.exp_kernel()),
        },
        UnaryOp::Log => map(v, l, |x| x.ln()),
        UnaryOp::Log1p => map(v, l, |x| x.ln_1p()),
        UnaryOp::Sqrt => map(v, l, |x| x.sqrt()),
        UnaryOp::Abs => map(v, l, |x| x.abs()),
        UnaryOp::Sign => map(v, l, |x| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                x // 0 stays 0 (and -0.0, NaN stay themselves)
            }
        }),
        UnaryOp::Square => map(v, l, |x| x * x),
        UnaryOp::Recip => map(v, l, |x| one / x),
        // NOTE: two branches so that exp never overflows: for x < 0 use e^x / (1 + e^x).
        UnaryOp::Sigmoid => map(v, l, |x| {
            if x >= zero {
                one / (one + (-x).exp())
            } else {
                let e = x.exp();
                e / (one + e)
            }
        }),
        UnaryOp::Tanh => map(v, l, |x| x.tanh()),
        // `!(x <= 0)` keeps NaN, as PyTorch's relu does (and as its backward passes the gradient)
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        UnaryOp::Relu => map(v, l, |x| if !(x <= zero) { x } else { zero }),
        UnaryOp::LeakyRelu(s) => {
            let s = c(s);
            map(v, l, |x| if x > zero { x } else { x * s })
        }
        UnaryOp::Softplus { beta, threshold } => {
            let (b, th) = (c(beta), c(threshold));
            map(v, l, |x| {
                let bx = x * b;
                if bx > th {
                    x
                } else {
                    bx.exp().ln_1p() / b
                }
            })
        }
        UnaryOp::AddScalar(s) => {
            let s = c(s);
            map(v, l, |x| x + s)
        }
        UnaryOp::MulScalar(s) => {
            let s = c(s);
            map(v, l, |x| x * s)
        }
        UnaryOp::PowScalar(p) => {
            if p == 2.0 {
                map(v, l, |x| x * x)
            } else if p == 0.5 {
                map(v, l, |x| x.sqrt())
            } else if p == p.trunc() && p.abs() < 64.0 {
                let p = p as i32;
                map(v, l, |x| x.powi(p))
            } else {
                let p = c(p);
                map(v, l, |x| x.powf(p))
            }
        }
        UnaryOp::ScalarPow(b) => {
            let b = c(b);
            map(v, l, |x| b.powf(x))
        }
        UnaryOp::Clamp(lo, hi) => {
            let lo = lo.map(c);
            let hi = hi.map(c);
            map(v, l, |x| {
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
            })
        }
    }
}

fn int_unary(v: &[i64], l: &Layout, op: UnaryOp) -> Result<Vec<i64>> {
    Ok(match op {
        UnaryOp::Neg => map(v, l, |x| x.wrapping_neg()),
        UnaryOp::Abs => map(v, l, |x| x.wrapping_abs()),
        UnaryOp::Sign => map(v, l, |x| x.signum()),
        UnaryOp::Square => map(v, l, |x| x.wrapping_mul(x)),
        UnaryOp::Relu => map(v, l, |x| x.max(0)),
        UnaryOp::AddScalar(s) => {
            let s = s as i64;
            map(v, l, |x| x.wrapping_add(s))
        }
        UnaryOp::MulScalar(s) => {
            let s = s as i64;
            map(v, l, |x| x.wrapping_mul(s))
        }
        UnaryOp::Clamp(lo, hi) => {
            let lo = lo.map_or(i64::MIN, |v| v.ceil() as i64);
            let hi = hi.map_or(i64::MAX, |v| v.floor() as i64);
            map(v, l, |x| x.max(lo).min(hi))
        }
        _ => {
            return Err(Error::DType {
                op: op.name(),
                expected: "a float tensor",
                got: DType::I64,
            })
        }
    })
}

pub(crate) fn unary(s: &CpuStorage, l: &Layout, op: UnaryOp) -> Result<CpuStorage> {
    Ok(match s {
        CpuStorage::F32(v) => CpuStorage::F32(float_unary(v, l, op)),
        CpuStorage::F64(v) => CpuStorage::F64(float_unary(v, l, op)),
        CpuStorage::I64(v) => CpuStorage::I64(int_unary(v, l, op)?),
        CpuStorage::U8(_) => {
            return Err(Error::DType {
                op: op.name(),
                expected: "a float or int64 tensor (cast masks with to_dtype)",
                got: DType::U8,
            })
        }
    })
}

fn float_binary<T: FloatElement>(
    a: &[T],
    al: &Layout,
    b: &[T],
    bl: &Layout,
    op: BinaryOp,
) -> Vec<T> {
    match op {
        BinaryOp::Add => zip(a, al, b, bl, |x, y| x + y),
        BinaryOp::Sub => zip(a, al, b, bl, |x, y| x - y),
        BinaryOp::Mul => zip(a, al, b, bl, |x, y| x * y),
        BinaryOp::Div => zip(a, al, b, bl, |x, y| x / y),
        BinaryOp::Pow => zip(a, al, b, bl, |x, y| x.powf(y)),
        BinaryOp::Maximum => zip(a, al, b, bl, |x, y| if x > y || x.is_nan() { x } else { y }),
        BinaryOp::Minimum => zip(a, al, b, bl, |x, y| if x < y || x.is_nan() { x } else { y }),
        BinaryOp::ReluBackward => {
            let zero = T::zero();
            zip(a, al, b, bl, move |g, x| if x <= zero { zero } else { g })
        }
    }
}

fn int_binary(a: &[i64], al: &Layout, b: &[i64], bl: &Layout, op: BinaryOp) -> Result<Vec<i64>> {
    Ok(match op {
        BinaryOp::Add => zip(a, al, b, bl, |x, y| x.wrapping_add(y)),
        BinaryOp::Sub => zip(a, al, b, bl, |x, y| x.wrapping_sub(y)),
        BinaryOp::Mul => zip(a, al, b, bl, |x, y| x.wrapping_mul(y)),
        BinaryOp::Maximum => zip(a, al, b, bl, |x, y| x.max(y)),
        BinaryOp::Minimum => zip(a, al, b, bl, |x, y| x.min(y)),
        BinaryOp::ReluBackward => zip(a, al, b, bl, |g, x| if x <= 0 { 0 } else { g }),
        BinaryOp::Div | BinaryOp::Pow => {
            return Err(Error::DType {
                op: op.name(),
                expected: "a float tensor",
                got: DType::I64,
            })
        }
    })
}

pub(crate) fn binary(
    a: &CpuStorage,
    al: &Layout,
    b: &CpuStorage,
    bl: &Layout,
    op: BinaryOp,
) -> Result<CpuStorage> {
    Ok(match (a, b) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(float_binary(a, al, b, bl, op)),
        (CpuStorage::F64(a), CpuStorage::F64(b)) => CpuStorage::F64(float_binary(a, al, b, bl, op)),
        (CpuStorage::I64(a), CpuStorage::I64(b)) => CpuStorage::I64(int_binary(a, al, b, bl, op)?),
        _ => {
            return Err(Error::DType {
                op: op.name(),
                expected: "two float or int64 tensors of the same dtype",
                got: if a.dtype() == DType::U8 {
                    a.dtype()
                } else {
                    b.dtype()
                },
            })
        }
    })
}

fn cmp_typed<T: Element>(a: &[T], al: &Layout, b: &[T], bl: &Layout, op: CmpOp) -> Vec<u8> {
    match op {
        CmpOp::Eq => zip(a, al, b, bl, |x, y| (x == y) as u8),
        CmpOp::Ne => zip(a, al, b, bl, |x, y| (x != y) as u8),
        CmpOp::Lt => zip(a, al, b, bl, |x, y| (x < y) as u8),
        CmpOp::Le => zip(a, al, b, bl, |x, y| (x <= y) as u8),
        CmpOp::Gt => zip(a, al, b, bl, |x, y| (x > y) as u8),
        CmpOp::Ge => zip(a, al, b, bl, |x, y| (x >= y) as u8),
    }
}

pub(crate) fn cmp(
    a: &CpuStorage,
    al: &Layout,
    b: &CpuStorage,
    bl: &Layout,
    op: CmpOp,
) -> Result<CpuStorage> {
    let out = match (a, b) {
        (CpuStorage::F32(a), CpuStorage::F32(b)) => cmp_typed(a, al, b, bl, op),
        (CpuStorage::F64(a), CpuStorage::F64(b)) => cmp_typed(a, al, b, bl, op),
        (CpuStorage::I64(a), CpuStorage::I64(b)) => cmp_typed(a, al, b, bl, op),
        (CpuStorage::U8(a), CpuStorage::U8(b)) => cmp_typed(a, al, b, bl, op),
        _ => {
            return Err(Error::msg(format!(
                "{}: operands have different dtypes ({} and {})",
                op.name(),
                a.dtype(),
                b.dtype()
            )))
        }
    };
    Ok(CpuStorage::U8(out))
}

/// `mask ? t : f` over three layouts of the same shape.
pub(crate) fn where_cond(
    (m, ml): (&CpuStorage, &Layout),
    (t, tl): (&CpuStorage, &Layout),
    (f, fl): (&CpuStorage, &Layout),
) -> Result<CpuStorage> {
    let CpuStorage::U8(m) = m else {
        return Err(Error::DType {
            op: "where",
            expected: "a uint8 mask as condition",
            got: m.dtype(),
        });
    };
    fn go<T: Element>(
        m: &[u8],
        ml: &Layout,
        t: &[T],
        tl: &Layout,
        f: &CpuStorage,
        fl: &Layout,
    ) -> Result<CpuStorage> {
        let f = T::slice(f)
            .ok_or_else(|| Error::msg("where: the two value tensors have different dtypes"))?;
        Ok(T::into_host(zip3((m, ml), (t, tl), (f, fl), |c, x, y| {
            if c != 0 {
                x
            } else {
                y
            }
        })))
    }
    with_cpu!(t, tv => go(m, ml, tv, tl, f, fl))
}
