use super::*;
use deepnet_nn::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};

fn build(name: &str, d: usize, k: usize, store: &ParamStore) -> Autoencoder {
    let cfg = AutoencoderConfig::preset(name, d, k).unwrap();
    Autoencoder::new(&cfg, &store.root()).unwrap()
}

#[test]
fn deep_autoencoder_keys_and_counts_match_pytorch() {
    let store = ParamStore::new(0);
    let ae = build("deep_ae", 784, 30, &store);
    let mut want = Vec::new();
    for side in ["encoder", "decoder"] {
        for i in [0, 2, 4, 6] {
            want.push(format!("{side}.{i}.weight"));
            want.push(format!("{side}.{i}.bias"));
        }
    }
    assert_eq!(store.keys(), want);
    let per_side = 784 * 1000 + 500 * 1000 + 250 * 500 + 30 * 250;
    assert_eq!(
        store.num_params(),
        2 * per_side + 1000 + 500 + 250 + 30 + 250 + 500 + 1000 + 784
    );
    let x = Tensor::zeros([3, 1, 28, 28], DType::F32).unwrap();
    assert_eq!(ae.encode(&x).unwrap().dims(), &[3, 30]);
    let r = ae.forward(&x).unwrap();
    assert_eq!(r.dims(), &[3, 1, 28, 28]);
    // a sigmoid output lies in (0, 1)
    assert!(r.to_vec_f64().iter().all(|&v| v > 0.0 && v < 1.0));
    assert_eq!(
        ae.describe(),
        "Autoencoder(784-1000-500-250-30, code linear, output sigmoid)"
    );
}

#[test]
fn shallow_presets_have_one_layer_each_side() {
    for (name, code) in [
        ("linear_ae", "linear"),
        ("ae", "sigmoid"),
        ("sparse_ae", "relu"),
        ("denoising_ae", "sigmoid"),
    ] {
        let store = ParamStore::new(0);
        let ae = build(name, 20, 4, &store);
        assert_eq!(
            store.keys(),
            [
                "encoder.0.weight",
                "encoder.0.bias",
                "decoder.0.weight",
                "decoder.0.bias"
            ],
            "{name}"
        );
        assert_eq!(activation_name(ae.config().code_activation), code);
        let z = ae.encode(&seeded([5, 20], 1).to_f32().unwrap()).unwrap();
        assert_eq!(z.dims(), &[5, 4]);
        if code == "sigmoid" {
            assert!(z.to_vec_f64().iter().all(|&v| v > 0.0 && v < 1.0));
        }
        if code == "relu" {
            assert!(z.to_vec_f64().iter().all(|&v| v >= 0.0));
        }
    }
    let linear = AutoencoderConfig::preset("linear_ae", 20, 4).unwrap();
    assert_eq!(linear.output, AeOutput::Linear);
}

#[test]
fn bad_sizes_and_names_are_errors() {
    let e = AutoencoderConfig::preset("vae", 784, 30)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"vae\"") && e.contains("deep_ae"), "{e}");
    for k in [0, 784, 1000] {
        let cfg = AutoencoderConfig::preset("ae", 784, k).unwrap();
        let e = Autoencoder::new(&cfg, &ParamStore::new(0).root())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("1..784") && e.contains(&format!("got {k}")),
            "{e}"
        );
    }
    let store = ParamStore::new(0);
    let ae = build("ae", 20, 4, &store);
    let e = ae
        .encode(&Tensor::zeros([2, 21], DType::F32).unwrap())
        .unwrap_err();
    assert!(
        e.to_string().contains("20 features") && e.to_string().contains("[2, 21]"),
        "{e}"
    );
    assert!("tanh".parse::<AeOutput>().is_err());
    assert_eq!(parse_optional_activation("linear").unwrap(), None);
    assert!(parse_optional_activation("gelu").is_err());
}

#[test]
fn the_objective_is_the_per_image_loss_plus_the_code_penalty() {
    let store = ParamStore::new(1);
    let ae = build("sparse_ae", 12, 5, &store);
    let x = seeded([6, 12], 2).sigmoid().unwrap().to_f32().unwrap();
    let mut g = Generator::new(0);
    let plain = ae.objective(&x, &Noise::none(), 0.0, &mut g).unwrap();
    // binary cross-entropy summed over features, averaged over the batch
    let logits = ae.decode_logits(&ae.encode(&x).unwrap()).unwrap();
    let want = binary_cross_entropy_with_logits(&logits, &x, Reduction::Sum)
        .unwrap()
        .item()
        .unwrap()
        / 6.0;
    assert!((plain.loss.item().unwrap() - want).abs() < 1e-5);
    let sparse = ae.objective(&x, &Noise::none(), 0.5, &mut g).unwrap();
    let added = sparse.loss.item().unwrap() - plain.loss.item().unwrap();
    assert!(
        (added - 0.5 * plain.code_l1_per_image).abs() < 1e-5,
        "{added}"
    );
    let r = ae.forward(&x).unwrap();
    let direct: f64 = r
        .to_vec_f64()
        .iter()
        .zip(x.to_vec_f64())
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        / 6.0;
    assert!((plain.recon_error_per_image - direct).abs() < 1e-5);
    assert!(ae.objective(&x, &Noise::none(), -1.0, &mut g).is_err());
}

#[test]
fn gradients_of_both_losses_match_finite_differences() {
    for name in ["linear_ae", "ae", "deep_ae"] {
        let store = ParamStore::with_dtype(3, DType::F64);
        let cfg = AutoencoderConfig {
            hidden: if name == "deep_ae" {
                vec![7, 5]
            } else {
                vec![]
            },
            ..AutoencoderConfig::preset(name, 6, 3).unwrap()
        };
        let ae = Autoencoder::new(&cfg, &store.root()).unwrap();
        let target = seeded([4, 6], 4).sigmoid().unwrap();
        let f = |xs: &[Tensor]| {
            let z = ae.encode(&xs[0])?;
            let loss = ae.reconstruction_loss(&ae.decode_logits(&z)?, &target)?;
            loss.add(&z.abs()?.sum_all()?.mul_scalar(0.1)?)
        };
        gradcheck(name, f, &[seeded([4, 6], 5)]).unwrap();
    }
}

#[test]
fn noise_corrupts_as_configured_and_bad_levels_are_errors() {
    let x = Tensor::ones([200, 50], DType::F32).unwrap();
    let mut g = Generator::new(9);
    assert!(Noise::none().corrupt(&x, &mut g).unwrap().same_storage(&x));
    let masked = Noise::new(0.0, 0.25)
        .unwrap()
        .corrupt(&x, &mut g)
        .unwrap()
        .to_vec_f64();
    let zeros = masked.iter().filter(|&&v| v == 0.0).count() as f64 / masked.len() as f64;
    assert!((zeros - 0.25).abs() < 0.02, "{zeros}");
    assert!(masked.iter().all(|&v| v == 0.0 || v == 1.0));
    let noisy = Noise::new(0.5, 0.0).unwrap().corrupt(&x, &mut g).unwrap();
    // squared error of the noisy copy per image = 50 * 0.25
    let e = squared_error_per_image(&noisy, &x).unwrap();
    assert!((e - 12.5).abs() < 0.5, "{e}");
    for (s, p) in [(-0.1, 0.0), (f64::NAN, 0.0), (0.1, 1.0), (0.1, -0.2)] {
        let e = Noise::new(s, p).unwrap_err().to_string();
        assert!(e.contains("noise:"), "{e}");
    }
}

#[test]
fn near_zero_units_and_evaluation() {
    let z = Tensor::from_vec(vec![0.0f32, 5e-4, -2e-3, 1.0], [2, 2]).unwrap();
    assert_eq!(near_zero_fraction(&z).unwrap(), 0.5);
    assert!((code_l1_per_image(&z).unwrap() - (5e-4 + 2e-3 + 1.0) / 2.0).abs() < 1e-7);
    let store = ParamStore::new(5);
    let ae = build("denoising_ae", 12, 3, &store);
    let x = seeded([10, 12], 6).sigmoid().unwrap().to_f32().unwrap();
    let noise = Noise::new(0.3, 0.1).unwrap();
    let a = evaluate_autoencoder(&ae, &x, 4, &noise, 7).unwrap();
    let b = evaluate_autoencoder(&ae, &x, 10, &noise, 7).unwrap();
    assert!((a.recon_error_per_image - b.recon_error_per_image).abs() < 1e-5);
    let whole = squared_error_per_image(&ae.forward(&x).unwrap(), &x).unwrap();
    assert!((a.recon_error_per_image - whole).abs() < 1e-5);
    assert!(a.noisy_error_per_image.unwrap() > 0.0 && a.denoised_error_per_image.is_some());
    let c = evaluate_autoencoder(&ae, &x, 4, &Noise::none(), 7).unwrap();
    assert_eq!(c.noisy_error_per_image, None);
    assert!(evaluate_autoencoder(&ae, &x, 0, &noise, 7).is_err());
}
