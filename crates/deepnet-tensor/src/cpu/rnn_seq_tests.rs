use super::*;

/// Seeded values in about [-2, 2], with exact zeros and large magnitudes mixed in (the
/// saturated ends of the sigmoid and tanh), scaled by `scale`.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut g = crate::Generator::new(seed);
    (0..n)
        .map(|i| match i % 19 {
            0 => 0.0,
            1 => 30.0,
            2 => -30.0,
            _ => (g.next_f64() * 4.0 - 2.0) as f32 * scale,
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every instruction set computes the same fma chains and IEEE operations, so the LSTM and
/// GRU kernels give the portable path's bits, forward (states and reserve) and backward (the
/// gates', the bias-side and the initial states' gradients), in both directions; 9 rows on two
/// threads (slices of 4 and 5 rows), H = 13 (tails of every vector width and tile).
#[test]
fn every_instruction_set_gives_the_scalar_bits() {
    let (l, n, h) = (4, 9, 13);
    let run = |isa: Isa, reverse: bool| {
        let s = Seq { l, n, h, reverse };
        let (h0, c0) = (values(n * h, 1, 1.0), values(n * h, 2, 1.0));
        let xp = values(l * n * 4 * h, 3, 1.0);
        let (w, b) = (values(4 * h * h, 4, 0.3), values(4 * h, 10, 1.0));
        let (out, res) = lstm_seq(&xp, &w, Some(&b), &h0, &c0, s, true, isa);
        let (no_res, empty) = lstm_seq(&xp, &w, Some(&b), &h0, &c0, s, false, isa);
        assert!(bits(&no_res) == bits(&out) && empty.is_empty());
        let gy = values((l + 2) * n * h, 5, 1.0);
        let (dxp, dh0, dc0) = lstm_seq_backward(&w, &c0, &res, &gy, s, isa);
        let mut v = vec![out, res, dxp, dh0, dc0];
        let (xp, w, b) = (
            values(l * n * 3 * h, 6, 1.0),
            values(3 * h * h, 7, 0.3),
            values(3 * h, 8, 1.0),
        );
        let bi = values(3 * h, 11, 1.0);
        let (out, res) = gru_seq(&xp, &w, (Some(&bi), Some(&b)), &h0, s, true, isa);
        let gy = values((l + 1) * n * h, 9, 1.0);
        let (dxp, dgh, dh0) = gru_seq_backward(&w, &out, &res, &gy, s, isa);
        v.extend([
            out,
            res,
            dxp,
            dgh.clone(),
            dh0,
            column_sums(&dgh, 3 * h, isa),
        ]);
        v.iter().map(|x| bits(x)).collect::<Vec<_>>()
    };
    crate::with_num_threads(2, || {
        for reverse in [false, true] {
            let scalar = run(Isa::Scalar, reverse);
            for isa in Isa::available() {
                assert!(run(isa, reverse) == scalar, "{isa:?} reverse={reverse}");
            }
        }
    })
    .unwrap();
}

/// The states hold `h0` before the first step run and every `h_t` at its time; the weight
/// gradient multiplies each step's gates' gradient with the state that step started from.
#[test]
fn state_rows_and_the_weight_gradient() {
    for reverse in [false, true] {
        let s = Seq {
            l: 3,
            n: 2,
            h: 1,
            reverse,
        };
        // w = 0: h_t depends on xp[t] alone
        let xp: Vec<f64> = (0..3 * 2 * 3).map(|i| i as f64 * 0.1).collect();
        let none = (None, None);
        let (out, _) = gru_seq(&xp, &[0.0; 3], none, &[7.0, 8.0], s, false, Isa::Scalar);
        assert_eq!(&out[s.h0_row() * 2..s.h0_row() * 2 + 2], &[7.0, 8.0]);
        // dW = sum_t dg_t^T h_prev_t: with dg = 1 everywhere, the sum of all previous states
        let dw = weight_grad(&[1.0; 3 * 2 * 3], 3, &out, s);
        let prev: f64 = out[s.prev_rows() * 2..(s.prev_rows() + 3) * 2].iter().sum();
        let all: f64 = out.iter().sum();
        let last = if reverse { &out[0..2] } else { &out[6..8] };
        assert!((prev - (all - last.iter().sum::<f64>())).abs() < 1e-12);
        assert!(dw.iter().all(|&x| (x - prev).abs() < 1e-12), "{dw:?}");
    }
}

/// The weight gradient is the sum over all steps and rows of `dg_t^T h_prev_t` (to rounding),
/// with the same bits on 1 and 3 threads (600 terms: more than one block of the GEMM).
#[test]
fn the_weight_gradient_sums_every_step_and_row() {
    let (l, n, h, g) = (30, 20, 7, 21);
    let s = Seq {
        l,
        n,
        h,
        reverse: true,
    };
    let dg = values(l * n * g, 1, 1.0);
    let out = values((l + 1) * n * h, 2, 1.0);
    let one = crate::with_num_threads(1, || weight_grad(&dg, g, &out, s)).unwrap();
    let three = crate::with_num_threads(3, || weight_grad(&dg, g, &out, s)).unwrap();
    assert!(bits(&one) == bits(&three));
    // reversed: the state step k starts from is row n + k of `out`
    let term = |k: usize, q: usize, p: usize| dg[k * g + q] as f64 * out[(n + k) * h + p] as f64;
    for q in 0..g {
        for p in 0..h {
            let exact: f64 = (0..l * n).map(|k| term(k, q, p)).sum();
            let scale: f64 = (0..l * n).map(|k| term(k, q, p).abs()).sum();
            assert!((one[q * h + p] as f64 - exact).abs() <= 1e-6 * scale);
        }
    }
}

/// Timings of the kernels at the MNIST benchmark's size (L = 28, N = 64, H = 128, f32) on 1
/// and 2 threads: forward, reverse loop, weight gradient, and the recurrent products' rate:
/// `cargo test --release -p deepnet-tensor --lib seq_timings -- --ignored --nocapture`
/// (`DEEPNET_CPU=avx2` for the AVX2 path; `THREADS=1` for one thread count, e.g. to count
/// cycles with `perf stat` on a busy machine).
#[test]
#[ignore]
fn seq_timings() {
    use std::time::Instant;
    let (l, n, h) = (28, 64, 128);
    let s = Seq {
        l,
        n,
        h,
        reverse: false,
    };
    let isa = crate::cpu::isa::isa();
    // on one thread, the time the thread ran (Linux schedstat, updated at scheduler ticks, so
    // measured over windows of a quarter second), which other processes on the cores do not
    // inflate; on two, wall time
    let ran = || {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        Some(s.split_whitespace().next()?.parse::<f64>().ok()? * 1e-9)
    };
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let (t, r0) = (Instant::now(), ran());
                let mut k = 0;
                loop {
                    f();
                    k += 1;
                    let (r, w) = (ran(), t.elapsed().as_secs_f64());
                    match (crate::num_threads(), r0, r) {
                        (1, Some(a), Some(b)) if b - a >= 0.25 => break (b - a) / k as f64,
                        (1, Some(_), Some(_)) => {}
                        _ if w >= 0.25 => break w / k as f64,
                        _ => {}
                    }
                }
            })
            .fold(f64::MAX, f64::min)
    };
    for g in [4, 3] {
        let (xp, w) = (values(l * n * g * h, 1, 1.0), values(g * h * h, 2, 0.1));
        let (h0, c0, b) = (
            values(n * h, 3, 1.0),
            values(n * h, 4, 1.0),
            values(g * h, 5, 1.0),
        );
        let gy = values((l + 2) * n * h, 6, 0.1);
        let macs = (l * n * g * h * h) as f64;
        let counts: Vec<usize> = std::env::var("THREADS").map_or(vec![1, 2], |v| {
            v.split(',')
                .map(|t| t.parse().expect("THREADS=1,2"))
                .collect()
        });
        for &threads in &counts {
            crate::with_num_threads(threads, || {
                let (fwd, bwd, dw);
                if g == 4 {
                    let (out, res) = lstm_seq(&xp, &w, Some(&b), &h0, &c0, s, true, isa);
                    fwd = best(&|| drop(lstm_seq(&xp, &w, Some(&b), &h0, &c0, s, true, isa)));
                    bwd = best(&|| drop(lstm_seq_backward(&w, &c0, &res, &gy, s, isa)));
                    let (dxp, ..) = lstm_seq_backward(&w, &c0, &res, &gy, s, isa);
                    dw = best(&|| drop(weight_grad(&dxp, g * h, &out, s)));
                } else {
                    let gy = &gy[..(l + 1) * n * h];
                    let bs = (Some(&b[..]), Some(&b[..]));
                    let (out, res) = gru_seq(&xp, &w, bs, &h0, s, true, isa);
                    fwd = best(&|| drop(gru_seq(&xp, &w, bs, &h0, s, true, isa)));
                    bwd = best(&|| drop(gru_seq_backward(&w, &out, &res, gy, s, isa)));
                    let (_, dgh, _) = gru_seq_backward(&w, &out, &res, gy, s, isa);
                    dw = best(&|| drop(weight_grad(&dgh, g * h, &out, s)));
                }
                // the products alone: L steps of (N x H) @ (H x G*H) and (N x G*H) @ (G*H x H)
                let wt = Packed::new(&w, h, g * h, (1, h), isa);
                let wp = Packed::new(&w, g * h, h, (h, 1), isa);
                let mut c = vec![0.0; n * wt.ldc()];
                let pf = best(&|| {
                    for _ in 0..l {
                        wt.product(&h0, h, n, &mut c.clone());
                    }
                });
                let pb = best(&|| {
                    for _ in 0..l {
                        wp.product(&xp[..n * g * h], g * h, n, &mut c.clone());
                    }
                });
                c.clear();
                println!(
                    "  products alone: forward {:.3} ms ({:.0} GFLOP/s), backward {:.3} ms ({:.0})",
                    pf * 1e3,
                    2.0 * macs / pf / 1e9,
                    pb * 1e3,
                    2.0 * macs / pb / 1e9
                );
                println!(
                    "{} {threads}t {isa:?}: forward {:.3} ms ({:.0} GFLOP/s), reverse loop {:.3} \
                     ms ({:.0}), weight gradient {:.3} ms ({:.0})",
                    if g == 4 { "lstm" } else { "gru" },
                    fwd * 1e3,
                    2.0 * macs / fwd / 1e9,
                    bwd * 1e3,
                    2.0 * macs / bwd / 1e9,
                    dw * 1e3,
                    2.0 * macs / dw / 1e9
                );
            })
            .unwrap();
        }
    }
}
