//! What every CLI test needs: the binary run from the repository root (where `data/` is), its
//! output read back, and a fresh scratch folder. Each test file includes it with `mod common;`.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `deepnet ARGS` from the repository root.
pub fn deepnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deepnet"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("the deepnet binary runs")
}

/// The run's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The last line of standard output, parsed as the `--json` summary.
pub fn json_line(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{}", stderr(o)))
}

/// An empty scratch folder for this process, named after the test file and `name`.
pub fn temp_dir(file: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("deepnet-{file}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Starts `deepnet ARGS` from the repository root, sends it SIGINT as soon as its progress says
/// it is mid-epoch (the first line with "batch "), and returns its exit code and its standard
/// error (the lines before the signal and after).
#[cfg(unix)]
pub fn interrupt_at_first_batch(args: &[String]) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_deepnet"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the deepnet binary starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let mut log = String::new();
    for line in lines.by_ref() {
        let line = line.expect("utf-8 progress");
        log += &line;
        log.push('\n');
        if line.contains("batch ") {
            break;
        }
    }
    // SAFETY: kill only sends a signal to our own child
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    for line in lines {
        log += &line.expect("utf-8 progress");
        log.push('\n');
    }
    (child.wait().expect("the child exits").code(), log)
}

/// The tensors of `dir/model.safetensors` as the bits of their values widened to f64 (exact
/// for f32 and for the int64 counters of batch norm), to compare runs bit for bit.
pub fn weight_bits(dir: &Path) -> Vec<(String, Vec<u64>)> {
    deepnet::train::load_safetensors(dir.join("model.safetensors"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .into_iter()
        .map(|(k, t)| (k, t.to_vec_f64().iter().map(|x| x.to_bits()).collect()))
        .collect()
}

/// Asserts that the weights of two runs are the same bits, naming the first tensor that is
/// not (rather than printing them all).
pub fn assert_same_weights(a: &Path, b: &Path, what: &str) {
    let (wa, wb) = (weight_bits(a), weight_bits(b));
    assert_eq!(
        wa.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        wb.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "{what}: the tensor names differ"
    );
    if let Some(((k, _), _)) = wa.iter().zip(&wb).find(|(x, y)| x.1 != y.1) {
        panic!(
            "{what}: tensor {k} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// `../shared/data/<rel>` (beside the repository) when it exists; otherwise `None`, after
/// printing that the test is skipped and why.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is missing (it comes with the shared data folder)",
            p.display()
        );
        None
    }
}

/// Width and height from a PNG's IHDR chunk (bytes 16..24).
pub fn png_size(path: &Path) -> (u64, u64) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64;
    (be(16), be(20))
}
