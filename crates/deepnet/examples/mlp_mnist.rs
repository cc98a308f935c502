//! The canon's first network, written with the library alone: a 784-256-128-10 ReLU MLP trained
//! on the MNIST shipped in `data/mnist` by minibatch SGD with momentum and softmax
//! cross-entropy, with the training loop spelled out (forward, loss, backward, step).
//!
//! ```text
//! cargo run --release -p deepnet --example mlp_mnist
//! ```
//!
//! About 97% test accuracy after 3 epochs (97.27% measured), a few seconds per epoch on 2 cores.

use deepnet::data::{DataLoader, Dataset, Mnist, Split};
use deepnet::nn::layers::{Flatten, Linear, ReLU, Sequential};
use deepnet::nn::loss::cross_entropy;
use deepnet::nn::optim::{Sgd, SgdConfig};
use deepnet::prelude::*;
use std::sync::Arc;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // images (N, 1, 28, 28) in [0, 1], labels in 0..10
    let train: Arc<dyn Dataset> = Arc::new(Mnist::load(Mnist::shipped_dir(), Split::Train)?);
    let test: Arc<dyn Dataset> = Arc::new(Mnist::load(Mnist::shipped_dir(), Split::Test)?);

    // parameters live in a store under PyTorch's names: layers.1.weight, layers.1.bias, ...
    let store = ParamStore::new(0);
    let pb = store.root().push("layers");
    let mut net = Sequential::new(&pb);
    net.push(Flatten::new(1, -1));
    net.push(Linear::new(784, 256, true, &pb.push(1))?);
    net.push(ReLU);
    net.push(Linear::new(256, 128, true, &pb.push(3))?);
    net.push(ReLU);
    net.push(Linear::new(128, 10, true, &pb.push(5))?);
    println!("{} parameters", store.num_params());

    let mut opt = Sgd::new(SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..Default::default()
    })?;
    let loader = DataLoader::new(train, 64)?.shuffle(true).seed(1);
    for epoch in 0..3 {
        net.set_training(true);
        let (mut total, mut batches) = (0.0, 0);
        for batch in loader.iter_epoch(epoch) {
            let (x, y) = batch?;
            let loss = cross_entropy(&net.forward(&x)?, &y, Reduction::Mean)?;
            let grads = loss.backward()?;
            opt.step(&store.trainable(), &grads)?;
            total += loss.item()?;
            batches += 1;
        }
        println!(
            "epoch {}: train loss {:.4}, test accuracy {:.2}%",
            epoch + 1,
            total / batches as f64,
            100.0 * accuracy(&net, &test)?
        );
    }
    Ok(())
}

/// The share of `data` whose largest logit is at the label, without a graph.
fn accuracy(
    net: &dyn Module,
    data: &Arc<dyn Dataset>,
) -> std::result::Result<f64, Box<dyn std::error::Error>> {
    let _g = no_grad();
    net.set_training(false);
    let mut correct = 0;
    for batch in DataLoader::new(data.clone(), 1000)?.iter_epoch(0) {
        let (x, y) = batch?;
        correct += deepnet::train::correct_count(&net.forward(&x)?, &y)?;
    }
    Ok(correct as f64 / data.len() as f64)
}
