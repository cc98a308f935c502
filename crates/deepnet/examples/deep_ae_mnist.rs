//! Hinton and Salakhutdinov's deep autoencoder (2006), written with the library alone: the
//! 784-1000-500-250-30 network on the MNIST shipped in `data/mnist`, its four layers first
//! pretrained greedily as RBMs (CD-1), then unrolled into the encoder and the mirrored decoder
//! and fine-tuned by backpropagation of the cross-entropy with Adam. It prints the test
//! squared reconstruction error per image (summed over the 784 pixels) before and during
//! fine-tuning; the paper reports 3.00, and 13.87 for 30-d PCA.
//!
//! ```text
//! cargo run --release -p deepnet --example deep_ae_mnist [EPOCHS] [RBM_EPOCHS]
//! ```
//!
//! `deepnet train --model deep_ae` runs the same recipe (30 and 10 by default) with its own
//! seeds, progress line and run folder.

use deepnet::data::{DataLoader, Dataset, Mnist, Split};
use deepnet::models::rbm::{pretrain_autoencoder, unrolled_state_dict, RbmTraining};
use deepnet::models::{evaluate_autoencoder, Autoencoder, AutoencoderConfig, Noise};
use deepnet::nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet::prelude::*;
use std::sync::Arc;

type AnyResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn arg(i: usize, default: usize) -> AnyResult<usize> {
    match std::env::args().nth(i) {
        Some(s) => Ok(s
            .parse()
            .map_err(|_| format!("argument {i}: expected a count, got \"{s}\""))?),
        None => Ok(default),
    }
}

fn main() -> AnyResult<()> {
    let (epochs, rbm_epochs) = (arg(1, 30)?, arg(2, 10)?);
    let train_ds = Mnist::load(Mnist::shipped_dir(), Split::Train)?;
    let test_x = Mnist::load(Mnist::shipped_dir(), Split::Test)?
        .to_tensors()?
        .0;
    // logistic hidden layers, a linear 30-d code, a sigmoid output trained on cross-entropy
    let cfg = AutoencoderConfig::preset("deep_ae", 784, 30)?;
    let store = ParamStore::new(0);
    let ae = Autoencoder::new(&cfg, &store.root())?;

    let rbm = RbmTraining {
        epochs: rbm_epochs,
        ..Default::default()
    };
    let (train_x, _) = train_ds.to_tensors()?;
    let rbms = pretrain_autoencoder(&cfg, &train_x, &rbm, &mut Generator::new(7), |l, e, err| {
        println!(
            "RBM {} epoch {}: reconstruction error {err:.3}",
            l + 1,
            e + 1
        )
    })?;
    store.load_state_dict(&unrolled_state_dict(&cfg, &rbms, "")?, true)?;
    let test_error = |ae: &Autoencoder| -> AnyResult<f64> {
        Ok(evaluate_autoencoder(ae, &test_x, 1000, &Noise::none(), 0)?.recon_error_per_image)
    };
    println!(
        "unrolled, before fine-tuning: test error {:.3}",
        test_error(&ae)?
    );

    let lr = 1e-3;
    let mut opt = Adam::new(AdamConfig {
        lr,
        ..Default::default()
    })?;
    let loader = DataLoader::new(Arc::new(train_ds) as Arc<dyn Dataset>, 128)?
        .shuffle(true)
        .seed(1);
    let mut unused = Generator::new(2); // no corruption noise: the plain autoencoder
    for epoch in 0..epochs {
        // cosine annealing to zero over the run, per epoch
        let t = std::f64::consts::PI * epoch as f64 / epochs as f64;
        opt.set_lr(lr * 0.5 * (1.0 + t.cos()));
        for batch in loader.iter_epoch(epoch as u64) {
            let (x, _) = batch?;
            let o = ae.objective(&x, &Noise::none(), 0.0, &mut unused)?;
            let grads = o.loss.backward()?;
            opt.step(&store.trainable(), &grads)?;
        }
        println!("epoch {}: test error {:.3}", epoch + 1, test_error(&ae)?);
    }
    Ok(())
}
