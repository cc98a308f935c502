//! Tests of the recurrent cells: keys and initialization, values against the formulas, both GRU
//! forms and how they relate, gradient checks, batching and errors.

use super::*;
use crate::layers::test_util::{max_abs_param, sig};
use crate::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

fn t1(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
}

/// Loads `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` of a 1-input, 1-hidden cell with `g`
/// gates.
fn load_scalar_cell(store: &ParamStore, wi: &[f64], wh: &[f64], bi: &[f64], bh: &[f64]) {
    let g = wi.len();
    let sd = vec![
        ("weight_ih".to_string(), t1(wi, &[g, 1])),
        ("weight_hh".to_string(), t1(wh, &[g, 1])),
        ("bias_ih".to_string(), t1(bi, &[g])),
        ("bias_hh".to_string(), t1(bh, &[g])),
    ];
    store.load_state_dict(&sd, true).unwrap();
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    a.to_vec_f64()
        .iter()
        .zip(b.to_vec_f64())
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn cell_keys_shapes_init_bounds_and_repr() {
    let store = ParamStore::new(0);
    let root = store.root();
    let r = RNNCell::new(10, 20, true, RnnNonlinearity::Tanh, &root.push("rnn")).unwrap();
    let l = LSTMCell::new(10, 20, true, &root.push("lstm")).unwrap();
    let g = GRUCell::new(10, 20, false, GruForm::PyTorch, &root.push("gru")).unwrap();
    assert_eq!(
        store.keys(),
        vec![
            "rnn.weight_ih",
            "rnn.weight_hh",
            "rnn.bias_ih",
            "rnn.bias_hh",
            "lstm.weight_ih",
            "lstm.weight_hh",
            "lstm.bias_ih",
            "lstm.bias_hh",
            "gru.weight_ih",
            "gru.weight_hh",
        ]
    );
    assert_eq!(r.weight_ih().dims(), [20, 10]);
    assert_eq!(r.weight_hh().dims(), [20, 20]);
    assert_eq!(l.weight_ih().dims(), [80, 10]);
    assert_eq!(l.weight_hh().dims(), [80, 20]);
    assert_eq!(g.weight_ih().dims(), [60, 10]);
    assert_eq!(g.weight_hh().dims(), [60, 20]);
    // PyTorch: RNNCell 20*(10+20+2), LSTMCell 4x that, GRUCell(bias=False) 3*20*(10+20)
    assert_eq!(store.num_params(), 640 + 2560 + 1800);
    // every parameter uniform in ±1/sqrt(20)
    let bound = 1.0 / 20f64.sqrt();
    let max = max_abs_param(&store);
    assert!(max <= bound && max > 0.95 * bound, "{max} vs {bound}");
    assert_eq!(r.describe(), "RNNCell(10, 20)");
    assert_eq!(l.describe(), "LSTMCell(10, 20)");
    assert_eq!(g.describe(), "GRUCell(10, 20, bias=False)");
    let relu = RNNCell::new(3, 4, true, RnnNonlinearity::Relu, &root.push("x")).unwrap();
    assert_eq!(relu.describe(), "RNNCell(3, 4, nonlinearity=relu)");
    let canon = GRUCell::new(3, 4, true, GruForm::Canon, &root.push("y")).unwrap();
    assert_eq!(canon.describe(), "GRUCell(3, 4, gru_form=canon)");
    assert_eq!(RnnNonlinearity::default(), RnnNonlinearity::Tanh);
    assert_eq!(GruForm::default(), GruForm::PyTorch);
}

#[test]
fn rnn_cell_values_follow_the_formula() {
    for (act, f) in [
        (RnnNonlinearity::Tanh, f64::tanh as fn(f64) -> f64),
        (RnnNonlinearity::Relu, |v: f64| v.max(0.0)),
        (RnnNonlinearity::Sigmoid, sig),
    ] {
        let store = ParamStore::with_dtype(0, DType::F64);
        let cell = RNNCell::new(1, 1, true, act, &store.root()).unwrap();
        load_scalar_cell(&store, &[0.5], &[-1.5], &[0.25], &[-0.125]);
        let x = t1(&[2.0, -1.0], &[2, 1]);
        let h = t1(&[0.5, 0.3], &[2, 1]);
        let y = cell.step(&x, Some(&h)).unwrap().to_vec_f64();
        for (b, (xv, hv)) in [(2.0, 0.5), (-1.0, 0.3)].into_iter().enumerate() {
            let want = f(0.5 * xv + 0.25 - 1.5 * hv - 0.125);
            assert!((y[b] - want).abs() < 1e-12, "{act:?}: {} vs {want}", y[b]);
        }
    }
}

#[test]
fn lstm_cell_values_follow_the_formula() {
    let store = ParamStore::with_dtype(0, DType::F64);
    let cell = LSTMCell::new(1, 1, true, &store.root()).unwrap();
    // gates i, f, g, o
    let (wi, wh) = ([0.5, -0.25, 1.0, 0.75], [-0.5, 0.3, 0.2, -1.0]);
    let (bi, bh) = ([0.1, 0.2, -0.3, 0.4], [0.05, -0.1, 0.15, 0.0]);
    load_scalar_cell(&store, &wi, &wh, &bi, &bh);
    let (x, h, c) = (1.5, -0.4, 0.8);
    let (h1, c1) = cell
        .step(&t1(&[x], &[1]), Some((&t1(&[h], &[1]), &t1(&[c], &[1]))))
        .unwrap();
    let pre = |k: usize| wi[k] * x + bi[k] + wh[k] * h + bh[k];
    let want_c = sig(pre(1)) * c + sig(pre(0)) * pre(2).tanh();
    let want_h = sig(pre(3)) * want_c.tanh();
    assert_eq!(h1.dims(), [1], "unbatched in, unbatched out");
    assert!((c1.item().unwrap() - want_c).abs() < 1e-12);
    assert!((h1.item().unwrap() - want_h).abs() < 1e-12);
}

#[test]
fn gru_cell_values_follow_both_forms() {
    let (wi, wh) = ([0.5, -0.25, 1.0], [-0.5, 0.3, 0.7]);
    let (bi, bh) = ([0.1, 0.2, -0.3], [0.05, -0.1, 0.15]);
    let (x, h) = (1.5, -0.4);
    let pre = |k: usize| wi[k] * x + bi[k] + wh[k] * h + bh[k];
    let (r, z) = (sig(pre(0)), sig(pre(1)));
    let torch_n = (wi[2] * x + bi[2] + r * (wh[2] * h + bh[2])).tanh();
    let canon_n = (wi[2] * x + bi[2] + wh[2] * (r * h) + bh[2]).tanh();
    for (form, want) in [
        (GruForm::PyTorch, (1.0 - z) * torch_n + z * h),
        (GruForm::Canon, (1.0 - z) * h + z * canon_n),
    ] {
        let store = ParamStore::with_dtype(0, DType::F64);
        let cell = GRUCell::new(1, 1, true, form, &store.root()).unwrap();
        load_scalar_cell(&store, &wi, &wh, &bi, &bh);
        let y = cell.step(&t1(&[x], &[1, 1]), Some(&t1(&[h], &[1, 1])));
        let y = y.unwrap().item().unwrap();
        assert!((y - want).abs() < 1e-12, "{form:?}: {y} vs {want}");
    }
}

/// A GRU cell of `variant` with the weights `w` (one step, batched).
fn gru_step(variant: GruVariant, w: &CellWeights, x: &Tensor, h: &Tensor) -> Tensor {
    let core = CellCore {
        kind: CellKind::Gru(variant),
        w: w.clone(),
        input_size: x.dims()[1],
        hidden_size: h.dims()[1],
    };
    cell_step("gru_cell", &core, x, &[Some(h)])
        .unwrap()
        .remove(0)
}

/// `w` with the update gate's rows (`W_iz`, `W_hz`, `b_iz`, `b_hz`) negated.
fn negate_z(w: &CellWeights, hidden: usize) -> CellWeights {
    let flip = |t: &Tensor| -> Tensor {
        let rows = t.dims()[0];
        let sign: Vec<f64> = (0..rows)
            .map(|i| {
                if (hidden..2 * hidden).contains(&i) {
                    -1.0
                } else {
                    1.0
                }
            })
            .collect();
        let mut shape = vec![rows];
        shape.extend(std::iter::repeat_n(1, t.rank() - 1));
        t.mul(&Tensor::from_vec(sign, shape).unwrap()).unwrap()
    };
    CellWeights {
        w_ih: flip(&w.w_ih),
        w_hh: flip(&w.w_hh),
        b_ih: w.b_ih.as_ref().map(flip),
        b_hh: w.b_hh.as_ref().map(flip),
        w_hr: None,
    }
}

/// The canon's `z` is PyTorch's `1 - z`: for either reset placement, mirroring `z` equals
/// negating the update gate's parameters (σ(-a) = 1 - σ(a)). So `GruForm::Canon` is PyTorch's
/// z convention with negated z-parameters *and the canon's reset placement*, and the placement
/// alone is a real difference between the two forms.
#[test]
fn canon_gru_is_the_same_model_with_z_mirrored_for_a_matched_reset_placement() {
    let store = ParamStore::with_dtype(5, DType::F64);
    let cell = GRUCell::new(3, 4, true, GruForm::Canon, &store.root()).unwrap();
    let w = cell.core.w.clone();
    let wn = negate_z(&w, 4);
    let (x, h) = (
        seeded([2, 3], 1),
        seeded([2, 4], 2).mul_scalar(0.8).unwrap(),
    );
    for reset_before_product in [false, true] {
        let v = |z_admits_candidate| GruVariant {
            reset_before_product,
            z_admits_candidate,
        };
        let mirrored = gru_step(v(true), &w, &x, &h);
        let negated = gru_step(v(false), &wn, &x, &h);
        let d = max_abs_diff(&mirrored, &negated);
        assert!(
            d < 1e-12,
            "reset before product {reset_before_product}: {d}"
        );
        let plain = gru_step(v(false), &w, &x, &h);
        assert!(max_abs_diff(&mirrored, &plain) > 1e-3, "z matters");
    }
    // the public forms: Canon == canon placement + PyTorch's z on negated parameters ...
    let canon = cell.step(&x, Some(&h)).unwrap();
    let canon_placement_torch_z = GruVariant {
        reset_before_product: true,
        z_admits_candidate: false,
    };
    let d = max_abs_diff(&canon, &gru_step(canon_placement_torch_z, &wn, &x, &h));
    assert!(d < 1e-12, "{d}");
    // ... but not the PyTorch form on negated parameters: the reset placement differs
    let torch = gru_step(GruForm::PyTorch.into(), &wn, &x, &h);
    assert!(max_abs_diff(&canon, &torch) > 1e-3);
}

#[test]
fn unbatched_and_default_state_agree_with_batched_zeros() {
    let store = ParamStore::with_dtype(1, DType::F64);
    let root = store.root();
    let r = RNNCell::new(3, 4, true, RnnNonlinearity::Tanh, &root.push("r")).unwrap();
    let l = LSTMCell::new(3, 4, true, &root.push("l")).unwrap();
    let g = GRUCell::new(3, 4, true, GruForm::Canon, &root.push("g")).unwrap();
    let x = seeded([2, 3], 3);
    let zeros = Tensor::zeros([2, 4], DType::F64).unwrap();
    let row1 = x.narrow(0, 1, 1).unwrap().squeeze(0).unwrap();
    let a = r.step(&x, None).unwrap();
    assert_eq!(
        a.to_vec_f64(),
        r.step(&x, Some(&zeros)).unwrap().to_vec_f64()
    );
    let b = r.step(&row1, None).unwrap();
    assert_eq!(b.dims(), [4]);
    assert!(max_abs_diff(&b, &a.narrow(0, 1, 1).unwrap().squeeze(0).unwrap()) < 1e-14);
    let (h, c) = l.step(&x, None).unwrap();
    let (h2, c2) = l.step(&x, Some((&zeros, &zeros))).unwrap();
    assert_eq!(h.to_vec_f64(), h2.to_vec_f64());
    assert_eq!(c.to_vec_f64(), c2.to_vec_f64());
    let (hu, cu) = l.step(&row1, None).unwrap();
    assert_eq!((hu.dims(), cu.dims()), (&[4][..], &[4][..]));
    assert_eq!(g.step(&x, None).unwrap().dims(), [2, 4]);
    assert_eq!(g.forward(&row1).unwrap().dims(), [4]);
    assert_eq!(l.forward(&x).unwrap().dims(), [2, 4]);
}

#[test]
fn gradcheck_every_cell_in_input_state_and_parameters() {
    let store = ParamStore::with_dtype(2, DType::F64);
    let root = store.root();
    let kinds = [
        CellKind::Rnn(RnnNonlinearity::Tanh),
        CellKind::Rnn(RnnNonlinearity::Sigmoid),
        CellKind::Lstm,
        CellKind::Gru(GruForm::PyTorch.into()),
        CellKind::Gru(GruForm::Canon.into()),
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let core = CellCore::new(kind, &root.push(i), "", 3, 4, 0, true).unwrap();
        let nstate = core.state_sizes().len();
        let mut inputs = vec![seeded([2, 3], 10)];
        inputs.extend((0..nstate).map(|k| seeded([2, 4], 11 + k as u64)));
        inputs.extend(core.w.tensors());
        let name = format!("{kind:?}");
        gradcheck(
            &name,
            |t| {
                let (w, _) = core.w.replaced(&t[1 + nstate..]);
                let c = CellCore { w, ..core.clone() };
                let st: Vec<Option<&Tensor>> = t[1..1 + nstate].iter().map(Some).collect();
                let out = cell_step("cell", &c, &t[0], &st)?;
                Tensor::cat(&out, 1)
            },
            &inputs,
        )
        .unwrap();
    }
    // and the public cells pass gradients to their parameters, unbatched too
    let cell = LSTMCell::new(3, 4, false, &root.push("pub")).unwrap();
    let (h, c) = cell.step(&seeded([3], 1), None).unwrap();
    let g = h.add(&c).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get(cell.weight_ih()).unwrap().dims(), [16, 3]);
}

#[test]
fn cell_errors_name_the_path_and_the_shapes() {
    let store = ParamStore::new(0);
    let pb = store.root().push("enc").push("cell");
    let cell = LSTMCell::new(3, 4, true, &pb).unwrap();
    let e = cell
        .step(&Tensor::zeros([2, 5], DType::F32).unwrap(), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "in module \"enc.cell\": lstm_cell: expected an input (N, 3) or unbatched (3), got shape [2, 5]"
    );
    let x = Tensor::zeros([2, 3], DType::F32).unwrap();
    let h = Tensor::zeros([2, 4], DType::F32).unwrap();
    let bad = Tensor::zeros([3, 4], DType::F32).unwrap();
    let e = cell.step(&x, Some((&h, &bad))).unwrap_err().to_string();
    assert_eq!(
        e,
        "in module \"enc.cell\": lstm_cell: state c must be [2, 4] for input [2, 3], got [3, 4]"
    );
    let g = GRUCell::new(3, 4, true, GruForm::PyTorch, &store.root().push("g")).unwrap();
    let e = g.step(&Tensor::zeros([3], DType::F32).unwrap(), Some(&h));
    assert!(e.unwrap_err().to_string().contains("state h must be [4]"));
    let e = RNNCell::new(0, 4, true, RnnNonlinearity::Tanh, &store.root().push("z"));
    let e = e.err().unwrap().to_string();
    assert!(
        e.starts_with("in module \"z\": rnn_cell: input_size"),
        "{e}"
    );
}
