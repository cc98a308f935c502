//! The table: matmul, convolution, unfold and fold, pooling.

use super::row::*;

pub fn linalg_nn() -> Vec<Row> {
    vec![
        // batch statistics: y, and the detached mean and biased variance; x (N, C, *), weight,
        // bias (C,). A batch of 0 or one value per channel has no variance to normalize by
        r("batch_norm_train", FLOAT, vec![X, X, X], SUM)
            .many(|t| {
                let (y, m, v) = t[0].batch_norm_train(Some(&t[1]), Some(&t[2]), 1e-5)?;
                Ok(vec![y, m, v])
            })
            .case(&[&[4, 3, 5], &[3], &[3]])
            .case(&[&[6, 2, 3, 4], &[2], &[2]])
            .case(&[&[7, 5], &[5], &[5]])
            .no_empty("no batch statistics without values")
            .no_size1("one value per channel has no variance")
            .err_case(&[&[0, 3, 5], &[3], &[3]])
            .err_case(&[&[1, 3], &[3], &[3]])
            .err_case(&[&[4, 3, 5], &[4], &[3]]),
        // given statistics (evaluation mode): x, mean, a variance made positive, weight, bias
        r("batch_norm_eval", FLOAT, vec![X, X, POS, X, X], SUM)
            .one(|t| t[0].batch_norm_eval(&t[1], &t[2], Some(&t[3]), Some(&t[4]), 1e-5))
            .case(&[&[4, 3, 5], &[3], &[3], &[3], &[3]])
            .case(&[&[1, 1], &[1], &[1], &[1], &[1]])
            .case(&[&[0, 3, 5], &[3], &[3], &[3], &[3]])
            .case(&[&[6, 2, 3, 4], &[2], &[2], &[2], &[2]])
            .err_case(&[&[4, 3, 5], &[2], &[3], &[3], &[3]]),
        r("matmul", FLOAT, vec![X, X], SUM)
            .one(|t| t[0].matmul(&t[1]))
            .case(&[&[3, 4], &[4, 5]])
            .case(&[&[4], &[4]])
            .case(&[&[3, 4], &[4]])
            .case(&[&[4], &[4, 5]])
            .case(&[&[2, 3, 4], &[4, 5]])
            .case(&[&[2, 1, 3, 4], &[3, 4, 2]])
            .case(&[&[1, 1], &[1, 1]])
            .case(&[&[0, 4], &[4, 5]])
            .case(&[&[3, 0], &[0, 5]])
            // past the CPU's thresholds for its packed AVX-512 kernel (32^3 products, N >= 16)
            // and for splitting the rows across threads (48^3 products)
            .case(&[&[2, 40, 36], &[36, 40]])
            // the packed kernel's edges: M, N and K off its 12 x 32 tiles; a batch of 9
            .case(&[&[2, 37, 45], &[45, 50]])
            .case(&[&[9, 20, 33], &[33, 40]])
            .case(&[&[50, 33], &[9, 33, 70]])
            .err_case(&[&[3, 4], &[5, 6]])
            .err_case(&[&[2, 3, 4], &[3, 4, 5]]),
        // NaN and infinities must land in the same places (0 * inf is NaN)
        r("matmul", FLOAT, vec![SPECIAL, SPECIAL], SUM)
            .one(|t| t[0].matmul(&t[1]))
            .note("specials")
            .case(&[&[3, 4], &[4, 5]])
            .case(&[&[2, 40, 36], &[36, 40]])
            .case(&[&[1, 1], &[1, 1]])
            .case(&[&[0, 4], &[4, 5]]),
        r("matmul", INT, vec![X, X], SUM)
            .one(|t| t[0].matmul(&t[1]))
            .note("int64")
            .err_case(&[&[2, 3], &[3, 2]]),
        // x (N, C, H, W), weight, bias; stride 1 runs the CPU's direct f32 kernels
        r("conv2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], Some(&t[2]), (1, 1), (1, 1), (1, 1), 1))
            .note("pad 1")
            .case(&[&[2, 3, 6, 5], &[4, 3, 3, 3], &[4]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1], &[1]])
            .case(&[&[0, 3, 5, 5], &[4, 3, 3, 3], &[4]])
            .case(&[&[2, 3, 5, 5], &[0, 3, 3, 3], &[0]])
            .err_case(&[&[2, 3, 5, 5], &[4, 2, 3, 3], &[4]])
            .err_case(&[&[2, 3, 5, 5], &[4, 3, 3, 3], &[3]]),
        // stride, dilation and groups: the im2col path
        r("conv2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], Some(&t[2]), (2, 1), (0, 1), (1, 2), 2))
            .note("strided grouped")
            .case(&[&[2, 4, 7, 6], &[6, 2, 3, 2], &[6]])
            .case(&[&[0, 4, 7, 6], &[6, 2, 3, 2], &[6]])
            .case(&[&[1, 2, 3, 2], &[2, 1, 3, 2], &[2]])
            .no_size1("two groups need two channels")
            .err_case(&[&[2, 3, 7, 6], &[6, 2, 3, 2], &[6]]),
        r("conv2d", FLOAT, vec![X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], None, (1, 1), (0, 0), (1, 1), 1))
            .note("no bias")
            .case(&[&[2, 3, 7, 7], &[5, 3, 3, 3]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1]])
            .case(&[&[2, 0, 4, 4], &[3, 0, 2, 2]])
            .err_case(&[&[2, 3, 2, 2], &[5, 3, 3, 3]]),
        // larger images: the direct kernels' row tiles (rows of up to 16 and of more outputs),
        // 5x5 kernels, 16 channels (the transposed weight-gradient kernel)
        r("conv2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], Some(&t[2]), (1, 1), (2, 2), (1, 1), 1))
            .note("large")
            .case(&[&[2, 4, 20, 19], &[8, 4, 5, 5], &[8]])
            .case(&[&[1, 3, 9, 40], &[5, 3, 5, 5], &[5]])
            .case(&[&[2, 16, 8, 8], &[16, 16, 5, 5], &[16]])
            .no_empty("the small rows have them")
            .no_size1("the small rows have them"),
        // more than 384 taps at stride 2: the GEMM's K blocking
        r("conv2d", FLOAT, vec![X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], None, (2, 2), (1, 1), (1, 1), 1))
            .note("deep")
            .case(&[&[2, 48, 7, 7], &[6, 48, 3, 3]])
            .no_empty("the small rows have them")
            .no_size1("the small rows have them"),
        // a 1x1 kernel with padding 1: direct forward, but no direct input gradient (p >= k)
        r("conv2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], Some(&t[2]), (1, 1), (1, 1), (1, 1), 1))
            .note("1x1 pad 1")
            .case(&[&[2, 3, 4, 5], &[2, 3, 1, 1], &[2]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1], &[1]])
            // empty planes: the padding alone gives outputs
            .case(&[&[2, 3, 0, 5], &[2, 3, 1, 1], &[2]])
            .case(&[&[1, 2, 3, 0], &[2, 2, 1, 1], &[2]]),
        // 72 channels x 3x3 = 648 taps: past the direct kernels' 640, im2col at stride 1
        r("conv2d", FLOAT, vec![X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], None, (1, 1), (1, 1), (1, 1), 1))
            .note("many taps")
            .case(&[&[1, 72, 4, 4], &[2, 72, 3, 3]])
            .case(&[&[0, 72, 4, 4], &[2, 72, 3, 3]])
            .no_size1("the point is the channel count"),
        r("conv2d", FLOAT, vec![SPECIAL, X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], Some(&t[2]), (1, 1), (1, 1), (1, 1), 1))
            .note("specials")
            .case(&[&[2, 3, 6, 5], &[4, 3, 3, 3], &[4]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1], &[1]])
            .case(&[&[0, 3, 5, 5], &[4, 3, 3, 3], &[4]]),
        r("conv2d", INT, vec![X, X], SUM)
            .one(|t| t[0].conv2d(&t[1], None, (1, 1), (0, 0), (1, 1), 1))
            .note("int64")
            .err_case(&[&[1, 1, 3, 3], &[1, 1, 2, 2]]),
        // im2col copies values (zeros over the padding): exact
        r("unfold2d", FLOAT, vec![X], E)
            .one(|t| t[0].unfold2d((3, 3), (2, 1), (1, 1), (1, 1)))
            .case(&[&[2, 3, 6, 5]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 2, 4, 4]])
            .case(&[&[2, 0, 4, 4]])
            .err_case(&[&[1, 2, 0, 3]]),
        r("unfold2d", FLOAT, vec![X], E)
            .one(|t| t[0].unfold2d((2, 2), (1, 2), (0, 1), (2, 1)))
            .note("dilated")
            .case(&[&[2, 3, 5, 6]])
            .case(&[&[1, 2, 3, 0]])
            .case(&[&[1, 1, 3, 1]])
            .case(&[&[0, 3, 5, 6]])
            .no_size1("a dilated window spans 3 rows")
            .err_case(&[&[1, 1, 2, 2]]),
        // col2im sums overlapping windows
        r("fold2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].fold2d((5, 6), (3, 3), (2, 1), (1, 1), (1, 1)))
            .case(&[&[2, 18, 18]])
            .case(&[&[0, 18, 18]])
            .case(&[&[1, 9, 18]])
            .no_size1("a 3x3 kernel needs 9 rows per channel")
            .err_case(&[&[2, 18, 17]]),
        // dilated, stride 1: windows overlap with gaps; (5 + 2 - 3)/1 + 1 = 5 by (6 - 3)/1 + 1 = 4
        r("fold2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].fold2d((5, 6), (2, 2), (1, 1), (1, 0), (2, 2)))
            .note("dilated")
            .case(&[&[2, 12, 20]])
            .case(&[&[0, 4, 20]])
            .no_size1("a 2x2 kernel needs 4 rows per channel"),
        r("fold2d", FLOAT, vec![X], E)
            .one(|t| t[0].fold2d((1, 1), (1, 1), (1, 1), (0, 0), (1, 1)))
            .note("1x1")
            .case(&[&[1, 1, 1]])
            .case(&[&[3, 2, 1]])
            .case(&[&[0, 2, 1]]),
        r("fold2d", FLOAT, vec![X], E)
            .one(|t| t[0].fold2d((0, 3), (1, 1), (1, 1), (1, 1), (1, 1)))
            .note("empty image")
            .case(&[&[2, 3, 10]])
            .case(&[&[0, 3, 10]])
            .no_size1("windows over padding only: 2 by 5 of them"),
        // unfold + batched matmul
        r("locally_connected2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].locally_connected2d(&t[1], Some(&t[2]), (1, 1), (0, 0)))
            .case(&[&[2, 3, 5, 5], &[3, 3, 4, 3, 3, 3], &[4, 3, 3]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1, 1, 1], &[1, 1, 1]])
            .case(&[&[0, 3, 5, 5], &[3, 3, 4, 3, 3, 3], &[4, 3, 3]])
            .err_case(&[&[2, 3, 5, 5], &[2, 2, 4, 3, 3, 3], &[4, 2, 2]]),
        // max pooling selects (exact); its gradient adds into overlapping windows (SUM)
        r("max_pool2d", FLOAT, vec![DISTINCT], E)
            .one(|t| t[0].max_pool2d((3, 3), (2, 2), (1, 1), (1, 1), true))
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]])
            .case(&[&[3, 7, 6]])
            .err_case(&[&[7, 6]]),
        r("max_pool2d", FLOAT, vec![FEW], E)
            .one(|t| t[0].max_pool2d((3, 3), (2, 2), (1, 1), (1, 1), false))
            .note("ties")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[2, 0, 5, 5]]),
        r("max_pool2d", FLOAT, vec![SPECIAL], E)
            .one(|t| t[0].max_pool2d((2, 2), (2, 2), (0, 0), (1, 1), false))
            .note("2x2 specials")
            .case(&[&[2, 3, 6, 8]])
            .case(&[&[1, 2, 6, 37]])
            .case(&[&[1, 1, 2, 2]])
            .case(&[&[3, 5, 5]])
            .case(&[&[0, 2, 4, 4]])
            .no_size1("a 2x2 window needs 2x2 planes"),
        r("max_pool2d", FLOAT, vec![DISTINCT], E)
            .one(|t| t[0].max_pool2d((2, 3), (1, 2), (1, 1), (2, 1), false))
            .note("dilated")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 2, 3]])
            .case(&[&[0, 1, 4, 4]])
            .no_size1("a dilated window spans 3 rows"),
        r("max_pool2d_with_indices", FLOAT, vec![FEW], E)
            .many(|t| {
                let (y, i) = t[0].max_pool2d_with_indices((3, 3), (2, 2), (1, 1), (1, 1), false)?;
                Ok(vec![y, i])
            })
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]])
            .case(&[&[3, 6, 6]]),
        r("avg_pool2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].avg_pool2d((3, 3), (2, 2), (1, 1), true, true))
            .note("ceil, count pad")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]])
            .case(&[&[3, 7, 6]])
            .err_case(&[&[1, 1, 1, 1, 1]]),
        r("max_pool2d_with_indices", FLOAT, vec![SPECIAL], E)
            .many(|t| {
                let (y, i) = t[0].max_pool2d_with_indices((3, 2), (1, 2), (1, 1), (1, 1), true)?;
                Ok(vec![y, i])
            })
            .note("specials")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]]),
        // empty planes are refused, as in PyTorch (only the batch may be empty)
        r("max_pool2d_with_indices", FLOAT, vec![X], E)
            .many(|t| {
                let (y, i) = t[0].max_pool2d_with_indices((2, 2), (1, 1), (1, 1), (1, 1), false)?;
                Ok(vec![y, i])
            })
            .note("empty planes")
            .case(&[&[0, 2, 3, 3]])
            .case(&[&[1, 1, 1, 1]])
            .err_case(&[&[1, 2, 0, 3]])
            .err_case(&[&[2, 0, 3]]),
        r("avg_pool2d", FLOAT, vec![X], SUM)
            .many(|t| {
                let a = t[0].avg_pool2d((2, 2), (1, 1), (1, 1), false, true)?;
                let b = t[0].avg_pool2d((2, 2), (1, 1), (1, 1), false, false)?;
                Ok(vec![a, b])
            })
            .note("empty planes")
            .case(&[&[0, 2, 3, 3]])
            .case(&[&[1, 1, 1, 1]])
            .err_case(&[&[1, 2, 0, 3]])
            .err_case(&[&[2, 0, 3]]),
        r("avg_pool2d", FLOAT, vec![SPECIAL], SUM)
            .one(|t| t[0].avg_pool2d((2, 2), (2, 2), (0, 0), false, true))
            .note("specials")
            .case(&[&[2, 3, 6, 7]])
            .case(&[&[1, 1, 2, 2]])
            .case(&[&[0, 3, 4, 4]])
            .no_size1("a 2x2 window needs 2x2 planes"),
        r("avg_pool2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].avg_pool2d((3, 2), (2, 1), (1, 1), false, false))
            .note("exclude pad")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[2, 0, 4, 4]])
            .err_case(&[&[6, 6]]),
        r("adaptive_avg_pool2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].adaptive_avg_pool2d((3, 4)))
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]])
            .case(&[&[3, 5, 9]])
            .err_case(&[&[2, 3, 0, 4]]),
        // the output transposed, so that the gradient reaching each fused backward kernel is a
        // strided view rather than fresh contiguous memory
        r("conv2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| {
                t[0].conv2d(&t[1], Some(&t[2]), (1, 1), (1, 1), (1, 1), 1)?
                    .transpose(2, 3)
            })
            .note("strided grad")
            .case(&[&[2, 3, 6, 5], &[4, 3, 3, 3], &[4]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1], &[1]])
            .case(&[&[0, 3, 5, 5], &[4, 3, 3, 3], &[4]]),
        r("conv2d", FLOAT, vec![X, X], SUM)
            .one(|t| {
                t[0].conv2d(&t[1], None, (2, 1), (0, 1), (1, 2), 1)?
                    .permute([1, 3, 0, 2])
            })
            .note("strided grad")
            .note("strided grad, im2col")
            .case(&[&[2, 3, 7, 6], &[4, 3, 3, 2]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5], &[4, 3, 3, 3]]),
        r("max_pool2d", FLOAT, vec![DISTINCT], E)
            .one(|t| {
                t[0].max_pool2d((3, 3), (2, 2), (1, 1), (1, 1), true)?
                    .transpose(-1, -2)
            })
            .note("strided grad")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]]),
        r("avg_pool2d", FLOAT, vec![X], SUM)
            .one(|t| {
                t[0].avg_pool2d((3, 3), (2, 2), (1, 1), true, false)?
                    .transpose(-1, -2)
            })
            .note("strided grad")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]]),
        r("adaptive_avg_pool2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].adaptive_avg_pool2d((3, 4))?.transpose(-1, -2))
            .note("strided grad")
            .case(&[&[2, 3, 7, 6]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5]]),
        r("unfold2d", FLOAT, vec![X], E)
            .one(|t| {
                t[0].unfold2d((3, 3), (2, 1), (1, 1), (1, 1))?
                    .transpose(1, 2)
            })
            .note("strided grad")
            .case(&[&[2, 3, 6, 5]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 2, 4, 4]]),
        r("fold2d", FLOAT, vec![X], SUM)
            .one(|t| {
                t[0].fold2d((5, 6), (3, 3), (2, 1), (1, 1), (1, 1))?
                    .transpose(2, 3)
            })
            .note("strided grad")
            .case(&[&[2, 18, 18]])
            .case(&[&[0, 18, 18]])
            .no_size1("a 3x3 kernel needs 9 rows per channel"),
        r("matmul", FLOAT, vec![X, X], SUM)
            .one(|t| t[0].matmul(&t[1])?.transpose(-1, -2))
            .note("strided grad")
            .case(&[&[3, 4], &[4, 5]])
            .case(&[&[2, 1, 3, 4], &[3, 4, 2]])
            .case(&[&[1, 1], &[1, 1]])
            .case(&[&[0, 4], &[4, 5]]),
        r("gather", FLOAT, vec![X, idx(0, 1)], E)
            .one(|t| t[0].gather(1, &t[1])?.t())
            .note("strided grad")
            .case(&[&[3, 4], &[2, 6]])
            .case(&[&[1, 1], &[1, 1]])
            .case(&[&[0, 4], &[0, 2]]),
        r("index_select", FLOAT, vec![X, idx(0, 0)], E)
            .one(|t| t[0].index_select(0, &t[1])?.t())
            .note("strided grad")
            .case(&[&[4, 3], &[5]])
            .case(&[&[1, 1], &[1]])
            .case(&[&[0, 3], &[0]]),
        r("scatter_add", FLOAT, vec![X, idx(0, 0), X], SUM)
            .one(|t| t[0].scatter_add(0, &t[1], &t[2])?.t())
            .note("strided grad")
            .case(&[&[3, 4], &[5, 3], &[6, 4]])
            .case(&[&[1, 1], &[1, 1], &[1, 1]])
            .case(&[&[0, 4], &[0, 4], &[0, 4]]),
    ]
}
