//! Sequence tasks on the command line: `train --dataset ucr:NAME` with `--model gru` and `fcn`,
//! `train --model bigru --dataset reviews`, and `eval` of the weights they write (which must
//! reproduce the preprocessing from the file's metadata alone). Tiny runs of seconds; they need
//! `../shared/data` and say so when it is missing.

mod common;

use common::{deepnet, json_line, stderr, temp_dir};
use std::path::Path;

/// Whether `../shared/data/<rel>` exists; prints why the test is skipped when not.
fn have(rel: &str) -> bool {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    if !p.exists() {
        eprintln!(
            "skipped: {} is missing (the shared data folder next to the repository)",
            p.display()
        );
    }
    p.exists()
}

fn config(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap()
}

#[test]
fn ucr_gru_trains_and_eval_reproduces_its_test_accuracy() {
    if !have("timeseries-ucr-uea/JapaneseVowels") {
        return;
    }
    let out = temp_dir("cli-seq", "gru");
    let o = deepnet(&[
        "train",
        "--model",
        "gru",
        "--dataset",
        "ucr:JapaneseVowels",
        "--train-samples",
        "40",
        "--epochs",
        "1",
        "--passes",
        "1",
        "--hidden-size",
        "8",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(
        (j["command"].as_str(), j["model"].as_str()),
        (Some("train"), Some("gru"))
    );
    assert_eq!(j["test_samples"].as_u64(), Some(370), "{j}");
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{j}");
    // the recipe fills the flags not given; the flags given win
    let c = config(&out);
    assert_eq!(c["optimizer"], "adam", "{c}");
    assert_eq!(c["clip_norm"].as_f64(), Some(1.0), "{c}");
    assert_eq!(c["batch_size"].as_u64(), Some(10), "a quarter of 40: {c}");
    assert_eq!(c["epochs"].as_u64(), Some(1), "{c}");
    assert_eq!(c["model"]["hidden_size"].as_u64(), Some(8), "{c}");
    assert_eq!(
        c["task"]["znorm"]["mean"].as_array().map(Vec::len),
        Some(12)
    );

    // eval rebuilds the model and the z-normalization from the weights file alone
    let w = out.join("model.safetensors");
    let o = deepnet(&["eval", "--weights", w.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json_line(&o);
    assert_eq!(e["dataset"], "ucr:JapaneseVowels", "{e}");
    assert_eq!(e["samples"].as_u64(), Some(370), "{e}");
    let eval_acc = e["accuracy"].as_f64().unwrap();
    assert!(
        (eval_acc - acc).abs() < 1e-9,
        "train {acc}, eval {eval_acc}"
    );
    let o = deepnet(&[
        "eval",
        "--weights",
        w.to_str().unwrap(),
        "--split",
        "train",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_line(&o)["samples"].as_u64(), Some(270));

    // --resume takes the run's own flags from config.json: --epochs 1 was given, so the
    // finished run stays finished (a recipe default would train 9 more epochs)
    let o = deepnet(&["train", "--resume", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json_line(&o);
    assert_eq!(r["epochs"].as_u64(), Some(1), "{r}");
    assert_eq!(r["test_accuracy"].as_f64(), Some(acc), "{r}");
    let rows = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(rows.lines().count(), 2, "{rows}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn fcn_trains_on_a_univariate_problem_and_bad_pairs_are_refused() {
    if !have("timeseries-ucr-uea/ItalyPowerDemand") {
        return;
    }
    let out = temp_dir("cli-seq", "fcn");
    let o = deepnet(&[
        "train",
        "--model",
        "fcn",
        "--dataset",
        "ucr:ItalyPowerDemand",
        "--limit",
        "16",
        "--epochs",
        "1",
        "--passes",
        "1",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["model"], "fcn", "{j}");
    assert_eq!(config(&out)["clip_norm"], serde_json::Value::Null);
    // the MNIST eval of a series model is refused with the reason
    let w = out.join("model.safetensors");
    let o = deepnet(&[
        "eval",
        "--weights",
        w.to_str().unwrap(),
        "--dataset",
        "reviews",
    ]);
    assert!(!o.status.success());
    let _ = std::fs::remove_dir_all(out);

    for (args, want) in [
        (
            &["--model", "bigru", "--dataset", "ucr:GunPoint"][..],
            "--model bigru: a UCR/UEA problem trains lstm, gru, rnn or fcn",
        ),
        (
            &["--model", "gru", "--dataset", "ucr:NoSuchProblem"][..],
            "--dataset ucr:NoSuchProblem: not found",
        ),
        (
            &[
                "--model",
                "gru",
                "--dataset",
                "ucr:GunPoint",
                "--pooling",
                "max",
            ][..],
            "--pooling: unknown pooling \"max\"",
        ),
    ] {
        let mut all = vec!["train"];
        all.extend_from_slice(args);
        let o = deepnet(&all);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn reviews_bigru_trains_and_eval_rebuilds_the_vocabulary() {
    if !have("fine-foods-reviews") {
        return;
    }
    let out = temp_dir("cli-seq", "bigru");
    let o = deepnet(&[
        "train",
        "--model",
        "bigru",
        "--dataset",
        "reviews",
        "--limit",
        "64",
        "--epochs",
        "1",
        "--max-len",
        "24",
        "--embed",
        "8",
        "--hidden-size",
        "8",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["model"], "bigru", "{j}");
    let c = config(&out);
    assert_eq!(c["task"]["max_len"].as_u64(), Some(24), "{c}");
    assert_eq!(c["batch_size"].as_u64(), Some(32), "{c}");
    let w = out.join("model.safetensors");
    let o = deepnet(&["eval", "--weights", w.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json_line(&o);
    assert_eq!(
        (e["model"].as_str(), e["samples"].as_u64()),
        (Some("bigru"), Some(1000))
    );
    let _ = std::fs::remove_dir_all(out);
    let o = deepnet(&["train", "--model", "gru", "--dataset", "reviews"]);
    assert!(
        stderr(&o).contains("--model gru: the reviews train bigru"),
        "{}",
        stderr(&o)
    );
}
