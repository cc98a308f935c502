//! The [safetensors](https://github.com/huggingface/safetensors) format, read and written here
//! (it is small): an 8-byte little-endian header length `N`, `N` bytes of JSON header
//!
//! ```text
//! {"__metadata__": {"k": "v"}, "fc.weight": {"dtype": "F32", "shape": [10, 784], "data_offsets": [0, 31360]}, ...}
//! ```
//!
//! then the raw little-endian tensor data; `data_offsets` are `[begin, end)` byte offsets into the
//! data that follows the header. As the reference implementation does, the writer lays tensors out
//! by dtype (I64, F64, F32, U8) and then by name, lists them in that order in the header after
//! `__metadata__`, and pads the header with spaces to a multiple of 8 bytes, so that its files
//! are byte for byte those of `safetensors.torch.save_file`. Files written here load with
//! `safetensors.torch.load_file`, and files written by it load here (dtypes F32, F64, I64, U8).

use crate::atomic::write_atomic;
use crate::error::{Result, TrainError};
use deepnet_tensor::{DType, Shape, Tensor};
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

/// The reference implementation's limit on the header size (100 MB).
const MAX_HEADER: u64 = 100_000_000;

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "F32",
        DType::F64 => "F64",
        DType::I64 => "I64",
        DType::U8 => "U8",
    }
}

/// The position of a dtype in the reference implementation's `Dtype` enum, whose order decides
/// the data layout.
fn dtype_rank(d: DType) -> u8 {
    match d {
        DType::U8 => 0,
        DType::F32 => 1,
        DType::F64 => 2,
        DType::I64 => 3,
    }
}

fn parse_dtype(s: &str) -> Option<DType> {
    match s {
        "F32" => Some(DType::F32),
        "F64" => Some(DType::F64),
        "I64" => Some(DType::I64),
        "U8" => Some(DType::U8),
        _ => None,
    }
}

fn err(path: &Path, msg: impl Into<String>) -> TrainError {
    TrainError::Safetensors {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// The little-endian bytes of a tensor's elements in row-major order.
pub(crate) fn tensor_bytes(t: &Tensor) -> deepnet_tensor::Result<Vec<u8>> {
    Ok(match t.dtype() {
        DType::F32 => t
            .to_vec::<f32>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::F64 => t
            .to_vec::<f64>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::I64 => t
            .to_vec::<i64>()?
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect(),
        DType::U8 => t.to_vec::<u8>()?,
    })
}

fn tensor_from_bytes(bytes: &[u8], dtype: DType, shape: Shape) -> deepnet_tensor::Result<Tensor> {
    fn le<const W: usize, T>(b: &[u8], f: fn([u8; W]) -> T) -> Vec<T> {
        b.chunks_exact(W)
            .map(|c| f(c.try_into().expect("chunk of W bytes")))
            .collect()
    }
    match dtype {
        DType::F32 => Tensor::from_vec(le(bytes, f32::from_le_bytes), shape),
        DType::F64 => Tensor::from_vec(le(bytes, f64::from_le_bytes), shape),
        DType::I64 => Tensor::from_vec(le(bytes, i64::from_le_bytes), shape),
        DType::U8 => Tensor::from_vec(bytes.to_vec(), shape),
    }
}

/// Serializes tensors (and string metadata) to safetensors bytes. `path` only labels errors
/// (duplicate or reserved names).
pub fn serialize_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &[(String, String)],
) -> Result<Vec<u8>> {
    let mut seen = HashSet::new();
    for (name, _) in tensors {
        if name == "__metadata__" {
            return Err(err(path, "\"__metadata__\" cannot be a tensor name"));
        }
        if !seen.insert(name.as_str()) {
            return Err(err(path, format!("tensor \"{name}\" is given twice")));
        }
    }
    // the reference layout: dtypes in decreasing order of the reference's dtype enum
    // (I64, F64, F32, U8), then by name
    let mut order: Vec<&(String, Tensor)> = tensors.iter().collect();
    order.sort_by(|a, b| {
        dtype_rank(b.1.dtype())
            .cmp(&dtype_rank(a.1.dtype()))
            .then_with(|| a.0.cmp(&b.0))
    });

    let mut header = String::from("{");
    if !metadata.is_empty() {
        let mut meta = serde_json::Map::new();
        for (k, v) in metadata {
            meta.insert(k.clone(), Value::String(v.clone()));
        }
        header.push_str("\"__metadata__\":");
        header.push_str(&Value::Object(meta).to_string());
    }
    let mut data = Vec::new();
    for (i, (name, t)) in order.iter().enumerate() {
        let bytes = tensor_bytes(t)?;
        let (begin, end) = (data.len(), data.len() + bytes.len());
        data.extend_from_slice(&bytes);
        if i > 0 || !metadata.is_empty() {
            header.push(',');
        }
        header.push_str(&Value::String(name.clone()).to_string());
        header.push_str(&format!(
            ":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{begin},{end}]}}",
            dtype_name(t.dtype()),
            t.dims()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    Ok(out)
}

/// Saves tensors and string metadata as a safetensors file, atomically (see
/// [`crate::atomic::write_atomic`]). `tensors` is typically
/// `ParamStore::state_dict()`.
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
    metadata: &[(String, String)],
) -> Result<()> {
    let path = path.as_ref();
    let bytes = serialize_safetensors(path, tensors, metadata)?;
    write_atomic(path, &bytes).map_err(|e| TrainError::io(path, e))
}

/// Loads the tensors of a safetensors file, in the order of their data. Every error names the file
/// and, where one is involved, the tensor.
pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    Ok(load_safetensors_with_metadata(path)?.0)
}

/// Loads the tensors and the `__metadata__` of a safetensors file.
#[allow(clippy::type_complexity)]
pub fn load_safetensors_with_metadata(
    path: impl AsRef<Path>,
) -> Result<(Vec<(String, Tensor)>, Vec<(String, String)>)> {
    let path = path.as_ref();
    let bytes = deepnet_data::read_regular_file(path, deepnet_data::MAX_FILE_BYTES)?;
    deserialize_safetensors(path, &bytes)
}

/// Parses safetensors bytes; `path` labels errors. Returns the tensors in the order of their data
/// and the metadata (sorted by key).
#[allow(clippy::type_complexity)]
pub fn deserialize_safetensors(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<(String, Tensor)>, Vec<(String, String)>)> {
    if bytes.len() < 8 {
        return Err(err(
            path,
            format!(
                "truncated: {} bytes, shorter than the 8-byte header length",
                bytes.len()
            ),
        ));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        return Err(err(
            path,
            format!("header length {n} exceeds the limit of {MAX_HEADER} bytes"),
        ));
    }
    let n = n as usize;
    if 8 + n > bytes.len() {
        return Err(err(
            path,
            format!(
                "truncated: header length {n} runs past the end of the file ({} bytes)",
                bytes.len()
            ),
        ));
    }
    let header = std::str::from_utf8(&bytes[8..8 + n])
        .map_err(|e| err(path, format!("header is not UTF-8: {e}")))?;
    if !header.starts_with('{') {
        return Err(err(path, "header does not start with '{'"));
    }
    let json: Value = serde_json::from_str(header)
        .map_err(|e| err(path, format!("header is not valid JSON: {e}")))?;
    // serde_json keeps the last of two equal keys; a file that names a tensor twice is damaged
    serde_json::from_str::<NoDuplicateKeys>(header)
        .map_err(|e| err(path, format!("header: {e}")))?;
    let Value::Object(map) = json else {
        return Err(err(path, "header is not a JSON object"));
    };
    let data = &bytes[8 + n..];

    let mut metadata = Vec::new();
    let mut entries = Vec::new(); // (begin, end, name, dtype, shape)
    for (name, info) in &map {
        if name == "__metadata__" {
            let Value::Object(m) = info else {
                return Err(err(path, "__metadata__ is not a JSON object"));
            };
            for (k, v) in m {
                let Value::String(s) = v else {
                    return Err(err(
                        path,
                        format!("__metadata__ \"{k}\" is not a string: {v}"),
                    ));
                };
                metadata.push((k.clone(), s.clone()));
            }
            continue;
        }
        let bad = |msg: String| err(path, format!("tensor \"{name}\": {msg}"));
        let Value::Object(info) = info else {
            return Err(bad(format!("entry is not a JSON object: {info}")));
        };
        let dtype_s = info
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing or non-string \"dtype\"".into()))?;
        let dtype = parse_dtype(dtype_s).ok_or_else(|| {
            bad(format!(
                "unsupported dtype \"{dtype_s}\" (supported: F32, F64, I64, U8)"
            ))
        })?;
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(
                || bad("missing \"shape\" or not a list of non-negative integers".into()),
            )?;
        let offsets: Vec<u64> = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
            .filter(|o| o.len() == 2)
            .ok_or_else(|| {
                bad("missing \"data_offsets\" or not two non-negative integers".into())
            })?;
        let (begin, end) = (offsets[0], offsets[1]);
        if begin > end {
            return Err(bad(format!("data_offsets [{begin}, {end}] are reversed")));
        }
        if end > data.len() as u64 {
            return Err(bad(format!(
                "data_offsets [{begin}, {end}] run past the end of the data ({} bytes)",
                data.len()
            )));
        }
        let expected = shape
            .iter()
            .try_fold(dtype.size_in_bytes(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
        if (end - begin) as usize != expected {
            return Err(bad(format!(
                "shape {shape:?} of {dtype_s} needs {expected} bytes but data_offsets [{begin}, {end}] hold {}",
                end - begin
            )));
        }
        entries.push((begin as usize, end as usize, name.clone(), dtype, shape));
    }
    entries.sort_by_key(|e| (e.0, e.1));
    for w in entries.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if b.0 < a.1 {
            return Err(err(
                path,
                format!(
                    "tensor \"{}\": data_offsets [{}, {}] overlap those of tensor \"{}\" [{}, {}]",
                    b.2, b.0, b.1, a.2, a.0, a.1
                ),
            ));
        }
    }
    let mut tensors = Vec::with_capacity(entries.len());
    for (begin, end, name, dtype, shape) in entries {
        let t = tensor_from_bytes(&data[begin..end], dtype, Shape::new(shape))
            .map_err(|e| err(path, format!("tensor \"{name}\": {e}")))?;
        tensors.push((name, t));
    }
    metadata.sort();
    Ok((tensors, metadata))
}

/// Deserializes any JSON value and fails on the first object that has a key twice, at any depth.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !seen.insert(k.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key \"{k}\" appears twice"
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::temp_dir;

    fn sample() -> Vec<(String, Tensor)> {
        vec![
            (
                "fc.weight".into(),
                Tensor::from_vec(vec![1.5f32, -2.0, 3.25, 0.0, 1e-7, -1e30], [2, 3]).unwrap(),
            ),
            (
                "fc.bias".into(),
                Tensor::from_vec(vec![0.1f64, -0.2], [2]).unwrap(),
            ),
            ("bn.num_batches_tracked".into(), Tensor::scalar(7i64)),
            (
                "mask".into(),
                Tensor::from_vec(vec![0u8, 1, 1], [3, 1]).unwrap(),
            ),
            (
                "empty".into(),
                Tensor::from_vec(Vec::<f32>::new(), [0, 4]).unwrap(),
            ),
        ]
    }

    fn assert_same(a: &[(String, Tensor)], b: &[(String, Tensor)]) {
        assert_eq!(a.len(), b.len());
        for (name, t) in a {
            let (_, u) = b.iter().find(|(n, _)| n == name).expect(name);
            assert_eq!(t.dtype(), u.dtype(), "{name}");
            assert_eq!(t.dims(), u.dims(), "{name}");
            assert_eq!(t.to_vec_f64(), u.to_vec_f64(), "{name}");
        }
    }

    #[test]
    fn round_trip_with_metadata() {
        let d = temp_dir("st-roundtrip");
        let p = d.join("model.safetensors");
        let tensors = sample();
        let meta = vec![
            ("format".to_string(), "pt".to_string()),
            ("model".to_string(), "mlp \"quoted\"".to_string()),
        ];
        save_safetensors(&p, &tensors, &meta).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0, "header padded to 8 bytes");
        let (back, back_meta) = load_safetensors_with_metadata(&p).unwrap();
        assert_same(&tensors, &back);
        assert_eq!(back_meta, meta);
        // data order: 8-byte dtypes first, then by name
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "bn.num_batches_tracked",
                "fc.bias",
                "empty",
                "fc.weight",
                "mask"
            ]
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn non_contiguous_tensor_is_saved_in_logical_order() {
        let t = Tensor::from_vec(vec![1.0f32, 2., 3., 4., 5., 6.], [2, 3])
            .unwrap()
            .t()
            .unwrap();
        let d = temp_dir("st-strided");
        let p = d.join("t.safetensors");
        save_safetensors(&p, &[("t".into(), t.clone())], &[]).unwrap();
        let back = load_safetensors(&p).unwrap();
        assert_eq!(back[0].1.dims(), &[3, 2]);
        assert_eq!(
            back[0].1.to_vec::<f32>().unwrap(),
            t.to_vec::<f32>().unwrap()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Builds a file by hand from the format description, as another implementation would.
    fn hand_built(header: &str, data: &[u8]) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn loads_hand_built_file() {
        // the README's example: two tensors, written as PyTorch would lay them out
        let mut data = Vec::new();
        for x in [1.0f32, 2.0, 3.0, 4.0] {
            data.extend_from_slice(&x.to_le_bytes());
        }
        for x in [-5i64, 6] {
            data.extend_from_slice(&x.to_le_bytes());
        }
        let header = r#"{"TENSOR_B": {"dtype": "I64", "shape": [2], "data_offsets": [16, 32]}, "TENSOR_A":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}, "__metadata__": {"format": "pt"}}"#;
        let p = Path::new("hand.safetensors");
        let (t, meta) = deserialize_safetensors(p, &hand_built(header, &data)).unwrap();
        assert_eq!(t[0].0, "TENSOR_A");
        assert_eq!(t[0].1.dims(), &[2, 2]);
        assert_eq!(t[0].1.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t[1].0, "TENSOR_B");
        assert_eq!(t[1].1.to_vec::<i64>().unwrap(), vec![-5, 6]);
        assert_eq!(meta, vec![("format".to_string(), "pt".to_string())]);
    }

    fn load_err(bytes: &[u8]) -> String {
        let d = temp_dir("st-corrupt");
        let p = d.join("corrupt.safetensors");
        std::fs::write(&p, bytes).unwrap();
        let e = load_safetensors(&p).unwrap_err().to_string();
        std::fs::remove_dir_all(&d).unwrap();
        assert!(
            e.contains("corrupt.safetensors"),
            "error does not name the file: {e}"
        );
        e
    }

    #[test]
    fn corrupt_files_give_errors_naming_file_and_tensor() {
        let p = temp_dir("st-good").join("good.safetensors");
        save_safetensors(&p, &sample(), &[]).unwrap();
        let good = std::fs::read(&p).unwrap();
        std::fs::remove_dir_all(p.parent().unwrap()).unwrap();

        assert!(load_err(&good[..5]).contains("truncated"));
        assert!(load_err(&good[..20]).contains("truncated"));
        let e = load_err(&good[..good.len() - 3]);
        assert!(e.contains("\"mask\"") && e.contains("past the end"), "{e}");
        assert!(load_err(&hand_built("{\"a\": {\"dtype\"", b"")).contains("JSON"));
        assert!(load_err(&hand_built("[1, 2]", b"")).contains("'{'"));
        assert!(load_err(&u64::MAX.to_le_bytes()).contains("exceeds"));

        let e = load_err(&hand_built(
            r#"{"w": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}"#,
            &[0, 0],
        ));
        assert!(e.contains("\"w\"") && e.contains("BF16"), "{e}");
        let e = load_err(&hand_built(
            r#"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#,
            &[0; 8],
        ));
        assert!(e.contains("\"w\"") && e.contains("needs 12 bytes"), "{e}");
        let e = load_err(&hand_built(
            r#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#,
            &[0; 12],
        ));
        assert!(
            e.contains("overlap") && e.contains("\"a\"") && e.contains("\"b\""),
            "{e}"
        );
        let e = load_err(&hand_built(
            r#"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}"#,
            &[0; 8],
        ));
        assert!(e.contains("reversed"), "{e}");
        let e = load_err(&hand_built(
            r#"{"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}"#,
            &[0; 8],
        ));
        assert!(e.contains("\"w\"") && e.contains("shape"), "{e}");
    }

    #[test]
    fn missing_file_and_duplicate_names() {
        let e = load_safetensors("/nonexistent/dir/m.safetensors").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/dir/m.safetensors"));
        let t = Tensor::scalar(1.0f32);
        let e = serialize_safetensors(
            Path::new("x.safetensors"),
            &[("a".into(), t.clone()), ("a".into(), t)],
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"a\" is given twice"), "{e}");
        // a header that names a tensor twice is refused, not read as its last entry
        let h = r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
        let e = load_err(&hand_built(h, &[1, 2]));
        assert!(e.contains("the key \"w\" appears twice"), "{e}");
        let h = r#"{"__metadata__":{"k":"a","k":"b"}}"#;
        assert!(load_err(&hand_built(h, &[])).contains("\"k\" appears twice"));
    }
}
