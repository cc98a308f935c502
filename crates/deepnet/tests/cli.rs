//! The `deepnet` binary end to end: a short training run writes its run folder and JSON summary,
//! `eval` and `predict` read the weights back, `summary` counts parameters, `data` describes a
//! dataset, and bad input gives a clear error and a non-zero exit, never a panic. Uses the MNIST
//! shipped in `data/mnist` (Fashion-MNIST from `../shared/data` only when it is there).

mod common;

use common::{deepnet, json_line, stderr, temp_dir};
use std::path::{Path, PathBuf};

#[test]
fn train_writes_the_run_folder_and_eval_reads_it_back() {
    let out = temp_dir("cli", "train");
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
    let dir = temp_dir("cli", "truncated");
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

/// Trains a tiny MLP for a few hundred steps' worth of data and returns its weights file: enough
/// for `predict` to have a real model to load, in about a second.
fn tiny_model(name: &str) -> (PathBuf, PathBuf) {
    let out = temp_dir("cli", name);
    let o = deepnet(&[
        "train",
        "--epochs",
        "1",
        "--limit",
        "300",
        "--hidden",
        "16",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (out.join("model.safetensors"), out)
}

#[test]
fn predict_after_a_tiny_training_run_prints_one_line_per_image() {
    let (w, out) = tiny_model("predict");
    let w = w.to_str().unwrap();
    let o = deepnet(&["predict", "--weights", w, "--limit", "5", "--index", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "5 images and the accuracy: {text}");
    for (i, line) in lines[..5].iter().enumerate() {
        assert!(line.starts_with(&format!("#{}", 100 + i)), "{line}");
        let class: usize = line
            .split("predicted ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no class in {line}"));
        assert!(class < 10, "{line}");
        assert!(line.contains("label "), "{line}");
    }
    assert!(
        lines[5].starts_with("accuracy ") && lines[5].contains("/5"),
        "{text}"
    );

    let o = deepnet(&["predict", "--weights", w, "--limit", "4", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    let preds = j["predictions"].as_array().expect("predictions");
    assert_eq!(preds.len(), 4, "{j}");
    for (i, p) in preds.iter().enumerate() {
        assert_eq!(p["index"].as_u64(), Some(i as u64), "{p}");
        assert!(p["class"].as_u64().is_some_and(|c| c < 10), "{p}");
        assert!(p["label"].as_u64().is_some_and(|c| c < 10), "{p}");
        let prob = p["probability"].as_f64().unwrap();
        // the most likely of 10 classes has at least 1/10 of the mass
        assert!((0.1..=1.0).contains(&prob), "{p}");
    }
    let acc = j["accuracy"].as_f64().expect("accuracy with labels");
    assert!((0.0..=1.0).contains(&acc), "{j}");

    // an IDX file without labels: one line per image and no accuracy; the last image of the
    // file ends the run before --limit does
    let images = "data/mnist/t10k-images-idx3-ubyte.gz";
    let o = deepnet(&[
        "predict",
        "--weights",
        w,
        "--images",
        images,
        "--index",
        "9997",
        "--limit",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        !text.contains("accuracy") && !text.contains("label"),
        "{text}"
    );

    // images of the wrong size: the error names both shapes
    let small = out.join("small-images-idx3-ubyte");
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4];
    idx.extend([0u8; 32]);
    std::fs::write(&small, idx).unwrap();
    let o = deepnet(&[
        "predict",
        "--weights",
        w,
        "--images",
        small.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("[1, 4, 4]") && e.contains("[1, 28, 28]"), "{e}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn predict_with_missing_weights_names_the_file() {
    let o = deepnet(&["predict", "--weights", "/no/such/weights.safetensors"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("/no/such/weights.safetensors"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn data_reports_the_shipped_mnist() {
    let o = deepnet(&["data", "--dataset", "mnist", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    for (split, n) in [("train", 60_000), ("test", 10_000)] {
        let s = &j[split];
        assert_eq!(s["examples"].as_u64(), Some(n), "{j}");
        assert_eq!(s["image_shape"], serde_json::json!([1, 28, 28]), "{j}");
        let counts: Vec<u64> = s["class_counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert_eq!((counts.len(), counts.iter().sum()), (10, n), "{j}");
        assert_eq!(
            (s["pixel_min"].as_u64(), s["pixel_max"].as_u64()),
            (Some(0), Some(255))
        );
        // MNIST's well-known statistics (torchvision normalizes with 0.1307, 0.3081)
        let (mean, std) = (s["mean"].as_f64().unwrap(), s["std"].as_f64().unwrap());
        assert!(
            (0.12..0.14).contains(&mean) && (0.30..0.32).contains(&std),
            "{j}"
        );
    }
    assert_eq!(j["train"]["class_counts"][1].as_u64(), Some(6742));
    let o = deepnet(&["data"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("60000 examples of 1x28x28"), "{text}");
    assert!(text.contains("10000 examples of 1x28x28"), "{text}");

    let fashion = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fashion-mnist");
    if !fashion.is_dir() {
        eprintln!(
            "skipping the Fashion-MNIST part: {} is missing",
            fashion.display()
        );
        return;
    }
    let o = deepnet(&["data", "--dataset", "fashion-mnist", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Fashion-MNIST is balanced: 6000 and 1000 of each class
    let j = json_line(&o);
    assert_eq!(j["train"]["class_counts"][3].as_u64(), Some(6000), "{j}");
    assert_eq!(j["test"]["class_counts"][3].as_u64(), Some(1000), "{j}");
}

#[test]
fn data_on_a_missing_directory_fails_clearly() {
    let o = deepnet(&["data", "--dataset", "/no/such/dataset-dir"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("/no/such/dataset-dir") && e.contains("--dataset"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
}
