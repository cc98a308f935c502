//! Tests of the canon's sequence layers: `state_dict` keys, shapes, the stack equal to its
//! cells run by hand, errors, padding that does not leak, dropout, and f64 gradient checks.

use super::tests::{assert_close, max_abs, Rebind};
use super::*;
use crate::layers::recurrent::Stack;
use crate::layers::RnnConfig;
use crate::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

fn stack_params<C: CanonCell + Rebind>(s: &Stack<C>) -> Vec<Tensor> {
    s.cells.iter().flat_map(|c| c.params()).collect()
}

/// The stack computing with `p` in place of its parameters, in evaluation mode.
fn rebind_stack<C: CanonCell + Rebind>(s: &Stack<C>, p: &[Tensor]) -> Stack<C> {
    let mut it = p.iter();
    s.with_cells(s.cells.iter().map(|c| c.rebind(&mut it)).collect())
}

fn cfg(input: usize, hidden: usize, layers: usize, bidirectional: bool) -> RnnConfig {
    RnnConfig {
        num_layers: layers,
        bidirectional,
        ..RnnConfig::new(input, hidden)
    }
}

#[test]
fn sequence_state_dict_keys_shapes_and_describe() {
    let store = ParamStore::new(0);
    let full = PeepholeOptions {
        variant: PeepholeVariant::Full,
        forget_term: false,
    };
    let p = PeepholeLSTM::with_options(&cfg(5, 3, 2, true), full, &store.root().push("p")).unwrap();
    let mut keys = Vec::new();
    for l in ["l0", "l0_reverse", "l1", "l1_reverse"] {
        for k in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
            keys.push(format!("p.{k}_{l}"));
        }
        for k in ["weight_ci", "weight_cf", "weight_co"] {
            keys.push(format!("p.{k}_{l}"));
        }
    }
    assert_eq!(store.keys(), keys);
    let dims = |k: &str| store.get(k).unwrap().dims().to_vec();
    assert_eq!(dims("p.weight_ih_l0"), [12, 5]);
    assert_eq!(dims("p.weight_ih_l1_reverse"), [12, 6]);
    assert_eq!(dims("p.weight_hh_l1"), [12, 3]);
    assert_eq!(dims("p.weight_co_l1"), [3]);
    assert_eq!(
        p.describe(),
        "PeepholeLSTM(5, 3, num_layers=2, bidirectional=True, variant=Full, forget_term=False)"
    );
    assert_eq!(p.cell(1, true).unwrap().weight_ih().dims(), [12, 6]);
    assert!(p.cell(2, false).is_none());

    let store = ParamStore::new(0);
    let c = RnnConfig {
        bias: false,
        batch_first: true,
        dropout: 0.5,
        ..cfg(4, 2, 3, false)
    };
    let m = MGU::new(&c, &store.root()).unwrap();
    let a = LSTMNoForget::new(&cfg(4, 2, 1, false), &store.root().push("a")).unwrap();
    let dims = |k: &str| store.get(k).unwrap().dims().to_vec();
    assert_eq!(
        store.keys(),
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "weight_ih_l1",
            "weight_hh_l1",
            "weight_ih_l2",
            "weight_hh_l2",
            "a.weight_ih_l0",
            "a.weight_hh_l0",
            "a.bias_ih_l0",
            "a.bias_hh_l0",
        ]
    );
    assert_eq!(dims("weight_ih_l1"), [4, 2]);
    assert_eq!(dims("a.weight_ih_l0"), [6, 4]);
    assert!(m.cell(0, true).is_none());
    assert_eq!(
        m.describe(),
        "MGU(4, 2, num_layers=3, bias=False, batch_first=True, dropout=0.5)"
    );
    assert_eq!(a.describe(), "LSTMNoForget(4, 2)");
    assert_eq!(a.config(), &cfg(4, 2, 1, false));
}

#[test]
fn sequence_shapes_batch_first_and_unbatched() {
    let store = ParamStore::with_dtype(1, DType::F64);
    let c = RnnConfig {
        batch_first: true,
        ..cfg(3, 4, 2, true)
    };
    let p = PeepholeLSTM::new(&c, &store.root().push("p")).unwrap();
    let m = MGU::new(&cfg(3, 4, 2, true), &store.root().push("m")).unwrap();
    // batch_first: (N=2, L=5, 3)
    let x = seeded([2, 5, 3], 1);
    let (out, (h, cn)) = p.forward_with_state(&x, None, None).unwrap();
    assert_eq!(out.dims(), [2, 5, 8]);
    assert_eq!((h.dims(), cn.dims()), (&[4, 2, 4][..], &[4, 2, 4][..]));
    assert_eq!(p.forward(&x).unwrap().to_vec_f64(), out.to_vec_f64());
    // unbatched (L, H_in) equals sequence 1 of the batch; state (D*layers, H)
    let x1 = x.narrow(0, 1, 1).unwrap().squeeze(0).unwrap();
    let (o1, (h1, c1)) = p.forward_with_state(&x1, None, None).unwrap();
    assert_eq!(
        (o1.dims(), h1.dims(), c1.dims()),
        (&[5, 8][..], &[4, 4][..], &[4, 4][..])
    );
    let pick = |t: &Tensor, d: usize| t.narrow(d, 1, 1).unwrap().squeeze(d).unwrap();
    assert_close(&o1.to_vec_f64(), &pick(&out, 0).to_vec_f64(), 1e-13, "out");
    assert_close(&h1.to_vec_f64(), &pick(&h, 1).to_vec_f64(), 1e-13, "h");
    let (h0u, c0u) = (seeded([4, 4], 2), seeded([4, 4], 3));
    let (_, (h2, _)) = p.forward_with_state(&x1, Some((&h0u, &c0u)), None).unwrap();
    assert_eq!(h2.dims(), [4, 4]);
    // (L, N, H_in) without batch_first
    let (o, h) = m
        .forward_with_state(&seeded([5, 2, 3], 4), None, None)
        .unwrap();
    assert_eq!((o.dims(), h.dims()), (&[5, 2, 8][..], &[4, 2, 4][..]));
}

/// The stack run by hand with its own cells: layer by layer, forwards then backwards, the
/// outputs concatenated; compares outputs and final states.
#[test]
fn sequence_layers_are_their_cells_run_over_time() {
    let store = ParamStore::with_dtype(3, DType::F64);
    let c = RnnConfig {
        batch_first: true,
        ..cfg(3, 2, 2, true)
    };
    let m = MGU::new(&c, &store.root().push("m")).unwrap();
    let p = PeepholeLSTM::new(&cfg(3, 2, 2, true), &store.root().push("p")).unwrap();
    let (n, l) = (2, 4);
    let x = seeded([n, l, 3], 1);
    let h0 = seeded([4, n, 2], 2);
    let c0 = seeded([4, n, 2], 3);
    let row = |t: &Tensor, r: usize| t.narrow(0, r, 1).unwrap().squeeze(0).unwrap();
    let cat = |a: &Tensor, b: &Tensor| Tensor::cat(&[a.clone(), b.clone()], 1).unwrap();

    // MGU, batch_first
    let (out, hn) = m.forward_with_state(&x, Some(&h0), None).unwrap();
    let mut input: Vec<Tensor> = (0..l)
        .map(|t| x.narrow(1, t, 1).unwrap().squeeze(1).unwrap())
        .collect();
    for layer in 0..2 {
        let mut fwd = vec![None; l];
        let mut h = row(&h0, 2 * layer);
        for (t, xt) in input.iter().enumerate() {
            h = m.cell(layer, false).unwrap().step(xt, Some(&h)).unwrap();
            fwd[t] = Some(h.clone());
        }
        assert_close(
            &row(&hn, 2 * layer).to_vec_f64(),
            &h.to_vec_f64(),
            1e-13,
            "mgu h_n",
        );
        let mut h = row(&h0, 2 * layer + 1);
        let mut bwd = vec![None; l];
        for t in (0..l).rev() {
            h = m
                .cell(layer, true)
                .unwrap()
                .step(&input[t], Some(&h))
                .unwrap();
            bwd[t] = Some(h.clone());
        }
        assert_close(
            &row(&hn, 2 * layer + 1).to_vec_f64(),
            &h.to_vec_f64(),
            1e-13,
            "mgu rev",
        );
        input = (0..l)
            .map(|t| cat(fwd[t].as_ref().unwrap(), bwd[t].as_ref().unwrap()))
            .collect();
    }
    for (t, want) in input.iter().enumerate() {
        let got = out.narrow(1, t, 1).unwrap().squeeze(1).unwrap();
        assert_close(&got.to_vec_f64(), &want.to_vec_f64(), 1e-13, "mgu out");
    }

    // PeepholeLSTM, (L, N, H_in)
    let xs = x.transpose(0, 1).unwrap();
    let (out, (hn, cn)) = p.forward_with_state(&xs, Some((&h0, &c0)), None).unwrap();
    let mut input: Vec<Tensor> = (0..l).map(|t| row(&xs, t)).collect();
    for layer in 0..2 {
        let mut outs: Vec<Vec<Tensor>> = vec![Vec::new(); l];
        for dir in 0..2 {
            let r = 2 * layer + dir;
            let (mut h, mut c) = (row(&h0, r), row(&c0, r));
            let order: Vec<usize> = if dir == 0 {
                (0..l).collect()
            } else {
                (0..l).rev().collect()
            };
            for t in order {
                (h, c) = p
                    .cell(layer, dir == 1)
                    .unwrap()
                    .step(&input[t], Some((&h, &c)))
                    .unwrap();
                outs[t].push(h.clone());
            }
            assert_close(
                &row(&hn, r).to_vec_f64(),
                &h.to_vec_f64(),
                1e-13,
                "lstm h_n",
            );
            assert_close(
                &row(&cn, r).to_vec_f64(),
                &c.to_vec_f64(),
                1e-13,
                "lstm c_n",
            );
        }
        input = outs.iter().map(|o| cat(&o[0], &o[1])).collect();
    }
    for (t, want) in input.iter().enumerate() {
        assert_close(
            &row(&out, t).to_vec_f64(),
            &want.to_vec_f64(),
            1e-13,
            "lstm out",
        );
    }
}

#[test]
fn sequence_errors_name_the_layer_and_the_shapes() {
    let store = ParamStore::new(0);
    let pb = store.root().push("encoder");
    let p = PeepholeLSTM::new(&cfg(3, 4, 2, true), &pb.push("rnn")).unwrap();
    let m = MGU::new(
        &RnnConfig {
            batch_first: true,
            ..cfg(3, 4, 1, false)
        },
        &pb.push("mgu"),
    )
    .unwrap();
    let err = |r: Result<(Tensor, (Tensor, Tensor))>| r.err().unwrap().to_string();
    let x = Tensor::zeros([5, 2, 6], DType::F32).unwrap();
    assert_eq!(
        err(p.forward_with_state(&x, None, None)),
        "in module \"encoder.rnn\": PeepholeLSTM: expected an input (L, N, 3) or unbatched \
         (L, 3), got shape [5, 2, 6]"
    );
    assert_eq!(
        m.forward_with_state(&x, None, None)
            .unwrap_err()
            .to_string(),
        "in module \"encoder.mgu\": MGU: expected an input (N, L, 3) or unbatched (L, 3), got \
         shape [5, 2, 6]"
    );
    let x = Tensor::zeros([5, 2, 3], DType::F32).unwrap();
    let h = Tensor::zeros([4, 2, 4], DType::F32).unwrap();
    let c = Tensor::zeros([2, 2, 4], DType::F32).unwrap();
    assert_eq!(
        err(p.forward_with_state(&x, Some((&h, &c)), None)),
        "in module \"encoder.rnn\": PeepholeLSTM: c0 must be (D*num_layers, N, hidden_size) = \
         [4, 2, 4] for input [5, 2, 3], got [2, 2, 4]"
    );
    assert_eq!(
        err(p.forward_with_state(&x, None, Some(&[5, 5, 5]))),
        "in module \"encoder.rnn\": PeepholeLSTM: lengths has 3 entries for a batch of 2 \
         sequences"
    );
    assert_eq!(
        err(p.forward_with_state(&x, None, Some(&[6, 5]))),
        "in module \"encoder.rnn\": PeepholeLSTM: lengths[0] = 6 is not in 1..=5 (the sequence \
         length L)"
    );
    // as for a packed sequence in PyTorch, every sequence has at least one step
    assert!(err(p.forward_with_state(&x, None, Some(&[5, 0]))).contains("lengths[1] = 0"));
    let empty = Tensor::zeros([0, 2, 3], DType::F32).unwrap();
    assert!(err(p.forward_with_state(&empty, None, None)).contains("empty input [0, 2, 3]"));
    let bad = |c: RnnConfig| {
        LSTMNoForget::new(&c, &pb.push("bad"))
            .err()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        bad(cfg(3, 4, 0, false)),
        "in module \"encoder.bad\": LSTMNoForget: input_size, hidden_size and num_layers must \
         be at least 1, got 3, 4 and 0"
    );
    let e = bad(RnnConfig {
        dropout: 1.0,
        ..cfg(3, 4, 1, false)
    });
    assert!(
        e.starts_with("in module \"encoder.bad\": ") && e.contains("dropout"),
        "{e}"
    );
    let e = bad(RnnConfig {
        proj_size: 2,
        ..cfg(3, 4, 1, false)
    });
    assert_eq!(
        e,
        "in module \"encoder.bad\": LSTMNoForget: proj_size = 2 is only supported by LSTM"
    );
    let e = bad(cfg(3, 0, 1, false));
    assert!(
        e.contains("LSTMNoForget: input_size, hidden_size and num_layers must be at least 1"),
        "{e}"
    );
}

/// For each layer type (2 layers, bidirectional): padded steps give zero outputs and exactly
/// zero input gradients, and each sequence of a padded batch gives what it gives alone.
#[test]
fn lengths_mask_padding_without_leaking() {
    let store = ParamStore::with_dtype(6, DType::F64);
    let c = cfg(2, 3, 2, true);
    let a = LSTMNoForget::new(&c, &store.root().push("a")).unwrap();
    let p = PeepholeLSTM::new(&c, &store.root().push("p")).unwrap();
    let m = MGU::new(&c, &store.root().push("m")).unwrap();
    type Run<'a> = Box<dyn Fn(&Tensor, Option<&[usize]>) -> (Tensor, Vec<Tensor>) + 'a>;
    let lstm_out = |(o, (h, c)): (Tensor, (Tensor, Tensor))| (o, vec![h, c]);
    let runs: Vec<(&str, Run)> = vec![
        (
            "LSTMNoForget",
            Box::new(|x, l| lstm_out(a.forward_with_state(x, None, l).unwrap())),
        ),
        (
            "PeepholeLSTM",
            Box::new(|x, l| lstm_out(p.forward_with_state(x, None, l).unwrap())),
        ),
        (
            "MGU",
            Box::new(|x, l| {
                let (o, h) = m.forward_with_state(x, None, l).unwrap();
                (o, vec![h])
            }),
        ),
    ];
    let lens = [4usize, 2, 3];
    let x = seeded([4, 3, 2], 1).requires_grad_(true).unwrap();
    for (name, run) in &runs {
        let (out, state) = run(&x, Some(&lens));
        // zero outputs past each length
        for (n, &len) in lens.iter().enumerate() {
            for t in len..4 {
                let o = out.narrow(0, t, 1).unwrap().narrow(1, n, 1).unwrap();
                assert_eq!(max_abs(&o), 0.0, "{name}: output at t={t}, n={n}");
            }
        }
        // no gradient reaches the padding, from the outputs or the final state
        let mut loss = out
            .mul(&seeded(out.dims().to_vec(), 2))
            .unwrap()
            .sum_all()
            .unwrap();
        for s in &state {
            loss = loss.add(&s.sum_all().unwrap()).unwrap();
        }
        let g = loss.backward().unwrap().get(&x).unwrap().clone();
        for (n, &len) in lens.iter().enumerate() {
            for t in 0..4 {
                let gv = max_abs(&g.narrow(0, t, 1).unwrap().narrow(1, n, 1).unwrap());
                if t < len {
                    assert!(gv > 0.0, "{name}: real step t={t}, n={n} gets a gradient");
                } else {
                    assert_eq!(gv, 0.0, "{name}: padding t={t}, n={n} gets a gradient");
                }
            }
        }
        // each sequence alone, cut to its length, gives the same outputs and final state
        for (n, &len) in lens.iter().enumerate() {
            let alone = x.narrow(0, 0, len).unwrap().narrow(1, n, 1).unwrap();
            let (o1, s1) = run(&alone, None);
            let o = out.narrow(0, 0, len).unwrap().narrow(1, n, 1).unwrap();
            assert_close(&o.to_vec_f64(), &o1.to_vec_f64(), 1e-13, name);
            for (s, s1) in state.iter().zip(&s1) {
                let s = s.narrow(1, n, 1).unwrap();
                assert_close(&s.to_vec_f64(), &s1.to_vec_f64(), 1e-13, name);
            }
        }
        // full lengths are the same as none
        let (o_full, _) = run(&x, Some(&[4, 4, 4]));
        assert_eq!(o_full.to_vec_f64(), run(&x, None).0.to_vec_f64(), "{name}");
    }
}

#[test]
fn gradcheck_every_sequence_layer_with_lengths() {
    let store = ParamStore::with_dtype(8, DType::F64);
    let c = cfg(2, 2, 2, true);
    let lens: &[usize] = &[3, 2];
    let (x, h0, c0) = (
        seeded([3, 2, 2], 1),
        seeded([4, 2, 2], 2),
        seeded([4, 2, 2], 3),
    );
    let flat = |o: Tensor, s: &[Tensor]| -> Result<Tensor> {
        let mut v = vec![o.flatten_all()?];
        for s in s {
            v.push(s.flatten_all()?);
        }
        Tensor::cat(&v, 0)
    };

    let a = LSTMNoForget::new(&c, &store.root().push("a")).unwrap();
    let mut inputs = vec![x.clone(), h0.clone(), c0.clone()];
    inputs.extend(stack_params(&a.inner));
    gradcheck(
        "LSTMNoForget",
        |t| {
            let l = LSTMNoForget {
                inner: rebind_stack(&a.inner, &t[3..]),
            };
            let (o, (h, c)) = l.forward_with_state(&t[0], Some((&t[1], &t[2])), Some(lens))?;
            flat(o, &[h, c])
        },
        &inputs,
    )
    .unwrap();

    let full = PeepholeOptions {
        variant: PeepholeVariant::Full,
        forget_term: true,
    };
    let p = PeepholeLSTM::with_options(&c, full, &store.root().push("p")).unwrap();
    let mut inputs = vec![x.clone(), h0.clone(), c0.clone()];
    inputs.extend(stack_params(&p.inner));
    gradcheck(
        "PeepholeLSTM",
        |t| {
            let l = PeepholeLSTM {
                inner: rebind_stack(&p.inner, &t[3..]),
                opts: full,
            };
            let (o, (h, c)) = l.forward_with_state(&t[0], Some((&t[1], &t[2])), Some(lens))?;
            flat(o, &[h, c])
        },
        &inputs,
    )
    .unwrap();

    let m = MGU::new(&c, &store.root().push("m")).unwrap();
    let mut inputs = vec![x.clone(), h0.clone()];
    inputs.extend(stack_params(&m.inner));
    gradcheck(
        "MGU",
        |t| {
            let l = MGU {
                inner: rebind_stack(&m.inner, &t[2..]),
            };
            let (o, h) = l.forward_with_state(&t[0], Some(&t[1]), Some(lens))?;
            flat(o, &[h])
        },
        &inputs,
    )
    .unwrap();
}

/// The layer draws its dropout seed whatever the dropout, as PyTorch's layers do (through
/// the shared runner), so the dropout setting does not shift the parameters built after it.
#[test]
fn dropout_setting_does_not_change_later_initialization() {
    let later = |dropout: f64| {
        let store = ParamStore::new(4);
        let c = RnnConfig {
            dropout,
            ..cfg(3, 2, 2, false)
        };
        MGU::new(&c, &store.root().push("m")).unwrap();
        LSTMNoForget::new(&cfg(3, 2, 1, false), &store.root().push("a")).unwrap();
        store.get("a.weight_ih_l0").unwrap().to_vec_f64()
    };
    assert_eq!(later(0.0), later(0.5));
}

#[test]
fn dropout_acts_between_layers_in_training_only() {
    let store = ParamStore::with_dtype(9, DType::F64);
    let c = RnnConfig {
        dropout: 0.5,
        ..cfg(3, 8, 2, false)
    };
    let m = MGU::new(&c, &store.root()).unwrap();
    let x = seeded([4, 2, 3], 1);
    let train = m.forward(&x).unwrap().to_vec_f64();
    m.set_training(false);
    let eval = m.forward(&x).unwrap().to_vec_f64();
    assert_eq!(
        eval,
        m.forward(&x).unwrap().to_vec_f64(),
        "eval is deterministic"
    );
    assert_ne!(train, eval, "training drops some of layer 0's outputs");
    // evaluation is the layer without dropout (same weights)
    let plain = MGU {
        inner: rebind_stack(&m.inner, &stack_params(&m.inner)),
    };
    assert_eq!(plain.forward(&x).unwrap().to_vec_f64(), eval);
    // one layer: nothing to drop even in training
    let one = MGU::new(
        &RnnConfig {
            dropout: 0.5,
            ..cfg(3, 8, 1, false)
        },
        &store.root().push("one"),
    )
    .unwrap();
    let y = one.forward(&x).unwrap().to_vec_f64();
    one.set_training(false);
    assert_eq!(one.forward(&x).unwrap().to_vec_f64(), y);
}
