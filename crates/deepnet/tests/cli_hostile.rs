//! Damaged weights files and paths that are not files: each is a clear error naming the file
//! and a non-zero exit, never an abort on a huge allocation, a hang or a silent NaN. Uses the
//! MNIST shipped in `data/mnist`.

mod common;

use common::{deepnet, stderr, temp_dir};
use deepnet::train::{load_safetensors_with_metadata, save_safetensors};
use std::path::{Path, PathBuf};

/// Trains a tiny MLP and returns its weights file.
fn tiny_weights(out: &Path) -> PathBuf {
    let o = deepnet(&[
        "train",
        "--epochs",
        "1",
        "--limit",
        "200",
        "--hidden",
        "8",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.join("model.safetensors")
}

/// `eval --weights file` must fail with a message containing every one of `want`.
fn eval_fails_with(file: &Path, want: &[&str]) {
    let o = deepnet(&["eval", "--weights", file.to_str().unwrap(), "--json"]);
    let e = stderr(&o);
    assert!(!o.status.success(), "accepted {}", file.display());
    assert_eq!(o.status.code(), Some(1), "not a clean exit: {e}");
    for w in want {
        assert!(e.contains(w), "missing {w:?} in: {e}");
    }
}

#[test]
fn damaged_weights_are_refused_by_name() {
    let dir = temp_dir("cli_hostile", "weights");
    let good = tiny_weights(&dir.join("run"));
    let (tensors, meta) = load_safetensors_with_metadata(&good).unwrap();

    // metadata asking for a 10^11-wide hidden layer: refused before anything is allocated
    let huge: Vec<(String, String)> = meta
        .iter()
        .map(|(k, v)| {
            let v = if k == "deepnet.model" {
                v.replace("\"hidden\":[8]", "\"hidden\":[100000000000]")
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    assert_ne!(huge, meta, "the metadata layout changed: {meta:?}");
    let f = dir.join("huge.safetensors");
    save_safetensors(&f, &tensors, &huge).unwrap();
    eval_fails_with(&f, &["huge.safetensors", "does not match the tensors"]);

    // a NaN among the weights
    let mut nan = tensors.clone();
    let w = &nan[0].1;
    let mut v = w.to_vec::<f32>().unwrap();
    v[3] = f32::NAN;
    nan[0].1 = deepnet::tensor::Tensor::from_vec(v, w.dims().to_vec()).unwrap();
    let f = dir.join("nan.safetensors");
    save_safetensors(&f, &nan, &meta).unwrap();
    eval_fails_with(&f, &["nan.safetensors", "holds NaN at element 3"]);

    // integers where float weights belong
    let mut ints = tensors.clone();
    let n = ints[0].1.numel();
    ints[0].1 =
        deepnet::tensor::Tensor::from_vec(vec![1i64; n], ints[0].1.dims().to_vec()).unwrap();
    let f = dir.join("ints.safetensors");
    save_safetensors(&f, &ints, &meta).unwrap();
    eval_fails_with(&f, &["ints.safetensors", "got I64"]);

    // a directory and (on Unix) a FIFO as the weights file: an error at once, no blocking read
    eval_fails_with(&dir, &["is a directory"]);
    #[cfg(unix)]
    {
        let fifo = dir.join("weights.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if made {
            eval_fails_with(&fifo, &["weights.fifo", "not a regular file"]);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pytorch_checkpoints_convert_both_ways_and_code_is_refused() {
    let dir = temp_dir("cli_hostile", "convert");
    std::fs::create_dir_all(&dir).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deepnet-train/tests/data");
    let (st, pt) = (dir.join("a.safetensors"), dir.join("b.pt"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let o = deepnet(&["convert", &s(&data.join("nested.pt")), &s(&st)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = deepnet(&["convert", &s(&st), &s(&pt), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = deepnet::train::load_safetensors(&st).unwrap();
    let b = deepnet::train::load_torch_checkpoint(&pt).unwrap();
    assert_eq!(a.len(), 13);
    for (k, t) in &a {
        let u = &b.iter().find(|(n, _)| n == k).unwrap().1;
        assert_eq!(t.dims(), u.dims(), "{k}");
    }
    let o = deepnet(&[
        "convert",
        &s(&data.join("evil.pt")),
        &s(&dir.join("e.safetensors")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    let o = deepnet(&["convert", &s(&st), &s(&dir.join("c.safetensors"))]);
    assert!(
        stderr(&o).contains("one side must be a PyTorch checkpoint"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(dir);
}
