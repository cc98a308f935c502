//! `deepnet bench`: throughput of the standard workloads, printed for people or as one JSON line.
//!
//! Every measurement runs the workload a few times to warm up (caches, page tables, the thread
//! pool), then repeats it for about [`TARGET_S`] seconds and reports the best and the median time.

use super::common::count_in;
use clap::{Args, Subcommand};
use deepnet::tensor::{self as dt, DType, Generator, Tensor};
use serde_json::{json, Map, Value};
use std::hint::black_box;
use std::time::Instant;

/// Seconds of timed repetitions per measurement (after the warm-up).
const TARGET_S: f64 = 1.5;
/// Elements of the buffer of the memory-bandwidth reference copy (256 MiB of f32).
const COPY_ELEMS: usize = 64 << 20;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub workload: Workload,
}

#[derive(Subcommand)]
pub enum Workload {
    /// f32 square matrix product.
    Matmul {
        /// matrix size N (N x N @ N x N)
        #[arg(long, default_value_t = 1024, value_parser = count_in(1, 16_384))]
        size: usize,
    },
    /// f32 elementwise ops and reductions on contiguous tensors, against a plain parallel copy.
    Elementwise {
        /// number of f32 elements (a multiple of 1024)
        #[arg(long, default_value_t = 4 << 20, value_parser = count_in(1024, 1 << 28))]
        size: usize,
    },
    /// Training steps of LeNet-5 (ReLU) on one fixed batch of 1x28x28 images.
    LenetTrain {
        /// batch size
        #[arg(long, default_value_t = 64, value_parser = count_in(1, 65_536))]
        batch: usize,
        /// seconds of timed steps
        #[arg(long, default_value_t = 3.0, value_parser = seconds)]
        seconds: f64,
    },
    /// Inference of LeNet-5 (ReLU) on one fixed batch of 1x28x28 images: eval mode, no graph
    /// (forward and the cross-entropy of the logits).
    LenetInfer {
        /// batch size
        #[arg(long, default_value_t = 256, value_parser = count_in(1, 65_536))]
        batch: usize,
        /// seconds of timed steps
        #[arg(long, default_value_t = 3.0, value_parser = seconds)]
        seconds: f64,
    },
    /// Training steps of the small CNN (conv32-conv32-pool-conv64-conv64-pool-fc256-fc10) on one
    /// fixed batch of 3x32x32 images.
    CifarTrain {
        /// batch size
        #[arg(long, default_value_t = 128, value_parser = count_in(1, 65_536))]
        batch: usize,
        /// seconds of timed steps
        #[arg(long, default_value_t = 3.0, value_parser = seconds)]
        seconds: f64,
    },
    /// Training steps of a one-layer LSTM (hidden 128) over 28 steps of 28 features with a
    /// linear head on the last state, on one fixed batch.
    LstmTrain {
        /// batch size
        #[arg(long, default_value_t = 64, value_parser = count_in(1, 65_536))]
        batch: usize,
        /// seconds of timed steps
        #[arg(long, default_value_t = 3.0, value_parser = seconds)]
        seconds: f64,
    },
    /// The same with a one-layer GRU (PyTorch's form, hidden 128).
    GruTrain {
        /// batch size
        #[arg(long, default_value_t = 64, value_parser = count_in(1, 65_536))]
        batch: usize,
        /// seconds of timed steps
        #[arg(long, default_value_t = 3.0, value_parser = seconds)]
        seconds: f64,
    },
    /// The upsampling layers of a DCGAN generator for MNIST (transposed convolutions 7x7 ->
    /// 14x14 -> 28x28, nearest and bilinear resizes), forward and forward + backward.
    Convt {
        /// batch size
        #[arg(long, default_value_t = 128, value_parser = count_in(1, 65_536))]
        batch: usize,
    },
    /// Training steps of the MLP 784-256-128-10 on one fixed batch.
    MlpTrain {
        /// batch size
        #[arg(long, default_value_t = 64, value_parser = count_in(1, 65_536))]
        batch: usize,
        /// seconds of timed steps
        #[arg(long, default_value_t = 3.0, value_parser = seconds)]
        seconds: f64,
    },
}

pub fn run(args: BenchArgs, json: bool) -> Result<(), String> {
    match args.workload {
        Workload::MlpTrain { batch, seconds } => {
            let r = super::bench_train::mlp_train(batch, seconds)?;
            return report_train("mlp-train", "MLP 784-256-128-10", batch, &r, json);
        }
        Workload::LenetTrain { batch, seconds } => {
            let r = super::bench_train::conv_train("lenet5", &[1, 28, 28], batch, seconds)?;
            return report_train("lenet-train", "LeNet-5 on 1x28x28", batch, &r, json);
        }
        Workload::LenetInfer { batch, seconds } => {
            let r = super::bench_train::conv_infer("lenet5", &[1, 28, 28], batch, seconds)?;
            return report_train(
                "lenet-infer",
                "LeNet-5 inference on 1x28x28",
                batch,
                &r,
                json,
            );
        }
        Workload::CifarTrain { batch, seconds } => {
            let r = super::bench_train::conv_train("small_cnn", &[3, 32, 32], batch, seconds)?;
            return report_train("cifar-train", "small CNN on 3x32x32", batch, &r, json);
        }
        Workload::LstmTrain { batch, seconds } => {
            let r = super::bench_train::recurrent_train("lstm", batch, seconds)?;
            return report_train("lstm-train", "LSTM 28x28 -> 128 -> fc10", batch, &r, json);
        }
        Workload::GruTrain { batch, seconds } => {
            let r = super::bench_train::recurrent_train("gru", batch, seconds)?;
            return report_train("gru-train", "GRU 28x28 -> 128 -> fc10", batch, &r, json);
        }
        Workload::Convt { batch } => return super::bench_convt::convt(batch, json),
        _ => {}
    }
    let _guard = dt::no_grad();
    match args.workload {
        Workload::Matmul { size } => matmul(size, json),
        Workload::Elementwise { size } => elementwise(size, json),
        Workload::MlpTrain { .. }
        | Workload::LenetTrain { .. }
        | Workload::LenetInfer { .. }
        | Workload::CifarTrain { .. }
        | Workload::LstmTrain { .. }
        | Workload::GruTrain { .. }
        | Workload::Convt { .. } => unreachable!("training workloads are handled above"),
    }
}

/// A `--seconds` budget: more than 0, at most an hour.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "expected seconds above 0 and at most 3600, got \"{s}\""
        )),
    }
}

fn report_train(
    name: &str,
    what: &str,
    batch: usize,
    r: &super::bench_train::TrainBench,
    json: bool,
) -> Result<(), String> {
    let threads = dt::num_threads();
    if json {
        println!(
            "{}",
            json!({"bench": name, "batch": batch, "threads": threads, "isa": dt::cpu_isa(), "steps": r.steps,
                   "seconds": r.seconds, "images_per_sec": r.images_per_sec, "last_loss": r.last_loss,
                   "peak_rss_mib": peak_rss_mib()})
        );
    } else {
        let peak = peak_rss_mib().map_or(String::new(), |m| format!(", peak memory {m:.0} MiB"));
        println!(
            "{name} ({what}), batch {batch}, {threads} threads, {}: {:.0} images/s ({} steps in {:.2} s, loss {:.4}{peak})",
            dt::cpu_isa(),
            r.images_per_sec,
            r.steps,
            r.seconds,
            r.last_loss
        );
    }
    Ok(())
}

/// The process's peak resident memory so far in MiB (`VmHWM` of `/proc/self/status`; Linux
/// only, `None` elsewhere or if it cannot be read).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// The `VmHWM:   1234 kB` line of a `/proc/<pid>/status` text, in MiB.
fn parse_vm_hwm(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let kb: f64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kb / 1024.0)
}

/// Best and median seconds of one call.
pub(super) struct Timing {
    pub best: f64,
    pub median: f64,
    /// CPU seconds (user and system, all threads) per timed call, where the OS reports them:
    /// with one kernel thread, the compute time whatever else runs on the machine (with more,
    /// it includes the idle workers' spinning)
    pub cpu: Option<f64>,
    reps: usize,
    /// Minor page faults per timed call (first touch of fresh memory), where Linux reports them.
    faults: Option<f64>,
}

/// Minor page faults of this process so far (Linux: field 10 of /proc/self/stat).
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(7)?.parse().ok()
}

/// CPU seconds this process has used so far (user and system, all threads).
fn cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes the struct it is given, which is plain data.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
            return None;
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Some(secs(u.ru_utime) + secs(u.ru_stime))
    }
    #[cfg(not(unix))]
    None
}

/// Times `f`: a warm-up of at least two calls (and ~10% of the budget), then enough timed calls
/// to fill `target_s` seconds (at least 5).
pub(super) fn measure(
    target_s: f64,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<Timing, String> {
    let start = Instant::now();
    let mut warm = 0u32;
    while warm < 2 || start.elapsed().as_secs_f64() < 0.1 * target_s {
        f()?;
        warm += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / f64::from(warm);
    let reps = ((target_s / per_call) as usize).clamp(5, 1_000_000);
    let mut times = Vec::with_capacity(reps);
    let faults0 = minor_faults();
    let cpu0 = cpu_seconds();
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let faults = minor_faults()
        .zip(faults0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / reps as f64);
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| (b - a) / reps as f64);
    times.sort_by(f64::total_cmp);
    Ok(Timing {
        best: times[0],
        median: times[reps / 2],
        cpu,
        reps,
        faults,
    })
}

fn err(e: dt::Error) -> String {
    e.to_string()
}

fn matmul(n: usize, json: bool) -> Result<(), String> {
    if n == 0 {
        return Err("--size must be at least 1".into());
    }
    let mut g = Generator::new(0);
    let a = Tensor::rand([n, n], DType::F32, &mut g).map_err(err)?;
    let b = Tensor::rand([n, n], DType::F32, &mut g).map_err(err)?;
    let t = measure(TARGET_S, || {
        black_box(a.matmul(&b).map_err(err)?);
        Ok(())
    })?;
    let flop = 2.0 * (n as f64).powi(3);
    let (best, median) = (flop / t.best / 1e9, flop / t.median / 1e9);
    let threads = dt::num_threads();
    if json {
        let line = json!({
            "bench": "matmul", "size": n, "threads": threads, "isa": dt::cpu_isa(), "gflops": best,
            "gflops_median": median, "seconds": t.best, "seconds_median": t.median, "reps": t.reps,
        });
        println!("{line}");
    } else {
        println!(
            "matmul f32 {n}x{n} @ {n}x{n}, {threads} threads, {} reps",
            t.reps
        );
        println!(
            "  best   {best:8.1} GFLOP/s  ({:.3} ms)\n  median {median:8.1} GFLOP/s  ({:.3} ms)",
            t.best * 1e3,
            t.median * 1e3
        );
    }
    Ok(())
}

/// Copies `src` into `dst` with `threads` threads, one contiguous part each, with `put(dst, src)`.
fn par_copy<T: Sync, D: Send>(src: &[T], dst: &mut [D], threads: usize, put: fn(&mut [D], &[T])) {
    let part = src.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (d, c) in dst.chunks_mut(part).zip(src.chunks(part)) {
            s.spawn(move || put(d, c));
        }
    });
}

/// One elementwise workload: a name, the bytes it reads and writes, and the call.
type Op<'a> = (&'a str, usize, Box<dyn Fn() -> dt::Result<Tensor> + 'a>);

fn elementwise(n: usize, json: bool) -> Result<(), String> {
    let rows = n / 1024;
    if rows == 0 || rows * 1024 != n {
        return Err(format!(
            "--size must be a positive multiple of 1024 (got {n})"
        ));
    }
    let threads = dt::num_threads();
    let f = std::mem::size_of::<f32>();
    let mut g = Generator::new(0);
    let a = Tensor::rand_normal([n], 0.0, 1.0, DType::F32, &mut g).map_err(err)?;
    let b = Tensor::rand_normal([n], 0.0, 1.0, DType::F32, &mut g).map_err(err)?;
    let a2 = a.reshape([rows, 1024]).map_err(err)?;
    let ops: Vec<Op> = vec![
        ("add", 3 * n * f, Box::new(|| a.add(&b))),
        ("mul_scalar", 2 * n * f, Box::new(|| a.mul_scalar(1.5))),
        ("add_scalar", 2 * n * f, Box::new(|| a.add_scalar(1.5))),
        ("relu", 2 * n * f, Box::new(|| a.relu())),
        ("exp", 2 * n * f, Box::new(|| a.exp())),
        ("sum", n * f, Box::new(|| a.sum_all())),
        (
            "sum_rows",
            (n + rows) * f,
            Box::new(|| a2.sum(-1isize, false)),
        ),
    ];

    // Reference: a plain parallel copy of 256 MiB, into a reused buffer (pages already mapped)
    // and into a fresh allocation each time (includes the first-touch page faults).
    let src = vec![1.0f32; COPY_ELEMS];
    let mut dst: Vec<f32> = vec![2.0f32; COPY_ELEMS];
    let copy_bytes = (2 * COPY_ELEMS * f) as f64;
    let copy = measure(TARGET_S, || {
        par_copy(&src, &mut dst, threads, |o, x| o.copy_from_slice(x));
        Ok(())
    })?;
    let fresh = measure(TARGET_S, || {
        let mut v: Vec<f32> = Vec::with_capacity(COPY_ELEMS);
        par_copy(&src, v.spare_capacity_mut(), threads, |o, x| {
            for (o, &x) in o.iter_mut().zip(x) {
                o.write(x);
            }
        });
        black_box(v);
        Ok(())
    })?;
    drop((src, dst));
    let copy_gbs = copy_bytes / copy.best / 1e9;
    let fresh_gbs = copy_bytes / fresh.best / 1e9;

    let mut out = Map::new();
    for (k, v) in [
        ("bench", json!("elementwise")),
        ("size", json!(n)),
        ("threads", json!(threads)),
    ] {
        out.insert(k.into(), v);
    }
    if !json {
        println!(
            "elementwise f32, {n} elements, {threads} threads (GB/s = bytes read + written / time)"
        );
    }
    for (name, bytes, op) in &ops {
        let t = measure(TARGET_S / 3.0, || {
            black_box(op().map_err(err)?);
            Ok(())
        })?;
        let (best, median) = (*bytes as f64 / t.best / 1e9, *bytes as f64 / t.median / 1e9);
        out.insert(format!("{name}_gbs"), json!(best));
        out.insert(format!("{name}_gbs_median"), json!(median));
        out.insert(format!("{name}_ratio"), json!(best / copy_gbs));
        out.insert(format!("{name}_faults"), json!(t.faults));
        if !json {
            println!(
                "  {name:<11} {best:7.2} GB/s (median {median:7.2})  {:.2}x copy  {:.3} ms  {:.0} page faults/call",
                best / copy_gbs,
                t.best * 1e3,
                t.faults.unwrap_or(f64::NAN)
            );
        }
    }
    out.insert("copy_gbs".into(), json!(copy_gbs));
    out.insert("copy_fresh_gbs".into(), json!(fresh_gbs));
    if json {
        println!("{}", Value::Object(out));
    } else {
        println!(
            "  copy        {copy_gbs:7.2} GB/s  (plain parallel copy of 256 MiB, reused output)"
        );
        println!(
            "  copy fresh  {fresh_gbs:7.2} GB/s  (same, into a fresh allocation: page faults)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_vm_hwm;

    #[test]
    fn peak_memory_is_read_from_the_status_text() {
        let status = "Name:\tdeepnet\nVmPeak:\t  300000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(40.0));
        assert_eq!(parse_vm_hwm("VmRSS:\t 1 kB\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM:\t x kB\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM:\t 12 MB\n"), None);
        // this process's own figure, where Linux gives one
        if cfg!(target_os = "linux") {
            assert!(super::peak_rss_mib().is_some_and(|m| m > 0.0));
        }
    }
}
