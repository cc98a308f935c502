//! Tests of the canon's gated cells: hand-computed steps, equivalences (zero peepholes = the
//! plain LSTM, saturated MGU gates), shapes, `state_dict` keys, errors, and f64 gradient checks
//! (the sequence layers' tests are in `rnn_canon_seq_tests.rs`).

use super::*;
use crate::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

pub(super) fn t(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
}

/// Loads `(name, values)` into the store, keeping the registered shapes.
pub(super) fn set(store: &ParamStore, entries: &[(&str, &[f64])]) {
    let sd: Vec<(String, Tensor)> = entries
        .iter()
        .map(|(k, v)| {
            let shape = store
                .get(k)
                .unwrap_or_else(|| panic!("no {k}"))
                .dims()
                .to_vec();
            (k.to_string(), t(v, &shape))
        })
        .collect();
    store.load_state_dict(&sd, false).unwrap();
}

pub(super) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

pub(super) fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{k}]: got {g}, want {w}");
    }
}

pub(super) fn max_abs(t: &Tensor) -> f64 {
    t.to_vec_f64().iter().fold(0f64, |m, v| m.max(v.abs()))
}

// --- rebinding parameters to gradcheck inputs -------------------------------------------------

/// A cell's parameters in a fixed order, and the same cell computing with other tensors in
/// their place (so `gradcheck` can perturb the parameters as inputs).
pub(super) trait Rebind: Sized {
    fn params(&self) -> Vec<Tensor>;
    fn rebind(&self, p: &mut std::slice::Iter<'_, Tensor>) -> Self;
}

fn gate_params(w: &GateWeights) -> Vec<Tensor> {
    let mut v = vec![w.weight_ih.clone(), w.weight_hh.clone()];
    v.extend(w.bias_ih.iter().cloned());
    v.extend(w.bias_hh.iter().cloned());
    v
}

fn rebind_gates(w: &GateWeights, p: &mut std::slice::Iter<'_, Tensor>) -> GateWeights {
    let mut next = || p.next().expect("enough tensors").clone();
    GateWeights {
        weight_ih: next(),
        weight_hh: next(),
        bias_ih: w.bias_ih.as_ref().map(|_| next()),
        bias_hh: w.bias_hh.as_ref().map(|_| next()),
        input_size: w.input_size,
        hidden_size: w.hidden_size,
        name: w.name,
        path: w.path.clone(),
    }
}

impl Rebind for LSTMNoForgetCell {
    fn params(&self) -> Vec<Tensor> {
        gate_params(&self.w)
    }
    fn rebind(&self, p: &mut std::slice::Iter<'_, Tensor>) -> Self {
        LSTMNoForgetCell {
            w: rebind_gates(&self.w, p),
        }
    }
}

impl Rebind for MGUCell {
    fn params(&self) -> Vec<Tensor> {
        gate_params(&self.w)
    }
    fn rebind(&self, p: &mut std::slice::Iter<'_, Tensor>) -> Self {
        MGUCell {
            w: rebind_gates(&self.w, p),
        }
    }
}

impl Rebind for PeepholeLSTMCell {
    fn params(&self) -> Vec<Tensor> {
        let mut v = gate_params(&self.w);
        v.extend([self.weight_ci.clone(), self.weight_cf.clone()]);
        v.extend(self.weight_co.iter().cloned());
        v
    }
    fn rebind(&self, p: &mut std::slice::Iter<'_, Tensor>) -> Self {
        let w = rebind_gates(&self.w, p);
        let mut next = || p.next().expect("enough tensors").clone();
        PeepholeLSTMCell {
            w,
            weight_ci: next(),
            weight_cf: next(),
            weight_co: self.weight_co.as_ref().map(|_| next()),
            opts: self.opts,
        }
    }
}

// --- cells: parameters, hand-computed steps ------------------------------------------------------

#[test]
fn cell_parameters_names_shapes_init_and_describe() {
    let store = ParamStore::with_dtype(0, DType::F64);
    let a = LSTMNoForgetCell::new(10, 16, true, &store.root().push("a")).unwrap();
    let b = PeepholeLSTMCell::new(10, 16, true, &store.root().push("b")).unwrap();
    let full = PeepholeOptions {
        variant: PeepholeVariant::Full,
        ..Default::default()
    };
    let c = PeepholeLSTMCell::with_options(10, 16, false, full, &store.root().push("c")).unwrap();
    let d = MGUCell::new(10, 16, true, &store.root().push("d")).unwrap();
    assert_eq!(
        store.keys(),
        [
            "a.weight_ih",
            "a.weight_hh",
            "a.bias_ih",
            "a.bias_hh",
            "b.weight_ih",
            "b.weight_hh",
            "b.bias_ih",
            "b.bias_hh",
            "b.weight_ci",
            "b.weight_cf",
            "c.weight_ih",
            "c.weight_hh",
            "c.weight_ci",
            "c.weight_cf",
            "c.weight_co",
            "d.weight_ih",
            "d.weight_hh",
            "d.bias_ih",
            "d.bias_hh",
        ]
    );
    assert_eq!(a.weight_ih().dims(), [48, 10]);
    assert_eq!(a.weight_hh().dims(), [48, 16]);
    assert_eq!(b.weight_ih().dims(), [64, 10]);
    assert_eq!(b.bias_hh().unwrap().dims(), [64]);
    assert_eq!(b.weight_ci().dims(), [16]);
    assert!(b.weight_co().is_none());
    assert_eq!(c.weight_co().unwrap().dims(), [16]);
    assert!(c.bias_ih().is_none());
    assert_eq!(d.weight_hh().dims(), [32, 16]);
    // every parameter uniform in ±1/sqrt(16) = ±0.25, and actually spread over it
    for (k, p) in store.state_dict() {
        let m = max_abs(&p);
        assert!(m <= 0.25, "{k}: {m}");
        assert!(m > 0.15, "{k}: {m}");
    }
    assert_eq!(a.describe(), "LSTMNoForgetCell(10, 16)");
    assert_eq!(c.describe(), "PeepholeLSTMCell(10, 16, bias=False)");
    assert_eq!(d.describe(), "MGUCell(10, 16)");
    assert_eq!((d.input_size(), d.hidden_size()), (10, 16));
    assert_eq!(c.options(), full);
}

#[test]
fn lstm_no_forget_step_by_hand_and_the_cell_only_accumulates() {
    let store = ParamStore::with_dtype(0, DType::F64);
    let cell = LSTMNoForgetCell::new(1, 1, true, &store.root()).unwrap();
    // gates (i, g, o)
    set(
        &store,
        &[
            ("weight_ih", &[0.5, -1.0, 2.0]),
            ("weight_hh", &[0.25, 0.5, -0.5]),
            ("bias_ih", &[0.1, 0.2, 0.3]),
            ("bias_hh", &[0.0, -0.1, 0.1]),
        ],
    );
    let (x, h0, c0) = (0.8, 0.3, -0.4);
    let (h, c) = cell
        .step(
            &t(&[x], &[1, 1]),
            Some((&t(&[h0], &[1, 1]), &t(&[c0], &[1, 1]))),
        )
        .unwrap();
    let i = sigmoid(0.5 * x + 0.25 * h0 + 0.1);
    let g = (-x + 0.5 * h0 + 0.2 - 0.1).tanh();
    let o = sigmoid(2.0 * x - 0.5 * h0 + 0.3 + 0.1);
    let c_want = c0 + i * g;
    assert_close(&c.to_vec_f64(), &[c_want], 1e-15, "c");
    assert_close(&h.to_vec_f64(), &[o * c_want.tanh()], 1e-15, "h");
    // c_t - c_{t-1} = i * C~ at every step: with C~ > 0 the cell state only grows
    set(&store, &[("bias_ih", &[0.1, 3.0, 0.3])]);
    let mut state = (t(&[0.0], &[1, 1]), t(&[0.0], &[1, 1]));
    let mut prev = 0.0;
    for step in 0..5 {
        let (h, c) = cell
            .step(&t(&[x], &[1, 1]), Some((&state.0, &state.1)))
            .unwrap();
        let (hv, cv) = (h.to_vec_f64()[0], c.to_vec_f64()[0]);
        let i = sigmoid(0.5 * x + 0.25 * state.0.to_vec_f64()[0] + 0.1);
        let g = (-x + 0.5 * state.0.to_vec_f64()[0] + 3.0 - 0.1).tanh();
        assert!(((cv - prev) - i * g).abs() < 1e-14, "step {step}");
        assert!(cv > prev, "step {step}: {cv} after {prev}");
        prev = cv;
        state = (t(&[hv], &[1, 1]), c);
    }
    assert!(prev > 2.0, "five steps of ~0.5 accumulate: {prev}");
}

#[test]
fn peephole_step_by_hand_in_all_three_forms() {
    let weights: [(&str, &[f64]); 7] = [
        // gates (i, f, g, o)
        ("weight_ih", &[0.5, -0.3, -1.0, 2.0]),
        ("weight_hh", &[0.25, 0.4, 0.5, -0.5]),
        ("bias_ih", &[0.1, 0.2, 0.3, -0.2]),
        ("bias_hh", &[0.0, 0.0, 0.0, 0.0]),
        ("weight_ci", &[0.7]),
        ("weight_cf", &[-0.6]),
        ("weight_co", &[0.9]),
    ];
    let (x, h0, c0) = (0.8, 0.3, -0.4);
    let i = sigmoid(0.5 * x + 0.25 * h0 + 0.7 * c0 + 0.1);
    let f = sigmoid(-0.3 * x + 0.4 * h0 - 0.6 * c0 + 0.2);
    let g = (-x + 0.5 * h0 + 0.3).tanh();
    let zo = 2.0 * x - 0.5 * h0 - 0.2;
    let cases = [
        (PeepholeVariant::Canon, true, f * c0 + i * g, false),
        (PeepholeVariant::Full, true, f * c0 + i * g, true),
        (PeepholeVariant::Canon, false, c0 + i * g, false),
    ];
    for (variant, forget_term, c_want, peek_o) in cases {
        let store = ParamStore::with_dtype(0, DType::F64);
        let opts = PeepholeOptions {
            variant,
            forget_term,
        };
        let cell = PeepholeLSTMCell::with_options(1, 1, true, opts, &store.root()).unwrap();
        let n = if peek_o { 7 } else { 6 };
        set(&store, &weights[..n]);
        let (h, c) = cell
            .step(&t(&[x], &[1]), Some((&t(&[h0], &[1]), &t(&[c0], &[1]))))
            .unwrap();
        let o = sigmoid(zo + if peek_o { 0.9 * c_want } else { 0.0 });
        let what = format!("{opts:?}");
        assert_close(&c.to_vec_f64(), &[c_want], 1e-15, &what);
        assert_close(&h.to_vec_f64(), &[o * c_want.tanh()], 1e-15, &what);
    }
}

/// `torch.nn.LSTMCell`'s equations in plain loops, gates `(i, f, g, o)`: the reference for a
/// peephole cell whose peepholes are zero.
fn plain_lstm(
    w_ih: &[f64],
    w_hh: &[f64],
    b: &[f64],
    x: &[f64],
    h: &[f64],
    c: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (hs, hin) = (h.len(), x.len());
    let z: Vec<f64> = (0..4 * hs)
        .map(|r| {
            let xi: f64 = (0..hin).map(|k| w_ih[r * hin + k] * x[k]).sum();
            let hh: f64 = (0..hs).map(|k| w_hh[r * hs + k] * h[k]).sum();
            xi + hh + b[r]
        })
        .collect();
    let mut h_new = vec![0.0; hs];
    let mut c_new = vec![0.0; hs];
    for j in 0..hs {
        let (i, f) = (sigmoid(z[j]), sigmoid(z[hs + j]));
        let (g, o) = (z[2 * hs + j].tanh(), sigmoid(z[3 * hs + j]));
        c_new[j] = f * c[j] + i * g;
        h_new[j] = o * c_new[j].tanh();
    }
    (h_new, c_new)
}

#[test]
fn peephole_with_zero_peepholes_is_the_plain_lstm() {
    for variant in [PeepholeVariant::Canon, PeepholeVariant::Full] {
        let store = ParamStore::with_dtype(5, DType::F64);
        let opts = PeepholeOptions {
            variant,
            forget_term: true,
        };
        let cell = PeepholeLSTMCell::with_options(3, 2, true, opts, &store.root()).unwrap();
        for p in [
            Some(cell.weight_ci()),
            Some(cell.weight_cf()),
            cell.weight_co(),
        ]
        .into_iter()
        .flatten()
        {
            let _g = deepnet_tensor::no_grad();
            p.assign_(&p.zeros_like().unwrap()).unwrap();
        }
        let (x, h0, c0) = (seeded([3], 1), seeded([2], 2), seeded([2], 3));
        let (h, c) = cell.step(&x, Some((&h0, &c0))).unwrap();
        let b: Vec<f64> = cell
            .bias_ih()
            .unwrap()
            .add(cell.bias_hh().unwrap())
            .unwrap()
            .to_vec_f64();
        let (h_want, c_want) = plain_lstm(
            &cell.weight_ih().to_vec_f64(),
            &cell.weight_hh().to_vec_f64(),
            &b,
            &x.to_vec_f64(),
            &h0.to_vec_f64(),
            &c0.to_vec_f64(),
        );
        assert_close(&h.to_vec_f64(), &h_want, 1e-14, "h");
        assert_close(&c.to_vec_f64(), &c_want, 1e-14, "c");
    }
}

#[test]
fn mgu_step_by_hand_and_saturated_forget_gate() {
    let store = ParamStore::with_dtype(0, DType::F64);
    let cell = MGUCell::new(1, 1, true, &store.root()).unwrap();
    // gates (f, h)
    set(
        &store,
        &[
            ("weight_ih", &[0.6, -0.7]),
            ("weight_hh", &[0.3, 0.9]),
            ("bias_ih", &[0.1, 0.2]),
            ("bias_hh", &[-0.05, 0.05]),
        ],
    );
    let (x, h0) = (0.8, -0.5);
    let step = || {
        cell.step(&t(&[x], &[1, 1]), Some(&t(&[h0], &[1, 1])))
            .unwrap()
            .to_vec_f64()[0]
    };
    let f = sigmoid(0.6 * x + 0.3 * h0 + 0.1 - 0.05);
    let cand = (-0.7 * x + 0.9 * (f * h0) + 0.2 + 0.05).tanh();
    assert_close(&[step()], &[(1.0 - f) * h0 + f * cand], 1e-15, "h");
    // f saturated at 1: the state is replaced by the candidate, which sees all of h_{t-1}
    set(&store, &[("bias_ih", &[40.0, 0.2])]);
    let cand = (-0.7 * x + 0.9 * h0 + 0.2 + 0.05).tanh();
    assert_close(&[step()], &[cand], 1e-15, "f = 1");
    // f saturated at 0: the state is kept
    set(&store, &[("bias_ih", &[-40.0, 0.2])]);
    assert_close(&[step()], &[h0], 1e-15, "f = 0");
}

#[test]
fn cells_unbatched_zero_state_and_batched_agree() {
    let store = ParamStore::with_dtype(2, DType::F64);
    let a = LSTMNoForgetCell::new(3, 4, true, &store.root().push("a")).unwrap();
    let b = PeepholeLSTMCell::new(3, 4, false, &store.root().push("b")).unwrap();
    let m = MGUCell::new(3, 4, true, &store.root().push("m")).unwrap();
    let x = seeded([5, 3], 1);
    let (h, c) = (seeded([5, 4], 2), seeded([5, 4], 3));
    let row = |t: &Tensor| t.narrow(0, 2, 1).unwrap().squeeze(0).unwrap();
    let (xr, hr, cr) = (row(&x), row(&h), row(&c));
    let pairs = [
        (
            a.step(&x, Some((&h, &c))).unwrap(),
            a.step(&xr, Some((&hr, &cr))).unwrap(),
        ),
        (
            b.step(&x, Some((&h, &c))).unwrap(),
            b.step(&xr, Some((&hr, &cr))).unwrap(),
        ),
    ];
    for ((hb, cb), (hu, cu)) in pairs {
        assert_eq!(
            (hb.dims(), hu.dims(), cu.dims()),
            (&[5, 4][..], &[4][..], &[4][..])
        );
        assert_close(&row(&hb).to_vec_f64(), &hu.to_vec_f64(), 1e-14, "h row");
        assert_close(&row(&cb).to_vec_f64(), &cu.to_vec_f64(), 1e-14, "c row");
    }
    let (mb, mu) = (
        m.step(&x, Some(&h)).unwrap(),
        m.step(&xr, Some(&hr)).unwrap(),
    );
    assert_eq!((mb.dims(), mu.dims()), (&[5, 4][..], &[4][..]));
    assert_close(&row(&mb).to_vec_f64(), &mu.to_vec_f64(), 1e-14, "mgu row");
    // no state = zeros; Module::forward is one step from zeros returning h
    let z = Tensor::zeros([5, 4], DType::F64).unwrap();
    assert_eq!(
        m.forward(&x).unwrap().to_vec_f64(),
        m.step(&x, Some(&z)).unwrap().to_vec_f64()
    );
    assert_eq!(
        b.forward(&x).unwrap().to_vec_f64(),
        b.step(&x, Some((&z, &z))).unwrap().0.to_vec_f64()
    );
}

#[test]
fn cell_errors_name_the_layer_and_the_shapes() {
    let store = ParamStore::new(0);
    let pb = store.root().push("enc").push("cell");
    let a = LSTMNoForgetCell::new(3, 4, true, &pb.push("a")).unwrap();
    let m = MGUCell::new(3, 4, true, &pb.push("m")).unwrap();
    let x = Tensor::zeros([2, 5], DType::F32).unwrap();
    assert_eq!(
        a.step(&x, None).unwrap_err().to_string(),
        "in module \"enc.cell.a\": LSTMNoForgetCell: expected input (N, 3) or (3), got [2, 5]"
    );
    let x = Tensor::zeros([2, 3], DType::F32).unwrap();
    let h = Tensor::zeros([2, 4], DType::F32).unwrap();
    let c = Tensor::zeros([3, 4], DType::F32).unwrap();
    assert_eq!(
        a.step(&x, Some((&h, &c))).unwrap_err().to_string(),
        "in module \"enc.cell.a\": LSTMNoForgetCell: expected cx of shape [2, 4] for input \
         [2, 3], got [3, 4]"
    );
    assert_eq!(
        m.step(&x, Some(&c)).unwrap_err().to_string(),
        "in module \"enc.cell.m\": MGUCell: expected hx of shape [2, 4] for input [2, 3], got \
         [3, 4]"
    );
    let e = PeepholeLSTMCell::new(0, 4, true, &pb.push("p"))
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("\"enc.cell.p\": PeepholeLSTMCell"),
        "{e}"
    );
}

#[test]
fn gradcheck_every_cell_inputs_state_and_parameters() {
    let store = ParamStore::with_dtype(4, DType::F64);
    let (x, h, c) = (seeded([2, 3], 1), seeded([2, 2], 2), seeded([2, 2], 3));
    let a = LSTMNoForgetCell::new(3, 2, true, &store.root().push("a")).unwrap();
    let mut inputs = vec![x.clone(), h.clone(), c.clone()];
    inputs.extend(a.params());
    gradcheck(
        "LSTMNoForgetCell",
        |t| {
            let (h, c) = a
                .rebind(&mut t[3..].iter())
                .step(&t[0], Some((&t[1], &t[2])))?;
            Tensor::cat(&[h, c], 1)
        },
        &inputs,
    )
    .unwrap();
    for (k, (variant, forget_term)) in [
        (PeepholeVariant::Canon, true),
        (PeepholeVariant::Full, true),
        (PeepholeVariant::Full, false),
    ]
    .into_iter()
    .enumerate()
    {
        let opts = PeepholeOptions {
            variant,
            forget_term,
        };
        let p = PeepholeLSTMCell::with_options(3, 2, true, opts, &store.root().push(k)).unwrap();
        let mut inputs = vec![x.clone(), h.clone(), c.clone()];
        inputs.extend(p.params());
        gradcheck(
            &format!("PeepholeLSTMCell {opts:?}"),
            |t| {
                let cell = p.rebind(&mut t[3..].iter());
                let (h, c) = cell.step(&t[0], Some((&t[1], &t[2])))?;
                Tensor::cat(&[h, c], 1)
            },
            &inputs,
        )
        .unwrap();
    }
    let m = MGUCell::new(3, 2, true, &store.root().push("m")).unwrap();
    let mut inputs = vec![x.clone(), h.clone()];
    inputs.extend(m.params());
    gradcheck(
        "MGUCell",
        |t| m.rebind(&mut t[2..].iter()).step(&t[0], Some(&t[1])),
        &inputs,
    )
    .unwrap();
    // unbatched input through the module path
    gradcheck("MGUCell unbatched", |t| m.forward(&t[0]), &[seeded([3], 7)]).unwrap();
}
