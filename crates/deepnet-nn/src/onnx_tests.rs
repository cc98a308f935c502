//! The exporter's bytes read back with a minimal protobuf reader: the graph's nodes, attributes,
//! initializers and shapes are what the layers say, and layers without an ONNX form are named.

use super::*;
use crate::layers::{
    AdaptiveAvgPool2d, BatchNorm2d, BatchNormConfig, Conv2d, Conv2dConfig, Dropout, Flatten,
    LeakyReLU, Linear, MaxPool2d, Sequential, Softmax, LSTM,
};
use crate::ParamStore;
use deepnet_tensor::testing::seeded;

fn f32_input(shape: &[usize], seed: u64) -> Tensor {
    seeded(shape.to_vec(), seed).to_dtype(DType::F32).unwrap()
}

/// One protobuf field: number and payload (varint value or bytes).
#[derive(Debug)]
enum Field {
    Varint(u64),
    Fixed32,
    Bytes(Vec<u8>),
}

fn read_varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*i];
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn fields(b: &[u8]) -> Vec<(u64, Field)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let key = read_varint(b, &mut i);
        let f = match key & 7 {
            0 => Field::Varint(read_varint(b, &mut i)),
            2 => {
                let n = read_varint(b, &mut i) as usize;
                i += n;
                Field::Bytes(b[i - n..i].to_vec())
            }
            5 => {
                i += 4;
                Field::Fixed32
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((key >> 3, f));
    }
    out
}

fn all(b: &[u8], n: u64) -> Vec<Vec<u8>> {
    fields(b)
        .into_iter()
        .filter_map(|(k, f)| match f {
            Field::Bytes(v) if k == n => Some(v),
            _ => None,
        })
        .collect()
}

fn text(b: &[u8], n: u64) -> String {
    String::from_utf8(all(b, n).into_iter().next().unwrap_or_default()).unwrap()
}

fn ints(b: &[u8], n: u64) -> Vec<i64> {
    fields(b)
        .into_iter()
        .filter_map(|(k, f)| match f {
            Field::Varint(v) if k == n => Some(v as i64),
            _ => None,
        })
        .collect()
}

/// The graph of an exported model.
fn graph(bytes: &[u8]) -> Vec<u8> {
    assert_eq!(ints(bytes, 1), vec![8], "ir_version");
    let opset = &all(bytes, 8)[0];
    assert_eq!(ints(opset, 2), vec![OPSET]);
    all(bytes, 7).remove(0)
}

#[test]
fn varints_and_fields_encode_as_protobuf_does() {
    let mut v = Vec::new();
    put_varint(&mut v, 300);
    assert_eq!(v, [0xac, 0x02]);
    let mut f = Vec::new();
    put_int(&mut f, 1, -1);
    assert_eq!(
        f.len(),
        11,
        "negative int64: ten varint bytes after the key"
    );
    let mut s = Vec::new();
    put_bytes(&mut s, 2, b"testing");
    assert_eq!(s, b"\x12\x07testing");
}

#[test]
fn a_small_cnn_exports_its_nodes_weights_and_shapes() {
    let store = ParamStore::new(3);
    let pb = store.root().push("features");
    let mut s = Sequential::new(&pb);
    let conv = Conv2dConfig {
        stride: (2, 1),
        padding: (1, 2),
        ..Default::default()
    };
    s.push(Conv2d::new(2, 4, (3, 5), conv, &pb.push(0)).unwrap());
    s.push(BatchNorm2d::new(4, BatchNormConfig::default(), &pb.push(1)).unwrap());
    s.push(LeakyReLU::new(0.2));
    s.push(MaxPool2d::new((2, 2), (2, 2)));
    s.push(AdaptiveAvgPool2d::new((1, 1)));
    s.push(Flatten::default());
    s.push(Dropout::new(0.5, &pb.push(6)).unwrap());
    s.push(Linear::new(4, 3, true, &pb.push(7)).unwrap());
    s.push(Softmax::new(1));
    s.set_training(false);
    let x = f32_input(&[5, 2, 8, 9], 1);
    let e = export_onnx(&s, &x, "deepnet-test").unwrap();
    let direct = s.forward(&x).unwrap();
    assert_eq!(
        e.output.to_vec::<f32>().unwrap(),
        direct.to_vec::<f32>().unwrap()
    );
    assert_eq!(e.output.dims(), [5, 3]);

    let g = graph(&e.bytes);
    let nodes = all(&g, 1);
    let ops: Vec<String> = nodes.iter().map(|n| text(n, 4)).collect();
    assert_eq!(
        ops,
        [
            "Conv",
            "BatchNormalization",
            "LeakyRelu",
            "MaxPool",
            "GlobalAveragePool",
            "Flatten",
            "Identity",
            "Gemm",
            "Softmax",
            "Identity"
        ]
    );
    // the chain: each node reads the previous node's output; the first reads `input`, the last
    // writes `output`
    assert_eq!(all(&nodes[0], 1)[0], b"input");
    for w in nodes.windows(2) {
        assert_eq!(all(&w[1], 1)[0], all(&w[0], 2)[0]);
    }
    assert_eq!(all(nodes.last().unwrap(), 2)[0], b"output");
    // the convolution's attributes
    let attrs: Vec<(String, Vec<i64>)> = all(&nodes[0], 5)
        .iter()
        .map(|a| {
            (
                text(a, 1),
                ints(a, 8).into_iter().chain(ints(a, 3)).collect(),
            )
        })
        .collect();
    assert!(
        attrs.contains(&("kernel_shape".into(), vec![3, 5])),
        "{attrs:?}"
    );
    assert!(attrs.contains(&("strides".into(), vec![2, 1])));
    assert!(attrs.contains(&("pads".into(), vec![1, 2, 1, 2])));
    assert!(attrs.contains(&("group".into(), vec![1])));
    // the weights, by state_dict key, with their shapes and values
    let inits = all(&g, 5);
    let names: Vec<String> = inits.iter().map(|t| text(t, 8)).collect();
    assert_eq!(
        names,
        [
            "features.0.weight",
            "features.0.bias",
            "features.1.weight",
            "features.1.bias",
            "features.1.running_mean",
            "features.1.running_var",
            "features.7.weight",
            "features.7.bias"
        ]
    );
    let w = &inits[0];
    assert_eq!(ints(w, 1), vec![4, 2, 3, 5]);
    assert_eq!(ints(w, 2), vec![1], "float32");
    let raw = all(w, 9).remove(0);
    let vals: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let key = store.get("features.0.weight").unwrap();
    assert_eq!(vals, key.to_vec::<f32>().unwrap());
    // input and output: a free batch dim N, then the sample's dims
    let dims = |vi: &[u8]| -> (String, Vec<String>) {
        let ty = all(vi, 2).remove(0);
        let tt = all(&ty, 1).remove(0);
        let shape = all(&tt, 2).remove(0);
        let d = all(&shape, 1)
            .iter()
            .map(|d| match ints(d, 1).first() {
                Some(v) => v.to_string(),
                None => text(d, 2),
            })
            .collect();
        (text(vi, 1), d)
    };
    assert_eq!(
        dims(&all(&g, 11)[0]),
        (
            "input".into(),
            vec!["N".into(), "2".into(), "8".into(), "9".into()]
        )
    );
    assert_eq!(
        dims(&all(&g, 12)[0]),
        ("output".into(), vec!["N".into(), "3".into()])
    );
}

#[test]
fn what_cannot_be_exported_is_named() {
    let store = ParamStore::new(0);
    let pb = store.root().push("net");
    let mut s = Sequential::new(&pb);
    s.push(Linear::new(4, 4, true, &pb.push(0)).unwrap());
    s.push(Dropout::new(0.5, &pb.push(1)).unwrap());
    let x = f32_input(&[2, 4], 0);
    // dropout still in training mode
    let e = export_onnx(&s, &x, "t").err().unwrap().to_string();
    assert!(e.contains("net.1") && e.contains("training mode"), "{e}");
    s.set_training(false);
    assert!(export_onnx(&s, &x, "t").is_ok());
    // a layer with no ONNX form
    let lstm = LSTM::new(
        &crate::layers::RnnConfig::new(4, 3),
        &store.root().push("rnn"),
    )
    .unwrap();
    let e = export_onnx(&lstm, &f32_input(&[2, 5, 4], 0), "t")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("LSTM") && e.contains("no ONNX form"), "{e}");
    // an example that is not a batch
    assert!(export_onnx(&s, &f32_input(&[4], 0), "t").is_err());
    // Gemm needs (N, in_features)
    let lin = Linear::new(4, 2, true, &store.root().push("l")).unwrap();
    let e = export_onnx(&lin, &f32_input(&[2, 3, 4], 0), "t")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("Gemm"), "{e}");
}
