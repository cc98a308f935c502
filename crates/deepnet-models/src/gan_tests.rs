//! Tests of the GAN pieces: the MLP pair's keys and counts, the losses by hand and by f64
//! gradient checks (with the saturation the non-saturating loss avoids), sampling and errors.

use super::*;
use deepnet_nn::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};

fn t(v: &[f64]) -> Tensor {
    Tensor::from_slice(v, [v.len()]).unwrap()
}

#[test]
fn the_mlp_pair_has_its_keys_and_counts() {
    let store = ParamStore::new(0);
    let gan = Gan::mlp(&MlpGanConfig::default(), &store.root()).unwrap();
    let keys = store.keys();
    let g: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("generator."))
        .collect();
    assert_eq!(g[0], "generator.main.0.weight");
    assert_eq!(g[7], "generator.main.6.bias");
    let d: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("discriminator."))
        .collect();
    // LeakyReLU and Dropout after each hidden Linear: 0, 3, 6, 9
    assert_eq!(d[6], "discriminator.main.9.weight");
    let count = |p: &str| -> usize {
        store
            .all_params()
            .iter()
            .filter(|(k, _)| k.starts_with(p))
            .map(|(_, t)| t.numel())
            .sum()
    };
    assert_eq!(count("generator."), 1_486_352);
    assert_eq!(count("discriminator."), 1_460_225);
    assert_eq!(
        (gan.generator_path(), gan.discriminator_path()),
        ("generator", "discriminator")
    );
    let z = gan.codes(3, &mut Generator::new(0)).unwrap();
    let x = gan.generate(&z).unwrap();
    assert_eq!(x.dims(), [3, 1, 28, 28]);
    assert!(x.to_vec_f64().iter().all(|v| (-1.0..=1.0).contains(v)));
    assert_eq!(gan.discriminate(&x).unwrap().dims(), [3]);
    let s = gan.sample(4, &mut Generator::new(1)).unwrap();
    assert_eq!(s.dims(), [4, 1, 28, 28]);
    assert!(s.to_vec_f64().iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn losses_by_hand() {
    let ln2 = 2f64.ln();
    let zero = t(&[0.0, 0.0]);
    // D(x) = 1/2 on both halves: -log(1/2) - log(1 - 1/2) = 2 ln 2
    let d = discriminator_loss(&zero, &t(&[0.0]))
        .unwrap()
        .item()
        .unwrap();
    assert!((d - 2.0 * ln2).abs() < 1e-12);
    // real logit 2, fake logit -1: softplus(-2) + softplus(-1)
    let sp = |x: f64| (1.0 + x.exp()).ln();
    let d = discriminator_loss(&t(&[2.0]), &t(&[-1.0]))
        .unwrap()
        .item()
        .unwrap();
    assert!((d - (sp(-2.0) + sp(-1.0))).abs() < 1e-12);
    let ns = generator_loss(&zero, GeneratorLoss::NonSaturating).unwrap();
    let mm = generator_loss(&zero, GeneratorLoss::Minimax).unwrap();
    assert!((ns.item().unwrap() - ln2).abs() < 1e-12);
    assert!((mm.item().unwrap() + ln2).abs() < 1e-12);
    // logits (N, 1) work as (N,)
    let col = Tensor::from_slice(&[0.0f64, 0.0], [2, 1]).unwrap();
    let d = discriminator_loss(&col, &col).unwrap().item().unwrap();
    assert!((d - 2.0 * ln2).abs() < 1e-12);
}

#[test]
fn the_minimax_loss_saturates_where_the_non_saturating_one_does_not() {
    // D rejects the fake with confidence: logit -6, D(G(z)) = 0.0025
    let grad = |kind| {
        let l = t(&[-6.0]).requires_grad_(true).unwrap();
        let g = generator_loss(&l, kind).unwrap().backward().unwrap();
        g.get(&l).unwrap().item().unwrap()
    };
    let s = 1.0 / (1.0 + 6f64.exp());
    // d/dl -log sigmoid(l) = sigmoid(l) - 1; d/dl -softplus(l) = -sigmoid(l)
    assert!((grad(GeneratorLoss::NonSaturating) - (s - 1.0)).abs() < 1e-12);
    assert!((grad(GeneratorLoss::Minimax) + s).abs() < 1e-12);
    assert!(grad(GeneratorLoss::NonSaturating).abs() > 100.0 * grad(GeneratorLoss::Minimax).abs());
}

#[test]
fn gradchecks_of_the_losses() {
    let (r, f) = (seeded([4], 1).mul_scalar(2.0).unwrap(), seeded([3, 1], 2));
    gradcheck(
        "discriminator_loss",
        |x| discriminator_loss(&x[0], &x[1]),
        &[r, f.clone()],
    )
    .unwrap();
    for kind in [GeneratorLoss::NonSaturating, GeneratorLoss::Minimax] {
        gradcheck(
            "generator_loss",
            |x| generator_loss(&x[0], kind),
            std::slice::from_ref(&f),
        )
        .unwrap();
    }
    gradcheck(
        "from_tanh_range",
        |x| from_tanh_range(&x[0]),
        &[seeded([5], 3).mul_scalar(0.5).unwrap()],
    )
    .unwrap();
}

#[test]
fn ranges_round_trip() {
    let x = t(&[0.0, 0.25, 1.0]);
    assert_eq!(to_tanh_range(&x).unwrap().to_vec_f64(), [-1.0, -0.5, 1.0]);
    let back = from_tanh_range(&to_tanh_range(&x).unwrap()).unwrap();
    assert_eq!(back.to_vec_f64(), x.to_vec_f64());
    assert_eq!(
        from_tanh_range(&t(&[-3.0, 3.0])).unwrap().to_vec_f64(),
        [0.0, 1.0]
    );
}

#[test]
fn bad_codes_shapes_and_sizes_are_named() {
    let store = ParamStore::new(0);
    let cfg = MlpGanConfig {
        latent: 4,
        sample_shape: vec![1, 2, 3],
        generator_hidden: vec![8],
        discriminator_hidden: vec![8],
        ..Default::default()
    };
    let gan = Gan::mlp(&cfg, &store.root()).unwrap();
    let e = gan
        .generate(&seeded([2, 5], 0).to_f32().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("(N, 4)") && e.contains("[2, 5]"), "{e}");
    let e = gan
        .discriminate(&seeded([2, 7], 0).to_f32().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("6-pixel") && e.contains("[2, 7]"), "{e}");
    let e = gan
        .sample(0, &mut Generator::new(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("0 samples"), "{e}");
    let bad = MlpGanConfig {
        generator_hidden: vec![8, 0],
        ..cfg.clone()
    };
    let e = Gan::mlp(&bad, &ParamStore::new(0).root())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("generator") && e.contains("[4, 8, 0, 6]"), "{e}");
    let bad = MlpGanConfig { latent: 0, ..cfg };
    let e = Gan::mlp(&bad, &ParamStore::new(0).root())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("code size 0"), "{e}");
}
