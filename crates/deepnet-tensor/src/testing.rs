//! Testing utilities: the f64 finite-difference gradient check, seeded test inputs, and the
//! bounded byte fuzzer of the file parsers.

use crate::{no_grad, DType, Error, Generator, Result, Shape, Tensor};

/// Absolute and relative tolerance of a gradient check.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    /// absolute tolerance
    pub atol: f64,
    /// relative tolerance
    pub rtol: f64,
    /// finite-difference step
    pub eps: f64,
}

impl Default for Tol {
    fn default() -> Self {
        Tol {
            atol: 1e-6,
            rtol: 1e-4,
            eps: 1e-6,
        }
    }
}

/// A standard-normal f64 tensor drawn from seed `seed` (test inputs).
pub fn seeded(shape: impl Into<Shape>, seed: u64) -> Tensor {
    Tensor::randn(shape, DType::F64, &mut Generator::new(seed)).expect("randn of a valid shape")
}

/// Checks the autograd gradients of `f` at `inputs` against f64 central differences, with the
/// default tolerance. See [`gradcheck_with`].
pub fn gradcheck(
    name: &str,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
) -> Result<()> {
    gradcheck_with(name, f, inputs, Tol::default())
}

/// Checks the autograd gradients of `f` at `inputs` against f64 central differences.
///
/// The inputs are converted to f64 leaves requiring grad. A non-scalar output is checked along a
/// fixed random projection: `L = sum(f(x) * P)`, so every output element takes part. Every element
/// of every float input is perturbed by `±eps`; integer inputs are passed through unchanged.
/// Returns [`Error::GradCheck`] naming the input and element at the first disagreement.
pub fn gradcheck_with(
    name: &str,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    tol: Tol,
) -> Result<()> {
    let xs: Vec<Tensor> = inputs
        .iter()
        .map(|x| {
            if x.dtype().is_float() {
                x.to_dtype(DType::F64)?
                    .detach()
                    .force_copy()
                    .requires_grad_(true)
            } else {
                Ok(x.clone())
            }
        })
        .collect::<Result<_>>()?;
    let y = f(&xs)?;
    if y.dtype() != DType::F64 {
        return Err(Error::msg(format!(
            "gradcheck `{name}`: the function returned {}, not float64",
            y.dtype()
        )));
    }
    let proj = Tensor::randn(y.shape().clone(), DType::F64, &mut Generator::new(0x5eed))?;
    let loss = |xs: &[Tensor]| -> Result<f64> { f(xs)?.mul(&proj)?.sum_all()?.item() };
    let grads = if y.tracks_grad() {
        y.mul(&proj)?.sum_all()?.backward()?
    } else {
        crate::GradStore::new()
    };
    let _g = no_grad();
    for (i, x) in xs.iter().enumerate() {
        if !x.dtype().is_float() {
            continue;
        }
        // no gradient means zero: an input that matters but was not reached fails here
        let analytic = match grads.get(x) {
            Some(g) => g.to_vec_f64(),
            None => vec![0.0; x.numel()],
        };
        let base = x.to_vec::<f64>()?;
        for (j, &a) in analytic.iter().enumerate() {
            let at = |h: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += h;
                let mut ys = xs.clone();
                ys[i] = Tensor::from_vec(v, x.shape().clone())?;
                loss(&ys)
            };
            let numeric = (at(tol.eps)? - at(-tol.eps)?) / (2.0 * tol.eps);
            // written so that a NaN on either side fails the check
            let close = (numeric - a).abs() <= tol.atol + tol.rtol * numeric.abs();
            if !close {
                return Err(Error::GradCheck {
                    op: name.to_string(),
                    input: i,
                    index: j,
                    numeric,
                    analytic: a,
                });
            }
        }
    }
    Ok(())
}

/// Bounded, seeded fuzzing on stable Rust: runs `parse` on every truncation of the valid input
/// `good`, then on `n` variants of it (each with 1-4 random byte writes, insertions or deletions,
/// favouring the bytes a length field is most sensitive to), and panics naming the input if
/// `parse` panics on one. `parse` should return `Ok` or an error for each.
pub fn fuzz_bytes(good: &[u8], n: usize, seed: u64, parse: impl Fn(&[u8])) {
    for cut in 0..good.len() {
        parse(&good[..cut]);
    }
    let mut g = Generator::new(seed);
    for _ in 0..n {
        let mut d = good.to_vec();
        for _ in 0..1 + g.next_below(4) {
            let i = g.next_below(d.len().max(1) as u64) as usize;
            match g.next_below(8) {
                0 => d.insert(i.min(d.len()), g.next_below(256) as u8),
                1 if d.len() > 1 => {
                    d.remove(i);
                }
                2 if !d.is_empty() => d[i] = [0x00, 0xff, 0x7f, 0x80][g.next_below(4) as usize],
                _ if !d.is_empty() => d[i] = g.next_below(256) as u8,
                _ => {}
            }
        }
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(&d)));
        assert!(run.is_ok(), "panicked on input {d:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Backward;

    /// An op with a deliberately wrong derivative (2x instead of 3x^2 for x^3): gradcheck must
    /// catch it, which shows the check can fail.
    struct WrongCube;
    impl Backward for WrongCube {
        fn name(&self) -> &'static str {
            "wrong_cube"
        }
        fn backward(
            &self,
            inputs: &[Tensor],
            _y: &Tensor,
            g: &Tensor,
        ) -> Result<Vec<Option<Tensor>>> {
            Ok(vec![Some(g.mul(&inputs[0].mul_scalar(2.0)?)?)])
        }
    }

    #[test]
    fn gradcheck_catches_a_wrong_backward() {
        let x = seeded([5], 1);
        let cube = |t: &[Tensor]| -> Result<Tensor> {
            let s = t[0]
                .storage()
                .unary(t[0].layout(), crate::primitive::UnaryOp::PowScalar(3.0))?;
            Ok(Tensor::from_op(
                s,
                t[0].shape().clone(),
                WrongCube,
                &[&t[0]],
            ))
        };
        let e = gradcheck("wrong_cube", cube, &[x.clone()]).unwrap_err();
        assert!(matches!(e, Error::GradCheck { .. }), "{e}");
        gradcheck("cube", |t| t[0].pow_scalar(3.0), &[x]).unwrap();
    }

    #[test]
    fn gradcheck_catches_a_missing_gradient() {
        // detach() cuts the path, so autograd gives no gradient but the output depends on x
        let e = gradcheck("cut", |t| t[0].detach().exp(), &[seeded([3], 2)]).unwrap_err();
        assert!(matches!(e, Error::GradCheck { .. }));
    }
}
