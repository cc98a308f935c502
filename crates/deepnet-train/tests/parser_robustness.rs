//! Bounded, seeded fuzzing of the file parsers on stable Rust: every truncation of a valid file
//! and 20,000 random byte edits of it must give `Ok` or an error, never a panic, a hang
//! or a huge allocation. Parsers: safetensors, IDX (raw and gzip). (The PyTorch checkpoint
//! reader has its own in torch_checkpoint.rs.) A failing input is printed in full so it can be
//! added to a regression test.

use deepnet_data::idx::{decode_idx, encode_idx};
use deepnet_tensor::Tensor;
use deepnet_train::safetensors::{deserialize_safetensors, serialize_safetensors};
use std::path::Path;

use deepnet_tensor::testing::fuzz_bytes as fuzz;

#[test]
fn safetensors_never_panics() {
    let tensors = vec![
        (
            "a.weight".to_string(),
            Tensor::from_vec(vec![1.0f32; 6], [2, 3]).unwrap(),
        ),
        (
            "b".to_string(),
            Tensor::from_vec(vec![7i64, -1], [2]).unwrap(),
        ),
        (
            "c".to_string(),
            Tensor::from_vec(vec![1u8, 2, 3], [3]).unwrap(),
        ),
    ];
    let meta = vec![(
        "deepnet.model".to_string(),
        "{\"name\":\"mlp\"}".to_string(),
    )];
    let good = serialize_safetensors(Path::new("f.safetensors"), &tensors, &meta).unwrap();
    assert!(deserialize_safetensors(Path::new("f"), &good).is_ok());
    fuzz(&good, 20_000, 1, |b| {
        let _ = deserialize_safetensors(Path::new("f.safetensors"), b);
    });
}

#[test]
fn idx_never_panics_raw_or_gzip() {
    let good = encode_idx(&[3, 4, 5], &(0..60).map(|i| i as u8).collect::<Vec<_>>()).unwrap();
    fuzz(&good, 20_000, 2, |b| {
        let _ = decode_idx(b.to_vec(), "f.idx", None);
        let _ = decode_idx(b.to_vec(), "f.idx", Some((3, "images")));
    });
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        e.write_all(&good).unwrap();
        e.finish().unwrap();
    }
    fuzz(&gz, 20_000, 3, |b| {
        let _ = decode_idx(b.to_vec(), "f.idx.gz", None);
    });
}
