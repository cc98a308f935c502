//! Tests of the Child-Sum Tree-LSTM and its forests: the level schedule and cycle errors, values
//! against a node-by-node recursion, a chain against `LSTMCell`, batching by union, gradient
//! checks and errors.

use super::*;
use crate::layers::test_util::{max_abs_diff, sig};
use crate::layers::LSTMCell;
use crate::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

fn layer(f: usize, h: usize, bias: bool, seed: u64) -> ChildSumTreeLSTM {
    let store = ParamStore::with_dtype(seed, DType::F64);
    ChildSumTreeLSTM::new(f, h, bias, &store.root()).unwrap()
}

/// Two trees: 6 is the root of {6: [2, 0, 4], 2: [1], 4: [3, 5]} (one, two and three children)
/// and 7 is a lone root.
fn sample() -> Forest {
    let p = [
        Some(6),
        Some(2),
        Some(6),
        Some(4),
        Some(6),
        Some(4),
        None,
        None,
    ];
    Forest::from_parents(&p).unwrap()
}

/// The equations of the module docs, one node at a time by recursion, in plain f64.
fn naive(m: &ChildSumTreeLSTM, x: &Tensor, forest: &Forest) -> (Vec<f64>, Vec<f64>) {
    let (f, hs) = (m.input_size, m.hidden_size);
    let (wi, wh) = (m.w.w_ih.to_vec_f64(), m.w.w_hh.to_vec_f64());
    let zero = vec![0.0; 4 * hs];
    let bi = m.w.b_ih.as_ref().map_or(zero.clone(), |b| b.to_vec_f64());
    let bh = m.w.b_hh.as_ref().map_or(zero, |b| b.to_vec_f64());
    let xv = x.to_vec_f64();
    let n = forest.num_nodes();
    let (mut h, mut c) = (vec![vec![0.0; hs]; n], vec![vec![0.0; hs]; n]);
    fn visit(j: usize, forest: &Forest, eval: &mut dyn FnMut(usize, &[usize])) {
        let kids: Vec<usize> = (0..forest.num_nodes())
            .filter(|&k| forest.parents()[k] == Some(j))
            .collect();
        for &k in &kids {
            visit(k, forest, eval);
        }
        eval(j, &kids);
    }
    let mut eval = |j: usize, kids: &[usize]| {
        let wx = |r: usize| -> f64 {
            (0..f).map(|q| wi[r * f + q] * xv[j * f + q]).sum::<f64>() + bi[r] + bh[r]
        };
        let uh = |r: usize, v: &[f64]| -> f64 { (0..hs).map(|q| wh[r * hs + q] * v[q]).sum() };
        let mut ht = vec![0.0; hs];
        for &k in kids {
            for q in 0..hs {
                ht[q] += h[k][q];
            }
        }
        for r in 0..hs {
            let i = sig(wx(r) + uh(r, &ht));
            let u = (wx(2 * hs + r) + uh(2 * hs + r, &ht)).tanh();
            let o = sig(wx(3 * hs + r) + uh(3 * hs + r, &ht));
            let mut cv = i * u;
            for &k in kids {
                cv += sig(wx(hs + r) + uh(hs + r, &h[k])) * c[k][r];
            }
            c[j][r] = cv;
            h[j][r] = o * cv.tanh();
        }
    };
    for r in forest.roots() {
        visit(r, forest, &mut eval);
    }
    (h.concat(), c.concat())
}

#[test]
fn forests_know_heights_levels_and_roots() {
    let f = sample();
    assert_eq!(f.heights(), [0, 0, 1, 0, 1, 0, 2, 0]);
    assert_eq!(f.roots(), [6, 7]);
    assert_eq!(f.levels(), 3);
    assert_eq!(f.order, [0, 1, 3, 5, 7, 2, 4, 6]);
    assert_eq!(f.level_starts, [0, 5, 7, 8]);
    let (u, offsets) = Forest::union(&[f.clone(), Forest::from_parents(&[None, Some(0)]).unwrap()]);
    assert_eq!(offsets, [0, 8, 10]);
    assert_eq!(u.parents()[9], Some(8));
    assert_eq!(u.roots(), [6, 7, 8]);
}

#[test]
fn cycles_and_bad_parents_are_errors() {
    let e = Forest::from_parents(&[None, Some(3), Some(1), Some(2), Some(0)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tree") && e.contains("cycle 1 -> 3 -> 2 -> 1"),
        "{e}"
    );
    let e = Forest::from_parents(&[Some(0)]).unwrap_err().to_string();
    assert!(e.contains("cycle 0 -> 0"), "{e}");
    let e = Forest::from_parents(&[None, Some(2)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("node 1's parent is 2") && e.contains("2 nodes"),
        "{e}"
    );
}

#[test]
fn keys_shapes_and_values_match_a_recursion() {
    let store = ParamStore::new(0);
    let m = ChildSumTreeLSTM::new(3, 5, true, &store.root().push("tree")).unwrap();
    assert_eq!(
        store.keys(),
        [
            "tree.weight_ih",
            "tree.weight_hh",
            "tree.bias_ih",
            "tree.bias_hh"
        ]
    );
    assert_eq!(m.weight_ih().dims(), [20, 3]);
    assert_eq!(m.weight_hh().dims(), [20, 5]);
    for bias in [true, false] {
        let m = layer(3, 4, bias, 1);
        let forest = sample();
        let x = seeded([8, 3], 2);
        let (h, c) = m.forward(&x, &forest).unwrap();
        assert_eq!((h.dims(), c.dims()), ([8, 4].as_slice(), [8, 4].as_slice()));
        let (wh, wc) = naive(&m, &x, &forest);
        let d = max_abs_diff(&h.to_vec_f64(), &wh).max(max_abs_diff(&c.to_vec_f64(), &wc));
        assert!(d < 1e-12, "bias {bias}: {d}");
    }
}

/// On a chain (each node the only child of the next) the layer is `LSTMCell` (compared with
/// PyTorch in its own tests) run from the leaf to the root.
#[test]
fn a_chain_is_an_lstm() {
    let (f, hs, len) = (2, 3, 5);
    let m = layer(f, hs, true, 3);
    // node i's parent is i + 1: node 0 is the leaf
    let parents: Vec<Option<usize>> = (0..len).map(|i| (i + 1 < len).then_some(i + 1)).collect();
    let forest = Forest::from_parents(&parents).unwrap();
    let x = seeded([len, f], 4);
    let (h, _) = m.forward(&x, &forest).unwrap();
    let store = ParamStore::with_dtype(0, DType::F64);
    let cell = LSTMCell::new(f, hs, true, &store.root()).unwrap();
    let sd = vec![
        ("weight_ih".to_string(), m.w.w_ih.clone()),
        ("weight_hh".to_string(), m.w.w_hh.clone()),
        ("bias_ih".to_string(), m.w.b_ih.clone().unwrap()),
        ("bias_hh".to_string(), m.w.b_hh.clone().unwrap()),
    ];
    store.load_state_dict(&sd, true).unwrap();
    let mut state: Option<(Tensor, Tensor)> = None;
    for i in 0..len {
        let (hn, cn) = cell
            .step(
                &x.narrow(0, i, 1).unwrap(),
                state.as_ref().map(|(h, c)| (h, c)),
            )
            .unwrap();
        let d = max_abs_diff(&h.narrow(0, i, 1).unwrap().to_vec_f64(), &hn.to_vec_f64());
        assert!(d < 1e-12, "node {i}: {d}");
        state = Some((hn, cn));
    }
}

#[test]
fn a_union_runs_each_tree_on_its_own() {
    let m = layer(2, 3, true, 5);
    let a = sample();
    let b = Forest::from_parents(&[Some(2), Some(2), None]).unwrap();
    let (u, offsets) = Forest::union(&[b.clone(), a.clone()]);
    let (xb, xa) = (seeded([3, 2], 6), seeded([8, 2], 7));
    let (h, _) = m
        .forward(&Tensor::cat(&[xb.clone(), xa.clone()], 0).unwrap(), &u)
        .unwrap();
    for (i, (x, f)) in [(&xb, &b), (&xa, &a)].into_iter().enumerate() {
        let alone = m.forward(x, f).unwrap().0.to_vec_f64();
        let part = h.narrow(0, offsets[i], f.num_nodes()).unwrap().to_vec_f64();
        assert!(max_abs_diff(&part, &alone) < 1e-12, "tree {i}");
    }
}

#[test]
fn gradients_match_finite_differences() {
    let m = layer(2, 3, true, 8);
    let forest = sample();
    let mut leaves = vec![seeded([8, 2], 9)];
    leaves.extend(m.w.tensors());
    let f = |ts: &[Tensor]| {
        let (w, _) = m.w.replaced(&ts[1..]);
        let (h, c) = tree_lstm(&ts[0], &forest, &w, 3)?;
        Tensor::cat(&[h, c], 1)
    };
    gradcheck("child_sum_tree_lstm", f, &leaves).unwrap();
}

#[test]
fn bad_inputs_are_errors() {
    let store = ParamStore::new(0);
    let m = ChildSumTreeLSTM::new(3, 4, true, &store.root().push("enc")).unwrap();
    let e = m
        .forward(&Tensor::zeros([7, 3], DType::F32).unwrap(), &sample())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"enc\"")
            && e.contains("child_sum_tree_lstm")
            && e.contains("(8, 3)")
            && e.contains("[7, 3]"),
        "{e}"
    );
    let e = ChildSumTreeLSTM::new(0, 4, true, &store.root().push("z"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("input_size and hidden_size must be at least 1"),
        "{e}"
    );
    // an empty forest gives empty states
    let (h, _) = m
        .forward(
            &Tensor::zeros([0, 3], DType::F32).unwrap(),
            &Forest::from_parents(&[]).unwrap(),
        )
        .unwrap();
    assert_eq!(h.dims(), [0, 4]);
}
