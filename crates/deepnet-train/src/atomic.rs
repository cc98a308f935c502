//! Atomic file replacement: the content goes to a temporary file in the target's directory, is
//! flushed to disk, and is then renamed over the target. A crash (or a full disk) at any point
//! leaves either the old file or the new one, never a half-written model, CSV or plot.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Prefixes an I/O error's message with the path it concerns, keeping its kind.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A fresh temporary path next to `path`: `.<stem>.tmp-<pid>-<n>.<ext>` in the same directory
/// (so the final rename never crosses file systems, and the extension is kept for writers that
/// choose the format from it).
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        )
    })?;
    let p = Path::new(file_name);
    let stem = p.file_stem().unwrap_or(file_name).to_string_lossy();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!(".{stem}.tmp-{}-{n}", std::process::id());
    if let Some(ext) = p.extension() {
        name.push('.');
        name.push_str(&ext.to_string_lossy());
    }
    Ok(path.with_file_name(name))
}

/// Flushes the directory entry of a rename to disk (best effort: not every platform or file
/// system allows opening a directory).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory, fsynced,
/// then renamed over `path`. Errors name the path (the target, or the temporary file for a
/// failed write).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| named(tmp, e))?;
        f.write_all(bytes).map_err(|e| named(tmp, e))?;
        f.sync_all().map_err(|e| named(tmp, e))
    })
}

/// Atomic replacement for writers that insist on writing a file themselves (an image encoder):
/// `write` is given a temporary path in `path`'s directory, with the same extension, to create
/// and fill; the file is then fsynced and renamed over `path`. The temporary file is removed when
/// anything fails.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    write: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let path = path.as_ref();
    let tmp = temp_path(path)?;
    let result = (|| {
        write(&tmp)?;
        // the writer may not have synced: do it here, whoever created the file
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| named(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{}: cannot rename {} over it: {e}",
                    path.display(),
                    tmp.display()
                ),
            )
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        sync_dir(path);
    }
    result
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh empty directory under the system temp dir, removed by the caller if it likes.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!(
            "deepnet-train-test-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_replaces_without_leftovers() {
        let d = temp_dir("atomic");
        let p = d.join("model.bin");
        write_atomic(&p, b"first").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"first");
        write_atomic(&p, b"second, longer").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second, longer");
        assert_eq!(entries(&d), vec!["model.bin"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_writer_keeps_old_file_and_cleans_up() {
        let d = temp_dir("atomic-fail");
        let p = d.join("plot.png");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |tmp| {
            assert_eq!(tmp.extension().unwrap(), "png");
            assert_eq!(tmp.parent(), p.parent());
            fs::write(tmp, b"partial")?;
            Err(io::Error::other("encoder crashed"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("encoder crashed"));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(entries(&d), vec!["plot.png"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn errors_name_the_path() {
        let d = temp_dir("atomic-missing");
        let p = d.join("no-such-dir").join("model.safetensors");
        let err = write_atomic(&p, b"x").unwrap_err();
        assert!(
            err.to_string().contains("no-such-dir"),
            "error does not name the path: {err}"
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
