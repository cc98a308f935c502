//! Tests of the Keras layout conversions and the architecture check, on small hand-made tensors
//! and JSON.

use super::*;
use deepnet_nn::layers::{BatchNorm2d, BatchNormConfig, Conv2d, Conv2dConfig, Linear};
use deepnet_tensor::testing::seeded;
use deepnet_tensor::DType;

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    a.sub(b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .item()
        .unwrap()
}

/// A Keras-style NHWC convolution written with loops: `x (N, H, W, Ci)`, `k (kh, kw, Ci, Co)`,
/// stride 1, no padding; the oracle the converted kernels are compared with.
fn conv_nhwc(x: &[f64], (n, h, w, ci): (usize, usize, usize, usize), k: &Tensor) -> Vec<f64> {
    let &[kh, kw, kci, co] = k.dims() else {
        panic!()
    };
    assert_eq!(kci, ci);
    let kv = k.to_vec::<f64>().unwrap();
    let (oh, ow) = (h - kh + 1, w - kw + 1);
    let mut y = vec![0.0; n * oh * ow * co];
    for b in 0..n {
        for i in 0..oh {
            for j in 0..ow {
                for o in 0..co {
                    let mut s = 0.0;
                    for u in 0..kh {
                        for v in 0..kw {
                            for c in 0..ci {
                                s += x[((b * h + i + u) * w + j + v) * ci + c]
                                    * kv[((u * kw + v) * ci + c) * co + o];
                            }
                        }
                    }
                    y[((b * oh + i) * ow + j) * co + o] = s;
                }
            }
        }
    }
    y
}

#[test]
fn conv_and_depthwise_kernels_convert_to_pytorch_layouts() {
    let (n, h, w, ci) = (2, 5, 4, 3);
    let x_nhwc = seeded([n, h, w, ci], 1);
    let x_nchw = x_nhwc.permute([0, 3, 1, 2]).unwrap().contiguous().unwrap();
    let xv = x_nhwc.to_vec::<f64>().unwrap();
    // a Conv2D kernel (kh, kw, in, out)
    let k = seeded([3, 2, ci, 4], 2);
    assert_eq!(
        KerasLayout::ConvKernel.keras_shape(&[4, ci, 3, 2]),
        Some(vec![3, 2, ci, 4])
    );
    let wt = KerasLayout::ConvKernel.to_deepnet(&k).unwrap();
    assert_eq!(wt.dims(), [4, ci, 3, 2]);
    let y = x_nchw.conv2d(&wt, None, (1, 1), (0, 0), (1, 1), 1).unwrap();
    let want = Tensor::from_vec(conv_nhwc(&xv, (n, h, w, ci), &k), [n, h - 2, w - 1, 4])
        .unwrap()
        .permute([0, 3, 1, 2])
        .unwrap();
    assert!(max_diff(&y, &want) < 1e-12);

    // a depthwise kernel (kh, kw, in, mult = 2): output channel c * 2 + m reads input channel c
    let dk = seeded([3, 3, ci, 2], 3);
    let layout = KerasLayout::DepthwiseKernel { channels: ci };
    assert_eq!(
        layout.keras_shape(&[2 * ci, 1, 3, 3]),
        Some(vec![3, 3, ci, 2])
    );
    assert_eq!(layout.keras_shape(&[7, 1, 3, 3]), None);
    let dw = layout.to_deepnet(&dk).unwrap();
    assert_eq!(dw.dims(), [2 * ci, 1, 3, 3]);
    let y = x_nchw
        .conv2d(&dw, None, (1, 1), (0, 0), (1, 1), ci)
        .unwrap();
    for c in 0..ci {
        for m in 0..2 {
            // the same filter as a one-channel Conv2D kernel
            let single = dk
                .narrow(2, c, 1)
                .unwrap()
                .narrow(3, m, 1)
                .unwrap()
                .contiguous()
                .unwrap();
            let xc: Vec<f64> = xv.iter().skip(c).step_by(ci).copied().collect();
            let want =
                Tensor::from_vec(conv_nhwc(&xc, (n, h, w, 1), &single), [n, h - 2, w - 2]).unwrap();
            let got = y
                .narrow(1, c * 2 + m, 1)
                .unwrap()
                .reshape([n, h - 2, w - 2])
                .unwrap();
            assert!(max_diff(&got, &want) < 1e-12, "channel {c}, multiplier {m}");
        }
    }
}

#[test]
fn dense_kernels_transpose_and_undo_the_channels_last_flatten() {
    // a (C, H, W) = (3, 2, 4) map: Keras flattens it as (h, w, c), deepnet as (c, h, w)
    let (c, h, w, out) = (3, 2, 4, 5);
    let map = seeded([1, c, h, w], 4);
    let keras_flat = map
        .permute([0, 2, 3, 1])
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape([1, h * w * c])
        .unwrap();
    let k = seeded([h * w * c, out], 5);
    let want = keras_flat.matmul(&k).unwrap();
    let layout = KerasLayout::DenseKernel {
        flatten_chw: Some([c, h, w]),
    };
    assert_eq!(
        layout.keras_shape(&[out, c * h * w]),
        Some(vec![c * h * w, out])
    );
    assert_eq!(layout.keras_shape(&[out, 7]), None);
    let wt = layout.to_deepnet(&k).unwrap();
    let got = map
        .reshape([1, c * h * w])
        .unwrap()
        .matmul(&wt.t().unwrap())
        .unwrap();
    assert!(max_diff(&got, &want) < 1e-12);
    // without the reorder the result would be wrong: the test can fail
    let plain = KerasLayout::DenseKernel { flatten_chw: None }
        .to_deepnet(&k)
        .unwrap();
    assert_eq!(plain.dims(), [out, c * h * w]);
    let wrong = map
        .reshape([1, c * h * w])
        .unwrap()
        .matmul(&plain.t().unwrap())
        .unwrap();
    assert!(max_diff(&wrong, &want) > 1e-3);
}

/// A conv (2 -> 3, 3x3, bias) + batch norm + dense (3 -> 2) model and its plan.
fn toy() -> (ParamStore, Vec<KerasWeight>) {
    let store = ParamStore::new(0);
    let root = store.root();
    let _c = Conv2d::new(2, 3, (3, 3), Conv2dConfig::default(), &root.push("c")).unwrap();
    let _b = BatchNorm2d::new(3, BatchNormConfig::default(), &root.push("b")).unwrap();
    let _l = Linear::new(3, 2, true, &root.push("l")).unwrap();
    let mut plan = KerasPlan::default();
    plan.conv("conv2d", "c", true)
        .batch_norm("batch_normalization", "b")
        .dense("dense", "l", None);
    (store, plan.0)
}

fn keras_tensors() -> Vec<(String, Tensor)> {
    let t = |shape: &[usize], seed| seeded(shape.to_vec(), seed).to_dtype(DType::F32).unwrap();
    vec![
        ("conv2d/kernel".into(), t(&[3, 3, 2, 3], 1)),
        ("conv2d/bias".into(), t(&[3], 2)),
        ("batch_normalization/gamma".into(), t(&[3], 3)),
        ("batch_normalization/beta".into(), t(&[3], 4)),
        ("batch_normalization/moving_mean".into(), t(&[3], 5)),
        (
            "batch_normalization/moving_variance".into(),
            t(&[3], 6).abs().unwrap(),
        ),
        ("dense/kernel".into(), t(&[3, 2], 7)),
        ("dense/bias".into(), t(&[2], 8)),
    ]
}

#[test]
fn a_plan_loads_every_tensor_and_names_what_does_not_fit() {
    let (store, plan) = toy();
    let tensors = keras_tensors();
    load_keras_weights(&tensors, &plan, &store).unwrap();
    let get = |k: &str| store.get(k).unwrap();
    assert_eq!(
        get("b.running_var").to_vec::<f32>().unwrap(),
        tensors[5].1.to_vec::<f32>().unwrap()
    );
    assert!(max_diff(&get("l.weight"), &tensors[6].1.t().unwrap()) == 0.0);
    assert_eq!(get("b.num_batches_tracked").to_scalar::<i64>().unwrap(), 0);

    // a kernel of the wrong shape, a missing bias and an extra tensor, all named at once
    let mut bad = keras_tensors();
    bad[0].1 = Tensor::zeros([3, 3, 4, 3], DType::F32).unwrap();
    bad.retain(|(k, _)| k != "dense/bias");
    bad.push((
        "dense_9/kernel".into(),
        Tensor::zeros([1], DType::F32).unwrap(),
    ));
    let before = get("c.weight").to_vec::<f32>().unwrap();
    let e = load_keras_weights(&bad, &plan, &store)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "\"conv2d/kernel\" has shape [3, 3, 4, 3], expected [3, 3, 2, 3] \
             (the Keras layout of c.weight [3, 2, 3, 3])"
        ),
        "{e}"
    );
    assert!(
        e.contains("missing \"dense/bias\" (shape [2] for l.bias [2])"),
        "{e}"
    );
    assert!(e.contains("unexpected tensors [\"dense_9/kernel\"]"), "{e}");
    assert_eq!(
        get("c.weight").to_vec::<f32>().unwrap(),
        before,
        "nothing loaded"
    );
    // integer tensors are not weights
    let mut ints = keras_tensors();
    ints[1].1 = Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap();
    let e = load_keras_weights(&ints, &plan, &store)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"conv2d/bias\" holds I64 values, expected floats"),
        "{e}"
    );
}

const SEQUENTIAL: &str = r#"{"class_name": "Sequential", "config": {"name": "s", "layers": [
  {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [null, 8, 8, 2]}},
  {"class_name": "Conv2D", "config": {"name": "conv2d", "filters": 3, "strides": [1, 1]}},
  {"class_name": "BatchNormalization", "config": {"name": "batch_normalization", "epsilon": 0.001}},
  {"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}"#;

#[test]
fn architecture_json_is_checked_layer_by_layer() {
    let cfg = KerasConfig::parse(SEQUENTIAL).unwrap();
    assert!(cfg.sequential);
    assert_eq!(cfg.input_shape(), Some(vec![8, 8, 2]));
    assert_eq!(cfg.batch_norm_epsilon().unwrap(), Some(1e-3));
    let spec = vec![
        KerasLayerSpec::new("conv2d", "Conv2D")
            .field("filters", 3)
            .field("strides", pair(1)),
        KerasLayerSpec::new("batch_normalization", "BatchNormalization"),
        KerasLayerSpec::new("dense", "Dense").field("units", 2),
    ];
    cfg.check("toy", &spec, &[8, 8, 2]).unwrap();
    let err = |spec: &[KerasLayerSpec], input: &[usize]| {
        cfg.check("toy", spec, input).unwrap_err().to_string()
    };
    let e = err(&spec, &[32, 32, 3]);
    assert!(
        e.contains("input shape (H, W, C) is [8, 8, 2], the zoo model takes [32, 32, 3]"),
        "{e}"
    );
    let mut s2 = spec.clone();
    s2[0] = KerasLayerSpec::new("conv2d", "Conv2D").field("strides", pair(2));
    let e = err(&s2, &[8, 8, 2]);
    assert!(
        e.contains("layer \"conv2d\" (Conv2D): strides is [1,1], expected [2,2]"),
        "{e}"
    );
    let mut s3 = spec.clone();
    s3.swap(1, 2);
    assert!(err(&s3, &[8, 8, 2]).contains("a Sequential runs in order"));
    let e = err(&spec[..2], &[8, 8, 2]);
    assert!(
        e.contains("layer \"dense\" (Dense) is not part of the zoo model"),
        "{e}"
    );
    let mut s4 = spec.clone();
    s4[2] = KerasLayerSpec::new("dense", "Conv2D");
    assert!(err(&s4, &[8, 8, 2]).contains("layer \"dense\" is a Dense, expected a Conv2D"));

    // functional: inputs are compared; an InputLayer reads as MODEL_INPUT
    let functional = r#"{"class_name": "Model", "config": {"layers": [
      {"name": "input_1", "class_name": "InputLayer", "config": {"name": "input_1"}, "inbound_nodes": []},
      {"name": "a", "class_name": "Conv2D", "config": {"name": "a"}, "inbound_nodes": [[["input_1", 0, 0, {}]]]},
      {"name": "b", "class_name": "BatchNormalization", "config": {"name": "b", "epsilon": 0.01}, "inbound_nodes": [[["a", 0, 0, {}]]]},
      {"name": "c", "class_name": "BatchNormalization", "config": {"name": "c", "epsilon": 0.001}, "inbound_nodes": [[["a", 0, 0, {}]]]},
      {"name": "d", "class_name": "Add", "config": {"name": "d"}, "inbound_nodes": [[["b", 0, 0, {}], ["c", 0, 0, {}]]]}]}}"#;
    let f = KerasConfig::parse(functional).unwrap();
    assert!(!f.sequential);
    let spec = vec![
        KerasLayerSpec::new("a", "Conv2D").inputs(&[MODEL_INPUT]),
        KerasLayerSpec::new("b", "BatchNormalization").inputs(&["a"]),
        KerasLayerSpec::new("c", "BatchNormalization").inputs(&["a"]),
        KerasLayerSpec::new("d", "Add").inputs(&["b", "c"]),
    ];
    f.check("toy", &spec, &[1, 1, 1]).unwrap();
    let mut s5 = spec.clone();
    s5[3] = KerasLayerSpec::new("d", "Add").inputs(&["c", "b"]);
    let e = f.check("toy", &s5, &[1, 1, 1]).unwrap_err().to_string();
    assert!(
        e.contains("layer \"d\" reads [\"b\", \"c\"], expected [\"c\", \"b\"]"),
        "{e}"
    );
    let e = f.batch_norm_epsilon().unwrap_err().to_string();
    assert!(
        e.contains("differs between layers \"b\" (0.01) and \"c\" (0.001)"),
        "{e}"
    );
    for bad in [
        "[1, 2]",
        "{\"class_name\": \"Graph\"}",
        "{\"class_name\": \"Model\", \"config\": {}}",
    ] {
        assert!(KerasConfig::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(numbered("conv2d", 0), "conv2d");
    assert_eq!(numbered("conv2d", 4), "conv2d_4");
}
