//! Joining and splitting: cat, stack, chunk, split, and constant padding.

use crate::autograd::Backward;
use crate::{DType, Dim, Error, Layout, Result, Shape, Storage, Tensor};

/// Gradient of `cat`: each input gets its own slice of the gradient.
struct CatBackward {
    dim: usize,
}

impl Backward for CatBackward {
    fn name(&self) -> &'static str {
        "cat"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut start = 0;
        inputs
            .iter()
            .map(|x| {
                let len = x.dims()[self.dim];
                let gi = g.narrow(self.dim, start, len)?;
                start += len;
                Ok(Some(gi))
            })
            .collect()
    }
}

/// Gradient of `pad`: the interior of the gradient.
struct PadBackward {
    /// (dim, before) for every padded dim
    pads: Vec<(usize, usize)>,
}

impl Backward for PadBackward {
    fn name(&self) -> &'static str {
        "pad"
    }
    fn backward(&self, inputs: &[Tensor], _y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let mut gi = g.clone();
        for &(d, before) in &self.pads {
            gi = gi.narrow(d, before, x.dims()[d])?;
        }
        Ok(vec![Some(gi)])
    }
}

impl Tensor {
    /// Concatenates tensors along `dim` (`torch.cat`). All must have the same rank and agree on
    /// every other dim; dtypes are promoted to a common one.
    pub fn cat(tensors: &[Tensor], dim: impl Dim) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("cat", "expected a non-empty list of tensors"))?;
        let d = first.shape().dim("cat", dim.to_isize())?;
        let dt = tensors
            .iter()
            .fold(first.dtype(), |a, t| DType::promote(a, t.dtype()));
        let mut total = 0;
        for t in tensors {
            let same = t.rank() == first.rank()
                && t.dims()
                    .iter()
                    .zip(first.dims())
                    .enumerate()
                    .all(|(i, (a, b))| i == d || a == b);
            if !same {
                let mut expected = first.dims().to_vec();
                if t.rank() == first.rank() {
                    expected[d] = t.dims()[d];
                }
                return Err(Error::ShapeMismatch {
                    op: "cat",
                    expected: Shape::new(expected),
                    got: t.shape().clone(),
                });
            }
            total += t.dims()[d];
        }
        let mut shape = first.dims().to_vec();
        shape[d] = total;
        let inputs: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.to_dtype(dt))
            .collect::<Result<_>>()?;
        // fill new storage directly: every element is covered by exactly one input
        let out_layout = Layout::contiguous(shape.clone());
        let mut out = Storage::full(first.device(), dt, out_layout.elem_count(), 0.0);
        let mut start = 0;
        for t in &inputs {
            let len = t.dims()[d];
            let region = out_layout.slice(d, start, len, 1);
            out.copy_from(&region, &t.storage(), t.layout())?;
            start += len;
        }
        let refs: Vec<&Tensor> = inputs.iter().collect();
        Ok(Tensor::from_op(out, shape, CatBackward { dim: d }, &refs))
    }

    /// Stacks tensors of the same shape along a new dimension `dim` (`torch.stack`).
    pub fn stack(tensors: &[Tensor], dim: impl Dim) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("stack", "expected a non-empty list of tensors"))?;
        for t in tensors {
            if t.shape() != first.shape() {
                return Err(Error::ShapeMismatch {
                    op: "stack",
                    expected: first.shape().clone(),
                    got: t.shape().clone(),
                });
            }
        }
        let d = dim.to_isize();
        let parts: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.unsqueeze(d))
            .collect::<Result<_>>()?;
        let r = first.rank() as isize + 1;
        Tensor::cat(&parts, if d < 0 { d + r } else { d })
    }

    /// Splits into `chunks` views of (almost) equal size along `dim`, the last possibly smaller,
    /// as `torch.chunk`.
    pub fn chunk(&self, chunks: usize, dim: impl Dim) -> Result<Vec<Tensor>> {
        if chunks == 0 {
            return Err(Error::invalid(
                "chunk",
                "the number of chunks must be positive",
            ));
        }
        let d = self.shape().dim("chunk", dim.to_isize())?;
        if self.dims()[d] == 0 {
            // an empty dim gives `chunks` empty pieces, as in PyTorch
            return self.split_with_sizes(&vec![0; chunks], d);
        }
        let size = self.dims()[d].div_ceil(chunks).max(1);
        self.split(size, d)
    }

    /// Splits into views of `split_size` along `dim`, the last possibly smaller (`torch.split`).
    pub fn split(&self, split_size: usize, dim: impl Dim) -> Result<Vec<Tensor>> {
        if split_size == 0 {
            return Err(Error::invalid("split", "split_size must be positive"));
        }
        let d = self.shape().dim("split", dim.to_isize())?;
        let n = self.dims()[d];
        if n == 0 {
            // an empty dim gives one empty piece, as in PyTorch
            return self.split_with_sizes(&[0], d);
        }
        let sizes: Vec<usize> = (0..n)
            .step_by(split_size)
            .map(|s| split_size.min(n - s))
            .collect();
        self.split_with_sizes(&sizes, d)
    }

    /// Splits into views of the given sizes along `dim`; the sizes must add up to the dim.
    pub fn split_with_sizes(&self, sizes: &[usize], dim: impl Dim) -> Result<Vec<Tensor>> {
        let d = self.shape().dim("split", dim.to_isize())?;
        let total: usize = sizes.iter().sum();
        if total != self.dims()[d] {
            return Err(Error::invalid(
                "split",
                format!(
                    "sizes {sizes:?} add up to {total}, but dim {d} has size {}",
                    self.dims()[d]
                ),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&len| {
                let t = self.narrow(d, start, len)?;
                start += len;
                Ok(t)
            })
            .collect()
    }

    /// Pads with a constant, as `torch.nn.functional.pad(x, pads, value=value)`: `pads` lists
    /// (before, after) pairs starting from the last dim: `[left, right, top, bottom, ...]`.
    pub fn pad(&self, pads: &[usize], value: f64) -> Result<Tensor> {
        if !pads.len().is_multiple_of(2) || pads.len() / 2 > self.rank() {
            return Err(Error::invalid(
                "pad",
                format!(
                    "expected an even number of pads, at most 2 per dim, for shape {}; got {pads:?}",
                    self.shape()
                ),
            ));
        }
        let mut shape = self.dims().to_vec();
        let mut spec = Vec::new();
        for (k, pair) in pads.chunks(2).enumerate() {
            let d = self.rank() - 1 - k;
            shape[d] += pair[0] + pair[1];
            spec.push((d, pair[0]));
        }
        let out_layout = Layout::contiguous(shape.clone());
        let mut out = Storage::full(self.device(), self.dtype(), out_layout.elem_count(), value);
        let mut region = out_layout.clone();
        for &(d, before) in &spec {
            region = region.slice(d, before, self.dims()[d], 1);
        }
        out.copy_from(&region, &self.storage(), self.layout())?;
        Ok(Tensor::from_op(
            out,
            shape,
            PadBackward { pads: spec },
            &[self],
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck, seeded};
    use crate::{DType, Error, Tensor};

    #[test]
    fn cat_stack_split_pad_values() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
        let b = Tensor::from_vec(vec![5.0f32, 6.0], [2, 1]).unwrap();
        let c = Tensor::cat(&[a.clone(), b.clone()], 1).unwrap();
        assert_eq!(c.to_vec::<f32>().unwrap(), vec![1., 2., 5., 3., 4., 6.]);
        let s = Tensor::stack(&[a.clone(), a.clone()], -1).unwrap();
        assert_eq!(s.dims(), &[2, 2, 2]);
        assert_eq!(
            s.to_vec::<f32>().unwrap(),
            vec![1., 1., 2., 2., 3., 3., 4., 4.]
        );
        let parts = c.chunk(2, 1).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].dims(), &[2, 2]);
        assert_eq!(parts[1].to_vec::<f32>().unwrap(), vec![5., 6.]);
        let parts = Tensor::arange(0.0, 7.0, 1.0, DType::F32)
            .unwrap()
            .split(3, 0)
            .unwrap();
        let sizes: Vec<usize> = parts.iter().map(|p| p.numel()).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        let p = b.pad(&[1, 0, 0, 1], -1.0).unwrap();
        assert_eq!(p.dims(), &[3, 2]);
        assert_eq!(p.to_vec::<f32>().unwrap(), vec![-1., 5., -1., 6., -1., -1.]);
        let e = Tensor::cat(&[a.clone(), b.t().unwrap()], 1).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { op: "cat", .. }), "{e}");
        assert!(Tensor::cat(&[], 0).is_err());
        assert!(Tensor::stack(&[a.clone(), b.clone()], 0).is_err());
        assert!(a.pad(&[1], 0.0).is_err());
        assert!(a.chunk(0, 0).is_err());
    }

    #[test]
    fn concat_gradients() {
        let (a, b) = (seeded([2, 3], 1), seeded([2, 2], 2));
        gradcheck(
            "cat",
            |t| Tensor::cat(&[t[0].clone(), t[1].clone()], 1),
            &[a.clone(), b],
        )
        .unwrap();
        gradcheck(
            "stack",
            |t| Tensor::stack(&[t[0].clone(), t[1].mul_scalar(2.0)?], 0),
            &[a.clone(), a.clone()],
        )
        .unwrap();
        gradcheck(
            "chunk",
            |t| t[0].chunk(3, 1).map(|c| c[1].clone()),
            &[a.clone()],
        )
        .unwrap();
        gradcheck(
            "pad",
            |t| t[0].pad(&[1, 2, 0, 1], 0.5),
            &[seeded([2, 3, 4], 3)],
        )
        .unwrap();
        gradcheck("pad_view", |t| t[0].t()?.pad(&[1, 1], 0.0), &[a]).unwrap();
    }
}
