//! The two pretrained Keras networks of `../shared/data/pretrained/` loaded into the zoo:
//!
//! - `keras_cifar10_cnn` reproduces every output of its `reference_outputs.json` (computed by
//!   the exporter with numpy) to 1e-4 and classifies all 20 images of `cifar10-sample` right;
//! - `mini_xception` reproduces, to 1e-4, the logits and probabilities that an independent
//!   PyTorch implementation (`tools/reference/keras_pretrained.py`, a Keras-JSON interpreter in
//!   float64) computed on fixed inputs (`tests/data/keras_pretrained.json`).
//!
//! Skipped, with a message, when the shared data folder is missing.

mod common;

use deepnet::data::read_cifar10;
use deepnet::models::keras_import::{import_keras, keras_zoo_model, PixelScaling};
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::{no_grad, Tensor};
use deepnet::train::load_safetensors;
use serde_json::Value;
use std::path::Path;

const TOL: f64 = 1e-4;

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Imports the zoo model `name` from the Keras export in `dir` (weights and architecture).
fn import(name: &str, dir: &Path) -> Box<dyn Module> {
    let tensors = load_safetensors(dir.join("model.safetensors")).unwrap();
    let config = std::fs::read_to_string(dir.join("keras_model_config.json")).unwrap();
    import_keras(name, &tensors, Some(&config), &ParamStore::new(0)).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    let cols = t.dims()[1];
    t.to_vec_f64().chunks(cols).map(<[f64]>::to_vec).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn max_abs_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(r, s)| {
            assert_eq!(r.len(), s.len());
            r.iter().zip(s).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f64::max)
}

fn argmax(r: &[f64]) -> usize {
    (0..r.len()).fold(0, |b, i| if r[i] > r[b] { i } else { b })
}

#[test]
fn keras_cifar10_cnn_matches_the_reference_outputs_and_gets_the_sample_right() {
    let (Some(dir), Some(sample)) = (
        common::shared_data("pretrained/cifar10-keras-cnn"),
        common::shared_data("cifar10-sample/test_batch.bin"),
    ) else {
        return;
    };
    let model = import("keras_cifar10_cnn", &dir);
    let info = keras_zoo_model("keras_cifar10_cnn").unwrap();
    assert_eq!(info.scaling, PixelScaling::Raw);
    let rec = read_cifar10(&sample).unwrap();
    let x = Tensor::from_vec(info.scaling.apply(&rec.images), [20, 3, 32, 32]).unwrap();
    let y = {
        let _g = no_grad();
        model.forward(&x).unwrap()
    };
    let got = rows(&y);
    let reference = json(&dir.join("reference_outputs.json"));
    let want: Vec<Vec<f64>> = reference["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let diff = max_abs_diff(&got, &want);
    eprintln!("keras_cifar10_cnn: max |deepnet - reference_outputs.json| = {diff:.2e}");
    assert!(diff < TOL, "max abs difference {diff}");
    let predicted: Vec<i64> = got.iter().map(|r| argmax(r) as i64).collect();
    assert_eq!(predicted, rec.labels, "20/20 on the CIFAR-10 sample");
    let labels: Vec<i64> = floats(&reference["labels"])
        .iter()
        .map(|&v| v as i64)
        .collect();
    assert_eq!(labels, rec.labels);
}

/// The fixed inputs of `tools/reference/keras_pretrained.py`, bit for bit: three hashed noise
/// images and three CIFAR sample images in BT.601 gray, enlarged 2x2, all in [-1, 1].
fn mini_xception_inputs(cifar: &[u8]) -> Vec<f32> {
    let mut v = Vec::with_capacity(6 * 64 * 64);
    for k in 0..3u64 {
        for i in 0..64 * 64u64 {
            let u = (i * 2_654_435_761 + k * 40_503 + 12_345) % (1 << 32);
            v.push((2.0 * (u as f64 / 4_294_967_296.0) - 1.0) as f32);
        }
    }
    for j in 0..3 {
        let img = &cifar[j * 3072..(j + 1) * 3072];
        for y in 0..64 {
            for x in 0..64 {
                let p = (y / 2) * 32 + x / 2;
                let num =
                    299 * img[p] as u32 + 587 * img[1024 + p] as u32 + 114 * img[2048 + p] as u32;
                let gray = num as f64 / 1000.0;
                v.push((gray / 127.5 - 1.0) as f32);
            }
        }
    }
    v
}

#[test]
fn mini_xception_matches_an_independent_pytorch_forward() {
    let (Some(dir), Some(sample)) = (
        common::shared_data("pretrained/fer-mini-xception"),
        common::shared_data("cifar10-sample/test_batch.bin"),
    ) else {
        return;
    };
    let model = import("mini_xception", &dir);
    let rec = read_cifar10(&sample).unwrap();
    let x = Tensor::from_vec(mini_xception_inputs(&rec.images), [6, 1, 64, 64]).unwrap();
    let (logits, probs) = {
        let _g = no_grad();
        let l = model.forward(&x).unwrap();
        let p = l.softmax(-1).unwrap();
        (rows(&l), rows(&p))
    };
    let reference =
        json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keras_pretrained.json"));
    let cases = reference["mini_xception"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    let want_l: Vec<Vec<f64>> = cases.iter().map(|c| floats(&c["logits"])).collect();
    let want_p: Vec<Vec<f64>> = cases.iter().map(|c| floats(&c["probabilities"])).collect();
    let (dl, dp) = (
        max_abs_diff(&logits, &want_l),
        max_abs_diff(&probs, &want_p),
    );
    eprintln!("mini_xception: max |deepnet - PyTorch| logits {dl:.2e}, probabilities {dp:.2e}");
    assert!(dl < TOL && dp < TOL, "logits {dl}, probabilities {dp}");
    let classes: Vec<&str> = reference["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(classes, keras_zoo_model("mini_xception").unwrap().classes);
}

#[test]
fn a_keras_export_for_another_model_is_refused_by_name() {
    let (Some(cnn), Some(xc)) = (
        common::shared_data("pretrained/cifar10-keras-cnn"),
        common::shared_data("pretrained/fer-mini-xception"),
    ) else {
        return;
    };
    let tensors = load_safetensors(xc.join("model.safetensors")).unwrap();
    // the CIFAR CNN's architecture JSON does not describe mini-Xception
    let config = std::fs::read_to_string(cnn.join("keras_model_config.json")).unwrap();
    let e = import_keras(
        "mini_xception",
        &tensors,
        Some(&config),
        &ParamStore::new(0),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("keras model config vs mini_xception: input shape (H, W, C) is [32, 32, 3]"),
        "{e}"
    );
    // and without a JSON the tensors themselves do not fit: keys and shapes are named
    let e = import_keras("keras_cifar10_cnn", &tensors, None, &ParamStore::new(0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("missing \"conv2d/kernel\" (shape [3, 3, 3, 64]"),
        "{e}"
    );
    assert!(
        e.contains("\"conv2d_1/kernel\" has shape [3, 3, 1, 8], expected [3, 3, 64, 64]"),
        "{e}"
    );
    assert!(
        e.contains("unexpected tensors [\"batch_normalization_10/beta\""),
        "{e}"
    );
}
