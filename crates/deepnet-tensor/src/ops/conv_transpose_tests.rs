use crate::testing::{gradcheck, seeded};
use crate::{DType, Tensor};

/// `(stride, padding, output_padding, groups, dilation)`, square.
type Params = (usize, usize, usize, usize, usize);

fn convt(t: &[Tensor], (s, p, op, g, d): Params) -> crate::Result<Tensor> {
    t[0].conv_transpose2d(&t[1], t.get(2), (s, s), (p, p), (op, op), g, (d, d))
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn by_hand() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [1, 1, 2, 2]).unwrap();
    let ones = Tensor::ones([1, 1, 2, 2], DType::F64).unwrap();
    // stride 1: every input spreads over a 2x2 block; overlaps add
    let y = x
        .conv_transpose2d(&ones, None, (1, 1), (0, 0), (0, 0), 1, (1, 1))
        .unwrap();
    assert_eq!(y.dims(), [1, 1, 3, 3]);
    assert_eq!(
        y.to_vec::<f64>().unwrap(),
        [1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]
    );
    // stride 2: disjoint blocks (nearest upsampling by 2); output_padding 1 adds a last row
    // and column that hold only the bias
    let b = Tensor::from_vec(vec![0.5f64], [1]).unwrap();
    let y = x
        .conv_transpose2d(&ones, Some(&b), (2, 2), (0, 0), (1, 1), 1, (1, 1))
        .unwrap();
    assert_eq!(y.dims(), [1, 1, 5, 5]);
    let v = y.to_vec::<f64>().unwrap();
    assert_eq!(&v[..5], &[1.5, 1.5, 2.5, 2.5, 0.5]);
    assert_eq!(&v[10..15], &[3.5, 3.5, 4.5, 4.5, 0.5]);
    assert_eq!(&v[20..], &[0.5; 5]);
    // padding 1 crops one row and column on each side
    let y = x
        .conv_transpose2d(&ones, None, (1, 1), (1, 1), (0, 0), 1, (1, 1))
        .unwrap();
    assert_eq!(y.to_vec::<f64>().unwrap(), [10.0]);
}

/// `<conv2d(a, w), b> = <a, conv_transpose2d(b, w)>`: the two ops are adjoint.
#[test]
fn adjoint_of_conv2d() {
    // (b: the transposed op's input, w, params)
    let cases: [(&[usize], &[usize], Params); 4] = [
        (&[2, 6, 4, 5], &[6, 2, 3, 3], (2, 1, 0, 2, 1)),
        (&[1, 2, 4, 3], &[2, 3, 4, 3], (2, 1, 1, 1, 1)),
        (&[2, 3, 5, 5], &[3, 2, 3, 3], (1, 2, 0, 1, 2)),
        // output_padding 1 with stride 1 (allowed by dilation 2): conv2d of the output has one
        // window more than `b` has rows and columns, which the transposed op never reads
        (&[1, 2, 6, 6], &[2, 2, 2, 2], (1, 0, 1, 1, 2)),
    ];
    for (i, (bd, wd, (s, p, op, g, d))) in cases.into_iter().enumerate() {
        let i = i as u64;
        let (b, w) = (seeded(bd.to_vec(), i), seeded(wd.to_vec(), 10 + i));
        let t = b
            .conv_transpose2d(&w, None, (s, s), (p, p), (op, op), g, (d, d))
            .unwrap();
        let a = seeded(t.dims().to_vec(), 20 + i);
        let full = a.conv2d(&w, None, (s, s), (p, p), (d, d), g).unwrap();
        let extra = op / s;
        assert_eq!(full.dims()[2], bd[2] + extra, "case {i}");
        let y = full
            .narrow(2, 0, bd[2])
            .unwrap()
            .narrow(3, 0, bd[3])
            .unwrap();
        let dot = |u: &Tensor, v: &Tensor| u.mul(v).unwrap().sum_all().unwrap().item().unwrap();
        let (lhs, rhs) = (dot(&y, &b), dot(&a, &t));
        assert!(
            (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
            "case {i}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn gradients() {
    // (x, weight, bias, params)
    let cases: [(&[usize], &[usize], bool, Params); 6] = [
        (&[2, 3, 4, 3], &[3, 2, 3, 3], true, (1, 0, 0, 1, 1)),
        (&[2, 2, 3, 3], &[2, 3, 3, 3], true, (2, 1, 1, 1, 1)),
        (&[1, 4, 3, 4], &[4, 2, 2, 3], true, (2, 0, 1, 2, 1)),
        (&[2, 2, 3, 3], &[2, 2, 3, 2], false, (1, 1, 0, 1, 2)),
        (&[1, 2, 3, 3], &[2, 1, 2, 2], true, (1, 0, 1, 1, 2)),
        (&[2, 2, 2, 2], &[2, 3, 1, 1], true, (3, 0, 2, 1, 1)),
    ];
    for (i, (xs, ws, bias, params)) in cases.into_iter().enumerate() {
        let i = i as u64;
        let mut inputs = vec![seeded(xs.to_vec(), i), seeded(ws.to_vec(), 10 + i)];
        if bias {
            inputs.push(seeded([ws[1] * params.3], 20 + i));
        }
        gradcheck("conv_transpose2d", |t| convt(t, params), &inputs).unwrap();
    }
    // non-square stride, padding and kernel, and a permuted (non-contiguous) input
    gradcheck(
        "conv_transpose2d_rect",
        |t| {
            t[0].permute([0, 3, 1, 2])?.conv_transpose2d(
                &t[1],
                Some(&t[2]),
                (2, 1),
                (1, 0),
                (1, 0),
                1,
                (1, 2),
            )
        },
        &[
            seeded([2, 3, 4, 2], 7),
            seeded([2, 3, 3, 2], 8),
            seeded([3], 9),
        ],
    )
    .unwrap();
}

#[test]
fn f32_agrees_with_f64_and_empty_batch() {
    let x = seeded([3, 8, 7, 7], 1);
    let w = seeded([8, 4, 4, 4], 2);
    let b = seeded([4], 3);
    let p: Params = (2, 1, 0, 1, 1);
    let y = convt(&[x.clone(), w.clone(), b.clone()], p).unwrap();
    assert_eq!(y.dims(), [3, 4, 14, 14]);
    let f = |t: &Tensor| t.to_f32().unwrap();
    let y32 = convt(&[f(&x), f(&w), f(&b)], p).unwrap();
    assert_eq!(y32.dtype(), DType::F32);
    assert!(close(&y32.to_vec_f64(), &y.to_vec_f64(), 1e-4));
    let e = convt(
        &[Tensor::zeros([0, 8, 7, 7], DType::F32).unwrap(), f(&w)],
        p,
    )
    .unwrap();
    assert_eq!(e.dims(), [0, 4, 14, 14]);
}

#[test]
fn errors_name_op_shapes_and_arithmetic() {
    let z = |s: &[usize]| Tensor::zeros(s.to_vec(), DType::F32).unwrap();
    let e = |r: crate::Result<Tensor>| r.unwrap_err().to_string();
    let c = |x: &[usize], w: &[usize], b: Option<&[usize]>, p: Params| {
        let b = b.map(z);
        e(z(x).conv_transpose2d(
            &z(w),
            b.as_ref(),
            (p.0, p.0),
            (p.1, p.1),
            (p.2, p.2),
            p.3,
            (p.4, p.4),
        ))
    };
    assert_eq!(
        c(&[1, 5, 4, 4], &[3, 2, 3, 3], None, (1, 0, 0, 1, 1)),
        "conv_transpose2d: input [1, 5, 4, 4] has 5 channels but weight [3, 2, 3, 3] expects 3 \
         (a transposed convolution's weight is (C_in, C_out / groups, kH, kW))"
    );
    assert_eq!(
        c(&[1, 4, 4, 4], &[4, 2, 3, 3], Some(&[2]), (1, 0, 0, 2, 1)),
        "conv_transpose2d: bias has shape [2] but weight [4, 2, 3, 3] with groups 2 gives 4 \
         output channels (expected [4])"
    );
    assert_eq!(
        c(&[1, 3, 4, 4], &[3, 2, 3, 3], None, (2, 0, 2, 1, 1)),
        "conv_transpose2d: output_padding 2x2 must be smaller than either the stride 2x2 or the \
         dilation 1x1 (along each axis)"
    );
    assert_eq!(
        c(&[1, 3, 1, 1], &[3, 2, 3, 3], None, (1, 2, 0, 1, 1)),
        "conv_transpose2d: (1 - 1)*1 - 2*2 + 1*(3 - 1) + 0 + 1 = -1 output rows, fewer than 1 \
         (the padding 2 is too large for the input size 1)"
    );
    assert!(c(&[1, 3, 4, 4], &[3, 2, 3, 3], None, (1, 0, 0, 2, 1)).contains("groups 2 must divide"));
    assert!(c(&[1, 3, 4, 4], &[3, 2, 3, 3], None, (0, 0, 0, 1, 1)).contains("at least 1"));
    assert!(c(&[1, 3, 0, 4], &[3, 2, 3, 3], None, (1, 0, 0, 1, 1)).contains("must not be empty"));
    assert!(c(&[3, 4, 4], &[3, 2, 3, 3], None, (1, 0, 0, 1, 1)).contains("(N, C_in, H, W)"));
    let w64 = Tensor::zeros([3, 2, 3, 3], DType::F64).unwrap();
    let r = z(&[1, 3, 4, 4]).conv_transpose2d(&w64, None, (1, 1), (0, 0), (0, 0), 1, (1, 1));
    assert!(e(r).contains("dtype"));
}
