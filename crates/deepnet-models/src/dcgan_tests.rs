//! Tests of the DCGAN: PyTorch's keys and the parameter counts, the shapes through both
//! networks, f64 gradient checks of the layer stacks, one adversarial step of each network
//! lowering its loss on a fixed batch, and bad shapes named.

use super::*;
use crate::gan::{discriminator_loss, generator_loss, to_tanh_range, GeneratorLoss};
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::{DType, Generator};

/// A DCGAN small enough for gradient checks: 1x8x8 images, 3 channels per layer.
fn tiny() -> DcganConfig {
    DcganConfig {
        latent: 3,
        sample_shape: vec![1, 8, 8],
        generator_channels: (3, 2),
        discriminator_channels: (2, 3),
        negative_slope: 0.2,
    }
}

fn count(store: &ParamStore, prefix: &str) -> usize {
    store
        .trainable()
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, t)| t.numel())
        .sum()
}

#[test]
fn the_mnist_pair_has_pytorch_keys_counts_and_shapes() {
    let store = ParamStore::new(0);
    let gan = Gan::dcgan(&DcganConfig::default(), &store.root()).unwrap();
    let keys = store.keys();
    for k in [
        "generator.fc.weight",
        "generator.main.0.running_mean",
        "generator.main.0.num_batches_tracked",
        "generator.main.2.weight",
        "generator.main.3.bias",
        "generator.main.5.bias",
        "discriminator.main.0.bias",
        "discriminator.main.2.weight",
        "discriminator.main.3.running_var",
        "discriminator.main.6.weight",
    ] {
        assert!(keys.iter().any(|x| x == k), "no {k} in {keys:?}");
    }
    // the layers before batch norm have no bias
    for k in [
        "generator.fc.bias",
        "generator.main.2.bias",
        "discriminator.main.2.bias",
    ] {
        assert!(!keys.iter().any(|x| x == k), "{k} should not exist");
    }
    // G: 100*64*49 + 2*64 + 64*32*16 + 2*32 + 32*1*16 + 1
    assert_eq!(count(&store, "generator."), 347_073);
    // D: 1*32*16 + 32 + 32*64*16 + 2*64 + 64*49 + 1
    assert_eq!(count(&store, "discriminator."), 36_577);
    let z = gan.codes(3, &mut Generator::new(0)).unwrap();
    let x = gan.generate(&z).unwrap();
    assert_eq!(x.dims(), [3, 1, 28, 28]);
    assert!(x.to_vec_f64().iter().all(|v| (-1.0..=1.0).contains(v)));
    assert_eq!(gan.discriminator.forward(&x).unwrap().dims(), [3, 1]);
    assert_eq!(gan.discriminate(&x).unwrap().dims(), [3]);
    gan.set_training(false);
    let s = gan.sample(2, &mut Generator::new(1)).unwrap();
    assert_eq!(s.dims(), [2, 1, 28, 28]);
    assert!(s.to_vec_f64().iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn gradchecks_of_the_generator_and_the_discriminator() {
    // f64 parameters, training mode (batch statistics): the whole stacks, fc/reshape/batch
    // norm/transposed convolutions and convolutions/batch norm/flatten/linear, against central
    // differences in the inputs
    let store = ParamStore::with_dtype(4, DType::F64);
    let gan = Gan::dcgan(&tiny(), &store.root()).unwrap();
    gradcheck(
        "dcgan generator",
        |x| gan.generator.forward(&x[0]),
        &[seeded([3, 3], 1)],
    )
    .unwrap();
    gradcheck(
        "dcgan discriminator",
        |x| gan.discriminator.forward(&x[0]),
        &[seeded([3, 1, 8, 8], 2)],
    )
    .unwrap();
}

fn adam(lr: f64) -> Adam {
    Adam::new(AdamConfig {
        lr,
        betas: (0.5, 0.999),
        ..Default::default()
    })
    .unwrap()
}

fn under(store: &ParamStore, path: &str) -> Vec<(String, Tensor)> {
    let prefix = format!("{path}.");
    store
        .trainable()
        .into_iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect()
}

#[test]
fn one_adversarial_step_lowers_each_networks_loss_on_a_fixed_batch() {
    let store = ParamStore::new(7);
    let cfg = DcganConfig {
        sample_shape: vec![1, 12, 12],
        latent: 8,
        generator_channels: (8, 4),
        discriminator_channels: (4, 8),
        negative_slope: 0.2,
    };
    let gan = Gan::dcgan(&cfg, &store.root()).unwrap();
    // "real" images: a bright square on a dark field, in [0, 1]
    let mut px = vec![0f32; 16 * 144];
    for (i, v) in px.iter_mut().enumerate() {
        let (r, c) = ((i % 144) / 12, i % 12);
        if (3..9).contains(&r) && (3..9).contains(&c) {
            *v = 0.9;
        }
    }
    let real = to_tanh_range(&Tensor::from_slice(&px, [16, 1, 12, 12]).unwrap()).unwrap();
    let z = gan.codes(16, &mut Generator::new(3)).unwrap();
    let d_loss = || {
        let fake = gan.generate(&z).unwrap().detach();
        discriminator_loss(
            &gan.discriminate(&real).unwrap(),
            &gan.discriminate(&fake).unwrap(),
        )
        .unwrap()
    };
    let g_loss = || {
        generator_loss(
            &gan.discriminate(&gan.generate(&z).unwrap()).unwrap(),
            GeneratorLoss::NonSaturating,
        )
        .unwrap()
    };
    // the discriminator's step: only its parameters move, and its loss falls
    let (d_before, g_params_before) = (d_loss(), under(&store, "generator")[0].1.to_vec_f64());
    let grads = d_before.backward().unwrap();
    adam(1e-2)
        .step(&under(&store, "discriminator"), &grads)
        .unwrap();
    let d_after = d_loss().item().unwrap();
    let d_before = d_before.item().unwrap();
    assert!(d_after < d_before - 1e-3, "{d_before} -> {d_after}");
    assert_eq!(
        under(&store, "generator")[0].1.to_vec_f64(),
        g_params_before
    );
    // the generator's step against the updated discriminator: its loss falls
    let g_before = g_loss();
    let grads = g_before.backward().unwrap();
    adam(1e-2)
        .step(&under(&store, "generator"), &grads)
        .unwrap();
    let (g_before, g_after) = (g_before.item().unwrap(), g_loss().item().unwrap());
    assert!(g_after < g_before - 1e-3, "{g_before} -> {g_after}");
}

#[test]
fn bad_shapes_are_named() {
    let store = ParamStore::new(0);
    let bad = |cfg: DcganConfig| Gan::dcgan(&cfg, &store.root()).err().unwrap().to_string();
    let e = bad(DcganConfig {
        sample_shape: vec![1, 30, 30],
        ..tiny()
    });
    assert!(
        e.contains("dcgan") && e.contains("[1, 30, 30]") && e.contains("multiples of 4"),
        "{e}"
    );
    let e = bad(DcganConfig {
        sample_shape: vec![28, 28],
        ..tiny()
    });
    assert!(e.contains("(channels, H, W)"), "{e}");
    let e = bad(DcganConfig {
        generator_channels: (0, 2),
        ..tiny()
    });
    assert!(e.contains("(0, 2)") && e.contains("at least 1"), "{e}");
    let gan = Gan::dcgan(&tiny(), &ParamStore::new(0).root()).unwrap();
    let e = gan
        .discriminator
        .forward(&Tensor::zeros([2, 1, 9, 8], DType::F32).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("[2, 1, 9, 8]") && e.contains("[1, 8, 8]"), "{e}");
    let e = gan
        .generator
        .forward(&Tensor::zeros([2, 4], DType::F32).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("[2, 4]") && e.contains("(N, 3)"), "{e}");
}
