//! Tests of the shared command-line helpers: model specs, run folders, input shapes.

use super::*;
use crate::cmd::run_folder::local_stamp;

#[test]
fn run_folders_are_named_by_local_time_and_never_reused() {
    let stamp = local_stamp();
    // 2026-11-29_20-35-07
    let b = stamp.as_bytes();
    assert_eq!(stamp.len(), 19, "{stamp}");
    assert!(b[4] == b'-' && b[10] == b'_' && b[13] == b'-', "{stamp}");
    assert!(stamp[..4].parse::<u32>().unwrap() >= 2024, "{stamp}");
    let dir = std::env::temp_dir().join(format!("deepnet-rundir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert_eq!(run_dir(Some(&dir), "m", "d").unwrap(), dir);
    std::fs::write(dir.join("metrics.csv"), "epoch\n").unwrap();
    let e = run_dir(Some(&dir), "m", "d").unwrap_err();
    assert!(e.contains("already holds a run"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_damaged_model_spec_is_an_error_never_a_panic() {
    let a = ModelArgs {
        model: "mlp".into(),
        arch: None,
        hidden: Some(vec![16, 8]),
        activation: Some("tanh".into()),
        dropout: 0.1,
        init: "default".into(),
    };
    let good = ModelSpec::from_args(&a, vec![1, 28, 28], 10)
        .unwrap()
        .to_json()
        .to_string();
    deepnet::tensor::testing::fuzz_bytes(good.as_bytes(), 3_000, 8, |b| {
        let text = String::from_utf8_lossy(b);
        if let Ok(spec) = ModelSpec::from_json(&text, Path::new("w.safetensors")) {
            // as load_trained builds it: under the file's element count
            let _ = spec.build(&ParamStore::new(0).limit_elements(1 << 20));
        }
    });
}

#[test]
fn only_the_mlp_records_mlp_settings() {
    let a = ModelArgs {
        model: "lenet5".into(),
        arch: None,
        hidden: Some(vec![256, 128]),
        activation: Some("relu".into()),
        dropout: 0.0,
        init: "default".into(),
    };
    let spec = ModelSpec::from_args(&a, vec![1, 28, 28], 10).unwrap();
    let j = spec.to_json();
    assert!(
        j.get("hidden").is_none() && j.get("activation").is_none(),
        "{j}"
    );
    let back = ModelSpec::from_json(&j.to_string(), Path::new("w")).unwrap();
    assert_eq!(back.name, "lenet5");
    assert!(back.hidden.is_empty());
}

#[test]
fn spec_round_trips_and_bad_values_are_named() {
    let a = ModelArgs {
        model: "mlp".into(),
        hidden: Some(vec![32]),
        activation: Some("tanh".into()),
        dropout: 0.0,
        init: "kaiming".into(),
        arch: None,
    };
    let s = ModelSpec::from_args(&a, vec![1, 28, 28], 10).unwrap();
    let back = ModelSpec::from_json(&s.to_json().to_string(), Path::new("m.safetensors")).unwrap();
    assert_eq!(s, back);
    // a code size is stored only when there is one, and must be a positive size
    assert!(s.to_json().get("code").is_none());
    let g = ModelSpec {
        name: "vae".into(),
        code: Some(7),
        ..s.clone()
    };
    let file = Path::new("m.safetensors");
    assert_eq!(
        ModelSpec::from_json(&g.to_json().to_string(), file).unwrap(),
        g
    );
    let mut j = g.to_json();
    j["code"] = json!(0);
    let e = ModelSpec::from_json(&j.to_string(), file).unwrap_err();
    assert!(
        e.contains("deepnet.model.code") && e.contains("got 0"),
        "{e}"
    );
    let store = ParamStore::new(0);
    assert!(s.build(&store).is_ok());
    let bad = ModelSpec {
        activation: "gelu".into(),
        ..s.clone()
    };
    let err = |s: &ModelSpec| s.build(&ParamStore::new(0)).err().unwrap_or_default();
    assert!(err(&bad).contains("--activation"));
    let bad = ModelSpec {
        name: "vgg99".into(),
        ..s
    };
    assert!(err(&bad).contains("vgg99"));
    assert_eq!(parse_shape("3x224x224").unwrap(), vec![3, 224, 224]);
    assert!(parse_shape("3x0").is_err());
    assert!(resolve_dataset("no-such-set").is_err());
}

#[test]
fn an_arch_spec_is_stored_canonical_and_rebuilt() {
    let a = ModelArgs {
        model: "mlp".into(),
        hidden: Some(vec![256, 128]),
        activation: Some("relu".into()),
        dropout: 0.0,
        init: "default".into(),
        arch: Some(" conv4k3p1 , relu,maxpool2s2,fc10".into()),
    };
    let s = ModelSpec::from_args(&a, vec![1, 8, 8], 10).unwrap();
    assert_eq!(s.name, "arch");
    assert_eq!(s.arch.as_deref(), Some("conv4k3p1,relu,maxpool2,fc10"));
    let file = Path::new("m.safetensors");
    let back = ModelSpec::from_json(&s.to_json().to_string(), file).unwrap();
    assert_eq!(s, back);
    let store = ParamStore::new(0);
    back.build(&store).unwrap();
    assert_eq!(store.num_params(), 40 + 4 * 16 * 10 + 10);
    // the class count is checked against the last fc
    let e = ModelSpec {
        classes: 3,
        ..s.clone()
    }
    .build(&ParamStore::new(0))
    .err()
    .unwrap_or_default();
    assert!(e.starts_with("--arch: ") && e.contains("3 classes"), "{e}");
    // a hand-edited spec in a weights file names the file and the field
    let mut j = s.to_json();
    j["arch"] = json!("conv4k3,rellu,fc10");
    let e = ModelSpec::from_json(&j.to_string(), file).unwrap_err();
    assert!(
        e.starts_with("m.safetensors: deepnet.model.arch: token 2 \"rellu\""),
        "{e}"
    );
    // --model besides --arch is an error
    let e = ModelSpec::from_args(
        &ModelArgs {
            model: "lenet5".into(),
            ..a
        },
        vec![1, 8, 8],
        10,
    )
    .unwrap_err();
    assert!(e.contains("--model lenet5"), "{e}");
}

#[test]
fn class_names_in_a_weights_file_must_fit_the_model() {
    let a = ModelArgs {
        model: "mlp".into(),
        arch: None,
        hidden: Some(vec![4]),
        activation: Some("relu".into()),
        dropout: 0.0,
        init: "default".into(),
    };
    let spec = ModelSpec::from_args(&a, vec![1, 2, 2], 3).unwrap();
    let file = |names: Option<&str>| {
        let mut meta = vec![("deepnet.model".to_string(), spec.to_json().to_string())];
        if let Some(n) = names {
            meta.push(("deepnet.classes".to_string(), n.to_string()));
        }
        WeightsFile::from_parts(vec![], meta, Path::new("w.safetensors")).unwrap()
    };
    let w = Path::new("w.safetensors");
    assert_eq!(file(None).class_names(w).unwrap(), None);
    assert_eq!(
        file(Some(r#"["cat","dog","owl"]"#)).class_names(w).unwrap(),
        Some(vec!["cat".into(), "dog".into(), "owl".into()])
    );
    for bad in [r#"["cat","dog"]"#, r#"[1,2,3]"#, "not json"] {
        let e = file(Some(bad)).class_names(w).unwrap_err();
        assert!(
            e.contains("w.safetensors") && e.contains("deepnet.classes") && e.contains("3 class"),
            "{e}"
        );
    }
}
