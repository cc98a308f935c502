//! Datasets of labelled samples, batch-first.
//!
//! Shape contract: a sample has shape `sample_shape` (e.g. `(1, 28, 28)` for MNIST, or `(784,)`
//! after [`InMemoryDataset::reshape_samples`]); [`Dataset::get`] returns one sample as an f32
//! tensor of `sample_shape` and its class; [`Dataset::get_batch`] returns images
//! `(B, *sample_shape)` f32 and labels `(B,)` i64, in the order of the given indices.

use crate::error::{fmt_dims, DataError, Result};
use deepnet_tensor::{DType, Tensor};

/// A finite, indexable set of labelled samples. Implementations must be cheap to share across
/// threads: the [`crate::DataLoader`] calls [`Dataset::get_batch`] on a background thread.
pub trait Dataset: Send + Sync {
    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample, e.g. `[1, 28, 28]`.
    fn sample_shape(&self) -> Vec<usize>;

    /// The number of classes, when the labels are classes `0..num_classes`.
    fn num_classes(&self) -> Option<usize> {
        None
    }

    /// Sample `i`: an f32 tensor of shape `sample_shape` and its label.
    fn get(&self, i: usize) -> Result<(Tensor, i64)>;

    /// The samples at `indices`: images `(B, *sample_shape)` f32 and labels `(B,)` i64, with
    /// `B = indices.len()`. The default gathers [`Dataset::get`] one sample at a time;
    /// implementations override it with a bulk copy.
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let shape = self.sample_shape();
        let per: usize = shape.iter().product();
        let mut images = Vec::with_capacity(indices.len() * per);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let (x, y) = self.get(i)?;
            if x.dims() != shape.as_slice() {
                return Err(DataError::invalid(
                    "get_batch",
                    format!(
                        "sample {i} has shape {}, expected the dataset's sample shape ({})",
                        x.shape(),
                        fmt_dims(&shape)
                    ),
                ));
            }
            images.extend(x.to_dtype(DType::F32)?.to_vec::<f32>()?);
            labels.push(y);
        }
        batch_tensors(images, &shape, labels)
    }
}

/// Builds the `(B, *sample_shape)` f32 and `(B,)` i64 tensors of a batch.
pub(crate) fn batch_tensors(
    images: Vec<f32>,
    sample_shape: &[usize],
    labels: Vec<i64>,
) -> Result<(Tensor, Tensor)> {
    let mut dims = Vec::with_capacity(sample_shape.len() + 1);
    dims.push(labels.len());
    dims.extend_from_slice(sample_shape);
    let n = labels.len();
    Ok((
        Tensor::from_vec(images, dims)?,
        Tensor::from_vec(labels, [n])?,
    ))
}

impl<D: Dataset + ?Sized> Dataset for std::sync::Arc<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn sample_shape(&self) -> Vec<usize> {
        (**self).sample_shape()
    }
    fn num_classes(&self) -> Option<usize> {
        (**self).num_classes()
    }
    fn get(&self, i: usize) -> Result<(Tensor, i64)> {
        (**self).get(i)
    }
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        (**self).get_batch(indices)
    }
}

/// A dataset held in memory as one flat f32 buffer, already transformed (scaled, normalized).
///
/// `images` holds `N * prod(sample_shape)` values, sample-major: sample `i` is
/// `images[i * S..(i + 1) * S]` with `S = prod(sample_shape)`; `labels` holds `N` classes in
/// `0..num_classes`.
#[derive(Clone, Debug, PartialEq)]
pub struct InMemoryDataset {
    images: Vec<f32>,
    sample_shape: Vec<usize>,
    labels: Vec<i64>,
    num_classes: usize,
}

impl InMemoryDataset {
    /// A dataset over `images` (flattened, `N * prod(sample_shape)` values), `labels` (`N`) in
    /// `0..num_classes`. Errors on mismatched lengths or a label out of range.
    pub fn new(
        images: Vec<f32>,
        sample_shape: Vec<usize>,
        labels: Vec<i64>,
        num_classes: usize,
    ) -> Result<Self> {
        let per: usize = sample_shape.iter().product();
        if per == 0 {
            return Err(DataError::invalid(
                "InMemoryDataset::new",
                format!("sample shape ({}) has no elements", fmt_dims(&sample_shape)),
            ));
        }
        if images.len() != labels.len() * per {
            return Err(DataError::invalid(
                "InMemoryDataset::new",
                format!(
                    "{} labels of sample shape ({}) need {} image values, got {}",
                    labels.len(),
                    fmt_dims(&sample_shape),
                    labels.len() * per,
                    images.len()
                ),
            ));
        }
        check_labels(&labels, num_classes, "<memory>")?;
        Ok(InMemoryDataset {
            images,
            sample_shape,
            labels,
            num_classes,
        })
    }

    /// All samples, flattened: `N * prod(sample_shape)` values.
    pub fn images(&self) -> &[f32] {
        &self.images
    }
    /// Mutable access to the samples, for in-place transforms (see [`crate::transforms`]).
    pub fn images_mut(&mut self) -> &mut [f32] {
        &mut self.images
    }
    /// All labels (`N`).
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }
    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.num_classes
    }
    /// The number of values in one sample.
    pub fn sample_numel(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The same data with another sample shape of the same size, e.g. `[784]` for an MLP
    /// instead of `[1, 28, 28]`.
    pub fn reshape_samples(mut self, sample_shape: Vec<usize>) -> Result<Self> {
        if sample_shape.iter().product::<usize>() != self.sample_numel() {
            return Err(DataError::invalid(
                "reshape_samples",
                format!(
                    "cannot view samples of shape ({}) as ({})",
                    fmt_dims(&self.sample_shape),
                    fmt_dims(&sample_shape)
                ),
            ));
        }
        self.sample_shape = sample_shape;
        Ok(self)
    }

    /// A new dataset with the samples at `indices`, in that order (e.g. a small subset for a
    /// smoke test, or a train/validation split).
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let (images, labels) = self.gather(indices)?;
        Ok(InMemoryDataset {
            images,
            sample_shape: self.sample_shape.clone(),
            labels,
            num_classes: self.num_classes,
        })
    }

    /// The first `n` samples (all of them when `n >= len`).
    pub fn take(&self, n: usize) -> Self {
        let n = n.min(self.labels.len());
        InMemoryDataset {
            images: self.images[..n * self.sample_numel()].to_vec(),
            sample_shape: self.sample_shape.clone(),
            labels: self.labels[..n].to_vec(),
            num_classes: self.num_classes,
        }
    }

    /// The whole set as tensors: images `(N, *sample_shape)` f32, labels `(N,)` i64.
    pub fn to_tensors(&self) -> Result<(Tensor, Tensor)> {
        batch_tensors(self.images.clone(), &self.sample_shape, self.labels.clone())
    }

    fn gather(&self, indices: &[usize]) -> Result<(Vec<f32>, Vec<i64>)> {
        let per = self.sample_numel();
        let n = self.labels.len();
        let mut images = Vec::with_capacity(indices.len() * per);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= n {
                return Err(DataError::IndexOutOfRange {
                    op: "get_batch",
                    index: i,
                    len: n,
                });
            }
            images.extend_from_slice(&self.images[i * per..(i + 1) * per]);
            labels.push(self.labels[i]);
        }
        Ok((images, labels))
    }
}

/// Checks that every label is in `0..num_classes`; `path` names the source in the error.
pub(crate) fn check_labels(
    labels: &[i64],
    num_classes: usize,
    path: impl AsRef<std::path::Path>,
) -> Result<()> {
    match labels
        .iter()
        .position(|&l| l < 0 || l as u64 >= num_classes as u64)
    {
        Some(index) => Err(DataError::LabelOutOfRange {
            path: path.as_ref().into(),
            label: labels[index],
            index,
            num_classes,
        }),
        None => Ok(()),
    }
}

impl Dataset for InMemoryDataset {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn sample_shape(&self) -> Vec<usize> {
        self.sample_shape.clone()
    }
    fn num_classes(&self) -> Option<usize> {
        Some(self.num_classes)
    }
    fn get(&self, i: usize) -> Result<(Tensor, i64)> {
        let (images, labels) = self.gather(&[i]).map_err(|e| match e {
            DataError::IndexOutOfRange { index, len, .. } => DataError::IndexOutOfRange {
                op: "get",
                index,
                len,
            },
            e => e,
        })?;
        Ok((
            Tensor::from_vec(images, self.sample_shape.clone())?,
            labels[0],
        ))
    }
    fn get_batch(&self, indices: &[usize]) -> Result<(Tensor, Tensor)> {
        let (images, labels) = self.gather(indices)?;
        batch_tensors(images, &self.sample_shape, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> InMemoryDataset {
        // 4 samples of shape (1, 2), sample i = [i, 10 + i], label i % 3
        let images = (0..4).flat_map(|i| [i as f32, 10.0 + i as f32]).collect();
        InMemoryDataset::new(images, vec![1, 2], vec![0, 1, 2, 0], 3).unwrap()
    }

    /// Only `get` implemented: exercises the default `get_batch`.
    struct ViaGet(InMemoryDataset);
    impl Dataset for ViaGet {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn sample_shape(&self) -> Vec<usize> {
            self.0.sample_shape()
        }
        fn get(&self, i: usize) -> Result<(Tensor, i64)> {
            self.0.get(i)
        }
    }

    #[test]
    fn batches_have_documented_shapes_and_order() {
        let d = toy();
        assert_eq!(
            (d.len(), d.num_classes(), d.sample_numel()),
            (4, Some(3), 2)
        );
        let (x, y) = d.get(2).unwrap();
        assert_eq!(x.dims(), &[1, 2]);
        assert_eq!((x.to_vec::<f32>().unwrap(), y), (vec![2.0, 12.0], 2));
        let (xb, yb) = d.get_batch(&[3, 0, 3]).unwrap();
        assert_eq!((xb.dims(), xb.dtype()), (&[3usize, 1, 2][..], DType::F32));
        assert_eq!((yb.dims(), yb.dtype()), (&[3usize][..], DType::I64));
        assert_eq!(
            xb.to_vec::<f32>().unwrap(),
            vec![3.0, 13.0, 0.0, 10.0, 3.0, 13.0]
        );
        assert_eq!(yb.to_vec::<i64>().unwrap(), vec![0, 0, 0]);
        let v = ViaGet(d.clone());
        let (xv, yv) = v.get_batch(&[3, 0, 3]).unwrap();
        assert_eq!(xv.to_vec::<f32>().unwrap(), xb.to_vec::<f32>().unwrap());
        assert_eq!(yv.to_vec::<i64>().unwrap(), yb.to_vec::<i64>().unwrap());
        let (xe, ye) = v.get_batch(&[]).unwrap();
        assert_eq!((xe.dims(), ye.dims()), (&[0usize, 1, 2][..], &[0usize][..]));
        let shared = std::sync::Arc::new(d.clone());
        assert_eq!(Dataset::len(&shared), 4);
    }

    #[test]
    fn errors_and_helpers() {
        let d = toy();
        let e = d.get_batch(&[1, 4]).unwrap_err().to_string();
        assert_eq!(
            e,
            "get_batch: index 4 is out of range for a dataset of 4 samples"
        );
        assert!(d
            .get(9)
            .unwrap_err()
            .to_string()
            .starts_with("get: index 9"));
        let e = InMemoryDataset::new(vec![0.0; 4], vec![2], vec![0, 5], 3).unwrap_err();
        assert_eq!(e.to_string(), "<memory>: label 5 at index 1 is not in 0..3");
        assert!(InMemoryDataset::new(vec![0.0; 3], vec![2], vec![0, 1], 3).is_err());
        assert!(InMemoryDataset::new(vec![], vec![0], vec![], 3).is_err());
        let flat = d.clone().reshape_samples(vec![2]).unwrap();
        assert_eq!(flat.get_batch(&[0]).unwrap().0.dims(), &[1, 2]);
        assert!(d.clone().reshape_samples(vec![3]).is_err());
        let s = d.subset(&[2, 1]).unwrap();
        assert_eq!(
            (s.images(), s.labels()),
            (&[2.0f32, 12.0, 1.0, 11.0][..], &[2i64, 1][..])
        );
        assert_eq!(d.take(10).len(), 4);
        assert_eq!(d.take(1).images(), &[0.0, 10.0]);
        let (xa, ya) = d.to_tensors().unwrap();
        assert_eq!((xa.dims(), ya.dims()), (&[4usize, 1, 2][..], &[4usize][..]));
    }
}
