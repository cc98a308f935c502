//! Fully connected layers as convolutions: the converted net gives the original's outputs on the
//! training size, and on a larger image the map of the original's outputs on every window at a
//! multiple of the total stride (checked by cropping and running the original). Seeded random
//! weights; no trained file needed.

use deepnet_models::{
    forward_child, fully_convolutional, layer_output, LeNet5, LeNet5Config, Mlp, MlpConfig,
    SmallCnn, SmallCnnConfig,
};
use deepnet_nn::layers::Sequential;
use deepnet_nn::layers::{BatchNorm1d, Conv2d, Conv2dConfig, Flatten, Linear, MaxPool2d, ReLU};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{DType, Generator, Result, Tensor};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), DType::F32, &mut Generator::new(seed)).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.contiguous().unwrap().to_vec::<f32>().unwrap()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= tol, "{what}: max |diff| {worst:e} > {tol:e}");
}

/// Crops `big` (`(N, C, H', W')`) at every multiple of `stride` that leaves a full `h x w`
/// window, runs `model` on each crop and compares with the map entry at that position.
fn assert_map_is_every_crop(
    model: &dyn Module,
    map: &Tensor,
    big: &Tensor,
    (h, w): (usize, usize),
    stride: (usize, usize),
) {
    let (bh, bw) = (big.dims()[2], big.dims()[3]);
    let (mh, mw) = ((bh - h) / stride.0 + 1, (bw - w) / stride.1 + 1);
    let (n, k) = (map.dims()[0], map.dims()[1]);
    assert_eq!(map.dims(), [n, k, mh, mw]);
    let m = values(map);
    for i in 0..mh {
        for j in 0..mw {
            let crop = big
                .narrow(2, i * stride.0, h)
                .unwrap()
                .narrow(3, j * stride.1, w)
                .unwrap()
                .contiguous()
                .unwrap();
            let y = values(&model.forward(&crop).unwrap());
            let entry: Vec<f32> = (0..n * k).map(|nk| m[(nk * mh + i) * mw + j]).collect();
            assert_close(&entry, &y, 1e-5, &format!("map entry ({i}, {j})"));
        }
    }
}

#[test]
fn lenet5_gives_the_same_outputs_on_the_training_size() {
    let store = ParamStore::new(7);
    let net = LeNet5::new(&LeNet5Config::default(), &store.root()).unwrap();
    let x = randn(&[3, 1, 28, 28], 1);
    let y = net.forward(&x).unwrap();
    let fc = fully_convolutional(Box::new(net), &store.state_dict(), &[1, 28, 28]).unwrap();
    let z = fc.forward(&x).unwrap();
    assert_eq!(z.dims(), [3, 10, 1, 1]);
    assert_close(&values(&z), &values(&y), 1e-5, "lenet5");
    assert_eq!(fc.stride(), (4, 4));
    assert_eq!(fc.conv_layers(), ["features.0", "features.3"]);
    let shapes: Vec<_> = fc.converted().iter().map(|c| c.weight_shape).collect();
    assert_eq!(shapes, [[120, 16, 5, 5], [84, 120, 1, 1], [10, 84, 1, 1]]);
    // the converted file keeps the keys; the conv weight is the Linear weight, reshaped
    let sd = fc.state_dict();
    assert_eq!(sd.len(), store.state_dict().len());
    let w = &sd
        .iter()
        .find(|(k, _)| k == "classifier.0.weight")
        .unwrap()
        .1;
    assert_eq!(w.dims(), [120, 16, 5, 5]);
    let lin = store.get("classifier.0.weight").unwrap();
    assert_eq!(values(w), values(&lin));
    // on a 36x36 image: (36 - 28)/4 + 1 = 3 positions per axis
    let big = fc.forward(&randn(&[2, 1, 36, 36], 2)).unwrap();
    assert_eq!(big.dims(), [2, 10, 3, 3]);
}

#[test]
fn small_cnn_with_dropout_gives_the_same_outputs_on_the_training_size() {
    let store = ParamStore::new(3);
    let cfg = SmallCnnConfig {
        dropout: 0.5,
        ..SmallCnnConfig::cifar10()
    };
    let net = SmallCnn::new(&cfg, &store.root()).unwrap();
    net.set_training(false);
    let x = randn(&[2, 3, 32, 32], 4);
    let y = net.forward(&x).unwrap();
    let fc = fully_convolutional(Box::new(net), &store.state_dict(), &[3, 32, 32]).unwrap();
    let z = fc.forward(&x).unwrap();
    assert_eq!(z.dims(), [2, 10, 1, 1]);
    assert_close(&values(&z), &values(&y), 1e-5, "small_cnn");
    assert_eq!(fc.converted()[0].weight_shape, [256, 64, 8, 8]);
    assert_eq!(fc.converted()[1].path, "classifier.3");
    assert_eq!(
        fc.forward(&randn(&[1, 3, 40, 40], 5)).unwrap().dims(),
        [1, 10, 3, 3]
    );
}

#[test]
fn the_mlp_on_a_larger_image_gives_the_output_of_every_crop() {
    let store = ParamStore::new(11);
    let cfg = MlpConfig {
        hidden: vec![32, 16],
        ..MlpConfig::mnist()
    };
    let mlp = Mlp::new(&cfg, &store.root()).unwrap();
    let x = randn(&[2, 1, 28, 28], 6);
    let y = values(&mlp.forward(&x).unwrap());
    let big = randn(&[2, 1, 36, 36], 7);
    // the same weights in a second model to crop-and-run against after the first is moved
    let store2 = ParamStore::new(0);
    let reference = Mlp::new(&cfg, &store2.root()).unwrap();
    store2.load_state_dict(&store.state_dict(), true).unwrap();
    let fc = fully_convolutional(Box::new(mlp), &store.state_dict(), &[1, 28, 28]).unwrap();
    assert_eq!(fc.converted()[0].weight_shape, [32, 1, 28, 28]);
    assert_eq!(fc.stride(), (1, 1));
    assert_close(&values(&fc.forward(&x).unwrap()), &y, 1e-5, "mlp");
    let map = fc.forward(&big).unwrap();
    assert_map_is_every_crop(&reference, &map, &big, (28, 28), (1, 1));
}

/// LeNet-5 as in 1998: 32x32 inputs, no padding, so windows of a larger image are exact.
fn unpadded_lenet(store: &ParamStore) -> Result<Sequential> {
    let pb = store.root();
    let mut s = Sequential::new(&pb);
    let cfg = Conv2dConfig::default();
    s.push(Conv2d::new(1, 6, (5, 5), cfg, &pb.push(0))?)
        .push(ReLU)
        .push(MaxPool2d::new((2, 2), (2, 2)))
        .push(Conv2d::new(6, 16, (5, 5), cfg, &pb.push(3))?)
        .push(ReLU)
        .push(MaxPool2d::new((2, 2), (2, 2)))
        .push(Flatten::new(1, -1))
        .push(Linear::new(400, 84, true, &pb.push(7))?)
        .push(ReLU)
        .push(Linear::new(84, 10, true, &pb.push(9))?);
    Ok(s)
}

#[test]
fn a_cnn_on_a_larger_image_gives_the_output_of_every_stride_aligned_crop() {
    let store = ParamStore::new(5);
    let net = unpadded_lenet(&store).unwrap();
    let store2 = ParamStore::new(0);
    let reference = unpadded_lenet(&store2).unwrap();
    store2.load_state_dict(&store.state_dict(), true).unwrap();
    let fc = fully_convolutional(Box::new(net), &store.state_dict(), &[1, 32, 32]).unwrap();
    assert_eq!(fc.stride(), (4, 4));
    // 44 = 32 + 3 * 4: a 4x4 map of windows at offsets 0, 4, 8, 12
    let big = randn(&[2, 1, 44, 44], 8);
    let map = fc.forward(&big).unwrap();
    assert_eq!(map.dims(), [2, 10, 4, 4]);
    assert_map_is_every_crop(&reference, &map, &big, (32, 32), (4, 4));
}

#[test]
fn layers_without_a_convolution_equivalent_are_named() {
    let err = |net: Sequential, store: &ParamStore, input: &[usize]| {
        fully_convolutional(Box::new(net), &store.state_dict(), input)
            .err()
            .expect("conversion fails")
            .to_string()
    };
    // a Linear on the last dimension of a map, not on the flattened map
    let store = ParamStore::new(0);
    let pb = store.root();
    let mut s = Sequential::new(&pb);
    s.push(Conv2d::new(1, 2, (3, 3), Conv2dConfig::default(), &pb.push(0)).unwrap());
    s.push(Linear::new(6, 4, true, &pb.push(1)).unwrap());
    let e = err(s, &store, &[1, 8, 8]);
    assert!(e.contains("layer \"1\"") && e.contains("flattened"), "{e}");

    // a batch norm after the flatten
    let store = ParamStore::new(0);
    let pb = store.root();
    let mut s = Sequential::new(&pb);
    s.push(Flatten::new(1, -1));
    s.push(Linear::new(16, 4, true, &pb.push(1)).unwrap());
    s.push(BatchNorm1d::new(4, Default::default(), &pb.push(2)).unwrap());
    let e = err(s, &store, &[1, 4, 4]);
    assert!(
        e.contains("layer \"2\"") && e.contains("BatchNorm1d"),
        "{e}"
    );

    // a vector input
    let store = ParamStore::new(0);
    let pb = store.root();
    let mut s = Sequential::new(&pb);
    s.push(Linear::new(16, 4, true, &pb.push(0)).unwrap());
    assert!(err(s, &store, &[16]).contains("[C, H, W]"));
}

/// `x + conv(x)`: a skip connection, which the layer-by-layer check must catch.
struct Residual {
    conv: Conv2d,
}

impl Module for Residual {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.add(&forward_child(&self.conv, "conv", x)?)
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("conv".into(), &self.conv as &dyn Module)]
    }
}

#[test]
fn a_model_with_a_skip_connection_is_refused() {
    let store = ParamStore::new(0);
    let cfg = Conv2dConfig {
        padding: (1, 1),
        ..Default::default()
    };
    let conv = Conv2d::new(2, 2, (3, 3), cfg, &store.root().push("conv")).unwrap();
    let e = fully_convolutional(Box::new(Residual { conv }), &store.state_dict(), &[2, 6, 6])
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("one after another"), "{e}");
}

#[test]
fn layer_output_takes_any_layer_of_a_chain_and_refuses_a_skip() {
    let store = ParamStore::new(9);
    let net = LeNet5::new(&LeNet5Config::default(), &store.root()).unwrap();
    let x = randn(&[1, 1, 28, 28], 3);
    let maps = layer_output(&net, &x, "features.3").unwrap();
    assert_eq!(maps.dims(), [1, 16, 10, 10]);
    let fc = fully_convolutional(Box::new(net), &store.state_dict(), &[1, 28, 28]).unwrap();
    let same = fc.forward_to(&x, "features.3").unwrap();
    assert_close(&values(&maps), &values(&same), 0.0, "features.3");
    let e = fc.forward_to(&x, "features.9").unwrap_err().to_string();
    assert!(
        e.contains("features.9") && e.contains("classifier.4"),
        "{e}"
    );

    // the MLP flattens in its forward; a batch norm on vectors is fine here (not in conversion)
    let store = ParamStore::new(0);
    let pb = store.root();
    let mut s = Sequential::new(&pb);
    s.push(Flatten::new(1, -1));
    s.push(Linear::new(16, 4, true, &pb.push(1)).unwrap());
    s.push(BatchNorm1d::new(4, Default::default(), &pb.push(2)).unwrap());
    s.set_training(false);
    let y = layer_output(&s, &randn(&[3, 1, 4, 4], 1), "2").unwrap();
    assert_eq!(y.dims(), [3, 4]);
    let mlp = Mlp::new(&MlpConfig::mnist(), &ParamStore::new(1).root()).unwrap();
    let h = layer_output(&mlp, &x, "layers.0").unwrap();
    assert_eq!(h.dims(), [1, 256]);

    let store = ParamStore::new(0);
    let cfg = Conv2dConfig {
        padding: (1, 1),
        ..Default::default()
    };
    let conv = Conv2d::new(2, 2, (3, 3), cfg, &store.root().push("conv")).unwrap();
    let e = layer_output(&Residual { conv }, &randn(&[1, 2, 5, 5], 2), "conv")
        .unwrap_err()
        .to_string();
    assert!(e.contains("one after another"), "{e}");
}
