//! Transfer learning as the canon describes it: a LeNet-5 learns features on Fashion-MNIST, then
//! only a new head is trained on MNIST with 1,000 labels while the convolutional backbone stays
//! frozen (and comes out bit-identical), next to the same network trained from scratch on the
//! same 1,000 labels.
//!
//! ```text
//! cargo run --release -p deepnet --example fine_tune
//! ```
//!
//! Reads Fashion-MNIST from `../shared/data/fashion-mnist` (beside the repository) and the MNIST
//! shipped in `data/mnist`. The command-line equivalent is `deepnet train --init-from W
//! --reset-head --freeze features --train-samples 1000`.

use deepnet::data::{transforms, Dataset, InMemoryDataset, Mnist, Split};
use deepnet::models::{LeNet5, LeNet5Config};
use deepnet::nn::optim::{Sgd, SgdConfig};
use deepnet::prelude::*;
use deepnet::train::{fit, LossKind, Optimization, TrainConfig};
use std::path::Path;
use std::sync::Arc;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A split scaled to [0, 1] and normalized with its own pixel statistics.
fn load(dir: &Path, split: Split, n: Option<usize>) -> Res<Arc<dyn Dataset>> {
    let mut ds: InMemoryDataset = Mnist::load(dir, split)?;
    let (m, s) = transforms::mean_std(ds.images());
    transforms::normalize(ds.images_mut(), m, s)?;
    Ok(Arc::new(match n {
        Some(n) => ds.take(n),
        None => ds,
    }))
}

/// Trains `net` (parameters in `store`) with SGD and returns the final test accuracy.
fn train(
    net: &LeNet5,
    store: &ParamStore,
    epochs: usize,
    data: (Arc<dyn Dataset>, Arc<dyn Dataset>),
    name: &str,
) -> Res<f64> {
    let mut sgd = Sgd::new(SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..Default::default()
    })?;
    let cfg = TrainConfig {
        epochs,
        batch_size: 64,
        seed: 0,
        out_dir: std::env::temp_dir().join(format!("deepnet-example-{name}")),
        loss: LossKind::CrossEntropy,
        l1: 0.0,
        l2: 0.0,
        max_norm: None,
        clip_norm: None,
        clip_value: None,
        monitor_every: 50,
        quiet: true,
        config_json: serde_json::json!({ "example": name }),
        metadata: Vec::new(),
        stop: None,
        resume: None,
        tensorboard: false,
        augment: deepnet::data::Augment::NONE,
    };
    let _ = std::fs::remove_dir_all(&cfg.out_dir);
    let opt = Optimization {
        optimizer: &mut sgd,
        scheduler: None,
    };
    let s = fit(net, store, opt, data.0, data.1, &cfg)?;
    Ok(s.last().map(|m| m.test_acc).unwrap_or(0.0))
}

fn main() -> Res<()> {
    let fashion = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fashion-mnist");
    if !fashion.is_dir() {
        return Err(format!(
            "Fashion-MNIST not found at {} (../shared/data beside the repository)",
            fashion.display()
        )
        .into());
    }
    let cfg = LeNet5Config::default();

    // 1. features learned on Fashion-MNIST
    let pre = ParamStore::new(1);
    let pre_net = LeNet5::new(&cfg, &pre.root())?;
    let fashion_data = (
        load(&fashion, Split::Train, None)?,
        load(&fashion, Split::Test, None)?,
    );
    let acc = train(&pre_net, &pre, 3, fashion_data, "pretrain")?;
    println!("Fashion-MNIST LeNet-5: {:.2}% test accuracy", 100.0 * acc);

    // 2. a new model: load everything but the head, freeze the backbone, train on 1,000 labels
    let mnist = (
        load(&Mnist::shipped_dir(), Split::Train, Some(1000))?,
        load(&Mnist::shipped_dir(), Split::Test, None)?,
    );
    let ft = ParamStore::new(2);
    let ft_net = LeNet5::new(&cfg, &ft.root())?;
    let backbone: Vec<(String, Tensor)> = pre
        .state_dict()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("classifier.4."))
        .collect();
    ft.load_state_dict(&backbone, false)?;
    ft.freeze("features")?;
    let before = ft
        .get("features.0.weight")
        .expect("conv1")
        .to_vec::<f32>()?;
    let acc_ft = train(&ft_net, &ft, 20, mnist.clone(), "finetune")?;
    let after = ft
        .get("features.0.weight")
        .expect("conv1")
        .to_vec::<f32>()?;
    assert_eq!(before, after, "the frozen backbone must not change");

    // 3. the same network from scratch on the same 1,000 labels
    let scratch = ParamStore::new(2);
    let scratch_net = LeNet5::new(&cfg, &scratch.root())?;
    let acc_scratch = train(&scratch_net, &scratch, 20, mnist, "scratch")?;
    println!(
        "MNIST with 1,000 labels: frozen Fashion-MNIST backbone + new head {:.2}%, from scratch {:.2}%",
        100.0 * acc_ft,
        100.0 * acc_scratch
    );
    Ok(())
}
