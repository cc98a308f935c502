//! `deepnet export --onnx`: a trained model and a zoo model are written as ONNX with their test
//! data, and what cannot be exported is a clear error. The numbers are checked against
//! onnxruntime by `tools/onnx/check_onnx.py` (Python, not run here); the graph's structure is
//! tested in `deepnet-nn`'s `onnx` tests.

mod common;

use common::{deepnet, json_line, stderr, temp_dir};

/// The dims of an ONNX TensorProto file (field 1, varints) and its float count (raw_data, field 9).
fn tensor_file_dims(path: &std::path::Path) -> (Vec<u64>, usize) {
    let b = std::fs::read(path).unwrap();
    let (mut i, mut dims, mut floats) = (0, Vec::new(), 0);
    let varint = |i: &mut usize| {
        let (mut v, mut s) = (0u64, 0);
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << s;
            if byte < 0x80 {
                return v;
            }
            s += 7;
        }
    };
    while i < b.len() {
        let key = varint(&mut i);
        match key & 7 {
            0 if key >> 3 == 1 => dims.push(varint(&mut i)),
            0 => {
                varint(&mut i);
            }
            2 => {
                let n = varint(&mut i) as usize;
                if key >> 3 == 9 {
                    floats = n / 4;
                }
                i += n;
            }
            w => panic!("wire type {w}"),
        }
    }
    (dims, floats)
}

#[test]
fn trained_and_zoo_models_export_with_their_test_data() {
    let dir = temp_dir("cli_export", "run");
    let run = dir.join("lenet");
    let o = deepnet(&[
        "train",
        "--model",
        "lenet5",
        "--epochs",
        "1",
        "--limit",
        "300",
        "--json",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let w = run.join("model.safetensors");
    let onnx = dir.join("lenet.onnx");
    let data = dir.join("lenet_data");
    let o = deepnet(&[
        "export",
        "--weights",
        w.to_str().unwrap(),
        "--onnx",
        onnx.to_str().unwrap(),
        "--test-data",
        data.to_str().unwrap(),
        "--batch",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["model"], "lenet5");
    assert_eq!(j["output"], serde_json::json!([10]));
    assert_eq!(
        j["bytes"].as_u64().unwrap(),
        std::fs::metadata(&onnx).unwrap().len()
    );
    // LeNet-5's 61,706 parameters are in it as float32
    assert!(j["bytes"].as_u64().unwrap() > 61_706 * 4);
    assert_eq!(
        tensor_file_dims(&data.join("input_0.pb")),
        (vec![3, 1, 28, 28], 3 * 784)
    );
    assert_eq!(
        tensor_file_dims(&data.join("output_0.pb")),
        (vec![3, 10], 30)
    );

    // a zoo model by name, at another input size
    let o = deepnet(&[
        "export",
        "--model",
        "resnet18",
        "--input",
        "3x32x32",
        "--classes",
        "7",
        "--onnx",
        dir.join("r18.onnx").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_line(&o)["output"], serde_json::json!([7]));

    // a trained file names its model: --model with it is refused
    let o = deepnet(&[
        "export",
        "--model",
        "lenet5",
        "--weights",
        w.to_str().unwrap(),
        "--onnx",
        dir.join("x.onnx").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("leave them out"), "{}", stderr(&o));
}

#[test]
fn what_has_no_onnx_form_is_named() {
    let dir = temp_dir("cli_export", "bad");
    let out = dir.join("lstm.onnx");
    let o = deepnet(&["export", "--model", "lstm", "--onnx", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("ONNX export") && e.contains("LSTM"), "{e}");
    assert!(!out.exists(), "nothing is written on an error");
    // a state_dict that does not fit the named model
    let o = deepnet(&[
        "export",
        "--model",
        "lenet5",
        "--weights",
        "no/such.safetensors",
        "--onnx",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no/such.safetensors"), "{}", stderr(&o));
    let o = deepnet(&[
        "export",
        "--model",
        "lenet5",
        "--batch",
        "0",
        "--onnx",
        out.to_str().unwrap(),
    ]);
    assert!(stderr(&o).contains("--batch"), "{}", stderr(&o));
}
