//! The column matrix of a 2-d convolution and its adjoint: [`im2col`] gathers one image's
//! windows into `(C * kH * kW, H_out * W_out)` (rows ordered (channel, ki, kj), as
//! `torch.nn.functional.unfold`), [`col2im`] adds such a matrix back into the image. Stride-2
//! layers on small planes gather through an offset table ([`ColMap`]) built once per
//! convolution call.

use super::Float;
use crate::primitive::Geom;

/// The output indices `o` in `0..out` with `0 <= o * s + off < size`, as a range.
fn valid(off: isize, s: usize, size: usize, out: usize) -> (usize, usize) {
    let s = s as isize;
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let hi = if size as isize - off <= 0 {
        0
    } else {
        (size as isize - off + s - 1) / s
    };
    let hi = (hi as usize).min(out);
    ((lo as usize).min(hi), hi)
}

/// Writes the column matrix of `cn` channels of one image (`x`: `(cn, H, W)`) into
/// `cols`: `(cn * kH * kW, H_out * W_out)` with rows `ld >= H_out * W_out` apart (several
/// images' matrices side by side), zeros where the window covers padding.
///
/// `map` is [`ColMap::new`]`(g)`, built once per convolution call.
pub(crate) fn im2col<T: Float>(
    g: &Geom,
    map: &ColMap,
    cn: usize,
    x: &[T],
    cols: &mut [T],
    ld: usize,
) {
    if let Some(tab) = &map.tab {
        return im2col_strided(g, tab, cn, x, cols, ld);
    }
    let (l, hw) = (g.l(), g.h * g.w);
    let zero = T::zero();
    for c in 0..cn {
        let xc = &x[c * hw..(c + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &mut cols[((c * g.kh + ki) * g.kw + kj) * ld..][..l];
                let off_w = (kj * g.dw) as isize - g.pw as isize;
                let (lo, hi) = valid(off_w, g.sw, g.w, g.wo);
                for oh in 0..g.ho {
                    let r = &mut row[oh * g.wo..(oh + 1) * g.wo];
                    let ih = (oh * g.sh + ki * g.dh) as isize - g.ph as isize;
                    if ih < 0 || ih >= g.h as isize {
                        r.fill(zero);
                        continue;
                    }
                    let xr = &xc[ih as usize * g.w..(ih as usize + 1) * g.w];
                    r[..lo].fill(zero);
                    r[hi..].fill(zero);
                    if g.sw == 1 {
                        let start = (lo as isize + off_w) as usize;
                        copy_short(&mut r[lo..hi], &xr[start..start + hi - lo]);
                    } else {
                        for (ow, v) in r.iter_mut().enumerate().take(hi).skip(lo) {
                            *v = xr[((ow * g.sw) as isize + off_w) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// Largest offset table [`im2col_strided`] builds (entries, 128 kB): beyond it (an ImageNet
/// stem's 7x7 windows over 112 x 112 outputs) the rows are long enough for the row-by-row
/// copy, and the table would cost more memory traffic than it saves.
const MAX_TABLE: usize = 32768;

/// Whether [`im2col`] and [`col2im`] go through [`window_offsets`]: horizontal strides above
/// 1 with a table of at most [`MAX_TABLE`] entries.
pub(crate) fn strided_table(g: &Geom) -> bool {
    g.sw != 1
        && g.kh * g.kw * g.l() <= MAX_TABLE
        && (g.h + 2 * g.ph) * (g.w + 2 * g.pw) <= u32::MAX as usize
}

/// What [`im2col`] and [`col2im`] need beyond the geometry, built once per convolution call
/// (not per image and group): the offset table of [`window_offsets`] where [`strided_table`]
/// holds.
pub(crate) struct ColMap {
    tab: Option<Vec<u32>>,
}

impl ColMap {
    pub(crate) fn new(g: &Geom) -> ColMap {
        let tab = strided_table(g).then(|| window_offsets(g));
        if let Some(tab) = &tab {
            let plane = (g.h + 2 * g.ph) * (g.w + 2 * g.pw);
            assert!(
                tab.iter().all(|&o| (o as usize) < plane),
                "im2col: window outside the padded plane"
            );
        }
        ColMap { tab }
    }
}

/// Where each entry of one channel's column rows reads in the channel's padded plane
/// `(H + 2 pH, W + 2 pW)`: `tab[(ki * kW + kj) * L + oh * W_out + ow]`. Every window of the
/// geometry lies inside the padded plane, so every offset is below its size.
fn window_offsets(g: &Geom) -> Vec<u32> {
    let wp = g.w + 2 * g.pw;
    let mut tab = Vec::with_capacity(g.kh * g.kw * g.l());
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            for oh in 0..g.ho {
                let row = (oh * g.sh + ki * g.dh) * wp + kj * g.dw;
                // below the padded plane's size, which `strided_table` keeps within u32
                tab.extend((0..g.wo).map(|ow| (row + ow * g.sw) as u32));
            }
        }
    }
    tab
}

/// Copies channel `xc: (H, W)` into the interior of `xp: (H + 2 pH, W + 2 pW)`, whose border
/// the caller keeps at zero.
fn pad_plane<T: Copy>(g: &Geom, xc: &[T], xp: &mut [T]) {
    let wp = g.w + 2 * g.pw;
    if g.w == 0 {
        return;
    }
    for (ih, xr) in xc.chunks_exact(g.w).enumerate() {
        copy_short(&mut xp[(ih + g.ph) * wp + g.pw..][..g.w], xr);
    }
}

/// [`im2col`] for a horizontal stride above 1 on small planes (DCGAN's stride-2 layers, a
/// CIFAR ResNet's downsampling; see [`strided_table`]): output rows are short (7 or 14
/// values) and every value comes from a different input pair, so the row-by-row copy spends
/// its time on per-row bounds and setup. Here each channel is copied once into a
/// zero-bordered plane, and every column row is one gather through a table of offsets shared
/// by all channels.
/// `tab` is [`window_offsets`]`(g)`, checked by [`ColMap::new`] to stay inside the plane.
fn im2col_strided<T: Float>(g: &Geom, tab: &[u32], cn: usize, x: &[T], cols: &mut [T], ld: usize) {
    let (l, hw, taps) = (g.l(), g.h * g.w, g.kh * g.kw);
    let mut xp = vec![T::zero(); (g.h + 2 * g.ph) * (g.w + 2 * g.pw)];
    for c in 0..cn {
        pad_plane(g, &x[c * hw..(c + 1) * hw], &mut xp);
        for (t, offs) in tab.chunks_exact(l.max(1)).enumerate().take(taps) {
            let row = &mut cols[(c * taps + t) * ld..][..l];
            for (v, &o) in row.iter_mut().zip(offs) {
                // SAFETY: every offset is below xp.len() (asserted by ColMap::new)
                *v = unsafe { *xp.get_unchecked(o as usize) };
            }
        }
    }
}

/// [`col2im`] where [`strided_table`] holds, the adjoint of [`im2col_strided`]: each
/// channel's column rows are added into a zeroed padded plane through the same offset table
/// (in the order of the rows, then of the positions), whose interior is then added to `x`.
fn col2im_strided<T: Float>(g: &Geom, tab: &[u32], cn: usize, cols: &[T], ld: usize, x: &mut [T]) {
    let (l, hw, taps) = (g.l(), g.h * g.w, g.kh * g.kw);
    let wp = g.w + 2 * g.pw;
    let mut xp = vec![T::zero(); (g.h + 2 * g.ph) * wp];
    for c in 0..cn {
        xp.fill(T::zero());
        for (t, offs) in tab.chunks_exact(l.max(1)).enumerate().take(taps) {
            let row = &cols[(c * taps + t) * ld..][..l];
            for (&v, &o) in row.iter().zip(offs) {
                // SAFETY: every offset is below xp.len() (asserted by ColMap::new)
                unsafe { *xp.get_unchecked_mut(o as usize) += v };
            }
        }
        for (ih, xr) in x[c * hw..(c + 1) * hw]
            .chunks_exact_mut(g.w.max(1))
            .enumerate()
        {
            let pr = &xp[(ih + g.ph) * wp + g.pw..][..g.w];
            for (d, &v) in xr.iter_mut().zip(pr) {
                *d += v;
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short rows of a column matrix, in blocks of 8 that
/// compile to inline vector moves rather than a call to `memcpy`.
#[inline]
fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let s: &[T; 8] = s.try_into().expect("a block of 8");
        d.copy_from_slice(s);
    }
    for (d, &s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = s;
    }
}

/// The adjoint of [`im2col`]: adds every entry of `cols` (rows `ld` apart) into the input
/// element it was read from (`x += col2im(cols)`), in a fixed order.
/// `map` is [`ColMap::new`]`(g)`.
pub(crate) fn col2im<T: Float>(
    g: &Geom,
    map: &ColMap,
    cn: usize,
    cols: &[T],
    ld: usize,
    x: &mut [T],
) {
    if let Some(tab) = &map.tab {
        return col2im_strided(g, tab, cn, cols, ld, x);
    }
    let (l, hw) = (g.l(), g.h * g.w);
    for c in 0..cn {
        let xc = &mut x[c * hw..(c + 1) * hw];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &cols[((c * g.kh + ki) * g.kw + kj) * ld..][..l];
                let off_w = (kj * g.dw) as isize - g.pw as isize;
                let (lo, hi) = valid(off_w, g.sw, g.w, g.wo);
                for oh in 0..g.ho {
                    let ih = (oh * g.sh + ki * g.dh) as isize - g.ph as isize;
                    if ih < 0 || ih >= g.h as isize {
                        continue;
                    }
                    let xr = &mut xc[ih as usize * g.w..(ih as usize + 1) * g.w];
                    let r = &row[oh * g.wo..(oh + 1) * g.wo];
                    if g.sw == 1 {
                        let start = (lo as isize + off_w) as usize;
                        for (d, &v) in xr[start..start + hi - lo].iter_mut().zip(&r[lo..hi]) {
                            *d += v;
                        }
                    } else {
                        for (ow, &v) in r.iter().enumerate().take(hi).skip(lo) {
                            xr[((ow * g.sw) as isize + off_w) as usize] += v;
                        }
                    }
                }
            }
        }
    }
}
