//! `deepnet bench convt`: the layers that enlarge images in a DCGAN generator for MNIST, forward
//! alone and forward + backward (input, weight and bias gradients): the transposed convolutions
//! 128 -> 64 channels, 7x7 -> 14x14 and 64 -> 1, 14x14 -> 28x28 (kernel 4, stride 2, padding 1),
//! and, for comparison, nearest and bilinear upsampling by 2 of 64 channels of 14x14.
//! `tools/bench/torch_convt.py` times the same in PyTorch. Each line also gives the CPU time
//! per call: with `--threads 1`, a measure that other processes on the machine do not disturb.

use super::bench::{measure, Timing};
use deepnet::tensor::{self as dt, DType, Generator, Tensor};
use serde_json::{json, Value};
use std::hint::black_box;

/// Seconds of timed repetitions per measurement.
const TARGET_S: f64 = 1.5;

/// One workload: its name, input shape, the multiply-adds of its forward pass (0 for the
/// resizes), and the op from the input and its parameters.
struct Workload {
    name: &'static str,
    input: [usize; 4],
    /// the transposed convolution's weight `(C_in, C_out, 4, 4)`, or none for a resize
    weight: Option<[usize; 4]>,
    op: fn(&Tensor, &[Tensor]) -> dt::Result<Tensor>,
}

fn workloads(batch: usize) -> Vec<Workload> {
    let convt: fn(&Tensor, &[Tensor]) -> dt::Result<Tensor> =
        |x, p| x.conv_transpose2d(&p[0], Some(&p[1]), (2, 2), (1, 1), (0, 0), 1, (1, 1));
    vec![
        Workload {
            name: "convt-128-64-7x7",
            input: [batch, 128, 7, 7],
            weight: Some([128, 64, 4, 4]),
            op: convt,
        },
        Workload {
            name: "convt-64-1-14x14",
            input: [batch, 64, 14, 14],
            weight: Some([64, 1, 4, 4]),
            op: convt,
        },
        Workload {
            name: "upsample-nearest-x2-64-14x14",
            input: [batch, 64, 14, 14],
            weight: None,
            op: |x, _| x.upsample_nearest2d((28, 28), Some((2.0, 2.0))),
        },
        Workload {
            name: "upsample-bilinear-x2-64-14x14",
            input: [batch, 64, 14, 14],
            weight: None,
            op: |x, _| x.upsample_bilinear2d((28, 28), false, Some((2.0, 2.0))),
        },
    ]
}

fn err(e: dt::Error) -> String {
    e.to_string()
}

/// Runs and prints every workload at `batch`.
pub fn convt(batch: usize, json: bool) -> Result<(), String> {
    if batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let threads = dt::num_threads();
    if !json {
        println!(
            "DCGAN upsampling layers, batch {batch}, {threads} threads, {} (ms per batch: best of the timed calls; CPU: mean CPU time per call)",
            dt::cpu_isa()
        );
    }
    let mut g = Generator::new(0);
    let mut rows = Vec::new();
    for w in workloads(batch) {
        let x = Tensor::randn(w.input, DType::F32, &mut g)
            .and_then(|x| x.requires_grad_(true))
            .map_err(err)?;
        let mut params = Vec::new();
        if let Some(ws) = w.weight {
            params.push(Tensor::randn(ws, DType::F32, &mut g).map_err(err)?);
            params.push(Tensor::randn([ws[1]], DType::F32, &mut g).map_err(err)?);
        }
        let params: Vec<Tensor> = params
            .into_iter()
            .map(|p| p.mul_scalar(0.05)?.requires_grad_(true))
            .collect::<dt::Result<_>>()
            .map_err(err)?;
        let y = (w.op)(&x, &params).map_err(err)?;
        let r = Tensor::randn(y.dims().to_vec(), DType::F32, &mut g).map_err(err)?;
        let fwd = {
            let _guard = dt::no_grad();
            measure(TARGET_S, || {
                black_box((w.op)(&x, &params).map_err(err)?);
                Ok(())
            })?
        };
        let train = measure(TARGET_S, || {
            let loss = (w.op)(&x, &params).and_then(|y| y.mul(&r)?.sum_all());
            black_box(loss.and_then(|l| l.backward()).map_err(err)?);
            Ok(())
        })?;
        // forward multiply-adds of a transposed convolution: every input element times
        // C_out * kH * kW taps; the backward pass has twice as many
        let macs = w.weight.map_or(0.0, |ws| {
            (w.input.iter().product::<usize>() * ws[1] * ws[2] * ws[3]) as f64
        });
        rows.push(row(&w, batch, &fwd, &train, macs, json));
    }
    if json {
        println!(
            "{}",
            json!({"bench": "convt", "batch": batch, "threads": threads, "isa": dt::cpu_isa(), "workloads": rows})
        );
    }
    Ok(())
}

/// Prints one workload's line (unless `json`) and returns its JSON object.
fn row(w: &Workload, batch: usize, fwd: &Timing, train: &Timing, macs: f64, json: bool) -> Value {
    let per_s = |t: f64| batch as f64 / t;
    let gflops = |t: f64, passes: f64| 2.0 * macs * passes / t / 1e9;
    if !json {
        let rate = if macs > 0.0 {
            format!(
                ", {:.1} / {:.1} GFLOP/s",
                gflops(fwd.best, 1.0),
                gflops(train.best, 3.0)
            )
        } else {
            String::new()
        };
        let cpu = |t: &Timing| t.cpu.map_or("?".into(), |c| format!("{:.1}", c * 1e3));
        println!(
            "  {:<30} forward {:7.2} ms  forward+backward {:7.2} ms  ({:.0} images/s{rate}; CPU {} / {} ms)",
            w.name,
            fwd.best * 1e3,
            train.best * 1e3,
            per_s(train.best),
            cpu(fwd),
            cpu(train)
        );
    }
    json!({
        "name": w.name, "input": w.input, "forward_ms": fwd.best * 1e3,
        "forward_ms_median": fwd.median * 1e3, "train_ms": train.best * 1e3,
        "train_ms_median": train.median * 1e3, "train_images_per_sec": per_s(train.best),
        "forward_gflops": gflops(fwd.best, 1.0), "train_gflops": gflops(train.best, 3.0),
        "forward_cpu_ms": fwd.cpu.map(|c| c * 1e3), "train_cpu_ms": train.cpu.map(|c| c * 1e3),
    })
}
