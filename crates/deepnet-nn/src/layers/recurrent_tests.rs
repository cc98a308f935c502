//! Tests of the sequence layers: PyTorch's keys and counts, shapes of every topology, gradient
//! checks, variable lengths, truncated BPTT, inter-layer dropout and errors.

use super::*;
use crate::layers::test_util::max_abs_param;
use crate::layers::{LSTMCell, RNNCell};
use crate::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Kind {
    Rnn,
    Lstm,
    Gru,
}

/// Any of the three layers behind one interface for the table-driven tests.
pub(super) enum Layer {
    Rnn(RNN),
    Lstm(LSTM),
    Gru(GRU),
}

impl Layer {
    pub(super) fn new(kind: Kind, cfg: &RnnConfig, pb: &ParamBuilder) -> Result<Layer> {
        Ok(match kind {
            Kind::Rnn => Layer::Rnn(RNN::new(cfg, pb)?),
            Kind::Lstm => Layer::Lstm(LSTM::new(cfg, pb)?),
            Kind::Gru => Layer::Gru(GRU::new(cfg, pb)?),
        })
    }

    fn stack(&self) -> &Stack<CellCore> {
        match self {
            Layer::Rnn(l) => &l.stack,
            Layer::Lstm(l) => &l.stack,
            Layer::Gru(l) => &l.stack,
        }
    }

    fn module(&self) -> &dyn Module {
        match self {
            Layer::Rnn(l) => l,
            Layer::Lstm(l) => l,
            Layer::Gru(l) => l,
        }
    }

    /// Output and final states through the public API; `h0` (and `c0`) from `st`.
    fn run(
        &self,
        x: &Tensor,
        st: &[Tensor],
        lengths: Option<&[usize]>,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        match self {
            Layer::Rnn(l) => l
                .forward_with_state(x, st.first(), lengths)
                .map(|(o, h)| (o, vec![h])),
            Layer::Gru(l) => l
                .forward_with_state(x, st.first(), lengths)
                .map(|(o, h)| (o, vec![h])),
            Layer::Lstm(l) => {
                let s = (!st.is_empty()).then(|| (&st[0], &st[1]));
                l.forward_with_state(x, s, lengths)
                    .map(|(o, (h, c))| (o, vec![h, c]))
            }
        }
    }
}

const KINDS: [Kind; 3] = [Kind::Rnn, Kind::Lstm, Kind::Gru];

fn cfg(input: usize, hidden: usize) -> RnnConfig {
    RnnConfig::new(input, hidden)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    a.to_vec_f64()
        .iter()
        .zip(b.to_vec_f64())
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn state_dict_keys_and_counts_match_pytorch() {
    let store = ParamStore::new(0);
    let c = RnnConfig {
        num_layers: 2,
        bidirectional: true,
        ..cfg(10, 20)
    };
    let lstm = LSTM::new(&c, &store.root().push("lstm")).unwrap();
    let mut want = Vec::new();
    for l in 0..2 {
        for sfx in ["", "_reverse"] {
            for w in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
                want.push(format!("lstm.{w}_l{l}{sfx}"));
            }
        }
    }
    assert_eq!(store.keys(), want);
    // sum(p.numel() for p in nn.LSTM(10, 20, num_layers=2, bidirectional=True).parameters()):
    // layer 0: 2 * 4*20*(10 + 20 + 2) = 5120; layer 1 (input 2*20): 2 * 4*20*(40 + 20 + 2) = 9920
    assert_eq!(store.num_params(), 15040);
    let p = store.get("lstm.weight_ih_l1_reverse").unwrap();
    assert_eq!(p.dims(), [80, 40]);
    let bound = 1.0 / 20f64.sqrt();
    let max = max_abs_param(&store);
    assert!(max <= bound && max > 0.99 * bound, "{max}");
    assert_eq!(
        lstm.describe(),
        "LSTM(10, 20, num_layers=2, bidirectional=True)"
    );

    // nn.GRU(10, 20): 3*20*(10 + 20 + 2) = 1920; nn.RNN(10, 20, num_layers=2, bias=False):
    // 20*(10 + 20) + 20*(20 + 20) = 1400
    let s = ParamStore::new(0);
    let g = GRU::new(&cfg(10, 20), &s.root()).unwrap();
    assert_eq!(s.num_params(), 1920);
    assert_eq!(s.get("weight_hh_l0").unwrap().dims(), [60, 20]);
    assert_eq!(g.describe(), "GRU(10, 20)");
    let s = ParamStore::new(0);
    let c = RnnConfig {
        num_layers: 2,
        bias: false,
        nonlinearity: RnnNonlinearity::Relu,
        ..cfg(10, 20)
    };
    let r = RNN::new(&c, &s.root()).unwrap();
    assert_eq!(
        s.keys(),
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "weight_ih_l1",
            "weight_hh_l1"
        ]
    );
    assert_eq!(s.num_params(), 1400);
    assert_eq!(
        r.describe(),
        "RNN(10, 20, num_layers=2, bias=False, nonlinearity=relu)"
    );

    // nn.LSTM(10, 20, proj_size=5, num_layers=2, bidirectional=True): per layer and direction
    // weight_ih (80, 10), weight_hh (80, 5), two biases (80,), weight_hr (5, 20) = 1460
    let s = ParamStore::new(0);
    let c = RnnConfig {
        proj_size: 5,
        num_layers: 2,
        bidirectional: true,
        batch_first: true,
        dropout: 0.5,
        ..cfg(10, 20)
    };
    let l = LSTM::new(&c, &s.root()).unwrap();
    assert_eq!(
        &s.keys()[..6],
        &[
            "weight_ih_l0",
            "weight_hh_l0",
            "bias_ih_l0",
            "bias_hh_l0",
            "weight_hr_l0",
            "weight_ih_l0_reverse"
        ]
    );
    assert_eq!(s.get("weight_hh_l1").unwrap().dims(), [80, 5]);
    assert_eq!(s.get("weight_hr_l1_reverse").unwrap().dims(), [5, 20]);
    assert_eq!(s.num_params(), 4 * 1460);
    assert_eq!(
        l.describe(),
        "LSTM(10, 20, proj_size=5, num_layers=2, batch_first=True, dropout=0.5, bidirectional=True)"
    );
    let c = RnnConfig {
        gru_form: GruForm::Canon,
        ..cfg(3, 4)
    };
    let g = GRU::new(&c, &ParamStore::new(0).root()).unwrap();
    assert_eq!(g.describe(), "GRU(3, 4, gru_form=canon)");
}

#[test]
fn output_and_state_shapes_for_every_topology() {
    let (l, n, h_in, h) = (3, 2, 3, 4);
    for kind in KINDS {
        for num_layers in [1, 2] {
            for bidirectional in [false, true] {
                for batch_first in [false, true] {
                    for proj in [0, 2] {
                        if proj > 0 && kind != Kind::Lstm {
                            continue;
                        }
                        let c = RnnConfig {
                            num_layers,
                            bidirectional,
                            batch_first,
                            proj_size: proj,
                            ..cfg(h_in, h)
                        };
                        let store = ParamStore::new(0);
                        let layer = Layer::new(kind, &c, &store.root()).unwrap();
                        let d = c.num_directions();
                        let h_out = if proj > 0 { proj } else { h };
                        let x = if batch_first {
                            Tensor::ones([n, l, h_in], DType::F32).unwrap()
                        } else {
                            Tensor::ones([l, n, h_in], DType::F32).unwrap()
                        };
                        let what = format!("{kind:?} {c:?}");
                        let (out, st) = layer.run(&x, &[], None).unwrap();
                        let want_out = if batch_first {
                            [n, l, d * h_out]
                        } else {
                            [l, n, d * h_out]
                        };
                        assert_eq!(out.dims(), want_out, "{what}");
                        assert_eq!(st[0].dims(), [d * num_layers, n, h_out], "{what}");
                        if kind == Kind::Lstm {
                            assert_eq!(st[1].dims(), [d * num_layers, n, h], "{what}");
                        }
                        assert_eq!(layer.module().forward(&x).unwrap().dims(), want_out);
                        // unbatched: no N dim anywhere, batch_first or not
                        let xu = Tensor::ones([l, h_in], DType::F32).unwrap();
                        let (out, st) = layer.run(&xu, &[], None).unwrap();
                        assert_eq!(out.dims(), [l, d * h_out], "{what}");
                        assert_eq!(st[0].dims(), [d * num_layers, h_out], "{what}");
                        if kind == Kind::Lstm {
                            assert_eq!(st[1].dims(), [d * num_layers, h], "{what}");
                        }
                    }
                }
            }
        }
    }
}

/// Gradient check of a whole layer in its input, its initial states and (with `params`) every
/// parameter; the checked function returns the output and the final states, flattened.
fn check_layer(
    name: &str,
    layer: &Layer,
    x: Tensor,
    st: Vec<Tensor>,
    lens: Option<&[usize]>,
    params: bool,
) {
    let stack = layer.stack();
    let ns = st.len();
    let mut inputs = vec![x];
    inputs.extend(st);
    if params {
        inputs.extend(stack.params());
    }
    gradcheck(
        name,
        |t| {
            let cells = if params {
                stack.replaced(&t[1 + ns..])
            } else {
                stack.cells.clone()
            };
            let st0: Vec<Option<&Tensor>> = t[1..1 + ns].iter().map(Some).collect();
            let (out, fin) = stack.run(&cells, &t[0], &st0, lens)?;
            let mut parts = vec![out.flatten_all()?];
            for f in &fin {
                parts.push(f.flatten_all()?);
            }
            Tensor::cat(&parts, 0)
        },
        &inputs,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// N = 2, L = 3, H_in = 3, H = 4.
#[test]
fn gradcheck_single_layers_in_every_parameter() {
    for kind in KINDS {
        let store = ParamStore::with_dtype(1, DType::F64);
        let layer = Layer::new(kind, &cfg(3, 4), &store.root()).unwrap();
        let nst = if kind == Kind::Lstm { 2 } else { 1 };
        let st: Vec<Tensor> = (0..nst).map(|k| seeded([1, 2, 4], 20 + k)).collect();
        check_layer(
            &format!("{kind:?}"),
            &layer,
            seeded([3, 2, 3], 2),
            st,
            None,
            true,
        );
    }
    // the canon's GRU and the sigmoid RNN
    let store = ParamStore::with_dtype(1, DType::F64);
    let c = RnnConfig {
        gru_form: GruForm::Canon,
        ..cfg(3, 4)
    };
    let layer = Layer::new(Kind::Gru, &c, &store.root().push("g")).unwrap();
    check_layer(
        "GRU canon",
        &layer,
        seeded([3, 2, 3], 3),
        vec![],
        None,
        true,
    );
    let c = RnnConfig {
        nonlinearity: RnnNonlinearity::Sigmoid,
        ..cfg(3, 4)
    };
    let layer = Layer::new(Kind::Rnn, &c, &store.root().push("r")).unwrap();
    check_layer(
        "RNN sigmoid",
        &layer,
        seeded([3, 2, 3], 3),
        vec![],
        None,
        true,
    );
}

#[test]
fn gradcheck_stacked_bidirectional_projected_batch_first_unbatched_and_with_lengths() {
    for kind in KINDS {
        let store = ParamStore::with_dtype(4, DType::F64);
        let proj = if kind == Kind::Lstm { 2 } else { 0 };
        let h_out = if proj > 0 { proj } else { 4 };
        let c = RnnConfig {
            num_layers: 2,
            bidirectional: true,
            proj_size: proj,
            ..cfg(3, 4)
        };
        let layer = Layer::new(kind, &c, &store.root().push("a")).unwrap();
        let mut st = vec![seeded([4, 2, h_out], 30)];
        if kind == Kind::Lstm {
            st.push(seeded([4, 2, 4], 31));
        }
        let name = format!("{kind:?} 2 layers bidirectional");
        // all parameters of the stacked layer (the LSTM with a projection)
        check_layer(
            &name,
            &layer,
            seeded([3, 2, 3], 5),
            st.clone(),
            None,
            kind == Kind::Lstm,
        );
        let lens = [2, 3];
        check_layer(
            &(name + " lengths"),
            &layer,
            seeded([3, 2, 3], 6),
            st,
            Some(&lens),
            false,
        );

        let c = RnnConfig {
            batch_first: true,
            bidirectional: true,
            ..cfg(3, 4)
        };
        let layer = Layer::new(kind, &c, &store.root().push("b")).unwrap();
        let name = format!("{kind:?} batch_first");
        check_layer(
            &name,
            &layer,
            seeded([2, 3, 3], 7),
            vec![],
            Some(&[3, 1]),
            true,
        );
        let name = format!("{kind:?} unbatched");
        check_layer(&name, &layer, seeded([3, 3], 8), vec![], None, false);
    }
}

/// Runs each sequence of a padded batch alone and compares: outputs at valid steps, zeros at
/// padded steps, and `h_n` (and `c_n`) at each sequence's own last step, both directions.
#[test]
fn variable_lengths_equal_running_each_sequence_alone() {
    let lens = [3usize, 1, 2, 3];
    for kind in KINDS {
        for batch_first in [false, true] {
            let c = RnnConfig {
                num_layers: 2,
                bidirectional: true,
                batch_first,
                ..cfg(3, 4)
            };
            let store = ParamStore::with_dtype(7, DType::F64);
            let layer = Layer::new(kind, &c, &store.root()).unwrap();
            // (L, N, H_in) with large garbage in the padding
            let mut v = seeded([3, 4, 3], 9).to_vec_f64();
            for t in 0..3 {
                for (b, &len) in lens.iter().enumerate() {
                    if t >= len {
                        for f in 0..3 {
                            v[(t * 4 + b) * 3 + f] = 1e3 * (1.0 + f as f64);
                        }
                    }
                }
            }
            let x = Tensor::from_vec(v, [3, 4, 3]).unwrap();
            let xin = if batch_first {
                x.transpose(0, 1).unwrap()
            } else {
                x.clone()
            };
            let mut st = vec![seeded([4, 4, 4], 40)];
            if kind == Kind::Lstm {
                st.push(seeded([4, 4, 4], 41));
            }
            let (out, fin) = layer.run(&xin, &st, Some(&lens)).unwrap();
            let out = if batch_first {
                out.transpose(0, 1).unwrap()
            } else {
                out
            };
            for (b, &len) in lens.iter().enumerate() {
                let xb = x.narrow(0, 0, len).unwrap().narrow(1, b, 1).unwrap();
                let xb = if batch_first {
                    xb.transpose(0, 1).unwrap()
                } else {
                    xb
                };
                let stb: Vec<Tensor> = st.iter().map(|s| s.narrow(1, b, 1).unwrap()).collect();
                let (ob, fb) = layer.run(&xb, &stb, None).unwrap();
                let ob = if batch_first {
                    ob.transpose(0, 1).unwrap()
                } else {
                    ob
                };
                let what = format!("{kind:?} batch_first={batch_first} sequence {b}");
                let valid = out.narrow(0, 0, len).unwrap().narrow(1, b, 1).unwrap();
                assert!(max_abs_diff(&valid, &ob) < 1e-12, "{what}");
                if len < 3 {
                    let pad = out
                        .narrow(0, len, 3 - len)
                        .unwrap()
                        .narrow(1, b, 1)
                        .unwrap();
                    assert!(pad.to_vec_f64().iter().all(|&p| p == 0.0), "{what}");
                }
                for (f, g) in fin.iter().zip(&fb) {
                    let d = max_abs_diff(&f.narrow(1, b, 1).unwrap(), g);
                    assert!(d < 1e-12, "{what}: final state {d}");
                }
            }
        }
    }
}

#[test]
fn padded_positions_get_exactly_zero_gradient() {
    let lens = [1usize, 3];
    for kind in KINDS {
        let c = RnnConfig {
            num_layers: 2,
            bidirectional: true,
            ..cfg(3, 4)
        };
        let store = ParamStore::with_dtype(8, DType::F64);
        let layer = Layer::new(kind, &c, &store.root()).unwrap();
        let x = seeded([3, 2, 3], 11).requires_grad_(true).unwrap();
        let (out, fin) = layer.run(&x, &[], Some(&lens)).unwrap();
        let mut loss = out.sum_all().unwrap();
        for f in &fin {
            loss = loss.add(&f.square().unwrap().sum_all().unwrap()).unwrap();
        }
        let g = loss.backward().unwrap().get(&x).unwrap().to_vec_f64();
        for t in 0..3 {
            for (b, &len) in lens.iter().enumerate() {
                for f in 0..3 {
                    let gv = g[(t * 2 + b) * 3 + f];
                    if t >= len {
                        assert_eq!(gv, 0.0, "{kind:?} t={t} b={b}");
                    } else {
                        assert!(gv != 0.0, "{kind:?} t={t} b={b} is a real step");
                    }
                }
            }
        }
    }
}

/// Truncated BPTT: chunk 2 starts from chunk 1's final state. Detached, chunk 2's loss does not
/// reach chunk 1's input; attached, it does.
#[test]
fn detached_state_truncates_backpropagation() {
    for kind in KINDS {
        let store = ParamStore::with_dtype(9, DType::F64);
        let layer = Layer::new(kind, &cfg(3, 4), &store.root()).unwrap();
        let x1 = seeded([3, 2, 3], 12).requires_grad_(true).unwrap();
        let x2 = seeded([3, 2, 3], 13).requires_grad_(true).unwrap();
        for detach in [true, false] {
            let (_, fin) = layer.run(&x1, &[], None).unwrap();
            let st: Vec<Tensor> = fin
                .iter()
                .map(|s| if detach { s.detach() } else { s.clone() })
                .collect();
            let (out2, _) = layer.run(&x2, &st, None).unwrap();
            let g = out2.sum_all().unwrap().backward().unwrap();
            assert!(g.get(&x2).is_some());
            let reached = g
                .get(&x1)
                .is_some_and(|g| g.to_vec_f64().iter().any(|&v| v != 0.0));
            assert_eq!(reached, !detach, "{kind:?} detach={detach}");
        }
    }
}

#[test]
fn dropout_only_between_layers_and_only_in_training() {
    let x = seeded([5, 3, 3], 14);
    for kind in KINDS {
        // one layer: nothing to drop between, training and evaluation agree
        let store = ParamStore::with_dtype(10, DType::F64);
        let c = RnnConfig {
            dropout: 0.9,
            ..cfg(3, 4)
        };
        let one = Layer::new(kind, &c, &store.root().push("one")).unwrap();
        let m = one.module();
        assert_eq!(m.forward(&x).unwrap().to_vec_f64(), {
            m.set_training(false);
            m.forward(&x).unwrap().to_vec_f64()
        });
        // two layers: the first layer (its h_n rows) is never touched; the second sees dropped
        // inputs in training only
        let c = RnnConfig {
            dropout: 0.5,
            num_layers: 2,
            bidirectional: true,
            ..cfg(3, 4)
        };
        let two = Layer::new(kind, &c, &store.root().push("two")).unwrap();
        let (train_out, train_st) = two.run(&x, &[], None).unwrap();
        two.module().set_training(false);
        let (eval_out, eval_st) = two.run(&x, &[], None).unwrap();
        let (eval_out2, _) = two.run(&x, &[], None).unwrap();
        assert_eq!(eval_out.to_vec_f64(), eval_out2.to_vec_f64(), "{kind:?}");
        assert!(max_abs_diff(&train_out, &eval_out) > 1e-3, "{kind:?}");
        let first = |s: &Tensor| s.narrow(0, 0, 2).unwrap();
        assert_eq!(
            first(&train_st[0]).to_vec_f64(),
            first(&eval_st[0]).to_vec_f64()
        );
        let last = |s: &Tensor| s.narrow(0, 2, 2).unwrap();
        assert!(max_abs_diff(&last(&train_st[0]), &last(&eval_st[0])) > 1e-3);
    }
    let store = ParamStore::new(0);
    let l = LSTM::new(&cfg(3, 4), &store.root()).unwrap();
    assert!(l.is_training());
    l.set_training(false);
    assert!(!l.is_training());
}

/// A one-layer sequence layer is its cell applied step after step (same parameters).
#[test]
fn sequence_layers_are_their_cells_unrolled() {
    let x = seeded([3, 2, 3], 15);
    let store = ParamStore::with_dtype(11, DType::F64);
    let lstm = LSTM::new(&cfg(3, 4), &store.root().push("seq")).unwrap();
    let cell = LSTMCell::new(3, 4, true, &store.root().push("cell")).unwrap();
    let rnn = RNN::new(&cfg(3, 4), &store.root().push("rseq")).unwrap();
    let rcell = RNNCell::new(
        3,
        4,
        true,
        RnnNonlinearity::Tanh,
        &store.root().push("rcell"),
    )
    .unwrap();
    let sd: Vec<(String, Tensor)> = store
        .state_dict()
        .into_iter()
        .filter_map(|(k, v)| {
            let k = k.strip_suffix("_l0")?;
            Some((k.replace("rseq.", "rcell.").replace("seq.", "cell."), v))
        })
        .collect();
    assert_eq!(sd.len(), 8);
    store.load_state_dict(&sd, false).unwrap();
    let (out, (h_n, c_n)) = lstm.forward_with_state(&x, None, None).unwrap();
    let (rout, rh_n) = rnn.forward_with_state(&x, None, None).unwrap();
    let (mut h, mut c) = (None::<Tensor>, None::<Tensor>);
    let mut rh = None::<Tensor>;
    for t in 0..3 {
        let xt = x.narrow(0, t, 1).unwrap().squeeze(0).unwrap();
        let st = h.as_ref().zip(c.as_ref());
        let (h1, c1) = cell.step(&xt, st).unwrap();
        let o = out.narrow(0, t, 1).unwrap().squeeze(0).unwrap();
        assert!(max_abs_diff(&o, &h1) < 1e-12);
        (h, c) = (Some(h1), Some(c1));
        let r1 = rcell.step(&xt, rh.as_ref()).unwrap();
        let o = rout.narrow(0, t, 1).unwrap().squeeze(0).unwrap();
        assert!(max_abs_diff(&o, &r1) < 1e-12);
        rh = Some(r1);
    }
    assert!(max_abs_diff(&h_n.squeeze(0).unwrap(), &h.unwrap()) < 1e-12);
    assert!(max_abs_diff(&c_n.squeeze(0).unwrap(), &c.unwrap()) < 1e-12);
    assert!(max_abs_diff(&rh_n.squeeze(0).unwrap(), &rh.unwrap()) < 1e-12);
}

/// The reverse direction is a forward pass over the time-reversed sequence (each sequence
/// reversed within its own length), with the `_reverse` parameters, read back in time order.
#[test]
fn reverse_direction_runs_each_sequence_backwards_from_its_own_end() {
    let lens = [3usize, 2];
    for kind in KINDS {
        let store = ParamStore::with_dtype(12, DType::F64);
        let c = RnnConfig {
            bidirectional: true,
            ..cfg(3, 4)
        };
        let bi = Layer::new(kind, &c, &store.root().push("bi")).unwrap();
        let uni = Layer::new(kind, &cfg(3, 4), &store.root().push("uni")).unwrap();
        let sd: Vec<(String, Tensor)> = store
            .state_dict()
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_suffix("_reverse")?.replace("bi.", "uni."), v)))
            .collect();
        store.load_state_dict(&sd, false).unwrap();
        let x = seeded([3, 2, 3], 16);
        let (out, fin) = bi.run(&x, &[], Some(&lens)).unwrap();
        for (b, &len) in lens.iter().enumerate() {
            let idx: Vec<i64> = (0..len as i64).rev().collect();
            let idx = Tensor::from_vec(idx, [len]).unwrap();
            let xb = x.narrow(1, b, 1).unwrap().index_select(0, &idx).unwrap();
            let (ob, fb) = uni.run(&xb, &[], None).unwrap();
            let ob = ob.index_select(0, &idx).unwrap();
            let rev = out
                .narrow(0, 0, len)
                .unwrap()
                .narrow(1, b, 1)
                .unwrap()
                .narrow(2, 4, 4);
            assert!(max_abs_diff(&rev.unwrap(), &ob) < 1e-12, "{kind:?} {b}");
            let h_rev = fin[0].narrow(0, 1, 1).unwrap().narrow(1, b, 1).unwrap();
            assert!(max_abs_diff(&h_rev, &fb[0]) < 1e-12, "{kind:?} {b}");
        }
    }
}

/// A cell that always steps (it has no fused whole-sequence op).
struct Stepped<'a>(&'a CellCore);

impl RecurrentCell for Stepped<'_> {
    fn state_sizes(&self) -> Vec<usize> {
        self.0.state_sizes()
    }
    fn project_input(&self, x: &Tensor) -> Result<Tensor> {
        self.0.project_input(x)
    }
    fn step(&self, xp: &Tensor, state: &[Tensor]) -> Result<Vec<Tensor>> {
        self.0.step(xp, state)
    }
}

/// Where every sequence runs all steps, each layer and direction of the LSTM and of PyTorch's
/// GRU is one fused op; it equals stepping the same cells, in the output, the final states and
/// the gradients of the input, the initial states and every parameter (two layers, both
/// directions, batch-first, f32, 9 sequences split over two threads).
#[test]
fn fused_sequences_equal_stepping_the_cells() {
    for kind in [Kind::Lstm, Kind::Gru] {
        let store = ParamStore::new(7);
        let c = RnnConfig {
            num_layers: 2,
            bidirectional: true,
            batch_first: true,
            ..cfg(5, 16)
        };
        let layer = Layer::new(kind, &c, &store.root()).unwrap();
        let stack = layer.stack();
        let f32 = |t: Tensor| {
            t.to_dtype(DType::F32)
                .unwrap()
                .requires_grad_(true)
                .unwrap()
        };
        let x = f32(seeded([9, 6, 5], 1));
        let nst = if kind == Kind::Lstm { 2 } else { 1 };
        let st: Vec<Tensor> = (0..nst).map(|k| f32(seeded([4, 9, 16], 2 + k))).collect();
        let run = |fused: bool| {
            let st0: Vec<Option<&Tensor>> = st.iter().map(Some).collect();
            let stepped: Vec<Stepped> = stack.cells.iter().map(Stepped).collect();
            let refs: Vec<&dyn RecurrentCell> = if fused {
                stack
                    .cells
                    .iter()
                    .map(|c| c as &dyn RecurrentCell)
                    .collect()
            } else {
                stepped.iter().map(|c| c as &dyn RecurrentCell).collect()
            };
            let all_l = [6; 9];
            let lens = fused.then_some(&all_l[..]);
            let (out, fin) = stack.runner.run(&refs, &x, &st0, lens).unwrap();
            let w = seeded(out.shape().clone(), 9).to_dtype(DType::F32).unwrap();
            let mut loss = out.mul(&w).unwrap().sum_all().unwrap();
            for f in &fin {
                loss = loss.add(&f.square().unwrap().sum_all().unwrap()).unwrap();
            }
            let g = loss.backward().unwrap();
            let mut v = vec![out];
            v.extend(fin);
            for t in std::iter::once(&x).chain(&st).chain(&stack.params()) {
                v.push(g.get(t).expect("a gradient").clone());
            }
            v
        };
        let (a, b) = (run(true), run(false));
        for (k, (p, q)) in a.iter().zip(&b).enumerate() {
            let d = max_abs_diff(p, q);
            assert!(d < 2e-5, "{kind:?} #{k}: {d}");
        }
    }
}
