//! Runs that survive: a real `deepnet train` process stopped by a real SIGINT mid-epoch writes a
//! checkpoint and exits with 130; `train --resume` finishes it with weights bit-identical to an
//! uninterrupted run of the same flags, for a classifier, a VAE, the GANs and a denoising
//! autoencoder (whose noise generators the checkpoint must hold). Uses the MNIST shipped in
//! `data/mnist`.

mod common;

#[cfg(unix)]
use common::interrupt_at_first_batch;
use common::{assert_same_weights, deepnet, stderr, temp_dir, weight_bits};
use deepnet::train::{
    load_safetensors_with_metadata, read_checkpoint, read_metrics_table, save_safetensors,
};
use std::path::{Path, PathBuf};

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

/// The flags of a 2-epoch run of `model` on the first `limit` MNIST images in batches of 4 into
/// `out`.
fn gen_flags(model: &str, limit: &str, out: &Path) -> Vec<String> {
    let mut v: Vec<String> = [
        "train",
        "--model",
        model,
        "--limit",
        limit,
        "--batch-size",
        "4",
        "--epochs",
        "2",
        "--seed",
        "3",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(out.display().to_string());
    v
}

/// Runs `model` whole into `dir/whole`, and into `dir/parts` stopped by SIGINT mid-epoch;
/// `damage` may then try broken checkpoints of `dir/parts` (and must put the good one back);
/// then resumes it. Checks the weights and the metrics (all but the timing columns) are the
/// uninterrupted run's; returns both run folders.
#[cfg(unix)]
fn interrupted_run_resumes_exactly(
    model: &str,
    limit: &str,
    damage: impl FnOnce(&Path),
) -> (PathBuf, PathBuf) {
    let dir = temp_dir("cli_resume", model);
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    let args = gen_flags(model, limit, &whole);
    let o = deepnet(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{model}: {}", stderr(&o));

    let (code, log) = interrupt_at_first_batch(&gen_flags(model, limit, &parts));
    assert_eq!(code, Some(130), "{model}: {log}");
    assert!(log.contains("deepnet train --resume"), "{log}");
    assert!(!parts.join("model.safetensors").exists());
    let ck = read_checkpoint(parts.join("checkpoint.safetensors")).unwrap();
    assert!(
        ck.epoch == 0 && ck.batch > 0,
        "{model}: not mid-epoch: {ck:?}"
    );
    damage(&parts);

    let p = parts.display().to_string();
    let o = deepnet(&["train", "--resume", &p, "--json"]);
    assert!(o.status.success(), "{model}: {}", stderr(&o));
    assert_same_weights(&whole, &parts, model);
    let (ta, tb) = (
        read_metrics_table(whole.join("metrics.csv")).unwrap(),
        read_metrics_table(parts.join("metrics.csv")).unwrap(),
    );
    assert_eq!(ta.0, tb.0);
    assert_eq!(tb.1.len(), 2, "{model}: two epochs in metrics.csv");
    for (ra, rb) in ta.1.iter().zip(&tb.1) {
        // epoch and metrics equal; seconds, throughput and lr last (lr equal too)
        let n = ra.len();
        assert_eq!(ra[..n - 3], rb[..n - 3], "{model}");
        assert_eq!(ra[n - 1], rb[n - 1], "{model}");
    }
    (whole, parts)
}

#[cfg(unix)]
#[test]
fn a_vae_stopped_by_sigint_resumes_to_the_uninterrupted_weights() {
    // 40 batches an epoch; the reparameterization noise must come back from the checkpoint
    let (whole, _) = interrupted_run_resumes_exactly("vae", "160", |_| {});
    let _ = std::fs::remove_dir_all(whole.parent().unwrap());
}

#[cfg(unix)]
#[test]
fn a_denoising_autoencoder_stopped_by_sigint_resumes_to_the_uninterrupted_weights() {
    // the corruption noise must come back from the checkpoint
    let (whole, _) = interrupted_run_resumes_exactly("denoising_ae", "160", |_| {});
    let _ = std::fs::remove_dir_all(whole.parent().unwrap());
}

#[cfg(unix)]
#[test]
fn a_pretrained_deep_autoencoder_stopped_by_sigint_resumes_to_the_uninterrupted_weights() {
    // RBM pretraining runs before the loop in both runs (its own generator), and the resumed
    // run takes its weights from the checkpoint
    let (whole, _) = interrupted_run_resumes_exactly("deep_ae", "160", |_| {});
    let _ = std::fs::remove_dir_all(whole.parent().unwrap());
}

#[cfg(unix)]
#[test]
fn a_gan_stopped_by_sigint_resumes_to_the_same_weights_and_grids_and_a_missing_section_is_refused()
{
    // 20 batches an epoch; two optimizers, dropout in the discriminator and the latent noise
    let (whole, parts) = interrupted_run_resumes_exactly("gan", "80", |parts| {
        let ck = parts.join("checkpoint.safetensors");
        let good = std::fs::read(&ck).unwrap();
        let (tensors, meta) = load_safetensors_with_metadata(&ck).unwrap();
        let without: Vec<_> = tensors
            .into_iter()
            .filter(|(k, _)| !k.starts_with("g_optimizer."))
            .collect();
        save_safetensors(&ck, &without, &meta).unwrap();
        let o = deepnet(&["train", "--resume", parts.to_str().unwrap()]);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(
            e.contains("checkpoint.safetensors") && e.contains("section \"g_optimizer\" has 0 of"),
            "{e}"
        );
        std::fs::write(&ck, good).unwrap();
    });
    // the grids of the epochs before the interruption stay, those after match the whole run's
    for f in [
        "samples_epoch_001.png",
        "samples_epoch_002.png",
        "samples.png",
    ] {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(parts.join(f)).unwrap(),
            "{f}"
        );
    }
    let _ = std::fs::remove_dir_all(whole.parent().unwrap());
}

#[cfg(unix)]
#[test]
fn a_dcgan_stopped_by_sigint_resumes_to_the_uninterrupted_weights() {
    // batch norm's running statistics travel with the model's tensors
    let (whole, _) = interrupted_run_resumes_exactly("dcgan", "80", |_| {});
    let _ = std::fs::remove_dir_all(whole.parent().unwrap());
}

#[test]
fn resuming_pca_says_it_has_nothing_to_resume() {
    let dir = temp_dir("cli_resume", "pca");
    let d = dir.display().to_string();
    let o = deepnet(&[
        "train", "--model", "pca", "--limit", "200", "--code", "5", "--json", "--out", &d,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = deepnet(&["train", "--resume", &d]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("pca is fitted in closed form") && e.contains("nothing to resume"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
