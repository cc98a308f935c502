//! The graph recurrent layers learning tasks that need several steps of propagation: the gated
//! graph network broadcasting a bit across a tree (and failing beyond its step count), the
//! Child-Sum Tree-LSTM evaluating boolean expression trees.

use deepnet_models::graph_tasks::{BoolExpr, BroadcastBit, GgnnNodeClassifier, TreeLstmClassifier};
use deepnet_nn::layers::GatedGraphConfig;
use deepnet_nn::loss::cross_entropy;
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::{ParamStore, Reduction};
use deepnet_tensor::{no_grad, Generator, Result, Tensor};

/// Whether each row's argmax equals its label.
fn hits(logits: &Tensor, labels: &Tensor) -> Result<Vec<bool>> {
    let pred = logits.argmax(1, false)?.to_vec::<i64>()?;
    Ok(pred
        .iter()
        .zip(labels.to_vec::<i64>()?)
        .map(|(p, l)| *p == l)
        .collect())
}

fn mean(v: impl Iterator<Item = bool>) -> f64 {
    let (mut n, mut k) = (0usize, 0usize);
    for b in v {
        n += 1;
        k += usize::from(b);
    }
    k as f64 / n.max(1) as f64
}

/// Trains a GGNN of `steps` steps on the broadcast task; returns its held-out accuracy on all
/// nodes and on the nodes 2 or more edges from the marked one.
fn train_ggnn(steps: usize) -> Result<(f64, f64)> {
    let task = BroadcastBit::default();
    let store = ParamStore::new(0);
    let cfg = GatedGraphConfig::new(16, BroadcastBit::EDGE_TYPES, steps);
    let model = GgnnNodeClassifier::new(&cfg, 2, &store.root())?;
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-2,
        ..Default::default()
    })?;
    let params = store.trainable();
    let mut g = Generator::new(1);
    for _ in 0..100 {
        let (x, graph, y, _) = BroadcastBit::batch(&task.samples(32, &mut g))?;
        let loss = cross_entropy(&model.forward(&x, &graph)?, &y, Reduction::Mean)?;
        opt.step(&params, &loss.backward()?)?;
    }
    let (x, graph, y, dist) = BroadcastBit::batch(&task.samples(400, &mut Generator::new(99)))?;
    let _g = no_grad();
    let h = hits(&model.forward(&x, &graph)?, &y)?;
    let all = mean(h.iter().copied());
    let far = mean(
        h.iter()
            .zip(&dist)
            .filter(|(_, &d)| d >= 2)
            .map(|(&b, _)| b),
    );
    eprintln!("K = {steps}: held-out accuracy {all:.3}, at distance >= 2 {far:.3}");
    Ok((all, far))
}

/// With one step, the nodes two or more edges from the marked node are at chance (their states
/// do not depend on the bit); with 7 steps (the largest distance in the task's trees) every node
/// gets it.
#[test]
fn ggnn_needs_as_many_steps_as_edges_to_cross() -> Result<()> {
    let (_, far1) = train_ggnn(1)?;
    let (all7, far7) = train_ggnn(7)?;
    assert!(far1 < 0.6, "{far1}");
    assert!(all7 > 0.97 && far7 > 0.97, "{all7} {far7}");
    Ok(())
}

/// Trained on every node of trees of height 3..=4, scored on the roots (whose value depends on
/// every leaf), and on deeper trees than any it saw.
#[test]
fn tree_lstm_evaluates_boolean_expressions() -> Result<()> {
    let task = BoolExpr::default();
    let store = ParamStore::new(0);
    let model = TreeLstmClassifier::new(BoolExpr::KINDS, 8, 32, 2, &store.root())?;
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-2,
        ..Default::default()
    })?;
    let params = store.trainable();
    let mut g = Generator::new(2);
    let train_trees = task.samples(64 * 100, &mut g);
    for chunk in train_trees.chunks(64) {
        let (kinds, forest, y, _) = BoolExpr::batch(chunk)?;
        let loss = cross_entropy(&model.forward(&kinds, &forest)?, &y, Reduction::Mean)?;
        opt.step(&params, &loss.backward()?)?;
    }
    let test = task.samples(1000, &mut Generator::new(77));
    let (kinds, forest, y, roots) = BoolExpr::batch(&test)?;
    let _g = no_grad();
    let h = hits(&model.forward(&kinds, &forest)?, &y)?;
    let root_acc = mean(roots.iter().map(|&r| h[r]));
    let all = mean(h.iter().copied());
    let base = BoolExpr::operator_baseline(&train_trees, &test)?;
    eprintln!(
        "height 3..=4: roots {root_acc:.3}, all nodes {all:.3}, operator-only baseline {base:.3}"
    );
    let deeper = BoolExpr {
        min_height: 5,
        max_height: 6,
    }
    .samples(1000, &mut Generator::new(78));
    let (kinds, forest, y, roots) = BoolExpr::batch(&deeper)?;
    let h = hits(&model.forward(&kinds, &forest)?, &y)?;
    let deep_acc = mean(roots.iter().map(|&r| h[r]));
    eprintln!("height 5..=6 (deeper than any trained on): roots {deep_acc:.3}");
    // the operator alone predicts the root far worse: the value comes from below
    assert!(base < 0.8, "{base}");
    assert!(root_acc > 0.97, "{root_acc}");
    assert!(deep_acc > 0.9, "{deep_acc}");
    Ok(())
}

#[test]
fn keys_and_errors_name_the_layers() -> Result<()> {
    let store = ParamStore::new(0);
    let cfg = GatedGraphConfig::new(4, 2, 3);
    let m = GgnnNodeClassifier::new(&cfg, 2, &store.root().push("net"))?;
    assert_eq!(
        store.keys(),
        [
            "net.ggnn.weight",
            "net.ggnn.bias",
            "net.ggnn.rnn.weight_ih",
            "net.ggnn.rnn.weight_hh",
            "net.ggnn.rnn.bias_ih",
            "net.ggnn.rnn.bias_hh",
            "net.out.weight",
            "net.out.bias"
        ]
    );
    let s = BroadcastBit::default().sample(&mut Generator::new(0));
    let (x, graph, _, _) = BroadcastBit::batch(&[s])?;
    assert_eq!(m.forward(&x, &graph)?.dims(), [graph.num_nodes(), 2]);
    let e = m
        .forward(&x.narrow(0, 1, graph.num_nodes() - 1)?, &graph)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"net.ggnn\"") && e.contains("gated_graph"),
        "{e}"
    );

    let store = ParamStore::new(0);
    let t = TreeLstmClassifier::new(BoolExpr::KINDS, 3, 4, 2, &store.root().push("t"))?;
    assert_eq!(
        store.keys(),
        [
            "t.embed.weight",
            "t.tree.weight_ih",
            "t.tree.weight_hh",
            "t.tree.bias_ih",
            "t.tree.bias_hh",
            "t.out.weight",
            "t.out.bias"
        ]
    );
    let tree = BoolExpr::default().sample(&mut Generator::new(1));
    let (kinds, forest, _, roots) = BoolExpr::batch(&[tree.clone(), tree])?;
    assert_eq!(t.forward(&kinds, &forest)?.dims(), [forest.num_nodes(), 2]);
    assert_eq!(forest.roots(), roots);
    let e = t
        .forward(&kinds.narrow(0, 0, 3)?, &forest)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"t.tree\"") && e.contains("child_sum_tree_lstm"),
        "{e}"
    );
    let e = t
        .forward(
            &Tensor::from_vec(vec![9i64; forest.num_nodes()], [forest.num_nodes()])?,
            &forest,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"t.embed\"") && e.contains("index 9"), "{e}");
    Ok(())
}

#[test]
fn task_samples_are_what_they_claim() {
    let mut g = Generator::new(3);
    for s in BroadcastBit::default().samples(50, &mut g) {
        let n = s.graph.num_nodes();
        assert!((5..=8).contains(&n));
        // a tree, both directions: 2(n - 1) edges, every node reached
        assert_eq!(s.graph.edges().len(), 2 * (n - 1));
        assert!(s.distance.iter().all(|&d| d < n));
        let marked: Vec<usize> = (0..n).filter(|&i| s.distance[i] == 0).collect();
        assert_eq!(marked.len(), 1);
        let bit = s.labels[0];
        assert_eq!(s.features[marked[0] * 2 + bit as usize], 1.0);
        assert_eq!(s.features.iter().sum::<f32>(), 1.0);
    }
    for t in BoolExpr::default().samples(50, &mut g) {
        let f = deepnet_nn::layers::Forest::from_parents(&t.parents).unwrap();
        assert!((3..=4).contains(&f.heights()[t.root]));
        for (j, &k) in t.kinds.iter().enumerate() {
            let kids: Vec<usize> = (0..t.kinds.len())
                .filter(|&c| t.parents[c] == Some(j))
                .collect();
            let v: Vec<i64> = kids.iter().map(|&c| t.values[c]).collect();
            let want = match k {
                BoolExpr::FALSE | BoolExpr::TRUE => {
                    assert!(kids.is_empty());
                    k
                }
                BoolExpr::AND => v[0] & v[1],
                BoolExpr::OR => v[0] | v[1],
                _ => v[0] ^ v[1],
            };
            assert_eq!(t.values[j], want, "node {j}");
        }
    }
}
