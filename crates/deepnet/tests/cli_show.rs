//! `deepnet show filters | features` and `deepnet convert --fully-convolutional` end to end on a
//! LeNet-5 trained for a few steps on the shipped MNIST: the PNGs have the size of their grids
//! (read from the PNG header), the converted file holds convolution weights, and bad layer
//! names or a model without convolutions are clear errors.

mod common;

use common::{deepnet, json_line, png_size, stderr, temp_dir};
use std::path::{Path, PathBuf};

/// Four SGD steps of `model` on 256 MNIST images (well under a second): real weights files.
fn trained(model: &str, out: &Path) -> PathBuf {
    let mut args = vec!["train", "--epochs", "1", "--limit", "256", "--json"];
    args.extend(["--model", model, "--out", out.to_str().unwrap()]);
    if model == "mlp" {
        args.extend(["--hidden", "8"]);
    }
    let o = deepnet(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    out.join("model.safetensors")
}

#[test]
fn show_draws_lenet5_filters_and_feature_maps_and_names_bad_layers() {
    let dir = temp_dir("cli-show", "lenet");
    let w = trained("lenet5", &dir);
    let w = w.to_str().unwrap();

    // 6 gray 5x5 filters: a 2x3 grid, each tile 5*8 = 40 px plus 1-px borders
    let png = dir.join("filters.png");
    let o = deepnet(&[
        "show",
        "filters",
        "--weights",
        w,
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["out"].as_str(), png.to_str());
    assert_eq!(j["layer"], "features.0");
    assert_eq!(
        (j["grid"]["rows"].as_u64(), j["grid"]["cols"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(png_size(&png), (3 * 41 + 1, 2 * 41 + 1));

    // the 6 feature maps (28x28) of test image 7 at features.0, at scale 3
    let png = dir.join("features.png");
    let o = deepnet(&[
        "show",
        "features",
        "--weights",
        w,
        "--image",
        "7",
        "--scale",
        "3",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["grid"]["tile"], serde_json::json!([28, 28]));
    assert_eq!(png_size(&png), (3 * 85 + 1, 2 * 85 + 1));

    // the second convolution: 16 maps of 10x10 in a 4x4 grid at the automatic scale (4)
    let o = deepnet(&[
        "show",
        "features",
        "--weights",
        w,
        "--image",
        "7",
        "--layer",
        "features.3",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(png_size(&png), (4 * 41 + 1, 4 * 41 + 1));

    // a layer that is not a convolution: the error lists the ones there are
    for what in [&["filters"][..], &["features", "--image", "0"]] {
        let mut args = vec!["show"];
        args.extend(what);
        args.extend(["--weights", w, "--layer", "features.1"]);
        let o = deepnet(&args);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(
            e.contains("\"features.1\"") && e.contains("features.0, features.3"),
            "{e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
    let o = deepnet(&["show", "features", "--weights", w, "--image", "10000"]);
    assert!(
        !o.status.success() && stderr(&o).contains("--image 10000"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn convert_writes_convolution_weights_and_show_refuses_an_mlp() {
    let dir = temp_dir("cli-show", "convert");
    let w = trained("lenet5", &dir.join("lenet"));
    let fc = dir.join("fc.safetensors");
    let o = deepnet(&[
        "convert",
        "--fully-convolutional",
        w.to_str().unwrap(),
        fc.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_line(&o)["stride"], serde_json::json!([4, 4]));
    let (tensors, meta) = deepnet::train::load_safetensors_with_metadata(&fc).unwrap();
    let dims = |k: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .dims()
            .to_vec()
    };
    assert_eq!(dims("classifier.0.weight"), [120, 16, 5, 5]);
    assert_eq!(dims("classifier.4.weight"), [10, 84, 1, 1]);
    assert_eq!(dims("features.0.weight"), [6, 1, 5, 5]);
    assert!(meta.iter().any(|(k, _)| k == "deepnet.fully_convolutional"));
    // the converted file is not a `train` weights file: eval says so instead of a shape error
    let o = deepnet(&["eval", "--weights", fc.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("fc.safetensors"));

    // an MLP has nothing to draw: the error names the file
    let mlp = trained("mlp", &dir.join("mlp"));
    let o = deepnet(&["show", "filters", "--weights", mlp.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("model.safetensors") && e.contains("no convolution layer"),
        "{e}"
    );
    // but it converts: its first Linear becomes a 28x28 convolution over 1 channel
    let o = deepnet(&[
        "convert",
        "--fully-convolutional",
        mlp.to_str().unwrap(),
        fc.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tensors = deepnet::train::load_safetensors(&fc).unwrap();
    let w0 = &tensors
        .iter()
        .find(|(n, _)| n == "layers.0.weight")
        .unwrap()
        .1;
    assert_eq!(w0.dims(), [8, 1, 28, 28]);
    let _ = std::fs::remove_dir_all(dir);
}
