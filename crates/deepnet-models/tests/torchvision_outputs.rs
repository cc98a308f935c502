//! The zoo loads torchvision-format `state_dict`s by key and computes torchvision's outputs.
//!
//! `tools/reference/torchvision_zoo.py` fills each torchvision model's weights with a formula
//! (so that no tens-of-megabytes weights file is checked in), records its `state_dict` keys and
//! shapes and its evaluation-mode output on a formula input; here the same formula fills tensors
//! under those keys, they load strictly into our model (a key or a shape that differs is an
//! error), and the outputs are compared. ResNet-18 and AlexNet run here; ResNet-50, VGG-11-BN and
//! GoogLeNet take longer and are `#[ignore]`d (`cargo test -p deepnet-models --test
//! torchvision_outputs -- --ignored`).

use deepnet_models::build_conv_model;
use deepnet_nn::ParamStore;
use deepnet_tensor::{DType, Tensor};
use serde_json::Value;
use std::collections::HashSet;

fn reference() -> Value {
    let text = include_str!("data/torchvision_outputs.json");
    serde_json::from_str(text).unwrap()
}

/// Entry `k` (`key`, `shape`) of torchvision's state_dict, filled as the script fills it.
fn fill(k: usize, key: &str, shape: &[usize], bn: &HashSet<&str>) -> Tensor {
    let n: usize = shape.iter().product();
    if key.ends_with("num_batches_tracked") {
        return Tensor::zeros(shape.to_vec(), DType::I64).unwrap();
    }
    let (prefix, leaf) = key.rsplit_once('.').unwrap();
    let v: Vec<f32> = (0..n)
        .map(|i| {
            let s = (0.1 * i as f64 + k as f64).sin();
            let v = match leaf {
                "running_mean" => 0.1 * s,
                "running_var" => 1.0 + 0.25 * (1.0 + s),
                _ if shape.len() >= 2 => s / ((n / shape[0]) as f64).sqrt(),
                "weight" if bn.contains(prefix) => 1.0 + 0.1 * s,
                _ => 0.1 * s,
            };
            v as f32
        })
        .collect();
    Tensor::from_vec(v, shape.to_vec()).unwrap()
}

fn check(name: &str) {
    let r = &reference()["models"][name];
    let dims: Vec<usize> = serde_json::from_value(r["input"].clone()).unwrap();
    let classes = r["num_classes"].as_u64().unwrap() as usize;
    let keys: Vec<(String, Vec<usize>)> = serde_json::from_value(r["keys"].clone()).unwrap();
    let bn: HashSet<&str> = keys
        .iter()
        .filter_map(|(k, _)| k.strip_suffix(".running_mean"))
        .collect();
    let tensors: Vec<(String, Tensor)> = keys
        .iter()
        .enumerate()
        .map(|(k, (key, shape))| (key.clone(), fill(k, key, shape, &bn)))
        .collect();
    let store = ParamStore::new(0);
    let model = build_conv_model(name, &dims[1..], classes, &store.root()).unwrap();
    store
        .load_state_dict(&tensors, true)
        .unwrap_or_else(|e| panic!("{name}: torchvision's state_dict does not load: {e}"));
    model.set_training(false);
    let n: usize = dims.iter().product();
    let x: Vec<f32> = (0..n).map(|i| (0.01 * i as f64).sin() as f32).collect();
    let x = Tensor::from_vec(x, dims.clone()).unwrap();
    let y = model.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let want: Vec<f64> = serde_json::from_value(r["output"].clone()).unwrap();
    assert_eq!(y.len(), want.len(), "{name}: output size");
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    let worst = y
        .iter()
        .zip(&want)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0f64, f64::max);
    assert!(
        worst <= 2e-4 * scale,
        "{name}: max |deepnet - torchvision| = {worst:.3e} (output scale {scale:.3})"
    );
}

#[test]
fn resnet18_computes_torchvisions_output() {
    check("resnet18");
}

#[test]
fn alexnet_computes_torchvisions_output() {
    check("alexnet");
}

#[test]
#[ignore = "larger nets: cargo test -p deepnet-models --test torchvision_outputs -- --ignored"]
fn resnet50_vgg11_bn_and_googlenet_compute_torchvisions_outputs() {
    for name in ["resnet50", "vgg11_bn", "googlenet"] {
        check(name);
    }
}

#[test]
fn a_state_dict_for_another_size_is_refused_by_key_and_shape() {
    let r = &reference()["models"]["resnet18"];
    let keys: Vec<(String, Vec<usize>)> = serde_json::from_value(r["keys"].clone()).unwrap();
    let tensors: Vec<(String, Tensor)> = keys
        .iter()
        .enumerate()
        .map(|(k, (key, shape))| (key.clone(), fill(k, key, shape, &HashSet::new())))
        .collect();
    // the same net with 1000 classes: fc.weight is (1000, 512), the file's (10, 512)
    let store = ParamStore::new(0);
    build_conv_model("resnet18", &[3, 64, 64], 1000, &store.root()).unwrap();
    let e = store
        .load_state_dict(&tensors, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fc.weight"), "{e}");
}
