//! Data transforms: scaling bytes to `[0, 1]`, normalization by mean and standard deviation
//! (global or per channel), and Gaussian noise with an explicit [`Generator`] (for denoising
//! autoencoders).
//!
//! Each comes in two forms: on flat in-memory buffers (`&mut [f32]` holding `N` samples of
//! `sample_shape`, sample-major, as in [`crate::InMemoryDataset`]), applied once before training;
//! and on tensors (`(N, C, *)` batches), applied per batch. Both forms compute the same f32
//! values. Transforms on tensors record no gradient history worth keeping: call them on data.

use crate::error::{fmt_dims, DataError, Result};
use deepnet_tensor::{DType, Generator, Tensor};

/// Bytes to f32 in `[0, 1]`: `x / 255` (torchvision `ToTensor`).
pub fn scale_u8(data: &[u8]) -> Vec<f32> {
    data.iter().map(|&b| b as f32 / 255.0).collect()
}

/// The mean and population standard deviation (divided by `n`) of all values, accumulated in
/// f64. `(0, 0)` for an empty slice.
pub fn mean_std(data: &[f32]) -> (f32, f32) {
    let (m, s) = moments(data.iter().copied());
    (m as f32, s as f32)
}

fn moments(it: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for x in it.clone() {
        n += 1;
        sum += x as f64;
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    let var = it.map(|x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

/// Checks that `data` holds whole samples of `sample_shape = (C, *)`; returns `C` and the
/// length of one channel block of one sample (`prod(*)`).
fn channel_layout(
    op: &'static str,
    data: &[f32],
    sample_shape: &[usize],
) -> Result<(usize, usize)> {
    let per: usize = sample_shape.iter().product();
    let c = sample_shape.first().copied().unwrap_or(1);
    if per == 0 || !data.chunks_exact(per).remainder().is_empty() {
        return Err(DataError::invalid(
            op,
            format!(
                "{} values are not a whole number of samples of shape ({})",
                data.len(),
                fmt_dims(sample_shape)
            ),
        ));
    }
    Ok((c, per / c))
}

/// Per-channel mean and population standard deviation of `data`, `N` samples of
/// `sample_shape = (C, *)` (channel first, as `(1, 28, 28)` or `(3, 32, 32)`): two vectors of
/// length `C`.
pub fn mean_std_per_channel(data: &[f32], sample_shape: &[usize]) -> Result<(Vec<f32>, Vec<f32>)> {
    let (c, block) = channel_layout("mean_std_per_channel", data, sample_shape)?;
    let mut means = Vec::with_capacity(c);
    let mut stds = Vec::with_capacity(c);
    for ch in 0..c {
        let it = data.chunks(block).skip(ch).step_by(c).flatten().copied();
        let (m, s) = moments(it);
        means.push(m as f32);
        stds.push(s as f32);
    }
    Ok((means, stds))
}

fn check_std(op: &'static str, std: &[f32]) -> Result<()> {
    match std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
        Some(s) => Err(DataError::invalid(
            op,
            format!("std {s} must be positive and finite"),
        )),
        None => Ok(()),
    }
}

/// In place, `x = (x - mean) / std` with one global mean and std.
pub fn normalize(data: &mut [f32], mean: f32, std: f32) -> Result<()> {
    check_std("normalize", &[std])?;
    data.iter_mut().for_each(|x| *x = (*x - mean) / std);
    Ok(())
}

/// In place, `x = (x - mean[c]) / std[c]` for the values of channel `c`, on `N` samples of
/// `sample_shape = (C, *)`. `mean` and `std` have `C` values, or one value for all channels.
pub fn normalize_per_channel(
    data: &mut [f32],
    sample_shape: &[usize],
    mean: &[f32],
    std: &[f32],
) -> Result<()> {
    let op = "normalize_per_channel";
    check_std(op, std)?;
    let (c, block) = channel_layout(op, data, sample_shape)?;
    if mean.len() != std.len() || (mean.len() != c && mean.len() != 1) {
        return Err(DataError::invalid(
            op,
            format!(
                "{} means and {} stds for {c} channels (sample shape ({})), expected {c} or 1 of each",
                mean.len(),
                std.len(),
                fmt_dims(sample_shape)
            ),
        ));
    }
    for (i, chunk) in data.chunks_mut(block).enumerate() {
        let ch = if mean.len() == 1 { 0 } else { i % c };
        let (m, s) = (mean[ch], std[ch]);
        chunk.iter_mut().for_each(|x| *x = (*x - m) / s);
    }
    Ok(())
}

/// In place, `x += std * n` with `n` standard normal samples drawn from `g` in order (the same
/// generator state gives the same noise).
pub fn add_gaussian_noise(data: &mut [f32], std: f32, g: &mut Generator) -> Result<()> {
    if !(std >= 0.0 && std.is_finite()) {
        return Err(DataError::invalid(
            "add_gaussian_noise",
            format!("std {std} must be non-negative and finite"),
        ));
    }
    data.iter_mut()
        .for_each(|x| *x += std * g.next_normal() as f32);
    Ok(())
}

/// In place, clamps every value to `[lo, hi]` (e.g. noisy pixels back to `[0, 1]`).
pub fn clamp(data: &mut [f32], lo: f32, hi: f32) {
    data.iter_mut().for_each(|x| *x = x.clamp(lo, hi));
}

/// A u8 (or any dtype) tensor scaled to f32 `[0, 1]`: `x / 255` in f32 (bit-identical to
/// [`scale_u8`]), same shape, no gradient history.
pub fn scale_u8_tensor(t: &Tensor) -> Result<Tensor> {
    let v = t.to_dtype(DType::F32)?.to_vec::<f32>()?;
    let v: Vec<f32> = v.into_iter().map(|x| x / 255.0).collect();
    Ok(Tensor::from_vec(v, t.shape().clone())?)
}

/// `(x - mean[c]) / std[c]` on a batch `(N, C, *)` (channel dim 1), or with one mean and std on
/// a tensor of any shape. Keeps the dtype (float tensors only).
pub fn normalize_tensor(t: &Tensor, mean: &[f32], std: &[f32]) -> Result<Tensor> {
    let op = "normalize_tensor";
    check_std(op, std)?;
    if mean.len() != std.len() || mean.is_empty() {
        return Err(DataError::invalid(
            op,
            format!(
                "{} means and {} stds, expected as many of each (at least 1)",
                mean.len(),
                std.len()
            ),
        ));
    }
    if mean.len() == 1 {
        return Ok(t.sub_scalar(mean[0] as f64)?.div_scalar(std[0] as f64)?);
    }
    if t.rank() < 2 || t.dims()[1] != mean.len() {
        return Err(DataError::invalid(
            op,
            format!(
                "{} channel means for a tensor of shape {}, expected a batch (N, {}, *)",
                mean.len(),
                t.shape(),
                mean.len()
            ),
        ));
    }
    let mut shape = vec![1usize; t.rank()];
    shape[1] = mean.len();
    let m = Tensor::from_slice(mean, shape.clone())?.to_dtype(t.dtype())?;
    let s = Tensor::from_slice(std, shape)?.to_dtype(t.dtype())?;
    Ok(t.sub(&m)?.div(&s)?)
}

/// `x + std * n` with a standard normal tensor `n` of `x`'s shape drawn from `g` (the input of a
/// denoising autoencoder). Keeps the dtype (float tensors only).
pub fn gaussian_noise_tensor(t: &Tensor, std: f64, g: &mut Generator) -> Result<Tensor> {
    if !(std >= 0.0 && std.is_finite()) {
        return Err(DataError::invalid(
            "gaussian_noise_tensor",
            format!("std {std} must be non-negative and finite"),
        ));
    }
    let n = Tensor::rand_normal(t.shape().clone(), 0.0, std, t.dtype(), g)?;
    Ok(t.add(&n)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn scale_to_unit_range() {
        let v = scale_u8(&[0, 51, 255]);
        assert_eq!(v, vec![0.0, 0.2, 1.0]);
        let t = Tensor::from_vec(vec![0u8, 51, 255, 128], [2, 2]).unwrap();
        let s = scale_u8_tensor(&t).unwrap();
        assert_eq!((s.dims(), s.dtype()), (&[2usize, 2][..], DType::F32));
        assert_eq!(s.to_vec::<f32>().unwrap(), scale_u8(&[0, 51, 255, 128]));
    }

    #[test]
    fn normalize_global_and_per_channel() {
        let mut v = vec![1.0, 2.0, 3.0, 4.0];
        let (m, s) = mean_std(&v);
        assert_eq!((m, s), (2.5, 1.25f32.sqrt()));
        normalize(&mut v, m, s).unwrap();
        let (m2, s2) = mean_std(&v);
        assert!(m2.abs() < 1e-6 && (s2 - 1.0).abs() < 1e-6);
        assert!(normalize(&mut v, 0.0, 0.0).is_err());

        // 2 samples of shape (2, 2): channel 0 = [0, 1 | 4, 5], channel 1 = [2, 3 | 6, 7]
        let data: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let (means, stds) = mean_std_per_channel(&data, &[2, 2]).unwrap();
        assert_eq!(means, vec![2.5, 4.5]);
        assert!(close(&stds, &[(17.0f32 / 4.0).sqrt(); 2]));
        let mut d = data.clone();
        normalize_per_channel(&mut d, &[2, 2], &means, &stds).unwrap();
        let (m3, _) = mean_std_per_channel(&d, &[2, 2]).unwrap();
        assert!(close(&m3, &[0.0, 0.0]), "{m3:?}");
        // the tensor form agrees on an (N, C, L) batch
        let t = Tensor::from_vec(data.clone(), [2, 2, 2]).unwrap();
        let tn = normalize_tensor(&t, &means, &stds).unwrap();
        assert!(close(&tn.to_vec::<f32>().unwrap(), &d));
        let tg = normalize_tensor(&t, &[1.0], &[2.0]).unwrap();
        let mut g = data.clone();
        normalize(&mut g, 1.0, 2.0).unwrap();
        assert!(close(&tg.to_vec::<f32>().unwrap(), &g));
        let mut g2 = data.clone();
        normalize_per_channel(&mut g2, &[2, 2], &[1.0], &[2.0]).unwrap();
        assert_eq!(g2, g);

        let e = normalize_per_channel(&mut d, &[2, 2], &[0.0; 3], &[1.0; 3]).unwrap_err();
        assert!(
            e.to_string().contains("3 means and 3 stds for 2 channels"),
            "{e}"
        );
        assert!(normalize_per_channel(&mut d, &[3], &[0.0], &[1.0]).is_err());
        assert!(normalize_tensor(&t, &[0.0; 3], &[1.0; 3]).is_err());
        assert!(normalize_tensor(&t, &[0.0; 2], &[1.0, -1.0]).is_err());
    }

    #[test]
    fn noise_is_seeded() {
        let base = vec![0.5f32; 10_000];
        let mut a = base.clone();
        let mut b = base.clone();
        add_gaussian_noise(&mut a, 0.1, &mut Generator::new(3)).unwrap();
        add_gaussian_noise(&mut b, 0.1, &mut Generator::new(3)).unwrap();
        assert_eq!(a, b);
        let (m, s) = mean_std(&a);
        assert!((m - 0.5).abs() < 0.01 && (s - 0.1).abs() < 0.01, "{m} {s}");
        add_gaussian_noise(&mut b, 0.1, &mut Generator::new(4)).unwrap();
        assert_ne!(a, b);
        clamp(&mut a, 0.45, 0.55);
        assert!(a.iter().all(|x| (0.45..=0.55).contains(x)));
        assert!(add_gaussian_noise(&mut a, -1.0, &mut Generator::new(0)).is_err());

        let t = Tensor::from_vec(base.clone(), [100, 100]).unwrap();
        let n1 = gaussian_noise_tensor(&t, 0.1, &mut Generator::new(5)).unwrap();
        let n2 = gaussian_noise_tensor(&t, 0.1, &mut Generator::new(5)).unwrap();
        let (v1, v2) = (n1.to_vec::<f32>().unwrap(), n2.to_vec::<f32>().unwrap());
        assert_eq!(v1, v2);
        assert_eq!(n1.dims(), &[100, 100]);
        let (m, s) = mean_std(&v1);
        assert!((m - 0.5).abs() < 0.01 && (s - 0.1).abs() < 0.01, "{m} {s}");
    }
}
