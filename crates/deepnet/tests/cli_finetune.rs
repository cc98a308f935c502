//! Fine-tuning from the command line: a LeNet-5 trained on one task starts another from its
//! weights with a fresh head and a frozen backbone, which must come out bit-identical. Uses the
//! MNIST shipped in `data/mnist` for both tasks (the README's figure uses Fashion-MNIST from
//! `../shared/data` for the first).

mod common;

use common::{deepnet, json_line, stderr, temp_dir};
use deepnet::train::load_safetensors;

fn train(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", "--model", "lenet5", "--json"];
    args.extend_from_slice(extra);
    deepnet(&args)
}

#[test]
fn a_frozen_backbone_is_bit_identical_and_the_head_is_retrained() {
    let dir = temp_dir("cli_finetune", "run");
    let pre = dir.join("pre");
    let o = train(&[
        "--epochs",
        "2",
        "--limit",
        "2000",
        "--out",
        pre.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pre_w = pre.join("model.safetensors");
    let ft = dir.join("ft");
    let o = train(&[
        "--epochs",
        "2",
        "--limit",
        "1000",
        "--train-samples",
        "500",
        "--init-from",
        pre_w.to_str().unwrap(),
        "--reset-head",
        "--freeze",
        "features",
        "--out",
        ft.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(json_line(&o)["test_accuracy"].as_f64().unwrap() > 0.3);
    let a = load_safetensors(&pre_w).unwrap();
    let b = load_safetensors(ft.join("model.safetensors")).unwrap();
    let get = |v: &[(String, deepnet::tensor::Tensor)], k: &str| {
        v.iter()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .to_vec::<f32>()
            .unwrap()
    };
    for k in [
        "features.0.weight",
        "features.0.bias",
        "features.3.weight",
        "features.3.bias",
    ] {
        let (x, y) = (get(&a, k), get(&b, k));
        assert!(
            x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits()),
            "{k} changed"
        );
    }
    assert_ne!(
        get(&a, "classifier.0.weight"),
        get(&b, "classifier.0.weight")
    );
    assert_ne!(
        get(&a, "classifier.4.weight"),
        get(&b, "classifier.4.weight")
    );
    let cfg = std::fs::read_to_string(ft.join("config.json")).unwrap();
    assert!(
        cfg.contains("\"reset_head\": \"classifier.4\"") && cfg.contains("\"train_samples\": 500"),
        "{cfg}"
    );

    // an architecture mismatch and a head of another size without --reset-head are clear errors
    let o = deepnet(&[
        "train",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--limit",
        "100",
        "--init-from",
        pre_w.to_str().unwrap(),
        "--out",
        dir.join("bad1").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--init-from"), "{}", stderr(&o));
    let o = train(&[
        "--limit",
        "100",
        "--num-classes",
        "12",
        "--init-from",
        pre_w.to_str().unwrap(),
        "--out",
        dir.join("bad2").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("needs --reset-head"), "{}", stderr(&o));
    let o = train(&[
        "--limit",
        "100",
        "--freeze",
        "nope",
        "--out",
        dir.join("bad3").to_str().unwrap(),
    ]);
    assert!(stderr(&o).contains("--freeze nope"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(dir);
}
