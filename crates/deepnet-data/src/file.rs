//! Reading whole files from paths a user typed: only regular files (a FIFO or a device would
//! block or never end), only up to a size limit checked before anything is read.

use crate::error::{DataError, Result};
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The default limit of [`read_regular_file`]: 4 GiB, above every dataset and model file this
/// project reads.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Reads the whole of `path`, which must be a regular file of at most `limit` bytes. Errors name
/// the file and what it is instead.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(DataError::io(
            path,
            Error::new(ErrorKind::InvalidInput, format!("is {what}")),
        ));
    }
    if meta.len() > limit {
        return Err(DataError::io(
            path,
            Error::new(
                ErrorKind::InvalidData,
                format!("{} bytes exceed the limit of {limit} bytes", meta.len()),
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| DataError::io(path, e))?;
    if bytes.len() as u64 > limit {
        // the file grew while it was read
        return Err(DataError::io(
            path,
            Error::new(
                ErrorKind::InvalidData,
                format!("more than the limit of {limit} bytes"),
            ),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_fifos_and_oversized_files_are_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("deepnet-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = read_regular_file(&dir, 10).unwrap_err().to_string();
        assert!(
            e.contains("is a directory") && e.contains("deepnet-file"),
            "{e}"
        );
        let f = dir.join("ten.bin");
        std::fs::write(&f, [7u8; 10]).unwrap();
        assert_eq!(read_regular_file(&f, 10).unwrap(), [7u8; 10]);
        let e = read_regular_file(&f, 9).unwrap_err().to_string();
        assert!(e.contains("ten.bin") && e.contains("limit of 9"), "{e}");
        #[cfg(unix)]
        {
            let fifo = dir.join("fifo");
            let ok = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                // opening a FIFO for reading would block forever: it must be refused first
                let e = read_regular_file(&fifo, 10).unwrap_err().to_string();
                assert!(e.contains("not a regular file"), "{e}");
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
