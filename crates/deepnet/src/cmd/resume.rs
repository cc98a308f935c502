//! Runs that survive: `train --resume RUN_DIR` continues a run from its checkpoint with the
//! run's own flags (kept in `config.json` as `argv`), and Ctrl-C (SIGINT) stops a run after the
//! batch in hand with a checkpoint written, so that nothing is lost. A second Ctrl-C exits at
//! once.

use super::common::CliResult;
use super::train::TrainArgs;
use clap::Parser;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The flag the SIGINT handler raises; the training loop polls it after every batch.
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    // only an atomic swap and _exit here: both are async-signal-safe
    if let Some(flag) = STOP.get() {
        if flag.swap(true, Ordering::SeqCst) {
            // SAFETY: _exit ends the process without running anything else
            unsafe { libc::_exit(130) };
        }
    }
}

/// Installs the Ctrl-C handler (once) and returns the flag it raises.
pub fn stop_flag() -> Arc<AtomicBool> {
    let flag = STOP
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    #[cfg(unix)]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            // SAFETY: on_sigint is an extern "C" fn(c_int) that only does signal-safe work
            unsafe {
                libc::signal(
                    libc::SIGINT,
                    on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        });
    }
    flag
}

/// After a run that stopped on Ctrl-C (`interrupted`), says where its checkpoint is and how to
/// continue, and exits with 130 (128 + SIGINT); returns otherwise.
pub fn exit_if_interrupted(interrupted: bool, out: &Path) {
    if interrupted {
        eprintln!(
            "interrupted: checkpoint written to {}; continue with: deepnet train --resume {}",
            out.join("checkpoint.safetensors").display(),
            out.display()
        );
        std::process::exit(130);
    }
}

/// The arguments of `train` on this command line (what follows the `train` subcommand).
pub fn train_argv() -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().position(|a| a == "train") {
        Some(i) => args[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: TrainArgs,
}

/// The flags of the run in `dir`, from its `config.json`, with `--out dir`. `given` are the
/// flags of this command line, which may hold nothing but `--resume` (and the global
/// `--json`/`--threads`).
pub fn resumed_args(dir: &Path, given: &[String]) -> CliResult<TrainArgs> {
    let mut extra = Vec::new();
    let mut it = given.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--resume" | "--threads" => {
                it.next();
            }
            "--json" => {}
            s if s.starts_with("--resume=") || s.starts_with("--threads=") => {}
            s => extra.push(s.to_string()),
        }
    }
    if !extra.is_empty() {
        return Err(format!(
            "--resume: takes no other train flags (the run's own are in {}): got {}",
            dir.join("config.json").display(),
            extra.join(" ")
        ));
    }
    // the global flags (--json, --threads) may stand after `train` in the recorded command
    // line; they are not train's own
    let cfg = dir.join("config.json");
    let mut args = args_from_config(&read_config(&cfg)?, &cfg)?;
    args.out = Some(dir.to_path_buf());
    args.resume = None;
    Ok(args)
}

/// The train flags recorded in the text `config` of `config.json` (`cfg` names it in errors),
/// parsed; the global flags (--json, --threads) recorded after `train` are dropped.
fn args_from_config(config: &str, cfg: &Path) -> CliResult<TrainArgs> {
    let mut argv = argv_of(config, cfg)?.into_iter();
    let mut own = Vec::new();
    while let Some(a) = argv.next() {
        match a.as_str() {
            "--json" => {}
            "--threads" => {
                argv.next();
            }
            s if s.starts_with("--threads=") => {}
            _ => own.push(a),
        }
    }
    let w = Wrapper::try_parse_from(std::iter::once("train".to_string()).chain(own))
        .map_err(|e| format!("--resume: the flags in {}: {e}", cfg.display()))?;
    Ok(w.args)
}

/// The text of a run's `config.json` (a regular file of at most 16 MiB, UTF-8).
fn read_config(cfg_path: &Path) -> CliResult<String> {
    let bytes = deepnet::data::read_regular_file(cfg_path, 16 << 20)
        .map_err(|e| format!("--resume: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("--resume: {}: {e}", cfg_path.display()))
}

/// The `argv` list of the config text `text` (`cfg_path` names it in errors).
fn argv_of(text: &str, cfg_path: &Path) -> CliResult<Vec<String>> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("--resume: {}: {e}", cfg_path.display()))?;
    v.get("argv")
        .and_then(|a| a.as_array())
        .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect())
        .ok_or_else(|| {
            format!(
                "--resume: {} has no \"argv\" list: not a run of deepnet train that can resume",
                cfg_path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_config_json_is_an_error_never_a_panic() {
        let good = serde_json::json!({
            "model": {"name": "lenet5", "input": [1, 28, 28], "classes": 10},
            "argv": ["--model", "lenet5", "--epochs", "3", "--lr", "0.01", "--json"],
            "epochs": 3,
        })
        .to_string();
        let cfg = Path::new("config.json");
        let a = args_from_config(&good, cfg).unwrap();
        assert_eq!((a.model.model.as_str(), a.epochs), ("lenet5", Some(3)));
        deepnet::tensor::testing::fuzz_bytes(good.as_bytes(), 3_000, 7, |b| {
            let _ = args_from_config(&String::from_utf8_lossy(b), cfg);
        });
    }

    #[test]
    fn flags_come_back_from_config_json_and_others_are_refused() {
        let dir = std::env::temp_dir().join(format!("deepnet-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            r#"{"argv": ["--model", "lenet5", "--json", "--epochs", "3", "--threads", "2",
                "--out", "elsewhere"]}"#,
        )
        .unwrap();
        let given = ["--resume".to_string(), dir.display().to_string()];
        let a = resumed_args(&dir, &given).unwrap();
        assert_eq!((a.model.model.as_str(), a.epochs), ("lenet5", Some(3)));
        assert_eq!(a.out.as_deref(), Some(dir.as_path()));
        let mut more = given.to_vec();
        more.extend(["--epochs".into(), "9".into()]);
        let e = resumed_args(&dir, &more).unwrap_err();
        assert!(
            e.contains("no other train flags") && e.contains("--epochs 9"),
            "{e}"
        );
        std::fs::write(dir.join("config.json"), "{}").unwrap();
        assert!(resumed_args(&dir, &given)
            .unwrap_err()
            .contains("no \"argv\""));
        let _ = std::fs::remove_dir_all(dir);
    }
}
