//! Runs that survive: a real `deepnet train` process stopped by a real SIGINT mid-epoch writes a
//! checkpoint and exits with 130; `train --resume` finishes it with weights bit-identical to an
//! uninterrupted run of the same flags. Uses the MNIST shipped in `data/mnist`.

mod common;

#[cfg(unix)]
use common::interrupt_at_first_batch;
use common::{deepnet, stderr, temp_dir};
use deepnet::train::{load_safetensors, read_checkpoint};
use std::path::Path;

/// The flags of both runs: an MLP with dropout (so the generators matter), shuffled batches.
fn flags(out: &Path) -> Vec<String> {
    [
        "train",
        "--epochs",
        "2",
        "--limit",
        "12000",
        "--batch-size",
        "16",
        "--hidden",
        "64",
        "--dropout",
        "0.2",
        "--seed",
        "3",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([out.display().to_string()])
    .collect()
}

fn weight_bits(dir: &Path) -> Vec<(String, Vec<u32>)> {
    load_safetensors(dir.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(k, t)| {
            (
                k,
                t.to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect(),
            )
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn sigint_mid_epoch_then_resume_gives_the_uninterrupted_weights() {
    let dir = temp_dir("cli_resume", "runs");
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    let args = flags(&whole);
    let o = deepnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));

    // SIGINT at the first progress line of epoch 1 ("batch k/750 ..."): mid-epoch
    let (code, log) = interrupt_at_first_batch(&flags(&parts));
    assert_eq!(code, Some(130), "{log}");
    assert!(log.contains("deepnet train --resume"), "{log}");
    assert!(!parts.join("model.safetensors").exists());
    let ck = read_checkpoint(parts.join("checkpoint.safetensors")).unwrap();
    assert!(ck.batch > 0 || ck.epoch > 0, "{ck:?}");

    // more flags than --resume are refused; a truncated checkpoint is refused by name
    let p = parts.display().to_string();
    let o = deepnet(&["train", "--resume", &p, "--epochs", "5"]);
    assert!(
        stderr(&o).contains("no other train flags"),
        "{}",
        stderr(&o)
    );
    let ck_path = parts.join("checkpoint.safetensors");
    let good = std::fs::read(&ck_path).unwrap();
    std::fs::write(&ck_path, &good[..good.len() - 100]).unwrap();
    let o = deepnet(&["train", "--resume", &p]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("checkpoint.safetensors"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&ck_path, &good).unwrap();

    let o = deepnet(&["train", "--resume", &p, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(weight_bits(&whole), weight_bits(&parts));
    let rows = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.csv"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(rows(&parts), 3, "header and two epochs");
    let _ = std::fs::remove_dir_all(dir);
}
