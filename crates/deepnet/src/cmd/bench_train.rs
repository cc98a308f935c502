//! `deepnet bench mlp-train` (and `lenet-train`, `cifar-train`, `lstm-train`, `gru-train`):
//! training throughput of a model on one fixed random batch: forward, softmax cross-entropy,
//! backward, SGD momentum step, loss read back each step. `tools/bench/torch_train.py --model mlp` runs the same step in PyTorch.
//! `lenet-infer` times the forward pass alone (eval mode, no graph; `torch_train.py --infer`).

use deepnet::models::{Mlp, MlpConfig};
use deepnet::nn::loss::{cross_entropy, Reduction};
use deepnet::nn::optim::{Optimizer, Sgd, SgdConfig};
use deepnet::nn::{Module, ParamStore};
use deepnet::tensor::{DType, Generator, Tensor};
use std::time::Instant;

/// Measured throughput of one benchmark run.
pub struct TrainBench {
    pub steps: usize,
    pub seconds: f64,
    pub images_per_sec: f64,
    pub last_loss: f64,
}

/// Runs warm-up steps of the MLP, then steps for about `seconds`.
pub fn mlp_train(batch: usize, seconds: f64) -> Result<TrainBench, String> {
    let store = ParamStore::new(0);
    let model = Mlp::new(&MlpConfig::mnist(), &store.root()).map_err(|e| e.to_string())?;
    train_steps(&model, &store, &[784], batch, seconds)
}

/// The same measurement for a zoo model (`lenet5` on 1x28x28, `small_cnn` on 3x32x32).
pub fn conv_train(
    name: &str,
    input: &[usize],
    batch: usize,
    seconds: f64,
) -> Result<TrainBench, String> {
    let store = ParamStore::new(0);
    let model = deepnet::models::build_conv_model(name, input, 10, &store.root())
        .map_err(|e| e.to_string())?;
    train_steps(model.as_ref(), &store, input, batch, seconds)
}

/// Inference throughput of a zoo model on one fixed random batch: eval mode, no graph, the
/// forward pass and the cross-entropy of its logits (read back each step), repeated: 10
/// warm-up steps, then at least `seconds` (and 5 steps).
pub fn conv_infer(
    name: &str,
    input: &[usize],
    batch: usize,
    seconds: f64,
) -> Result<TrainBench, String> {
    let err = |e: deepnet::tensor::Error| e.to_string();
    let (x, y) = fixed_batch(input, batch)?;
    let store = ParamStore::new(0);
    let model = deepnet::models::build_conv_model(name, input, 10, &store.root()).map_err(err)?;
    model.set_training(false);
    let _guard = deepnet::tensor::no_grad();
    let step = || cross_entropy(&model.forward(&x)?, &y, Reduction::Mean)?.item();
    timed(step, batch, seconds).map_err(err)
}

/// The benchmarks' fixed random batch: `x: (batch, *input)` uniform in [0, 1), labels in 0..10.
fn fixed_batch(input: &[usize], batch: usize) -> Result<(Tensor, Tensor), String> {
    let err = |e: deepnet::tensor::Error| e.to_string();
    if batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let mut g = Generator::new(1);
    let mut shape = vec![batch];
    shape.extend_from_slice(input);
    let x = Tensor::rand(shape, DType::F32, &mut g).map_err(err)?;
    let y = Tensor::randint(0, 10, [batch], &mut g).map_err(err)?;
    Ok((x, y))
}

/// Runs `step` 10 times to warm up, then for at least `seconds` (and 5 steps).
fn timed(
    mut step: impl FnMut() -> Result<f64, deepnet::tensor::Error>,
    batch: usize,
    seconds: f64,
) -> Result<TrainBench, deepnet::tensor::Error> {
    for _ in 0..10 {
        step()?;
    }
    let t0 = Instant::now();
    let mut steps = 0;
    let mut last_loss = 0.0;
    while t0.elapsed().as_secs_f64() < seconds || steps < 5 {
        last_loss = step()?;
        steps += 1;
    }
    let dt = t0.elapsed().as_secs_f64();
    Ok(TrainBench {
        steps,
        seconds: dt,
        images_per_sec: (steps * batch) as f64 / dt,
        last_loss,
    })
}

/// The same measurement for a zoo recurrent classifier (`lstm`, `gru`, `rnn`: one layer,
/// hidden 128) reading a 1x28x28 image as 28 steps of 28 features.
pub fn recurrent_train(name: &str, batch: usize, seconds: f64) -> Result<TrainBench, String> {
    let store = ParamStore::new(0);
    let input = [1, 28, 28];
    let model = deepnet::models::build_recurrent_model(name, &input, 10, &store.root())
        .map_err(|e| e.to_string())?;
    train_steps(model.as_ref(), &store, &input, batch, seconds)
}

/// Forward, cross-entropy, backward and an SGD momentum step on one fixed random batch of
/// `(batch, *input)`, repeated: 10 warm-up steps, then at least `seconds` (and 5 steps).
fn train_steps(
    model: &dyn Module,
    store: &ParamStore,
    input: &[usize],
    batch: usize,
    seconds: f64,
) -> Result<TrainBench, String> {
    let err = |e: deepnet::tensor::Error| e.to_string();
    let (x, y) = fixed_batch(input, batch)?;
    let mut opt = Sgd::new(SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        ..Default::default()
    })
    .map_err(err)?;
    let params = store.trainable();
    let step = || -> Result<f64, deepnet::tensor::Error> {
        let loss = cross_entropy(&model.forward(&x)?, &y, Reduction::Mean)?;
        let grads = loss.backward()?;
        opt.step(&params, &grads)?;
        loss.item()
    };
    timed(step, batch, seconds).map_err(err)
}
