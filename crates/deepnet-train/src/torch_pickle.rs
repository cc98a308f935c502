//! PyTorch checkpoints (`.pt`, `.pth`, written by `torch.save` since PyTorch 1.6) read safely,
//! and written.
//!
//! A checkpoint is a ZIP archive of stored entries: `<name>/data.pkl`, a pickle of the saved
//! object, and `<name>/data/<key>`, the raw bytes of each tensor storage. Unpickling normally
//! runs whatever the pickle names, so reading an untrusted file can run code. The reader here is
//! a restricted unpickler: it rebuilds only tensors (`torch._utils._rebuild_tensor_v2`,
//! `_rebuild_parameter`, the `torch.*Storage` types) and plain containers (dicts, ordered
//! dicts, lists, tuples, strings, numbers); a pickle that asks for anything else is refused with
//! an error naming what it asked for. Nested dicts flatten to dotted names (`{"model":
//! state_dict}` gives `model.fc.weight`); other leaves (an epoch number) are skipped.
//!
//! Storage types map to deepnet's dtypes: float32, float64, int64 and uint8 as they are; int32,
//! int16, int8 and bool widen to int64 / uint8; float16 and bfloat16 widen to float32.

use crate::error::{Result, TrainError};
use crate::zip_stored::{read_entries, write_stored, ZipEntry};
use deepnet_tensor::{DType, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Element types of `torch.*Storage`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Elem {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Elem {
    fn from_storage(name: &str) -> Option<Elem> {
        Some(match name {
            "torch.FloatStorage" => Elem::F32,
            "torch.DoubleStorage" => Elem::F64,
            "torch.HalfStorage" => Elem::F16,
            "torch.BFloat16Storage" => Elem::BF16,
            "torch.LongStorage" => Elem::I64,
            "torch.IntStorage" => Elem::I32,
            "torch.ShortStorage" => Elem::I16,
            "torch.CharStorage" => Elem::I8,
            "torch.ByteStorage" => Elem::U8,
            "torch.BoolStorage" => Elem::Bool,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Elem::F64 | Elem::I64 => 8,
            Elem::F32 | Elem::I32 => 4,
            Elem::F16 | Elem::BF16 | Elem::I16 => 2,
            Elem::I8 | Elem::U8 | Elem::Bool => 1,
        }
    }
}

/// The globals a checkpoint may name: containers, tensor rebuilders and storage types.
const ALLOWED: &[&str] = &[
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
];

#[derive(Clone, Debug)]
enum V {
    None,
    /// a value kept only for its place on the stack (a bool, a float, bytes)
    Other,
    Int(i64),
    Str(String),
    Tuple(Vec<V>),
    List(Vec<V>),
    Dict(Vec<(V, V)>),
    Global(String),
    Storage(Elem, usize, usize), // element type, offset in the archive, element count
    Tensor(Tensor),
    Mark,
}

struct Unpickler<'a> {
    archive: &'a [u8],
    entries: &'a [ZipEntry],
    prefix: String,
    stack: Vec<V>,
    memo: HashMap<u32, V>,
}

impl Unpickler<'_> {
    fn pop(&mut self) -> std::result::Result<V, String> {
        self.stack
            .pop()
            .ok_or_else(|| "stack underflow".to_string())
    }

    fn pop_mark(&mut self) -> std::result::Result<Vec<V>, String> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, V::Mark))
            .ok_or("no MARK on the stack")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn global(&self, name: String) -> std::result::Result<V, String> {
        if ALLOWED.contains(&name.as_str()) || Elem::from_storage(&name).is_some() {
            Ok(V::Global(name))
        } else {
            Err(format!(
                "refused: the pickle asks for \"{name}\", which could run code; only tensors and plain containers are read"
            ))
        }
    }

    fn storage(&self, pid: V) -> std::result::Result<V, String> {
        let V::Tuple(t) = pid else {
            return Err("persistent id is not a tuple".into());
        };
        match t.as_slice() {
            [V::Str(kind), V::Global(ty), V::Str(key), _, V::Int(numel)] if kind == "storage" => {
                let elem = Elem::from_storage(ty).ok_or(format!("unknown storage {ty}"))?;
                let name = format!("{}data/{key}", self.prefix);
                let e = self
                    .entries
                    .iter()
                    .find(|e| e.name == name)
                    .ok_or(format!("storage \"{name}\" is not in the archive"))?;
                let numel = usize::try_from(*numel).map_err(|_| "negative storage size")?;
                if numel.checked_mul(elem.size()).is_none_or(|n| n > e.len) {
                    return Err(format!(
                        "storage \"{name}\": {numel} x {} bytes but the entry holds {}",
                        elem.size(),
                        e.len
                    ));
                }
                Ok(V::Storage(elem, e.start, numel))
            }
            _ => Err("persistent id is not ('storage', type, key, location, size)".into()),
        }
    }

    fn reduce(&self, f: V, args: V) -> std::result::Result<V, String> {
        let (V::Global(f), V::Tuple(args)) = (f, args) else {
            return Err("REDUCE of something other than an allowed global".into());
        };
        match (f.as_str(), args.as_slice()) {
            ("collections.OrderedDict", []) => Ok(V::Dict(Vec::new())),
            ("torch._utils._rebuild_tensor_v2", [st, V::Int(off), size, stride, ..]) => {
                self.tensor(st, *off, size, stride)
            }
            ("torch._utils._rebuild_parameter", [t @ V::Tensor(_), ..]) => Ok(t.clone()),
            (f, a) => Err(format!(
                "{f} called with unexpected arguments ({} of them)",
                a.len()
            )),
        }
    }

    /// The strided view `(offset, size, stride)` of a storage, copied out contiguous; every
    /// element it reaches is checked to lie in the storage.
    fn tensor(&self, st: &V, off: i64, size: &V, stride: &V) -> std::result::Result<V, String> {
        let &V::Storage(elem, start, numel) = st else {
            return Err("tensor without a storage".into());
        };
        let ints = |v: &V| -> std::result::Result<Vec<usize>, String> {
            match v {
                V::Tuple(t) => t
                    .iter()
                    .map(|x| match x {
                        V::Int(i) if *i >= 0 => Ok(*i as usize),
                        _ => Err("size or stride is not a tuple of non-negative ints".to_string()),
                    })
                    .collect(),
                _ => Err("size or stride is not a tuple".into()),
            }
        };
        let (size, stride) = (ints(size)?, ints(stride)?);
        if size.len() != stride.len() || off < 0 {
            return Err(format!(
                "bad view: size {size:?}, stride {stride:?}, offset {off}"
            ));
        }
        let count = size
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or("tensor size overflows")?;
        if count > 0 {
            let last = size
                .iter()
                .zip(&stride)
                .try_fold(off as usize, |a, (&d, &s)| {
                    a.checked_add((d - 1).checked_mul(s)?)
                })
                .filter(|&l| l < numel);
            if last.is_none() {
                return Err(format!(
                    "view (offset {off}, size {size:?}, stride {stride:?}) reaches past its storage of {numel} elements"
                ));
            }
        }
        let bytes = &self.archive[start..start + numel * elem.size()];
        let mut idx = vec![0usize; size.len()];
        let mut at = Vec::with_capacity(count);
        for _ in 0..count {
            at.push(off as usize + idx.iter().zip(&stride).map(|(i, s)| i * s).sum::<usize>());
            for d in (0..size.len()).rev() {
                idx[d] += 1;
                if idx[d] < size[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        let el = |i: usize| &bytes[i * elem.size()..(i + 1) * elem.size()];
        let shape = size.clone();
        let t = match elem {
            Elem::F32 => Tensor::from_vec(
                at.iter()
                    .map(|&i| f32::from_le_bytes(el(i).try_into().unwrap()))
                    .collect::<Vec<_>>(),
                shape,
            ),
            Elem::F64 => Tensor::from_vec(
                at.iter()
                    .map(|&i| f64::from_le_bytes(el(i).try_into().unwrap()))
                    .collect::<Vec<_>>(),
                shape,
            ),
            Elem::F16 | Elem::BF16 => Tensor::from_vec(
                at.iter()
                    .map(|&i| half_to_f32(u16::from_le_bytes(el(i).try_into().unwrap()), elem))
                    .collect::<Vec<_>>(),
                shape,
            ),
            Elem::I64 | Elem::I32 | Elem::I16 | Elem::I8 => Tensor::from_vec(
                at.iter()
                    .map(|&i| {
                        let b = el(i);
                        match elem {
                            Elem::I64 => i64::from_le_bytes(b.try_into().unwrap()),
                            Elem::I32 => i32::from_le_bytes(b.try_into().unwrap()) as i64,
                            Elem::I16 => i16::from_le_bytes(b.try_into().unwrap()) as i64,
                            _ => b[0] as i8 as i64,
                        }
                    })
                    .collect::<Vec<_>>(),
                shape,
            ),
            Elem::U8 | Elem::Bool => {
                Tensor::from_vec(at.iter().map(|&i| el(i)[0]).collect::<Vec<_>>(), shape)
            }
        };
        t.map(V::Tensor).map_err(|e| e.to_string())
    }

    fn run(&mut self, p: &[u8]) -> std::result::Result<V, String> {
        let mut i = 0usize;
        let take = |i: &mut usize, n: usize| -> std::result::Result<&[u8], String> {
            let s = p.get(*i..*i + n).ok_or("truncated pickle")?;
            *i += n;
            Ok(s)
        };
        let line = |i: &mut usize| -> std::result::Result<String, String> {
            let end = p[*i..]
                .iter()
                .position(|&b| b == b'\n')
                .ok_or("truncated GLOBAL")?;
            let s = String::from_utf8_lossy(&p[*i..*i + end]).to_string();
            *i += end + 1;
            Ok(s)
        };
        let utf8 =
            |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "string not UTF-8".to_string());
        loop {
            let op = *p.get(i).ok_or("pickle ends without STOP")?;
            let at = i;
            i += 1;
            match op {
                0x80 => i += 1, // PROTO
                0x95 => i += 8, // FRAME
                b'(' => self.stack.push(V::Mark),
                b'}' => self.stack.push(V::Dict(Vec::new())),
                b']' => self.stack.push(V::List(Vec::new())),
                b')' => self.stack.push(V::Tuple(Vec::new())),
                b'N' => self.stack.push(V::None),
                0x88 | 0x89 => self.stack.push(V::Other),
                b'K' => self.stack.push(V::Int(take(&mut i, 1)?[0] as i64)),
                b'M' => {
                    let b = take(&mut i, 2)?;
                    self.stack
                        .push(V::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
                }
                b'J' => {
                    let b = take(&mut i, 4)?;
                    self.stack
                        .push(V::Int(i32::from_le_bytes(b.try_into().unwrap()) as i64))
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes
                    let n = take(&mut i, 1)?[0] as usize;
                    let b = take(&mut i, n)?;
                    if n > 8 {
                        return Err(format!("integer of {n} bytes at {at}"));
                    }
                    let mut v = [if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    }; 8];
                    v[..n].copy_from_slice(b);
                    self.stack.push(V::Int(i64::from_le_bytes(v)))
                }
                b'G' => {
                    take(&mut i, 8)?;
                    self.stack.push(V::Other)
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'X' => u32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()) as usize,
                        0x8c => take(&mut i, 1)?[0] as usize,
                        _ => u64::from_le_bytes(take(&mut i, 8)?.try_into().unwrap()) as usize,
                    };
                    let s = utf8(take(&mut i, n)?)?;
                    self.stack.push(V::Str(s))
                }
                b'B' | b'C' | 0x8e => {
                    let n = match op {
                        b'B' => u32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()) as usize,
                        b'C' => take(&mut i, 1)?[0] as usize,
                        _ => u64::from_le_bytes(take(&mut i, 8)?.try_into().unwrap()) as usize,
                    };
                    take(&mut i, n)?;
                    self.stack.push(V::Other)
                }
                b'c' => {
                    let module = line(&mut i)?;
                    let name = line(&mut i)?;
                    let g = self.global(format!("{module}.{name}"))?;
                    self.stack.push(g)
                }
                0x93 => {
                    // STACK_GLOBAL
                    let (name, module) = (self.pop()?, self.pop()?);
                    let (V::Str(m), V::Str(n)) = (module, name) else {
                        return Err("STACK_GLOBAL of non-strings".into());
                    };
                    let g = self.global(format!("{m}.{n}"))?;
                    self.stack.push(g)
                }
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => take(&mut i, 1)?[0] as u32,
                        b'r' => u32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()),
                        _ => self.memo.len() as u32,
                    };
                    let top = self.stack.last().ok_or("memo of an empty stack")?.clone();
                    self.memo.insert(key, top);
                }
                b'h' | b'j' => {
                    let key = match op {
                        b'h' => take(&mut i, 1)?[0] as u32,
                        _ => u32::from_le_bytes(take(&mut i, 4)?.try_into().unwrap()),
                    };
                    let v = self
                        .memo
                        .get(&key)
                        .ok_or(format!("memo {key} unset"))?
                        .clone();
                    self.stack.push(v)
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(V::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(V::Tuple(items))
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let s = self.storage(pid)?;
                    self.stack.push(s)
                }
                b'R' => {
                    let (args, f) = (self.pop()?, self.pop()?);
                    let v = self.reduce(f, args)?;
                    self.stack.push(v)
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let (v, k) = (self.pop()?, self.pop()?);
                        vec![k, v]
                    } else {
                        self.pop_mark()?
                    };
                    let Some(V::Dict(d)) = self.stack.last_mut() else {
                        return Err("SETITEM on something other than a dict".into());
                    };
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    let Some(V::List(l)) = self.stack.last_mut() else {
                        return Err("APPEND on something other than a list".into());
                    };
                    l.extend(items);
                }
                b'b' => {
                    // BUILD: attribute state of an OrderedDict (its `_metadata`) is dropped
                    let state = self.pop()?;
                    match (self.stack.last(), state) {
                        (Some(V::Dict(_)), V::Dict(_) | V::None) => {}
                        (Some(V::Tensor(_)), _) => {}
                        _ => return Err("BUILD of something other than a dict or tensor".into()),
                    }
                }
                b'.' => return self.pop(),
                op => {
                    return Err(format!(
                        "opcode 0x{op:02x} at byte {at} is not supported (not a tensor checkpoint)"
                    ))
                }
            }
        }
    }
}

fn half_to_f32(h: u16, elem: Elem) -> f32 {
    if elem == Elem::BF16 {
        return f32::from_bits((h as u32) << 16);
    }
    let (sign, exp, frac) = (
        (h >> 15) as u32,
        ((h >> 10) & 0x1f) as u32,
        (h & 0x3ff) as u32,
    );
    let bits = match (exp, frac) {
        (0, 0) => sign << 31,
        (0, f) => {
            // subnormal: value = f * 2^-24
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign == 1 { -v } else { v };
        }
        (31, 0) => (sign << 31) | 0x7f80_0000,
        (31, f) => (sign << 31) | 0x7f80_0000 | (f << 13),
        (e, f) => (sign << 31) | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

fn flatten(prefix: &str, v: V, out: &mut Vec<(String, Tensor)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        V::Tensor(t) => out.push((prefix.to_string(), t)),
        V::Dict(d) => {
            for (k, v) in d {
                let key = match k {
                    V::Str(s) => s,
                    V::Int(i) => i.to_string(),
                    _ => continue,
                };
                flatten(&join(&key), v, out);
            }
        }
        V::List(l) | V::Tuple(l) => {
            for (i, v) in l.into_iter().enumerate() {
                flatten(&join(&i.to_string()), v, out);
            }
        }
        _ => {}
    }
}

/// The tensors of a PyTorch checkpoint's bytes, by dotted name. `path` names the file in errors.
pub fn parse_torch_checkpoint(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let err = |msg: String| TrainError::Safetensors {
        path: path.to_path_buf(),
        msg,
    };
    if bytes.starts_with(&[0x80]) || bytes.starts_with(b"\x8a\x0al") {
        return Err(err(
            "a legacy (pre-1.6, non-ZIP) PyTorch file: re-save it with torch.save in a current PyTorch".into(),
        ));
    }
    let entries = read_entries(bytes).map_err(err)?;
    let pkl = entries
        .iter()
        .find(|e| e.name.ends_with("data.pkl") && e.name.matches('/').count() == 1)
        .ok_or_else(|| err("no <name>/data.pkl in the archive: not a torch.save file".into()))?;
    let prefix = pkl.name.trim_end_matches("data.pkl").to_string();
    let mut u = Unpickler {
        archive: bytes,
        entries: &entries,
        prefix,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = u
        .run(&bytes[pkl.start..pkl.start + pkl.len])
        .map_err(|e| err(format!("{}: {e}", pkl.name)))?;
    let mut out = Vec::new();
    flatten("", root, &mut out);
    if out.is_empty() {
        return Err(err("the checkpoint holds no tensors".into()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((k, _)) = out.iter().find(|(k, _)| !seen.insert(k.clone())) {
        return Err(err(format!("the name \"{k}\" appears twice")));
    }
    Ok(out)
}

/// Reads a PyTorch checkpoint file (see the module docs).
pub fn load_torch_checkpoint(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let bytes = deepnet_data::read_regular_file(path, deepnet_data::MAX_FILE_BYTES)?;
    parse_torch_checkpoint(path, &bytes)
}

/// The bytes of a `torch.save` file holding `tensors` as an ordered dict (a state dict), which
/// `torch.load(..., weights_only=True)` reads.
pub fn serialize_torch_checkpoint(tensors: &[(String, Tensor)]) -> Result<Vec<u8>> {
    fn s(p: &mut Vec<u8>, v: &str) {
        p.push(b'X');
        p.extend_from_slice(&(v.len() as u32).to_le_bytes());
        p.extend_from_slice(v.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend_from_slice(&(v as i32).to_le_bytes());
    }
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"ccollections\nOrderedDict\n)R(");
    let mut files = Vec::new();
    for (k, (name, t)) in tensors.iter().enumerate() {
        let (storage, data) = match t.dtype() {
            DType::F32 => ("FloatStorage", crate::safetensors::tensor_bytes(t)?),
            DType::F64 => ("DoubleStorage", crate::safetensors::tensor_bytes(t)?),
            DType::I64 => ("LongStorage", crate::safetensors::tensor_bytes(t)?),
            DType::U8 => ("ByteStorage", crate::safetensors::tensor_bytes(t)?),
        };
        if t.numel() > i32::MAX as usize || t.dims().iter().any(|&d| d > i32::MAX as usize) {
            return Err(TrainError::Config(format!(
                "tensor \"{name}\" is too large"
            )));
        }
        s(&mut p, name);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        s(&mut p, "storage");
        p.extend_from_slice(format!("ctorch\n{storage}\n").as_bytes());
        s(&mut p, &k.to_string());
        s(&mut p, "cpu");
        int(&mut p, t.numel());
        p.extend_from_slice(b"tQ");
        int(&mut p, 0);
        // size and contiguous strides
        let dims = t.dims().to_vec();
        p.push(b'(');
        for &d in &dims {
            int(&mut p, d);
        }
        p.extend_from_slice(b"t(");
        let mut stride = 1usize;
        let mut strides = vec![0usize; dims.len()];
        for (i, &d) in dims.iter().enumerate().rev() {
            strides[i] = stride;
            stride *= d.max(1);
        }
        for st in strides {
            int(&mut p, st);
        }
        p.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtR");
        files.push((format!("archive/data/{k}"), data));
    }
    p.extend_from_slice(b"u.");
    let mut entries = vec![("archive/data.pkl".to_string(), p)];
    entries.push(("archive/byteorder".into(), b"little".to_vec()));
    entries.extend(files);
    entries.push(("archive/version".into(), b"3\n".to_vec()));
    write_stored(&entries).map_err(TrainError::Config)
}

/// Writes `tensors` as a PyTorch checkpoint, atomically.
pub fn save_torch_checkpoint(path: impl AsRef<Path>, tensors: &[(String, Tensor)]) -> Result<()> {
    let path = path.as_ref();
    let bytes = serialize_torch_checkpoint(tensors)?;
    crate::write_atomic(path, &bytes).map_err(|e| TrainError::io(path, e))
}
