//! The `deepnet` binary end to end: a short training run writes its run folder and JSON summary,
//! `eval` reads the weights back, `summary` counts parameters, and bad input gives a clear error
//! and a non-zero exit, never a panic. Uses the MNIST shipped in `data/mnist`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deepnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deepnet"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("the deepnet binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json_line(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{}", stderr(o)))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("deepnet-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn train_writes_the_run_folder_and_eval_reads_it_back() {
    let out = temp_dir("train");
    let o = deepnet(&[
        "train",
        "--epochs",
        "1",
        "--limit",
        "2000",
        "--hidden",
        "32",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    for k in ["test_accuracy", "test_loss", "seconds", "images_per_sec"] {
        assert!(
            j.get(k).and_then(|v| v.as_f64()).is_some(),
            "missing {k}: {j}"
        );
    }
    assert!(j["test_accuracy"].as_f64().unwrap() > 0.5, "{j}");
    for f in [
        "config.json",
        "metrics.csv",
        "model.safetensors",
        "checkpoint.safetensors",
        "loss.png",
        "accuracy.png",
        "gradient_norms.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let w = out.join("model.safetensors");
    let o = deepnet(&["eval", "--weights", w.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json_line(&o);
    assert_eq!(e["samples"].as_u64(), Some(10_000));
    assert!(e["accuracy"].as_f64().unwrap() > 0.5);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn summary_counts_parameters() {
    let o = deepnet(&["summary", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_line(&o)["total_params"].as_u64(), Some(235_146));
    let o = deepnet(&[
        "summary",
        "--model",
        "resnet18",
        "--input",
        "3x224x224",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_line(&o)["total_params"].as_u64(), Some(11_689_512));
    let o = deepnet(&[
        "summary", "--model", "lenet5", "--input", "1x28x28", "--json",
    ]);
    assert_eq!(json_line(&o)["total_params"].as_u64(), Some(61_706));
}

#[test]
fn an_input_too_small_for_the_model_names_the_layer_and_the_arithmetic() {
    let o = deepnet(&["summary", "--model", "vgg11", "--input", "3x16x16"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("features.") && e.contains("< 1"), "{e}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let cases: [(&[&str], &str); 6] = [
        (&["train", "--optimizer", "sgdd"], "possible values"),
        (&["train", "--dataset", "/no/such/dir"], "--dataset"),
        (&["train", "--epochs", "0"], "--epochs"),
        (&["train", "--lr=-1"], "--lr"),
        (&["train", "--activation", "gelu", "--limit", "10"], "gelu"),
        (
            &["eval", "--weights", "/no/such/model.safetensors"],
            "/no/such/model.safetensors",
        ),
    ];
    for (args, want) in cases {
        let o = deepnet(args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{args:?} panicked: {e}");
    }
}

#[test]
fn a_truncated_idx_file_is_named_in_the_error() {
    let dir = temp_dir("truncated");
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("t10k-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte.gz"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let o = deepnet(&["train", "--dataset", dir.to_str().unwrap(), "--epochs", "1"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("t10k-images-idx3-ubyte.gz"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(dir);
}
