//! Data people actually have, from the command line: `train` and `eval` on an image-folder tree
//! of PNG files the test writes (with the `image` crate) and on a CIFAR-10 binary directory
//! (`tests/data/cifar-tiny`, 20 real CIFAR-10 images), per-channel normalization recorded and
//! reapplied, `--augment` (and a run stopped by a real SIGINT and resumed with it, bit-identical),
//! `--backbone-lr-scale`, and the errors of each.

mod common;

#[cfg(unix)]
use common::interrupt_at_first_batch;
use common::{deepnet, json_line, stderr, temp_dir, weight_bits};
use image::{ImageBuffer, Rgb};
use std::path::{Path, PathBuf};

/// Writes `dir/<split>/<class>/<i>.png` for classes `a`, `b`, `c`: `side x side` RGB images,
/// class `k` bright in channel `k` on a noisy background (so every channel varies), `train` and
/// `test` images per class.
fn write_folder(dir: &Path, side: u32, train: usize, test: usize) {
    let mut seed = 12345u32;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        ((seed >> 16) % 64) as u8
    };
    for (split, n) in [("train", train), ("test", test)] {
        for (k, class) in ["a", "b", "c"].iter().enumerate() {
            let d = dir.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                let img = ImageBuffer::from_fn(side, side, |x, _| {
                    let mut p = [noise(), noise(), noise()];
                    if x < side / 2 + (i as u32 % 2) {
                        p[k] += 180;
                    }
                    Rgb(p)
                });
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
    }
}

fn cifar_tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cifar-tiny")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn config(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap()
}

/// Trains for one epoch with `extra` flags, then evaluates the weights on the same directory:
/// eval must reapply the training normalization and so give train's last test accuracy.
fn train_then_eval(data: &Path, run: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--dataset",
        s(data),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--out",
        s(run),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = deepnet(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = json_line(&o);
    let w = run.join("model.safetensors");
    let o = deepnet(&["eval", "--weights", s(&w), "--dataset", s(data), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json_line(&o);
    assert_eq!(e["accuracy"], t["test_accuracy"], "{e} {t}");
    config(run)
}

#[test]
fn small_cnn_trains_and_evaluates_on_an_image_folder_and_on_cifar_binaries() {
    let dir = temp_dir("cli_images", "train");
    let folder = dir.join("folder");
    write_folder(&folder, 16, 8, 4);
    let c = train_then_eval(&folder, &dir.join("f"), &["--model", "small_cnn"]);
    assert_eq!(c["classes"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(c["data_format"], "image-folder");
    assert_eq!(c["model"]["input"], serde_json::json!([3, 16, 16]));
    assert_eq!(c["model"]["classes"], 3);
    // per-channel statistics of the training images, recorded for eval/predict/export
    let mean = c["normalize"]["mean"].as_array().unwrap();
    assert_eq!(
        (mean.len(), c["normalize"]["std"].as_array().unwrap().len()),
        (3, 3)
    );
    assert!(
        mean.iter()
            .all(|m| (0.1..0.5).contains(&m.as_f64().unwrap())),
        "{c}"
    );
    // gray and resized: the model follows the data
    let c = train_then_eval(
        &folder,
        &dir.join("g"),
        &[
            "--model",
            "lenet5",
            "--channels",
            "1",
            "--image-size",
            "28x28",
        ],
    );
    assert_eq!(c["model"]["input"], serde_json::json!([1, 28, 28]));
    // one channel: its statistics are the global pair, written as numbers as MNIST runs do
    assert!(c["normalize"]["mean"].is_f64(), "{c}");

    // the 3-class model on CIFAR-10's 10 classes: refused, not evaluated
    let w3 = dir.join("f/model.safetensors");
    let o = deepnet(&["eval", "--weights", s(&w3), "--dataset", s(&cifar_tiny())]);
    assert!(
        stderr(&o).contains("has 10 classes, the model of"),
        "{}",
        stderr(&o)
    );

    let cifar = cifar_tiny();
    let c = train_then_eval(
        &cifar,
        &dir.join("c"),
        &["--model", "small_cnn", "--augment", "crop=4,flip"],
    );
    assert_eq!(c["data_format"], "cifar10");
    assert_eq!(c["augment"], "crop=4,flip=0.5");
    assert_eq!(c["train_samples"], 12);
    assert_eq!(c["model"]["input"], serde_json::json!([3, 32, 32]));
    assert_eq!(c["classes"][0], "airplane");
    // `deepnet data` describes both layouts
    let o = deepnet(&["data", "--dataset", s(&cifar), "--json"]);
    let j = json_line(&o);
    assert_eq!(
        (j["format"].as_str(), j["train"]["examples"].as_u64()),
        (Some("cifar10"), Some(12)),
        "{j}"
    );
    assert_eq!(j["class_names"][9], "truck");
    let o = deepnet(&["data", "--dataset", s(&folder)]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        text.contains("24 examples of 3x16x16") && text.contains("a:8 b:8 c:8"),
        "{text}"
    );
    // predict reads the same normalization: the CIFAR file and the dataset agree
    let w = dir.join("c/model.safetensors");
    let by_file = deepnet(&[
        "predict",
        "--weights",
        s(&w),
        "--images",
        s(&cifar.join("test_batch.bin")),
        "--json",
    ]);
    let by_set = deepnet(&[
        "predict",
        "--weights",
        s(&w),
        "--dataset",
        s(&cifar),
        "--json",
    ]);
    assert!(
        by_file.status.success() && by_set.status.success(),
        "{}",
        stderr(&by_file)
    );
    let probs = |o: &std::process::Output| {
        let v = json_line(o);
        v["predictions"].as_array().map(|p| {
            p.iter()
                .map(|x| x["probabilities"].clone())
                .collect::<Vec<_>>()
        })
    };
    assert!(
        probs(&by_file).is_some_and(|p| p.len() == 8),
        "{}",
        String::from_utf8_lossy(&by_file.stdout)
    );
    assert_eq!(probs(&by_file), probs(&by_set));
    // the class names travel in the weights file: predict names each image's class
    let v = json_line(&by_file);
    assert_eq!(v["classes"][9], "truck", "{v}");
    for p in v["predictions"].as_array().unwrap() {
        let k = p["class"].as_u64().unwrap() as usize;
        assert_eq!(p["class_name"], v["classes"][k], "{p}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_data_and_flags_are_clear_errors() {
    let dir = temp_dir("cli_images", "errors");
    let folder = dir.join("folder");
    write_folder(&folder, 8, 2, 1);
    let err = |args: &[&str]| {
        let mut all = vec!["train", "--epochs", "1", "--out"];
        let out = dir.join("never");
        all.push(s(&out));
        all.extend_from_slice(args);
        let o = deepnet(&all);
        assert!(!o.status.success(), "{args:?} succeeded");
        stderr(&o)
    };
    let f = s(&folder);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = err(&["--dataset", s(&empty)]);
    assert!(
        e.contains("holds no dataset I recognize") && e.contains("data_batch_1.bin"),
        "{e}"
    );
    for (flags, want) in [
        (
            vec!["--augment", "crop=-1"],
            "--augment: \"crop=-1\": crop takes the padding",
        ),
        (
            vec!["--augment", "rotate=5"],
            "--augment: \"rotate=5\" in \"rotate=5\": expected none",
        ),
        (
            vec!["--augment", "crop=8"],
            "crop=8 moves the image by up to 8 pixels, but it is only 8x8",
        ),
        (
            vec!["--channels", "2"],
            "--channels: expected 1 (gray) or 3 (RGB), got 2",
        ),
        (
            vec!["--image-size", "32"],
            "--image-size: \"32\": expected HxW",
        ),
    ] {
        let mut args = vec!["--dataset", f, "--model", "small_cnn"];
        args.extend(flags);
        let e = err(&args);
        assert!(e.contains(want), "{e}");
    }
    let e = err(&["--dataset", "mnist", "--image-size", "32x32"]);
    assert!(
        e.contains("holds IDX files, which are read as they are"),
        "{e}"
    );
    // an image of another size without --image-size: named
    ImageBuffer::from_fn(9, 8, |_, _| Rgb([1u8, 2, 3]))
        .save(folder.join("train/b/odd.png"))
        .unwrap();
    let e = err(&["--dataset", f]);
    assert!(
        e.contains("odd.png") && e.contains("8x9") && e.contains("--image-size"),
        "{e}"
    );
    std::fs::remove_file(folder.join("train/b/odd.png")).unwrap();
    // test classes that differ from train's
    std::fs::rename(folder.join("test/c"), folder.join("test/z")).unwrap();
    let e = err(&["--dataset", f]);
    assert!(
        e.contains("[\"a\", \"b\", \"z\"]") && e.contains("same class folders"),
        "{e}"
    );
    // a model that cannot take the shape
    std::fs::rename(folder.join("test/z"), folder.join("test/c")).unwrap();
    let e = err(&["--dataset", f, "--model", "alexnet"]);
    assert!(e.contains("error") && e.contains("larger than"), "{e}");
    // --backbone-lr-scale: a fraction, with --init-from
    let e = err(&["--dataset", f, "--backbone-lr-scale", "0.5"]);
    assert!(e.contains("--init-from"), "{e}");
    let w = dir.join("w.safetensors");
    for bad in ["0", "1.5", "nan"] {
        let e = err(&[
            "--dataset",
            f,
            "--init-from",
            s(&w),
            "--backbone-lr-scale",
            bad,
        ]);
        assert!(
            e.contains("--backbone-lr-scale") || e.contains("w.safetensors"),
            "{e}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A small convolutional net on 8x8 images, 2 epochs of batch 2 with crops and flips.
fn augment_flags(data: &Path, out: &Path, augment: &str) -> Vec<String> {
    let arch = "conv4k3p1,relu,maxpool2,fc3";
    [
        "train",
        "--dataset",
        s(data),
        "--arch",
        arch,
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--seed",
        "5",
        "--augment",
        augment,
        "--out",
        s(out),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

#[cfg(unix)]
#[test]
fn an_augmented_run_stopped_by_sigint_resumes_bit_identical() {
    let dir = temp_dir("cli_images", "resume");
    let folder = dir.join("folder");
    write_folder(&folder, 8, 40, 2);
    let run = |out: &Path, augment: &str| {
        let args = augment_flags(&folder, out, augment);
        let o = deepnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", stderr(&o));
        weight_bits(out)
    };
    let whole = run(&dir.join("whole"), "crop=2,flip");
    // the augmentation does something (the comparison below is not vacuous)
    assert_ne!(whole, run(&dir.join("plain"), "none"));
    let parts = dir.join("parts");
    let (code, log) = interrupt_at_first_batch(&augment_flags(&folder, &parts, "crop=2,flip"));
    assert_eq!(code, Some(130), "{log}");
    let o = deepnet(&["train", "--resume", s(&parts), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(config(&parts)["augment"], "crop=2,flip=0.5");
    assert_eq!(weight_bits(&parts), whole);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn backbone_lr_scale_slows_the_loaded_layers_only() {
    let dir = temp_dir("cli_images", "finetune");
    let folder = dir.join("folder");
    write_folder(&folder, 8, 6, 2);
    let arch = "conv4k3p1,relu,maxpool2,fc3";
    let base = |out: &Path| -> Vec<String> {
        [
            "train",
            "--dataset",
            s(&folder),
            "--arch",
            arch,
            "--epochs",
            "1",
            "--batch-size",
            "18",
            "--scheduler",
            "none",
            "--momentum",
            "0",
            "--lr",
            "0.5",
            "--out",
            s(out),
            "--json",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let go = |args: Vec<String>| {
        let o = deepnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let pre = dir.join("pre");
    go(base(&pre));
    let w = pre.join("model.safetensors");
    let tune = |name: &str, scale: Option<&str>| {
        let out = dir.join(name);
        let mut args = base(&out);
        args.extend(["--init-from", s(&w), "--reset-head"].map(String::from));
        if let Some(f) = scale {
            args.extend(["--backbone-lr-scale".to_string(), f.to_string()]);
        }
        go(args);
        (weight_bits(&out), config(&out))
    };
    let (full, _) = tune("full", None);
    let (half, c) = tune("half", Some("0.5"));
    assert_eq!(c["backbone_lr_scale"], 0.5);
    // the f32 weights, widened exactly to f64 by `weight_bits`
    let get = |v: &[(String, Vec<u64>)], k: &str| -> Vec<f64> {
        v.iter()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .iter()
            .map(|b| f64::from_bits(*b))
            .collect()
    };
    let pre_bits = weight_bits(&pre);
    // one step (18 images, batch 18) of plain SGD from the same start: the backbone (layers.0)
    // moved by half as much as without the scale (to float rounding); the head at the full
    // rate, as without it, since its fresh initialization and gradient are the same
    let (p, f, h) = (
        get(&pre_bits, "layers.0.weight"),
        get(&full, "layers.0.weight"),
        get(&half, "layers.0.weight"),
    );
    let mut moved = 0;
    for i in 0..p.len() {
        let (df, dh) = (f[i] - p[i], h[i] - p[i]);
        assert!(
            (dh - 0.5 * df).abs() <= 1e-6 * (1.0 + p[i].abs()),
            "element {i}: {df} {dh}"
        );
        moved += (df != 0.0) as usize;
    }
    assert!(moved > p.len() / 2, "{moved} of {}", p.len());
    let head = &full
        .iter()
        .rev()
        .find(|(k, _)| k.ends_with(".weight"))
        .unwrap()
        .0;
    assert_ne!(head, "layers.0.weight");
    assert_eq!(get(&full, head), get(&half, head));
    let _ = std::fs::remove_dir_all(dir);
}
