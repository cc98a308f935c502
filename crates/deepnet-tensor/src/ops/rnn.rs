//! Fused recurrent cells: the elementwise part of one LSTM or GRU step as one op, forward and
//! backward, instead of ~15 graph nodes (a split into gates, three sigmoids, two tanhs, the
//! products and sums). The matrix products that make the gate pre-activations stay ordinary
//! `matmul`s, so their gradients flow as usual.
//!
//! Two outputs (the LSTM's `h'` and `c'`) fit the single-output [`Backward`] by making the op's
//! output one `(N, 2H)` tensor `[h' | c']`; the method returns its two halves as views, and
//! autograd adds the gradients that reach each half into the `(N, 2H)` gradient the backward
//! sees. The backward recomputes the activations from the saved pre-activations.

use crate::autograd::Backward;
use crate::{Error, Result, Tensor};

/// Checks that `t` has the shape `want`, naming the operand.
pub(super) fn check_2d(
    op: &'static str,
    what: &str,
    t: &Tensor,
    want: (usize, usize),
) -> Result<()> {
    if t.rank() != 2 {
        return Err(Error::Rank {
            op,
            expected: format!("{what} of shape ({}, {})", want.0, want.1),
            got: t.shape().clone(),
        });
    }
    if t.dims() != [want.0, want.1] {
        return Err(Error::invalid(
            op,
            format!("{what} must be ({}, {}), got {}", want.0, want.1, t.shape()),
        ));
    }
    Ok(())
}

/// Checks that every tensor of `ts` has the first one's dtype, a float.
pub(super) fn check_dtypes(op: &'static str, ts: &[(&str, &Tensor)]) -> Result<()> {
    let dt = ts[0].1.dtype();
    if !dt.is_float() {
        return Err(Error::DType {
            op,
            expected: "float32 or float64",
            got: dt,
        });
    }
    for (name, t) in &ts[1..] {
        if t.dtype() != dt {
            return Err(Error::invalid(
                op,
                format!(
                    "{name} is {} but {} is {dt}: the operands must have one dtype",
                    t.dtype(),
                    ts[0].0
                ),
            ));
        }
    }
    Ok(())
}

/// `(N, G*H)` gates -> `(N, H)`, or an error if the gate count does not divide the columns.
fn gate_rows(op: &'static str, gates: &Tensor, g: usize, name: &str) -> Result<(usize, usize)> {
    if gates.rank() != 2 || !gates.dims()[1].is_multiple_of(g) {
        return Err(Error::Rank {
            op,
            expected: format!("{name} of shape (N, {g}*H)"),
            got: gates.shape().clone(),
        });
    }
    Ok((gates.dims()[0], gates.dims()[1] / g))
}

/// Backward of the fused LSTM step: inputs `[gates, c_prev]`, output `[h' | c']`.
struct LstmCellBackward;

impl Backward for LstmCellBackward {
    fn name(&self) -> &'static str {
        "lstm_cell"
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (g, c) = (&x[0], &x[1]);
        let gy = gy.to_dtype(g.dtype())?;
        let (dg, dc) = g.storage().lstm_cell_backward(
            g.layout(),
            (&c.storage(), c.layout()),
            (&gy.storage(), gy.layout()),
        )?;
        Ok(vec![
            Some(Tensor::from_storage(dg, g.shape().clone())),
            Some(Tensor::from_storage(dc, c.shape().clone())),
        ])
    }
}

/// Backward of the fused GRU step: inputs `[gi, gh, h_prev]`, output `h'`.
struct GruCellBackward;

impl Backward for GruCellBackward {
    fn name(&self) -> &'static str {
        "gru_cell"
    }
    fn backward(&self, x: &[Tensor], _y: &Tensor, gy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (gi, gh, hp) = (&x[0], &x[1], &x[2]);
        let gy = gy.to_dtype(gi.dtype())?;
        let (dgg, dh) = gi.storage().gru_cell_backward(
            gi.layout(),
            (&gh.storage(), gh.layout()),
            (&hp.storage(), hp.layout()),
            (&gy.storage(), gy.layout()),
        )?;
        // `[d gi | d gh]` row by row: the two halves are views of one buffer
        let (n, h3) = (gi.dims()[0], gi.dims()[1]);
        let both = Tensor::from_storage(dgg, [n, 2 * h3]);
        Ok(vec![
            Some(both.narrow(1, 0, h3)?),
            Some(both.narrow(1, h3, h3)?),
            Some(Tensor::from_storage(dh, hp.shape().clone())),
        ])
    }
}

impl Tensor {
    /// One LSTM step's gate nonlinearities and state update, fused: `self` is `(N, 4H)`, the
    /// pre-activations of the gates i, f, g, o in PyTorch's order (`x W_ih^T + b_ih +
    /// h W_hh^T + b_hh`), `c_prev: (N, H)` the cell state, both of one float dtype. Returns
    /// `(h', c')`, each `(N, H)`:
    /// `c' = σ(i_pre) tanh(g_pre) + σ(f_pre) c_prev`, `h' = σ(o_pre) tanh(c')`.
    /// Both are differentiable with respect to the gates and `c_prev`; they are views of one
    /// `(N, 2H)` result `[h' | c']`.
    pub fn lstm_cell(&self, c_prev: &Tensor) -> Result<(Tensor, Tensor)> {
        const OP: &str = "lstm_cell";
        let (n, h) = gate_rows(OP, self, 4, "gates")?;
        check_2d(OP, "c_prev", c_prev, (n, h))?;
        check_dtypes(OP, &[("gates", self), ("c_prev", c_prev)])?;
        let s = self
            .storage()
            .lstm_cell(self.layout(), (&c_prev.storage(), c_prev.layout()))?;
        let hc = Tensor::from_op(s, [n, 2 * h], LstmCellBackward, &[self, c_prev]);
        Ok((hc.narrow(1, 0, h)?, hc.narrow(1, h, h)?))
    }

    /// One GRU step in PyTorch's form, fused: `self = x W_ih^T + b_ih` and
    /// `gh = h W_hh^T + b_hh`, both `(N, 3H)` with gates r, z, n, and `h_prev: (N, H)`, all of
    /// one float dtype. Returns `h' = (1 - z) n + z h_prev: (N, H)` with
    /// `r = σ(gi_r + gh_r)`, `z = σ(gi_z + gh_z)`, `n = tanh(gi_n + r gh_n)`
    /// (`torch.nn.GRUCell`; the canon's form resets `h` before its product and is composed).
    pub fn gru_cell(&self, gh: &Tensor, h_prev: &Tensor) -> Result<Tensor> {
        const OP: &str = "gru_cell";
        let (n, h) = gate_rows(OP, self, 3, "gi")?;
        check_2d(OP, "gh", gh, (n, 3 * h))?;
        check_2d(OP, "h_prev", h_prev, (n, h))?;
        check_dtypes(OP, &[("gi", self), ("gh", gh), ("h_prev", h_prev)])?;
        let s = self.storage().gru_cell(
            self.layout(),
            (&gh.storage(), gh.layout()),
            (&h_prev.storage(), h_prev.layout()),
        )?;
        Ok(Tensor::from_op(
            s,
            [n, h],
            GruCellBackward,
            &[self, gh, h_prev],
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Error, Result, Tensor};

    /// The LSTM step composed of elementwise ops (what the fused op replaces).
    fn lstm_composite(g: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = c.dims()[1];
        let gate = |k: usize| g.narrow(1, k * h, h);
        let c2 = gate(1)?
            .sigmoid()?
            .mul(c)?
            .add(&gate(0)?.sigmoid()?.mul(&gate(2)?.tanh()?)?)?;
        Ok((gate(3)?.sigmoid()?.mul(&c2.tanh()?)?, c2))
    }

    /// The PyTorch-form GRU step composed of elementwise ops.
    fn gru_composite(gi: &Tensor, gh: &Tensor, hp: &Tensor) -> Result<Tensor> {
        let h = hp.dims()[1];
        let at = |t: &Tensor, k: usize| t.narrow(1, k * h, h);
        let r = at(gi, 0)?.add(&at(gh, 0)?)?.sigmoid()?;
        let z = at(gi, 1)?.add(&at(gh, 1)?)?.sigmoid()?;
        let n = at(gi, 2)?.add(&r.mul(&at(gh, 2)?)?)?.tanh()?;
        n.add(&z.mul(&hp.sub(&n)?)?)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn lstm_matches_the_composite() {
        // larger than one task's rows (2^14 cells / 8 = 2048 rows) so the split is exercised
        let (g, c) = (seeded([2100, 32], 1), seeded([2100, 8], 2));
        let (h1, c1) = g.lstm_cell(&c).unwrap();
        let (h2, c2) = lstm_composite(&g, &c).unwrap();
        assert!(max_diff(&h1, &h2) < 1e-14 && max_diff(&c1, &c2) < 1e-14);
        // f32: the kernel exp against libm, a few ulp
        let (g32, c32) = (
            g.to_dtype(DType::F32).unwrap(),
            c.to_dtype(DType::F32).unwrap(),
        );
        let (h3, c3) = g32.lstm_cell(&c32).unwrap();
        let f = |t: &Tensor| t.to_dtype(DType::F64).unwrap();
        assert!(max_diff(&f(&h3), &h2) < 1e-5 && max_diff(&f(&c3), &c2) < 1e-5);
    }

    #[test]
    fn gru_matches_the_composite() {
        let (gi, gh, hp) = (
            seeded([700, 30], 3),
            seeded([700, 30], 4),
            seeded([700, 10], 5),
        );
        let a = gi.gru_cell(&gh, &hp).unwrap();
        let b = gru_composite(&gi, &gh, &hp).unwrap();
        assert!(max_diff(&a, &b) < 1e-14);
    }

    #[test]
    fn lstm_gradcheck() {
        // h' and c' both weighted, c' also through a square (so the c' gradient is not linear)
        let f = |t: &[Tensor]| {
            let (h, c) = t[0].lstm_cell(&t[1])?;
            h.add(&c.square()?)
        };
        gradcheck("lstm_cell", f, &[seeded([3, 8], 6), seeded([3, 2], 7)]).unwrap();
        // h' alone: the c' half of the gradient is zero
        let f = |t: &[Tensor]| Ok(t[0].lstm_cell(&t[1])?.0);
        gradcheck("lstm_cell h", f, &[seeded([2, 12], 8), seeded([2, 3], 9)]).unwrap();
        // a transposed gates view
        let f = |t: &[Tensor]| {
            let (h, c) = t[0].t()?.lstm_cell(&t[1])?;
            h.mul(&c)
        };
        gradcheck(
            "lstm_cell view",
            f,
            &[seeded([8, 3], 10), seeded([3, 2], 11)],
        )
        .unwrap();
    }

    #[test]
    fn gru_gradcheck() {
        let f = |t: &[Tensor]| t[0].gru_cell(&t[1], &t[2]);
        let ins = [seeded([3, 6], 12), seeded([3, 6], 13), seeded([3, 2], 14)];
        gradcheck("gru_cell", f, &ins).unwrap();
        // one tensor in two roles: gradients add up
        let f = |t: &[Tensor]| t[0].gru_cell(&t[0], &t[1]);
        gradcheck(
            "gru_cell shared",
            f,
            &[seeded([2, 9], 15), seeded([2, 3], 16)],
        )
        .unwrap();
    }

    /// Rows split into fixed tasks: the same bits, forward and backward, on 1 or 3 threads.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let run = || {
            let g = seeded([3000, 32], 17).to_dtype(DType::F32).unwrap();
            let c = seeded([3000, 8], 18).to_dtype(DType::F32).unwrap();
            let g = g.requires_grad_(true).unwrap();
            let (h, c2) = g.lstm_cell(&c).unwrap();
            let gr = h.mul(&c2).unwrap().sum_all().unwrap().backward().unwrap();
            let mut v = h.to_vec::<f32>().unwrap();
            v.extend(gr.get(&g).unwrap().to_vec::<f32>().unwrap());
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        let one = crate::with_num_threads(1, run).unwrap();
        assert_eq!(one, crate::with_num_threads(3, run).unwrap());
    }

    #[test]
    fn empty_and_errors() {
        let z = Tensor::zeros([0, 8], DType::F32).unwrap();
        let (h, c) = z
            .lstm_cell(&Tensor::zeros([0, 2], DType::F32).unwrap())
            .unwrap();
        assert_eq!((h.dims(), c.dims()), (&[0, 2][..], &[0, 2][..]));
        let g = Tensor::zeros([2, 8], DType::F32).unwrap();
        let bad = |r: Result<(Tensor, Tensor)>| r.map(|_| ()).unwrap_err();
        let e = bad(g.lstm_cell(&Tensor::zeros([2, 3], DType::F32).unwrap()));
        assert!(e.to_string().contains("c_prev must be (2, 2)"), "{e}");
        let e = bad(g.lstm_cell(&Tensor::zeros([2, 2], DType::F64).unwrap()));
        assert!(e.to_string().contains("one dtype"), "{e}");
        let e = bad(Tensor::zeros([2, 7], DType::F32).unwrap().lstm_cell(&g));
        assert!(matches!(e, Error::Rank { .. }), "{e}");
        let i = Tensor::zeros([2, 8], DType::I64).unwrap();
        let e = bad(i.lstm_cell(&Tensor::zeros([2, 2], DType::I64).unwrap()));
        assert!(matches!(e, Error::DType { .. }), "{e}");
        let gi = Tensor::zeros([2, 6], DType::F32).unwrap();
        let e = gi.gru_cell(&gi, &Tensor::zeros([2, 3], DType::F32).unwrap());
        assert!(e.unwrap_err().to_string().contains("h_prev must be (2, 2)"));
    }
}
