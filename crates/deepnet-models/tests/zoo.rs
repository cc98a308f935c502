//! The zoo against torchvision: parameter counts, `state_dict` keys, forward shapes, layer
//! traces, and the conv arithmetic check. Building VGG-16 (138 M parameters) takes about 2 s in
//! the test profile; the other big models are counted from their configs here and built in the
//! `#[ignore]`d tests (`cargo test -p deepnet-models -- --ignored`).

use deepnet_models::*;
use deepnet_nn::layers::{
    Conv2d, Conv2dConfig, Identity, Linear, LocallyConnected2d, ReLU, Sequential,
};
use deepnet_nn::{trace_layers, Module, ParamStore};
use deepnet_tensor::{DType, Tensor};

fn build(name: &str, input: &[usize]) -> (ParamStore, Box<dyn Module>) {
    let store = ParamStore::new(0);
    let m = build_conv_model(name, input, 1000, &store.root()).unwrap();
    (store, m)
}

fn has(keys: &[String], k: &str) -> bool {
    keys.iter().any(|x| x == k)
}

/// Spot-checks keys: the first, the last, and some in between.
fn assert_keys(store: &ParamStore, first: &str, last: &str, some: &[&str]) {
    let keys = store.keys();
    assert_eq!(keys.first().unwrap(), first);
    assert_eq!(keys.last().unwrap(), last);
    for k in some {
        assert!(has(&keys, k), "missing {k}; keys start {:?}", &keys[..8]);
    }
}

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape.to_vec(), DType::F32).unwrap()
}

#[test]
fn lenet5_and_small_cnn_counts_keys_and_forward() {
    let store = ParamStore::new(0);
    let m = build_conv_model("lenet5", &[1, 28, 28], 10, &store.root()).unwrap();
    assert_eq!(store.num_params(), 61_706);
    assert_keys(
        &store,
        "features.0.weight",
        "classifier.4.bias",
        &[
            "features.3.bias",
            "classifier.0.weight",
            "classifier.2.weight",
        ],
    );
    assert_eq!(m.forward(&zeros(&[2, 1, 28, 28])).unwrap().dims(), [2, 10]);

    for (input, count, flat) in [([1, 28, 28], 870_634, 3136), ([3, 32, 32], 1_116_970, 4096)] {
        let store = ParamStore::new(0);
        let cfg = SmallCnnConfig {
            in_channels: input[0],
            input_size: (input[1], input[2]),
            ..Default::default()
        };
        let net = SmallCnn::new(&cfg, &store.root()).unwrap();
        assert_eq!(store.num_params(), count);
        assert_eq!(
            store.get("classifier.0.weight").unwrap().dims(),
            [256, flat]
        );
        assert_eq!(store.keys().last().unwrap(), "classifier.2.bias");
        let mut shape = vec![2];
        shape.extend(input);
        let (y, recs) = trace_layers(|| net.forward(&zeros(&shape))).unwrap();
        assert_eq!(y.dims(), [2, 10]);
        assert_eq!(recs.len(), 14, "every leaf layer is traced");
        assert_eq!(recs[9].path, "features.9");
        assert_eq!(recs[9].output_shape, [2, 64, input[1] / 4, input[2] / 4]);
        assert!(check_input(&net, &input).unwrap().is_empty());
    }
    let store = ParamStore::new(0);
    let cfg = SmallCnnConfig {
        dropout: 0.5,
        ..SmallCnnConfig::cifar10()
    };
    SmallCnn::new(&cfg, &store.root()).unwrap();
    assert_eq!(store.keys().last().unwrap(), "classifier.3.bias");
}

#[test]
fn resnet18_counts_keys_trace_and_small_input_forward() {
    let (store, m) = build("resnet18", &[3, 64, 64]);
    assert_eq!(store.num_params(), 11_689_512);
    assert_keys(
        &store,
        "conv1.weight",
        "fc.bias",
        &[
            "bn1.running_mean",
            "bn1.num_batches_tracked",
            "layer1.0.conv1.weight",
            "layer1.0.bn1.weight",
            "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.running_var",
            "layer4.1.bn2.running_var",
        ],
    );
    let keys = store.keys();
    assert_eq!(
        keys[1..6],
        [
            "bn1.weight",
            "bn1.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked"
        ]
    );
    assert!(!has(&keys, "layer1.0.downsample.0.weight"));
    assert_eq!(
        keys.len(),
        62 + 3 * 20,
        "62 parameters and 3 buffers for each of 20 BNs"
    );

    // set_training reaches every block: eval leaves num_batches_tracked alone
    m.set_training(false);
    let x = Tensor::rand_uniform(
        [1, 3, 64, 64],
        -1.0,
        1.0,
        DType::F32,
        &mut deepnet_tensor::Generator::new(1),
    )
    .unwrap();
    let (y, recs) = trace_layers(|| m.forward(&x)).unwrap();
    assert_eq!(y.dims(), [1, 1000]);
    let nbt = |k: &str| store.get(k).unwrap().to_scalar::<i64>().unwrap();
    assert_eq!(nbt("layer4.1.bn2.num_batches_tracked"), 0);
    let shape_of = |p: &str| {
        recs.iter()
            .find(|r| r.path == p)
            .unwrap_or_else(|| panic!("{p} not traced"))
            .output_shape
            .clone()
    };
    assert_eq!(shape_of("conv1"), [1, 64, 32, 32]);
    assert_eq!(shape_of("maxpool"), [1, 64, 16, 16]);
    assert_eq!(shape_of("layer2.0.downsample.0"), [1, 128, 8, 8]);
    assert_eq!(shape_of("layer4.1.bn2"), [1, 512, 2, 2]);
    assert_eq!(shape_of("fc"), [1, 1000]);
    m.set_training(true);
    m.forward(&Tensor::cat(&[x.clone(), x], 0).unwrap())
        .unwrap();
    assert_eq!(nbt("layer4.1.bn2.num_batches_tracked"), 1);
    assert_eq!(nbt("layer2.0.downsample.1.num_batches_tracked"), 1);

    let e = m.forward(&zeros(&[1, 1, 64, 64])).unwrap_err().to_string();
    assert_eq!(
        e,
        "in module \"conv1\": conv2d: input has 1 channels but weight expects 3 (weight [64, 3, 7, 7])"
    );
}

#[test]
fn googlenet_counts_keys_and_forward() {
    let store = ParamStore::new(0);
    let net = GoogLeNet::new(&GoogLeNetConfig::default(), &store.root()).unwrap();
    assert_eq!(store.num_params(), 6_624_904);
    assert_keys(
        &store,
        "conv1.conv.weight",
        "fc.bias",
        &[
            "conv1.bn.weight",
            "conv1.bn.running_var",
            "conv3.conv.weight",
            "inception3a.branch1.conv.weight",
            "inception3a.branch2.0.conv.weight",
            "inception3a.branch2.1.bn.running_mean",
            "inception3a.branch3.1.conv.weight",
            "inception4e.branch3.1.bn.num_batches_tracked",
            "inception5b.branch4.1.conv.weight",
        ],
    );
    assert_eq!(
        store
            .get("inception3a.branch3.1.conv.weight")
            .unwrap()
            .dims(),
        [32, 16, 3, 3]
    );
    net.set_training(false);
    let (y, recs) = trace_layers(|| net.forward(&zeros(&[1, 3, 64, 64]))).unwrap();
    assert_eq!(y.dims(), [1, 1000]);
    let p = |path: &str| {
        recs.iter()
            .find(|r| r.path == path)
            .unwrap()
            .output_shape
            .clone()
    };
    assert_eq!(p("inception3a.branch4.0"), [1, 192, 8, 8]);
    assert_eq!(p("inception5b.branch1.bn"), [1, 384, 2, 2]);
    let w = check_input(&net, &[3, 224, 224]).unwrap();
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(w[1].starts_with("maxpool1 (MaxPool2d 3x3, stride 2, pad 0, ceil_mode) on 112x112: (112 - 3 + 0)/2 + 1 = 54.5 + 1 = 55.5, rounded up to 56"), "{}", w[1]);

    let store = ParamStore::new(0);
    let cfg = GoogLeNetConfig {
        aux_logits: true,
        transform_input: true,
        ..Default::default()
    };
    let net = GoogLeNet::new(&cfg, &store.root()).unwrap();
    assert_eq!(
        store.num_params(),
        13_004_888,
        "torchvision's count with the aux heads"
    );
    let keys = store.keys();
    let pos = |k: &str| keys.iter().position(|x| x == k).unwrap();
    assert!(pos("aux2.fc2.bias") < pos("fc.weight"));
    assert_eq!(store.get("aux1.fc1.weight").unwrap().dims(), [1024, 2048]);
    net.set_training(false);
    let (y, aux) = net.forward_with_aux(&zeros(&[1, 3, 64, 64])).unwrap();
    assert_eq!(y.dims(), [1, 1000]);
    assert_eq!(aux.unwrap()[1].dims(), [1, 1000]);
}

#[test]
fn alexnet_and_vgg16_counts_and_keys() {
    let (store, m) = build("alexnet", &[3, 224, 224]);
    assert_eq!(store.num_params(), 61_100_840);
    assert_eq!(AlexNet::num_params(&AlexNetConfig::default()), 61_100_840);
    assert_keys(
        &store,
        "features.0.weight",
        "classifier.6.bias",
        &[
            "features.3.weight",
            "features.10.bias",
            "classifier.1.weight",
            "classifier.4.weight",
        ],
    );
    assert_eq!(
        store.get("classifier.1.weight").unwrap().dims(),
        [4096, 9216]
    );
    let w = check_input(m.as_ref(), &[3, 224, 224]).unwrap();
    assert_eq!(
        w,
        ["features.0 (Conv2d 11x11, stride 4, pad 2) on 224x224: (224 - 11 + 4)/4 + 1 = 54.25 + 1 = 55.25, rounded down to 55: the last 1 row(s) and column(s) of the padded input are never covered"]
    );
    check_input(m.as_ref(), &[3, 63, 63]).unwrap();
    let e = check_input(m.as_ref(), &[3, 62, 62])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "in module \"features.12\": MaxPool2d 3x3, stride 2, pad 0 on 2x2: kernel 3x3 is larger than the padded input 2x2: (2 - 3 + 0)/2 + 1 < 1"
    );
    drop((store, m));

    let (store, m) = build("vgg16", &[3, 224, 224]);
    assert_eq!(store.num_params(), 138_357_544);
    assert_keys(
        &store,
        "features.0.weight",
        "classifier.6.bias",
        &[
            "features.2.weight",
            "features.28.bias",
            "classifier.0.weight",
            "classifier.3.weight",
        ],
    );
    assert_eq!(store.keys().len(), 32);
    assert!(check_input(m.as_ref(), &[3, 224, 224]).unwrap().is_empty());
    assert_eq!(m.describe(), "VGG16");
    check_input(m.as_ref(), &[3, 32, 32]).unwrap();
    let e = check_input(m.as_ref(), &[3, 31, 31])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("in module \"features.30\": MaxPool2d 2x2"),
        "{e}"
    );
}

#[test]
fn counts_from_configs_equal_torchvision() {
    let vgg = |n: &str| Vgg::num_params(&VggConfig::from_name(n).unwrap());
    let resnet = |n: &str| ResNet::num_params(&ResNetConfig::from_name(n).unwrap());
    for (n, c) in [
        ("vgg11", 132_863_336),
        ("vgg13", 133_047_848),
        ("vgg16", 138_357_544),
        ("vgg19", 143_667_240),
        ("vgg11_bn", 132_868_840),
        ("vgg16_bn", 138_365_992),
    ] {
        assert_eq!(vgg(n), c, "{n}");
    }
    for (n, c) in [
        ("resnet18", 11_689_512),
        ("resnet34", 21_797_672),
        ("resnet50", 25_557_032),
        ("resnet101", 44_549_160),
        ("resnet152", 60_192_808),
    ] {
        assert_eq!(resnet(n), c, "{n}");
    }
    assert_eq!(
        ZfNet::num_params(&ZfNetConfig::default()).unwrap(),
        62_357_608
    );
    let e = ZfNet::num_params(&ZfNetConfig {
        input_size: (32, 32),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("zfnet features.14"), "{e}");
}

#[test]
fn resnet50_keys_and_bottleneck_layout() {
    let (store, m) = build("resnet50", &[3, 224, 224]);
    assert_eq!(store.num_params(), 25_557_032);
    assert_keys(
        &store,
        "conv1.weight",
        "fc.bias",
        &[
            "layer1.0.downsample.0.weight",
            "layer1.0.conv3.weight",
            "layer3.5.bn3.running_var",
            "layer4.2.bn3.num_batches_tracked",
        ],
    );
    assert_eq!(
        store.get("layer2.0.conv2.weight").unwrap().dims(),
        [128, 128, 3, 3]
    );
    assert_eq!(store.get("fc.weight").unwrap().dims(), [1000, 2048]);
    let w = check_input(m.as_ref(), &[3, 224, 224]).unwrap();
    assert!(
        w[2].starts_with("layer2.0.conv2 (Conv2d 3x3, stride 2, pad 1) on 56x56"),
        "{w:#?}"
    );
}

/// A minimal model with `features` and `classifier` built from `layers`, for bad configurations.
struct Tiny {
    features: Sequential,
}

impl Module for Tiny {
    fn forward(&self, x: &Tensor) -> deepnet_tensor::Result<Tensor> {
        forward_child(&self.features, "features", x)
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("features".into(), &self.features as &dyn Module)]
    }
}

fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    s: usize,
    p: usize,
    pb: &deepnet_nn::ParamBuilder,
) -> Conv2d {
    let cfg = Conv2dConfig {
        stride: (s, s),
        padding: (p, p),
        ..Default::default()
    };
    Conv2d::new(cin, cout, (k, k), cfg, pb).unwrap()
}

#[test]
fn bad_configurations_name_the_layer_and_the_arithmetic() {
    // a kernel larger than its padded input: 7x7 -> 3x3 -> a 5x5 window does not fit
    let store = ParamStore::new(0);
    let fp = store.root().push("features");
    let mut f = Sequential::new(&fp);
    f.push(conv(1, 4, 3, 2, 0, &fp.push(0)))
        .push(ReLU)
        .push(Identity);
    f.push(conv(4, 8, 5, 2, 0, &fp.push(3)));
    let tiny = Tiny { features: f };
    let e = check_input(&tiny, &[1, 7, 7]).unwrap_err().to_string();
    assert_eq!(
        e,
        "in module \"features.3\": Conv2d 5x5, stride 2, pad 0 on 3x3: kernel 5x5 is larger than the padded input 3x3: (3 - 5 + 0)/2 + 1 < 1"
    );
    // the real forward pass says the same, from the tensor op
    let e = tiny.forward(&zeros(&[1, 1, 7, 7])).unwrap_err().to_string();
    assert_eq!(
        e,
        "in module \"features.3\": conv2d: kernel 5x5 (dilation 1) is larger than the padded input 3x3"
    );

    // a channel mismatch between two layers
    let store = ParamStore::new(0);
    let fp = store.root().push("features");
    let mut f = Sequential::new(&fp);
    f.push(conv(3, 16, 3, 1, 1, &fp.push(0))).push(ReLU);
    f.push(conv(8, 32, 3, 1, 1, &fp.push(2)));
    let tiny = Tiny { features: f };
    let e = check_input(&tiny, &[3, 13, 13]).unwrap_err().to_string();
    assert_eq!(
        e,
        "in module \"features.2\": Conv2d expects 8 input channels but its input [1, 16, 13, 13] has 16"
    );

    // a classifier sized for another input: LeNet-5 for 28x28 fed 32x32
    let (_s, lenet) = build("lenet5", &[1, 28, 28]);
    let e = check_input(lenet.as_ref(), &[1, 32, 32])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "in module \"classifier.0\": Linear expects 400 input features but its input [1, 576] has 576 = 16x6x6 (the flattened 16x6x6 maps before it)"
    );
    let e = check_input(lenet.as_ref(), &[1, 8, 8])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("in module \"features.3\": Conv2d 5x5, stride 1, pad 0 on 4x4"),
        "{e}"
    );
}

#[test]
fn check_input_leaves_the_model_alone() {
    let (store, m) = build("resnet18", &[3, 32, 32]);
    let before: Vec<Vec<f64>> = store
        .buffers()
        .iter()
        .map(|(_, t)| t.to_vec_f64())
        .collect();
    // 32x32 leaves 1x1 maps in layer4: a real training-mode forward at batch 1 would fail there
    let w = check_input(m.as_ref(), &[3, 32, 32]).unwrap();
    assert!(
        w.iter()
            .any(|w| w.starts_with("layer4.0.conv1 (Conv2d 3x3, stride 2, pad 1) on 2x2")),
        "{w:#?}"
    );
    let after: Vec<Vec<f64>> = store
        .buffers()
        .iter()
        .map(|(_, t)| t.to_vec_f64())
        .collect();
    assert_eq!(before, after, "no running statistic moved");
    // and the layers still trace normally afterwards
    let (_, recs) = trace_layers(|| m.forward(&zeros(&[2, 3, 32, 32]))).unwrap();
    assert_eq!(recs.last().unwrap().path, "fc");
}

#[test]
fn the_canons_worked_figures() {
    // AlexNet's first layer on 3x227x227: f = 11, s = 4, p = 0, K = 96
    let store = ParamStore::new(0);
    let fp = store.root().push("features");
    let mut f = Sequential::new(&fp);
    f.push(conv(3, 96, 11, 4, 0, &fp.push(0)));
    let tiny = Tiny { features: f };
    assert!(
        check_input(&tiny, &[3, 227, 227]).unwrap().is_empty(),
        "(227 - 11)/4 + 1 = 55 exactly"
    );
    assert_eq!(
        tiny.forward(&zeros(&[1, 3, 227, 227])).unwrap().dims(),
        [1, 96, 55, 55]
    );
    assert_eq!(store.num_params(), 34_944);
    // made locally connected: a filter bank per output position
    let lc = LocallyConnected2d::parameter_count(3, 96, (227, 227), (11, 11), (4, 4), (0, 0), true);
    assert_eq!(lc.unwrap(), 105_705_600);

    // a 3x3 stride-2 conv with 5 filters on 32x32x3: padding 1 gives 16x16x5 = 1,280 units,
    // with a division that is not exact; padding 0 gives 15x15
    for (pad, side) in [(1, 16), (0, 15)] {
        let store = ParamStore::new(0);
        let fp = store.root().push("features");
        let mut f = Sequential::new(&fp);
        f.push(conv(3, 5, 3, 2, pad, &fp.push(0)));
        let tiny = Tiny { features: f };
        let y = tiny.forward(&zeros(&[1, 3, 32, 32])).unwrap();
        assert_eq!(y.dims(), [1, 5, side, side]);
        let w = check_input(&tiny, &[3, 32, 32]).unwrap();
        let want = if pad == 1 {
            "features.0 (Conv2d 3x3, stride 2, pad 1) on 32x32: (32 - 3 + 2)/2 + 1 = 15.5 + 1 = 16.5, rounded down to 16: the last 1 row(s) and column(s) of the padded input are never covered"
        } else {
            "features.0 (Conv2d 3x3, stride 2, pad 0) on 32x32: (32 - 3 + 0)/2 + 1 = 14.5 + 1 = 15.5, rounded down to 15: the last 1 row(s) and column(s) of the padded input are never covered"
        };
        assert_eq!(w, [want]);
    }
    assert_eq!(16 * 16 * 5, 1_280);
    // the linear layer after a flatten is checked too
    let store = ParamStore::new(0);
    let l = Linear::new(10, 2, true, &store.root()).unwrap();
    assert!(check_input(&l, &[10]).unwrap().is_empty());
    assert!(check_input(&l, &[11])
        .unwrap_err()
        .to_string()
        .contains("expects 10 input features"));
}

#[test]
fn the_registry_knows_every_name() {
    let store = ParamStore::new(0);
    let e = build_conv_model("resnet20", &[3, 32, 32], 10, &store.root())
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .contains("unknown model \"resnet20\" (expected one of lenet5"),
        "{e}"
    );
    let e = build_conv_model("googlenet", &[1, 28, 28], 10, &store.root())
        .err()
        .unwrap();
    assert!(e.to_string().contains("3 input channels"), "{e}");
    assert_eq!(CONV_MODELS.len(), 20);
    // a CIFAR-sized ResNet: 10 classes, the same body
    let (s, m) = {
        let s = ParamStore::new(0);
        let m = build_conv_model("resnet18", &[3, 32, 32], 10, &s.root()).unwrap();
        (s, m)
    };
    assert_eq!(s.num_params(), 11_689_512 - 513 * 990);
    assert_eq!(m.forward(&zeros(&[2, 3, 32, 32])).unwrap().dims(), [2, 10]);
}

// ---- slow: the big models built and run at 224x224 ----

#[test]
#[ignore = "builds every big model (about 1.3 G parameters in turn, ~20 s)"]
fn big_models_built_match_their_config_counts() {
    for name in CONV_MODELS {
        let (store, m) = build(name, &[3, 224, 224]);
        let want = if let Some(c) = VggConfig::from_name(name) {
            Vgg::num_params(&c)
        } else if let Some(c) = ResNetConfig::from_name(name) {
            ResNet::num_params(&c)
        } else {
            store.num_params()
        };
        assert_eq!(store.num_params(), want, "{name}");
        check_input(m.as_ref(), &[3, 224, 224]).unwrap();
        if *name == "vgg16_bn" {
            assert_eq!(want, 138_365_992);
            assert_keys(
                &store,
                "features.0.weight",
                "classifier.6.bias",
                &[
                    "features.1.running_var",
                    "features.41.weight",
                    "features.41.num_batches_tracked",
                ],
            );
        }
        if *name == "resnet152" {
            assert!(has(&store.keys(), "layer3.35.bn3.running_var"));
        }
        if *name == "zfnet" {
            assert_eq!(store.num_params(), 62_357_608);
        }
    }
}

#[test]
#[ignore = "forward passes at 224x224 (several GFLOPs each)"]
fn big_models_forward_at_224() {
    for name in ["alexnet", "zfnet", "vgg16", "googlenet", "resnet50"] {
        let (_s, m) = build(name, &[3, 224, 224]);
        m.set_training(false);
        let (y, recs) = trace_layers(|| m.forward(&zeros(&[1, 3, 224, 224]))).unwrap();
        assert_eq!(y.dims(), [1, 1000], "{name}");
        if name == "zfnet" {
            let sizes: Vec<usize> = [
                "features.0",
                "features.2",
                "features.4",
                "features.6",
                "features.14",
            ]
            .iter()
            .map(|p| recs.iter().find(|r| &r.path == p).unwrap().output_shape[2])
            .collect();
            assert_eq!(sizes, [110, 55, 26, 13, 6]);
        }
    }
}

#[test]
fn minimum_input_sizes_as_documented() {
    // AlexNet (63) and VGG (32) are checked in alexnet_and_vgg16_counts_and_keys
    for (name, min) in [("googlenet", 31), ("resnet18", 1)] {
        let store = ParamStore::new(0);
        let m = build_conv_model(name, &[3, 224, 224], 10, &store.root()).unwrap();
        check_input(m.as_ref(), &[3, min, min]).unwrap();
        if min > 1 {
            let e = check_input(m.as_ref(), &[3, min - 1, min - 1]).unwrap_err();
            assert!(e.to_string().contains("< 1"), "{name}: {e}");
        }
    }
}

#[test]
fn zfnet_follows_its_layer_table() {
    let store = ParamStore::new(0);
    let net = ZfNet::new(&ZfNetConfig::default(), &store.root()).unwrap();
    assert_eq!(store.num_params(), 62_357_608);
    assert_keys(
        &store,
        "features.0.weight",
        "classifier.6.bias",
        &[
            "features.4.weight",
            "features.8.weight",
            "features.12.bias",
            "classifier.1.weight",
        ],
    );
    assert_eq!(
        store.get("classifier.1.weight").unwrap().dims(),
        [4096, 9216]
    );
    let (warnings, recs) = check_input_traced(&net, &[3, 224, 224]).unwrap();
    let shape = |p: &str| {
        recs.iter()
            .find(|r| r.path == p)
            .unwrap()
            .output_shape
            .clone()
    };
    let table = [
        ("features.0", [1, 96, 110, 110]),
        ("features.2", [1, 96, 55, 55]),
        ("features.3", [1, 96, 55, 55]),
        ("features.4", [1, 256, 26, 26]),
        ("features.6", [1, 256, 13, 13]),
        ("features.8", [1, 384, 13, 13]),
        ("features.10", [1, 384, 13, 13]),
        ("features.12", [1, 256, 13, 13]),
        ("features.14", [1, 256, 6, 6]),
    ];
    for (p, s) in table {
        assert_eq!(shape(p), s, "{p}");
    }
    assert_eq!(shape("classifier.6"), [1, 1000]);
    assert_eq!(recs.len(), 15 + 1 + 7, "every leaf, flatten included");
    let at: Vec<&str> = warnings
        .iter()
        .map(|w| w.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        at,
        ["features.0", "features.2", "features.6"],
        "{warnings:#?}"
    );
    assert!(warnings[0].contains("(224 - 7 + 2)/2 + 1 = 109.5 + 1 = 110.5, rounded down to 110"));
    let e = ZfNet::new(
        &ZfNetConfig {
            input_size: (32, 32),
            ..Default::default()
        },
        &store.root().push("small"),
    )
    .err()
    .unwrap();
    assert!(
        e.to_string()
            .contains("zfnet features.14: window 3, stride 2, pad 0 on 1: (1 - 3 + 0)/2 + 1 < 1"),
        "{e}"
    );
}
