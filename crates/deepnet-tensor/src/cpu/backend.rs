//! The CPU backend's side of the device contract: [`BackendStorage`] for [`CpuStorage`], each
//! method a thin adapter from (storage, layout) operands to the kernels of this module, which
//! take contiguous slices. Views that are not contiguous are copied once here; contiguous ones
//! (whatever their offset) are borrowed.

use super::isa::isa;
use super::{conv, index, norm, pool, rnn, rnn_seq, upsample, CpuStorage};
use crate::backend::{BackendStorage, SeqGrads, SeqOperands};
use crate::primitive::{BinaryOp, CmpOp, ConvSpec, Geom, ReduceOp, Resize, UnaryOp};
use crate::{DType, Device, Element, Error, HostData, Layout, Result};
use std::borrow::Cow;

/// The elements of `l` in row-major order: borrowed when the view is contiguous, else copied.
fn view<'a, T: Element>(op: &'static str, s: &'a CpuStorage, l: &Layout) -> Result<Cow<'a, [T]>> {
    let v = T::slice(s).ok_or(Error::DType {
        op,
        expected: T::DTYPE.as_str(),
        got: s.dtype(),
    })?;
    Ok(match l.contiguous_range() {
        Some(r) => Cow::Borrowed(&v[r]),
        None => Cow::Owned(super::map(v, l, |x| x)),
    })
}

/// The batch-norm sizes of an `(N, C, *)` operand.
fn bn_sizes(l: &Layout) -> norm::Bn {
    let d = l.dims();
    norm::Bn {
        n: d[0],
        c: d[1],
        s: d[2..].iter().product(),
    }
}

/// Runs `$body` with `$t` the Rust float type of `$s`'s dtype, or returns a dtype error for `$op`.
macro_rules! on_float {
    ($op:expr, $s:expr, $t:ident => $body:expr) => {
        match $s.dtype() {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            d => {
                return Err(Error::DType {
                    op: $op,
                    expected: "float32 or float64",
                    got: d,
                })
            }
        }
    };
}

/// The i64 indices of `l`, as a host slice.
fn indices<'a>(op: &'static str, s: &'a CpuStorage, l: &Layout) -> Result<Cow<'a, [i64]>> {
    view::<i64>(op, s, l)
}

/// The whole storage when `l` covers it contiguously from its start (what the index kernels
/// take), else a contiguous copy of the view.
fn whole<'a>(s: &'a CpuStorage, l: &Layout) -> Cow<'a, CpuStorage> {
    if l.contiguous_range() == Some(0..HostData::len(s)) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.contiguous(l))
    }
}

impl BackendStorage for CpuStorage {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn dtype(&self) -> DType {
        HostData::dtype(self)
    }
    fn len(&self) -> usize {
        HostData::len(self)
    }
    fn full(dtype: DType, n: usize, v: f64) -> Self {
        HostData::full(dtype, n, v)
    }
    fn from_host(data: HostData) -> Self {
        data
    }
    fn to_host(&self, l: &Layout) -> HostData {
        self.contiguous(l)
    }

    fn unary(&self, l: &Layout, op: UnaryOp) -> Result<Self> {
        super::elementwise::unary(self, l, op)
    }
    fn binary(&self, l: &Layout, rhs: &Self, rl: &Layout, op: BinaryOp) -> Result<Self> {
        super::elementwise::binary(self, l, rhs, rl, op)
    }
    fn cmp(&self, l: &Layout, rhs: &Self, rl: &Layout, op: CmpOp) -> Result<Self> {
        super::elementwise::cmp(self, l, rhs, rl, op)
    }
    fn where_cond(&self, l: &Layout, t: (&Self, &Layout), f: (&Self, &Layout)) -> Result<Self> {
        super::elementwise::where_cond((self, l), t, f)
    }
    fn reduce(&self, l: &Layout, op: ReduceOp, dims: &[usize]) -> Result<Self> {
        super::reduce::reduce(self, l, op, dims)
    }
    fn matmul(&self, l: &Layout, rhs: &Self, rl: &Layout) -> Result<Self> {
        super::matmul::matmul(self, l, rhs, rl)
    }

    fn contiguous(&self, l: &Layout) -> Self {
        super::with_cpu!(self, v => Element::into_host(super::map(v, l, |x| x)))
    }
    fn cast(&self, l: &Layout, to: DType) -> Self {
        fn go<T: Element>(v: &[T], l: &Layout, to: DType) -> CpuStorage {
            use super::map;
            match to {
                DType::F32 => CpuStorage::F32(map(v, l, |x| f32::from_f64(x.to_f64()))),
                DType::F64 => CpuStorage::F64(map(v, l, |x| x.to_f64())),
                DType::I64 => CpuStorage::I64(map(v, l, |x| i64::from_f64(x.to_f64()))),
                DType::U8 => CpuStorage::U8(map(v, l, |x| u8::from_f64(x.to_f64()))),
            }
        }
        super::with_cpu!(self, v => go(v, l, to))
    }
    fn copy_from(&mut self, dl: &Layout, src: &Self, sl: &Layout) -> Result<()> {
        use super::copy_into;
        match (self, src) {
            (CpuStorage::F32(d), CpuStorage::F32(s)) => copy_into(s, sl, d, dl),
            (CpuStorage::F64(d), CpuStorage::F64(s)) => copy_into(s, sl, d, dl),
            (CpuStorage::I64(d), CpuStorage::I64(s)) => copy_into(s, sl, d, dl),
            (CpuStorage::U8(d), CpuStorage::U8(s)) => copy_into(s, sl, d, dl),
            (d, s) => {
                return Err(Error::msg(format!(
                    "copy: destination is {} but source is {}",
                    d.dtype(),
                    s.dtype()
                )))
            }
        }
        Ok(())
    }
    fn axpby_(&mut self, dl: &Layout, src: &Self, sl: &Layout, a: f64, b: f64) -> Result<()> {
        match (self, src) {
            (CpuStorage::F32(d), CpuStorage::F32(s)) => {
                super::axpby(d, dl, s, sl, a as f32, b as f32)
            }
            (CpuStorage::F64(d), CpuStorage::F64(s)) => super::axpby(d, dl, s, sl, a, b),
            (d, s) => {
                return Err(Error::msg(format!(
                    "axpby_: destination is {} and source is {}; both must be the same float dtype",
                    d.dtype(),
                    s.dtype()
                )))
            }
        }
        Ok(())
    }
    fn scale_(&mut self, dl: &Layout, c: f64) -> Result<()> {
        match self {
            CpuStorage::F32(v) => super::scale(v, dl, c as f32),
            CpuStorage::F64(v) => super::scale(v, dl, c),
            d => {
                return Err(Error::DType {
                    op: "mul_scalar_",
                    expected: "a float tensor",
                    got: d.dtype(),
                })
            }
        }
        Ok(())
    }

    fn index_select(&self, l: &Layout, dim: usize, idx: (&Self, &Layout)) -> Result<Self> {
        let i = indices("index_select", idx.0, idx.1)?;
        index::index_select(&whole(self, l), l.dims(), dim, &i)
    }
    fn gather(&self, l: &Layout, dim: usize, idx: (&Self, &Layout)) -> Result<Self> {
        let i = indices("gather", idx.0, idx.1)?;
        index::gather(&whole(self, l), l.dims(), dim, &i, idx.1.dims())
    }
    fn scatter_add(
        &self,
        l: &Layout,
        dim: usize,
        idx: (&Self, &Layout),
        src: (&Self, &Layout),
    ) -> Result<Self> {
        let i = indices("scatter_add", idx.0, idx.1)?;
        let (base, s) = (whole(self, l), whole(src.0, src.1));
        index::scatter_add(&base, l.dims(), dim, &i, idx.1.dims(), &s)
    }

    fn conv2d(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Self> {
        const OP: &str = "conv2d";
        on_float!(OP, self, T => {
            let x = view::<T>(OP, self, l)?;
            let ws = view::<T>(OP, w.0, w.1)?;
            let bs = b.map(|(b, bl)| view::<T>(OP, b, bl)).transpose()?;
            let y = conv::conv2d(&spec.g, spec.groups, spec.cout, &x, &ws, bs.as_deref());
            Ok(T::into_host(y))
        })
    }
    fn conv2d_backward(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        gy: (&Self, &Layout),
        spec: &ConvSpec,
        need: (bool, bool),
    ) -> Result<(Option<Self>, Option<Self>)> {
        const OP: &str = "conv2d_backward";
        on_float!(OP, self, T => {
            let x = view::<T>(OP, self, l)?;
            let ws = view::<T>(OP, w.0, w.1)?;
            let gs = view::<T>(OP, gy.0, gy.1)?;
            let (g, n) = (&spec.g, need);
            let (dx, dw) =
                conv::conv2d_backward(g, spec.groups, spec.cout, &x, &ws, &gs, n.0, n.1);
            Ok((dx.map(T::into_host), dw.map(T::into_host)))
        })
    }
    fn conv_transpose2d(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: Option<(&Self, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Self> {
        const OP: &str = "conv_transpose2d";
        on_float!(OP, self, T => {
            let x = view::<T>(OP, self, l)?;
            let ws = view::<T>(OP, w.0, w.1)?;
            let bs = b.map(|(b, bl)| view::<T>(OP, b, bl)).transpose()?;
            let (g, groups, cout) = (&spec.g, spec.groups, spec.cout);
            let y = conv::conv_transpose2d(g, groups, cout, &x, &ws, bs.as_deref());
            Ok(T::into_host(y))
        })
    }
    fn unfold2d(&self, l: &Layout, g: &Geom) -> Result<Self> {
        on_float!("unfold2d", self, T => Ok(T::into_host(conv::unfold(g, &view::<T>("unfold2d", self, l)?))))
    }
    fn fold2d(&self, l: &Layout, g: &Geom) -> Result<Self> {
        on_float!("fold2d", self, T => Ok(T::into_host(conv::fold(g, &view::<T>("fold2d", self, l)?))))
    }

    fn max_pool2d(&self, l: &Layout, g: &Geom) -> Result<(Self, Self)> {
        on_float!("max_pool2d", self, T => {
            let (v, i) = pool::max_pool(g, &view::<T>("max_pool2d", self, l)?);
            Ok((T::into_host(v), CpuStorage::I64(i)))
        })
    }
    fn max_pool2d_backward(&self, l: &Layout, idx: (&Self, &Layout), g: &Geom) -> Result<Self> {
        const OP: &str = "max_pool2d_backward";
        on_float!(OP, self, T => {
            let i = indices(OP, idx.0, idx.1)?;
            Ok(T::into_host(pool::max_pool_backward(g, &i, &view::<T>(OP, self, l)?)?))
        })
    }
    fn avg_pool2d(&self, l: &Layout, g: &Geom, include_pad: bool) -> Result<Self> {
        on_float!("avg_pool2d", self, T => {
            let x = view::<T>("avg_pool2d", self, l)?;
            Ok(T::into_host(pool::avg_pool(g, &x, include_pad)))
        })
    }
    fn avg_pool2d_backward(&self, l: &Layout, g: &Geom, include_pad: bool) -> Result<Self> {
        on_float!("avg_pool2d_backward", self, T => {
            let gy = view::<T>("avg_pool2d_backward", self, l)?;
            Ok(T::into_host(pool::avg_pool_backward(g, &gy, include_pad)))
        })
    }
    fn adaptive_avg_pool2d(&self, l: &Layout, g: &Geom) -> Result<Self> {
        on_float!("adaptive_avg_pool2d", self, T => {
            let x = view::<T>("adaptive_avg_pool2d", self, l)?;
            Ok(T::into_host(pool::adaptive_avg_pool(g, &x)))
        })
    }
    fn adaptive_avg_pool2d_backward(&self, l: &Layout, g: &Geom) -> Result<Self> {
        on_float!("adaptive_avg_pool2d_backward", self, T => {
            let gy = view::<T>("adaptive_avg_pool2d_backward", self, l)?;
            Ok(T::into_host(pool::adaptive_avg_pool_backward(g, &gy)))
        })
    }

    fn upsample_nearest2d(&self, l: &Layout, r: &Resize) -> Result<Self> {
        const OP: &str = "upsample_nearest2d";
        on_float!(OP, self, T => Ok(T::into_host(upsample::nearest(r, &view::<T>(OP, self, l)?))))
    }
    fn upsample_nearest2d_backward(&self, l: &Layout, r: &Resize) -> Result<Self> {
        const OP: &str = "upsample_nearest2d_backward";
        on_float!(OP, self, T => {
            Ok(T::into_host(upsample::nearest_backward(r, &view::<T>(OP, self, l)?)))
        })
    }
    fn upsample_bilinear2d(&self, l: &Layout, r: &Resize) -> Result<Self> {
        const OP: &str = "upsample_bilinear2d";
        on_float!(OP, self, T => Ok(T::into_host(upsample::bilinear(r, &view::<T>(OP, self, l)?))))
    }
    fn batch_norm(
        &self,
        l: &Layout,
        w: (&Self, &Layout),
        b: (&Self, &Layout),
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        const OP: &str = "batch_norm";
        on_float!(OP, self, T => {
            let (x, wv, bv) = (view::<T>(OP, self, l)?, view::<T>(OP, w.0, w.1)?, view::<T>(OP, b.0, b.1)?);
            let (y, mean, var) = norm::forward(bn_sizes(l), &x, &wv, &bv, eps);
            Ok((T::into_host(y), T::into_host(mean), T::into_host(var)))
        })
    }
    fn batch_norm_eval(
        &self,
        l: &Layout,
        stats: (&Self, &Self),
        w: (&Self, &Layout),
        b: (&Self, &Layout),
        eps: f64,
    ) -> Result<Self> {
        const OP: &str = "batch_norm_eval";
        on_float!(OP, self, T => {
            let (x, wv, bv) = (view::<T>(OP, self, l)?, view::<T>(OP, w.0, w.1)?, view::<T>(OP, b.0, b.1)?);
            let c = Layout::contiguous([w.1.elem_count()]);
            let (mean, var) = (view::<T>(OP, stats.0, &c)?, view::<T>(OP, stats.1, &c)?);
            Ok(T::into_host(norm::forward_eval(bn_sizes(l), &x, (&mean, &var), &wv, &bv, eps)))
        })
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
        const OP: &str = "batch_norm_backward";
        on_float!(OP, self, T => {
            let (gy, xv, wv) = (view::<T>(OP, self, l)?, view::<T>(OP, x.0, x.1)?, view::<T>(OP, w.0, w.1)?);
            let c = Layout::contiguous([w.1.elem_count()]);
            let (mean, var) = (view::<T>(OP, stats.0, &c)?, view::<T>(OP, stats.1, &c)?);
            let (dx, dw, db) =
                norm::backward(bn_sizes(l), &gy, &xv, (&mean, &var), &wv, eps, flags);
            Ok((T::into_host(dx), T::into_host(dw), T::into_host(db)))
        })
    }

    fn upsample_bilinear2d_backward(&self, l: &Layout, r: &Resize) -> Result<Self> {
        const OP: &str = "upsample_bilinear2d_backward";
        on_float!(OP, self, T => {
            Ok(T::into_host(upsample::bilinear_backward(r, &view::<T>(OP, self, l)?)))
        })
    }

    fn lstm_cell(&self, l: &Layout, c_prev: (&Self, &Layout)) -> Result<Self> {
        const OP: &str = "lstm_cell";
        on_float!(OP, self, T => {
            let (n, h) = rows_cols(c_prev.1);
            let (g, c) = (view::<T>(OP, self, l)?, view::<T>(OP, c_prev.0, c_prev.1)?);
            Ok(T::into_host(rnn::lstm_cell(&g, &c, n, h, isa())))
        })
    }
    fn lstm_cell_backward(
        &self,
        l: &Layout,
        c_prev: (&Self, &Layout),
        gy: (&Self, &Layout),
    ) -> Result<(Self, Self)> {
        const OP: &str = "lstm_cell_backward";
        on_float!(OP, self, T => {
            let (n, h) = rows_cols(c_prev.1);
            let g = view::<T>(OP, self, l)?;
            let c = view::<T>(OP, c_prev.0, c_prev.1)?;
            let dy = view::<T>(OP, gy.0, gy.1)?;
            let (dg, dc) = rnn::lstm_cell_backward(&g, &c, &dy, n, h, isa());
            Ok((T::into_host(dg), T::into_host(dc)))
        })
    }
    fn gru_cell(&self, l: &Layout, gh: (&Self, &Layout), h_prev: (&Self, &Layout)) -> Result<Self> {
        const OP: &str = "gru_cell";
        on_float!(OP, self, T => {
            let (n, h) = rows_cols(h_prev.1);
            let gi = view::<T>(OP, self, l)?;
            let ghv = view::<T>(OP, gh.0, gh.1)?;
            let hp = view::<T>(OP, h_prev.0, h_prev.1)?;
            Ok(T::into_host(rnn::gru_cell(&gi, &ghv, &hp, n, h, isa())))
        })
    }
    fn gru_cell_backward(
        &self,
        l: &Layout,
        gh: (&Self, &Layout),
        h_prev: (&Self, &Layout),
        gy: (&Self, &Layout),
    ) -> Result<(Self, Self)> {
        const OP: &str = "gru_cell_backward";
        on_float!(OP, self, T => {
            let (n, h) = rows_cols(h_prev.1);
            let gi = view::<T>(OP, self, l)?;
            let ghv = view::<T>(OP, gh.0, gh.1)?;
            let hp = view::<T>(OP, h_prev.0, h_prev.1)?;
            let dy = view::<T>(OP, gy.0, gy.1)?;
            let (dg, dh) = rnn::gru_cell_backward(&gi, &ghv, &hp, &dy, n, h, isa());
            Ok((T::into_host(dg), T::into_host(dh)))
        })
    }

    fn lstm_seq(x: &SeqOperands<'_, Self>, save: bool) -> Result<(Self, Self)> {
        const OP: &str = "lstm_seq";
        on_float!(OP, x.xp.0, T => {
            let c0 = operand::<T>(OP, x.c0.ok_or(Error::invalid(OP, "the LSTM needs c0"))?)?;
            let (xp, w, h0) = (operand::<T>(OP, x.xp)?, operand::<T>(OP, x.w_hh)?, operand::<T>(OP, x.h0)?);
            // both biases add to every step's gates: one vector, summed as the per-step
            // composition sums them
            let b = match (x.b_ih.map(|b| operand::<T>(OP, b)).transpose()?, x.b_hh.map(|b| operand::<T>(OP, b)).transpose()?) {
                (Some(bi), Some(bh)) => Some(bi.iter().zip(bh.iter()).map(|(&p, &q)| p + q).collect()),
                (b, None) | (None, b) => b.map(|b| b.into_owned()),
            };
            let (out, res) = rnn_seq::lstm_seq(&xp, &w, b.as_deref(), &h0, &c0, seq(x), save, isa());
            Ok((T::into_host(out), T::into_host(res)))
        })
    }
    fn lstm_seq_backward(
        x: &SeqOperands<'_, Self>,
        out: (&Self, &Layout),
        reserve: &Self,
        gy: (&Self, &Layout),
    ) -> Result<SeqGrads<Self>> {
        const OP: &str = "lstm_seq_backward";
        on_float!(OP, x.xp.0, T => {
            let s = seq(x);
            let c0 = operand::<T>(OP, x.c0.ok_or(Error::invalid(OP, "the LSTM needs c0"))?)?;
            let res = saved::<T>(OP, reserve, s.l * s.n * 5 * s.h)?;
            let (w, states, dy) = (operand::<T>(OP, x.w_hh)?, operand::<T>(OP, out)?, operand::<T>(OP, gy)?);
            let (dxp, dh0, dc0) = rnn_seq::lstm_seq_backward(&w, &c0, res, &dy, s, isa());
            let dw = rnn_seq::weight_grad(&dxp, 4 * s.h, &states, s);
            // both biases take the gates' gradient summed over steps and rows
            let db = (x.b_ih.is_some() || x.b_hh.is_some()).then(|| rnn_seq::column_sums(&dxp, 4 * s.h, isa()));
            Ok(SeqGrads {
                dxp: T::into_host(dxp),
                dw_hh: T::into_host(dw),
                db_ih: x.b_ih.and(db.clone()).map(T::into_host),
                db_hh: x.b_hh.and(db).map(T::into_host),
                dh0: T::into_host(dh0),
                dc0: Some(T::into_host(dc0)),
            })
        })
    }
    fn gru_seq(x: &SeqOperands<'_, Self>, save: bool) -> Result<(Self, Self)> {
        const OP: &str = "gru_seq";
        on_float!(OP, x.xp.0, T => {
            let bi = x.b_ih.map(|b| operand::<T>(OP, b)).transpose()?;
            let bh = x.b_hh.map(|b| operand::<T>(OP, b)).transpose()?;
            let (xp, w, h0) = (operand::<T>(OP, x.xp)?, operand::<T>(OP, x.w_hh)?, operand::<T>(OP, x.h0)?);
            let b = (bi.as_deref(), bh.as_deref());
            let (out, res) = rnn_seq::gru_seq(&xp, &w, b, &h0, seq(x), save, isa());
            Ok((T::into_host(out), T::into_host(res)))
        })
    }
    fn gru_seq_backward(
        x: &SeqOperands<'_, Self>,
        out: (&Self, &Layout),
        reserve: &Self,
        gy: (&Self, &Layout),
    ) -> Result<SeqGrads<Self>> {
        const OP: &str = "gru_seq_backward";
        on_float!(OP, x.xp.0, T => {
            let s = seq(x);
            let res = saved::<T>(OP, reserve, s.l * s.n * 4 * s.h)?;
            let (w, states, dy) = (operand::<T>(OP, x.w_hh)?, operand::<T>(OP, out)?, operand::<T>(OP, gy)?);
            let (dxp, dgh, dh0) = rnn_seq::gru_seq_backward(&w, &states, res, &dy, s, isa());
            let dw = rnn_seq::weight_grad(&dgh, 3 * s.h, &states, s);
            let sums = |m: &[T]| T::into_host(rnn_seq::column_sums(m, 3 * s.h, isa()));
            Ok(SeqGrads {
                db_ih: x.b_ih.map(|_| sums(&dxp)),
                db_hh: x.b_hh.map(|_| sums(&dgh)),
                dxp: T::into_host(dxp),
                dw_hh: T::into_host(dw),
                dh0: T::into_host(dh0),
                dc0: None,
            })
        })
    }
}

/// [`view`] of an operand given with its layout.
fn operand<'a, T: Element>(op: &'static str, o: (&'a CpuStorage, &Layout)) -> Result<Cow<'a, [T]>> {
    view::<T>(op, o.0, o.1)
}

/// The sizes and direction of a sequence call (the front end has checked the shapes).
fn seq<S>(x: &SeqOperands<'_, S>) -> rnn_seq::Seq {
    let (l, n, h) = x.sizes();
    rnn_seq::Seq {
        l,
        n,
        h,
        reverse: x.reverse,
    }
}

/// The reserve a sequence forward saved, checked to hold `len` elements of `T`.
fn saved<'a, T: Element>(op: &'static str, reserve: &'a CpuStorage, len: usize) -> Result<&'a [T]> {
    match T::slice(reserve) {
        Some(r) if r.len() == len => Ok(r),
        _ => Err(Error::invalid(
            op,
            format!(
                "the reserve holds {} {} elements, expected {len} {}: it was not saved by the \
                 forward of these operands",
                HostData::len(reserve),
                reserve.dtype(),
                T::DTYPE
            ),
        )),
    }
}

/// `(N, H)` of a recurrent state's layout (the front end has checked that it is 2-d).
fn rows_cols(l: &Layout) -> (usize, usize) {
    let d = l.dims();
    (d[0], d[1])
}
