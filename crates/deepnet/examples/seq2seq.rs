//! A GRU encoder-decoder learning a task whose output is shorter than its input: a string of
//! 3..=8 digits -> its distinct digits in ascending order (`7 3 7 1` -> `1 3 7`).
//!
//! ```text
//! cargo run --release -p deepnet --example seq2seq
//! ```
//!
//! Trains with teacher forcing (the decoder reads `<bos>` + the target shifted right), then
//! decodes greedily until `<eos>` and reports the exact-match accuracy on 1,000 held-out strings
//! (a hash split: no test string is ever drawn for training), a few examples, and, as a probe of
//! what was learned rather than memorized, the accuracy on longer strings (9..=16 digits) than
//! any seen in training.

use deepnet::models::seq2seq::{Seq2Seq, Seq2SeqConfig, SortedDigits, Split};
use deepnet::nn::optim::{Adam, AdamConfig};
use deepnet::nn::regularize::clip_grad_norm_;
use deepnet::prelude::*;
use std::time::Instant;

const STEPS: usize = 1200;
const BATCH: usize = 64;
const EVAL_EVERY: usize = 200;

fn main() -> Result<()> {
    let task = SortedDigits::default();
    let store = ParamStore::new(0);
    let cfg = Seq2SeqConfig::new(SortedDigits::VOCAB, 32, 128);
    let model = Seq2Seq::new(&cfg, &store.root())?;
    println!(
        "seq2seq: embed {}, hidden {}, {} parameters; task: {}..={} digits -> sorted distinct digits",
        cfg.embed,
        cfg.hidden,
        store.num_params(),
        task.min_len,
        task.max_len
    );
    let mut opt = Adam::new(AdamConfig {
        lr: 2e-3,
        ..Default::default()
    })?;
    let params = store.trainable();
    let tensors: Vec<Tensor> = params.iter().map(|(_, t)| t.clone()).collect();
    let test = task.pairs(1000, Split::Test, &mut Generator::new(1234));
    let mut g = Generator::new(7);

    let t0 = Instant::now();
    let mut running = 0.0;
    for step in 1..=STEPS {
        // lower the learning rate for the last third
        if step == 2 * STEPS / 3 {
            opt.set_lr(opt.lr() * 0.2);
        }
        let (src, tgt) = SortedDigits::batch(&task.pairs(BATCH, Split::Train, &mut g))?;
        let loss = model.loss(&src, &tgt)?;
        let mut grads = loss.backward()?;
        clip_grad_norm_(&mut grads, &tensors, 1.0)?;
        opt.step(&params, &grads)?;
        running += loss.item()?;
        if step % EVAL_EVERY == 0 {
            let (acc, _) = task.evaluate(&model, &test, 500)?;
            println!(
                "step {step:5}  loss {:.4}  held-out exact match {:.1}%  ({:.1} s)",
                running / EVAL_EVERY as f64,
                100.0 * acc,
                t0.elapsed().as_secs_f64()
            );
            running = 0.0;
        }
    }
    let train_s = t0.elapsed().as_secs_f64();

    let (acc, preds) = task.evaluate(&model, &test, 500)?;
    println!(
        "\nfinal held-out exact match: {:.1}% of {} ({} wrong), trained {STEPS} steps x {BATCH} in {train_s:.1} s",
        100.0 * acc,
        test.len(),
        test.iter()
            .zip(&preds)
            .filter(|((_, t), p)| t[..t.len() - 1] != p[..])
            .count()
    );
    println!("examples (input -> greedy output, expected):");
    for ((s, t), p) in test.iter().zip(&preds).take(8) {
        let want = SortedDigits::show(&t[..t.len() - 1]);
        let got = SortedDigits::show(p);
        let mark = if got == want { "ok" } else { "WRONG" };
        println!(
            "  {:>8} -> {got:<10} {want:<10} {mark}",
            SortedDigits::show(s)
        );
    }
    for ((s, t), p) in test
        .iter()
        .zip(&preds)
        .filter(|((_, t), p)| t[..t.len() - 1] != p[..])
        .take(5)
    {
        println!(
            "  miss: {} -> {} (want {})",
            SortedDigits::show(s),
            SortedDigits::show(p),
            SortedDigits::show(&t[..t.len() - 1])
        );
    }

    let longer = SortedDigits {
        min_len: 9,
        max_len: 16,
    };
    let long_test = longer.pairs(1000, Split::Test, &mut Generator::new(99));
    let (long_acc, _) = longer.evaluate(&model, &long_test, 500)?;
    println!(
        "longer inputs than trained on ({}..={} digits): exact match {:.1}%",
        longer.min_len,
        longer.max_len,
        100.0 * long_acc
    );
    println!("total wall time {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
