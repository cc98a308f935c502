//! Tests of the convolutional VAE: PyTorch's keys and the parameter count, the shapes of the
//! codes, logits and samples, f64 gradient checks of the encoder and the decoder, a few steps on
//! a fixed batch lowering the negative ELBO, and bad shapes named.

use super::*;
use crate::vae::{latent_walk, negative_elbo, sample_prior};
use deepnet_nn::optim::{Adam, AdamConfig, Optimizer};
use deepnet_nn::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::Generator;

fn tiny() -> ConvVaeConfig {
    ConvVaeConfig {
        sample_shape: vec![1, 8, 8],
        channels: (2, 3),
        hidden: 5,
        latent: 2,
    }
}

#[test]
fn the_mnist_model_has_pytorch_keys_its_count_and_shapes() {
    let store = ParamStore::new(0);
    let vae = ConvVae::new(&ConvVaeConfig::default(), &store.root()).unwrap();
    let keys = store.keys();
    for k in [
        "encoder.0.weight",
        "encoder.2.bias",
        "encoder.5.weight",
        "fc_mu.weight",
        "fc_logvar.bias",
        "decoder_input.0.weight",
        "decoder_input.2.bias",
        "decoder.0.weight",
        "decoder.2.bias",
    ] {
        assert!(keys.iter().any(|x| x == k), "no {k} in {keys:?}");
    }
    assert_eq!(keys.len(), 18);
    let params: usize = store.trainable().iter().map(|(_, t)| t.numel()).sum();
    assert_eq!(params, 1_691_369);
    // the transposed convolutions' weights are (in, out, kH, kW), as PyTorch's
    let w = store
        .trainable()
        .into_iter()
        .find(|(k, _)| k == "decoder.0.weight");
    assert_eq!(w.unwrap().1.dims(), [64, 32, 4, 4]);
    let x = seeded([3, 1, 28, 28], 1)
        .to_f32()
        .unwrap()
        .sigmoid()
        .unwrap();
    let (mu, log_var) = vae.encode(&x).unwrap();
    assert_eq!(
        (mu.dims(), log_var.dims()),
        ([3, 20].as_slice(), [3, 20].as_slice())
    );
    assert_eq!(vae.decode(&mu).unwrap().dims(), [3, 1, 28, 28]);
    assert_eq!(vae.forward(&x).unwrap().dims(), [3, 1, 28, 28]);
    let s = sample_prior(&vae, 4, &mut Generator::new(2)).unwrap();
    assert_eq!(s.dims(), [4, 1, 28, 28]);
    assert!(s.to_vec_f64().iter().all(|v| (0.0..=1.0).contains(v)));
    let walk = latent_walk(
        &vae,
        &x.narrow(0, 0, 1).unwrap(),
        &x.narrow(0, 1, 1).unwrap(),
        5,
    );
    assert_eq!(walk.unwrap().dims(), [5, 1, 28, 28]);
}

#[test]
fn gradchecks_of_the_encoder_and_the_decoder() {
    let store = ParamStore::with_dtype(3, deepnet_tensor::DType::F64);
    let vae = ConvVae::new(&tiny(), &store.root()).unwrap();
    // mu and log_var both depend on the input: check them as one output
    gradcheck(
        "conv_vae encode",
        |x| {
            let (mu, log_var) = vae.encode(&x[0])?;
            mu.add(&log_var.mul_scalar(0.5)?)
        },
        &[seeded([2, 1, 8, 8], 1)],
    )
    .unwrap();
    gradcheck(
        "conv_vae decode",
        |z| vae.decode(&z[0]),
        &[seeded([2, 2], 2)],
    )
    .unwrap();
}

#[test]
fn a_few_steps_on_a_fixed_batch_lower_the_negative_elbo() {
    let store = ParamStore::new(5);
    let cfg = ConvVaeConfig {
        hidden: 16,
        channels: (4, 8),
        ..tiny()
    };
    let vae = ConvVae::new(&cfg, &store.root()).unwrap();
    // a bright 4x4 square on a dark field: far from a coin per pixel, so there is much to learn
    let px: Vec<f32> = (0..8 * 64)
        .map(|i| {
            let (r, c) = ((i % 64) / 8, i % 8);
            if (2..6).contains(&r) && (2..6).contains(&c) {
                0.95
            } else {
                0.05
            }
        })
        .collect();
    let x = Tensor::from_slice(&px, [8, 1, 8, 8]).unwrap();
    // the same noise for every evaluation, so only the parameters change the value
    let nelbo = || {
        negative_elbo(&vae, &x, &mut Generator::new(6))
            .unwrap()
            .loss
    };
    let before = nelbo().item().unwrap();
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-2,
        ..Default::default()
    })
    .unwrap();
    for _ in 0..5 {
        let grads = nelbo().backward().unwrap();
        opt.step(&store.trainable(), &grads).unwrap();
    }
    let after = nelbo().item().unwrap();
    // 64 pixels: a coin per pixel is 64 ln 2 = 44 nats
    assert!(after < before - 1.0, "{before} -> {after}");
}

#[test]
fn bad_shapes_are_named() {
    let store = ParamStore::new(0);
    let bad = |cfg: ConvVaeConfig| ConvVae::new(&cfg, &store.root()).err().unwrap().to_string();
    let e = bad(ConvVaeConfig {
        sample_shape: vec![1, 10, 8],
        ..tiny()
    });
    assert!(
        e.contains("conv_vae") && e.contains("[1, 10, 8]") && e.contains("multiples of 4"),
        "{e}"
    );
    let e = bad(ConvVaeConfig {
        sample_shape: vec![64],
        ..tiny()
    });
    assert!(e.contains("(C, H, W)"), "{e}");
    let e = bad(ConvVaeConfig {
        latent: 65,
        ..tiny()
    });
    assert!(
        e.contains("code size 65") && e.contains("larger than the input"),
        "{e}"
    );
    let vae = ConvVae::new(&tiny(), &ParamStore::new(0).root()).unwrap();
    let e = vae.encode(&seeded([2, 64], 0)).err().unwrap().to_string();
    assert!(e.contains("[2, 64]") && e.contains("[1, 8, 8]"), "{e}");
    let e = vae.decode(&seeded([2, 3], 0)).err().unwrap().to_string();
    assert!(e.contains("[2, 3]") && e.contains("(N, 2)"), "{e}");
}
