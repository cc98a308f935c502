//! The table: indexing, in-place updates, constructors.

use super::row::*;
use deepnet_tensor::DType::I64;
use deepnet_tensor::Tensor;

pub fn indexing() -> Vec<Row> {
    vec![
        // selection copies values (exact); gradients accumulate repeated indices (SUM)
        r("index_select", NUM, vec![X, idx(0, 0)], E)
            .one(|t| t[0].index_select(0, &t[1]))
            .case(&[&[4, 3], &[5]])
            .case(&[&[1, 1], &[1]])
            .case(&[&[0, 3], &[0]])
            .case(&[&[4, 0], &[3]])
            .case(&[&[3, 4, 2], &[6]]),
        r("index_select", FLOAT, vec![X, idx(0, 2)], E)
            .one(|t| t[0].index_select(-1, &t[1]))
            .note("last dim")
            .case(&[&[2, 3, 5], &[7]])
            .case(&[&[1, 1, 1], &[1]])
            .case(&[&[2, 3, 4], &[0]]),
        r("index_select", FLOAT, vec![X, range(4, 9)], E)
            .one(|t| t[0].index_select(0, &t[1]))
            .note("out of range")
            .err_case(&[&[4, 3], &[2]]),
        r("index_select", FLOAT, vec![X, range(-3, 0)], E)
            .one(|t| t[0].index_select(0, &t[1]))
            .note("negative")
            .err_case(&[&[4, 3], &[2]]),
        r("gather", NUM, vec![X, idx(0, 1)], E)
            .one(|t| t[0].gather(1, &t[1]))
            .case(&[&[3, 4], &[3, 2]])
            .case(&[&[3, 4], &[2, 6]])
            .case(&[&[1, 1], &[1, 1]])
            .case(&[&[0, 4], &[0, 2]])
            .case(&[&[3, 4], &[3, 0]])
            .case(&[&[2, 3, 4], &[2, 5, 3]])
            .err_case(&[&[3, 4], &[4, 2]]),
        r("gather", FLOAT, vec![X, range(4, 7)], E)
            .one(|t| t[0].gather(1, &t[1]))
            .note("out of range")
            .err_case(&[&[3, 4], &[3, 2]]),
        r("gather", FLOAT, vec![X, range(-2, 0)], E)
            .one(|t| t[0].gather(1, &t[1]))
            .note("negative")
            .err_case(&[&[3, 4], &[3, 2]]),
        // repeated indices accumulate: f32 on the CPU, f64 on the reference
        r("scatter_add", NUM, vec![X, idx(0, 0), X], SUM)
            .one(|t| t[0].scatter_add(0, &t[1], &t[2]))
            .case(&[&[3, 4], &[2, 4], &[2, 4]])
            .case(&[&[3, 4], &[5, 3], &[6, 4]])
            .case(&[&[1, 1], &[1, 1], &[1, 1]])
            .case(&[&[0, 4], &[0, 4], &[0, 4]])
            .case(&[&[3, 4], &[0, 2], &[1, 2]])
            .case(&[&[2, 3, 4], &[4, 3, 2], &[4, 3, 3]])
            .err_case(&[&[3, 4], &[2, 4], &[2, 3]]),
        r("scatter_add", FLOAT, vec![X, range(3, 6), X], SUM)
            .one(|t| t[0].scatter_add(0, &t[1], &t[2]))
            .note("out of range")
            .err_case(&[&[3, 4], &[2, 4], &[2, 4]]),
        r("one_hot", INT, vec![range(0, 5)], E)
            .one(|t| t[0].one_hot(5))
            .case(&[&[3, 4]])
            .case(&[&[1]])
            .case(&[&[0]])
            .case(&[&[]])
            .case(&[&[2, 0, 3]]),
        r("one_hot", INT, vec![range(5, 8)], E)
            .one(|t| t[0].one_hot(5))
            .note("out of range")
            .err_case(&[&[3]]),
    ]
}

/// In-place writes: into a copy of the input, and through a strided view of another copy (the
/// destination's layout is not contiguous). No gradients: only leaves are written.
pub fn inplace() -> Vec<Row> {
    let cases = |r: Row| {
        r.no_grad()
            .case(&[&[3, 4, 5], &[3, 4, 5]])
            .case(&[&[1], &[1]])
            .case(&[&[0, 3], &[0, 3]])
            .case(&[&[7], &[7]])
    };
    // a source of another shape
    let mismatch = |r: Row| cases(r).err_case(&[&[3, 4], &[4, 3]]);
    vec![
        mismatch(r("axpby_", FLOAT, vec![X, X], AXPBY).many(|t| {
            let c = t[0].copy()?;
            c.axpby_(0.5, -1.5, &t[1])?;
            let d = t[0].copy()?;
            d.transpose(0, -1)?
                .detach()
                .axpby_(-2.0, 0.3, &t[1].transpose(0, -1)?)?;
            Ok(vec![c, d])
        })),
        // a source of another dtype is cast first
        mismatch(
            r("axpby_", FLOAT, vec![X, fixed(I64, Kind::Normal)], AXPBY).many(|t| {
                let c = t[0].copy()?;
                c.axpby_(1.0, 0.25, &t[1])?;
                Ok(vec![c])
            }),
        )
        .note("cast source"),
        cases(r("mul_scalar_", FLOAT, vec![X, X], E).many(|t| {
            let c = t[0].copy()?;
            c.mul_scalar_(-0.7)?;
            let d = t[1].copy()?;
            d.slice(-1, 1, usize::MAX, 2)?.detach().mul_scalar_(3.3)?;
            Ok(vec![c, d])
        })),
        cases(r("fill_", FLOAT, vec![X, X], E).many(|t| {
            let c = t[0].copy()?;
            c.fill_(2.5)?;
            let d = t[1].copy()?;
            d.slice(0, 0, usize::MAX, 2)?.detach().fill_(-1.25)?;
            Ok(vec![c, d])
        })),
        mismatch(r("assign_", NUM, vec![X, X], E).many(|t| {
            let c = t[0].copy()?;
            c.assign_(&t[1])?;
            let d = t[0].copy()?;
            d.transpose(0, -1)?
                .detach()
                .assign_(&t[1].transpose(0, -1)?)?;
            Ok(vec![c, d])
        })),
        mismatch(
            r("assign_", FLOAT, vec![X, fixed(I64, Kind::Wide)], E).many(|t| {
                let c = t[0].copy()?;
                c.assign_(&t[1])?;
                Ok(vec![c])
            }),
        )
        .note("cast source"),
    ]
}

/// Constructors: the dummy input only gives the device, the dtype and a size; the tensor is
/// built on the CPU and moved, or built directly on the device with `*_on`.
pub fn creation() -> Vec<Row> {
    let sizes = |r: Row| {
        r.no_views()
            .no_grad()
            .case(&[&[4]])
            .case(&[&[1]])
            .case(&[&[0]])
    };
    let shapes = |r: Row| {
        r.no_views()
            .no_grad()
            .case(&[&[2, 3]])
            .case(&[&[1, 1]])
            .case(&[&[0, 3]])
            .case(&[&[]])
    };
    vec![
        sizes(r("arange", ALL, vec![X], E).one(|t| {
            let end = -1.0 + 0.5 * t[0].numel() as f64;
            Tensor::arange(-1.0, end, 0.5, t[0].dtype())?.to_device(t[0].device())
        })),
        sizes(r("linspace", ALL, vec![X], E).one(|t| {
            Tensor::linspace(-1.0, 2.0, t[0].numel(), t[0].dtype())?.to_device(t[0].device())
        })),
        sizes(
            r("eye", ALL, vec![X], E)
                .one(|t| Tensor::eye(t[0].numel(), t[0].dtype())?.to_device(t[0].device())),
        ),
        shapes(
            r("full", ALL, vec![X], E)
                .one(|t| Tensor::full(t[0].shape(), 2.5, t[0].dtype())?.to_device(t[0].device())),
        ),
        shapes(
            r("full_on", ALL, vec![X], E)
                .one(|t| Tensor::full_on(t[0].shape(), -1.25, t[0].dtype(), t[0].device())),
        ),
        shapes(
            r("zeros", ALL, vec![X], E)
                .one(|t| Tensor::zeros(t[0].shape(), t[0].dtype())?.to_device(t[0].device())),
        ),
        shapes(
            r("zeros_on", ALL, vec![X], E)
                .one(|t| Tensor::zeros_on(t[0].shape(), t[0].dtype(), t[0].device())),
        ),
        shapes(
            r("ones", ALL, vec![X], E)
                .one(|t| Tensor::ones(t[0].shape(), t[0].dtype())?.to_device(t[0].device())),
        ),
        shapes(
            r("ones_on", ALL, vec![X], E)
                .one(|t| Tensor::ones_on(t[0].shape(), t[0].dtype(), t[0].device())),
        ),
        shapes(r("zeros_like", ALL, vec![X], E).one(|t| t[0].zeros_like())),
        shapes(r("ones_like", ALL, vec![X], E).one(|t| t[0].ones_like())),
        shapes(r("full_like", ALL, vec![X], E).one(|t| t[0].full_like(3.5))),
    ]
}
