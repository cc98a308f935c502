//! The lookup table of learned vectors (`torch.nn.Embedding`).

use super::in_module;
use crate::{Init, Module, ParamBuilder};
use deepnet_tensor::{no_grad, DType, Error, Result, Tensor};

/// A table of `num_embeddings` learned vectors of `embedding_dim` features, looked up by index,
/// as `torch.nn.Embedding(num_embeddings, embedding_dim, padding_idx)`.
///
/// Parameters: `weight: (num_embeddings, embedding_dim)`, initialized N(0, 1) as PyTorch's
/// `normal_()`. With `padding_idx` its row starts at zero and never receives a gradient, so an
/// optimizer leaves it as it is (PyTorch's behaviour: the row is a fixed "nothing here" vector
/// for padded positions; loading a non-zero row is allowed and is then returned unchanged).
///
/// Shapes: `indices: (*)` int64 in `0..num_embeddings` -> `(*, embedding_dim)` in the weight's
/// dtype. An index outside the table is an error naming the layer, the index and the size.
/// PyTorch's `max_norm`, `scale_grad_by_freq` and `sparse` options are not offered.
pub struct Embedding {
    weight: Tensor,
    num_embeddings: usize,
    embedding_dim: usize,
    padding_idx: Option<usize>,
    path: String,
}

impl Embedding {
    /// A new table registering `weight` under `pb`'s path. `padding_idx` may be negative, counted
    /// from the end as in PyTorch (`-1` is the last row); it must lie in
    /// `-num_embeddings..num_embeddings`.
    pub fn new(
        num_embeddings: usize,
        embedding_dim: usize,
        padding_idx: Option<i64>,
        pb: &ParamBuilder,
    ) -> Result<Embedding> {
        let bad = |msg: String| {
            in_module(
                Error::InvalidArgument {
                    op: "embedding",
                    msg,
                },
                pb.path(),
            )
        };
        if num_embeddings == 0 || embedding_dim == 0 {
            return Err(bad(format!(
                "num_embeddings and embedding_dim must be at least 1, got {num_embeddings} and \
                 {embedding_dim}"
            )));
        }
        let n = num_embeddings as i64;
        let padding_idx = match padding_idx {
            None => None,
            Some(p) if (-n..n).contains(&p) => Some(if p < 0 { p + n } else { p } as usize),
            Some(p) => {
                return Err(bad(format!(
                    "padding_idx {p} must be within num_embeddings = {num_embeddings} \
                     (in -{num_embeddings}..{num_embeddings})"
                )))
            }
        };
        let weight = pb.param(
            "weight",
            [num_embeddings, embedding_dim],
            Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
        )?;
        if let Some(p) = padding_idx {
            // zero the padding row in place: weight = 0 * weight + weight * keep, where `keep`
            // is 1 everywhere but row p
            let _g = no_grad();
            let mut keep = vec![1.0f64; num_embeddings];
            keep[p] = 0.0;
            let keep = Tensor::from_vec_on(keep, [num_embeddings, 1], weight.device())?
                .to_dtype(weight.dtype())?;
            weight.axpby_(0.0, 1.0, &weight.mul(&keep)?)?;
        }
        Ok(Embedding {
            weight,
            num_embeddings,
            embedding_dim,
            padding_idx,
            path: pb.path().to_string(),
        })
    }

    /// The table, `(num_embeddings, embedding_dim)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The number of rows (the vocabulary size).
    pub fn num_embeddings(&self) -> usize {
        self.num_embeddings
    }

    /// The size of each vector.
    pub fn embedding_dim(&self) -> usize {
        self.embedding_dim
    }

    /// The padding row, normalized to `0..num_embeddings`, if there is one.
    pub fn padding_idx(&self) -> Option<usize> {
        self.padding_idx
    }

    fn lookup(&self, indices: &Tensor) -> Result<Tensor> {
        if indices.dtype() != DType::I64 {
            return Err(Error::DType {
                op: "embedding",
                expected: "an int64 index tensor",
                got: indices.dtype(),
            });
        }
        // checked here rather than left to index_select so that the message speaks of the
        // table (dim 0 of the weight) and carries the layer's path
        let n = self.num_embeddings;
        if let Some(&bad) = indices
            .to_vec::<i64>()?
            .iter()
            .find(|&&i| i < 0 || i as usize >= n)
        {
            return Err(Error::IndexOutOfRange {
                op: "embedding",
                index: bad,
                dim: 0,
                size: n,
            });
        }
        let flat = indices.reshape([indices.numel()])?;
        let mut rows = self.weight.index_select(0, &flat)?; // (numel, embedding_dim)
        if let Some(p) = self.padding_idx {
            // padded positions take the row's value from a detached copy, so no gradient
            // reaches the padding row (selected, not multiplied by zero: its value is kept)
            let is_pad = flat.eq_scalar(p as f64)?.unsqueeze(1)?; // (numel, 1) u8
            rows = Tensor::where_cond(&is_pad, &rows.detach(), &rows)?;
        }
        let mut shape = indices.dims().to_vec();
        shape.push(self.embedding_dim);
        rows.reshape(shape)
    }
}

impl Module for Embedding {
    /// `indices: (*)` int64 -> `(*, embedding_dim)`.
    fn forward(&self, indices: &Tensor) -> Result<Tensor> {
        self.lookup(indices).map_err(|e| in_module(e, &self.path))
    }

    fn describe(&self) -> String {
        let pad = self
            .padding_idx
            .map(|p| format!(", padding_idx={p}"))
            .unwrap_or_default();
        format!(
            "Embedding({}, {}{pad})",
            self.num_embeddings, self.embedding_dim
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use deepnet_tensor::testing::gradcheck;

    fn idx(v: Vec<i64>, s: &[usize]) -> Tensor {
        Tensor::from_vec(v, s.to_vec()).unwrap()
    }

    /// A 4x3 f64 table with known rows: row r is `[10r, 10r + 1, 10r + 2]`.
    fn known(padding_idx: Option<i64>) -> (ParamStore, Embedding) {
        let store = ParamStore::with_dtype(0, DType::F64);
        let e = Embedding::new(4, 3, padding_idx, &store.root().push("embed")).unwrap();
        let w: Vec<f64> = (0..4)
            .flat_map(|r| (0..3).map(move |c| (10 * r + c) as f64))
            .collect();
        let sd = vec![(
            "embed.weight".to_string(),
            Tensor::from_vec(w, [4, 3]).unwrap(),
        )];
        store.load_state_dict(&sd, true).unwrap();
        (store, e)
    }

    #[test]
    fn state_dict_key_shape_init_and_describe() {
        let store = ParamStore::new(7);
        let e = Embedding::new(1000, 16, None, &store.root().push("emb")).unwrap();
        assert_eq!(store.keys(), vec!["emb.weight"]);
        assert_eq!(e.weight().dims(), [1000, 16]);
        assert_eq!(store.num_params(), 16_000);
        // N(0, 1): 16,000 draws have mean within ±0.05 and std within 1 ± 0.05
        let v = e.weight().to_vec_f64();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var.sqrt() - 1.0).abs() < 0.05, "std {}", var.sqrt());
        assert_eq!(e.describe(), "Embedding(1000, 16)");
        let p = Embedding::new(10, 3, Some(-1), &store.root().push("p")).unwrap();
        assert_eq!(p.padding_idx(), Some(9));
        assert_eq!(p.describe(), "Embedding(10, 3, padding_idx=9)");
        assert_eq!((p.num_embeddings(), p.embedding_dim()), (10, 3));
    }

    #[test]
    fn values_and_shapes_for_any_index_shape() {
        let (_s, e) = known(None);
        let y = e.forward(&idx(vec![2, 0, 2], &[3])).unwrap();
        assert_eq!(y.dims(), [3, 3]);
        assert_eq!(
            y.to_vec::<f64>().unwrap(),
            vec![20., 21., 22., 0., 1., 2., 20., 21., 22.]
        );
        let y = e.forward(&idx(vec![3, 1, 0, 3, 2, 1], &[2, 3])).unwrap();
        assert_eq!(y.dims(), [2, 3, 3]);
        assert_eq!(
            y.to_vec::<f64>().unwrap()[..6],
            [30., 31., 32., 10., 11., 12.]
        );
        // a scalar index gives one vector; an empty index an empty (0, dim) result
        let y = e.forward(&idx(vec![1], &[])).unwrap();
        assert_eq!(y.dims(), [3]);
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![10., 11., 12.]);
        assert_eq!(e.forward(&idx(vec![], &[0])).unwrap().dims(), [0, 3]);
        // a non-contiguous index (a transpose) reads the right elements
        let t = idx(vec![0, 1, 2, 3], &[2, 2]).transpose(0, 1).unwrap();
        let y = e.forward(&t).unwrap();
        assert_eq!(y.dims(), [2, 2, 3]);
        assert_eq!(y.to_vec::<f64>().unwrap()[3..6], [20., 21., 22.]);
    }

    #[test]
    fn padding_row_starts_at_zero_and_gets_no_gradient() {
        let store = ParamStore::with_dtype(3, DType::F64);
        let e = Embedding::new(5, 4, Some(1), &store.root()).unwrap();
        let w = e.weight().to_vec::<f64>().unwrap();
        assert_eq!(w[4..8], [0.0; 4]);
        assert!(w[..4].iter().chain(&w[8..]).all(|&v| v != 0.0));
        // index 1 appears twice, index 3 twice, index 0 once
        let y = e.forward(&idx(vec![1, 3, 0, 1, 3], &[5])).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap()[..4], [0.0; 4]);
        let g = y.sum_all().unwrap().backward().unwrap();
        let gw = g.get(e.weight()).unwrap().to_vec::<f64>().unwrap();
        // d(sum)/d row = number of times the row was looked up, except the padding row
        let want: Vec<f64> = [1., 0., 0., 2., 0.].iter().flat_map(|&c| [c; 4]).collect();
        assert_eq!(gw, want);
        // a loaded non-zero padding row is returned as it is (and still gets no gradient)
        let (_s, p) = known(Some(2));
        let y = p.forward(&idx(vec![2, 3], &[2])).unwrap();
        assert_eq!(
            y.to_vec::<f64>().unwrap(),
            vec![20., 21., 22., 30., 31., 32.]
        );
        let g = y.sum_all().unwrap().backward().unwrap();
        let gw = g.get(p.weight()).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(gw[6..9], [0.0; 3]);
        assert_eq!(gw[9..12], [1.0; 3]);
    }

    #[test]
    fn gradcheck_of_the_weight() {
        // with a padding row the lookups avoid it: its gradient is zero by design, not the
        // derivative (checked in the test above)
        for (padding_idx, i) in [
            (None, vec![0, 2, 5, 2, 1, 0, 4, 2]),
            (Some(3), vec![0, 2, 5, 2, 1, 0, 4, 2]),
        ] {
            let store = ParamStore::with_dtype(5, DType::F64);
            let e = Embedding::new(6, 3, padding_idx, &store.root()).unwrap();
            let i = idx(i, &[2, 4]);
            gradcheck(
                "Embedding(weight)",
                |t| {
                    // the same layer reading the checked leaf as its table
                    let e2 = Embedding {
                        weight: t[0].clone(),
                        num_embeddings: 6,
                        embedding_dim: 3,
                        padding_idx: e.padding_idx(),
                        path: String::new(),
                    };
                    e2.forward(&t[1])
                },
                &[e.weight().clone(), i],
            )
            .unwrap();
        }
    }

    #[test]
    fn errors_name_the_layer() {
        let store = ParamStore::new(0);
        let e = Embedding::new(10, 4, None, &store.root().push("encoder").push("embed")).unwrap();
        let err = e
            .forward(&idx(vec![3, 10, 1], &[3]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "in module \"encoder.embed\": embedding: index 10 is out of range for dim 0 of size 10"
        );
        let err = e.forward(&idx(vec![-1], &[1])).unwrap_err().to_string();
        assert!(err.contains("index -1 is out of range"), "{err}");
        let err = e
            .forward(&Tensor::zeros([2], DType::F32).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("in module \"encoder.embed\": embedding: unsupported dtype"),
            "{err}"
        );
        let err = Embedding::new(10, 4, Some(10), &store.root().push("bad"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("in module \"bad\": embedding: padding_idx 10 must be within"),
            "{err}"
        );
        assert!(Embedding::new(0, 4, None, &store.root().push("z")).is_err());
        assert!(Embedding::new(4, 0, None, &store.root().push("z2")).is_err());
    }
}
