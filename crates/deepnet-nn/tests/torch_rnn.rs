//! Recurrent layers against PyTorch float64 references (`tests/data/torch_rnn.json`, generated
//! by `tools/reference/rnn.py`): RNN (tanh, relu), LSTM (with and without projections), GRU,
//! multi-layer and bidirectional stacks, batch-first inputs, variable-length batches (PyTorch's
//! `pack_padded_sequence` / `pad_packed_sequence`), and the three cells. For each case: the
//! `state_dict` keys and shapes, the outputs and final states, and the gradients of
//! `(output * W).sum() + (h_n * V).sum() [+ (c_n * U).sum()]` for the input, the initial
//! states and every parameter.
//!
//! Every case is rebuilt from its torch class name and keyword arguments; an unknown class or
//! keyword fails the test, so a case added to the script cannot be silently skipped. A failing
//! case does not hide the others: each test runs all of its cases and then lists the failures.

use deepnet_nn::layers::{GRUCell, LSTMCell, RNNCell, RnnConfig, RnnNonlinearity, GRU, LSTM, RNN};
use deepnet_nn::ParamStore;
use deepnet_tensor::{DType, Tensor};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Both sides compute in f64 with the same formulas; differences are summation order.
const TOL: f64 = 1e-10;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/torch_rnn.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dims(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn tensor(v: &Value) -> Tensor {
    let data: Vec<f64> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    Tensor::from_vec(data, dims(v)).unwrap()
}

/// A reference tensor as a leaf that records its gradient, or None where the JSON has null.
fn leaf(v: &Value) -> Option<Tensor> {
    (!v.is_null()).then(|| tensor(v).requires_grad_(true).unwrap())
}

thread_local! {
    /// The largest |got - want| / (1 + |want|) seen by `check` on this thread.
    static WORST: Cell<(f64, f64)> = const { Cell::new((0.0, 0.0)) };
}

/// Asserts `got` equals the reference tensor `want` (shape, and values within TOL relative to
/// 1 + |value|), and records the largest difference seen.
fn check(case: &str, what: &str, got: &Tensor, want: &Value) {
    assert_eq!(got.dims(), dims(want).as_slice(), "{case}: {what} shape");
    assert_eq!(got.dtype(), DType::F64, "{case}: {what} dtype");
    let want = tensor(want).to_vec_f64();
    let (mut worst_rel, mut worst_abs) = WORST.with(|w| w.get());
    for (i, (g, w)) in got.to_vec_f64().iter().zip(&want).enumerate() {
        let d = (g - w).abs();
        assert!(
            d <= TOL * (1.0 + w.abs()),
            "{case}: {what}[{i}] = {g}, PyTorch gives {w}"
        );
        worst_rel = worst_rel.max(d / (1.0 + w.abs()));
        worst_abs = worst_abs.max(d);
    }
    WORST.with(|w| w.set((worst_rel, worst_abs)));
}

/// The constructor keyword arguments; any that the test does not read fail it.
fn kwargs<'a>(case: &str, v: &'a Value) -> &'a Map<String, Value> {
    const KNOWN: [&str; 9] = [
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
        "nonlinearity",
    ];
    let map = v.as_object().expect("kwargs is an object");
    for k in map.keys() {
        assert!(KNOWN.contains(&k.as_str()), "{case}: unknown kwarg {k}");
    }
    map
}

/// The deepnet configuration for torch's keyword arguments (torch's defaults where absent).
fn config(case: &str, kw: &Map<String, Value>) -> RnnConfig {
    let usize_kw = |k: &str| kw.get(k).map(|v| v.as_u64().unwrap() as usize);
    let bool_kw = |k: &str| kw.get(k).map(|v| v.as_bool().unwrap());
    let mut cfg = RnnConfig::new(
        usize_kw("input_size").unwrap(),
        usize_kw("hidden_size").unwrap(),
    );
    if let Some(v) = usize_kw("num_layers") {
        cfg.num_layers = v;
    }
    if let Some(v) = bool_kw("bias") {
        cfg.bias = v;
    }
    if let Some(v) = bool_kw("batch_first") {
        cfg.batch_first = v;
    }
    if let Some(v) = kw.get("dropout") {
        cfg.dropout = v.as_f64().unwrap();
    }
    if let Some(v) = bool_kw("bidirectional") {
        cfg.bidirectional = v;
    }
    if let Some(v) = usize_kw("proj_size") {
        cfg.proj_size = v;
    }
    if let Some(v) = kw.get("nonlinearity") {
        cfg.nonlinearity = match v.as_str().unwrap() {
            "tanh" => RnnNonlinearity::Tanh,
            "relu" => RnnNonlinearity::Relu,
            other => panic!("{case}: unknown nonlinearity {other}"),
        };
    }
    cfg
}

/// Asserts the store holds exactly PyTorch's state_dict keys with PyTorch's shapes, listing
/// every difference, in PyTorch's order; then loads the reference values.
fn check_keys_and_load(case: &str, store: &ParamStore, params: &[Value]) {
    let want: BTreeMap<String, Vec<usize>> = params
        .iter()
        .map(|p| (p["key"].as_str().unwrap().to_string(), dims(&p["value"])))
        .collect();
    let got: BTreeMap<String, Vec<usize>> = store
        .state_dict()
        .iter()
        .map(|(k, t)| (k.clone(), t.dims().to_vec()))
        .collect();
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let shapes: Vec<String> = want
        .iter()
        .filter_map(|(k, w)| match got.get(k) {
            Some(g) if g != w => Some(format!("{k}: deepnet {g:?}, PyTorch {w:?}")),
            _ => None,
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && shapes.is_empty(),
        "{case}: state_dict differs from PyTorch's: keys only in PyTorch {missing:?}, \
         keys only in deepnet {extra:?}, shapes {shapes:?}"
    );
    let want_order: Vec<&str> = params.iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(
        store.keys(),
        want_order,
        "{case}: state_dict order differs from PyTorch's"
    );
    let sd: Vec<(String, Tensor)> = params
        .iter()
        .map(|p| (p["key"].as_str().unwrap().to_string(), tensor(&p["value"])))
        .collect();
    store.load_state_dict(&sd, true).unwrap();
}

fn scalar(t: &Tensor) -> f64 {
    t.to_vec_f64()[0]
}

/// `(a * w).sum()` for the loss.
fn weighted(a: &Tensor, w: &Value) -> Tensor {
    a.mul(&tensor(w)).unwrap().sum_all().unwrap()
}

fn run_case(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let class = case["class"].as_str().unwrap();
    let cfg = config(name, kwargs(name, &case["kwargs"]));
    let params = case["params"].as_array().expect("params");
    let store = ParamStore::with_dtype(0, DType::F64);
    let pb = store.root();
    let x = tensor(&case["input"]).requires_grad_(true).unwrap();
    let h0 = leaf(&case["h0"]);
    let c0 = leaf(&case["c0"]);
    let lengths: Option<Vec<usize>> = case["lengths"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_u64().unwrap() as usize).collect());
    let lens = lengths.as_deref();
    if lens.is_some() {
        assert!(
            matches!(class, "RNN" | "LSTM" | "GRU"),
            "{name}: lengths for a cell"
        );
    }
    // (output, h_n, c_n); a cell's output is its new h and c_n its new c
    let (out, h_n, c_n): (Tensor, Option<Tensor>, Option<Tensor>) = match class {
        "RNN" => {
            let m = RNN::new(&cfg, &pb).unwrap();
            check_keys_and_load(name, &store, params);
            let (o, h) = m.forward_with_state(&x, h0.as_ref(), lens).unwrap();
            (o, Some(h), None)
        }
        "GRU" => {
            let m = GRU::new(&cfg, &pb).unwrap();
            check_keys_and_load(name, &store, params);
            let (o, h) = m.forward_with_state(&x, h0.as_ref(), lens).unwrap();
            (o, Some(h), None)
        }
        "LSTM" => {
            let m = LSTM::new(&cfg, &pb).unwrap();
            check_keys_and_load(name, &store, params);
            let state = h0.as_ref().map(|h| (h, c0.as_ref().expect("c0 with h0")));
            let (o, (h, c)) = m.forward_with_state(&x, state, lens).unwrap();
            (o, Some(h), Some(c))
        }
        "RNNCell" => {
            let m = RNNCell::new(
                cfg.input_size,
                cfg.hidden_size,
                cfg.bias,
                cfg.nonlinearity,
                &pb,
            )
            .unwrap();
            check_keys_and_load(name, &store, params);
            (m.step(&x, h0.as_ref()).unwrap(), None, None)
        }
        "GRUCell" => {
            let m =
                GRUCell::new(cfg.input_size, cfg.hidden_size, cfg.bias, cfg.gru_form, &pb).unwrap();
            check_keys_and_load(name, &store, params);
            (m.step(&x, h0.as_ref()).unwrap(), None, None)
        }
        "LSTMCell" => {
            let m = LSTMCell::new(cfg.input_size, cfg.hidden_size, cfg.bias, &pb).unwrap();
            check_keys_and_load(name, &store, params);
            let state = h0.as_ref().map(|h| (h, c0.as_ref().expect("c0 with h0")));
            let (h, c) = m.step(&x, state).unwrap();
            (h, None, Some(c))
        }
        other => panic!("{name}: unknown class {other}"),
    };
    check(name, "output", &out, &case["output"]);
    let mut loss = weighted(&out, &case["W"]);
    if let Some(h) = &h_n {
        check(name, "h_n", h, &case["h_n"]);
        loss = loss.add(&weighted(h, &case["V"])).unwrap();
    } else {
        assert!(
            case["h_n"].is_null(),
            "{name}: PyTorch has h_n, deepnet none"
        );
    }
    if let Some(c) = &c_n {
        check(name, "c_n", c, &case["c_n"]);
        loss = loss.add(&weighted(c, &case["U"])).unwrap();
    } else {
        assert!(
            case["c_n"].is_null(),
            "{name}: PyTorch has c_n, deepnet none"
        );
    }
    let want_loss = case["loss"].as_f64().unwrap();
    let got_loss = scalar(&loss);
    assert!(
        (got_loss - want_loss).abs() <= TOL * (1.0 + want_loss.abs()),
        "{name}: loss {got_loss}, PyTorch gives {want_loss}"
    );

    let g = loss.backward().unwrap();
    let zeros = |t: &Tensor| t.zeros_like().unwrap();
    // an input the loss does not reach may have no gradient; PyTorch's is then all zeros
    let grad = |t: &Tensor| g.get(t).cloned().unwrap_or_else(|| zeros(t));
    check(name, "grad_input", &grad(&x), &case["grad_input"]);
    for (what, t) in [("grad_h0", &h0), ("grad_c0", &c0)] {
        match t {
            Some(t) => check(name, what, &grad(t), &case[what]),
            None => assert!(case[what].is_null()),
        }
    }
    for p in params {
        let key = p["key"].as_str().unwrap();
        let t = store.get(key).unwrap();
        check(name, &format!("grad {key}"), &grad(&t), &p["grad"]);
    }
}

/// Runs every case whose class is in `classes`, then fails listing the cases that failed.
fn run_classes(classes: &[&str]) {
    let r = reference();
    let cases: Vec<&Value> = r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| classes.contains(&c["class"].as_str().unwrap()))
        .collect();
    assert!(!cases.is_empty(), "no case for {classes:?}");
    let mut failed = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        WORST.with(|w| w.set((0.0, 0.0)));
        match catch_unwind(AssertUnwindSafe(|| run_case(case))) {
            Ok(()) => {
                let (rel, abs) = WORST.with(|w| w.get());
                println!("{name}: max |diff| {abs:.3e}, max |diff|/(1+|ref|) {rel:.3e}");
            }
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                // the messages start with the case name
                failed.push(msg);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases differ from PyTorch:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

#[test]
fn rnn_matches_pytorch() {
    run_classes(&["RNN"]);
}

#[test]
fn lstm_matches_pytorch() {
    run_classes(&["LSTM"]);
}

#[test]
fn gru_matches_pytorch() {
    run_classes(&["GRU"]);
}

#[test]
fn cells_match_pytorch() {
    run_classes(&["RNNCell", "LSTMCell", "GRUCell"]);
}

/// The reference covers what the script promises, and no class goes unread.
#[test]
fn reference_covers_every_layer() {
    let r = reference();
    let cases = r["cases"].as_array().expect("cases");
    let classes: HashSet<&str> = cases.iter().map(|c| c["class"].as_str().unwrap()).collect();
    let known: HashSet<&str> = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"].into();
    assert_eq!(classes, known);
    let has = |class: &str, pred: &dyn Fn(&Value) -> bool| {
        cases.iter().any(|c| c["class"] == class && pred(c))
    };
    for class in ["RNN", "LSTM", "GRU"] {
        assert!(
            has(class, &|c| !c["lengths"].is_null()),
            "{class}: variable lengths"
        );
        assert!(
            has(class, &|c| c["kwargs"]["bidirectional"] == true),
            "{class}: bidirectional"
        );
    }
    assert!(has("LSTM", &|c| c["kwargs"].get("proj_size").is_some()));
    assert!(has("RNN", &|c| c["kwargs"]["nonlinearity"] == "relu"));
}
