//! `Storage` is the only enum that names devices: each primitive of the device contract
//! ([`crate::backend::BackendStorage`]) is matched here, once, and forwarded to the device's
//! implementation. Operands on different devices are refused with an error naming both.
//! A CUDA backend adds a variant behind a cargo feature.

use crate::backend::{BackendStorage, SeqGrads, SeqOperands};
use crate::cpu::CpuStorage;
use crate::primitive::{BinaryOp, CmpOp, ConvSpec, Geom, ReduceOp, Resize, UnaryOp};
use crate::reference::RefStorage;
use crate::{DType, Device, Element, Error, HostData, Layout, Result};

/// The data behind one or more tensor views.
#[derive(Clone, Debug)]
pub enum Storage {
    /// Host memory, computed by the fast CPU kernels.
    Cpu(CpuStorage),
    /// Host memory, computed by the plain scalar reference kernels (the test oracle).
    Reference(RefStorage),
}

/// The operands of one primitive, all on one device.
enum Same<'a, const N: usize> {
    Cpu([&'a CpuStorage; N]),
    Reference([&'a RefStorage; N]),
}

/// The storages of `ss`, checked to be on one device.
fn same<'a, const N: usize>(op: &'static str, ss: [&'a Storage; N]) -> Result<Same<'a, N>> {
    let dev = ss[0].device();
    if let Some(o) = ss.iter().find(|s| s.device() != dev) {
        return Err(Error::Device {
            op,
            a: dev,
            b: o.device(),
        });
    }
    Ok(match ss[0] {
        Storage::Cpu(_) => Same::Cpu(ss.map(|s| match s {
            Storage::Cpu(c) => c,
            _ => unreachable!("devices checked above"),
        })),
        Storage::Reference(_) => Same::Reference(ss.map(|s| match s {
            Storage::Reference(r) => r,
            _ => unreachable!("devices checked above"),
        })),
    })
}

/// Runs `$body` with `$s` bound to the device storage and wraps a storage result back.
macro_rules! on_device {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Storage::Cpu($s) => Storage::Cpu($body),
            Storage::Reference($s) => Storage::Reference($body),
        }
    };
}

/// Runs `$body` with the device storages of several operands bound to `[$a, ...]`, checked to be
/// on one device, and wraps the storage result back.
macro_rules! on_same {
    ($op:expr, [$($x:expr),+], [$($a:ident),+] => $body:expr) => {
        match same($op, [$($x),+])? {
            Same::Cpu([$($a),+]) => Storage::Cpu($body),
            Same::Reference([$($a),+]) => Storage::Reference($body),
        }
    };
}

impl Storage {
    /// New storage on `device` holding `data`.
    pub fn from_host(data: HostData, device: Device) -> Storage {
        match device {
            Device::Cpu => Storage::Cpu(CpuStorage::from_host(data)),
            Device::Reference => Storage::Reference(RefStorage::from_host(data)),
        }
    }
    /// `n` elements equal to `v` (converted to `dtype`) on `device`.
    pub fn full(device: Device, dtype: DType, n: usize, v: f64) -> Storage {
        match device {
            Device::Cpu => Storage::Cpu(<CpuStorage as BackendStorage>::full(dtype, n, v)),
            Device::Reference => Storage::Reference(RefStorage::full(dtype, n, v)),
        }
    }
    /// The device holding the data.
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(s) => s.device(),
            Storage::Reference(s) => s.device(),
        }
    }
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(s) => BackendStorage::dtype(s),
            Storage::Reference(s) => s.dtype(),
        }
    }
    /// Number of elements held.
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(s) => BackendStorage::len(s),
            Storage::Reference(s) => s.len(),
        }
    }
    /// Whether no element is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The elements of `l`, copied to the host in row-major order.
    pub fn to_host(&self, l: &Layout) -> HostData {
        match self {
            Storage::Cpu(s) => s.to_host(l),
            Storage::Reference(s) => s.to_host(l),
        }
    }
    /// The elements of `l` as new storage on `device` (a copy even on the same device).
    pub(crate) fn to_device(&self, l: &Layout, device: Device) -> Storage {
        if device == self.device() {
            return self.contiguous(l);
        }
        Storage::from_host(self.to_host(l), device)
    }
    /// Runs `f` on the elements of `l` in row-major order as a host slice: borrowed without a
    /// copy where the data is host memory of type `T` and `l` is contiguous, copied otherwise.
    pub(crate) fn with_host_slice<T: Element, R>(
        &self,
        l: &Layout,
        f: impl FnOnce(&[T]) -> R,
    ) -> Result<R> {
        let wrong = || Error::DType {
            op: "with_contiguous",
            expected: T::DTYPE.as_str(),
            got: self.dtype(),
        };
        if self.dtype() != T::DTYPE {
            return Err(wrong());
        }
        if let (Storage::Cpu(s), Some(r)) = (self, l.contiguous_range()) {
            return Ok(f(&T::slice(s).ok_or_else(wrong)?[r]));
        }
        let v = T::from_host(self.to_host(l)).ok_or_else(wrong)?;
        Ok(f(&v))
    }

    pub(crate) fn unary(&self, l: &Layout, op: UnaryOp) -> Result<Storage> {
        Ok(on_device!(self, s => s.unary(l, op)?))
    }
    pub(crate) fn binary(
        &self,
        l: &Layout,
        rhs: &Storage,
        rl: &Layout,
        op: BinaryOp,
    ) -> Result<Storage> {
        Ok(on_same!(op.name(), [self, rhs], [a, b] => a.binary(l, b, rl, op)?))
    }
    pub(crate) fn cmp(&self, l: &Layout, rhs: &Storage, rl: &Layout, op: CmpOp) -> Result<Storage> {
        Ok(on_same!(op.name(), [self, rhs], [a, b] => a.cmp(l, b, rl, op)?))
    }
    pub(crate) fn where_cond(
        &self,
        l: &Layout,
        t: (&Storage, &Layout),
        f: (&Storage, &Layout),
    ) -> Result<Storage> {
        Ok(on_same!("where", [self, t.0, f.0], [m, ts, fs] =>
            m.where_cond(l, (ts, t.1), (fs, f.1))?))
    }
    pub(crate) fn reduce(&self, l: &Layout, op: ReduceOp, dims: &[usize]) -> Result<Storage> {
        Ok(on_device!(self, s => s.reduce(l, op, dims)?))
    }
    pub(crate) fn matmul(&self, l: &Layout, rhs: &Storage, rl: &Layout) -> Result<Storage> {
        Ok(on_same!("matmul", [self, rhs], [a, b] => a.matmul(l, b, rl)?))
    }
    pub(crate) fn contiguous(&self, l: &Layout) -> Storage {
        on_device!(self, s => s.contiguous(l))
    }
    pub(crate) fn cast(&self, l: &Layout, to: DType) -> Storage {
        on_device!(self, s => s.cast(l, to))
    }
    /// Copies `src` seen through `sl` into `self` seen through `dl` (same shape, same dtype).
    pub(crate) fn copy_from(&mut self, dl: &Layout, src: &Storage, sl: &Layout) -> Result<()> {
        match (self, src) {
            (Storage::Cpu(d), Storage::Cpu(s)) => d.copy_from(dl, s, sl),
            (Storage::Reference(d), Storage::Reference(s)) => d.copy_from(dl, s, sl),
            (d, s) => Err(Error::Device {
                op: "copy",
                a: d.device(),
                b: s.device(),
            }),
        }
    }
    /// `self = a * self + b * src` in place.
    pub(crate) fn axpby_(
        &mut self,
        dl: &Layout,
        src: &Storage,
        sl: &Layout,
        a: f64,
        b: f64,
    ) -> Result<()> {
        match (self, src) {
            (Storage::Cpu(d), Storage::Cpu(s)) => d.axpby_(dl, s, sl, a, b),
            (Storage::Reference(d), Storage::Reference(s)) => d.axpby_(dl, s, sl, a, b),
            (d, s) => Err(Error::Device {
                op: "axpby_",
                a: d.device(),
                b: s.device(),
            }),
        }
    }
    /// `self *= c` in place.
    pub(crate) fn scale_(&mut self, dl: &Layout, c: f64) -> Result<()> {
        match self {
            Storage::Cpu(d) => d.scale_(dl, c),
            Storage::Reference(d) => d.scale_(dl, c),
        }
    }

    pub(crate) fn index_select(
        &self,
        l: &Layout,
        dim: usize,
        index: (&Storage, &Layout),
    ) -> Result<Storage> {
        Ok(on_same!("index_select", [self, index.0], [x, i] =>
            x.index_select(l, dim, (i, index.1))?))
    }
    pub(crate) fn gather(
        &self,
        l: &Layout,
        dim: usize,
        index: (&Storage, &Layout),
    ) -> Result<Storage> {
        Ok(on_same!("gather", [self, index.0], [x, i] => x.gather(l, dim, (i, index.1))?))
    }
    pub(crate) fn scatter_add(
        &self,
        l: &Layout,
        dim: usize,
        index: (&Storage, &Layout),
        src: (&Storage, &Layout),
    ) -> Result<Storage> {
        Ok(on_same!("scatter_add", [self, index.0, src.0], [x, i, s] =>
            x.scatter_add(l, dim, (i, index.1), (s, src.1))?))
    }

    pub(crate) fn conv2d(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        b: Option<(&Storage, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Storage> {
        match b {
            Some(b) => Ok(on_same!("conv2d", [self, w.0, b.0], [x, ws, bs] =>
                x.conv2d(l, (ws, w.1), Some((bs, b.1)), spec)?)),
            None => Ok(on_same!("conv2d", [self, w.0], [x, ws] =>
                x.conv2d(l, (ws, w.1), None, spec)?)),
        }
    }
    /// The input and weight gradients of `conv2d`, when asked for in `need`.
    pub(crate) fn conv2d_backward(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        gy: (&Storage, &Layout),
        spec: &ConvSpec,
        need: (bool, bool),
    ) -> Result<(Option<Storage>, Option<Storage>)> {
        Ok(match same("conv2d_backward", [self, w.0, gy.0])? {
            Same::Cpu([x, ws, gs]) => {
                let (a, b) = x.conv2d_backward(l, (ws, w.1), (gs, gy.1), spec, need)?;
                (a.map(Storage::Cpu), b.map(Storage::Cpu))
            }
            Same::Reference([x, ws, gs]) => {
                let (a, b) = x.conv2d_backward(l, (ws, w.1), (gs, gy.1), spec, need)?;
                (a.map(Storage::Reference), b.map(Storage::Reference))
            }
        })
    }
    /// The transposed convolution: the adjoint of `conv2d` with `spec`, plus the bias.
    pub(crate) fn conv_transpose2d(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        b: Option<(&Storage, &Layout)>,
        spec: &ConvSpec,
    ) -> Result<Storage> {
        const OP: &str = "conv_transpose2d";
        match b {
            Some(b) => Ok(on_same!(OP, [self, w.0, b.0], [x, ws, bs] =>
                x.conv_transpose2d(l, (ws, w.1), Some((bs, b.1)), spec)?)),
            None => Ok(on_same!(OP, [self, w.0], [x, ws] =>
                x.conv_transpose2d(l, (ws, w.1), None, spec)?)),
        }
    }
    pub(crate) fn unfold2d(&self, l: &Layout, g: &Geom) -> Result<Storage> {
        Ok(on_device!(self, s => s.unfold2d(l, g)?))
    }
    pub(crate) fn fold2d(&self, l: &Layout, g: &Geom) -> Result<Storage> {
        Ok(on_device!(self, s => s.fold2d(l, g)?))
    }

    /// Max pooling: the values and the i64 indices of the maxima.
    pub(crate) fn max_pool2d(&self, l: &Layout, g: &Geom) -> Result<(Storage, Storage)> {
        Ok(match self {
            Storage::Cpu(s) => {
                let (v, i) = s.max_pool2d(l, g)?;
                (Storage::Cpu(v), Storage::Cpu(i))
            }
            Storage::Reference(s) => {
                let (v, i) = s.max_pool2d(l, g)?;
                (Storage::Reference(v), Storage::Reference(i))
            }
        })
    }
    pub(crate) fn max_pool2d_backward(
        &self,
        l: &Layout,
        idx: (&Storage, &Layout),
        g: &Geom,
    ) -> Result<Storage> {
        Ok(on_same!("max_pool2d_backward", [self, idx.0], [gy, i] =>
            gy.max_pool2d_backward(l, (i, idx.1), g)?))
    }
    pub(crate) fn avg_pool2d(&self, l: &Layout, g: &Geom, include_pad: bool) -> Result<Storage> {
        Ok(on_device!(self, s => s.avg_pool2d(l, g, include_pad)?))
    }
    pub(crate) fn avg_pool2d_backward(
        &self,
        l: &Layout,
        g: &Geom,
        include_pad: bool,
    ) -> Result<Storage> {
        Ok(on_device!(self, s => s.avg_pool2d_backward(l, g, include_pad)?))
    }
    pub(crate) fn adaptive_avg_pool2d(&self, l: &Layout, g: &Geom) -> Result<Storage> {
        Ok(on_device!(self, s => s.adaptive_avg_pool2d(l, g)?))
    }
    pub(crate) fn adaptive_avg_pool2d_backward(&self, l: &Layout, g: &Geom) -> Result<Storage> {
        Ok(on_device!(self, s => s.adaptive_avg_pool2d_backward(l, g)?))
    }

    pub(crate) fn upsample_nearest2d(&self, l: &Layout, r: &Resize) -> Result<Storage> {
        Ok(on_device!(self, s => s.upsample_nearest2d(l, r)?))
    }
    pub(crate) fn upsample_nearest2d_backward(&self, l: &Layout, r: &Resize) -> Result<Storage> {
        Ok(on_device!(self, s => s.upsample_nearest2d_backward(l, r)?))
    }
    pub(crate) fn upsample_bilinear2d(&self, l: &Layout, r: &Resize) -> Result<Storage> {
        Ok(on_device!(self, s => s.upsample_bilinear2d(l, r)?))
    }
    pub(crate) fn upsample_bilinear2d_backward(&self, l: &Layout, r: &Resize) -> Result<Storage> {
        Ok(on_device!(self, s => s.upsample_bilinear2d_backward(l, r)?))
    }

    /// Batch normalization with batch statistics: `(y, mean, var)`.
    pub(crate) fn batch_norm(
        &self,
        l: &Layout,
        w: (&Storage, &Layout),
        b: (&Storage, &Layout),
        eps: f64,
    ) -> Result<(Storage, Storage, Storage)> {
        Ok(match same("batch_norm", [self, w.0, b.0])? {
            Same::Cpu([x, w0, b0]) => {
                let (y, m, v) = x.batch_norm(l, (w0, w.1), (b0, b.1), eps)?;
                (Storage::Cpu(y), Storage::Cpu(m), Storage::Cpu(v))
            }
            Same::Reference([x, w0, b0]) => {
                let (y, m, v) = x.batch_norm(l, (w0, w.1), (b0, b.1), eps)?;
                (
                    Storage::Reference(y),
                    Storage::Reference(m),
                    Storage::Reference(v),
                )
            }
        })
    }
    /// Batch normalization with given statistics `(mean, var)`.
    pub(crate) fn batch_norm_eval(
        &self,
        l: &Layout,
        stats: (&Storage, &Storage),
        w: (&Storage, &Layout),
        b: (&Storage, &Layout),
        eps: f64,
    ) -> Result<Storage> {
        let all = [self, stats.0, stats.1, w.0, b.0];
        Ok(match same("batch_norm_eval", all)? {
            Same::Cpu([x, m, v, w0, b0]) => {
                Storage::Cpu(x.batch_norm_eval(l, (m, v), (w0, w.1), (b0, b.1), eps)?)
            }
            Same::Reference([x, m, v, w0, b0]) => {
                Storage::Reference(x.batch_norm_eval(l, (m, v), (w0, w.1), (b0, b.1), eps)?)
            }
        })
    }
    /// The gradients `(dx, dw, db)` of [`Storage::batch_norm`] (`flags.0`, batch statistics)
    /// or [`Storage::batch_norm_eval`] from `gy` (`self`); `flags.1`: whether `dx` is needed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn batch_norm_backward(
        &self,
        l: &Layout,
        x: (&Storage, &Layout),
        stats: (&Storage, &Storage),
        w: (&Storage, &Layout),
        eps: f64,
        need_dx: (bool, bool),
    ) -> Result<(Storage, Storage, Storage)> {
        let all = [self, x.0, stats.0, stats.1, w.0];
        Ok(match same("batch_norm_backward", all)? {
            Same::Cpu([gy, x0, m, v, w0]) => {
                let (dx, dw, db) =
                    gy.batch_norm_backward(l, (x0, x.1), (m, v), (w0, w.1), eps, need_dx)?;
                (Storage::Cpu(dx), Storage::Cpu(dw), Storage::Cpu(db))
            }
            Same::Reference([gy, x0, m, v, w0]) => {
                let (dx, dw, db) =
                    gy.batch_norm_backward(l, (x0, x.1), (m, v), (w0, w.1), eps, need_dx)?;
                (
                    Storage::Reference(dx),
                    Storage::Reference(dw),
                    Storage::Reference(db),
                )
            }
        })
    }

    /// The fused LSTM step: `[h' | c']` `(N, 2H)` from the gates and `c_prev`.
    pub(crate) fn lstm_cell(&self, l: &Layout, c_prev: (&Storage, &Layout)) -> Result<Storage> {
        Ok(on_same!("lstm_cell", [self, c_prev.0], [g, c] => g.lstm_cell(l, (c, c_prev.1))?))
    }
    /// The gradients of the gates and of `c_prev` from the gradient of `[h' | c']`.
    pub(crate) fn lstm_cell_backward(
        &self,
        l: &Layout,
        c_prev: (&Storage, &Layout),
        gy: (&Storage, &Layout),
    ) -> Result<(Storage, Storage)> {
        Ok(match same("lstm_cell_backward", [self, c_prev.0, gy.0])? {
            Same::Cpu([g, c, d]) => {
                let (a, b) = g.lstm_cell_backward(l, (c, c_prev.1), (d, gy.1))?;
                (Storage::Cpu(a), Storage::Cpu(b))
            }
            Same::Reference([g, c, d]) => {
                let (a, b) = g.lstm_cell_backward(l, (c, c_prev.1), (d, gy.1))?;
                (Storage::Reference(a), Storage::Reference(b))
            }
        })
    }
    /// The fused GRU step (PyTorch's form): `h'` `(N, H)`.
    pub(crate) fn gru_cell(
        &self,
        l: &Layout,
        gh: (&Storage, &Layout),
        h_prev: (&Storage, &Layout),
    ) -> Result<Storage> {
        Ok(on_same!("gru_cell", [self, gh.0, h_prev.0], [a, b, h] =>
            a.gru_cell(l, (b, gh.1), (h, h_prev.1))?))
    }
    /// `[d gi | d gh]` `(N, 6H)` and `d h_prev` from the gradient of `h'`.
    pub(crate) fn gru_cell_backward(
        &self,
        l: &Layout,
        gh: (&Storage, &Layout),
        h_prev: (&Storage, &Layout),
        gy: (&Storage, &Layout),
    ) -> Result<(Storage, Storage)> {
        Ok(
            match same("gru_cell_backward", [self, gh.0, h_prev.0, gy.0])? {
                Same::Cpu([a, b, h, d]) => {
                    let (x, y) = a.gru_cell_backward(l, (b, gh.1), (h, h_prev.1), (d, gy.1))?;
                    (Storage::Cpu(x), Storage::Cpu(y))
                }
                Same::Reference([a, b, h, d]) => {
                    let (x, y) = a.gru_cell_backward(l, (b, gh.1), (h, h_prev.1), (d, gy.1))?;
                    (Storage::Reference(x), Storage::Reference(y))
                }
            },
        )
    }

    /// The whole-sequence LSTM: the states `(L + 2, N, H)` and the reserve.
    pub(crate) fn lstm_seq(x: &SeqOperands<'_, Storage>, save: bool) -> Result<(Storage, Storage)> {
        seq_forward(
            "lstm_seq",
            x,
            save,
            CpuStorage::lstm_seq,
            RefStorage::lstm_seq,
        )
    }
    /// The gradients of the whole-sequence LSTM.
    pub(crate) fn lstm_seq_backward(
        x: &SeqOperands<'_, Storage>,
        out: (&Storage, &Layout),
        reserve: &Storage,
        gy: (&Storage, &Layout),
    ) -> Result<SeqGrads<Storage>> {
        let (cpu, reference) = (CpuStorage::lstm_seq_backward, RefStorage::lstm_seq_backward);
        seq_backward("lstm_seq_backward", x, out, reserve, gy, cpu, reference)
    }
    /// The whole-sequence GRU (PyTorch's form): the states `(L + 1, N, H)` and the reserve.
    pub(crate) fn gru_seq(x: &SeqOperands<'_, Storage>, save: bool) -> Result<(Storage, Storage)> {
        seq_forward("gru_seq", x, save, CpuStorage::gru_seq, RefStorage::gru_seq)
    }
    /// The gradients of the whole-sequence GRU.
    pub(crate) fn gru_seq_backward(
        x: &SeqOperands<'_, Storage>,
        out: (&Storage, &Layout),
        reserve: &Storage,
        gy: (&Storage, &Layout),
    ) -> Result<SeqGrads<Storage>> {
        let (cpu, reference) = (CpuStorage::gru_seq_backward, RefStorage::gru_seq_backward);
        seq_backward("gru_seq_backward", x, out, reserve, gy, cpu, reference)
    }
}

/// The device of `ss`, checked to be one.
fn one_device(op: &'static str, ss: &[&Storage]) -> Result<Device> {
    let dev = ss[0].device();
    match ss.iter().find(|s| s.device() != dev) {
        Some(o) => Err(Error::Device {
            op,
            a: dev,
            b: o.device(),
        }),
        None => Ok(dev),
    }
}

fn as_cpu(s: &Storage) -> &CpuStorage {
    match s {
        Storage::Cpu(c) => c,
        _ => unreachable!("devices checked by one_device"),
    }
}

fn as_ref(s: &Storage) -> &RefStorage {
    match s {
        Storage::Reference(r) => r,
        _ => unreachable!("devices checked by one_device"),
    }
}

/// Storage-level signatures of the sequence primitives of one device.
type SeqFwd<S> = fn(&SeqOperands<'_, S>, bool) -> Result<(S, S)>;
type SeqBwd<S> = fn(&SeqOperands<'_, S>, (&S, &Layout), &S, (&S, &Layout)) -> Result<SeqGrads<S>>;

/// A sequence forward on the operands' device.
fn seq_forward(
    op: &'static str,
    x: &SeqOperands<'_, Storage>,
    save: bool,
    cpu: SeqFwd<CpuStorage>,
    reference: SeqFwd<RefStorage>,
) -> Result<(Storage, Storage)> {
    Ok(match one_device(op, &x.storages())? {
        Device::Cpu => {
            let (a, b) = cpu(&x.map(as_cpu), save)?;
            (Storage::Cpu(a), Storage::Cpu(b))
        }
        Device::Reference => {
            let (a, b) = reference(&x.map(as_ref), save)?;
            (Storage::Reference(a), Storage::Reference(b))
        }
    })
}

/// A sequence backward on the operands' device.
fn seq_backward(
    op: &'static str,
    x: &SeqOperands<'_, Storage>,
    out: (&Storage, &Layout),
    reserve: &Storage,
    gy: (&Storage, &Layout),
    cpu: SeqBwd<CpuStorage>,
    reference: SeqBwd<RefStorage>,
) -> Result<SeqGrads<Storage>> {
    let mut all = x.storages();
    all.extend([out.0, reserve, gy.0]);
    Ok(match one_device(op, &all)? {
        Device::Cpu => {
            let (o, r, g) = (as_cpu(out.0), as_cpu(reserve), as_cpu(gy.0));
            cpu(&x.map(as_cpu), (o, out.1), r, (g, gy.1))?.map(Storage::Cpu)
        }
        Device::Reference => {
            let (o, r, g) = (as_ref(out.0), as_ref(reserve), as_ref(gy.0));
            reference(&x.map(as_ref), (o, out.1), r, (g, gy.1))?.map(Storage::Reference)
        }
    })
}
