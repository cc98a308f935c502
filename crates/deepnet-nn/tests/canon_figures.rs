//! Worked figures from the canon's convolution slides, checked against the output-size formula
//! and against real layers. (AlexNet's first layer and the 3x3 stride-2 conv on 32x32x3 are
//! checked in deepnet-models' `zoo.rs`.)

use deepnet_nn::layers::{conv_arithmetic, Conv2d, Conv2dConfig};
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{DType, Tensor};

fn conv(in_c: usize, out_c: usize, k: usize, stride: usize, store: &ParamStore) -> Conv2d {
    let cfg = Conv2dConfig {
        stride: (stride, stride),
        ..Default::default()
    };
    Conv2d::new(in_c, out_c, (k, k), cfg, &store.root().push("conv")).unwrap()
}

#[test]
fn seven_by_seven_input_with_a_three_by_three_filter() {
    // (N - F) / stride + 1 with N = 7, F = 3: (7 - 3)/1 + 1 = 5 and (7 - 3)/2 + 1 = 3, both exact
    assert_eq!(conv_arithmetic(7, 3, 1, 0, 1), (5, true));
    assert_eq!(conv_arithmetic(7, 3, 2, 0, 1), (3, true));
    // stride 3 does not tile the input: (7 - 3)/3 is not whole
    assert_eq!(conv_arithmetic(7, 3, 3, 0, 1), (2, false));
    let x = Tensor::zeros([1, 1, 7, 7], DType::F32).unwrap();
    for (stride, side) in [(1, 5), (2, 3)] {
        let store = ParamStore::new(0);
        let c = conv(1, 1, 3, stride, &store);
        assert_eq!(c.output_hw(7, 7).unwrap(), (side, side));
        assert_eq!(c.forward(&x).unwrap().dims(), [1, 1, side, side]);
    }
}

#[test]
fn five_filters_of_three_by_three_by_three_have_140_parameters() {
    // each filter has 3 * 3 * 3 = 27 weights and one bias: 5 * (27 + 1) = 140
    let store = ParamStore::new(0);
    let c = conv(3, 5, 3, 1, &store);
    assert_eq!(store.num_params(), 140);
    assert_eq!(store.keys(), ["conv.weight", "conv.bias"]);
    assert_eq!(store.get("conv.weight").unwrap().dims(), [5, 3, 3, 3]);
    assert_eq!(store.get("conv.bias").unwrap().dims(), [5]);
    // one 5x5 output map per filter on a 7x7x3 input
    let y = c
        .forward(&Tensor::zeros([1, 3, 7, 7], DType::F32).unwrap())
        .unwrap();
    assert_eq!(y.dims(), [1, 5, 5, 5]);
    // without biases the count drops by one per filter
    let store = ParamStore::new(0);
    let cfg = Conv2dConfig {
        bias: false,
        ..Default::default()
    };
    Conv2d::new(3, 5, (3, 3), cfg, &store.root()).unwrap();
    assert_eq!(store.num_params(), 135);
}
