//! Batch normalization with batch statistics (training mode), fused: the forward pass reads
//! `x` twice for the statistics and once for the output, the backward pass once for its two
//! per-channel sums and once for the input gradient, where the same computation as generic
//! tensor ops takes about ten passes and as many intermediate tensors each way.
//!
//! Shapes: `x: (N, C, S)` contiguous, `S` the product of the dims after 1 (1 for `(N, C)`);
//! statistics, `weight` and `bias` are `(C,)`. Sums are accumulated in f64 in a fixed order
//! (blocks of images fixed by the shape, added in block order), so results do not depend on
//! the thread count.

use super::{par, Float};

/// The sizes of a batch-norm operand: images, channels, values per channel and image.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bn {
    pub n: usize,
    pub c: usize,
    pub s: usize,
}

impl Bn {
    /// Values per channel: the count the statistics average over.
    fn m(self) -> f64 {
        (self.n * self.s) as f64
    }
}

/// Images per block of the statistics passes: at least 16k values a block, at most 64 blocks.
fn images_per_block(b: Bn) -> usize {
    let per_image = (b.c * b.s).max(1);
    (16384usize.div_ceil(per_image))
        .max(b.n.div_ceil(64))
        .max(1)
}

/// `K` per-channel sums, `f(channel, start)` summing the run of `S` values of one channel of
/// one image that starts at flat index `start`; partial sums per block of images in parallel,
/// added in block order.
fn channel_sums<const K: usize>(
    b: Bn,
    f: impl Fn(usize, usize) -> [f64; K] + Sync,
) -> Vec<[f64; K]> {
    let per = images_per_block(b);
    let blocks = par::map(b.n.div_ceil(per), |k| {
        let mut acc = vec![[0.0; K]; b.c];
        for img in k * per..((k + 1) * per).min(b.n) {
            for (ch, a) in acc.iter_mut().enumerate() {
                for (a, v) in a.iter_mut().zip(f(ch, (img * b.c + ch) * b.s)) {
                    *a += v;
                }
            }
        }
        acc
    });
    let mut total = vec![[0.0; K]; b.c];
    for blk in blocks {
        for (t, p) in total.iter_mut().zip(blk) {
            for (t, p) in t.iter_mut().zip(p) {
                *t += p;
            }
        }
    }
    total
}

/// `sum_i f(u_i, v_i)` in f64 over two runs of equal length, in 8 interleaved partial sums
/// (which vectorize; one running sum would wait on every add).
#[inline(always)]
fn sum2<T: Float>(u: &[T], v: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let (mut cu, mut cv) = (u.chunks_exact(8), v.chunks_exact(8));
    for (a, b) in (&mut cu).zip(&mut cv) {
        for k in 0..8 {
            acc[k] += f(a[k].to_f64(), b[k].to_f64());
        }
    }
    let tail: f64 = cu
        .remainder()
        .iter()
        .zip(cv.remainder())
        .map(|(&a, &b)| f(a.to_f64(), b.to_f64()))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// `out[n, ch, :] = a[ch] * u[n, ch, :] + q[ch] * (x[n, ch, :] - mean[ch]) + r[ch]`, images
/// in parallel; without `u` the first term is left out. Subtracting the mean before scaling
/// keeps the precision of inputs whose mean is large against their spread.
fn per_channel<T: Float>(
    b: Bn,
    u: Option<(&[T], &[f64])>,
    (x, q, mean): (&[T], &[f64], &[f64]),
    r: &[f64],
) -> Vec<T> {
    let cs = b.c * b.s;
    par::filled(b.n * cs, cs, |img, out| {
        for ch in 0..b.c {
            let at = img * cs + ch * b.s;
            let (o, xs) = (&mut out[ch * b.s..(ch + 1) * b.s], &x[at..at + b.s]);
            let (qc, mc, rc) = (
                T::from_f64(q[ch]),
                T::from_f64(mean[ch]),
                T::from_f64(r[ch]),
            );
            match u {
                Some((u, a)) => {
                    let (us, ac) = (&u[at..at + b.s], T::from_f64(a[ch]));
                    for ((o, &xv), &uv) in o.iter_mut().zip(xs).zip(us) {
                        *o = ac * uv + qc * (xv - mc) + rc;
                    }
                }
                None => {
                    for (o, &xv) in o.iter_mut().zip(xs) {
                        *o = qc * (xv - mc) + rc;
                    }
                }
            }
        }
    })
}

/// The forward pass: `y = (x - mean) / sqrt(var + eps) * w + b` with the batch mean and the
/// biased batch variance of each channel (two passes: the mean, then the squared deviations
/// from it). Returns `(y, mean, var)`.
pub(crate) fn forward<T: Float>(
    b: Bn,
    x: &[T],
    w: &[T],
    bias: &[T],
    eps: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let m = b.m();
    let run = |i: usize| &x[i..i + b.s];
    let mean: Vec<f64> = channel_sums(b, |_, i| [sum2(run(i), run(i), |u, _| u)])
        .into_iter()
        .map(|[s]| s / m)
        .collect();
    let var: Vec<f64> = channel_sums(b, |ch, i| {
        let mu = mean[ch];
        [sum2(run(i), run(i), |u, _| (u - mu) * (u - mu))]
    })
    .into_iter()
    .map(|[s]| s / m)
    .collect();
    let scale: Vec<f64> = (0..b.c)
        .map(|ch| w[ch].to_f64() / (var[ch] + eps).sqrt())
        .collect();
    let shift: Vec<f64> = bias.iter().map(|&v| v.to_f64()).collect();
    let y = per_channel(b, None, (x, &scale, &mean), &shift);
    let to_t = |v: &[f64]| v.iter().map(|&v| T::from_f64(v)).collect();
    (y, to_t(&mean), to_t(&var))
}

/// Evaluation mode: `y = (x - mean) / sqrt(var + eps) * w + b` with the given statistics.
pub(crate) fn forward_eval<T: Float>(
    b: Bn,
    x: &[T],
    (mean, var): (&[T], &[T]),
    w: &[T],
    bias: &[T],
    eps: f64,
) -> Vec<T> {
    let mean: Vec<f64> = mean.iter().map(|&v| v.to_f64()).collect();
    let scale: Vec<f64> = (0..b.c)
        .map(|ch| w[ch].to_f64() / (var[ch].to_f64() + eps).sqrt())
        .collect();
    let shift: Vec<f64> = bias.iter().map(|&v| v.to_f64()).collect();
    per_channel(b, None, (x, &scale, &mean), &shift)
}

/// The backward pass from `gy` and the forward's `x`, `mean`, `var` and `w`: with
/// `xhat = (x - mean) / sqrt(var + eps)`, `M = N S`,
/// `db = sum gy`, `dw = sum gy xhat`, and with `batch_stats` (the statistics were the
/// batch's, so they depend on `x`)
/// `dx = w / sqrt(var + eps) * (gy - db / M - xhat * dw / M)` (per channel), without
/// (given statistics) `dx = w / sqrt(var + eps) * gy`.
/// Returns `(dx, dw, db)`; `dx` is empty without `need_dx`.
pub(crate) fn backward<T: Float>(
    b: Bn,
    gy: &[T],
    x: &[T],
    (mean, var): (&[T], &[T]),
    w: &[T],
    eps: f64,
    (batch_stats, need_dx): (bool, bool),
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let m = b.m();
    let mean: Vec<f64> = mean.iter().map(|&v| v.to_f64()).collect();
    let invstd: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (v.to_f64() + eps).sqrt())
        .collect();
    let sums = channel_sums(b, |ch, i| {
        let (g, xs, mu) = (&gy[i..i + b.s], &x[i..i + b.s], mean[ch]);
        [sum2(g, g, |g, _| g), sum2(g, xs, |g, x| g * (x - mu))]
    });
    let db: Vec<T> = sums.iter().map(|s| T::from_f64(s[0])).collect();
    let dw: Vec<T> = (0..b.c)
        .map(|ch| T::from_f64(sums[ch][1] * invstd[ch]))
        .collect();
    if !need_dx {
        return (Vec::new(), dw, db);
    }
    // dx = p gy + q (x - mean) + r: p = w invstd, q = -p invstd^2 sum(gy (x - mean)) / M,
    // r = -p sum(gy) / M
    let p: Vec<f64> = (0..b.c).map(|ch| w[ch].to_f64() * invstd[ch]).collect();
    // (given statistics do not move with x: q = r = 0)
    let k = if batch_stats { 1.0 / m } else { 0.0 };
    let q: Vec<f64> = (0..b.c)
        .map(|ch| -p[ch] * invstd[ch] * invstd[ch] * sums[ch][1] * k)
        .collect();
    let r: Vec<f64> = (0..b.c).map(|ch| -p[ch] * sums[ch][0] * k).collect();
    let dx = per_channel(b, Some((gy, &p)), (x, &q, &mean), &r);
    (dx, dw, db)
}
