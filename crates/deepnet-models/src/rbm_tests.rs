use super::*;
use crate::Autoencoder;
use deepnet_nn::ParamStore;
use deepnet_tensor::testing::seeded;

/// `n` rows alternating between two complementary 12-unit binary patterns.
fn two_patterns(n: usize) -> Tensor {
    let a = [1.0f32, 1., 1., 1., 0., 0., 1., 1., 0., 0., 0., 0.];
    let rows: Vec<f32> = (0..n)
        .flat_map(|i| a.iter().map(move |&v| if i % 2 == 0 { v } else { 1.0 - v }))
        .collect();
    Tensor::from_vec(rows, [n, 12]).unwrap()
}

fn sigmoid_cfg(d: usize, hidden: Vec<usize>, code: usize) -> AutoencoderConfig {
    AutoencoderConfig {
        activation: Activation::Sigmoid,
        code_activation: None,
        hidden,
        ..AutoencoderConfig::preset("deep_ae", d, code).unwrap()
    }
}

#[test]
fn cd1_learns_to_reconstruct_two_patterns() {
    let mut g = Generator::new(1);
    let mut rbm = Rbm::new(12, 4, RbmHidden::Binary, &mut g).unwrap();
    let t = RbmTraining {
        batch: 10,
        epochs: 30,
        ..Default::default()
    };
    let mut calls = 0;
    let errs = rbm
        .train(&two_patterns(200), &t, &mut g, |e, _| {
            assert_eq!(e, calls);
            calls += 1;
        })
        .unwrap();
    assert_eq!((calls, errs.len()), (30, 30));
    // a random RBM reconstructs each unit at about p = 0.5 (error about 12 * 0.25 = 3); a
    // trained one nearly exactly
    assert!(errs[0] > 1.0, "{errs:?}");
    assert!(errs[29] < 0.1, "{errs:?}");
    let pv = rbm
        .visible_probs(&rbm.hidden_probs(&two_patterns(2)).unwrap())
        .unwrap();
    let err = pv
        .sub(&two_patterns(2))
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(err.item().unwrap() < 0.2);
}

#[test]
fn weight_cost_shrinks_the_weights() {
    // the same run (same seed, same data) with and without the L2 weight cost
    let norm = |cost: f64| {
        let mut g = Generator::new(2);
        let mut rbm = Rbm::new(12, 4, RbmHidden::Binary, &mut g).unwrap();
        let t = RbmTraining {
            weight_cost: cost,
            batch: 10,
            epochs: 10,
            ..Default::default()
        };
        rbm.train(&two_patterns(100), &t, &mut g, |_, _| {})
            .unwrap();
        rbm.weight
            .square()
            .unwrap()
            .sum_all()
            .unwrap()
            .item()
            .unwrap()
    };
    let (free, costly) = (norm(0.0), norm(0.05));
    assert!(costly < 0.8 * free, "{free} -> {costly}");
}

#[test]
fn the_unrolled_stack_is_the_autoencoder() {
    let cfg = sigmoid_cfg(6, vec![5], 3);
    let mut g = Generator::new(3);
    let r1 = Rbm::new(6, 5, RbmHidden::Binary, &mut g).unwrap();
    let r2 = Rbm::new(5, 3, RbmHidden::Gaussian, &mut g).unwrap();
    // non-zero biases, so that a swapped bias shows
    r1.visible_bias.axpby_(0.0, 1.0, &seeded([6], 4)).unwrap();
    r1.hidden_bias.axpby_(0.0, 1.0, &seeded([5], 5)).unwrap();
    r2.visible_bias.axpby_(0.0, 1.0, &seeded([5], 6)).unwrap();
    r2.hidden_bias.axpby_(0.0, 1.0, &seeded([3], 7)).unwrap();
    let rbms = [r1, r2];
    let store = ParamStore::new(0);
    let ae = Autoencoder::new(&cfg, &store.root()).unwrap();
    let sd = unrolled_state_dict(&cfg, &rbms, "").unwrap();
    store.load_state_dict(&sd, true).unwrap();
    let x = Tensor::rand([4, 6], DType::F32, &mut g).unwrap();
    let z = ae.encode(&x).unwrap();
    let want_z = rbms[1]
        .hidden_probs(&rbms[0].hidden_probs(&x).unwrap())
        .unwrap();
    assert_eq!(z.to_vec_f64(), want_z.to_vec_f64());
    let back = ae.decode(&z).unwrap();
    let want_back = rbms[0]
        .visible_probs(&rbms[1].visible_probs(&z).unwrap())
        .unwrap();
    let d = back
        .sub(&want_back)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(d.item().unwrap() < 1e-6);
    // under a prefix, the keys carry it
    let sd = unrolled_state_dict(&cfg, &rbms, "model").unwrap();
    assert_eq!(sd[0].0, "model.encoder.0.weight");
    assert_eq!(sd[2].0, "model.decoder.2.weight");
}

#[test]
fn pretraining_stacks_binary_layers_under_a_gaussian_code() {
    let cfg = sigmoid_cfg(12, vec![8, 6], 2);
    let mut g = Generator::new(5);
    let mut seen = Vec::new();
    let t = RbmTraining {
        batch: 20,
        epochs: 3,
        ..Default::default()
    };
    let rbms = pretrain_autoencoder(&cfg, &two_patterns(60), &t, &mut g, |l, e, err| {
        assert!(err.is_finite());
        seen.push((l, e));
    })
    .unwrap();
    let kinds: Vec<RbmHidden> = rbms.iter().map(|r| r.hidden).collect();
    assert_eq!(
        kinds,
        [RbmHidden::Binary, RbmHidden::Binary, RbmHidden::Gaussian]
    );
    let sizes: Vec<(usize, usize)> = rbms.iter().map(Rbm::sizes).collect();
    assert_eq!(sizes, [(12, 8), (8, 6), (6, 2)]);
    assert_eq!(seen.len(), 9);
    assert_eq!(seen[3], (1, 0));
}

#[test]
fn bad_input_is_a_clear_error() {
    let mut g = Generator::new(6);
    let relu = AutoencoderConfig {
        activation: Activation::Relu,
        ..AutoencoderConfig::preset("deep_ae", 12, 2).unwrap()
    };
    let mut pretrain_error = |cfg: &AutoencoderConfig| {
        let t = RbmTraining::default();
        let r = pretrain_autoencoder(cfg, &two_patterns(4), &t, &mut g, |_, _, _| {});
        r.err().unwrap().to_string()
    };
    let e = pretrain_error(&relu);
    assert!(
        e.contains("activation sigmoid") && e.contains("got activation relu"),
        "{e}"
    );
    let cfg = sigmoid_cfg(10, vec![8], 2);
    let e = pretrain_error(&cfg);
    assert!(e.contains("10 features") && e.contains("[4, 12]"), "{e}");
    let rbms = [Rbm::new(10, 7, RbmHidden::Binary, &mut g).unwrap()];
    let e = unrolled_state_dict(&cfg, &rbms, "")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("[(10, 7)]") && e.contains("[(10, 8), (8, 2)]"),
        "{e}"
    );
    let mut rbm = Rbm::new(12, 3, RbmHidden::Binary, &mut g).unwrap();
    let e = rbm
        .train(
            &Tensor::zeros([5, 11], DType::F32).unwrap(),
            &Default::default(),
            &mut g,
            |_, _| {},
        )
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("12 visible") && e.contains("[5, 11]"), "{e}");
    let e = rbm
        .train(
            &Tensor::full([5, 12], 2.0, DType::F32).unwrap(),
            &Default::default(),
            &mut g,
            |_, _| {},
        )
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("must lie in [0, 1]") && e.contains("from 2 to 2"),
        "{e}"
    );
    let bad = RbmTraining {
        final_momentum: 1.0,
        ..Default::default()
    };
    assert!(rbm
        .train(&two_patterns(4), &bad, &mut g, |_, _| {})
        .is_err());
    assert!(Rbm::new(0, 3, RbmHidden::Binary, &mut g).is_err());
}
