//! The vanishing gradient through time, measured: how strongly the loss at the last step of a
//! long sequence reaches back to each input, `||dL/dx_t||`, for an Elman RNN (tanh) and an LSTM
//! of the same hidden size, after both are trained on a task that needs a long memory.
//!
//! ```text
//! cargo run --release -p deepnet --example rnn_time_gradients
//! ```
//!
//! The task: sequences of `LEN` steps of two features. Step 0 carries the label as its sign,
//! `(+-1, 1)` (the second feature marks the first step); every later step is `(noise, 0)` with
//! noise `N(0, NOISE^2)`. A Linear layer on the last hidden state classifies the sign, so the
//! network has to carry one bit across `LEN - 1` noisy steps.
//!
//! The Elman RNN starts from PyTorch's default initialization (every weight and bias uniform in
//! `+-1/sqrt(H)`); so does the LSTM, except that its forget-gate biases start at 1 in each of
//! its two bias vectors (`bias_ih` and `bias_hh` rows `H..2H`), a forget-gate pre-activation bias
//! of 2, PyTorch's common recipe after Jozefowicz et al. (2015). At the plain default the forget
//! gate starts near `sigmoid(0) = 0.5`, the LSTM's gradient through time decays at first as
//! well, and measured here it stays at chance on this task within 1,000 steps (as does the Elman
//! RNN; `--forget-bias torch` shows it). Both nets train for `STEPS` Adam steps on the same
//! batches and are then measured on one fixed held-out batch: the cross-entropy of the last
//! step's logits is differentiated with respect to the whole input sequence, and the L2 norm of
//! the gradient at each step (over the batch and both features) is plotted on a log scale
//! against `t` (`docs/rnn_time_gradients.png`), with the norms at initialization.
//!
//! Flags (all optional): `--len N`, `--hidden N`, `--steps N`, `--seed N`, `--out PATH`,
//! `--lr X`, `--forget-bias B` (the LSTM's forget-gate pre-activation bias at initialization,
//! `B/2` in each bias vector, default 2; `torch` keeps PyTorch's default).

use deepnet::nn::layers::{Linear, RnnConfig, LSTM, RNN};
use deepnet::nn::loss::cross_entropy;
use deepnet::nn::optim::{Adam, AdamConfig};
use deepnet::nn::regularize::clip_grad_norm_;
use deepnet::prelude::*;
use deepnet::train::monitor::{time_step_grad_norms, write_time_step_plot_titled};
use std::time::Instant;

const LEN: usize = 60;
const HIDDEN: usize = 32;
const STEPS: usize = 600;
const BATCH: usize = 64;
const NOISE: f64 = 0.5;
const EVAL: usize = 1000;
const LR: f64 = 1e-3;
const FORGET_BIAS: f64 = 2.0;

struct Settings {
    len: usize,
    hidden: usize,
    steps: usize,
    seed: u64,
    out: String,
    forget_bias: Option<f64>,
    lr: f64,
}

fn settings() -> Result<Settings> {
    let mut s = Settings {
        len: LEN,
        hidden: HIDDEN,
        steps: STEPS,
        seed: 0,
        out: "docs/rnn_time_gradients.png".into(),
        forget_bias: Some(FORGET_BIAS),
        lr: LR,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| Error::msg(format!("{flag} needs a value")))?;
        let num = || {
            value
                .parse::<usize>()
                .map_err(|_| Error::msg(format!("{flag}: expected a whole number, got {value:?}")))
        };
        match flag.as_str() {
            "--len" => s.len = num()?.max(2),
            "--hidden" => s.hidden = num()?.max(1),
            "--steps" => s.steps = num()?,
            "--seed" => s.seed = num()? as u64,
            "--out" => s.out = value.clone(),
            "--lr" => {
                s.lr = value.parse().map_err(|_| {
                    Error::msg(format!("--lr: expected a number, got {value:?}"))
                })?
            }
            "--forget-bias" if value == "torch" => s.forget_bias = None,
            "--forget-bias" => {
                s.forget_bias = Some(value.parse().map_err(|_| {
                    Error::msg(format!(
                        "--forget-bias: expected a number or `torch`, got {value:?}"
                    ))
                })?)
            }
            _ => {
                return Err(Error::msg(format!(
                    "unknown flag {flag:?} (--len, --hidden, --steps, --seed, --lr, --out, --forget-bias)"
                )))
            }
        }
    }
    Ok(s)
}

/// `n` sequences `(len, n, 2)` and their labels `(n,)`: step 0 is `(+-1, 1)`, the label is 1
/// for `+1` and 0 for `-1`; every later step is `(N(0, NOISE^2), 0)`.
fn batch(len: usize, n: usize, g: &mut Generator) -> Result<(Tensor, Tensor)> {
    let labels: Vec<i64> = (0..n).map(|_| (g.next_u64() >> 63) as i64).collect();
    let mut x = Vec::with_capacity(len * n * 2);
    for t in 0..len {
        for &y in &labels {
            if t == 0 {
                x.extend([2.0 * y as f32 - 1.0, 1.0]);
            } else {
                x.extend([(NOISE * g.next_normal()) as f32, 0.0]);
            }
        }
    }
    Ok((
        Tensor::from_vec(x, vec![len, n, 2])?,
        Tensor::from_vec(labels, vec![n])?,
    ))
}

enum Body {
    Rnn(RNN),
    Lstm(LSTM),
}

/// A one-layer recurrent network and a Linear head on its last hidden state.
struct Net {
    name: &'static str,
    body: Body,
    fc: Linear,
    store: ParamStore,
}

impl Net {
    fn new(lstm: bool, hidden: usize, seed: u64, forget_bias: Option<f64>) -> Result<Net> {
        let store = ParamStore::new(seed);
        let root = store.root();
        let cfg = RnnConfig::new(2, hidden);
        let body = if lstm {
            Body::Lstm(LSTM::new(&cfg, &root.push("rnn"))?)
        } else {
            Body::Rnn(RNN::new(&cfg, &root.push("rnn"))?)
        };
        let fc = Linear::new(hidden, 2, true, &root.push("fc"))?;
        if let (true, Some(b)) = (lstm, forget_bias) {
            let _guard = no_grad();
            let get = |k: &str| store.get(k).ok_or_else(|| Error::msg(format!("no {k}")));
            // gates i, f, g, o: rows H..2H are the forget gate's; the gate sees the sum of the
            // two biases, so each gets half (B = 2 is PyTorch's common recipe of filling both
            // forget slices with 1)
            for key in ["rnn.bias_ih_l0", "rnn.bias_hh_l0"] {
                get(key)?.narrow(0, hidden, hidden)?.fill_(b / 2.0)?;
            }
        }
        Ok(Net {
            name: if lstm { "LSTM" } else { "Elman RNN (tanh)" },
            body,
            fc,
            store,
        })
    }

    /// The logits `(N, 2)` from the last step's hidden state.
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let h_n = match &self.body {
            Body::Rnn(r) => r.forward_with_state(x, None, None)?.1,
            Body::Lstm(l) => l.forward_with_state(x, None, None)?.1 .0,
        };
        self.fc.forward(&h_n.squeeze(0)?)
    }

    /// The loss on `(x, y)` and `||dL/dx_t||` for every step `t`.
    fn time_gradients(&self, x: &Tensor, y: &Tensor) -> Result<(f64, Vec<f64>)> {
        let x = x.detach().requires_grad_(true)?;
        let loss = cross_entropy(&self.logits(&x)?, y, Reduction::Mean)?;
        let grads = loss.backward()?;
        let gx = grads
            .get(&x)
            .ok_or_else(|| Error::msg("the input got no gradient"))?;
        Ok((loss.item()?, time_step_grad_norms(gx, 0)?))
    }

    /// The share of `(x, y)` classified correctly.
    fn accuracy(&self, x: &Tensor, y: &Tensor) -> Result<f64> {
        let _guard = no_grad();
        let pred = self.logits(x)?.argmax(1, false)?.to_vec::<i64>()?;
        let y = y.to_vec::<i64>()?;
        let right = pred.iter().zip(&y).filter(|(p, t)| p == t).count();
        Ok(right as f64 / y.len() as f64)
    }
}

fn show(norms: &[f64]) -> String {
    let len = norms.len();
    let mut at = vec![0, len / 4, len / 2, 3 * len / 4, len - 1];
    at.dedup();
    at.iter()
        .map(|&t| format!("t={t}: {:.2e}", norms[t]))
        .collect::<Vec<_>>()
        .join("  ")
}

fn main() -> Result<()> {
    let s = settings()?;
    let (len, hidden) = (s.len, s.hidden);
    println!(
        "task: {len} steps, the label is the sign of step 0, then N(0, {NOISE}^2) noise; \
         hidden size {hidden}, Adam lr {}, clip 1.0, batch {BATCH}, {} steps{}",
        s.lr,
        s.steps,
        s.forget_bias
            .map(|b| format!(", LSTM forget-gate bias {b}"))
            .unwrap_or_default()
    );
    let (xe, ye) = batch(len, EVAL, &mut Generator::new(1_000_003 + s.seed))?;
    let mut series = Vec::new();
    let mut summary = Vec::new();
    for lstm in [false, true] {
        let net = Net::new(lstm, hidden, s.seed, s.forget_bias)?;
        let (loss0, init) = net.time_gradients(&xe, &ye)?;
        println!(
            "\n{} ({} parameters)\n  at init:  loss {loss0:.4}  ||dL/dx_t||  {}",
            net.name,
            net.store.num_params(),
            show(&init)
        );
        let params = net.store.trainable();
        let tensors: Vec<Tensor> = params.iter().map(|(_, t)| t.clone()).collect();
        let mut opt = Adam::new(AdamConfig {
            lr: s.lr,
            ..Default::default()
        })?;
        // the same training batches for both nets
        let mut g = Generator::new(7 + s.seed);
        let t0 = Instant::now();
        let mut running = 0.0;
        for step in 1..=s.steps {
            let (x, y) = batch(len, BATCH, &mut g)?;
            let loss = cross_entropy(&net.logits(&x)?, &y, Reduction::Mean)?;
            let mut grads = loss.backward()?;
            clip_grad_norm_(&mut grads, &tensors, 1.0)?;
            opt.step(&params, &grads)?;
            running += loss.item()?;
            if step % 100 == 0 {
                println!(
                    "  step {step:5}  loss {:.4}  held-out accuracy {:.1}%  ({:.1} s)",
                    running / 100.0,
                    100.0 * net.accuracy(&xe, &ye)?,
                    t0.elapsed().as_secs_f64()
                );
                running = 0.0;
            }
        }
        let (loss, trained) = net.time_gradients(&xe, &ye)?;
        let acc = net.accuracy(&xe, &ye)?;
        println!(
            "  trained:  loss {loss:.4}  ||dL/dx_t||  {}\n  held-out accuracy {:.1}%, \
             ||dL/dx_0|| / ||dL/dx_{}|| = {:.2e} (at init {:.2e})",
            show(&trained),
            100.0 * acc,
            len - 1,
            trained[0] / trained[len - 1],
            init[0] / init[len - 1]
        );
        summary.push((net.name, acc, trained[0] / trained[len - 1]));
        series.push((
            format!("{}, trained: {:.1}% accuracy", net.name, 100.0 * acc),
            trained,
        ));
        series.push((format!("{} at initialization", net.name), init));
    }
    let named: Vec<(&str, Vec<f64>)> = series
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    let title = format!(
        "gradient of the last step's loss w.r.t. each input, {len} steps, H = {hidden}, {} Adam steps",
        s.steps
    );
    write_time_step_plot_titled(&s.out, &title, &named).map_err(|e| Error::msg(e.to_string()))?;
    println!("\nwrote {}", s.out);
    for (name, acc, ratio) in summary {
        println!(
            "{name:>18}: {:.1}% held-out accuracy, ||dL/dx_0|| / ||dL/dx_last|| = {ratio:.2e}",
            100.0 * acc
        );
    }
    Ok(())
}
