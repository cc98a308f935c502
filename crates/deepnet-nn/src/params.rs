//! `ParamStore` owns every parameter and buffer of a model under its dotted PyTorch path
//! (`layers.0.weight`): it *is* the `state_dict`. `ParamBuilder` hands out paths and
//! initialized tensors while a model is constructed.

use crate::init::{init_tensor, Init};
use deepnet_tensor::{no_grad, DType, Device, Error, Generator, Result, Shape, Tensor};
use std::collections::HashMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex, RwLock};

/// Whether an entry is learned (a parameter) or state (a buffer such as BatchNorm's running mean).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// learned by the optimizer
    Param,
    /// saved and loaded, never trained
    Buffer,
}

#[derive(Clone)]
struct Entry {
    name: String,
    tensor: Tensor,
    kind: Kind,
}

#[derive(Default)]
struct Inner {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    /// the generators layers draw from while training (dropout masks), by module path
    generators: Vec<(String, Arc<Mutex<Generator>>)>,
}

/// The parameters and buffers of a model, in registration order, keyed by PyTorch `state_dict`
/// names. Cloning gives another handle to the same store.
#[derive(Clone)]
pub struct ParamStore {
    inner: Arc<RwLock<Inner>>,
    gen: Arc<Mutex<Generator>>,
    dtype: DType,
    device: Device,
    /// the most elements all parameters together may hold (see [`ParamStore::limit_elements`])
    limit: Option<usize>,
}

impl ParamStore {
    /// An empty f32 store whose initializations are drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_dtype(seed, DType::F32)
    }

    /// An empty store of another float dtype (f64 for gradient checks).
    pub fn with_dtype(seed: u64, dtype: DType) -> Self {
        ParamStore {
            inner: Arc::new(RwLock::new(Inner::default())),
            gen: Arc::new(Mutex::new(Generator::new(seed))),
            dtype,
            device: Device::default(),
            limit: None,
        }
    }

    /// The same empty store, refusing (before allocating) any parameter that would bring the
    /// total element count above `max`. A model rebuilt from a file's metadata is built under
    /// the element count of the file's tensors, so a damaged size in the metadata is an error
    /// instead of an allocation of whatever it says.
    pub fn limit_elements(mut self, max: usize) -> Self {
        self.limit = Some(max);
        self
    }

    /// The same empty store, but registering its parameters and buffers on `device`. The
    /// initial values are drawn on the host from the same generator, so a model built on any
    /// device starts from the same numbers (which is what lets the reference device check a
    /// whole model against the CPU).
    pub fn on_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The device new parameters and buffers are put on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The builder at the root path.
    pub fn root(&self) -> ParamBuilder {
        ParamBuilder {
            store: self.clone(),
            path: String::new(),
        }
    }

    /// The dtype new parameters get.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, name: String, tensor: Tensor, kind: Kind) -> Result<()> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.index.contains_key(&name) {
            return Err(Error::msg(format!(
                "parameter store: \"{name}\" is registered twice"
            )));
        }
        let i = inner.entries.len();
        inner.index.insert(name.clone(), i);
        inner.entries.push(Entry { name, tensor, kind });
        Ok(())
    }

    /// The tensor registered under `name`.
    pub fn get(&self, name: &str) -> Option<Tensor> {
        let inner = self.read();
        inner
            .index
            .get(name)
            .map(|&i| inner.entries[i].tensor.clone())
    }

    /// Every parameter (trainable or frozen) with its name, in registration order.
    pub fn all_params(&self) -> Vec<(String, Tensor)> {
        self.read()
            .entries
            .iter()
            .filter(|e| e.kind == Kind::Param)
            .map(|e| (e.name.clone(), e.tensor.clone()))
            .collect()
    }

    /// The trainable parameters (not frozen) with their names: what an optimizer updates.
    pub fn trainable(&self) -> Vec<(String, Tensor)> {
        self.all_params()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect()
    }

    /// The buffers with their names.
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        self.read()
            .entries
            .iter()
            .filter(|e| e.kind == Kind::Buffer)
            .map(|e| (e.name.clone(), e.tensor.clone()))
            .collect()
    }

    /// Parameters and buffers, in registration order: PyTorch's `state_dict()`.
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.read()
            .entries
            .iter()
            .map(|e| (e.name.clone(), e.tensor.clone()))
            .collect()
    }

    /// The names in registration order.
    pub fn keys(&self) -> Vec<String> {
        self.read().entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Total number of parameter elements (buffers excluded), as
    /// `sum(p.numel() for p in model.parameters())`.
    pub fn num_params(&self) -> usize {
        self.all_params().iter().map(|(_, t)| t.numel()).sum()
    }

    /// Number of trainable parameter elements.
    pub fn num_trainable(&self) -> usize {
        self.trainable().iter().map(|(_, t)| t.numel()).sum()
    }

    /// Freezes (no gradient, not updated) every parameter whose name starts with `prefix`;
    /// returns how many were matched. An empty prefix matches all.
    pub fn freeze(&self, prefix: &str) -> Result<usize> {
        self.set_trainable(prefix, false)
    }

    /// Unfreezes every parameter whose name starts with `prefix`.
    pub fn unfreeze(&self, prefix: &str) -> Result<usize> {
        self.set_trainable(prefix, true)
    }

    fn set_trainable(&self, prefix: &str, on: bool) -> Result<usize> {
        let mut n = 0;
        for (name, t) in self.all_params() {
            if name.starts_with(prefix) {
                t.requires_grad_(on)?;
                n += 1;
            }
        }
        if n == 0 {
            return Err(Error::msg(format!(
                "no parameter name starts with \"{prefix}\" (names look like \"{}\")",
                self.keys().first().cloned().unwrap_or_default()
            )));
        }
        Ok(n)
    }

    /// The state of every random generator of the model: the store's own (under `""`, what
    /// initializations and seeds are drawn from) and each layer's (under its path, e.g. a
    /// dropout layer's mask generator), so that a checkpoint can restore them all.
    pub fn rng_states(&self) -> Vec<(String, [u64; 4])> {
        let mut v = vec![(String::new(), lock(&self.gen).state())];
        v.extend(
            self.read()
                .generators
                .iter()
                .map(|(k, g)| (k.clone(), lock(g).state())),
        );
        v
    }

    /// Restores states saved by [`ParamStore::rng_states`] of the same model. Names that do
    /// not match are errors, naming them; on error nothing is changed.
    pub fn set_rng_states(&self, states: &[(String, [u64; 4])]) -> Result<()> {
        let inner = self.read();
        let mut mine: Vec<&str> = std::iter::once("")
            .chain(inner.generators.iter().map(|(k, _)| k.as_str()))
            .collect();
        let mut given: Vec<&str> = states.iter().map(|(k, _)| k.as_str()).collect();
        mine.sort_unstable();
        given.sort_unstable();
        if mine != given {
            return Err(Error::msg(format!(
                "random generator states: the model has {mine:?}, the checkpoint {given:?}"
            )));
        }
        for (k, s) in states {
            match inner.generators.iter().find(|(name, _)| name == k) {
                Some((_, g)) => *lock(g) = Generator::from_state(*s),
                None => *lock(&self.gen) = Generator::from_state(*s),
            }
        }
        Ok(())
    }

    /// Copies values from `state` into the registered tensors (PyTorch `load_state_dict`). With
    /// `strict`, missing and unexpected keys are errors; a shape mismatch always is. The error
    /// lists every problem at once; on error nothing is changed.
    pub fn load_state_dict(&self, state: &[(String, Tensor)], strict: bool) -> Result<()> {
        let given: HashMap<&str, &Tensor> = state.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mine = self.state_dict();
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        for (k, t) in &mine {
            match given.get(k.as_str()) {
                None => missing.push(k.clone()),
                Some(v) if v.shape() != t.shape() => {
                    mismatched.push(format!("{k}: expected {}, got {}", t.shape(), v.shape()))
                }
                // floats convert into each other (as PyTorch's copy_); integers are not weights
                Some(v) if v.dtype().is_float() != t.dtype().is_float() => mismatched.push(
                    format!("{k}: expected {:?} values, got {:?}", t.dtype(), v.dtype()),
                ),
                Some(_) => {}
            }
        }
        let known: std::collections::HashSet<&str> = mine.iter().map(|(k, _)| k.as_str()).collect();
        let unexpected: Vec<String> = state
            .iter()
            .filter(|(k, _)| !known.contains(k.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        if !mismatched.is_empty() || (strict && (!missing.is_empty() || !unexpected.is_empty())) {
            return Err(Error::msg(format!(
                "load_state_dict: missing keys {missing:?}, unexpected keys {unexpected:?}, wrong shapes {mismatched:?}"
            )));
        }
        let _g = no_grad();
        for (k, t) in &mine {
            if let Some(v) = given.get(k.as_str()) {
                t.assign_(v)?;
            }
        }
        Ok(())
    }
}

/// Hands out parameter paths and initialized tensors while a model is built: `push("layers")`,
/// `push(0)` mirror PyTorch attribute names and `Sequential` indices.
#[derive(Clone)]
pub struct ParamBuilder {
    store: ParamStore,
    path: String,
}

impl ParamBuilder {
    /// The builder one level down (`features` then `3` gives `features.3`).
    pub fn push(&self, name: impl Display) -> ParamBuilder {
        let path = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        ParamBuilder {
            store: self.store.clone(),
            path,
        }
    }

    /// The dotted path of this builder (empty at the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The store parameters are registered in.
    pub fn store(&self) -> &ParamStore {
        &self.store
    }

    fn full(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Registers a trainable parameter `name` of `shape`, initialized by `init`.
    pub fn param(&self, name: &str, shape: impl Into<Shape>, init: Init) -> Result<Tensor> {
        let shape = shape.into();
        let numel = shape
            .dims()
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        if let Some(max) = self.store.limit {
            let total = numel.and_then(|n| n.checked_add(self.store.num_params()));
            if total.is_none_or(|t| t > max) {
                return Err(Error::msg(format!(
                    "parameter \"{}\" of shape {shape} would bring the model above {max} elements",
                    self.full(name)
                )));
            }
        } else if numel.is_none() {
            return Err(Error::msg(format!(
                "parameter \"{}\": shape {shape} has more elements than fit in memory",
                self.full(name)
            )));
        }
        let t = {
            let mut g = self.store.gen.lock().unwrap_or_else(|e| e.into_inner());
            init_tensor(&shape, init, self.store.dtype, &mut g)?
        };
        let t = t.to_device(self.store.device)?.requires_grad_(true)?;
        self.store.insert(self.full(name), t.clone(), Kind::Param)?;
        Ok(t)
    }

    /// Registers a buffer `name` (saved and loaded, not trained) holding `value`.
    pub fn buffer(&self, name: &str, value: Tensor) -> Result<Tensor> {
        let value = value.to_device(self.store.device)?;
        self.store
            .insert(self.full(name), value.clone(), Kind::Buffer)?;
        Ok(value)
    }

    /// A generator for a layer at this path that draws random numbers while it runs (dropout
    /// masks), seeded from the store's and registered with it so checkpoints save its state
    /// ([`ParamStore::rng_states`]).
    pub fn generator(&self) -> Arc<Mutex<Generator>> {
        let seed = self.with_generator(|g| g.next_u64());
        let g = Arc::new(Mutex::new(Generator::new(seed)));
        let mut inner = self.store.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.generators.push((self.path.clone(), g.clone()));
        g
    }

    /// Runs `f` with the store's generator (for layers that draw random numbers, e.g. dropout
    /// seeds).
    pub fn with_generator<R>(&self, f: impl FnOnce(&mut Generator) -> R) -> R {
        let mut g = self.store.gen.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }
}

/// Locks a generator, recovering it from a poisoned lock (its state is always whole).
pub fn lock(g: &Mutex<Generator>) -> std::sync::MutexGuard<'_, Generator> {
    g.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_counts_freeze_and_load() {
        let store = ParamStore::new(0);
        let pb = store.root().push("layers");
        let w = pb
            .push(0)
            .param("weight", [3, 2], Init::TORCH_DEFAULT_WEIGHT)
            .unwrap();
        pb.push(0).param("bias", [3], Init::Zeros).unwrap();
        pb.push(1).param("weight", [1, 3], Init::Ones).unwrap();
        store
            .root()
            .push("bn")
            .buffer("running_mean", Tensor::zeros([3], DType::F32).unwrap())
            .unwrap();
        assert_eq!(
            store.keys(),
            vec![
                "layers.0.weight",
                "layers.0.bias",
                "layers.1.weight",
                "bn.running_mean"
            ]
        );
        assert_eq!(store.num_params(), 12);
        assert!(
            pb.push(0).param("bias", [3], Init::Zeros).is_err(),
            "duplicate names are errors"
        );
        assert_eq!(store.freeze("layers.0").unwrap(), 2);
        assert_eq!(store.num_trainable(), 3);
        assert!(store.freeze("nope").is_err());
        store.unfreeze("").unwrap();
        assert_eq!(store.num_trainable(), 12);

        let new_w = Tensor::ones([3, 2], DType::F32).unwrap();
        let mut sd = store.state_dict();
        sd[0].1 = new_w;
        store.load_state_dict(&sd, true).unwrap();
        assert_eq!(
            w.to_vec::<f32>().unwrap(),
            vec![1.0; 6],
            "the module's handle sees the new values"
        );
        let bad = vec![(
            "layers.0.weight".to_string(),
            Tensor::zeros([2, 3], DType::F32).unwrap(),
        )];
        let e = store.load_state_dict(&bad, false).unwrap_err().to_string();
        assert!(
            e.contains("layers.0.weight: expected [3, 2], got [2, 3]"),
            "{e}"
        );
        let e = store
            .load_state_dict(&sd[..1], true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("layers.1.weight"), "{e}");
        assert_eq!(
            w.to_vec::<f32>().unwrap(),
            vec![1.0; 6],
            "failed loads change nothing"
        );
        let ints = vec![(
            "layers.0.weight".to_string(),
            Tensor::zeros([3, 2], DType::I64).unwrap(),
        )];
        let e = store.load_state_dict(&ints, false).unwrap_err().to_string();
        assert!(e.contains("expected F32 values, got I64"), "{e}");
    }

    #[test]
    fn generator_states_restore_the_same_random_draws() {
        use crate::layers::Dropout;
        use crate::Module;
        let store = ParamStore::new(5);
        let drop = Dropout::new(0.5, &store.root().push("drop")).unwrap();
        let x = Tensor::ones([64], DType::F32).unwrap();
        let saved = store.rng_states();
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[1].0, "drop");
        let a = drop.forward(&x).unwrap().to_vec::<f32>().unwrap();
        let b = drop.forward(&x).unwrap().to_vec::<f32>().unwrap();
        assert_ne!(a, b, "each forward draws a new mask");
        store.set_rng_states(&saved).unwrap();
        assert_eq!(drop.forward(&x).unwrap().to_vec::<f32>().unwrap(), a);
        let e = store.set_rng_states(&saved[..1]).unwrap_err().to_string();
        assert!(e.contains("\"drop\""), "{e}");
    }

    #[test]
    fn an_element_limit_refuses_a_parameter_before_allocating_it() {
        let store = ParamStore::new(0).limit_elements(10);
        let pb = store.root();
        pb.param("a", [2, 3], Init::Zeros).unwrap();
        let e = pb.param("b", [5], Init::Zeros).unwrap_err().to_string();
        assert!(
            e.contains("\"b\"") && e.contains("above 10 elements"),
            "{e}"
        );
        // a size that would overflow, or ask for terabytes, is refused the same way
        let e = pb
            .param("c", [usize::MAX, 2], Init::Zeros)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"c\""), "{e}");
        let e = ParamStore::new(0)
            .root()
            .param("d", [usize::MAX, 2], Init::Zeros)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more elements than fit"), "{e}");
    }
}
