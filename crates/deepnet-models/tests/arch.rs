//! Architectures from a spec string: parsing and its errors, the built layers, their parameter
//! counts and keys, output shapes and the conv arithmetic check.

use deepnet_models::arch::{build, ArchSpec, Layer};
use deepnet_models::check_input;
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{DType, Tensor};

fn parse_err(s: &str) -> String {
    match ArchSpec::parse(s) {
        Ok(spec) => panic!("{s:?} parsed as {spec}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_and_display_round_trip() {
    let cases = [
        // (typed, canonical)
        (
            "conv32k3p1,relu,conv32k3p1,relu,maxpool2,fc256,relu,fc10",
            "conv32k3p1,relu,conv32k3p1,relu,maxpool2,fc256,relu,fc10",
        ),
        (
            " Conv8k5s2 , TANH,avgpool3s2, flatten,dropout0.25,bn ,sigmoid,fc4 ",
            "conv8k5s2,tanh,avgpool3s2,flatten,dropout0.25,bn,sigmoid,fc4",
        ),
        // defaults are left out, option order is free
        ("conv4p0s1k3,maxpool2s2,fc2", "conv4k3,maxpool2,fc2"),
        ("conv4p2k5,dropout0.50,fc3", "conv4k5p2,dropout0.5,fc3"),
    ];
    for (typed, canonical) in cases {
        let spec = ArchSpec::parse(typed).unwrap();
        assert_eq!(spec.to_string(), canonical, "{typed}");
        assert_eq!(ArchSpec::parse(canonical).unwrap(), spec, "{canonical}");
        assert_eq!(canonical.parse::<ArchSpec>().unwrap(), spec);
    }
    let spec = ArchSpec::parse("conv6k5s2p1,maxpool3s2,dropout0.2,fc10").unwrap();
    assert_eq!(
        spec.layers(),
        [
            Layer::Conv {
                out_channels: 6,
                kernel: 5,
                stride: 2,
                padding: 1
            },
            Layer::MaxPool {
                kernel: 3,
                stride: 2
            },
            Layer::Dropout { p: 0.2 },
            Layer::Fc { out_features: 10 },
        ]
    );
    assert_eq!(spec.num_outputs(), Some(10));
}

#[test]
fn every_malformed_token_is_named() {
    // (spec, the token as the error names it, what the error says about it)
    let cases = [
        (
            "conv32k3p1,relu,conv32k3q1",
            "token 3 \"conv32k3q1\"",
            "unknown option 'q'",
        ),
        (
            "conv8k3,softmax,fc10",
            "token 2 \"softmax\"",
            "unknown layer \"softmax\"",
        ),
        (
            "conv8k3,relu,fc",
            "token 3 \"fc\"",
            "missing the output size",
        ),
        (
            "convk3,fc10",
            "token 1 \"convk3\"",
            "missing the output channel count",
        ),
        ("conv8,fc10", "token 1 \"conv8\"", "missing the kernel size"),
        (
            "conv8k,fc10",
            "token 1 \"conv8k\"",
            "missing the number after 'k'",
        ),
        (
            "conv0k3,fc10",
            "token 1 \"conv0k3\"",
            "output channel count is 0",
        ),
        ("conv8k3s0,fc10", "token 1 \"conv8k3s0\"", "stride is 0"),
        (
            "conv8k3,maxpool2s0,fc10",
            "token 2 \"maxpool2s0\"",
            "stride is 0",
        ),
        (
            "conv8k3,maxpool2p1,fc10",
            "token 2 \"maxpool2p1\"",
            "unknown option 'p'",
        ),
        (
            "conv8k3k5,fc10",
            "token 1 \"conv8k3k5\"",
            "option 'k' given twice",
        ),
        ("conv8k3,relu,fc10,", "token 4 \"\"", "trailing comma"),
        ("conv8k3,,fc10", "token 2 \"\"", "empty token"),
        ("fc0", "token 1 \"fc0\"", "output size is 0"),
        ("fc10x", "token 1 \"fc10x\"", "unexpected \"x\""),
        ("relu2,fc10", "token 1 \"relu2\"", "relu takes no number"),
        (
            "dropout,fc10",
            "token 1 \"dropout\"",
            "missing the drop probability",
        ),
        ("dropout1.5,fc10", "token 1 \"dropout1.5\"", "not in [0, 1)"),
        (
            "dropout-0.1,fc10",
            "token 1 \"dropout-0.1\"",
            "not a probability",
        ),
        ("fc99999999999999999999999", "token 1", "too large"),
    ];
    for (spec, token, what) in cases {
        let e = parse_err(spec);
        assert!(e.starts_with(token), "{spec}: {e}");
        assert!(e.contains(what), "{spec}: {e}");
        // the spec is echoed with a caret under the token
        assert!(e.contains(&format!("\n  {spec}\n")), "{spec}: {e}");
        assert!(e.trim_end().ends_with('^'), "{spec}: {e}");
    }
    // the caret sits under the token
    let e = parse_err("conv32k3p1, relu,conv32k3q1");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines[1].find("conv32k3q1"), lines[2].find('^'), "{e}");
    assert_eq!(lines[2].trim(), "^".repeat(10));
    assert!(parse_err("  ").contains("empty"));
}

#[test]
fn parameter_counts_keys_and_output_shape() {
    let store = ParamStore::new(0);
    let spec = ArchSpec::parse("conv4k3,relu,maxpool2,fc10").unwrap();
    let net = build(&spec, &[1, 8, 8], &store.root()).unwrap();
    // conv: 4 * (1*3*3) + 4 = 40; 8x8 -> 6x6 -> pool 3x3; fc: (4*3*3) * 10 + 10 = 370
    assert_eq!(store.num_params(), 40 + 370);
    // the automatic flatten is layers.3, so the fc is layers.4
    assert_eq!(
        store.keys(),
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.4.weight",
            "layers.4.bias"
        ]
    );
    let w = store
        .all_params()
        .into_iter()
        .find(|(k, _)| k == "layers.4.weight")
        .unwrap()
        .1;
    assert_eq!(w.dims(), [10, 36]);
    assert_eq!(net.output_shape(), [10]);
    let y = net
        .forward(&Tensor::ones([5, 1, 8, 8], DType::F32).unwrap())
        .unwrap();
    assert_eq!(y.dims(), [5, 10]);
    let children: Vec<String> = net.children()[0]
        .1
        .children()
        .iter()
        .map(|(n, m)| format!("{n}:{}", m.describe()))
        .collect();
    assert_eq!(children.len(), 5);
    assert!(children[3].starts_with("3:Flatten"), "{children:?}");

    // the canon's CIFAR-10 net; bn and dropout on maps and on vectors
    let store = ParamStore::new(0);
    let spec = ArchSpec::parse("conv12k3p1,bn,relu,maxpool2,dropout0.5,fc32,bn,tanh,fc10").unwrap();
    let net = build(&spec, &[3, 32, 32], &store.root()).unwrap();
    // conv 3*12*9+12 = 336, bn2d 24, fc 12*16*16*32+32 = 98,336, bn1d 64, fc 32*10+10 = 330
    assert_eq!(store.num_params(), 336 + 24 + 98_336 + 64 + 330);
    assert!(store.keys().contains(&"layers.1.running_mean".to_string()));
    let y = net
        .forward(&Tensor::ones([2, 3, 32, 32], DType::F32).unwrap())
        .unwrap();
    assert_eq!(y.dims(), [2, 10]);

    // a vector input needs no flatten
    let store = ParamStore::new(0);
    let net = build(
        &ArchSpec::parse("fc16,relu,fc3").unwrap(),
        &[20],
        &store.root(),
    )
    .unwrap();
    assert_eq!(store.num_params(), 20 * 16 + 16 + 16 * 3 + 3);
    assert_eq!(net.children()[0].1.children().len(), 3);
}

#[test]
fn the_shape_check_rejects_windows_that_do_not_fit() {
    // 1x8x8 -> conv k3: 6x6 -> maxpool4: 1x1 -> maxpool2 does not fit
    let store = ParamStore::new(0);
    let spec = ArchSpec::parse("conv4k3,relu,maxpool4,maxpool2,fc10").unwrap();
    let e = build(&spec, &[1, 8, 8], &store.root())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("token 4 \"maxpool2\" (layers.3)"), "{e}");
    assert!(e.contains("(1 - 2 + 0)/2 + 1 < 1"), "{e}");
    // a conv after the maps were flattened
    let spec = ArchSpec::parse("fc10,conv4k3").unwrap();
    let e = build(&spec, &[1, 8, 8], &store.root())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("token 2 \"conv4k3\"") && e.contains("already flat"),
        "{e}"
    );
    // a conv on a vector input
    let e = build(&ArchSpec::parse("conv4k3").unwrap(), &[784], &store.root())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("needs feature maps"), "{e}");
    // windows that fit but do not tile: warnings with the arithmetic, as for the zoo
    let store = ParamStore::new(0);
    let spec = ArchSpec::parse("conv4k3s2,relu,maxpool2,fc10").unwrap();
    let net = build(&spec, &[1, 8, 8], &store.root()).unwrap();
    let w = check_input(&net, &[1, 8, 8]).unwrap();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("layers.0 (Conv2d 3x3, stride 2, pad 0) on 8x8: (8 - 3 + 0)/2 + 1 = 2.5 + 1 = 3.5, rounded down to 3"),
        "{w:?}"
    );
    assert!(w[1].starts_with("layers.2 (MaxPool2d"), "{w:?}");
    // and the same net checked on a smaller input than it was built for fails at the fc
    let e = check_input(&net, &[1, 12, 12]).unwrap_err().to_string();
    assert!(
        e.contains("layers.4") && e.contains("Linear expects 4 input features"),
        "{e}"
    );
}

#[test]
fn classes_must_match_the_last_fc() {
    let spec = ArchSpec::parse("conv4k3,relu,fc256").unwrap();
    let e = spec.check_classes(10).unwrap_err().to_string();
    assert!(
        e.contains("token 3 \"fc256\"") && e.contains("256 outputs") && e.contains("10 classes"),
        "{e}"
    );
    let spec = ArchSpec::parse("conv4k3,fc10,relu").unwrap();
    let e = spec.check_classes(10).unwrap_err().to_string();
    assert!(e.contains("token 3 is \"relu\""), "{e}");
    assert!(ArchSpec::parse("fc10").unwrap().check_classes(10).is_ok());
}
