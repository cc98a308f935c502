//! The recurrent models on the command line: `train --model gru` reads MNIST row by row with the
//! recurrent defaults (Adam, clipped gradients), `eval` and `predict` rebuild it from the weights
//! file, `summary` lists `rnn` and `fc`. Uses the MNIST shipped in `data/mnist`.

mod common;

use common::{deepnet, json_line, stderr, temp_dir};

#[test]
fn train_gru_then_eval_and_predict_rebuild_it() {
    let out = temp_dir("cli-rnn", "train");
    let o = deepnet(&[
        "train",
        "--model",
        "gru",
        "--epochs",
        "2",
        "--limit",
        "1024",
        // ten times the default rate: 32 steps take a GRU well above chance
        "--lr",
        "0.01",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["command"], "train", "{j}");
    assert_eq!(j["model"], "gru", "{j}");
    // about 0.65 (seed 0); chance is 0.1
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.4, "{j}");
    // the recurrent defaults and the --lr given, recorded in the run's config
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["optimizer"], "adam", "{config}");
    assert_eq!(config["lr"].as_f64(), Some(0.01), "{config}");
    assert_eq!(config["clip_norm"].as_f64(), Some(1.0), "{config}");
    assert_eq!(config["model"]["name"], "gru", "{config}");

    let w = out.join("model.safetensors");
    let w = w.to_str().unwrap();
    let o = deepnet(&["eval", "--weights", w, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json_line(&o);
    assert_eq!(e["model"], "gru", "{e}");
    assert_eq!(e["samples"].as_u64(), Some(10_000), "{e}");
    // --limit cut the test split to 1024; the same weights on all 10,000 test images (a
    // freshly initialized GRU would be near 0.1)
    let eval_acc = e["accuracy"].as_f64().unwrap();
    assert!(
        (eval_acc - acc).abs() < 0.1,
        "train said {acc}, eval says {eval_acc}"
    );

    let o = deepnet(&["predict", "--weights", w, "--limit", "8", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = json_line(&o);
    assert_eq!(p["model"], "gru", "{p}");
    assert_eq!(p["predictions"].as_array().map(|a| a.len()), Some(8), "{p}");
    let _ = std::fs::remove_dir_all(out);
}

/// `train ARGS --epochs 1 --limit 64 --json --out <scratch>` and the run's `config.json`.
fn quick_config(name: &str, args: &[&str]) -> serde_json::Value {
    let out = temp_dir("cli-rnn", name);
    let mut all = args.to_vec();
    all.extend(["--epochs", "1", "--limit", "64", "--json", "--out"]);
    all.push(out.to_str().unwrap());
    let o = deepnet(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    let _ = std::fs::remove_dir_all(out);
    serde_json::from_str(&config).unwrap()
}

#[test]
fn flags_override_the_recurrent_defaults() {
    let c = quick_config("defaults", &["train", "--model", "rnn"]);
    assert_eq!(c["optimizer"], "adam", "{c}");
    assert_eq!(c["lr"].as_f64(), Some(1e-3), "{c}");
    assert_eq!(c["clip_norm"].as_f64(), Some(1.0), "{c}");
    let c = quick_config(
        "override",
        &[
            "train",
            "--model",
            "rnn",
            "--optimizer",
            "sgd",
            "--clip-norm",
            "0",
        ],
    );
    assert_eq!(c["optimizer"], "sgd", "{c}");
    assert_eq!(c["lr"].as_f64(), Some(0.05), "{c}");
    assert!(c["clip_norm"].is_null(), "{c}");
    // the other models keep theirs
    let c = quick_config("mlp", &["train"]);
    assert_eq!(c["optimizer"], "sgd", "{c}");
    assert!(c["clip_norm"].is_null(), "{c}");
}

#[test]
fn summary_lists_the_recurrent_layer_and_the_head() {
    let o = deepnet(&["summary", "--model", "lstm", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    // 4*128*(28+128+2) + 128*10 + 10
    assert_eq!(j["total_params"].as_u64(), Some(82_186), "{j}");
    let layers = j["layers"].as_array().unwrap();
    let row = |i: usize| {
        (
            layers[i]["path"].as_str().unwrap_or_default().to_string(),
            layers[i]["output_shape"].clone(),
            layers[i]["params"].as_u64(),
        )
    };
    assert_eq!(layers.len(), 2, "{j}");
    assert_eq!(
        row(0),
        ("rnn".into(), serde_json::json!([28, 128]), Some(80_896))
    );
    assert_eq!(row(1), ("fc".into(), serde_json::json!([10]), Some(1_290)));
    assert_eq!(layers[0]["layer"], "LSTM(28, 128, batch_first=True)");
    // a 3-channel image is 32 rows of 3*32 features
    let o = deepnet(&["summary", "--model", "gru", "--input", "3x32x32", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(
        j["total_params"].as_u64(),
        Some(3 * 128 * (96 + 128 + 2) + 1_290),
        "{j}"
    );
}
