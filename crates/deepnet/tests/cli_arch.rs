//! `--arch`: a network typed on the command line is trained, stored in the weights file's
//! metadata and rebuilt from it by `eval` and `predict`; `summary` shows it; malformed specs
//! name the token. Uses the MNIST shipped in `data/mnist`.

mod common;

use common::{deepnet, json_line, stderr, temp_dir};

#[test]
fn train_an_arch_then_eval_and_predict_rebuild_it_from_the_weights() {
    let out = temp_dir("cli-arch", "train");
    // written with spaces and a default stride, stored in canonical form
    let o = deepnet(&[
        "train",
        "--arch",
        "conv4k3, relu, maxpool2s2, fc10",
        "--epochs",
        "1",
        "--limit",
        "1000",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["model"], "arch", "{j}");
    assert_eq!(j["arch"], "conv4k3,relu,maxpool2,fc10", "{j}");
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.6, "{j}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["model"]["arch"], "conv4k3,relu,maxpool2,fc10",
        "{config}"
    );

    let w = out.join("model.safetensors");
    let w = w.to_str().unwrap();
    let o = deepnet(&["eval", "--weights", w, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json_line(&o);
    assert_eq!(e["arch"], "conv4k3,relu,maxpool2,fc10", "{e}");
    assert_eq!(e["samples"].as_u64(), Some(10_000));
    // --limit cut both splits to 1000; eval sees all 10000 test images, with the same net
    assert!(e["accuracy"].as_f64().unwrap() > 0.6, "{e}");

    let o = deepnet(&["predict", "--weights", w, "--limit", "20", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = json_line(&o);
    assert_eq!(p["model"], "arch", "{p}");
    assert_eq!(
        p["predictions"].as_array().map(|a| a.len()),
        Some(20),
        "{p}"
    );
    // the same net on the first 20 test images
    assert!(p["accuracy"].as_f64().unwrap() > 0.5, "{p}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn summary_shows_the_canons_cifar10_net() {
    let o = deepnet(&[
        "summary",
        "--arch",
        "conv12k3p1,relu,maxpool2,fc10",
        "--input",
        "3x32x32",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    // conv 3*12*9 + 12, fc 12*16*16*10 + 10
    assert_eq!(j["total_params"].as_u64(), Some(336 + 30_730), "{j}");
    let layers = j["layers"].as_array().unwrap();
    let row = |i: usize| (layers[i]["path"].clone(), layers[i]["output_shape"].clone());
    assert_eq!(row(0), ("layers.0".into(), serde_json::json!([12, 32, 32])));
    assert_eq!(row(2), ("layers.2".into(), serde_json::json!([12, 16, 16])));
    assert_eq!(row(3), ("layers.3".into(), serde_json::json!([3072])));
    assert_eq!(row(4), ("layers.4".into(), serde_json::json!([10])));
    assert_eq!(layers[4]["params"].as_u64(), Some(30_730));
    // a pool that does not fit names the token and the arithmetic
    let o = deepnet(&[
        "summary",
        "--arch",
        "conv4k5,maxpool8,maxpool4,fc10",
        "--input",
        "1x28x28",
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("token 3 \"maxpool4\" (layers.2)") && e.contains("(3 - 4 + 0)/4 + 1 < 1"),
        "{e}"
    );
}

#[test]
fn bad_arch_flags_are_clear_errors() {
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["train", "--arch", "conv32k3p1,relu,conv32k3q1,fc10"],
            &[
                "--arch: token 3 \"conv32k3q1\"",
                "unknown option 'q'",
                "^^^",
            ],
        ),
        (
            &["summary", "--arch", "conv8k3,relu,"],
            &["token 3 \"\"", "trailing comma"],
        ),
        (
            &["train", "--arch", "conv8k3,relu,fc256", "--limit", "10"],
            &["fc256", "256 outputs", "10 classes"],
        ),
        (
            &["train", "--model", "lenet5", "--arch", "fc10"],
            &["--arch", "--model"],
        ),
        (
            &["summary", "--arch", "fc10", "--dropout", "0.5"],
            &["--arch", "--dropout"],
        ),
    ];
    for (args, wants) in cases {
        let o = deepnet(args);
        let e = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        for want in wants {
            assert!(e.contains(want), "{args:?}: {e}");
        }
        assert!(!e.contains("panicked"), "{args:?} panicked: {e}");
    }
}
