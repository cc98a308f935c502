//! Tests of the VAE: keys and counts, the loss pieces by hand and by f64 gradient checks, the
//! closed-form KL against a Monte-Carlo estimate, sampling and the latent walk, and the errors.

use super::*;
use deepnet_nn::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

fn t2(v: &[f64], r: usize, c: usize) -> Tensor {
    Tensor::from_slice(v, [r, c]).unwrap()
}

/// A tiny f64 VAE on 1x3x2 images: 6-5-2-5-6.
fn tiny() -> (ParamStore, MlpVae) {
    let store = ParamStore::with_dtype(3, DType::F64);
    let cfg = MlpVaeConfig {
        sample_shape: vec![1, 3, 2],
        hidden: 5,
        latent: 2,
    };
    let vae = MlpVae::new(&cfg, &store.root()).unwrap();
    (store, vae)
}

/// Intensities in (0, 1): a sigmoid of seeded normals.
fn images(n: usize, seed: u64) -> Tensor {
    seeded([n, 1, 3, 2], seed).sigmoid().unwrap()
}

#[test]
fn the_pytorch_example_has_its_keys_and_652824_parameters() {
    let store = ParamStore::new(0);
    let vae = MlpVae::new(&MlpVaeConfig::default(), &store.root()).unwrap();
    assert_eq!(store.num_params(), 652_824);
    assert_eq!(
        store.keys(),
        [
            "fc1.weight",
            "fc1.bias",
            "fc21.weight",
            "fc21.bias",
            "fc22.weight",
            "fc22.bias",
            "fc3.weight",
            "fc3.bias",
            "fc4.weight",
            "fc4.bias"
        ]
    );
    let x = Tensor::zeros([3, 1, 28, 28], DType::F32).unwrap();
    let (mu, lv) = vae.encode(&x).unwrap();
    assert_eq!(
        (mu.dims(), lv.dims()),
        ([3, 20].as_slice(), [3, 20].as_slice())
    );
    assert_eq!(vae.forward(&x).unwrap().dims(), [3, 1, 28, 28]);
    // a flat (N, 784) batch is accepted too
    let flat = Tensor::zeros([2, 784], DType::F32).unwrap();
    assert_eq!(vae.encode(&flat).unwrap().0.dims(), [2, 20]);
    assert_eq!(vae.describe(), "MlpVae(784-400-20-400-784)");
}

#[test]
fn kl_by_hand() {
    // mu = (0, 0), log_var = (0, 0): q = p, KL = 0
    let z = kl_to_standard_normal(&t2(&[0.0, 0.0], 1, 2), &t2(&[0.0, 0.0], 1, 2)).unwrap();
    assert!(z.item().unwrap().abs() < 1e-15);
    // mu = (1, 2), sigma^2 = (1, 4): -1/2 [(1 + 0 - 1 - 1) + (1 + ln 4 - 4 - 4)] = 4 - ln 2
    let kl = kl_to_standard_normal(&t2(&[1.0, 2.0], 1, 2), &t2(&[0.0, 4f64.ln()], 1, 2)).unwrap();
    assert!((kl.item().unwrap() - (4.0 - 2f64.ln())).abs() < 1e-12);
}

#[test]
fn closed_form_kl_matches_a_monte_carlo_estimate() {
    // KL(q || p) = E_q[log q(z) - log p(z)], estimated with 200,000 draws of z ~ q
    let mu = [0.7, -1.2, 0.1];
    let lv = [-0.5, 0.8, 0.0];
    let closed = kl_to_standard_normal(&t2(&mu, 1, 3), &t2(&lv, 1, 3))
        .unwrap()
        .item()
        .unwrap();
    let mut g = Generator::new(11);
    let n = 200_000;
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..n {
        let mut d = 0.0;
        for j in 0..3 {
            let (s2, e) = (lv[j].exp(), g.next_normal());
            let z = mu[j] + s2.sqrt() * e;
            // log N(z; mu, s2) - log N(z; 0, 1); the 2 pi terms cancel
            d += -0.5 * lv[j] - 0.5 * (z - mu[j]).powi(2) / s2 + 0.5 * z * z;
        }
        sum += d;
        sum_sq += d * d;
    }
    let mean = sum / n as f64;
    let se = ((sum_sq / n as f64 - mean * mean) / n as f64).sqrt();
    assert!(
        (mean - closed).abs() < 4.0 * se,
        "closed form {closed}, Monte Carlo {mean} +- {se}"
    );
    // and the estimate is precise enough for that to mean something
    assert!(se < 0.01 * closed, "{se} vs {closed}");
}

#[test]
fn gradchecks_of_the_loss_pieces() {
    let (mu, lv, eps) = (seeded([3, 4], 1), seeded([3, 4], 2), seeded([3, 4], 3));
    gradcheck(
        "kl_to_standard_normal",
        |x| kl_to_standard_normal(&x[0], &x[1]),
        &[mu.clone(), lv.clone()],
    )
    .unwrap();
    gradcheck(
        "reparameterize",
        |x| reparameterize(&x[0], &x[1], &x[2]),
        &[mu, lv, eps],
    )
    .unwrap();
    let logits = seeded([3, 2, 5], 4).mul_scalar(3.0).unwrap();
    let x = seeded([3, 10], 5).sigmoid().unwrap();
    gradcheck(
        "bernoulli_nll",
        |a| bernoulli_nll(&a[0], &a[1]),
        &[logits, x],
    )
    .unwrap();
}

#[test]
fn the_negative_elbo_is_its_terms_and_its_gradient_checks() {
    let (_store, vae) = tiny();
    let x = images(4, 7);
    let e = negative_elbo(&vae, &x, &mut Generator::new(1)).unwrap();
    let (r, k) = (e.recon.to_vec_f64(), e.kl.to_vec_f64());
    assert_eq!((r.len(), k.len(), e.mu.dims()), (4, 4, [4, 2].as_slice()));
    let mean: f64 = r.iter().zip(&k).map(|(a, b)| a + b).sum::<f64>() / 4.0;
    assert!((e.loss.item().unwrap() - mean).abs() < 1e-12);
    assert!(k.iter().all(|&v| v >= 0.0) && r.iter().all(|&v| v > 0.0));
    // by hand from the pieces, with the same noise
    let (mu, lv) = vae.encode(&x).unwrap();
    let eps = Tensor::randn([4, 2], DType::F64, &mut Generator::new(1)).unwrap();
    let z = reparameterize(&mu, &lv, &eps).unwrap();
    let want = bernoulli_nll(&vae.decode(&z).unwrap(), &x).unwrap();
    assert_eq!(want.to_vec_f64(), r);
    // the whole loss, differentiated through both networks with respect to the images
    gradcheck(
        "negative_elbo",
        |a| Ok(negative_elbo(&vae, &a[0], &mut Generator::new(1))?.loss),
        &[x],
    )
    .unwrap();
}

#[test]
fn samples_and_the_walk_have_their_shapes_and_ends() {
    let (_store, vae) = tiny();
    let s = sample_prior(&vae, 5, &mut Generator::new(2)).unwrap();
    assert_eq!(s.dims(), [5, 1, 3, 2]);
    assert!(s.to_vec_f64().iter().all(|v| (0.0..=1.0).contains(v)));
    let x = images(2, 9);
    let (a, b) = (x.narrow(0, 0, 1).unwrap(), x.narrow(0, 1, 1).unwrap());
    let w = latent_walk(&vae, &a, &b.reshape([1, 3, 2]).unwrap(), 4).unwrap();
    assert_eq!(w.dims(), [4, 1, 3, 2]);
    // the ends are the deterministic reconstructions of a and b
    let ends = vae.forward(&x).unwrap().sigmoid().unwrap().to_vec_f64();
    let w = w.to_vec_f64();
    for (got, want) in w[..6].iter().chain(&w[18..]).zip(&ends) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    // the squared error is that of those reconstructions
    let se = squared_error_per_image(&vae, &x).unwrap().to_vec_f64();
    let xs = x.to_vec_f64();
    let by_hand: f64 = ends[..6]
        .iter()
        .zip(&xs)
        .map(|(r, x)| (r - x).powi(2))
        .sum();
    assert!((se[0] - by_hand).abs() < 1e-12);
}

#[test]
fn bad_shapes_and_sizes_are_named() {
    let (_store, vae) = tiny();
    let err = |r: Result<Tensor>| r.unwrap_err().to_string();
    let e = vae.encode(&seeded([2, 7], 0)).unwrap_err().to_string();
    assert!(e.contains("vae encode") && e.contains("[2, 7]"), "{e}");
    let e = err(vae.decode(&seeded([2, 3], 0)));
    assert!(e.contains("(N, 2)"), "{e}");
    let e = err(kl_to_standard_normal(
        &seeded([2, 3], 0),
        &seeded([2, 4], 0),
    ));
    assert!(e.contains("[2, 3]") && e.contains("[2, 4]"), "{e}");
    let e = err(reparameterize(
        &seeded([2], 0),
        &seeded([2], 0),
        &seeded([3], 0),
    ));
    assert!(e.contains("reparameterize"), "{e}");
    let e = err(bernoulli_nll(&seeded([2, 6], 0), &seeded([3, 6], 0)));
    assert!(e.contains("bernoulli_nll"), "{e}");
    let e = err(sample_prior(&vae, 0, &mut Generator::new(0)));
    assert!(e.contains("0 samples"), "{e}");
    let x = images(1, 0);
    let e = err(latent_walk(&vae, &x, &x, 1));
    assert!(e.contains("at least 2 steps"), "{e}");
    let e = err(latent_walk(&vae, &x, &seeded([5], 0), 3));
    assert!(e.contains("image b") && e.contains("[5]"), "{e}");
    let store = ParamStore::new(0);
    let big = MlpVaeConfig {
        sample_shape: vec![1, 2, 2],
        hidden: 8,
        latent: 5,
    };
    let e = MlpVae::new(&big, &store.root()).err().unwrap().to_string();
    assert!(e.contains("5 units") && e.contains("4-pixel"), "{e}");
}
