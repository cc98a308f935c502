//! A two-dimensional LSTM (Graves, Fernández and Schmidhuber 2007) classifying MNIST: 4x4
//! patches (a 7x7 grid), four 2-D LSTM scans of 32 states each, one from every corner, and a
//! linear head on the flattened states (`MdLstmClassifier`).
//!
//! ```text
//! cargo run --release -p deepnet --example md_lstm_mnist [-- --epochs N --hidden N --pool mean|flatten --train N]
//! ```
//!
//! Trains with Adam (lr 1e-3, batch 64, gradient norm clipped at 1) on the MNIST shipped in
//! `data/mnist` and prints the test accuracy on the 10,000 test images after every epoch, with
//! the wall time of training alone.

use deepnet::data::{DataLoader, Dataset, InMemoryDataset, Mnist, Split};
use deepnet::models::md_lstm::{MdLstmClassifier, MdLstmClassifierConfig, MdPooling};
use deepnet::nn::loss::cross_entropy;
use deepnet::nn::optim::{Adam, AdamConfig};
use deepnet::nn::regularize::clip_grad_norm_;
use deepnet::prelude::*;
use deepnet::train::metrics::accuracy;
use std::sync::Arc;
use std::time::Instant;

struct Settings {
    epochs: usize,
    hidden: usize,
    pooling: MdPooling,
    train: usize,
}

fn settings() -> Result<Settings> {
    let mut s = Settings {
        epochs: 2,
        hidden: 32,
        pooling: MdPooling::Flatten,
        train: 60_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let (flag, value) = (&pair[0], pair.get(1).map(String::as_str).unwrap_or(""));
        let num = || {
            value
                .parse::<usize>()
                .map_err(|_| Error::msg(format!("{flag}: expected a whole number, got {value:?}")))
        };
        match flag.as_str() {
            "--epochs" => s.epochs = num()?,
            "--hidden" => s.hidden = num()?,
            "--train" => s.train = num()?,
            "--pool" => {
                s.pooling = match value {
                    "mean" => MdPooling::Mean,
                    "flatten" => MdPooling::Flatten,
                    _ => {
                        return Err(Error::msg(format!(
                            "--pool: mean or flatten, got {value:?}"
                        )))
                    }
                }
            }
            _ => return Err(Error::msg(format!("unknown flag {flag}"))),
        }
    }
    Ok(s)
}

fn load(split: Split) -> Result<InMemoryDataset> {
    Mnist::load(Mnist::shipped_dir(), split).map_err(|e| Error::msg(e.to_string()))
}

fn evaluate(model: &MdLstmClassifier, test: &InMemoryDataset) -> Result<f64> {
    let _g = no_grad();
    let loader =
        DataLoader::new(Arc::new(test.clone()), 1000).map_err(|e| Error::msg(e.to_string()))?;
    let (mut right, mut total) = (0.0, 0usize);
    for batch in loader.iter_epoch(0) {
        let (x, y) = batch.map_err(|e| Error::msg(e.to_string()))?;
        let n = y.numel();
        right += accuracy(&model.forward(&x)?, &y)? * n as f64;
        total += n;
    }
    Ok(right / total as f64)
}

fn main() -> Result<()> {
    let s = settings()?;
    let train = load(Split::Train)?;
    let train = if s.train < train.len() {
        train.take(s.train)
    } else {
        train
    };
    let test = load(Split::Test)?;
    let store = ParamStore::new(0);
    let cfg = MdLstmClassifierConfig {
        hidden_size: s.hidden,
        pooling: s.pooling,
        ..Default::default()
    };
    let model = MdLstmClassifier::new(&cfg, &store.root())?;
    println!(
        "md_lstm on MNIST: {}x{} patches, hidden {} per direction, {:?} head, {} parameters, {} training images",
        cfg.patch_size.0,
        cfg.patch_size.1,
        cfg.hidden_size,
        cfg.pooling,
        store.num_params(),
        train.len()
    );
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-3,
        ..Default::default()
    })?;
    let params = store.trainable();
    let tensors: Vec<Tensor> = params.iter().map(|(_, t)| t.clone()).collect();
    let loader = DataLoader::new(Arc::new(train), 64)
        .map_err(|e| Error::msg(e.to_string()))?
        .shuffle(true)
        .seed(1);
    let mut train_s = 0.0;
    for epoch in 0..s.epochs {
        let t0 = Instant::now();
        let (mut sum, mut count) = (0.0, 0);
        for (i, batch) in loader.iter_epoch(epoch as u64).enumerate() {
            let (x, y) = batch.map_err(|e| Error::msg(e.to_string()))?;
            let loss = cross_entropy(&model.forward(&x)?, &y, Reduction::Mean)?;
            let mut grads = loss.backward()?;
            clip_grad_norm_(&mut grads, &tensors, 1.0)?;
            opt.step(&params, &grads)?;
            sum += loss.item()?;
            count += 1;
            if (i + 1) % 200 == 0 {
                println!(
                    "  epoch {} step {:4}: mean loss {:.4} ({:.1} s)",
                    epoch + 1,
                    i + 1,
                    sum / count as f64,
                    t0.elapsed().as_secs_f64()
                );
                (sum, count) = (0.0, 0);
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        train_s += secs;
        let acc = evaluate(&model, &test)?;
        println!(
            "epoch {}: test accuracy {:.2}% (epoch trained in {secs:.1} s)",
            epoch + 1,
            100.0 * acc
        );
    }
    println!("total training time {train_s:.1} s");
    Ok(())
}
