//! The reference backend: every primitive of the device contract in the plainest scalar code.
//! Values are held and computed in f64 and rounded to the tensor's dtype when stored, so an f32
//! result is the correctly rounded f64 result. No threads, no SIMD, no blocking: each primitive
//! is a few lines that can be read against its definition. It is the oracle the fast CPU
//! backend is tested against (`tests/differential.rs`).
//!
//! Conventions shared by the submodules:
//! - operands are read through their layouts with [`RefStorage::values`] (row-major order, any
//!   view), so a kernel then indexes a plain row-major `Vec<f64>`;
//! - results are built contiguous with [`RefStorage::rounded`], which rounds every value to the
//!   dtype once;
//! - errors name the op and use the same variants and wording as the CPU backend.
//!
//! Integer scope: i64 values are exact up to 2^53 (beyond that the f64 holding them rounds);
//! arithmetic whose CPU definition wraps (`wrapping_add` and friends) is computed in i64 here
//! and so wraps too, but results beyond 2^53 are out of scope for the comparison.

mod conv;
mod elementwise;
mod index;
mod norm;
mod pool;
mod reduce;
mod rnn;
mod rnn_seq;
mod upsample;

use crate::backend::{BackendStorage, SeqGrads, SeqOperands};
use crate::primitive::{BinaryOp, CmpOp, ConvSpec, Geom, ReduceOp, Resize, UnaryOp};
use crate::{DType, Device, Error, HostData, Layout, Result};

/// The data of a tensor on the reference device: every element as f64, already rounded to
/// `dtype` (f32 values are exactly representable; i64 is exact up to 2^53).
#[derive(Clone, Debug)]
pub struct RefStorage {
    dtype: DType,
    data: Vec<f64>,
}

/// `v` converted to `dtype` as Rust's `as` converts (and so as the CPU stores it): f32 rounds to
/// nearest, integers truncate toward zero and saturate, NaN becomes 0.
pub(crate) fn round(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::F32 => v as f32 as f64,
        DType::F64 => v,
        DType::I64 => v as i64 as f64,
        DType::U8 => v as u8 as f64,
    }
}

impl RefStorage {
    /// New storage of `dtype` holding `values`, each rounded to the dtype.
    pub(crate) fn rounded(dtype: DType, values: Vec<f64>) -> Self {
        let data = values.into_iter().map(|v| round(dtype, v)).collect();
        RefStorage { dtype, data }
    }

    /// The elements of `l` in row-major order.
    pub(crate) fn values(&self, l: &Layout) -> Vec<f64> {
        l.offsets().into_iter().map(|o| self.data[o]).collect()
    }

    /// An error unless this storage is `f32` or `f64` (what the CPU's float-only kernels say).
    fn expect_float(&self, op: &'static str) -> Result<()> {
        if self.dtype.is_float() {
            Ok(())
        } else {
            Err(Error::DType {
                op,
                expected: "float32 or float64",
                got: self.dtype,
            })
        }
    }

    /// An error unless this storage has `dtype` (a second operand of a float-only kernel, or an
    /// index operand that must be i64).
    fn expect_dtype(&self, op: &'static str, dtype: DType) -> Result<()> {
        if self.dtype == dtype {
            Ok(())
        } else {
            Err(Error::DType {
                op,
                expected: dtype.as_str(),
                got: self.dtype,
            })
        }
    }
}

impl BackendStorage for RefStorage {
    fn device(&self) -> Device {
        Device::Reference
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn len(&self) -> usize {
        self.data.len()
    }

    fn full(dtype: DType, n: usize, v: f64) -> Self {
        RefStorage::rounded(dtype, vec![v; n])
    }
    fn from_host(data: HostData) -> Self {
        // every host value is exactly a value of its dtype already (i64 up to 2^53)
        RefStorage {
            dtype: data.dtype(),
            data: data.to_f64_vec(),
        }
    }
    fn to_host(&self, l: &Layout) -> HostData {
        // the stored values are already of the dtype, so `as` is exact here
        let v = self.values(l);
        match self.dtype {
            DType::F32 => HostData::F32(v.into_iter().map(|x| x as f32).collect()),
            DType::F64 => HostData::F64(v),
            DType::I64 => HostData::I64(v.into_iter().map(|x| x as i64).collect()),
            DType::U8 => HostData::U8(v.into_iter().map(|x| x as u8).collect()),
        }
    }

    fn unary(&self, l: &Layout, op: UnaryOp) -> Result<Self> {
        elementwise::unary(self, l, op)
    }
    fn binary(&self, l: &Layout, rhs: &Self, rl: &Layout, op: BinaryOp) -> Result<Self> {
        elementwise::binary((self, l), (rhs, rl), op)
    }
    fn cmp(&self, l: &Layout, rhs: &Self, rl: &Layout, op: CmpOp) -> Result<Self> {
        elementwise::cmp((self, l), (rhs, rl), op)
    }
    fn where_cond(&self, l: &Layout, t: (&Self, &Layout), f: (&Self, &Layout)) -> Result<Self> {
        elementwise::where_cond((self, l), t, f)
    }
    fn reduce(&self, l: &Layout, op: ReduceOp, dims: &[usize]) -> Result<Self> {
        reduce::reduce(self, l, op, dims)
    }
    fn matmul(&self, l: &Layout, rhs: &Self, rl: &Layout) -> Result<Self> {
        reduce::matmul((self, l), (rhs, rl))
    }

    fn contiguous(&self, l: &Layout) -> Self {
        RefStorage {
            dtype: self.dtype,
            data: self.values(l),
        }
    }
    fn cast(&self, l: &Layout, to: DType) -> Self {
        RefStorage::rounded(to, self.values(l))
    }
    fn copy_from(&mut self, dl: &Layout, src: &Self, sl: &Layout) -> Result<()> {
        if self.dtype != src.dtype {
            return Err(Error::msg(format!(
                "copy: destination is {} but source is {}",
                self.dtype, src.dtype
            )));
        }
        for (o, v) in dl.offsets().into_iter().zip(src.values(sl)) {
            self.data[o] = v;
        }
        Ok(())
    }
    fn axpby_(&mut self, dl: &Layout, src: &Self, sl: &Layout, a: f64, b: f64) -> Result<()> {
        if !self.dtype.is_float() || self.dtype != src.dtype {
            return Err(Error::msg(format!(
                "axpby_: destination is {} and source is {}; both must be the same float dtype",
                self.dtype, src.dtype
            )));
        }
        // the scalars take the tensor's dtype first, as on the CPU (an f32 step uses `a as f32`)
        let (dt, a, b) = (self.dtype, round(self.dtype, a), round(self.dtype, b));
        for (o, y) in dl.offsets().into_iter().zip(src.values(sl)) {
            self.data[o] = round(dt, a * self.data[o] + b * y);
        }
        Ok(())
    }
    fn scale_(&mut self, dl: &Layout, c: f64) -> Result<()> {
        if !self.dtype.is_float() {
            // the CPU names the tensor method this primitive serves
            return Err(Error::DType {
                op: "mul_scalar_",
                expected: "a float tensor",
                got: self.dtype,
            });
        }
        let (dt, c) = (self.dtype, round(self.dtype, c));
        for o in dl.offsets() {
            self.data[o] = round(dt, self.data[o] * c);
        }
        Ok(())
    }

    fn index_select(&self, l: &Layout, dim: usize, index: (&Self, &Layout)) -> Result<Self> {
        index::index_select((self, l), dim, index)
    }
    fn gather(&self, l: &Layout, dim: usize, index: (&Self, &Layout)) -> Result<Self> {
        index::gather((self, l), dim, index)
    }
    fn scatter_add(
        &self,
        l: &Layout,
        dim: usize,
        index: (&Self, &Layout),
        src: (&Self, &Layout),
    ) -> Result<Self> {
        index::scatter_add((self, l), dim, index, src)
    }

    fn conv2d(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Self> {
        conv::conv2d((self, l), w, b, spec)
    }
    fn conv2d_backward(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        gy: (&Self, &Layout),
        spec: &ConvSpec,
        need: (bool, bool),
    ) -> Result<(Option<Self>, Option<Self>)> {
        conv::conv2d_backward((self, l), w, gy, spec, need)
    }
    fn conv_transpose2d(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Self> {
        conv::conv_transpose2d((self, l), w, b, spec)
    }
    fn unfold2d(&self, l: &Layout, g: &Geom) -> Result<Self> {
        conv::unfold2d((self, l), g)
    }
    fn fold2d(&self, l: &Layout, g: &Geom) -> Result<Self> {
        conv::fold2d((self, l), g)
    }

    fn max_pool2d(&self, l: &Layout, g: &Geom) -> Result<(Self, Self)> {
        pool::max_pool2d((self, l), g)
    }
    fn max_pool2d_backward(&self, l: &Layout, idx: (&Self, &Layout), g: &Geom) -> Result<Self> {
        pool::max_pool2d_backward((self, l), idx, g)
    }
    fn avg_pool2d(&self, l: &Layout, g: &Geom, include_pad: bool) -> Result<Self> {
        pool::avg_pool2d((self, l), g, include_pad)
    }
    fn avg_pool2d_backward(&self, l: &Layout, g: &Geom, include_pad: bool) -> Result<Self> {
        pool::avg_pool2d_backward((self, l), g, include_pad)
    }
    fn adaptive_avg_pool2d(&self, l: &Layout, g: &Geom) -> Result<Self> {
        pool::adaptive_avg_pool2d((self, l), g)
    }
    fn adaptive_avg_pool2d_backward(&self, l: &Layout, g: &Geom) -> Result<Self> {
        pool::adaptive_avg_pool2d_backward((self, l), g)
    }

    fn upsample_nearest2d(&self, l: &Layout, r: &Resize) -> Result<Self> {
        upsample::nearest((self, l), r)
    }
    fn upsample_nearest2d_backward(&self, l: &Layout, r: &Resize) -> Result<Self> {
        upsample::nearest_backward((self, l), r)
    }
    fn upsample_bilinear2d(&self, l: &Layout, r: &Resize) -> Result<Self> {
        upsample::bilinear((self, l), r)
    }
    fn upsample_bilinear2d_backward(&self, l: &Layout, r: &Resize) -> Result<Self> {
        upsample::bilinear_backward((self, l), r)
    }

    fn batch_norm(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        norm::forward((self, l), w, b, eps)
    }
    fn batch_norm_eval(
        &self,
        l: &Layout,
        stats: (&Self, &Self),
        w: (&Self, &Layout),
        b: (&Self, &Layout),
        eps: f64,
    ) -> Result<Self> {
        norm::forward_eval((self, l), stats, w, b, eps)
    }
    fn batch_norm_backward(
        &self,
        l: &Layout,
        x: (&Self, &Layout),
        stats: (&Self, &Self),
        w: (&Self, &Layout),
        eps: f64,
        flags: (bool, bool),
    ) -> Result<(Self, Self, Self)> {
        norm::backward((self, l), x, stats, w, eps, flags)
    }

    fn lstm_cell(&self, l: &Layout, c_prev: (&Self, &Layout)) -> Result<Self> {
        rnn::lstm_cell((self, l), c_prev)
    }
    fn lstm_cell_backward(
        &self,
        l: &Layout,
        c_prev: (&Self, &Layout),
        gy: (&Self, &Layout),
    ) -> Result<(Self, Self)> {
        rnn::lstm_cell_backward((self, l), c_prev, gy)
    }
    fn gru_cell(&self, l: &Layout, gh: (&Self, &Layout), h_prev: (&Self, &Layout)) -> Result<Self> {
        rnn::gru_cell((self, l), gh, h_prev)
    }
    fn gru_cell_backward(
        &self,
        l: &Layout,
        gh: (&Self, &Layout),
        h_prev: (&Self, &Layout),
        gy: (&Self, &Layout),
    ) -> Result<(Self, Self)> {
        rnn::gru_cell_backward((self, l), gh, h_prev, gy)
    }
    /// The reference keeps no reserve: its backward recomputes the forward in f64.
    fn lstm_seq(x: &SeqOperands<'_, Self>, _save: bool) -> Result<(Self, Self)> {
        rnn_seq::lstm_seq(x)
    }
    fn lstm_seq_backward(
        x: &SeqOperands<'_, Self>,
        _out: (&Self, &Layout),
        _reserve: &Self,
        gy: (&Self, &Layout),
    ) -> Result<SeqGrads<Self>> {
        rnn_seq::lstm_seq_backward(x, gy)
    }
    fn gru_seq(x: &SeqOperands<'_, Self>, _save: bool) -> Result<(Self, Self)> {
        rnn_seq::gru_seq(x)
    }
    fn gru_seq_backward(
        x: &SeqOperands<'_, Self>,
        _out: (&Self, &Layout),
        _reserve: &Self,
        gy: (&Self, &Layout),
    ) -> Result<SeqGrads<Self>> {
        rnn_seq::gru_seq_backward(x, gy)
    }
}

/// Helpers shared by the unit tests of the submodules.
#[cfg(test)]
pub(crate) mod test_util {
    use super::RefStorage;
    use crate::backend::BackendStorage;
    use crate::primitive::Geom;
    use crate::{DType, HostData, Layout};

    /// Contiguous storage of `dtype` holding `v` (rounded), and its layout of shape `dims`.
    pub(crate) fn t(dtype: DType, v: &[f64], dims: &[usize]) -> (RefStorage, Layout) {
        assert_eq!(
            v.len(),
            dims.iter().product::<usize>(),
            "test data vs shape"
        );
        (
            RefStorage::rounded(dtype, v.to_vec()),
            Layout::contiguous(dims.to_vec()),
        )
    }

    /// The values of a whole contiguous storage.
    pub(crate) fn vals(s: &RefStorage) -> Vec<f64> {
        s.values(&Layout::contiguous([s.len()]))
    }

    /// The i64 values of a whole contiguous storage.
    pub(crate) fn ints(s: &RefStorage) -> Vec<i64> {
        assert_eq!(s.dtype(), DType::I64);
        match s.to_host(&Layout::contiguous([s.len()])) {
            HostData::I64(v) => v,
            other => panic!("expected i64 host data, got {other:?}"),
        }
    }

    /// A square window geometry: `n` images of `c` channels, `h x w` input, `k x k` kernel,
    /// stride `s`, padding `p`, dilation `d`, the output size by the floor rule.
    pub(crate) fn geom(
        n: usize,
        c: usize,
        (h, w): (usize, usize),
        k: usize,
        s: usize,
        p: usize,
        d: usize,
    ) -> Geom {
        let out = |size: usize| (size + 2 * p - d * (k - 1) - 1) / s + 1;
        Geom {
            n,
            c,
            h,
            w,
            kh: k,
            kw: k,
            sh: s,
            sw: s,
            ph: p,
            pw: p,
            dh: d,
            dw: d,
            ho: out(h),
            wo: out(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{t, vals};
    use super::*;
    use crate::Shape;

    #[test]
    fn round_follows_as_conversions() {
        assert_eq!(round(DType::F32, 0.1), 0.1f32 as f64);
        assert_ne!(round(DType::F32, 0.1), 0.1);
        assert_eq!(round(DType::F32, 1e300), f64::INFINITY);
        assert_eq!(round(DType::F64, 0.1), 0.1);
        assert_eq!(round(DType::I64, -2.7), -2.0);
        assert_eq!(round(DType::I64, f64::NAN), 0.0);
        assert_eq!(round(DType::U8, 300.0), 255.0);
        assert_eq!(round(DType::U8, -1.5), 0.0);
        assert_eq!(round(DType::U8, 7.9), 7.0);
    }

    #[test]
    fn views_are_read_in_row_major_order() {
        let (s, _) = t(DType::F64, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3]);
        // the (2, 3) matrix transposed: (3, 2) with strides (1, 3)
        let tr = Layout::new(Shape::new(vec![3, 2]), vec![1, 3], 0);
        assert_eq!(
            s.to_host(&tr),
            HostData::F64(vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0])
        );
        // elements 1 and 2 broadcast along a new leading dim, from offset 1
        let bc = Layout::new(Shape::new(vec![2, 2]), vec![0, 1], 1);
        assert_eq!(s.values(&bc), vec![1.0, 2.0, 1.0, 2.0]);
        // every other element of the second row, as a 0-d and an empty view
        let step = Layout::new(Shape::new(vec![2]), vec![2], 3);
        assert_eq!(s.contiguous(&step).data, vec![3.0, 5.0]);
        let scalar = Layout::new(Shape::new(vec![]), vec![], 4);
        assert_eq!(s.values(&scalar), vec![4.0]);
        let empty = Layout::new(Shape::new(vec![0, 3]), vec![3, 1], 0);
        assert_eq!(s.to_host(&empty), HostData::F64(vec![]));
    }

    #[test]
    fn host_round_trip_and_cast() {
        let s = RefStorage::from_host(HostData::F32(vec![1.5, -2.5, 0.1]));
        assert_eq!(s.dtype(), DType::F32);
        let l = Layout::contiguous([3]);
        assert_eq!(s.to_host(&l), HostData::F32(vec![1.5, -2.5, 0.1]));
        assert_eq!(
            s.cast(&l, DType::I64).to_host(&l),
            HostData::I64(vec![1, -2, 0])
        );
        assert_eq!(
            s.cast(&l, DType::U8).to_host(&l),
            HostData::U8(vec![1, 0, 0])
        );
        let f = RefStorage::full(DType::U8, 2, 256.0);
        assert_eq!(vals(&f), vec![255.0, 255.0]);
    }

    #[test]
    fn in_place_updates_write_through_views() {
        let (mut d, _) = t(DType::F32, &[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        // the transposed destination gets the source in row-major order of the view
        let tr = Layout::new(Shape::new(vec![2, 2]), vec![1, 2], 0);
        let (s, sl) = t(DType::F32, &[10.0, 20.0, 30.0, 40.0], &[2, 2]);
        d.copy_from(&tr, &s, &sl).unwrap();
        assert_eq!(vals(&d), vec![10.0, 30.0, 20.0, 40.0]);
        // d = 0.5 d + 2 s over the first row only
        let row = Layout::new(Shape::new(vec![2]), vec![1], 0);
        d.axpby_(&row, &s, &row, 0.5, 2.0).unwrap();
        assert_eq!(vals(&d), vec![25.0, 55.0, 20.0, 40.0]);
        d.scale_(&Layout::contiguous([4]), 0.1).unwrap();
        let c = 0.1f32 as f64;
        let want: Vec<f64> = [25.0, 55.0, 20.0, 40.0]
            .iter()
            .map(|x| round(DType::F32, x * c))
            .collect();
        assert_eq!(vals(&d), want);
        // dtype mismatches and integer destinations are errors, not panics
        let (i, il) = t(DType::I64, &[1.0, 2.0], &[2]);
        assert!(d.copy_from(&row, &i, &il).is_err());
        let mut i2 = i.clone();
        assert!(i2.scale_(&il, 2.0).is_err());
        assert!(i2.axpby_(&il, &i, &il, 1.0, 1.0).is_err());
    }
}
