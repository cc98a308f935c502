//! Tests of the 2-D LSTM: keys and shapes, values against a cell-by-cell scan written out in
//! plain loops, the one-row case against `LSTMCell`, which inputs each direction's outputs depend
//! on, gradient checks and errors.

use super::*;
use crate::layers::test_util::{max_abs_diff, max_abs_param, sig};
use crate::layers::LSTMCell;
use crate::ParamStore;
use deepnet_tensor::testing::{gradcheck, seeded};
use deepnet_tensor::DType;

fn layer(c: usize, hs: usize, patch: (usize, usize), bias: bool, seed: u64) -> MdLstm2d {
    let store = ParamStore::with_dtype(seed, DType::F64);
    let cfg = MdLstm2dConfig {
        patch_size: patch,
        bias,
        ..MdLstm2dConfig::new(c, hs)
    };
    MdLstm2d::new(&cfg, &store.root()).unwrap()
}

/// The layer's equations run one cell at a time, in the row-major order of each direction's
/// scan, in plain f64 loops: an implementation that shares nothing with the diagonal schedule.
/// Returns `(N, 4H, Hg, Wg)` as a flat vector.
fn naive(m: &MdLstm2d, x: &Tensor) -> Vec<f64> {
    let (hs, (ph, pw)) = (m.cfg.hidden_size, m.cfg.patch_size);
    let &[n, c, h, w] = x.dims() else { panic!() };
    let (hg, wg) = (h / ph, w / pw);
    let f = c * ph * pw;
    let xv = x.to_vec_f64();
    let mut out = vec![0.0; n * 4 * hs * hg * wg];
    for d in 0..4 {
        let (wi, wh, b) = m.direction_params(d).unwrap();
        let (wi, wh) = (wi.to_vec_f64(), wh.to_vec_f64());
        let b = b.map_or(vec![0.0; 5 * hs], |t| t.to_vec_f64());
        for s in 0..n {
            let mut hst = vec![vec![0.0; hs]; hg * wg];
            let mut cst = vec![vec![0.0; hs]; hg * wg];
            for a in 0..hg {
                for bb in 0..wg {
                    let i = if d & 2 != 0 { hg - 1 - a } else { a };
                    let j = if d & 1 != 0 { wg - 1 - bb } else { bb };
                    // the patch, (c, py, px) order
                    let mut xf = Vec::with_capacity(f);
                    for ch in 0..c {
                        for py in 0..ph {
                            for px in 0..pw {
                                let (r, q) = (i * ph + py, j * pw + px);
                                xf.push(xv[((s * c + ch) * h + r) * w + q]);
                            }
                        }
                    }
                    let zero = (vec![0.0; hs], vec![0.0; hs]);
                    let (h1, c1) = if a > 0 {
                        (
                            hst[(a - 1) * wg + bb].clone(),
                            cst[(a - 1) * wg + bb].clone(),
                        )
                    } else {
                        zero.clone()
                    };
                    let (h2, c2) = if bb > 0 {
                        (hst[a * wg + bb - 1].clone(), cst[a * wg + bb - 1].clone())
                    } else {
                        zero
                    };
                    let hin: Vec<f64> = h1.iter().chain(&h2).copied().collect();
                    let pre: Vec<f64> = (0..5 * hs)
                        .map(|r| {
                            let u: f64 = (0..f).map(|q| wi[r * f + q] * xf[q]).sum();
                            let v: f64 = (0..2 * hs).map(|q| wh[r * 2 * hs + q] * hin[q]).sum();
                            u + v + b[r]
                        })
                        .collect();
                    for r in 0..hs {
                        let cv = sig(pre[r]) * pre[3 * hs + r].tanh()
                            + sig(pre[hs + r]) * c1[r]
                            + sig(pre[2 * hs + r]) * c2[r];
                        let hv = sig(pre[4 * hs + r]) * cv.tanh();
                        cst[a * wg + bb][r] = cv;
                        hst[a * wg + bb][r] = hv;
                        out[((s * 4 * hs + d * hs + r) * hg + i) * wg + j] = hv;
                    }
                }
            }
        }
    }
    out
}

#[test]
fn keys_shapes_init_and_repr() {
    let store = ParamStore::new(0);
    let cfg = MdLstm2dConfig {
        patch_size: (4, 4),
        ..MdLstm2dConfig::new(1, 8)
    };
    let m = MdLstm2d::new(&cfg, &store.root().push("mdlstm")).unwrap();
    let mut want = Vec::new();
    for d in MD_LSTM_DIRECTIONS {
        for k in ["weight_ih", "weight_hh", "bias"] {
            want.push(format!("mdlstm.{k}_{d}"));
        }
    }
    assert_eq!(store.keys(), want);
    // per direction 5H*(F + 2H + 1) with F = 16
    assert_eq!(store.num_params(), 4 * 40 * (16 + 16 + 1));
    let bound = 1.0 / 8f64.sqrt();
    let max = max_abs_param(&store);
    assert!(max <= bound && max > 0.95 * bound, "{max} vs {bound}");
    assert_eq!(m.describe(), "MdLstm2d(1, 8, patch_size=(4, 4))");
    assert_eq!(m.out_channels(), 32);
    let x = Tensor::zeros([3, 1, 28, 12], DType::F32).unwrap();
    assert_eq!(m.forward(&x).unwrap().dims(), [3, 32, 7, 3]);
    let nb = layer(2, 3, (1, 1), false, 0);
    assert_eq!(nb.describe(), "MdLstm2d(2, 3, bias=False)");
    assert!(nb.direction_params(0).unwrap().2.is_none());
    assert!(nb.direction_params(4).is_none());
}

#[test]
fn values_match_a_cell_by_cell_scan() {
    // non-square grids, patches of either shape, with and without bias, a one-cell grid
    let cases = [
        ([2, 2, 6, 4], (2, 1), true),
        ([1, 1, 3, 5], (1, 1), false),
        ([2, 3, 4, 4], (2, 2), true),
        ([1, 2, 1, 1], (1, 1), true),
    ];
    for (k, (shape, patch, bias)) in cases.into_iter().enumerate() {
        let m = layer(shape[1], 3, patch, bias, k as u64);
        let x = seeded(shape, 10 + k as u64);
        let y = m.forward(&x).unwrap();
        let want = naive(&m, &x);
        let diff = max_abs_diff(&y.to_vec_f64(), &want);
        assert!(diff < 1e-12, "case {k} {shape:?}: max diff {diff}");
    }
}

/// On a single row, the top-left direction is an LSTM over the row with the vertical forget
/// gate unused: `LSTMCell` with gates `(i, f_2, g, o)` and the horizontal half of `weight_hh`
/// gives the same states (`LSTMCell` is compared with PyTorch in its own tests); the top-right
/// direction is the same LSTM reading the row from the right.
#[test]
fn one_row_is_an_lstm_over_the_row() {
    let (hs, f, len) = (3, 2, 5);
    let m = layer(f, hs, (1, 1), true, 4);
    let x = seeded([2, f, 1, len], 5);
    let y = m.forward(&x).unwrap();
    for (d, reverse) in [(0, false), (1, true)] {
        let (wi, wh, b) = m.direction_params(d).unwrap();
        let rows = |t: &Tensor, g: usize| t.narrow(0, g * hs, hs).unwrap();
        let pick = |t: &Tensor| Tensor::cat(&[0, 2, 3, 4].map(|g| rows(t, g)), 0).unwrap();
        let store = ParamStore::with_dtype(0, DType::F64);
        let cell = LSTMCell::new(f, hs, true, &store.root()).unwrap();
        let sd = vec![
            ("weight_ih".to_string(), pick(wi)),
            (
                "weight_hh".to_string(),
                pick(&wh.narrow(1, hs, hs).unwrap()),
            ),
            ("bias_ih".to_string(), pick(b.unwrap())),
            (
                "bias_hh".to_string(),
                Tensor::zeros([4 * hs], DType::F64).unwrap(),
            ),
        ];
        store.load_state_dict(&sd, true).unwrap();
        let mut state: Option<(Tensor, Tensor)> = None;
        for step in 0..len {
            let col = if reverse { len - 1 - step } else { step };
            let xt = x.narrow(3, col, 1).unwrap().reshape([2, f]).unwrap();
            let (h, c) = cell.step(&xt, state.as_ref().map(|(h, c)| (h, c))).unwrap();
            let got = y
                .narrow(1, d * hs, hs)
                .unwrap()
                .narrow(3, col, 1)
                .unwrap()
                .reshape([2, hs])
                .unwrap();
            let diff = max_abs_diff(&got.to_vec_f64(), &h.to_vec_f64());
            assert!(diff < 1e-12, "direction {d}, column {col}: {diff}");
            state = Some((h, c));
        }
    }
}

/// Direction `tl`'s output at `(i, j)` depends on exactly the inputs at `(i', j')` with `i' <= i`
/// and `j' <= j`, and so on for the other corners: the gradient of one output cell is non-zero
/// exactly on its direction's quadrant.
#[test]
fn each_direction_sees_exactly_its_quadrant() {
    let (hs, hg, wg) = (2, 4, 5);
    let m = layer(1, hs, (1, 1), true, 6);
    let x = seeded([1, 1, hg, wg], 7).requires_grad_(true).unwrap();
    let y = m.forward(&x).unwrap();
    let (i, j) = (1, 3);
    for d in 0..4 {
        let cellout = y
            .narrow(1, d * hs, hs)
            .unwrap()
            .narrow(2, i, 1)
            .unwrap()
            .narrow(3, j, 1)
            .unwrap();
        let g = cellout.sum_all().unwrap().backward().unwrap();
        let gx = g.get(&x).unwrap().to_vec_f64();
        for r in 0..hg {
            for q in 0..wg {
                let rows_ok = if d & 2 != 0 { r >= i } else { r <= i };
                let cols_ok = if d & 1 != 0 { q >= j } else { q <= j };
                let nz = gx[r * wg + q] != 0.0;
                assert_eq!(nz, rows_ok && cols_ok, "direction {d}, input ({r}, {q})");
            }
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    for (shape, patch, bias) in [([2, 2, 4, 6], (2, 2), true), ([1, 1, 3, 3], (1, 1), false)] {
        let m = layer(shape[1], 2, patch, bias, 8);
        let mut leaves = vec![seeded(shape, 9)];
        leaves.extend(m.w.w_ih.iter().cloned());
        leaves.extend(m.w.w_hh.iter().cloned());
        if let Some(b) = &m.w.bias {
            leaves.extend(b.iter().cloned());
        }
        let f = |t: &[Tensor]| {
            let w = MdWeights {
                w_ih: t[1..5].to_vec(),
                w_hh: t[5..9].to_vec(),
                bias: bias.then(|| t[9..13].to_vec()),
            };
            md_lstm2d_scan(&t[0], &w, 2, patch)
        };
        gradcheck("md_lstm2d", f, &leaves).unwrap();
    }
}

#[test]
fn float32_agrees_with_float64() {
    let m = layer(2, 3, (2, 2), true, 11);
    let x = seeded([2, 2, 6, 8], 12);
    let y64 = m.forward(&x).unwrap().to_vec_f64();
    let w32 = MdWeights {
        w_ih: m.w.w_ih.iter().map(|t| t.to_f32().unwrap()).collect(),
        w_hh: m.w.w_hh.iter().map(|t| t.to_f32().unwrap()).collect(),
        bias: m
            .w
            .bias
            .as_ref()
            .map(|b| b.iter().map(|t| t.to_f32().unwrap()).collect()),
    };
    let y32 = md_lstm2d_scan(&x.to_f32().unwrap(), &w32, 3, (2, 2)).unwrap();
    assert_eq!(y32.dtype(), DType::F32);
    let diff = max_abs_diff(&y32.to_vec_f64(), &y64);
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn bad_configs_and_inputs_are_errors() {
    let store = ParamStore::new(0);
    let bad = MdLstm2dConfig {
        patch_size: (0, 2),
        ..MdLstm2dConfig::new(1, 4)
    };
    let e = MdLstm2d::new(&bad, &store.root().push("enc"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("\"enc\"") && e.contains("md_lstm2d") && e.contains("0x2"),
        "{e}"
    );
    let cfg = MdLstm2dConfig {
        patch_size: (4, 4),
        ..MdLstm2dConfig::new(1, 4)
    };
    let m = MdLstm2d::new(&cfg, &store.root().push("md")).unwrap();
    let z = |s: &[usize]| Tensor::zeros(s.to_vec(), DType::F32).unwrap();
    let e = m.forward(&z(&[1, 28, 28])).unwrap_err().to_string();
    assert!(e.contains("\"md\"") && e.contains("(N, 1, H, W)"), "{e}");
    let e = m.forward(&z(&[1, 3, 28, 28])).unwrap_err().to_string();
    assert!(
        e.contains("with 1 channels") && e.contains("[1, 3, 28, 28]"),
        "{e}"
    );
    let e = m.forward(&z(&[1, 1, 28, 30])).unwrap_err().to_string();
    assert!(e.contains("28x30 is not tiled by 4x4 patches"), "{e}");
    let e = m.forward(&z(&[1, 1, 0, 4])).unwrap_err().to_string();
    assert!(e.contains("0x4 is not tiled"), "{e}");
}
