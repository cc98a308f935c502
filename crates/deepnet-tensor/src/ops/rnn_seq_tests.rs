use crate::testing::{gradcheck, seeded};
use crate::{no_grad, DType, Error, Result, Tensor};

/// The times in the order the steps run.
fn order(l: usize, reverse: bool) -> Vec<usize> {
    if reverse {
        (0..l).rev().collect()
    } else {
        (0..l).collect()
    }
}

/// The LSTM as the per-step composition the sequence op replaces: a matmul and a fused cell
/// per step. Returns `(out, h_n, c_n)`.
fn lstm_steps(t: &[Tensor], reverse: bool) -> Result<(Tensor, Tensor, Tensor)> {
    let (xp, w, bi, bh, h0, c0) = (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
    let l = xp.dims()[0];
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let mut outs = vec![None; l];
    let b = bi.add(bh)?;
    for s in order(l, reverse) {
        let g = xp.narrow(0, s, 1)?.squeeze(0)?.add(&b)?;
        let (h2, c2) = g.add(&h.matmul(&w.t()?)?)?.lstm_cell(&c)?;
        outs[s] = Some(h2.clone());
        (h, c) = (h2, c2);
    }
    let outs: Vec<Tensor> = outs.into_iter().map(|o| o.unwrap()).collect();
    Ok((Tensor::stack(&outs, 0)?, h, c))
}

/// The GRU as the per-step composition: `(out, h_n)`.
fn gru_steps(t: &[Tensor], reverse: bool) -> Result<(Tensor, Tensor)> {
    let (xp, w, bi, bh, h0) = (&t[0], &t[1], &t[2], &t[3], &t[4]);
    let l = xp.dims()[0];
    let mut h = h0.clone();
    let mut outs = vec![None; l];
    for s in order(l, reverse) {
        let gh = h.matmul(&w.t()?)?.add(bh)?;
        h = xp.narrow(0, s, 1)?.squeeze(0)?.add(bi)?.gru_cell(&gh, &h)?;
        outs[s] = Some(h.clone());
    }
    let outs: Vec<Tensor> = outs.into_iter().map(|o| o.unwrap()).collect();
    Ok((Tensor::stack(&outs, 0)?, h))
}

fn lstm_seq(t: &[Tensor], reverse: bool) -> Result<(Tensor, Tensor, Tensor)> {
    t[0].lstm_seq(&t[1], (Some(&t[2]), Some(&t[3])), &t[4], &t[5], reverse)
}

fn gru_seq(t: &[Tensor], reverse: bool) -> Result<(Tensor, Tensor)> {
    t[0].gru_seq(&t[1], (Some(&t[2]), Some(&t[3])), &t[4], reverse)
}

/// `xp: (L, N, G*H)`, `w_hh: (G*H, H)`, `b_ih`, `b_hh: (G*H)`, `h0: (N, H)` [, `c0: (N, H)`]
/// of dtype `dt`, scaled so that the gates are neither linear nor saturated, marked as
/// requiring gradients.
fn operands(
    g: usize,
    (l, n, h): (usize, usize, usize),
    lstm: bool,
    dt: DType,
    seed: u64,
) -> Vec<Tensor> {
    let b = vec![g * h];
    let mut shapes = vec![vec![l, n, g * h], vec![g * h, h], b.clone(), b, vec![n, h]];
    if lstm {
        shapes.push(vec![n, h]);
    }
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let scale = if i == 1 { 1.0 / (h as f64).sqrt() } else { 1.0 };
            let t = seeded(s, seed + i as u64).mul_scalar(scale).unwrap();
            t.to_dtype(dt).unwrap().requires_grad_(true).unwrap()
        })
        .collect()
}

/// A loss that weighs every output differently (the final states also through a square).
fn loss(outs: &[&Tensor]) -> Result<Tensor> {
    let mut l = outs[0].mul(&seeded(outs[0].shape().clone(), 99).to_dtype(outs[0].dtype())?)?;
    l = l.sum_all()?;
    for (k, o) in outs[1..].iter().enumerate() {
        l = l.add(&o.square()?.mul_scalar(1.0 + k as f64)?.sum_all()?)?;
    }
    Ok(l)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_vec::<f64>().unwrap(), b.to_vec::<f64>().unwrap());
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// The outputs and every input's gradient of `f` on `ins`, as f64 tensors.
fn run_all(f: &dyn Fn(&[Tensor]) -> Result<Vec<Tensor>>, ins: &[Tensor]) -> Vec<Tensor> {
    let outs = f(ins).unwrap();
    let refs: Vec<&Tensor> = outs.iter().collect();
    let g = loss(&refs).unwrap().backward().unwrap();
    let mut v: Vec<Tensor> = outs.clone();
    v.extend(ins.iter().map(|t| g.get(t).expect("a gradient").clone()));
    v.into_iter()
        .map(|t| t.to_dtype(DType::F64).unwrap())
        .collect()
}

/// The sequence ops equal the per-step composition to rounding: values and the gradients of
/// every operand, both directions, f64 and f32; 7 rows (two slices on two threads), H = 13.
#[test]
fn sequences_match_the_per_step_composition() {
    let sizes = (5, 7, 13);
    for reverse in [false, true] {
        for (dt, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
            let ins = operands(4, sizes, true, dt, 1);
            let a = run_all(
                &|t| lstm_seq(t, reverse).map(|(o, h, c)| vec![o, h, c]),
                &ins,
            );
            let b = run_all(
                &|t| lstm_steps(t, reverse).map(|(o, h, c)| vec![o, h, c]),
                &ins,
            );
            for (k, (x, y)) in a.iter().zip(&b).enumerate() {
                let d = max_diff(x, y);
                assert!(d < tol, "lstm {dt} reverse={reverse} #{k}: {d}");
            }
            let ins = operands(3, sizes, false, dt, 11);
            let a = run_all(&|t| gru_seq(t, reverse).map(|(o, h)| vec![o, h]), &ins);
            let b = run_all(&|t| gru_steps(t, reverse).map(|(o, h)| vec![o, h]), &ins);
            for (k, (x, y)) in a.iter().zip(&b).enumerate() {
                let d = max_diff(x, y);
                assert!(d < tol, "gru {dt} reverse={reverse} #{k}: {d}");
            }
        }
    }
}

#[test]
fn lstm_gradcheck() {
    for reverse in [false, true] {
        let f = |t: &[Tensor]| {
            let (o, h, c) = lstm_seq(t, reverse)?;
            Tensor::cat(
                &[
                    o.flatten_all()?,
                    h.flatten_all()?,
                    c.square()?.flatten_all()?,
                ],
                0,
            )
        };
        let ins = operands(4, (3, 2, 2), true, DType::F64, 20);
        gradcheck("lstm_seq", f, &ins).unwrap();
    }
    // one bias or none, and only the final cell state used
    let f = |t: &[Tensor]| {
        Ok(t[0]
            .lstm_seq(&t[1], (None, Some(&t[2])), &t[3], &t[4], false)?
            .2)
    };
    let ins = operands(4, (2, 3, 3), true, DType::F64, 30);
    let ins = [&ins[0], &ins[1], &ins[3], &ins[4], &ins[5]].map(|t| t.clone());
    gradcheck("lstm_seq c_n", f, &ins).unwrap();
    let f = |t: &[Tensor]| Ok(t[0].lstm_seq(&t[1], (None, None), &t[2], &t[3], true)?.0);
    let ins = [&ins[0], &ins[1], &ins[3], &ins[4]].map(|t| t.clone());
    gradcheck("lstm_seq no bias", f, &ins).unwrap();
}

#[test]
fn gru_gradcheck() {
    for reverse in [false, true] {
        let f = |t: &[Tensor]| {
            let (o, h) = gru_seq(t, reverse)?;
            Tensor::cat(&[o.flatten_all()?, h.square()?.flatten_all()?], 0)
        };
        let ins = operands(3, (3, 2, 2), false, DType::F64, 40);
        gradcheck("gru_seq", f, &ins).unwrap();
    }
    let f = |t: &[Tensor]| Ok(t[0].gru_seq(&t[1], (Some(&t[2]), None), &t[3], true)?.0);
    let ins = operands(3, (4, 1, 3), false, DType::F64, 50);
    let ins = [&ins[0], &ins[1], &ins[2], &ins[4]].map(|t| t.clone());
    gradcheck("gru_seq b_ih only", f, &ins).unwrap();
    let f = |t: &[Tensor]| Ok(t[0].gru_seq(&t[1], (None, None), &t[2], false)?.1);
    let ins = [&ins[0], &ins[1], &ins[3]].map(|t| t.clone());
    gradcheck("gru_seq no bias", f, &ins).unwrap();
}

/// Each thread runs its own slice of rows, every row the same arithmetic wherever it falls:
/// the same bits on 1, 2 and 3 threads, forward and backward, and the same outputs whether the
/// forward keeps a reserve for the backward or not.
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let run = || {
        let mut bits = Vec::new();
        for reverse in [false, true] {
            let ins = operands(4, (6, 37, 20), true, DType::F32, 60);
            let f = |t: &[Tensor]| lstm_seq(t, reverse).map(|(o, h, c)| vec![o, h, c]);
            let all = run_all(&f, &ins);
            let plain = no_grad();
            let again = f(&ins).unwrap();
            drop(plain);
            for (a, b) in again.iter().zip(&all) {
                assert_eq!(max_diff(&a.to_dtype(DType::F64).unwrap(), b), 0.0);
            }
            let ins = operands(3, (6, 37, 20), false, DType::F32, 70);
            let f = |t: &[Tensor]| gru_seq(t, reverse).map(|(o, h)| vec![o, h]);
            for t in all.iter().chain(&run_all(&f, &ins)) {
                bits.extend(t.to_vec::<f64>().unwrap().iter().map(|x| x.to_bits()));
            }
        }
        bits
    };
    let one = crate::with_num_threads(1, run).unwrap();
    assert_eq!(one, crate::with_num_threads(2, run).unwrap());
    assert_eq!(one, crate::with_num_threads(3, run).unwrap());
}

#[test]
fn empty_sequences_and_errors() {
    let z = |s: &[usize]| Tensor::zeros(s.to_vec(), DType::F32).unwrap();
    // L = 0: no output, the states pass through
    let h0 = Tensor::ones([2, 3], DType::F32).unwrap();
    let (o, h, c) = z(&[0, 2, 12])
        .lstm_seq(
            &z(&[12, 3]),
            (None, None),
            &h0,
            &h0.mul_scalar(2.0).unwrap(),
            false,
        )
        .unwrap();
    assert_eq!(o.dims(), &[0, 2, 3]);
    assert_eq!(h.to_vec::<f32>().unwrap(), vec![1.0; 6]);
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![2.0; 6]);
    let (o, h) = z(&[0, 2, 9])
        .gru_seq(&z(&[9, 3]), (None, None), &h0, true)
        .unwrap();
    assert_eq!(
        (o.dims(), h.to_vec::<f32>().unwrap()),
        (&[0, 2, 3][..], vec![1.0; 6])
    );
    // N = 0 and H = 0
    let (o, ..) = z(&[3, 0, 8])
        .lstm_seq(&z(&[8, 2]), (None, None), &z(&[0, 2]), &z(&[0, 2]), false)
        .unwrap();
    assert_eq!(o.dims(), &[3, 0, 2]);
    let (o, _) = z(&[3, 2, 0])
        .gru_seq(&z(&[0, 0]), (None, None), &z(&[2, 0]), false)
        .unwrap();
    assert_eq!(o.dims(), &[3, 2, 0]);

    let lstm = |xp: &[usize], w: &[usize], b: Option<&[usize]>, h0: &[usize], c0: &[usize]| {
        let b = b.map(z);
        z(xp)
            .lstm_seq(&z(w), (None, b.as_ref()), &z(h0), &z(c0), false)
            .map(|_| ())
            .unwrap_err()
    };
    let e = lstm(&[3, 2, 12], &[12, 2], None, &[2, 2], &[2, 2]);
    assert!(e.to_string().contains("w_hh must be (4*H, H)"), "{e}");
    let e = lstm(&[3, 2, 12], &[12, 3], None, &[2, 3], &[2, 2]);
    assert!(e.to_string().contains("c0 must be (2, 3)"), "{e}");
    let e = lstm(&[3, 2, 16], &[12, 3], None, &[2, 3], &[2, 3]);
    assert!(
        e.to_string()
            .contains("xp must be (L, N, 4*H) = (L, N, 12)"),
        "{e}"
    );
    let e = lstm(&[3, 2, 12], &[12, 3], Some(&[3]), &[2, 3], &[2, 3]);
    assert!(e.to_string().contains("b_hh must be (12)"), "{e}");
    let e = lstm(&[2, 12], &[12, 3], None, &[2, 3], &[2, 3]);
    assert!(e.to_string().contains("xp must be"), "{e}");
    let w64 = Tensor::zeros([9, 3], DType::F64).unwrap();
    let e = z(&[1, 2, 9])
        .gru_seq(&w64, (None, None), &z(&[2, 3]), false)
        .unwrap_err();
    assert!(e.to_string().contains("one dtype"), "{e}");
    let int = |s: &[usize]| Tensor::zeros(s.to_vec(), DType::I64).unwrap();
    let e = int(&[1, 1, 9])
        .gru_seq(&int(&[9, 3]), (None, None), &int(&[1, 3]), false)
        .unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e}");
}
