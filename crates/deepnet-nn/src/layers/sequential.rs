//! A chain of modules (`torch.nn.Sequential`).

use super::in_module;
use crate::onnx::{OnnxGraph, OnnxValue};

use crate::{Module, ParamBuilder};
use deepnet_tensor::{Result, Tensor};

/// Applies its children in order, as `torch.nn.Sequential`. Children are named `"0"`, `"1"`, ...
/// so their parameters are `<path>.0.weight` and so on: build child `i` with `pb.push(i)`.
///
/// ```
/// use deepnet_nn::{layers::{Linear, ReLU, Sequential}, Module, ParamStore};
/// let store = ParamStore::new(0);
/// let pb = store.root().push("layers");
/// let mut net = Sequential::new(&pb);
/// net.push(Linear::new(4, 8, true, &pb.push(0))?);
/// net.push(ReLU);
/// net.push(Linear::new(8, 2, true, &pb.push(2))?);
/// assert_eq!(store.keys(), ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]);
/// # Ok::<(), deepnet_tensor::Error>(())
/// ```
///
/// Shapes: whatever the first child takes, to whatever the last child gives; an empty
/// `Sequential` is the identity. An error in child `i` is labelled with its full path
/// (`in module "layers.2": ...`).
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    path: String,
}

impl Sequential {
    /// An empty chain whose children live under `pb`'s path.
    pub fn new(pb: &ParamBuilder) -> Sequential {
        Sequential {
            layers: Vec::new(),
            path: pb.path().to_string(),
        }
    }

    /// Appends a module; it gets the name `self.len()` (before the push).
    pub fn push(&mut self, m: impl Module + 'static) -> &mut Self {
        self.layers.push(Box::new(m));
        self
    }

    /// Appends an already boxed module.
    pub fn push_boxed(&mut self, m: Box<dyn Module>) -> &mut Self {
        self.layers.push(m);
        self
    }

    /// The number of children.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no children.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Child `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&dyn Module> {
        self.layers.get(i).map(|m| m.as_ref())
    }

    /// The full dotted path of child `i`.
    fn child_path(&self, i: usize) -> String {
        if self.path.is_empty() {
            i.to_string()
        } else {
            format!("{}.{i}", self.path)
        }
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, m) in self.layers.iter().enumerate() {
            h = m
                .forward(&h)
                .map_err(|e| in_module(e, &self.child_path(i)))?;
            if m.children().is_empty() {
                crate::module::record_output(&self.child_path(i), m.as_ref(), &h);
            }
        }
        Ok(h)
    }

    fn set_training(&self, training: bool) {
        for m in &self.layers {
            m.set_training(training);
        }
    }

    fn describe(&self) -> String {
        "Sequential".to_string()
    }

    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let mut h = x.clone();
        for (i, m) in self.layers.iter().enumerate() {
            h = m
                .to_onnx(g, &h)
                .map_err(|e| in_module(e, &self.child_path(i)))?;
        }
        Ok(h)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m.as_ref()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Dropout, Linear, ReLU, Softmax, Tanh};
    use crate::ParamStore;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    fn mlp(store: &ParamStore) -> Sequential {
        let pb = store.root().push("layers");
        let mut s = Sequential::new(&pb);
        s.push(Linear::new(3, 5, true, &pb.push(0)).unwrap())
            .push(Tanh)
            .push(Linear::new(5, 2, true, &pb.push(2)).unwrap());
        s
    }

    #[test]
    fn chains_names_children_and_describes() {
        let store = ParamStore::with_dtype(0, DType::F64);
        let s = mlp(&store);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
        assert_eq!(
            store.keys(),
            vec![
                "layers.0.weight",
                "layers.0.bias",
                "layers.2.weight",
                "layers.2.bias"
            ]
        );
        let names: Vec<(String, String)> = s
            .children()
            .into_iter()
            .map(|(n, m)| (n, m.describe()))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "0".into(),
                    "Linear(in_features=3, out_features=5, bias=True)".into()
                ),
                ("1".into(), "Tanh()".into()),
                (
                    "2".into(),
                    "Linear(in_features=5, out_features=2, bias=True)".into()
                ),
            ]
        );
        assert_eq!(s.describe(), "Sequential");
        assert_eq!(s.get(1).unwrap().describe(), "Tanh()");
        assert!(s.get(3).is_none());
        // the chain equals the layers applied by hand
        let x = seeded([4, 3], 1);
        let mut h = x.clone();
        for (_, m) in s.children() {
            h = m.forward(&h).unwrap();
        }
        assert_eq!(
            s.forward(&x).unwrap().to_vec::<f64>().unwrap(),
            h.to_vec::<f64>().unwrap()
        );
        // empty: identity
        let e = Sequential::new(&store.root());
        assert_eq!(
            e.forward(&x).unwrap().to_vec::<f64>().unwrap(),
            x.to_vec::<f64>().unwrap()
        );
    }

    #[test]
    fn errors_carry_the_child_path() {
        let store = ParamStore::new(0);
        let s = mlp(&store);
        let e = s
            .forward(&Tensor::zeros([8, 4], DType::F32).unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "in module \"layers.0\": linear: expected input (*, 3), got [8, 4]"
        );
        // a parameterless child gets its path from the container
        let pb = store.root().push("head");
        let mut h = Sequential::new(&pb);
        h.push(ReLU).push(Softmax::new(3));
        let e = h
            .forward(&Tensor::zeros([2, 2], DType::F32).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("in module \"head.1\": "), "{e}");
        // nested containers keep the innermost full path
        let outer_pb = store.root().push("net");
        let mut outer = Sequential::new(&outer_pb);
        let inner_pb = outer_pb.push(0);
        let mut inner = Sequential::new(&inner_pb);
        inner.push(Linear::new(2, 2, true, &inner_pb.push(0)).unwrap());
        outer.push(inner);
        let e = outer
            .forward(&Tensor::zeros([1, 3], DType::F32).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("in module \"net.0.0\": linear"), "{e}");
    }

    #[test]
    fn set_training_reaches_the_children() {
        let store = ParamStore::with_dtype(0, DType::F64);
        let pb = store.root();
        let mut s = Sequential::new(&pb);
        s.push(Dropout::new(0.5, &pb.push(0)).unwrap());
        let x = Tensor::ones([100], DType::F64).unwrap();
        let y = s.forward(&x).unwrap().to_vec::<f64>().unwrap();
        assert!(y.contains(&0.0), "training by default");
        s.set_training(false);
        assert_eq!(
            s.forward(&x).unwrap().to_vec::<f64>().unwrap(),
            vec![1.0; 100]
        );
    }

    #[test]
    fn gradcheck_through_the_chain() {
        let store = ParamStore::with_dtype(5, DType::F64);
        let s = mlp(&store);
        gradcheck("Sequential", |t| s.forward(&t[0]), &[seeded([4, 3], 2)]).unwrap();
    }
}
