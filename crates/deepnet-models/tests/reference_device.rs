//! Whole models on the reference device: a LeNet-5 and an LSTM classifier built in a store on
//! `Device::Reference` start from the same numbers as on the CPU, and one training step
//! (forward, cross-entropy, backward, SGD with momentum) gives the same loss, gradients and
//! updated weights on both devices. Every op a model uses therefore runs on the reference
//! backend, and the fast CPU kernels agree with it end to end, not only op by op.

use deepnet_models::{LeNet5, LeNet5Config, RecurrentClassifier, RecurrentClassifierConfig};
use deepnet_nn::loss::{cross_entropy, Reduction};
use deepnet_nn::optim::{Optimizer, Sgd, SgdConfig};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{DType, Device, Generator, Result, Tensor};

/// One parameter after a step: its name, its gradient and its updated value, on the host.
type Stepped = (String, Vec<f64>, Vec<f64>);

/// Loss, then every parameter's gradient and its value after one SGD step, in registration
/// order (as host f64 vectors), for a model built by `build` in a store on `device`.
fn one_step(
    device: Device,
    build: &dyn Fn(&ParamStore) -> Result<Box<dyn Module>>,
    input: &[usize],
) -> Result<(f64, Vec<Stepped>)> {
    let store = ParamStore::new(7).on_device(device);
    let model = build(&store)?;
    let mut g = Generator::new(3);
    let x = Tensor::rand(input.to_vec(), DType::F32, &mut g)?.to_device(device)?;
    let y = Tensor::randint(0, 10, [input[0]], &mut g)?.to_device(device)?;
    let loss = cross_entropy(&model.forward(&x)?, &y, Reduction::Mean)?;
    let grads = loss.backward()?;
    let params = store.trainable();
    let mut opt = Sgd::new(SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..Default::default()
    })?;
    let gs: Vec<Vec<f64>> = params
        .iter()
        .map(|(_, p)| {
            grads
                .get(p)
                .expect("every parameter gets a gradient")
                .to_vec_f64()
        })
        .collect();
    opt.step(&params, &grads)?;
    for (name, p) in &params {
        assert_eq!(p.device(), device, "{name} stays on its device");
    }
    let out = params
        .iter()
        .zip(gs)
        .map(|((n, p), g)| (n.clone(), g, p.to_vec_f64()))
        .collect();
    Ok((loss.item()?, out))
}

/// The worst `|a - b| / (1 + |b|)` over two vectors.
fn worst(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f64::max)
}

/// Runs `build` on both devices and compares; `tol` is relative to `1 + |reference|` (f32 sums in
/// another order, and the CPU's vectorized exp, differ from the reference's f64 by a few ulp).
fn same_step_on_both(build: &dyn Fn(&ParamStore) -> Result<Box<dyn Module>>, input: &[usize]) {
    let tol = 1e-4;
    let (l_cpu, cpu) = one_step(Device::Cpu, build, input).unwrap();
    let (l_ref, reference) = one_step(Device::Reference, build, input).unwrap();
    assert!(
        (l_cpu - l_ref).abs() <= tol * (1.0 + l_ref.abs()),
        "loss: cpu {l_cpu}, reference {l_ref}"
    );
    assert_eq!(cpu.len(), reference.len());
    for ((name, g_cpu, w_cpu), (_, g_ref, w_ref)) in cpu.iter().zip(&reference) {
        let (dg, dw) = (worst(g_cpu, g_ref), worst(w_cpu, w_ref));
        assert!(dg <= tol, "{name}: gradients differ by {dg:e}");
        assert!(dw <= tol, "{name}: updated weights differ by {dw:e}");
    }
}

#[test]
fn lenet5_trains_the_same_on_the_reference_device() {
    same_step_on_both(
        &|s: &ParamStore| {
            let m = LeNet5::new(&LeNet5Config::default(), &s.root())?;
            Ok(Box::new(m) as Box<dyn Module>)
        },
        &[4, 1, 28, 28],
    );
}

#[test]
fn lstm_classifier_trains_the_same_on_the_reference_device() {
    same_step_on_both(
        &|s: &ParamStore| {
            let cfg = RecurrentClassifierConfig {
                hidden_size: 16,
                ..RecurrentClassifierConfig::default()
            };
            let m = RecurrentClassifier::new(&cfg, &s.root())?;
            Ok(Box::new(m) as Box<dyn Module>)
        },
        &[3, 1, 28, 28],
    );
}

/// Batch norm (running statistics and its step counter written in place) and dropout (masks drawn
/// on the host from the store's generator, the same on both devices) in training mode.
#[test]
fn batch_norm_and_dropout_train_the_same_on_the_reference_device() {
    same_step_on_both(
        &|s: &ParamStore| {
            let spec =
                deepnet_models::ArchSpec::parse("conv4k3p1,bn,relu,maxpool2,dropout0.3,fc10")?;
            let m = deepnet_models::arch::build(&spec, &[1, 8, 8], &s.root())?;
            Ok(Box::new(m) as Box<dyn Module>)
        },
        &[5, 1, 8, 8],
    );
}

#[test]
fn a_store_puts_parameters_and_buffers_on_its_device() {
    let store = ParamStore::new(0).on_device(Device::Reference);
    assert_eq!(store.device(), Device::Reference);
    let pb = store.root();
    let w = pb
        .param("w", [2, 3], deepnet_nn::Init::Constant(0.5))
        .unwrap();
    let b = pb
        .buffer("running", Tensor::zeros([3], DType::F32).unwrap())
        .unwrap();
    assert_eq!(w.device(), Device::Reference);
    assert!(w.is_leaf() && w.requires_grad());
    assert_eq!(b.device(), Device::Reference);
    assert_eq!(store.get("running").unwrap().device(), Device::Reference);
}
