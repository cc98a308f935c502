//! Tests of the gated graph layer: keys and shapes, values against messages summed edge by edge
//! and `GRUCell` updates, how far information travels in `K` steps, batching by disjoint union,
//! gradient checks and errors.

use super::*;
use crate::layers::test_util::max_abs_diff;
use crate::layers::{GRUCell, GruForm};
use crate::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

fn layer(d: usize, t: usize, k: usize, bias: bool, seed: u64) -> (ParamStore, GatedGraph) {
    let store = ParamStore::with_dtype(seed, DType::F64);
    let cfg = GatedGraphConfig {
        bias,
        ..GatedGraphConfig::new(d, t, k)
    };
    let g = GatedGraph::new(&cfg, &store.root()).unwrap();
    (store, g)
}

/// A small graph with both edge types, a parallel edge, a self-loop and a node (5) that
/// receives nothing.
fn sample_graph() -> Graph {
    let e = [
        (0, 1, 0),
        (1, 2, 0),
        (2, 3, 1),
        (3, 0, 1),
        (1, 2, 0),
        (4, 4, 1),
        (0, 4, 0),
        (5, 2, 1),
    ];
    Graph::new(6, &e).unwrap()
}

#[test]
fn keys_shapes_and_counts() {
    let store = ParamStore::new(0);
    let cfg = GatedGraphConfig::new(8, 3, 4);
    let g = GatedGraph::new(&cfg, &store.root().push("ggnn")).unwrap();
    assert_eq!(
        store.keys(),
        [
            "ggnn.weight",
            "ggnn.bias",
            "ggnn.rnn.weight_ih",
            "ggnn.rnn.weight_hh",
            "ggnn.rnn.bias_ih",
            "ggnn.rnn.bias_hh"
        ]
    );
    assert_eq!(g.weight().dims(), [3, 8, 8]);
    // T*D*D + T*D + GRUCell(8, 8): 3*8*(8 + 8 + 2)
    assert_eq!(store.num_params(), 3 * 64 + 3 * 8 + 3 * 8 * 18);
    let x = Tensor::zeros([6, 5], DType::F32).unwrap();
    let y = g.forward(&x, &sample_graph()).unwrap();
    assert_eq!(y.dims(), [6, 8]);
    assert_eq!(sample_graph().num_edge_types(), 2);
}

/// The layer against a per-edge loop: messages summed edge by edge in plain f64, the update by
/// the public `GRUCell` (compared with PyTorch in its own tests) loaded with the layer's `rnn`.
#[test]
fn values_match_edge_by_edge_messages_and_gru_updates() {
    for bias in [true, false] {
        let (d, t, k) = (4, 2, 3);
        let (store, g) = layer(d, t, k, bias, 1);
        let graph = sample_graph();
        let x = seeded([6, 3], 2);
        let y = g.forward(&x, &graph).unwrap();

        let cstore = ParamStore::with_dtype(0, DType::F64);
        let cell = GRUCell::new(d, d, bias, GruForm::PyTorch, &cstore.root()).unwrap();
        let sd: Vec<(String, Tensor)> = store
            .state_dict()
            .into_iter()
            .filter_map(|(n, t)| n.strip_prefix("rnn.").map(|n| (n.to_string(), t)))
            .collect();
        cstore.load_state_dict(&sd, true).unwrap();
        let w = store.get("weight").unwrap().to_vec_f64();
        let b = store.get("bias").map(|b| b.to_vec_f64());
        let mut h = x.pad(&[0, 1], 0.0).unwrap();
        for _ in 0..k {
            let hv = h.to_vec_f64();
            let mut m = vec![0.0; 6 * d];
            for &(s, dst, ty) in graph.edges() {
                for o in 0..d {
                    let mut acc = b.as_ref().map_or(0.0, |b| b[ty * d + o]);
                    for q in 0..d {
                        acc += hv[s * d + q] * w[(ty * d + q) * d + o];
                    }
                    m[dst * d + o] += acc;
                }
            }
            let m = Tensor::from_vec(m, [6, d]).unwrap();
            h = cell.step(&m, Some(&h)).unwrap();
        }
        let diff = max_abs_diff(&y.to_vec_f64(), &h.to_vec_f64());
        assert!(diff < 1e-12, "bias {bias}: {diff}");
    }
}

/// After `K` steps on the chain `0 -> 1 -> ... -> 5`, node 4's state depends on exactly the
/// nodes at most `K` edges upstream of it (and itself).
#[test]
fn k_steps_reach_k_edges_upstream() {
    let chain: Vec<(usize, usize, usize)> = (0..5).map(|i| (i, i + 1, 0)).collect();
    let graph = Graph::new(6, &chain).unwrap();
    let (_s, g) = layer(3, 1, 2, true, 3);
    for k in 0..=5 {
        let x = seeded([6, 3], 4).requires_grad_(true).unwrap();
        let y = g.forward_steps(&x, &graph, k).unwrap();
        let grads = y
            .narrow(0, 4, 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gx = grads.get(&x).unwrap().to_vec_f64();
        for node in 0..6 {
            let nz = gx[node * 3..node * 3 + 3].iter().any(|&v| v != 0.0);
            let reach = node <= 4 && 4 - node <= k;
            assert_eq!(nz, reach, "K = {k}, node {node}");
        }
    }
}

#[test]
fn a_disjoint_union_runs_each_graph_on_its_own() {
    let (_s, g) = layer(4, 2, 3, true, 5);
    let a = sample_graph();
    let b = Graph::new(3, &[(0, 1, 1), (1, 2, 0), (2, 0, 0)]).unwrap();
    let (u, offsets) = Graph::disjoint_union(&[a.clone(), b.clone(), a.clone()]);
    assert_eq!(offsets, [0, 6, 9, 15]);
    assert_eq!(u.num_nodes(), 15);
    assert_eq!(u.edges()[8], (6, 7, 1));
    let xs = [seeded([6, 2], 6), seeded([3, 2], 7), seeded([6, 2], 8)];
    let y = g.forward(&Tensor::cat(&xs, 0).unwrap(), &u).unwrap();
    for (i, (x, gr)) in xs.iter().zip([&a, &b, &a]).enumerate() {
        let alone = g.forward(x, gr).unwrap().to_vec_f64();
        let part = y.narrow(0, offsets[i], gr.num_nodes()).unwrap();
        let diff = max_abs_diff(&part.to_vec_f64(), &alone);
        assert!(diff < 1e-12, "graph {i}: {diff}");
    }
    // a graph without edges: every node is updated from its bias-free zero message alone
    let (_s, g0) = layer(3, 1, 2, false, 9);
    let x = seeded([2, 3], 10);
    let empty = Graph::new(2, &[]).unwrap();
    let y0 = g0.forward(&x, &empty).unwrap();
    let y1 = g0.forward(&x.narrow(0, 1, 1).unwrap(), &Graph::new(1, &[]).unwrap());
    let diff = max_abs_diff(
        &y0.narrow(0, 1, 1).unwrap().to_vec_f64(),
        &y1.unwrap().to_vec_f64(),
    );
    assert!(diff < 1e-15);
}

#[test]
fn gradients_match_finite_differences() {
    let (d, t, k) = (3, 2, 2);
    let (_s, g) = layer(d, t, k, true, 11);
    let graph = sample_graph();
    let mut leaves = vec![
        seeded([6, 2], 12),
        g.weight.clone(),
        g.bias.clone().unwrap(),
    ];
    leaves.extend(g.rnn.w.tensors());
    let f = |ts: &[Tensor]| {
        let (w, _) = g.rnn.w.replaced(&ts[3..]);
        let rnn = CellCore { w, ..g.rnn.clone() };
        let p = GgnnParams {
            weight: &ts[1],
            bias: Some(&ts[2]),
            rnn: &rnn,
        };
        propagate(&ts[0], &graph, &p, k)
    };
    gradcheck("gated_graph", f, &leaves).unwrap();
}

#[test]
fn bad_graphs_and_inputs_are_errors() {
    let e = Graph::new(3, &[(0, 1, 0), (1, 3, 0)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("graph")
            && e.contains("edge 1 (1 -> 3, type 0) references node 3")
            && e.contains("3 nodes"),
        "{e}"
    );
    let store = ParamStore::new(0);
    let g = GatedGraph::new(&GatedGraphConfig::new(4, 2, 1), &store.root().push("gg")).unwrap();
    let graph = Graph::new(3, &[(0, 1, 0), (1, 2, 2)]).unwrap();
    let z = |s: [usize; 2]| Tensor::zeros(s, DType::F32).unwrap();
    let e = g.forward(&z([3, 4]), &graph).unwrap_err().to_string();
    assert!(
        e.contains("\"gg\"")
            && e.contains("gated_graph")
            && e.contains("edge 1 (1 -> 2) has type 2")
            && e.contains("2 edge types"),
        "{e}"
    );
    let ok = Graph::new(3, &[(0, 1, 0)]).unwrap();
    let e = g.forward(&z([4, 4]), &ok).unwrap_err().to_string();
    assert!(e.contains("V = 3") && e.contains("[4, 4]"), "{e}");
    let e = g.forward(&z([3, 5]), &ok).unwrap_err().to_string();
    assert!(e.contains("F <= 4") && e.contains("[3, 5]"), "{e}");
    let e = GatedGraph::new(&GatedGraphConfig::new(4, 0, 1), &store.root().push("b"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("num_edge_types must be at least 1"), "{e}");
}
