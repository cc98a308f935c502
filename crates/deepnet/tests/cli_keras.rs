//! `deepnet predict --model keras_cifar10_cnn|mini_xception --weights KERAS_EXPORT --images PATH`
//! on the pretrained networks of `../shared/data/pretrained/`: a CIFAR-10 binary file, PNG files
//! (single, a flat folder, class folders), and the errors a user meets. Skipped, with a message,
//! when the shared data folder is missing.

mod common;

use common::{deepnet, json_line, shared_data, stderr, temp_dir};
use deepnet::data::{read_cifar10, Cifar10};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Data {
    cnn: PathBuf,
    xception: PathBuf,
    sample: PathBuf,
}

fn data() -> Option<Data> {
    Some(Data {
        cnn: shared_data("pretrained/cifar10-keras-cnn/model.safetensors")?,
        xception: shared_data("pretrained/fer-mini-xception/model.safetensors")?,
        sample: shared_data("cifar10-sample/test_batch.bin")?,
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Predicts with `model` on `images` (plus `extra` flags) and returns the JSON summary.
fn predict(model: &str, weights: &Path, images: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["predict", "--model", model, "--weights", s(weights)];
    args.extend(["--images", s(images), "--json"]);
    args.extend(extra);
    let o = deepnet(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    json_line(&o)
}

fn classes(j: &Value) -> Vec<u64> {
    j["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_u64().unwrap())
        .collect()
}

/// Writes record `i` of the CIFAR sample as an RGB PNG at `path`.
fn write_png(rec: &deepnet::data::Cifar10Records, i: usize, path: &Path) {
    let px = rec.image(i);
    image::RgbImage::from_fn(32, 32, |x, y| {
        let p = (y * 32 + x) as usize;
        image::Rgb([px[p], px[1024 + p], px[2048 + p]])
    })
    .save(path)
    .unwrap();
}

#[test]
fn the_cifar_cnn_classifies_the_cifar_file_and_png_files_alike() {
    let Some(d) = data() else { return };
    let j = predict("keras_cifar10_cnn", &d.cnn, &d.sample, &[]);
    assert_eq!(j["model"], "keras_cifar10_cnn");
    assert_eq!(
        (j["count"].as_u64(), j["correct"].as_u64()),
        (Some(20), Some(20)),
        "{j}"
    );
    assert_eq!(j["classes"][3], "cat");
    let p0 = &j["predictions"][0];
    assert_eq!(
        (p0["class"].as_u64(), p0["class_name"].as_str()),
        (Some(3), Some("cat"))
    );
    let probs: Vec<f64> = p0["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{probs:?}");
    assert_eq!(p0["probability"].as_f64().unwrap(), probs[3]);
    let all = classes(&j);

    // the same images as PNG files in class folders: the labels come from the folder names
    let dir = temp_dir("cli_keras", "folders");
    let rec = read_cifar10(&d.sample).unwrap();
    for i in 0..6 {
        let class = Cifar10::CLASS_NAMES[rec.labels[i] as usize];
        std::fs::create_dir_all(dir.join(class)).unwrap();
        write_png(&rec, i, &dir.join(class).join(format!("{i:02}.png")));
    }
    let j = predict("keras_cifar10_cnn", &d.cnn, &dir, &[]);
    assert_eq!(
        (j["count"].as_u64(), j["correct"].as_u64()),
        (Some(6), Some(6)),
        "{j}"
    );
    // class folders in sorted order: airplane/03, cat/00, frog/04, frog/05, ship/01, ship/02
    let first = &j["predictions"][0];
    assert!(
        first["file"].as_str().unwrap().ends_with("airplane/03.png"),
        "{first}"
    );
    assert_eq!(first["class"].as_u64(), Some(all[3]));

    // one PNG file; and the human-readable output names the file
    let one = dir.join("cat").join("00.png");
    let j = predict("keras_cifar10_cnn", &d.cnn, &one, &[]);
    assert_eq!(
        (j["count"].as_u64(), j["correct"].clone()),
        (Some(1), Value::Null)
    );
    assert_eq!(classes(&j), [all[0]]);
    let o = deepnet(&[
        "predict",
        "--model",
        "keras_cifar10_cnn",
        "--weights",
        s(&d.cnn),
        "--images",
        s(&one),
    ]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.starts_with("#0      predicted 3 (cat)  p=") && out.contains("00.png"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mini_xception_takes_rgb_files_in_gray_at_64x64() {
    let Some(d) = data() else { return };
    let dir = temp_dir("cli_keras", "faces");
    std::fs::create_dir_all(&dir).unwrap();
    let rec = read_cifar10(&d.sample).unwrap();
    for i in 0..3 {
        write_png(&rec, i, &dir.join(format!("{i}.png")));
    }
    let j = predict("mini_xception", &d.xception, &dir, &[]);
    assert_eq!(j["count"].as_u64(), Some(3), "{j}");
    assert_eq!(j["correct"], Value::Null);
    assert_eq!(j["classes"][6], "neutral");
    for p in j["predictions"].as_array().unwrap() {
        assert_eq!(p["probabilities"].as_array().unwrap().len(), 7, "{p}");
        assert!(p["class"].as_u64().unwrap() < 7);
    }
    // CIFAR records work too (converted the same way); their labels are not expressions
    let o = deepnet(&[
        "predict",
        "--model",
        "mini_xception",
        "--weights",
        s(&d.xception),
        "--images",
        s(&d.sample),
        "--limit",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        classes(&json_line(&o)),
        classes(&j),
        "PNG and CIFAR give the same inputs"
    );
    assert!(stderr(&o).contains("labels of") && stderr(&o).contains("not used"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mistakes_get_clear_errors() {
    let Some(d) = data() else { return };
    let fail = |args: &[&str]| -> String {
        let o = deepnet(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = stderr(&o);
        assert!(!e.contains("panicked"), "{e}");
        e
    };
    let base = |model: &'static str, w: &Path| -> Vec<String> {
        [
            "predict",
            "--model",
            model,
            "--weights",
            s(w),
            "--images",
            s(&d.sample),
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |v: Vec<String>| fail(&v.iter().map(String::as_str).collect::<Vec<_>>());
    let e = run(base("resnet18", &d.cnn));
    assert!(
        e.contains("--model resnet18") && e.contains("keras_cifar10_cnn, mini_xception"),
        "{e}"
    );
    // the other model's export: its architecture JSON says so, naming the file
    let e = run(base("keras_cifar10_cnn", &d.xception));
    assert!(
        e.contains("keras_model_config.json: keras model config vs keras_cifar10_cnn"),
        "{e}"
    );
    // a Keras export without --model has no deepnet metadata
    let e = fail(&["predict", "--weights", s(&d.cnn), "--images", s(&d.sample)]);
    assert!(
        e.contains("not a weights file written by deepnet train")
            && e.contains("a Keras export? name its zoo model with --model"),
        "{e}"
    );
    // --model needs --images
    let e = fail(&[
        "predict",
        "--model",
        "keras_cifar10_cnn",
        "--weights",
        s(&d.cnn),
    ]);
    assert!(e.contains("--images"), "{e}");
    let mut v = base("keras_cifar10_cnn", &d.cnn);
    v.extend(["--labels".into(), s(&d.sample).into()]);
    assert!(run(v).contains("only an IDX --images file takes a labels file"));

    // without the architecture JSON: a note, Keras's defaults, the same 20/20
    let dir = temp_dir("cli_keras", "bare");
    std::fs::create_dir_all(&dir).unwrap();
    let bare = dir.join("model.safetensors");
    std::fs::copy(&d.cnn, &bare).unwrap();
    let mut args = base("keras_cifar10_cnn", &bare);
    args.push("--json".into());
    let o = deepnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("note: no") && stderr(&o).contains("1e-3"));
    assert_eq!(json_line(&o)["correct"].as_u64(), Some(20));
    // a file written by deepnet train is not a Keras export
    let trained = dir.join("trained.safetensors");
    let t = deepnet::tensor::Tensor::zeros([2], deepnet::tensor::DType::F32).unwrap();
    deepnet::train::save_safetensors(
        &trained,
        &[("w".into(), t)],
        &[("deepnet.model".into(), "{\"name\": \"mlp\"}".into())],
    )
    .unwrap();
    let e = run(base("keras_cifar10_cnn", &trained));
    assert!(
        e.contains("written by deepnet train") && e.contains("leave out"),
        "{e}"
    );
    // a damaged CIFAR file names itself
    let cut = dir.join("cut.bin");
    std::fs::write(&cut, &std::fs::read(&d.sample).unwrap()[..5000]).unwrap();
    let mut v = base("keras_cifar10_cnn", &d.cnn);
    v[6] = s(&cut).into();
    let e = run(v);
    assert!(
        e.contains("cut.bin: 5000 bytes are not a whole number of CIFAR-10 records"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
