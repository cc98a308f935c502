//! The `Tensor` handle: cheap to clone (an `Arc`), immutable to users. Views share storage and
//! differ only in layout. Only leaves are written in place, by optimizers, under `no_grad`.

use crate::autograd::{is_grad_enabled, Backward, Node};
use crate::{DType, Device, Element, Error, HostData, Layout, Result, Shape, Storage};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A unique, monotonically increasing tensor id: creation order is a topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn next() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(1);
        TensorId(COUNTER.fetch_add(1, Ordering::Relaxed))
    }
}

pub(crate) struct Inner {
    id: TensorId,
    storage: Arc<RwLock<Storage>>,
    layout: Layout,
    dtype: DType,
    node: Option<Node>,
    requires_grad: AtomicBool,
}

/// An n-dimensional array with reverse-mode autograd.
#[derive(Clone)]
pub struct Tensor(Arc<Inner>);

// Dropping a long chain must not recurse once per node: detach the inputs into a work list and
// only descend into tensors this drop owns the last handle of.
impl Drop for Inner {
    fn drop(&mut self) {
        let Some(node) = self.node.take() else { return };
        let mut stack = node.inputs;
        drop(node.op);
        while let Some(t) = stack.pop() {
            if let Some(mut inner) = Arc::into_inner(t.0) {
                if let Some(n) = inner.node.take() {
                    stack.extend(n.inputs);
                }
            }
        }
    }
}

impl Tensor {
    /// A tensor over new storage with a contiguous layout and no graph.
    pub(crate) fn from_storage(storage: Storage, shape: impl Into<Shape>) -> Tensor {
        let dtype = storage.dtype();
        Tensor(Arc::new(Inner {
            id: TensorId::next(),
            storage: Arc::new(RwLock::new(storage)),
            layout: Layout::contiguous(shape),
            dtype,
            node: None,
            requires_grad: AtomicBool::new(false),
        }))
    }

    fn make_node(op: impl Backward + 'static, inputs: &[&Tensor]) -> Option<Node> {
        (is_grad_enabled() && inputs.iter().any(|t| t.tracks_grad())).then(|| Node {
            op: Box::new(op),
            inputs: inputs.iter().map(|&t| t.clone()).collect(),
        })
    }

    /// The result of an op: new contiguous storage, with a graph node when an input tracks
    /// gradients and grad mode is on.
    pub fn from_op(
        storage: Storage,
        shape: impl Into<Shape>,
        op: impl Backward + 'static,
        inputs: &[&Tensor],
    ) -> Tensor {
        let dtype = storage.dtype();
        Tensor(Arc::new(Inner {
            id: TensorId::next(),
            storage: Arc::new(RwLock::new(storage)),
            layout: Layout::contiguous(shape),
            dtype,
            node: Self::make_node(op, inputs),
            requires_grad: AtomicBool::new(false),
        }))
    }

    /// A view of this tensor's storage with another layout, recorded as op `op`.
    pub fn view_op(&self, layout: Layout, op: impl Backward + 'static) -> Tensor {
        Tensor(Arc::new(Inner {
            id: TensorId::next(),
            storage: self.0.storage.clone(),
            layout,
            dtype: self.0.dtype,
            node: Self::make_node(op, &[self]),
            requires_grad: AtomicBool::new(false),
        }))
    }

    /// A tensor on the CPU from a vector and a shape (`torch.tensor(data).reshape(shape)`).
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor> {
        Self::from_vec_on(data, shape, Device::default())
    }

    /// A tensor on `device` from a vector and a shape (`torch.tensor(data, device=...)`).
    pub fn from_vec_on<T: Element>(
        data: Vec<T>,
        shape: impl Into<Shape>,
        device: Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        if data.len() != shape.elem_count() {
            return Err(Error::ElementCount {
                op: "from_vec",
                shape: shape.clone(),
                expected: shape.elem_count(),
                got: data.len(),
            });
        }
        Ok(Self::from_storage(
            Storage::from_host(T::into_host(data), device),
            shape,
        ))
    }

    /// A tensor from a slice and a shape.
    pub fn from_slice<T: Element>(data: &[T], shape: impl Into<Shape>) -> Result<Tensor> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// A 0-d tensor on the CPU holding `v`.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Self::from_storage(
            Storage::from_host(T::into_host(vec![v]), Device::default()),
            Shape::scalar(),
        )
    }

    /// The tensor's unique id (the key of its gradient in a [`crate::GradStore`]).
    pub fn id(&self) -> TensorId {
        self.0.id
    }
    /// The shape.
    pub fn shape(&self) -> &Shape {
        self.0.layout.shape()
    }
    /// The sizes of the dimensions.
    pub fn dims(&self) -> &[usize] {
        self.0.layout.dims()
    }
    /// The number of dimensions (PyTorch `dim()`).
    pub fn rank(&self) -> usize {
        self.dims().len()
    }
    /// The size of one dimension (negative counts from the end), as PyTorch `size(dim)`.
    pub fn size(&self, dim: impl crate::Dim) -> Result<usize> {
        self.shape().size("size", dim.to_isize())
    }
    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.0.layout.elem_count()
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// The device holding the data.
    pub fn device(&self) -> Device {
        self.storage().device()
    }
    /// The layout (shape, strides, offset) of this view.
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    /// The strides in elements.
    pub fn stride(&self) -> &[usize] {
        self.0.layout.strides()
    }
    /// Whether the elements are laid out row-major without gaps.
    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }
    /// A read lock on the storage (shared with every view of it).
    pub fn storage(&self) -> RwLockReadGuard<'_, Storage> {
        self.0.storage.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn storage_mut(&self) -> RwLockWriteGuard<'_, Storage> {
        self.0.storage.write().unwrap_or_else(|e| e.into_inner())
    }
    /// Whether two tensors are views of the same storage.
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }
    /// Whether gradients flow through this tensor: a leaf that requires grad, or the output of
    /// an op recorded in the graph.
    pub fn tracks_grad(&self) -> bool {
        self.0.node.is_some() || self.0.requires_grad.load(Ordering::Relaxed)
    }
    /// Whether this leaf was marked as requiring a gradient (or is a recorded op output).
    pub fn requires_grad(&self) -> bool {
        self.tracks_grad()
    }
    /// Whether the tensor is a leaf of the graph (no recorded op).
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }
    /// The name of the op that produced this tensor, if recorded (PyTorch `grad_fn`).
    pub fn grad_fn(&self) -> Option<&'static str> {
        self.0.node.as_ref().map(|n| n.op.name())
    }

    /// Marks a leaf as requiring a gradient (in place, for every handle of it) and returns it.
    /// Only float leaves can require gradients.
    pub fn requires_grad_(&self, on: bool) -> Result<Tensor> {
        if !self.is_leaf() {
            return Err(Error::invalid(
                "requires_grad_",
                "only leaf tensors can change requires_grad; use detach() to make a leaf",
            ));
        }
        if on && !self.dtype().is_float() {
            return Err(Error::DType {
                op: "requires_grad_",
                expected: "a float tensor (only floats have gradients)",
                got: self.dtype(),
            });
        }
        self.0.requires_grad.store(on, Ordering::Relaxed);
        Ok(self.clone())
    }

    /// The same data without graph history: a leaf that does not require grad.
    pub fn detach(&self) -> Tensor {
        if self.is_leaf() && !self.tracks_grad() {
            return self.clone();
        }
        Tensor(Arc::new(Inner {
            id: TensorId::next(),
            storage: self.0.storage.clone(),
            layout: self.0.layout.clone(),
            dtype: self.0.dtype,
            node: None,
            requires_grad: AtomicBool::new(false),
        }))
    }

    /// The elements in row-major order, copied to the host whatever the device; `T` must be the
    /// tensor's element type.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let wrong = || Error::DType {
            op: "to_vec",
            expected: T::DTYPE.as_str(),
            got: self.dtype(),
        };
        if self.dtype() != T::DTYPE {
            return Err(wrong());
        }
        T::from_host(self.storage().to_host(self.layout())).ok_or_else(wrong)
    }

    /// The elements in row-major order converted to f64, whatever the dtype.
    pub fn to_vec_f64(&self) -> Vec<f64> {
        self.storage().to_host(self.layout()).to_f64_vec()
    }

    /// The elements in row-major order as host data of the tensor's dtype.
    pub fn to_host(&self) -> HostData {
        self.storage().to_host(self.layout())
    }

    /// The elements of a 2-d tensor as rows.
    pub fn to_vec2<T: Element>(&self) -> Result<Vec<Vec<T>>> {
        if self.rank() != 2 {
            return Err(Error::Rank {
                op: "to_vec2",
                expected: "a 2-d tensor".into(),
                got: self.shape().clone(),
            });
        }
        let v = self.to_vec::<T>()?;
        let c = self.dims()[1].max(1);
        Ok(v.chunks(c)
            .map(|r| r.to_vec())
            .take(self.dims()[0])
            .collect())
    }

    /// The value of a one-element tensor; `T` must be the tensor's element type.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "to_scalar",
                format!(
                    "expected a tensor with one element, got shape {}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// The value of a one-element tensor as f64 (PyTorch `item()`).
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                format!(
                    "expected a tensor with one element, got shape {}",
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec_f64()[0])
    }

    /// Overwrites this tensor's elements with `src`'s (same shape; `src` is cast to this dtype).
    /// For optimizers and initializers: allowed on leaves, and only under `no_grad` when the
    /// tensor requires grad, as in PyTorch.
    pub fn assign_(&self, src: &Tensor) -> Result<()> {
        self.check_writable("assign_")?;
        let src = self.inplace_source("assign_", src)?;
        let s = src.storage();
        self.storage_mut()
            .copy_from(self.layout(), &s, src.layout())
    }

    /// A contiguous copy in new storage (no graph).
    pub(crate) fn force_copy(&self) -> Tensor {
        let s = self.storage().contiguous(self.layout());
        Tensor::from_storage(s, self.shape().clone())
    }

    /// Runs `f` on the contiguous elements (copying only if the view is not contiguous).
    /// The slice is borrowed without a copy for a contiguous tensor in host memory of the CPU
    /// device; other devices copy to the host first.
    pub fn with_contiguous<T: Element, R>(&self, f: impl FnOnce(&[T]) -> R) -> Result<R> {
        self.storage().with_host_slice(self.layout(), f)
    }
}
