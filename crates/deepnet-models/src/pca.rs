//! Principal component analysis, the canon's linear baseline for the autoencoders: the mean `m`
//! of the data and the eigenvectors of the scatter matrix
//!
//! `S = 1/n sum_i (x_i - m)(x_i - m)^T`
//!
//! with the `K` largest eigenvalues. The code of `x` is `z = C (x - m)` (`C: (K, D)`, the
//! components as orthonormal rows), its reconstruction `x' = C^T z + m`, and the mean squared
//! reconstruction error over the data is the sum of the discarded eigenvalues.
//!
//! ## Linear algebra: `faer`
//!
//! The eigendecomposition of `S` and the SVDs of [`principal_angles`] come from the `faer`
//! crate (0.24, pure Rust, built with `default-features = false, features = ["std", "linalg"]`:
//! no rayon, no sparse solvers, no random or file-format extras). Why faer: it is the most
//! complete and actively developed dense linear-algebra crate in Rust (symmetric, general and
//! SVD solvers with LAPACK-style blocked algorithms), it needs no system BLAS/LAPACK (unlike
//! `ndarray-linalg`, which would make every build depend on the machine), and it builds on this
//! toolchain; `nalgebra` would also do at MNIST's 784x784 but its dense decompositions are not
//! blocked. The costs: a long first compile (faer and its own `gemm` 0.19 next to deepnet's
//! 0.18) and an API that still changes between minor versions, hence the pinned minor version.
//! The scatter matrix itself is accumulated with deepnet's own f64 matmul (threaded), 4096 rows
//! at a time, so fitting 60,000 images never holds an f64 copy of the whole set.
//!
//! ## Conventions
//!
//! Everything is computed in f64. Eigenvalues are in decreasing order. An eigenvector's sign is
//! arbitrary, so each component is flipped to make its entry of largest magnitude positive
//! (the first such entry on ties): the same data always gives the same components. Inputs may
//! be any float dtype and are flattened to `(N, D)`; outputs come back in the input's dtype.
//!
//! A fitted PCA is saved as tensors ([`Pca::state_dict`]): `mean` `(D,)`, `components`
//! `(K, D)`, `eigenvalues` `(K,)` and `total_variance` `(1,)` (the trace of `S`, which the
//! explained-variance ratios need), all f64.

use deepnet_tensor::{no_grad, DType, Error, Result, Tensor};
use faer::{Mat, Side};

/// Rows of the data matrix centred and multiplied at a time while accumulating `S`.
const CHUNK: usize = 4096;

/// A fitted PCA: the mean, the leading components and their eigenvalues.
#[derive(Clone, Debug)]
pub struct Pca {
    /// `(D,)` f64
    mean: Tensor,
    /// `(K, D)` f64, orthonormal rows in order of decreasing eigenvalue
    components: Tensor,
    /// the `K` leading eigenvalues of `S`, decreasing
    eigenvalues: Vec<f64>,
    /// `trace(S)`: the total variance of the data
    total_variance: f64,
}

/// `x: (N, *)` float as `(N, D)` in its own dtype; `what` names the caller in errors.
fn rows(what: &str, x: &Tensor) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return Err(Error::msg(format!(
            "{what}: expected a float tensor, got {}",
            x.dtype()
        )));
    }
    if x.rank() < 2 {
        return Err(Error::msg(format!(
            "{what}: expected samples (N, *), got shape {:?}",
            x.dims()
        )));
    }
    let n = x.dims()[0];
    let d: usize = x.dims()[1..].iter().product();
    x.reshape([n, d])
}

/// The f64 chunks of `CHUNK` rows of `x: (N, D)`, in order.
fn chunks(x: &Tensor) -> impl Iterator<Item = Result<Tensor>> + '_ {
    let n = x.dims()[0];
    (0..n).step_by(CHUNK).map(move |start| {
        x.narrow(0usize, start, CHUNK.min(n - start))?
            .to_dtype(DType::F64)
    })
}

/// A `(rows, cols)` f64 tensor as a faer matrix.
fn to_mat(t: &Tensor) -> Result<Mat<f64>> {
    let (r, c) = (t.dims()[0], t.dims()[1]);
    let v = t.to_dtype(DType::F64)?.contiguous()?.to_vec::<f64>()?;
    Ok(Mat::from_fn(r, c, |i, j| v[i * c + j]))
}

impl Pca {
    /// Fits the mean and the `k` leading components of `x: (N, *)` (flattened to `D` features).
    /// Errors: a non-float or empty `x`, `k = 0` or `k > D`, non-finite values, or an
    /// eigensolver that does not converge.
    pub fn fit(x: &Tensor, k: usize) -> Result<Pca> {
        let _g = no_grad();
        let x = rows("pca fit", x)?;
        let (n, d) = (x.dims()[0], x.dims()[1]);
        if n == 0 || d == 0 {
            return Err(Error::msg(format!(
                "pca fit: no data (shape {:?})",
                x.dims()
            )));
        }
        if k == 0 || k > d {
            return Err(Error::msg(format!(
                "pca fit: the number of components must be in 1..={d} (the input's features), got {k}"
            )));
        }
        let mut sum = Tensor::zeros([d], DType::F64)?;
        for c in chunks(&x) {
            sum = sum.add(&c?.sum(0usize, false)?)?;
        }
        let mean = sum.div_scalar(n as f64)?;
        if mean.to_vec_f64().iter().any(|v| !v.is_finite()) {
            return Err(Error::msg(
                "pca fit: the data holds non-finite values (NaN or infinity)",
            ));
        }
        let mut scatter = Tensor::zeros([d, d], DType::F64)?;
        for c in chunks(&x) {
            let xc = c?.sub(&mean)?;
            scatter = scatter.add(&xc.t()?.matmul(&xc)?)?;
        }
        let s = to_mat(&scatter.div_scalar(n as f64)?)?;
        let total_variance = (0..d).map(|i| s[(i, i)]).sum::<f64>();
        let evd = s
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| Error::msg(format!("pca fit: the eigensolver failed: {e:?}")))?;
        // faer sorts eigenvalues increasingly: the leading ones are the last columns
        let (vals, vecs) = (evd.S().column_vector(), evd.U());
        let mut comps = Vec::with_capacity(k * d);
        let mut eigenvalues = Vec::with_capacity(k);
        for j in (d - k..d).rev() {
            eigenvalues.push(vals[j]);
            let col: Vec<f64> = (0..d).map(|i| vecs[(i, j)]).collect();
            let big = col
                .iter()
                .enumerate()
                .fold(0, |b, (i, v)| if v.abs() > col[b].abs() { i } else { b });
            let sign = if col[big] < 0.0 { -1.0 } else { 1.0 };
            comps.extend(col.iter().map(|v| sign * v));
        }
        Ok(Pca {
            mean,
            components: Tensor::from_vec(comps, [k, d])?,
            eigenvalues,
            total_variance,
        })
    }

    /// The number of input features `D`.
    pub fn dim(&self) -> usize {
        self.components.dims()[1]
    }

    /// The number of components `K`.
    pub fn k(&self) -> usize {
        self.components.dims()[0]
    }

    /// The mean `(D,)`, f64.
    pub fn mean(&self) -> &Tensor {
        &self.mean
    }

    /// The components `(K, D)`, f64: orthonormal rows, leading first.
    pub fn components(&self) -> &Tensor {
        &self.components
    }

    /// The `K` leading eigenvalues of the scatter matrix, decreasing.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// `trace(S)`, the data's total variance (sum of all `D` eigenvalues).
    pub fn total_variance(&self) -> f64 {
        self.total_variance
    }

    /// The share of the total variance each component explains: `lambda_j / trace(S)`.
    pub fn explained_variance_ratio(&self) -> Vec<f64> {
        self.eigenvalues
            .iter()
            .map(|l| l / self.total_variance.max(f64::MIN_POSITIVE))
            .collect()
    }

    /// The mean squared reconstruction error on the fitting data, per sample (summed over
    /// features): the sum of the discarded eigenvalues, `trace(S) - sum_j lambda_j`.
    pub fn fit_error_per_sample(&self) -> f64 {
        (self.total_variance - self.eigenvalues.iter().sum::<f64>()).max(0.0)
    }

    /// Checks `x` has `D` features and returns it as `(N, D)` f64.
    fn input(&self, what: &str, x: &Tensor) -> Result<Tensor> {
        let x = rows(what, x)?.to_dtype(DType::F64)?;
        if x.dims()[1] != self.dim() {
            return Err(Error::msg(format!(
                "{what}: samples have {} features, the PCA was fitted on {}",
                x.dims()[1],
                self.dim()
            )));
        }
        Ok(x)
    }

    /// The codes `z = (x - m) C^T`: `x: (N, *)` with `D` features -> `(N, K)` in `x`'s dtype.
    pub fn transform(&self, x: &Tensor) -> Result<Tensor> {
        let _g = no_grad();
        let xf = self.input("pca transform", x)?;
        xf.sub(&self.mean)?
            .matmul(&self.components.t()?)?
            .to_dtype(x.dtype())
    }

    /// The reconstructions `x' = z C + m`: `z: (N, K)` -> `(N, D)` in `z`'s dtype.
    pub fn inverse_transform(&self, z: &Tensor) -> Result<Tensor> {
        let _g = no_grad();
        if !z.dtype().is_float() || z.rank() != 2 || z.dims()[1] != self.k() {
            return Err(Error::msg(format!(
                "pca inverse_transform: expected float codes (N, {}), got {} {:?}",
                self.k(),
                z.dtype(),
                z.dims()
            )));
        }
        z.to_dtype(DType::F64)?
            .matmul(&self.components)?
            .add(&self.mean)?
            .to_dtype(z.dtype())
    }

    /// `inverse_transform(transform(x))`, shaped like `x`.
    pub fn reconstruct(&self, x: &Tensor) -> Result<Tensor> {
        self.inverse_transform(&self.transform(x)?)?
            .reshape(x.dims().to_vec())
    }

    /// The fitted state as named f64 tensors: `mean (D,)`, `components (K, D)`, `eigenvalues
    /// (K,)`, `total_variance (1,)`.
    pub fn state_dict(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(vec![
            ("mean".into(), self.mean.clone()),
            ("components".into(), self.components.clone()),
            (
                "eigenvalues".into(),
                Tensor::from_vec(self.eigenvalues.clone(), [self.k()])?,
            ),
            (
                "total_variance".into(),
                Tensor::from_vec(vec![self.total_variance], [1])?,
            ),
        ])
    }

    /// A PCA back from [`Pca::state_dict`]'s tensors (any float dtype); errors name the missing
    /// tensor or the shapes that disagree.
    pub fn from_state_dict(tensors: &[(String, Tensor)]) -> Result<Pca> {
        let get = |k: &str| -> Result<Tensor> {
            tensors
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, t)| t.to_dtype(DType::F64))
                .ok_or_else(|| Error::msg(format!("pca: the state has no tensor \"{k}\"")))?
        };
        let (mean, components, eig, total) = (
            get("mean")?,
            get("components")?,
            get("eigenvalues")?,
            get("total_variance")?,
        );
        let ok = mean.rank() == 1
            && components.rank() == 2
            && components.dims()[1] == mean.dims()[0]
            && eig.dims() == [components.dims()[0]]
            && total.numel() == 1
            && components.dims()[0] >= 1;
        if !ok {
            return Err(Error::msg(format!(
                "pca: inconsistent state: mean {:?}, components {:?}, eigenvalues {:?}, total_variance {:?} (expected (D,), (K, D), (K,), (1,))",
                mean.dims(),
                components.dims(),
                eig.dims(),
                total.dims()
            )));
        }
        Ok(Pca {
            mean: mean.contiguous()?,
            components: components.contiguous()?,
            eigenvalues: eig.to_vec_f64(),
            total_variance: total.to_vec_f64()[0],
        })
    }
}

/// An orthonormal basis `(D, r)` of the column space of `a: (D, p)` (the left singular
/// vectors of its nonzero singular values).
fn column_basis(what: &str, a: &Tensor) -> Result<Mat<f64>> {
    if a.rank() != 2 || !a.dtype().is_float() {
        return Err(Error::msg(format!(
            "principal_angles: {what} must be a float matrix (D, p), got {} {:?}",
            a.dtype(),
            a.dims()
        )));
    }
    let m = to_mat(a)?;
    let svd = m
        .thin_svd()
        .map_err(|e| Error::msg(format!("principal_angles: SVD of {what} failed: {e:?}")))?;
    let s = svd.S().column_vector();
    let tol = s[0].max(0.0) * 1e-10 * (a.dims()[0].max(a.dims()[1]) as f64);
    let r = (0..s.nrows()).filter(|&i| s[i] > tol).count();
    Ok(svd.U().subcols(0, r).to_owned())
}

/// The principal angles (radians, increasing) between the column spaces of `a: (D, p)` and
/// `b: (D, q)`: the arccosines of the singular values of `Qa^T Qb`, with `Qa`, `Qb` orthonormal
/// bases of the two spaces (from faer's SVD). Two spaces are the same when every angle is 0.
/// Returns `min(rank a, rank b)` angles.
pub fn principal_angles(a: &Tensor, b: &Tensor) -> Result<Vec<f64>> {
    if a.rank() != 2 || b.rank() != 2 || a.dims()[0] != b.dims()[0] {
        return Err(Error::msg(format!(
            "principal_angles: expected two matrices with the same number of rows (D, p) and (D, q), got {:?} and {:?}",
            a.dims(),
            b.dims()
        )));
    }
    let (qa, qb) = (column_basis("a", a)?, column_basis("b", b)?);
    if qa.ncols() == 0 || qb.ncols() == 0 {
        return Ok(Vec::new());
    }
    let m = qa.transpose() * &qb;
    let cos = m
        .singular_values()
        .map_err(|e| Error::msg(format!("principal_angles: SVD failed: {e:?}")))?;
    let mut angles: Vec<f64> = cos.iter().map(|c| c.clamp(0.0, 1.0).acos()).collect();
    angles.sort_by(f64::total_cmp);
    Ok(angles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(data: Vec<f64>, shape: &[usize]) -> Tensor {
        Tensor::from_vec(data, shape.to_vec()).unwrap()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn a_hand_checkable_cross() {
        // four points around (1, 2): S = diag(18, 2) / 4 = diag(4.5, 0.5)
        let x = t(vec![4.0, 2.0, -2.0, 2.0, 1.0, 3.0, 1.0, 1.0], &[4, 2]);
        let p = Pca::fit(&x, 1).unwrap();
        close(&p.mean().to_vec_f64(), &[1.0, 2.0], 1e-12);
        close(p.eigenvalues(), &[4.5], 1e-12);
        close(&p.components().to_vec_f64(), &[1.0, 0.0], 1e-12);
        close(&p.explained_variance_ratio(), &[0.9], 1e-12);
        // codes are the offsets along x; the y offsets are lost
        close(
            &p.transform(&x).unwrap().to_vec_f64(),
            &[3.0, -3.0, 0.0, 0.0],
            1e-12,
        );
        let r = p.reconstruct(&x).unwrap();
        assert_eq!(r.dims(), &[4, 2]);
        close(
            &r.to_vec_f64(),
            &[4.0, 2.0, -2.0, 2.0, 1.0, 2.0, 1.0, 2.0],
            1e-12,
        );
        // mean error per sample: (0 + 0 + 1 + 1) / 4 = the discarded eigenvalue
        close(&[p.fit_error_per_sample()], &[0.5], 1e-12);
        // both components: exact reconstruction, ratios sum to 1
        let p2 = Pca::fit(&x, 2).unwrap();
        close(&p2.components().to_vec_f64(), &[1.0, 0.0, 0.0, 1.0], 1e-12);
        close(
            &p2.reconstruct(&x).unwrap().to_vec_f64(),
            &x.to_vec_f64(),
            1e-12,
        );
        close(&[p2.explained_variance_ratio().iter().sum()], &[1.0], 1e-12);
    }

    #[test]
    fn f32_images_round_trip_through_the_state_dict() {
        let mut g = deepnet_tensor::Generator::new(3);
        let x = Tensor::randn([50, 1, 3, 4], DType::F32, &mut g).unwrap();
        let p = Pca::fit(&x, 5).unwrap();
        assert_eq!((p.dim(), p.k()), (12, 5));
        let z = p.transform(&x).unwrap();
        assert_eq!((z.dims(), z.dtype()), (&[50usize, 5][..], DType::F32));
        assert_eq!(p.reconstruct(&x).unwrap().dims(), &[50, 1, 3, 4]);
        // components are orthonormal
        let c = p.components();
        let gram = c.matmul(&c.t().unwrap()).unwrap().to_vec_f64();
        let eye = Tensor::eye(5, DType::F64).unwrap().to_vec_f64();
        close(&gram, &eye, 1e-12);
        let back = Pca::from_state_dict(&p.state_dict().unwrap()).unwrap();
        close(
            &back.transform(&x).unwrap().to_vec_f64(),
            &z.to_vec_f64(),
            0.0,
        );
        close(
            &back.explained_variance_ratio(),
            &p.explained_variance_ratio(),
            0.0,
        );
    }

    #[test]
    fn bad_input_is_named() {
        let x = t(vec![0.0; 12], &[4, 3]);
        for k in [0, 4] {
            let e = Pca::fit(&x, k).unwrap_err().to_string();
            assert!(
                e.contains("1..=3") && e.contains(&format!("got {k}")),
                "{e}"
            );
        }
        let p = Pca::fit(&x, 2).unwrap();
        let e = p.transform(&t(vec![0.0; 8], &[2, 4])).unwrap_err();
        assert!(e.to_string().contains("4 features"), "{e}");
        let e = p.inverse_transform(&t(vec![0.0; 3], &[1, 3])).unwrap_err();
        assert!(e.to_string().contains("(N, 2)"), "{e}");
        let nan = t(vec![f64::NAN, 0.0, 1.0, 2.0], &[2, 2]);
        assert!(Pca::fit(&nan, 1)
            .unwrap_err()
            .to_string()
            .contains("non-finite"));
        let labels = Tensor::from_vec(vec![1i64, 2], [2, 1]).unwrap();
        assert!(Pca::fit(&labels, 1)
            .unwrap_err()
            .to_string()
            .contains("float"));
        let mut sd = p.state_dict().unwrap();
        sd.retain(|(n, _)| n != "eigenvalues");
        let e = Pca::from_state_dict(&sd).unwrap_err().to_string();
        assert!(e.contains("\"eigenvalues\""), "{e}");
        let mut sd = p.state_dict().unwrap();
        sd[1].1 = t(vec![0.0; 4], &[2, 2]);
        let e = Pca::from_state_dict(&sd).unwrap_err().to_string();
        assert!(e.contains("inconsistent"), "{e}");
    }

    #[test]
    fn principal_angles_of_known_planes() {
        // span(e1, e2) vs span(e1, cos t e2 + sin t e3): angles 0 and t
        let th: f64 = 0.3;
        let a = t(vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0], &[3, 2]);
        let b = t(vec![2.0, 0.0, 0.0, th.cos(), 0.0, th.sin()], &[3, 2]);
        close(&principal_angles(&a, &b).unwrap(), &[0.0, th], 1e-12);
        // the same plane from another basis
        let c = t(vec![1.0, 1.0, 1.0, -1.0, 0.0, 0.0], &[3, 2]);
        close(&principal_angles(&a, &c).unwrap(), &[0.0, 0.0], 1e-7);
        // orthogonal lines
        let e3 = t(vec![0.0, 0.0, 1.0], &[3, 1]);
        let e1 = t(vec![1.0, 0.0, 0.0], &[3, 1]);
        close(
            &principal_angles(&e1, &e3).unwrap(),
            &[std::f64::consts::FRAC_PI_2],
            1e-12,
        );
        let e = principal_angles(&e1, &t(vec![1.0, 0.0], &[2, 1])).unwrap_err();
        assert!(e.to_string().contains("same number of rows"), "{e}");
    }
}
