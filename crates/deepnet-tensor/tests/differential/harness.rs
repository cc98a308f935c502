//! Running the table: inputs planned on the host, built in each layout variant on both
//! devices, the op run on each, outputs and gradients compared.

use super::row::*;
use deepnet_tensor::{DType, Device, HostData, Result, Tensor};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// An input planned on the host: the base buffer and how the view is made from it.
struct Plan {
    dtype: DType,
    base_shape: Vec<usize>,
    base: Vec<f64>,
    view: View,
}

enum View {
    Same,
    Transposed,
    Offset { off: usize, shape: Vec<usize> },
    Strided,
    Broadcast(Vec<usize>),
}

/// Elements before and after the data in the `Offset` variant's buffer.
const OFF: usize = 3;

fn values(kind: Kind, dt: DType, n: usize, shapes: &[Vec<usize>], rng: &mut Rng) -> Vec<f64> {
    let int = !dt.is_float();
    let perm = matches!(kind, Kind::Distinct).then(|| {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, rng.below(i + 1));
        }
        p
    });
    (0..n)
        .map(|i| match kind {
            Kind::Normal if dt == DType::U8 => rng.below(10) as f64,
            Kind::Normal if int => (3.0 * rng.normal()).round(),
            Kind::Normal => rng.normal(),
            Kind::Positive if int => 1.0 + rng.below(5) as f64,
            Kind::Positive => 0.5 + 2.0 * rng.uniform(),
            Kind::Distinct => {
                let p = perm.as_ref().expect("drawn above")[i] as f64 - (n / 2) as f64;
                if dt == DType::U8 {
                    (p + (n / 2) as f64) % 256.0
                } else if int {
                    p
                } else {
                    p * 0.25
                }
            }
            Kind::Few if dt == DType::U8 => rng.below(3) as f64,
            Kind::Few if int => rng.below(3) as f64 - 1.0,
            Kind::Few => rng.below(5) as f64 * 0.5 - 1.0,
            Kind::Special if int => (3.0 * rng.normal()).round(),
            Kind::Special => match rng.below(16) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => 0.0,
                4 => -0.0,
                _ => rng.normal(),
            },
            Kind::Wide if dt == DType::U8 => rng.below(256) as f64,
            Kind::Wide if int => (600.0 * rng.uniform() - 300.0).round(),
            Kind::Wide => 600.0 * rng.uniform() - 300.0,
            Kind::IndexOf { input, dim } => rng.below(shapes[input][dim]) as f64,
            Kind::Range(lo, hi) => (lo + rng.below((hi - lo) as usize) as i64) as f64,
            Kind::Mask => rng.below(2) as f64,
        })
        .collect()
}

/// Filler around the data in offset and strided buffers: values no correct kernel reads, and
/// that change the result if one does (large floats, an invalid index).
fn junk(dt: DType, i: usize) -> f64 {
    match dt {
        DType::F32 | DType::F64 => 1000.0 + i as f64,
        DType::I64 => -1.0,
        DType::U8 => 1.0,
    }
}

/// The variant input `i` really gets: `Mixed` resolved, and `Contig` where the variant does not
/// apply to this input (rank too low, broadcast not allowed or no dim to expand).
fn effective(v: Variant, i: usize, spec: &In, shape: &[usize]) -> Variant {
    let v = if v == Variant::Mixed {
        MIXED[i % MIXED.len()]
    } else {
        v
    };
    let ok = match v {
        Variant::Contig | Variant::Offset => true,
        Variant::Transposed => shape.len() >= 2,
        Variant::Strided => !shape.is_empty(),
        Variant::Broadcast => spec.bcast && shape.iter().any(|&d| d > 1),
        Variant::Mixed => unreachable!("resolved above"),
    };
    if ok {
        v
    } else {
        Variant::Contig
    }
}

fn plan(spec: &In, dt: DType, i: usize, case: &Case, v: Variant, rng: &mut Rng) -> Plan {
    let shape = case.shapes[i].clone();
    let n: usize = shape.iter().product();
    let dtype = match spec.ty {
        Ty::Main => dt,
        Ty::Fixed(d) => d,
    };
    let vals = |rng: &mut Rng, n: usize| values(spec.kind, dtype, n, &case.shapes, rng);
    let r = shape.len();
    let (base_shape, base, view) = match effective(v, i, spec, &shape) {
        Variant::Contig => (shape.clone(), vals(rng, n), View::Same),
        Variant::Transposed => {
            let logical = vals(rng, n);
            let (a, b) = (shape[r - 2], shape[r - 1]);
            let mut bs = shape.clone();
            bs.swap(r - 2, r - 1);
            // base[.., j, i] = logical[.., i, j]
            let mut base = vec![0.0; n];
            for (k, x) in logical.iter().enumerate() {
                let (outer, i2, j2) = (k / (a * b), (k / b) % a, k % b);
                base[outer * a * b + j2 * a + i2] = *x;
            }
            (bs, base, View::Transposed)
        }
        Variant::Offset => {
            let mut base: Vec<f64> = (0..OFF).map(|k| junk(dtype, k)).collect();
            base.extend(vals(rng, n));
            base.extend((0..2).map(|k| junk(dtype, OFF + k)));
            let off = View::Offset {
                off: OFF,
                shape: shape.clone(),
            };
            (vec![n + OFF + 2], base, off)
        }
        Variant::Strided => {
            let logical = vals(rng, n);
            let mut bs = shape.clone();
            bs[r - 1] *= 2;
            let base = logical
                .iter()
                .enumerate()
                .flat_map(|(k, &x)| [x, junk(dtype, k)])
                .collect();
            (bs, base, View::Strided)
        }
        Variant::Broadcast => {
            let d = shape
                .iter()
                .position(|&s| s > 1)
                .expect("checked by effective");
            let mut bs = shape.clone();
            bs[d] = 1;
            let bn = bs.iter().product();
            (bs, vals(rng, bn), View::Broadcast(shape.clone()))
        }
        Variant::Mixed => unreachable!("resolved by effective"),
    };
    Plan {
        dtype,
        base_shape,
        base,
        view,
    }
}

/// `v` as a tensor of `dt` on `dev` (host values convert with `as`).
pub fn tensor_on(v: &[f64], dt: DType, shape: &[usize], dev: Device) -> Result<Tensor> {
    let s = shape.to_vec();
    match dt {
        DType::F32 => Tensor::from_vec_on(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), s, dev),
        DType::F64 => Tensor::from_vec_on(v.to_vec(), s, dev),
        DType::I64 => Tensor::from_vec_on(v.iter().map(|&x| x as i64).collect::<Vec<_>>(), s, dev),
        DType::U8 => Tensor::from_vec_on(v.iter().map(|&x| x as u8).collect::<Vec<_>>(), s, dev),
    }
}

/// The base leaf (marked `requires_grad` when asked and float) and the view the op sees.
fn realize(p: &Plan, dev: Device, grad: bool) -> Result<(Tensor, Tensor)> {
    let base = tensor_on(&p.base, p.dtype, &p.base_shape, dev)?;
    if grad && p.dtype.is_float() {
        base.requires_grad_(true)?;
    }
    let view = match &p.view {
        View::Same => base.clone(),
        View::Transposed => base.transpose(-2, -1)?,
        View::Offset { off, shape } => {
            let n = shape.iter().product();
            base.narrow(0, *off, n)?.reshape(shape)?
        }
        View::Strided => {
            let last = *p.base_shape.last().expect("rank >= 1");
            base.slice(-1, 0, last, 2)?
        }
        View::Broadcast(shape) => base.broadcast_to(shape.clone())?,
    };
    Ok((base, view))
}

/// What one device did.
enum Outcome<T> {
    Ok(T),
    Err(String),
    Panic(String),
}

thread_local! {
    /// Set while this thread runs an op under [`guarded`]: its panics are caught and reported
    /// as failures, so the panic hook stays quiet and only records where it happened.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    static PANIC_AT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs (once) a panic hook that is silent for guarded ops and the default elsewhere.
fn quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `f`, turning an error or a panic into an outcome.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Outcome<T> {
    quiet_hook();
    GUARDED.with(|g| g.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(false));
    match r {
        Ok(Ok(v)) => Outcome::Ok(v),
        Ok(Err(e)) => Outcome::Err(e.to_string()),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Outcome::Panic(format!("{msg} (at {})", PANIC_AT.with(|p| p.take())))
        }
    }
}

struct Run {
    out: Outcome<Vec<Tensor>>,
    /// `None` when no gradient was asked for or no float output tracks one
    grads: Option<Outcome<Vec<Option<Tensor>>>>,
}

fn run_on(dev: Device, row: &Row, plans: &[Plan], seed: u64, grad: bool) -> Run {
    let mut bases = Vec::new();
    let out = guarded(|| {
        let mut views = Vec::new();
        for p in plans {
            let (b, v) = realize(p, dev, grad)?;
            bases.push(b);
            views.push(v);
        }
        match row.op {
            Some(Op::One(f)) => f(&views).map(|y| vec![y]),
            Some(Op::Many(f)) => f(&views),
            None => Err(deepnet_tensor::Error::msg("the row has no op")),
        }
    });
    let grads = match &out {
        Outcome::Ok(outs) if grad => {
            let tracked: Vec<usize> = (0..outs.len())
                .filter(|&i| outs[i].dtype().is_float() && outs[i].tracks_grad())
                .collect();
            (!tracked.is_empty()).then(|| {
                guarded(|| {
                    // L = sum_i sum(out_i * w_i) with fixed random weights of each output's shape
                    let mut loss: Option<Tensor> = None;
                    for &i in &tracked {
                        let o = &outs[i];
                        let mut rng = Rng::new(seed ^ (0x77 + i as u64));
                        let n = o.numel();
                        let w: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
                        let w = tensor_on(&w, o.dtype(), o.dims(), dev)?;
                        let term = o.mul(&w)?.sum_all()?;
                        loss = Some(match loss {
                            None => term,
                            Some(l) => l.add(&term)?,
                        });
                    }
                    let g = loss.expect("at least one tracked output").backward()?;
                    Ok(bases.iter().map(|b| g.get(b).cloned()).collect())
                })
            })
        }
        _ => None,
    };
    Run { out, grads }
}

/// How much of the tolerance `|a - b|` uses (`eps` the dtype's machine epsilon): 0 when equal,
/// above 1 when they disagree, infinite for an exact mismatch (NaN equals NaN).
fn usage(a: f64, b: f64, tol: Tol, eps: f64) -> f64 {
    let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    match tol {
        _ if same => 0.0,
        Tol::Exact => f64::INFINITY,
        // NaN against a number, or an infinity against anything else
        _ if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() => f64::INFINITY,
        Tol::Close { rel, abs } => (a - b).abs() / (eps * (abs + rel * a.abs().max(b.abs()))),
    }
}

/// Compares the CPU result `a` with the reference result `b`: the largest share of the
/// tolerance used, or what differs.
fn compare(a: &Tensor, b: &Tensor, tol: Tol) -> std::result::Result<f64, String> {
    if a.dims() != b.dims() || a.dtype() != b.dtype() {
        return Err(format!(
            "cpu gives {:?} {}, reference {:?} {}",
            a.dims(),
            a.dtype(),
            b.dims(),
            b.dtype()
        ));
    }
    if a.device() != Device::Cpu || b.device() != Device::Reference {
        return Err(format!(
            "results on {} and {}, not on their inputs' devices",
            a.device(),
            b.device()
        ));
    }
    let (eps, tol) = match a.dtype() {
        DType::F32 => (f32::EPSILON as f64, tol),
        DType::F64 => (f64::EPSILON, tol),
        // integers never round
        DType::I64 | DType::U8 => (1.0, Tol::Exact),
    };
    let (x, y) = (a.to_host(), b.to_host());
    if let (HostData::I64(p), HostData::I64(q)) = (&x, &y) {
        // compared as i64: f64 is exact only up to 2^53
        return match p.iter().zip(q).position(|(u, v)| u != v) {
            None => Ok(0.0),
            Some(i) => Err(format!("[{i}] cpu {} reference {}", p[i], q[i])),
        };
    }
    // f32 converts to f64 exactly, so bitwise equality survives the conversion
    let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
    let used: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(&p, &q)| usage(p, q, tol, eps))
        .collect();
    let bad: Vec<usize> = (0..x.len()).filter(|&i| used[i] > 1.0).collect();
    if bad.is_empty() {
        return Ok(used.into_iter().fold(0.0, f64::max));
    }
    let shown: Vec<String> = bad
        .iter()
        .take(4)
        .map(|&i| {
            format!(
                "[{i}] cpu {:e} reference {:e} ({:.3} of tol)",
                x[i], y[i], used[i]
            )
        })
        .collect();
    Err(format!(
        "{} of {} elements differ (tol {tol:?}): {}",
        bad.len(),
        x.len(),
        shown.join(", ")
    ))
}

/// One failure, located well enough to match a [`Known`] entry and to reproduce.
struct Failure {
    dtype: DType,
    case: usize,
    variant: Variant,
    part: Part,
    msg: String,
}

/// Compares two runs; `worst` keeps the largest share of the tolerance used, forward and grad.
fn compare_runs(
    row: &Row,
    cpu: &Run,
    rf: &Run,
    worst: &mut [f64; 2],
    mut fail: impl FnMut(Part, String),
) {
    match (&cpu.out, &rf.out) {
        (Outcome::Ok(a), Outcome::Ok(b)) => {
            if a.len() != b.len() {
                fail(Part::Forward, format!("{} vs {} outputs", a.len(), b.len()));
            }
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                match compare(x, y, row.tol) {
                    Ok(u) => worst[0] = worst[0].max(u),
                    Err(m) => fail(Part::Forward, format!("output {k}: {m}")),
                }
            }
        }
        (Outcome::Panic(p), _) => fail(Part::Forward, format!("cpu panicked: {p}")),
        (_, Outcome::Panic(p)) => fail(Part::Forward, format!("reference panicked: {p}")),
        (Outcome::Err(e), Outcome::Err(_)) => {
            fail(Part::Forward, format!("both devices return an error: {e}"))
        }
        (Outcome::Err(e), _) => fail(Part::Forward, format!("only cpu errs: {e}")),
        (_, Outcome::Err(e)) => fail(Part::Forward, format!("only reference errs: {e}")),
    }
    if !matches!((&cpu.out, &rf.out), (Outcome::Ok(_), Outcome::Ok(_))) {
        return; // reported above; there are no gradients to compare
    }
    match (&cpu.grads, &rf.grads) {
        (None, None) => {}
        (Some(Outcome::Ok(a)), Some(Outcome::Ok(b))) => {
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                match (x, y) {
                    (None, None) => {}
                    (Some(x), Some(y)) => match compare(x, y, row.grad_tol) {
                        Ok(u) => worst[1] = worst[1].max(u),
                        Err(m) => fail(Part::Grad, format!("grad of input {k}: {m}")),
                    },
                    _ => fail(
                        Part::Grad,
                        format!("grad of input {k} present on one device only"),
                    ),
                }
            }
        }
        (Some(Outcome::Panic(p)), _) => fail(Part::Grad, format!("cpu backward panicked: {p}")),
        (_, Some(Outcome::Panic(p))) => {
            fail(Part::Grad, format!("reference backward panicked: {p}"))
        }
        (Some(Outcome::Err(e)), _) => fail(Part::Grad, format!("cpu backward failed: {e}")),
        (_, Some(Outcome::Err(e))) => fail(Part::Grad, format!("reference backward failed: {e}")),
        _ => fail(Part::Grad, "a gradient on one device only".into()),
    }
}

/// An error case: both devices must refuse the inputs (with any message), neither may panic.
fn expect_errors(cpu: &Run, rf: &Run, mut fail: impl FnMut(Part, String)) {
    let says = |o: &Outcome<Vec<Tensor>>| match o {
        Outcome::Ok(_) => "ok".to_string(),
        Outcome::Err(e) => format!("error ({e})"),
        Outcome::Panic(p) => format!("panic ({p})"),
    };
    match (&cpu.out, &rf.out) {
        (Outcome::Err(_), Outcome::Err(_)) => {}
        (a, b) => fail(
            Part::Forward,
            format!(
                "expected an error from both: cpu {}, reference {}",
                says(a),
                says(b)
            ),
        ),
    }
}

/// Structural rules of the table: shapes per input, and the empty and size-1 cases.
fn lint(row: &Row) -> Vec<String> {
    let mut out = Vec::new();
    if row.cases.is_empty() {
        out.push("no cases".to_string());
    }
    if row.op.is_none() {
        out.push("no op (set it with one or many)".to_string());
    }
    for (i, c) in row.cases.iter().enumerate() {
        if c.shapes.len() != row.inputs.len() {
            out.push(format!(
                "case {i}: {} shapes for {} inputs",
                c.shapes.len(),
                row.inputs.len()
            ));
        }
    }
    // rows of error cases only (an out-of-range index) need neither
    let runs = row.cases.iter().any(|c| !c.err);
    let has_empty = row
        .cases
        .iter()
        .any(|c| c.shapes.iter().any(|s| s.contains(&0)));
    if runs && !has_empty && row.no_empty.is_none() {
        out.push("no case with a 0-sized dim (add one or say why with no_empty)".to_string());
    }
    let has_one = row
        .cases
        .iter()
        .any(|c| !c.err && c.shapes.first().is_some_and(|s| s.iter().all(|&d| d == 1)));
    if runs && !has_one && row.no_size1.is_none() {
        out.push(
            "no case whose first input has only size-1 dims (or say why with no_size1)".into(),
        );
    }
    out
}

/// What [`check`] found.
pub struct Report {
    /// failures and stale known entries, one message each
    pub failures: Vec<String>,
    /// op runs compared (each on both devices)
    pub runs: usize,
    /// per row with a `Close` tolerance: its label and the largest share of the tolerance used,
    /// forward and backward (1 is the limit)
    pub worst: Vec<(String, f64, f64)>,
}

/// Runs every row x dtype x case x layout variant on both devices and compares.
pub fn check(rows: &[Row]) -> Report {
    let mut msgs = Vec::new();
    let mut runs = 0;
    let mut worst_rows = Vec::new();
    for row in rows {
        let mut worst = [0.0f64; 2];
        let label = row.label();
        for m in lint(row) {
            msgs.push(format!("{label}: {m}"));
        }
        let mut hit = vec![false; row.known.len()];
        let mut failures: Vec<Failure> = Vec::new();
        for (di, &dt) in row.dtypes.iter().enumerate() {
            for (ci, case) in row.cases.iter().enumerate() {
                if case.shapes.len() != row.inputs.len() {
                    continue;
                }
                for (vi, &v) in VARIANTS.iter().enumerate() {
                    let non_contig = (0..row.inputs.len()).any(|i| {
                        effective(v, i, &row.inputs[i], &case.shapes[i]) != Variant::Contig
                    });
                    if v != Variant::Contig && (case.err || !row.views || !non_contig) {
                        continue;
                    }
                    let seed = fnv(row.name)
                        ^ fnv(row.note).rotate_left(17)
                        ^ ((di as u64) << 8 | (ci as u64) << 16 | (vi as u64) << 24);
                    let mut rng = Rng::new(seed);
                    let plans: Vec<Plan> = row
                        .inputs
                        .iter()
                        .enumerate()
                        .map(|(i, spec)| plan(spec, dt, i, case, v, &mut rng))
                        .collect();
                    let grad = row.grad && dt.is_float() && !case.err;
                    let cpu = run_on(Device::Cpu, row, &plans, seed, grad);
                    let rf = run_on(Device::Reference, row, &plans, seed, grad);
                    runs += 1;
                    let mut fail = |part: Part, msg: String| {
                        failures.push(Failure {
                            dtype: dt,
                            case: ci,
                            variant: v,
                            part,
                            msg,
                        })
                    };
                    if case.err {
                        expect_errors(&cpu, &rf, &mut fail);
                    } else {
                        compare_runs(row, &cpu, &rf, &mut worst, &mut fail);
                    }
                }
            }
        }
        for f in failures {
            let known = row.known.iter().position(|k| {
                k.part == f.part
                    && k.dtype.is_none_or(|d| d == f.dtype)
                    && k.case.is_none_or(|c| c == f.case)
                    && k.variant.is_none_or(|v| v == f.variant)
            });
            match known {
                Some(k) => hit[k] = true,
                None => msgs.push(format!(
                    "{label} {} case {} {:?} {:?} {:?}: {}",
                    f.dtype, f.case, row.cases[f.case].shapes, f.variant, f.part, f.msg
                )),
            }
        }
        for (k, h) in row.known.iter().zip(hit) {
            if !h {
                msgs.push(format!(
                    "{label}: the known disagreement \"{}\" ({k:?}) no longer occurs: remove it",
                    k.why
                ));
            }
        }
        if row.tol != Tol::Exact || row.grad {
            worst_rows.push((label, worst[0], worst[1]));
        }
    }
    Report {
        failures: msgs,
        runs,
        worst: worst_rows,
    }
}
