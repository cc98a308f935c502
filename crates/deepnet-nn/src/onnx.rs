//! Export to ONNX: a model's inference graph as an ONNX `ModelProto` (opset 17), written with
//! a small protobuf encoder of our own (the format is a handful of messages; a protobuf crate
//! and the generated ONNX types would be most of the dependency for little gain).
//!
//! Each layer describes itself through [`Module::to_onnx`]: it receives the graph and its input
//! value, adds its nodes and weights, and returns its output value. Every value carries an
//! example tensor (the layer's real forward pass on the example input), so a layer knows the
//! shapes it sees (an adaptive pooling turns into a fixed one) and the exported graph is known
//! to compute what the model computes on that input. Weights keep their `state_dict` names as
//! initializer names. Layers without an ONNX form (recurrent layers, for now) are an error
//! naming the layer.
//!
//! The export is of the evaluation-mode graph: dropout is the identity and batch norm uses its
//! running statistics, as `torch.onnx.export` of a model in `eval()`.

use crate::Module;
use deepnet_tensor::{no_grad, DType, Error, Result, Tensor};
use std::collections::HashSet;

/// The ONNX operator set the exported graphs use.
pub const OPSET: i64 = 17;
/// The ONNX IR version matching [`OPSET`].
const IR_VERSION: i64 = 8;

/// A value of the graph being built: its name and an example of what it holds.
#[derive(Clone, Debug)]
pub struct OnnxValue {
    /// the value's name in the graph
    pub name: String,
    /// the value the model computes on the export's example input
    pub example: Tensor,
}

/// A node attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// one integer
    Int(&'static str, i64),
    /// a list of integers
    Ints(&'static str, Vec<i64>),
    /// one float
    Float(&'static str, f32),
}

/// The graph a model exports itself into (see [`Module::to_onnx`]).
pub struct OnnxGraph {
    nodes: Vec<Vec<u8>>,
    initializers: Vec<Vec<u8>>,
    names: HashSet<String>,
    next: usize,
}

impl OnnxGraph {
    fn new() -> Self {
        OnnxGraph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            names: HashSet::new(),
            next: 0,
        }
    }

    /// Adds node `op_type` on the values named `inputs` and returns its output, which holds
    /// `example` (the layer's forward result on the example input).
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attrs: &[Attr],
        example: Tensor,
    ) -> OnnxValue {
        self.next += 1;
        let name = format!("{}_{}", op_type.to_lowercase(), self.next);
        let mut n = Vec::new();
        for i in inputs {
            put_bytes(&mut n, 1, i.as_bytes());
        }
        put_bytes(&mut n, 2, name.as_bytes());
        put_bytes(&mut n, 3, name.as_bytes());
        put_bytes(&mut n, 4, op_type.as_bytes());
        for a in attrs {
            put_bytes(&mut n, 5, &attribute(a));
        }
        self.nodes.push(n);
        OnnxValue { name, example }
    }

    /// Adds `t` (a parameter or buffer, stored as float32) as the initializer `name` (its
    /// `state_dict` key) and returns the name. A name already added is not added twice.
    pub fn weight(&mut self, name: &str, t: &Tensor) -> Result<String> {
        if self.names.insert(name.to_string()) {
            let data = t.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
            let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            self.initializers
                .push(tensor_proto(name, t.dims(), ELEM_FLOAT, &raw));
        }
        Ok(name.to_string())
    }

    /// Adds an int64 constant (shapes for `Reshape`) named after `hint` and returns its name.
    pub fn int64_constant(&mut self, hint: &str, values: &[i64]) -> String {
        self.next += 1;
        let name = format!("{hint}_{}", self.next);
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers
            .push(tensor_proto(&name, &[values.len()], ELEM_INT64, &raw));
        self.names.insert(name.clone());
        name
    }
}

/// The key of parameter `leaf` of the layer at `path` (`features.0` + `weight`).
pub fn param_name(path: &str, leaf: &str) -> String {
    if path.is_empty() {
        leaf.to_string()
    } else {
        format!("{path}.{leaf}")
    }
}

/// The error of a layer that has no ONNX form, or not with these settings.
pub fn unsupported(what: &str, why: &str) -> Error {
    Error::msg(format!("ONNX export: {what}: {why}"))
}

/// An exported model.
pub struct OnnxExport {
    /// the serialized `ModelProto`
    pub bytes: Vec<u8>,
    /// the graph's input: `input`, `(N, *sample)` with `N` free
    pub input_dims: Vec<usize>,
    /// the model's output on the example input, what the graph's `output` gives for it
    pub output: Tensor,
}

/// Exports `model` (in evaluation mode: call `set_training(false)` first) as an ONNX model
/// whose input `input` has the shape of `example` with a free batch dim `N`, and whose output
/// is `output`. `example: (N, *sample)` runs through the model once, layer by layer.
pub fn export_onnx(model: &dyn Module, example: &Tensor, producer: &str) -> Result<OnnxExport> {
    if example.rank() < 2 || example.dims()[0] == 0 {
        return Err(Error::msg(format!(
            "ONNX export: the example input must be a non-empty batch (N, *sample), got {:?}",
            example.dims()
        )));
    }
    let _guard = no_grad();
    let mut g = OnnxGraph::new();
    let x = OnnxValue {
        name: "input".into(),
        example: example.to_dtype(DType::F32)?,
    };
    let y = model.to_onnx(&mut g, &x)?;
    let out = g.node("Identity", &[&y.name], &[], y.example.clone());
    // the last node's output is the graph's output, renamed `output`
    let last = g.nodes.pop().expect("the Identity node was just added");
    let renamed = rename_output(&last, &out.name, "output");
    g.nodes.push(renamed);

    let mut graph = Vec::new();
    for n in &g.nodes {
        put_bytes(&mut graph, 1, n);
    }
    put_bytes(&mut graph, 2, b"deepnet");
    for t in &g.initializers {
        put_bytes(&mut graph, 5, t);
    }
    put_bytes(&mut graph, 11, &value_info("input", example.dims()));
    put_bytes(&mut graph, 12, &value_info("output", y.example.dims()));

    let mut m = Vec::new();
    put_int(&mut m, 1, IR_VERSION);
    put_bytes(&mut m, 2, producer.as_bytes());
    put_bytes(&mut m, 3, env!("CARGO_PKG_VERSION").as_bytes());
    put_bytes(&mut m, 7, &graph);
    let mut opset = Vec::new();
    put_bytes(&mut opset, 1, b"");
    put_int(&mut opset, 2, OPSET);
    put_bytes(&mut m, 8, &opset);
    Ok(OnnxExport {
        bytes: m,
        input_dims: example.dims().to_vec(),
        output: y.example,
    })
}

/// Node bytes with output `from` renamed `to` (the node was just encoded by [`OnnxGraph::node`]
/// and its output field appears once).
fn rename_output(node: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut old = Vec::new();
    put_bytes(&mut old, 2, from.as_bytes());
    let mut new = Vec::new();
    put_bytes(&mut new, 2, to.as_bytes());
    let at = node
        .windows(old.len())
        .position(|w| w == old.as_slice())
        .expect("the node names its output");
    [&node[..at], &new[..], &node[at + old.len()..]].concat()
}

// ---- the protobuf wire format: varints, tagged fields ----

/// ONNX's `TensorProto.DataType` codes.
const ELEM_FLOAT: i64 = 1;
const ELEM_INT64: i64 = 7;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// An int64 field (negative values as ten-byte two's complement varints, as protobuf does).
fn put_int(out: &mut Vec<u8>, field: u32, v: i64) {
    put_key(out, field, 0);
    put_varint(out, v as u64);
}

/// A length-delimited field: a string, bytes or an embedded message.
fn put_bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn attribute(a: &Attr) -> Vec<u8> {
    // AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7)
    let mut o = Vec::new();
    match a {
        Attr::Int(name, v) => {
            put_bytes(&mut o, 1, name.as_bytes());
            put_int(&mut o, 3, *v);
            put_int(&mut o, 20, 2);
        }
        Attr::Ints(name, vs) => {
            put_bytes(&mut o, 1, name.as_bytes());
            for v in vs {
                put_int(&mut o, 8, *v);
            }
            put_int(&mut o, 20, 7);
        }
        Attr::Float(name, v) => {
            put_bytes(&mut o, 1, name.as_bytes());
            put_key(&mut o, 2, 5);
            o.extend_from_slice(&v.to_le_bytes());
            put_int(&mut o, 20, 1);
        }
    }
    o
}

/// TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian).
fn tensor_proto(name: &str, dims: &[usize], elem: i64, raw: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        put_int(&mut t, 1, d as i64);
    }
    put_int(&mut t, 2, elem);
    put_bytes(&mut t, 8, name.as_bytes());
    put_bytes(&mut t, 9, raw);
    t
}

/// ValueInfoProto of a float tensor whose first dim is the free batch size `N`.
fn value_info(name: &str, dims: &[usize]) -> Vec<u8> {
    let mut shape = Vec::new();
    for (i, &d) in dims.iter().enumerate() {
        let mut dim = Vec::new();
        if i == 0 {
            put_bytes(&mut dim, 2, b"N");
        } else {
            put_int(&mut dim, 1, d as i64);
        }
        put_bytes(&mut shape, 1, &dim);
    }
    let mut tensor_type = Vec::new();
    put_int(&mut tensor_type, 1, ELEM_FLOAT);
    put_bytes(&mut tensor_type, 2, &shape);
    let mut ty = Vec::new();
    put_bytes(&mut ty, 1, &tensor_type);
    let mut v = Vec::new();
    put_bytes(&mut v, 1, name.as_bytes());
    put_bytes(&mut v, 2, &ty);
    v
}

/// Writes an ONNX `TensorProto` file (as ONNX's `test_data_set_*/input_0.pb` are), so that a
/// runtime can be checked against deepnet's own output on the same input.
pub fn tensor_file(name: &str, t: &Tensor) -> Result<Vec<u8>> {
    let data = t.to_dtype(DType::F32)?.contiguous()?.to_vec::<f32>()?;
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok(tensor_proto(name, t.dims(), ELEM_FLOAT, &raw))
}

#[cfg(test)]
#[path = "onnx_tests.rs"]
mod tests;
