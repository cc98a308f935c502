//! Tests of the im2col + GEMM convolution and of the direct kernels against the plain nested-loop
//! definition.

use super::*;
use crate::cpu::im2col::strided_table;
use crate::Generator;

fn rand(n: usize, seed: u64) -> Vec<f64> {
    let mut g = Generator::new(seed);
    (0..n).map(|_| g.next_normal()).collect()
}

fn geom(
    n: usize,
    c: usize,
    hw: (usize, usize),
    k: (usize, usize),
    s: usize,
    p: usize,
    d: usize,
) -> Geom {
    let out = |i: usize, k: usize| (i + 2 * p - d * (k - 1) - 1) / s + 1;
    Geom {
        n,
        c,
        h: hw.0,
        w: hw.1,
        kh: k.0,
        kw: k.1,
        sh: s,
        sw: s,
        ph: p,
        pw: p,
        dh: d,
        dw: d,
        ho: out(hw.0, k.0),
        wo: out(hw.1, k.1),
    }
}

/// The fast path against the direct loops on assorted geometries, and its input and weight
/// gradients against the adjoint identity <conv(x), gy> = <x, dx> = <w, dw>.
#[test]
fn fast_path_matches_direct_loops() {
    let cases = [
        (geom(3, 4, (7, 6), (3, 3), 1, 0, 1), 1, 5),
        (geom(2, 3, (9, 8), (3, 2), 2, 1, 1), 1, 4),
        (geom(2, 4, (9, 9), (3, 3), 1, 2, 2), 2, 6),
        (geom(5, 6, (5, 7), (2, 3), 2, 1, 2), 3, 3),
        (geom(2, 4, (5, 5), (1, 1), 1, 0, 1), 2, 4),
        (geom(1, 2, (6, 6), (3, 3), 3, 1, 1), 1, 2),
        (geom(17, 2, (4, 4), (2, 2), 1, 0, 1), 1, 3),
        // stride 2 on a plane too large for the offset table (`strided_table`): row by row
        (geom(1, 1, (131, 130), (3, 3), 2, 1, 1), 1, 2),
    ];
    for (i, &(g, groups, cout)) in cases.iter().enumerate() {
        assert_eq!(strided_table(&g), g.sw != 1 && g.h < 100, "case {i}");
        let x = rand(g.n * g.chw(), i as u64);
        let w = rand(cout * g.k(g.c / groups), 100 + i as u64);
        let b = rand(cout, 200 + i as u64);
        for bias in [None, Some(&b[..])] {
            let want = conv2d_direct(&g, groups, cout, &x, &w, bias);
            let got = conv2d(&g, groups, cout, &x, &w, bias);
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-10, "case {i}: {a} vs {b}");
            }
        }
        let gy = rand(g.n * cout * g.l(), 300 + i as u64);
        let (dx, dw) = conv2d_backward(&g, groups, cout, &x, &w, &gy, true, true);
        let (dx, dw) = (dx.unwrap(), dw.unwrap());
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        // linearity in x and in w: <conv(x, w), gy> = <x, dx> = <w, dw>
        let y = conv2d_direct(&g, groups, cout, &x, &w, None);
        let lhs = dot(&y, &gy);
        assert!(
            (lhs - dot(&x, &dx)).abs() < 1e-9 * (1.0 + lhs.abs()),
            "case {i} dx"
        );
        assert!(
            (lhs - dot(&w, &dw)).abs() < 1e-9 * (1.0 + lhs.abs()),
            "case {i} dw"
        );
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // stride 1 (the direct kernels where the CPU has them), and stride 2 with 5x5 outputs
    // (im2col with the column matrices of up to 11 images side by side, batches of 19 and 40
    // splitting into uneven products)
    for (n, s) in [(19, 1), (19, 2), (40, 2)] {
        let g = geom(n, 4, (9, 9), (3, 3), s, 1, 1);
        let x: Vec<f32> = rand(g.n * g.chw(), 1).iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = rand(8 * g.k(4), 2).iter().map(|&v| v as f32).collect();
        let gy: Vec<f32> = rand(g.n * 8 * g.l(), 3).iter().map(|&v| v as f32).collect();
        let run = || {
            let y = conv2d(&g, 1, 8, &x, &w, None);
            let (dx, dw) = conv2d_backward(&g, 1, 8, &x, &w, &gy, true, true);
            (y, dx.unwrap(), dw.unwrap())
        };
        let one = crate::with_num_threads(1, run).unwrap();
        let two = crate::with_num_threads(2, run).unwrap();
        let three = crate::with_num_threads(3, run).unwrap();
        assert!(one == two && two == three, "{n} images, stride {s}");
    }
    // the LeNet and small-CNN layer shapes (the packed f32 products, bias, max pooling)
    for (g, cout) in [
        (geom(37, 1, (28, 28), (5, 5), 1, 2, 1), 6),
        (geom(21, 6, (14, 14), (5, 5), 1, 0, 1), 16),
        (geom(19, 32, (16, 16), (3, 3), 1, 1, 1), 64),
    ] {
        let x: Vec<f32> = rand(g.n * g.chw(), 4).iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = rand(cout * g.k(g.c), 5).iter().map(|&v| v as f32).collect();
        let b: Vec<f32> = rand(cout, 6).iter().map(|&v| v as f32).collect();
        let gy: Vec<f32> = rand(g.n * cout * g.l(), 7)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let run = || {
            let y = conv2d(&g, 1, cout, &x, &w, Some(&b));
            let (dx, dw) = conv2d_backward(&g, 1, cout, &x, &w, &gy, true, true);
            let mut pg = g;
            (pg.n, pg.c, pg.h, pg.w) = (g.n * cout, 1, g.ho, g.wo);
            (pg.kh, pg.kw, pg.sh, pg.sw, pg.ph, pg.pw) = (2, 2, 2, 2, 0, 0);
            (pg.ho, pg.wo) = (g.ho / 2, g.wo / 2);
            let (p, idx) = super::super::pool::max_pool(&pg, &y);
            let dp = super::super::pool::max_pool_backward(&pg, &idx, &p).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (
                bits(&y),
                bits(&dx.unwrap()),
                bits(&dw.unwrap()),
                bits(&dp),
                idx,
            )
        };
        let one = crate::with_num_threads(1, run).unwrap();
        let two = crate::with_num_threads(2, run).unwrap();
        assert!(one == two, "{g:?}");
        // and the f32 result agrees with the f64 one
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let w64: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
        let want = conv2d_direct(&g, 1, cout, &x64, &w64, Some(&b64));
        let y = conv2d(&g, 1, cout, &x, &w, Some(&b));
        for (a, r) in y.iter().zip(&want) {
            assert!((*a as f64 - r).abs() < 1e-3, "{g:?}: {a} vs {r}");
        }
    }
}

/// Release-mode timing of the forward pass, the input gradient and the weight gradient on
/// im2col + GEMM and on the direct kernels, for the LeNet and small-CNN layers: the
/// measurements behind `conv_direct::plan` (run with
/// `cargo test --release -p deepnet-tensor --lib conv2d_timing -- --ignored --nocapture`).
#[test]
#[ignore]
#[cfg(target_arch = "x86_64")]
fn conv2d_timing() {
    use super::super::conv_direct::forced;
    let time = |name: &str, g: Geom, cout: usize| {
        let x: Vec<f32> = rand(g.n * g.chw(), 1).iter().map(|&v| v as f32).collect();
        let w: Vec<f32> = rand(cout * g.k(g.c), 2)
            .iter()
            .map(|&v| v as f32 * 0.1)
            .collect();
        let b = vec![0.1f32; cout];
        let gy = vec![1.0f32; g.n * cout * g.l()];
        let best = |f: &dyn Fn()| {
            (0..7)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::MAX, f64::min)
        };
        let mut line = format!("{name}:");
        for direct in [false, true] {
            let fwd = best(&|| {
                forced(direct, || conv2d(&g, 1, cout, &x, &w, Some(&b)));
            });
            let dx = best(&|| {
                forced(direct, || {
                    conv2d_backward(&g, 1, cout, &x, &w, &gy, true, false)
                });
            });
            let dw = best(&|| {
                forced(direct, || {
                    conv2d_backward(&g, 1, cout, &x, &w, &gy, false, true)
                });
            });
            let kind = if direct { "direct" } else { "gemm" };
            line += &format!("  {kind} fwd {fwd:.2} dx {dx:.2} dw {dw:.2} ms |");
        }
        let gflop = 2.0 * (g.n * cout * g.l() * g.k(g.c)) as f64 / 1e9;
        println!(
            "{line} {gflop:.2} GFLOP per pass, {} threads",
            crate::num_threads()
        );
    };
    for n in [64, 256] {
        time(
            &format!("lenet conv1 ({n},1,28,28) 6x5x5 pad 2"),
            geom(n, 1, (28, 28), (5, 5), 1, 2, 1),
            6,
        );
        time(
            &format!("lenet conv2 ({n},6,14,14) 16x5x5"),
            geom(n, 6, (14, 14), (5, 5), 1, 0, 1),
            16,
        );
    }
    for (c, hw, cout) in [(3, 32, 32), (32, 32, 32), (32, 16, 64), (64, 16, 64)] {
        time(
            &format!("cifar (128,{c},{hw},{hw}) {cout}x3x3 pad 1"),
            geom(128, c, (hw, hw), (3, 3), 1, 1, 1),
            cout,
        );
    }
}

/// The direct definition of the convolution (nested loops, f64): the reference the fast path is
/// tested against.
pub(crate) fn conv2d_direct(
    g: &Geom,
    groups: usize,
    cout: usize,
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
) -> Vec<f64> {
    let (cg, cog) = (g.c / groups, cout / groups);
    let mut y = vec![0.0; g.n * cout * g.l()];
    for n in 0..g.n {
        for co in 0..cout {
            let grp = co / cog;
            for oh in 0..g.ho {
                for ow in 0..g.wo {
                    let mut s = b.map_or(0.0, |b| b[co]);
                    for ci in 0..cg {
                        let c = grp * cg + ci;
                        for ki in 0..g.kh {
                            for kj in 0..g.kw {
                                let ih = (oh * g.sh + ki * g.dh) as isize - g.ph as isize;
                                let iw = (ow * g.sw + kj * g.dw) as isize - g.pw as isize;
                                if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize {
                                    continue;
                                }
                                let xv = x[((n * g.c + c) * g.h + ih as usize) * g.w + iw as usize];
                                s += xv * w[((co * cg + ci) * g.kh + ki) * g.kw + kj];
                            }
                        }
                    }
                    y[((n * cout + co) * g.ho + oh) * g.wo + ow] = s;
                }
            }
        }
    }
    y
}

/// The direct kernels (f32, stride 1) against the f64 nested loops: forward with and without
/// bias, and both gradients against the f64 im2col path (itself checked by the adjoint
/// identity above), on geometries that reach every tile shape and tail: rows of whole
/// vectors (the padded image) and not (flat runs over the shifted copy), masked tails, up to 12 channels per tile and several tiles, tap
/// counts that are not a multiple of the weight-gradient tiles, both weight-gradient layouts
/// (fewer and more than 16 output channels, one and two channel vectors, several channel
/// blocks), groups and padding up to k - 1.
#[test]
fn direct_kernels_match_the_reference() {
    use super::super::conv_direct::{kern_for, on_isa};
    let isas: Vec<_> = crate::cpu::isa::Isa::available()
        .into_iter()
        .filter(|&i| kern_for(i).is_some())
        .collect();
    if isas.is_empty() {
        eprintln!("skipped: the direct kernels need vector instructions");
    }
    for isa in isas {
        on_isa(isa, direct_kernels_on_the_current_isa);
    }
}

/// [`direct_kernels_match_the_reference`] on the instruction set chosen for this thread.
fn direct_kernels_on_the_current_isa() {
    let cases = [
        (geom(3, 1, (28, 28), (5, 5), 1, 2, 1), 1, 6),
        (geom(2, 6, (14, 14), (5, 5), 1, 0, 1), 1, 16),
        (geom(2, 3, (9, 37), (3, 3), 1, 1, 1), 1, 13),
        (geom(3, 4, (7, 50), (2, 3), 1, 1, 1), 2, 26),
        (geom(1, 2, (5, 5), (5, 5), 1, 4, 1), 1, 3),
        (geom(5, 5, (6, 17), (1, 1), 1, 0, 1), 5, 10),
        (geom(2, 3, (4, 33), (4, 2), 1, 0, 1), 1, 25),
        (geom(17, 2, (4, 4), (2, 2), 1, 0, 1), 1, 3),
        (geom(3, 2, (5, 6), (3, 3), 1, 1, 1), 1, 40),
        (geom(2, 4, (3, 9), (1, 3), 1, 0, 1), 2, 64),
        // rows of whole vectors: the padded-image path, forward (W_out = 16) and input
        // gradient (W = 32)
        (geom(2, 3, (5, 16), (3, 3), 1, 1, 1), 1, 5),
        (geom(2, 2, (3, 32), (2, 3), 1, 0, 1), 1, 7),
        // W_out = 8: whole AVX2 vectors (row pairs), a partial AVX-512 one (flat runs)
        (geom(2, 3, (5, 8), (3, 3), 1, 1, 1), 1, 9),
        // 3 images per weight-gradient chunk, held in scratch 1 or 2 at a time
        (geom(40, 2, (12, 12), (3, 3), 1, 1, 1), 1, 20),
        (geom(40, 2, (12, 12), (3, 3), 1, 1, 1), 1, 5),
    ];
    for (i, &(g, groups, cout)) in cases.iter().enumerate() {
        let kd = g.k(g.c / groups);
        let x = rand(g.n * g.chw(), 10 + i as u64);
        let w = rand(cout * kd, 20 + i as u64);
        let b = rand(cout, 30 + i as u64);
        let gy = rand(g.n * cout * g.l(), 40 + i as u64);
        let f32v = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let (xf, wf, bf, gyf) = (f32v(&x), f32v(&w), f32v(&b), f32v(&gy));
        let close = |got: &[f32], want: &[f64], what: &str| {
            assert_eq!(got.len(), want.len(), "case {i} {what}");
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (k, (a, r)) in got.iter().zip(want).enumerate() {
                assert!(
                    (*a as f64 - r).abs() < 2e-5 * scale * (kd.max(cout) as f64).sqrt(),
                    "case {i} {what}[{k}]: {a} vs {r}"
                );
            }
        };
        let plan = super::super::conv_direct::forced(true, || direct_plan::<f32>(&g, groups, cout));
        assert!(plan.forward, "case {i}: {plan:?}");
        assert!(plan.weight_grad, "case {i}: {plan:?}");
        assert_eq!(plan.input_grad, g.ph < g.kh, "case {i}");
        for bias in [None, Some(&b[..])] {
            let want = conv2d_direct(&g, groups, cout, &x, &w, bias);
            let got = super::super::conv_direct::forced(true, || {
                conv2d(&g, groups, cout, &xf, &wf, bias.map(|_| &bf[..]))
            });
            close(&got, &want, "y");
        }
        let (dx, dw) = conv2d_backward(&g, groups, cout, &x, &w, &gy, true, true);
        let (gdx, gdw) = super::super::conv_direct::forced(true, || {
            conv2d_backward(&g, groups, cout, &xf, &wf, &gyf, true, true)
        });
        close(&gdx.unwrap(), &dx.unwrap(), "dx");
        close(&gdw.unwrap(), &dw.unwrap(), "dw");
        // one gradient at a time takes the same kernels
        let (ndx, odw) = super::super::conv_direct::forced(true, || {
            conv2d_backward(&g, groups, cout, &xf, &wf, &gyf, false, true)
        });
        assert!(ndx.is_none() && odw.is_some());
    }
}

/// A non-finite input element only reaches the weight-gradient taps that really multiply it
/// (the kernels mask the lanes past each row's end instead of multiplying them by zero), on
/// every instruction set the CPU runs.
#[test]
fn direct_weight_grad_keeps_non_finite_inputs_in_their_taps() {
    use super::super::conv_direct::{kern_for, on_isa};
    for isa in crate::cpu::isa::Isa::available() {
        if kern_for(isa).is_some() {
            on_isa(isa, direct_weight_grad_keeps_non_finite_on_the_current_isa);
        }
    }
}

/// [`direct_weight_grad_keeps_non_finite_inputs_in_their_taps`] on this thread's set.
fn direct_weight_grad_keeps_non_finite_on_the_current_isa() {
    let g = geom(1, 1, (6, 6), (3, 3), 1, 0, 1);
    let mut x = vec![1.0f32; 36];
    // row 0, column 5: only tap kj = 2 at ow = 3 and ki = 0 reads it
    x[5] = f32::INFINITY;
    let w = vec![0.5f32; 9];
    let gy = vec![1.0f32; 16];
    let (_, dw) = super::super::conv_direct::forced(true, || {
        conv2d_backward(&g, 1, 1, &x, &w, &gy, false, true)
    });
    let dw = dw.unwrap();
    for (t, v) in dw.iter().enumerate() {
        if t == 2 {
            assert_eq!(*v, f32::INFINITY);
        } else {
            assert_eq!(*v, 16.0, "tap {t}");
        }
    }
}
