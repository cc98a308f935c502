//! `deepnet train --model pca | linear_ae | ae | deep_ae | sparse_ae | denoising_ae` and
//! `deepnet reconstruct` end to end on a few hundred images of the shipped MNIST: every model
//! reports `recon_error_per_image`, the weights files record their model and load back into
//! the reconstruction figure and the 2-D codes plot, and bad input is a clear error.

mod common;

use common::{deepnet, json_line, stderr, temp_dir};
use std::path::Path;

/// Width and height from a PNG's IHDR chunk (bytes 16..24).
fn png_size(path: &Path) -> (u64, u64) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[12..16], b"IHDR", "{} is not a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64;
    (be(16), be(20))
}

/// `deepnet train --json` with `args`; the summary.
fn train(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["train", "--json"];
    all.extend(args);
    let o = deepnet(&all);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    json_line(&o)
}

/// The error of a run that must fail.
fn fails(args: &[&str]) -> String {
    let o = deepnet(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    stderr(&o)
}

#[test]
fn pca_fits_reports_and_writes_its_figures() {
    let dir = temp_dir("cli-ae", "pca");
    let out = dir.to_str().unwrap();
    let j = train(&[
        "--model", "pca", "--code", "5", "--limit", "500", "--out", out,
    ]);
    assert_eq!(
        (j["model"].as_str(), j["code"].as_u64()),
        (Some("pca"), Some(5))
    );
    let test = j["recon_error_per_image"].as_f64().unwrap();
    let train = j["train_recon_error_per_image"].as_f64().unwrap();
    // MNIST digits hold ~50 units of variance per image; 5 components keep about a third
    assert!(train > 20.0 && train < 45.0 && test > train * 0.8, "{j}");
    let ratios = j["explained_variance_ratio"].as_array().unwrap();
    assert_eq!(ratios.len(), 5);
    assert!(ratios[0].as_f64() > ratios[4].as_f64());
    for f in ["model.safetensors", "config.json", "reconstructions.png"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // 5 eigendigits in one row at the grid's automatic scale (28 * 2 = 56 px tiles)
    assert_eq!(png_size(&dir.join("eigendigits.png")), (5 * 57 + 1, 58));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_autoencoder_trains_and_reports_its_figures() {
    let dir = temp_dir("cli-ae", "all");
    for (model, limit) in [
        ("linear_ae", "256"),
        ("ae", "256"),
        ("sparse_ae", "256"),
        ("denoising_ae", "256"),
        ("deep_ae", "64"),
    ] {
        let out = dir.join(model);
        let j = train(&[
            "--model",
            model,
            "--code",
            "8",
            "--epochs",
            "1",
            "--limit",
            limit,
            "--out",
            out.to_str().unwrap(),
        ]);
        let e = j["recon_error_per_image"].as_f64().unwrap();
        assert!(e.is_finite() && e > 0.0 && e < 784.0, "{model}: {j}");
        // deep_ae pretrains its four layers as RBMs first (10 epochs each by default)
        let deep = model == "deep_ae";
        assert_eq!(j["pretrain"].as_str(), deep.then_some("rbm"), "{model}");
        if deep {
            let errs = j["rbm_errors"].as_array().unwrap();
            assert_eq!(errs.len(), 4, "{j}");
            assert!(
                errs.iter().all(|l| l.as_array().unwrap().len() == 10),
                "{j}"
            );
            assert!(j["pretrain_seconds"].as_f64().unwrap() > 0.0);
        }
        assert_eq!(j["code"].as_u64(), Some(8), "{model}");
        let frac = j["near_zero_fraction"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&frac), "{model}: {j}");
        let denoising = model == "denoising_ae";
        assert_eq!(
            j.get("noisy_error_per_image").is_some(),
            denoising,
            "{model}"
        );
        if denoising {
            // Gaussian noise of std 0.5 on 784 pixels: about 784 * 0.25 = 196 per image
            let before = j["noisy_error_per_image"].as_f64().unwrap();
            assert!((before - 196.0).abs() < 10.0, "{j}");
            assert!(j["denoised_error_per_image"].as_f64().unwrap() > 0.0);
        }
        let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        assert!(
            metrics.starts_with("epoch,train_loss,train_recon_error_per_image,"),
            "{model}: {metrics}"
        );
        assert_eq!(metrics.contains("near_zero_fraction"), model == "sparse_ae");
        assert!(out.join("reconstructions.png").exists());
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn reconstruct_draws_one_row_per_model_and_the_codes() {
    let dir = temp_dir("cli-ae", "reconstruct");
    let pca = dir.join("pca");
    let ae = dir.join("ae");
    let limit = ["--limit", "300", "--code", "2"];
    let mut a = vec!["--model", "pca", "--out", pca.to_str().unwrap()];
    a.extend(limit);
    train(&a);
    let mut a = vec![
        "--model",
        "ae",
        "--epochs",
        "1",
        "--out",
        ae.to_str().unwrap(),
    ];
    a.extend(limit);
    train(&a);
    // the autoencoder's row comes from its checkpoint: the same model as model.safetensors
    let (wp, wa) = (
        pca.join("model.safetensors"),
        ae.join("checkpoint.safetensors"),
    );
    let weights = format!("{},{}", wp.display(), wa.display());
    let png = dir.join("rows.png");
    let codes = dir.join("codes.png");
    let o = deepnet(&[
        "reconstruct",
        "--weights",
        &weights,
        "--count",
        "6",
        "--start",
        "3",
        "--out",
        png.to_str().unwrap(),
        "--codes",
        codes.to_str().unwrap(),
        "--codes-limit",
        "200",
        "--probe-labels",
        "100",
        "--limit",
        "500",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["model"].as_str(), rows[1]["model"].as_str()),
        (Some("pca"), Some("ae"))
    );
    for r in rows {
        assert!(r["recon_error_per_image"].as_f64().unwrap() > 0.0, "{r}");
        // 2-d codes of 100 labelled digits still beat chance (10%) on 500 test digits
        let acc = r["probe_accuracy"].as_f64().unwrap();
        assert!(acc > 0.2 && acc <= 1.0, "{r}");
    }
    let pixels = j["probe_pixel_accuracy"].as_f64().unwrap();
    assert!(pixels > 0.5, "{j}");
    // 3 rows (digits, pca, ae) of 6 digits, 28 * 2 = 56 px tiles with 1-px borders
    assert_eq!(png_size(&png), (6 * 57 + 1, 3 * 57 + 1));
    assert_eq!(png_size(&codes), (2 * 560, 500));

    // weights files record what they are: eval refuses an autoencoder, reconstruct a classifier
    let e = fails(&["eval", "--weights", wa.to_str().unwrap()]);
    assert!(
        e.contains("reconstructs its input") && e.contains("deepnet reconstruct"),
        "{e}"
    );
    let mlp = dir.join("mlp");
    train(&[
        "--limit",
        "64",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--out",
        mlp.to_str().unwrap(),
    ]);
    let wm = mlp.join("model.safetensors");
    let e = fails(&["reconstruct", "--weights", wm.to_str().unwrap()]);
    assert!(e.contains("mlp model does not reconstruct"), "{e}");
    let e = fails(&[
        "reconstruct",
        "--weights",
        wp.to_str().unwrap(),
        "--start",
        "9999",
    ]);
    assert!(e.contains("--start 9999 --count 10"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_autoencoder_flags_are_clear_errors() {
    let base = ["train", "--limit", "32", "--model"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["ae", "--code", "0"],
            "--code: autoencoder: the code size must be in 1..784",
        ),
        (&["deep_ae", "--code", "784"], "got 784"),
        (
            &["deep_ae", "--hidden", "100,0"],
            "--hidden / --code: autoencoder: layer sizes must be at least 1",
        ),
        (
            &["ae", "--activation", "gelu"],
            "--activation: unknown activation \"gelu\"",
        ),
        (
            &["deep_ae", "--activation", "relu"],
            "--pretrain rbm: RBM pretraining unrolls into logistic hidden layers",
        ),
        (
            &["deep_ae", "--pretrain", "dbn"],
            "--pretrain: expected rbm or none, got \"dbn\"",
        ),
        (
            &["deep_ae", "--pretrain-epochs", "0"],
            "--pretrain-epochs: expected at least 1",
        ),
        (
            &["ae", "--pretrain-epochs", "3"],
            "--pretrain-epochs: --model ae does not pretrain here (add --pretrain rbm)",
        ),
        (
            &["pca", "--code", "785"],
            "--code: pca fit: the number of components must be in 1..=784",
        ),
        (
            &["denoising_ae", "--noise-std", "-0.1"],
            "must be a finite number >= 0, got -0.1",
        ),
        (
            &["ae", "--mask-prob", "1.5"],
            "masking probability must be in [0, 1), got 1.5",
        ),
        (
            &["sparse_ae", "--code-l1", "-1"],
            "--code-l1: expected a number >= 0, got -1",
        ),
        (
            &["ae", "--code-activation", "gelu"],
            "--code-activation: unknown activation \"gelu\"",
        ),
        (
            &["ae", "--output", "softmax"],
            "--output: unknown autoencoder output \"softmax\"",
        ),
        (
            &["pca", "--noise-std", "0.3"],
            "--noise-std: pca is fitted in closed form",
        ),
        (
            &["pca", "--pretrain", "rbm"],
            "--pretrain: pca is fitted in closed form",
        ),
    ];
    for (args, want) in cases {
        let mut all = base.to_vec();
        all.extend(*args);
        let e = fails(&all);
        assert!(e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn summary_shows_the_autoencoders_as_train_builds_them() {
    let o = deepnet(&["summary", "--model", "deep_ae", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    // 784-1000-500-250-30 and back, with biases: the network `train --model deep_ae` reports
    assert_eq!(j["total_params"].as_u64(), Some(2_837_314), "{j}");
    let layers = j["layers"].to_string();
    assert!(
        layers.contains("Sigmoid") && !layers.contains("ReLU"),
        "{layers}"
    );
    let o = deepnet(&[
        "summary",
        "--model",
        "deep_ae",
        "--hidden",
        "64",
        "--activation",
        "relu",
        "--json",
    ]);
    let j = json_line(&o);
    // 784-64-30-64-784
    let want = 784 * 64 + 64 + 64 * 30 + 30 + 30 * 64 + 64 + 64 * 784 + 784;
    assert_eq!(j["total_params"].as_u64(), Some(want), "{j}");
    assert!(j["layers"].to_string().contains("ReLU"));
    let e = fails(&["summary", "--model", "pca"]);
    assert!(e.contains("no layers to summarize"), "{e}");
}
