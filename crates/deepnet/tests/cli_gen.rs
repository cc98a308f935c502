//! The generative models end to end: `deepnet train --model vae|conv_vae|gan|dcgan` on a few
//! hundred MNIST images writes its run folder and JSON, `deepnet sample` makes PNG grids, IDX
//! files and latent walks from the weights, `deepnet score` scores IDX samples with a LeNet-5, and bad
//! input is a clear error.

mod common;

use common::{deepnet, json_line, png_size, stderr, temp_dir};
use deepnet::data::read_idx;
use std::path::Path;

/// Runs deepnet and returns its JSON summary, failing with its stderr.
fn ok_json(args: &[&str]) -> serde_json::Value {
    let o = deepnet(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    json_line(&o)
}

/// Runs deepnet, expects failure, and returns its stderr.
fn fails(args: &[&str]) -> String {
    let o = deepnet(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    stderr(&o)
}

/// A 28x28 MNIST grid of `r x c` at the default scale 2 with 1-pixel borders.
fn grid_size(r: u64, c: u64) -> (u64, u64) {
    (c * 57 + 1, r * 57 + 1)
}

/// Trains `model` (a GAN) for one epoch of batch 64 on `limit` MNIST images into `run`, checks
/// its metrics, its first per-epoch grid and that its checkpoint has a key starting with each of
/// `keys`, and returns its JSON summary.
fn train_one_gan_epoch(model: &str, limit: &str, run: &Path, keys: &[&str]) -> serde_json::Value {
    let j = ok_json(&[
        "train",
        "--model",
        model,
        "--limit",
        limit,
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--json",
        "--out",
        run.to_str().unwrap(),
    ]);
    for k in [
        "test_d_loss",
        "test_g_loss",
        "test_d_real",
        "test_d_fake",
        "train_g_loss",
    ] {
        assert!(j[k].as_f64().is_some(), "missing {k}: {j}");
    }
    assert_eq!(
        png_size(&run.join("samples_epoch_001.png")),
        grid_size(10, 10)
    );
    let ck = deepnet::train::load_safetensors(run.join("checkpoint.safetensors")).unwrap();
    for p in keys {
        assert!(
            ck.iter().any(|(k, _)| k.starts_with(p)),
            "no {p} in the checkpoint"
        );
    }
    j
}

#[test]
fn a_vae_trains_samples_and_walks() {
    let out = temp_dir("cli_gen", "vae");
    let o = out.to_str().unwrap();
    let j = ok_json(&[
        "train", "--model", "vae", "--limit", "600", "--epochs", "1", "--json", "--out", o,
    ]);
    let num = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("missing {k}: {j}"));
    // one epoch on 600 images: far from trained, but the terms add up and are sane
    let (nelbo, recon, kl) = (num("test_nelbo"), num("test_recon"), num("test_kl"));
    assert!((recon + kl - nelbo).abs() < 1e-3 * nelbo, "{j}");
    assert!(nelbo > 50.0 && nelbo < 545.0, "{j}"); // 784 ln 2 = 543 is a coin per pixel
    assert!(num("recon_error_per_image") > 0.0 && num("train_nelbo") > 0.0);
    for f in [
        "samples.png",
        "model.safetensors",
        "checkpoint.safetensors",
        "kl.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    assert_eq!(png_size(&out.join("samples.png")), grid_size(10, 10));
    let w = out.join("model.safetensors");
    let w = w.to_str().unwrap();
    let png = out.join("s.png");
    let s = ok_json(&[
        "sample",
        "--weights",
        w,
        "--grid",
        "3x4",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!((s["rows"].as_u64(), s["cols"].as_u64()), (Some(3), Some(4)));
    assert_eq!(png_size(&png), grid_size(3, 4));
    // IDX samples: uint8 N x 28 x 28, the same for the same seed
    let idx = |name: &str, seed: &str| {
        let p = out.join(name);
        let s = ok_json(&[
            "sample",
            "--weights",
            w,
            "--count",
            "7",
            "--seed",
            seed,
            "--out",
            p.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(
            (s["count"].as_u64(), s["format"].as_str()),
            (Some(7), Some("idx"))
        );
        read_idx(&p).unwrap()
    };
    let (a, b, c) = (idx("a.idx", "1"), idx("b.idx.gz", "1"), idx("c.idx", "2"));
    assert_eq!(a.dims, [7, 28, 28]);
    assert_eq!(a, b);
    assert_ne!(a.data, c.data);
    // two walks of 5 steps: a 2x5 grid
    let walk = out.join("walk.png");
    let s = ok_json(&[
        "sample",
        "--weights",
        w,
        "--walk",
        "0,1",
        "--walk",
        "2,3",
        "--steps",
        "5",
        "--out",
        walk.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(s["count"].as_u64(), Some(10));
    assert_eq!(png_size(&walk), grid_size(2, 5));
    let e = fails(&[
        "sample",
        "--weights",
        w,
        "--walk",
        "0,99999",
        "--out",
        "/tmp/x.png",
    ]);
    assert!(
        e.contains("index 99999") && e.contains("10000 test images"),
        "{e}"
    );
    let e = fails(&["sample", "--weights", w, "--walk", "0,1", "--steps", "1"]);
    assert!(e.contains("at least 2 steps"), "{e}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_conv_vae_trains_samples_and_walks() {
    let out = temp_dir("cli_gen", "conv_vae");
    let o = out.to_str().unwrap();
    let j = ok_json(&[
        "train", "--model", "conv_vae", "--limit", "300", "--epochs", "1", "--json", "--out", o,
    ]);
    assert_eq!(j["model"], "conv_vae");
    let num = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("missing {k}: {j}"));
    let (nelbo, recon, kl) = (num("test_nelbo"), num("test_recon"), num("test_kl"));
    assert!((recon + kl - nelbo).abs() < 1e-3 * nelbo, "{j}");
    assert!(nelbo > 50.0 && nelbo < 545.0, "{j}");
    assert!(num("recon_error_per_image") > 0.0);
    assert_eq!(png_size(&out.join("samples.png")), grid_size(10, 10));
    let w = out.join("model.safetensors");
    let w = w.to_str().unwrap();
    let walk = out.join("walk.png");
    let s = ok_json(&[
        "sample",
        "--weights",
        w,
        "--walk",
        "0,1",
        "--steps",
        "4",
        "--out",
        walk.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(s["count"].as_u64(), Some(4));
    assert_eq!(png_size(&walk), grid_size(1, 4));
    let idx = out.join("s.idx");
    ok_json(&[
        "sample",
        "--weights",
        w,
        "--count",
        "5",
        "--out",
        idx.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(read_idx(&idx).unwrap().dims, [5, 28, 28]);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_gan_trains_and_a_lenet_scores_its_samples() {
    let out = temp_dir("cli_gen", "gan");
    let run = out.join("gan");
    train_one_gan_epoch(
        "gan",
        "256",
        &run,
        &[
            "model.generator.",
            "g_optimizer.generator.",
            "d_optimizer.discriminator.",
        ],
    );
    let w = run.join("model.safetensors");
    let samples = out.join("g.idx");
    ok_json(&[
        "sample",
        "--weights",
        w.to_str().unwrap(),
        "--count",
        "50",
        "--out",
        samples.to_str().unwrap(),
        "--json",
    ]);
    let lenet = out.join("lenet");
    ok_json(&[
        "train",
        "--model",
        "lenet5",
        "--limit",
        "500",
        "--epochs",
        "1",
        "--json",
        "--out",
        lenet.to_str().unwrap(),
    ]);
    let cls = lenet.join("model.safetensors");
    let s = ok_json(&[
        "score",
        "--samples",
        samples.to_str().unwrap(),
        "--classifier",
        cls.to_str().unwrap(),
        "--json",
    ]);
    let is = s["inception_score"].as_f64().unwrap();
    assert!((1.0..=10.0).contains(&is), "{s}");
    let shares: Vec<f64> = s["class_shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!((shares.len(), s["count"].as_u64()), (10, Some(50)));
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // errors: a walk needs an encoder; a classifier cannot sample; samples of the wrong size
    let e = fails(&["sample", "--weights", w.to_str().unwrap(), "--walk", "0,1"]);
    assert!(e.contains("GAN has no encoder"), "{e}");
    // the text flags are a char_lstm's
    let e = fails(&["sample", "--weights", w.to_str().unwrap(), "--prime", "a"]);
    assert!(
        e.contains("--prime: ") && e.contains("holds a gan model, which samples images"),
        "{e}"
    );
    let e = fails(&["sample", "--weights", cls.to_str().unwrap()]);
    assert!(
        e.contains("holds a lenet5 model, which cannot sample"),
        "{e}"
    );
    let small = out.join("small.idx");
    deepnet::data::write_idx(&small, &[3, 8, 8], &[0u8; 192], false).unwrap();
    let e = fails(&[
        "score",
        "--samples",
        small.to_str().unwrap(),
        "--classifier",
        cls.to_str().unwrap(),
    ]);
    assert!(e.contains("[1, 8, 8]") && e.contains("[1, 28, 28]"), "{e}");
    let e = fails(&[
        "score",
        "--samples",
        small.to_str().unwrap(),
        "--classifier",
        w.to_str().unwrap(),
    ]);
    assert!(
        e.contains("--model gan") && e.contains("no classifier"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_dcgan_trains_and_samples_grids_and_idx_files() {
    let out = temp_dir("cli_gen", "dcgan");
    let run = out.join("dcgan");
    let j = train_one_gan_epoch(
        "dcgan",
        "128",
        &run,
        &[
            "model.generator.fc.weight",
            "model.discriminator.main.3.running_mean",
            "g_optimizer.generator.main.2.weight.exp_avg",
            "d_optimizer.discriminator.main.6.weight.exp_avg",
        ],
    );
    assert_eq!(j["model"], "dcgan");
    let w = run.join("model.safetensors");
    let w = w.to_str().unwrap();
    let png = out.join("s.png");
    ok_json(&[
        "sample",
        "--weights",
        w,
        "--grid",
        "2x3",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(png_size(&png), grid_size(2, 3));
    let idx = out.join("s.idx");
    ok_json(&[
        "sample",
        "--weights",
        w,
        "--count",
        "7",
        "--out",
        idx.to_str().unwrap(),
        "--json",
    ]);
    let a = read_idx(&idx).unwrap();
    assert_eq!((a.dims, a.data.len()), (vec![7, 28, 28], 7 * 784));
    let e = fails(&["sample", "--weights", w, "--walk", "0,1"]);
    assert!(e.contains("GAN has no encoder"), "{e}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn bad_generative_flags_are_named() {
    let args = |extra: &[&str]| {
        let mut v = vec!["train", "--limit", "10", "--epochs", "1"];
        v.extend_from_slice(extra);
        fails(&v)
    };
    let e = args(&["--model", "vae", "--code", "1000"]);
    assert!(e.contains("--code 1000") && e.contains("784-pixel"), "{e}");
    let e = args(&["--model", "conv_vae", "--code", "785"]);
    assert!(e.contains("--code 785") && e.contains("784-pixel"), "{e}");
    let e = args(&["--model", "gan", "--code", "0"]);
    assert!(e.contains("--code: expected at least 1"), "{e}");
    let e = args(&["--model", "vae", "--optimizer", "sgd"]);
    assert!(e.contains("--optimizer Sgd") && e.contains("adam"), "{e}");
    let e = args(&["--model", "gan", "--clip-norm", "1"]);
    assert!(e.contains("--clip-norm") && e.contains("gan"), "{e}");
    let e = args(&["--model", "dcgan", "--scheduler", "cosine"]);
    assert!(e.contains("--scheduler") && e.contains("dcgan"), "{e}");
    let e = args(&["--model", "vae", "--batch-size", "0"]);
    assert!(e.contains("--batch-size"), "{e}");
    // flags the recipes would ignore are named, not dropped
    let e = args(&["--model", "vae", "--hidden", "32", "--activation", "tanh"]);
    assert!(
        e.starts_with("error: --hidden, --activation: not used by --model vae"),
        "{e}"
    );
    let e = args(&["--model", "dcgan", "--loss", "mse", "--json"]);
    assert!(e.contains("--loss: not used by --model dcgan"), "{e}");
    // the request is checked before the weights are read
    for grid in ["10", "0x3"] {
        let e = fails(&["sample", "--weights", "none.safetensors", "--grid", grid]);
        assert!(
            e.contains(&format!("--grid: \"{grid}\" is not ROWSxCOLS")),
            "{e}"
        );
    }
    let e = fails(&["sample", "--weights", "none.safetensors", "--count", "0"]);
    assert!(e.contains("--count: expected at least 1"), "{e}");
    let e = fails(&["sample", "--weights", "none.safetensors", "--out", "s.jpg"]);
    assert!(e.contains("--out s.jpg"), "{e}");
    let e = fails(&["sample", "--weights", "none.safetensors"]);
    assert!(e.contains("none.safetensors"), "{e}");
    let e = fails(&["sample", "--weights", "x", "--grid", "2x2", "--count", "4"]);
    assert!(e.contains("--grid") && e.contains("--count"), "{e}");
}
