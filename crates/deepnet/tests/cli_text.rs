//! The character-level language model on the command line: `train --model char_lstm` on a text
//! file written by the test (the loss in nats per character in `--json`, `metrics.csv` and
//! `config.json`; the vocabulary and sizes in the weights file), clear errors for bad text
//! flags, and a run stopped by a real SIGINT that `--resume` finishes with the weights of an
//! uninterrupted run.

mod common;

#[cfg(unix)]
use common::interrupt_at_first_batch;
use common::{deepnet, json_line, stderr, temp_dir, weight_bits};
use deepnet::train::load_safetensors_with_metadata;
use std::path::{Path, PathBuf};

/// A text of `words` pseudo-random words from a small lexicon, in lines of eight words:
/// learnable (a word predicts its own letters), not a plain repetition.
fn write_text(dir: &Path, words: usize) -> PathBuf {
    const LEXICON: &[&str] = &[
        "the", "king", "queen", "shall", "speak", "of", "love", "and", "war", "my", "lord",
    ];
    let mut state: u64 = 12345;
    let mut text = String::new();
    for i in 0..words {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text += LEXICON[(state >> 33) as usize % LEXICON.len()];
        text.push(if i % 8 == 7 { '\n' } else { ' ' });
    }
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("words.txt");
    std::fs::write(&p, text).unwrap();
    p
}

/// The flags of a tiny char_lstm run on `text` into `out`.
fn tiny(text: &Path, out: &Path, epochs: &str) -> Vec<String> {
    [
        "train",
        "--model",
        "char_lstm",
        "--dataset",
        &text.display().to_string(),
        "--seq-len",
        "24",
        "--embed",
        "8",
        "--hidden-size",
        "32",
        "--num-layers",
        "2",
        "--dropout",
        "0.1",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--epochs",
        epochs,
        "--seed",
        "5",
        "--out",
        &out.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String]) -> std::process::Output {
    deepnet(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn train_char_lstm_on_a_text_file_reports_nats_per_character() {
    let dir = temp_dir("cli-text", "train");
    let text = write_text(&dir, 1500); // about 7,000 characters
    let out = dir.join("run");
    let mut args = tiny(&text, &out, "3");
    args.push("--json".into());
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["command"], "train", "{j}");
    assert_eq!(j["model"], "char_lstm", "{j}");
    assert_eq!(j["dataset"], "words", "{j}");
    assert_eq!(j["epochs"].as_u64(), Some(3), "{j}");
    let val = j["val_loss_nats_per_char"].as_f64().unwrap();
    assert_eq!(j["test_loss"].as_f64(), Some(val), "{j}");
    assert!((j["val_bpc"].as_f64().unwrap() - val / 2f64.ln()).abs() < 1e-9);
    // 23 characters: a model that knows nothing scores ln 23 = 3.14; three epochs learn at
    // least the letter frequencies and some words (1.67 with seed 5)
    assert!(val < 2.3, "{j}");
    for k in ["seconds", "train_loss", "chars_per_sec", "parameters"] {
        assert!(j[k].as_f64().is_some_and(|v| v > 0.0), "{k}: {j}");
    }
    // metrics.csv: the loss and bits per character of the train and validation parts
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "epoch,train_loss,train_bpc,test_loss,test_bpc,seconds,sequences_per_sec,lr"
    );
    assert_eq!(lines.count(), 3);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["optimizer"], "adam", "{config}");
    assert_eq!(config["clip_norm"].as_f64(), Some(5.0), "{config}");
    assert_eq!(
        config["model"]["hidden_size"].as_u64(),
        Some(32),
        "{config}"
    );
    assert_eq!(config["model"]["dropout"].as_f64(), Some(0.1), "{config}");
    assert!(config["loss"]
        .as_str()
        .unwrap()
        .contains("nats per character"));
    // the weights carry the vocabulary and the sizes
    let (tensors, meta) = load_safetensors_with_metadata(out.join("model.safetensors")).unwrap();
    let get = |k: &str| meta.iter().find(|(m, _)| m == k).unwrap().1.clone();
    assert_eq!(get("deepnet.vocab"), "\n adefghiklmnopqrstuvwy");
    let model: serde_json::Value = serde_json::from_str(&get("deepnet.model")).unwrap();
    assert_eq!(model["name"], "char_lstm");
    assert_eq!(model["vocab_size"].as_u64(), Some(23));
    assert_eq!(tensors[0].0, "embed.weight");
    assert_eq!(tensors[0].1.dims(), [23, 8]);
    // the classifier commands say what the file is
    let w = out.join("model.safetensors");
    let w = w.to_str().unwrap();
    let o = deepnet(&["eval", "--weights", w]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("holds a character-level language model (char_lstm)")
            && stderr(&o).contains("deepnet sample --weights"),
        "{}",
        stderr(&o)
    );
    // deepnet sample reads the file's metadata and samples text after the prime, seeded
    let sample = |extra: &[&str]| {
        let mut args = vec![
            "sample",
            "--weights",
            w,
            "--prime",
            "the ",
            "--length",
            "60",
        ];
        args.extend_from_slice(extra);
        deepnet(&args)
    };
    let o = sample(&["--temperature", "0.5", "--seed", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json_line(&o);
    assert_eq!(j["model"], "char_lstm", "{j}");
    let text = j["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("the ") && text.chars().count() == 64,
        "{text:?}"
    );
    assert!(text.chars().all(|c| "\n adefghiklmnopqrstuvwy".contains(c)));
    let txt = dir.join("s.txt");
    let o = sample(&[
        "--temperature",
        "0.5",
        "--seed",
        "3",
        "--out",
        txt.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&txt).unwrap(), text);
    // the flags of images with a text model, and both kinds at once, are named
    let e = stderr(&deepnet(&["sample", "--weights", w, "--grid", "2x2"]));
    assert!(
        e.contains("--grid") && e.contains("holds a char_lstm, which samples text"),
        "{e}"
    );
    let e = stderr(&sample(&["--count", "3"]));
    assert!(e.contains("--prime and --count"), "{e}");
    let e = stderr(&sample(&["--out", "x.png"]));
    assert!(e.contains("--out x.png") && e.contains(".txt"), "{e}");
    let e = stderr(&sample(&["--temperature", "0"]));
    assert!(
        e.contains("--temperature: expected a positive number"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_text_flags_are_clear_errors() {
    let dir = temp_dir("cli-text", "errors");
    let text = write_text(&dir, 100);
    let err = |extra: &[&str]| {
        let base = [
            "train",
            "--model",
            "char_lstm",
            "--dataset",
            text.to_str().unwrap(),
        ];
        let run_dir = dir.join("run");
        let mut args: Vec<&str> = base.to_vec();
        args.extend(["--out", run_dir.to_str().unwrap()]);
        args.extend(extra);
        let o = deepnet(&args);
        assert!(!o.status.success());
        stderr(&o)
    };
    let e = err(&["--seq-len", "0"]);
    assert!(e.contains("--seq-len: expected at least 1"), "{e}");
    let e = err(&["--val-fraction", "1.5"]);
    assert!(
        e.contains("--val-fraction: expected a number in (0, 1)"),
        "{e}"
    );
    // 10% of about 470 characters is shorter than a window of 100 + 1
    let e = err(&["--seq-len", "100"]);
    assert!(
        e.contains("each part needs at least seq_len + 1 = 101"),
        "{e}"
    );
    let e = err(&["--loss", "mse"]);
    assert!(e.contains("--loss: not supported by char_lstm"), "{e}");
    let e = err(&["--seq-len", "10", "--hidden-size", "0"]);
    assert!(e.contains("hidden_size") && e.contains("at least 1"), "{e}");
    let o = deepnet(&["train", "--model", "char_lstm", "--dataset", "no-such-text"]);
    let e = stderr(&o);
    assert!(
        e.contains(
            "\"no-such-text\" is neither shakespeare, jane-austen, moby-dick nor a text file"
        ),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[test]
fn sigint_then_resume_gives_the_uninterrupted_weights() {
    let dir = temp_dir("cli-text", "resume");
    let text = write_text(&dir, 6000); // about 27,000 characters: 63 batches an epoch
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    let o = run(&tiny(&text, &whole, "2"));
    assert!(o.status.success(), "{}", stderr(&o));

    // SIGINT at the first progress line ("batch k/63 ..."): mid-epoch
    let (code, log) = interrupt_at_first_batch(&tiny(&text, &parts, "2"));
    assert_eq!(code, Some(130), "{log}");
    assert!(log.contains("sequences/s"), "{log}");
    assert!(!parts.join("model.safetensors").exists());
    let p = parts.display().to_string();
    let o = deepnet(&["train", "--resume", &p, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_line(&o)["model"], "char_lstm");
    assert_eq!(weight_bits(&whole), weight_bits(&parts));
    let _ = std::fs::remove_dir_all(dir);
}
