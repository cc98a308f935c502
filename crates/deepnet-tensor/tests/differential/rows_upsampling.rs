//! The table: the ops that enlarge images, transposed convolution and resizing.

use super::row::*;

pub fn upsampling() -> Vec<Row> {
    vec![
        // x (N, C_in, H, W), weight (C_in, C_out / groups, kH, kW), bias; stride 2: the CPU runs
        // conv2d's im2col input gradient, and the adjoint conv2d and its weight gradient backward
        r("conv_transpose2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].conv_transpose2d(&t[1], Some(&t[2]), (2, 2), (1, 1), (1, 1), 1, (1, 1)))
            .note("stride 2, output_padding 1")
            .case(&[&[2, 4, 5, 4], &[4, 3, 4, 4], &[3]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 3, 3], &[1]])
            .case(&[&[0, 4, 5, 4], &[4, 3, 4, 4], &[3]])
            .case(&[&[2, 0, 3, 3], &[0, 3, 4, 4], &[3]])
            .err_case(&[&[2, 3, 5, 4], &[4, 3, 4, 4], &[3]])
            .err_case(&[&[2, 4, 5, 4], &[4, 3, 4, 4], &[4]]),
        // stride 1: the direct f32 kernels (input gradient forward, correlation backward)
        r("conv_transpose2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].conv_transpose2d(&t[1], Some(&t[2]), (1, 1), (1, 1), (0, 0), 1, (1, 1)))
            .note("stride 1")
            .case(&[&[2, 3, 6, 5], &[3, 4, 3, 3], &[4]])
            .case(&[&[2, 16, 9, 20], &[16, 8, 5, 5], &[8]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 3, 3], &[1]])
            .case(&[&[0, 3, 6, 5], &[3, 4, 3, 3], &[4]])
            // padding 1 on a 1x1 kernel crops below one row
            .err_case(&[&[1, 3, 1, 1], &[3, 4, 1, 1], &[4]]),
        // non-square everything, two groups
        r("conv_transpose2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| t[0].conv_transpose2d(&t[1], Some(&t[2]), (2, 1), (0, 1), (1, 0), 2, (1, 2)))
            .note("grouped, rectangular")
            .case(&[&[2, 4, 4, 5], &[4, 3, 3, 2], &[6]])
            .case(&[&[1, 2, 1, 1], &[2, 1, 1, 2], &[2]])
            .case(&[&[0, 4, 4, 5], &[4, 3, 3, 2], &[6]])
            .no_size1("two groups need two channels")
            .err_case(&[&[2, 3, 4, 5], &[3, 3, 3, 2], &[6]]),
        // output_padding 1 at stride 1, allowed by dilation 2: the adjoint convolution has
        // fewer outputs than windows fit (its direct kernels must not be used)
        r("conv_transpose2d", FLOAT, vec![X, X], SUM)
            .one(|t| t[0].conv_transpose2d(&t[1], None, (1, 1), (0, 0), (1, 1), 1, (2, 2)))
            .note("output_padding >= stride")
            .case(&[&[2, 3, 5, 5], &[3, 2, 2, 3]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 1, 1]])
            .case(&[&[0, 3, 5, 5], &[3, 2, 2, 3]]),
        // the output transposed: a strided gradient reaches both backward kernels
        r("conv_transpose2d", FLOAT, vec![X, X, X], SUM)
            .one(|t| {
                t[0].conv_transpose2d(&t[1], Some(&t[2]), (2, 2), (1, 1), (0, 0), 1, (1, 1))?
                    .transpose(2, 3)
            })
            .note("strided grad")
            .case(&[&[2, 3, 4, 5], &[3, 2, 4, 4], &[2]])
            .case(&[&[1, 1, 1, 1], &[1, 1, 3, 3], &[1]])
            .case(&[&[0, 3, 4, 5], &[3, 2, 4, 4], &[2]]),
        r("conv_transpose2d", INT, vec![X, X], SUM)
            .one(|t| t[0].conv_transpose2d(&t[1], None, (1, 1), (0, 0), (0, 0), 1, (1, 1)))
            .note("int64")
            .err_case(&[&[1, 1, 3, 3], &[1, 1, 2, 2]]),
        // nearest copies values (exact); its gradient sums the copies
        r("upsample_nearest2d", FLOAT, vec![X], E)
            .one(|t| t[0].upsample_nearest2d((7, 5), None))
            .note("to 7x5")
            .case(&[&[2, 3, 4, 3]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 4, 3]])
            .case(&[&[1, 2, 9, 11]])
            .err_case(&[&[3, 4, 3]])
            .err_case(&[&[2, 0, 4, 3]]),
        r("upsample_nearest2d", FLOAT, vec![X], E)
            .one(|t| {
                let d = t[0].dims();
                t[0].upsample_nearest2d((2 * d[2], 2 * d[3]), Some((2.0, 2.0)))?
                    .transpose(2, 3)
            })
            .note("x2, strided grad")
            .case(&[&[2, 3, 4, 3]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 4, 3]]),
        r("upsample_bilinear2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].upsample_bilinear2d((7, 5), false, None))
            .note("to 7x5")
            .case(&[&[2, 3, 4, 3]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 4, 3]])
            .case(&[&[1, 2, 9, 11]])
            .err_case(&[&[3, 4, 3]]),
        r("upsample_bilinear2d", FLOAT, vec![X], SUM)
            .one(|t| {
                let d = t[0].dims();
                t[0].upsample_bilinear2d((2 * d[2] + 1, 3 * d[3]), true, None)?
                    .transpose(2, 3)
            })
            .note("align_corners, strided grad")
            .case(&[&[2, 3, 4, 3]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 4, 3]]),
        r("upsample_bilinear2d", FLOAT, vec![X], SUM)
            .one(|t| t[0].upsample_bilinear2d((5, 4), false, Some((1.7, 1.3))))
            .note("scale factors")
            .case(&[&[2, 3, 3, 3]])
            .case(&[&[1, 1, 1, 1]])
            .case(&[&[0, 3, 3, 3]]),
        r("upsample_nearest2d", INT, vec![X], E)
            .one(|t| t[0].upsample_nearest2d((4, 4), None))
            .note("int64")
            .err_case(&[&[1, 1, 2, 2]]),
    ]
}
