//! The IDX file format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//!
//! An IDX file is a big-endian header, magic `0x00 0x00 TYPE NDIMS`, then `NDIMS` u32 sizes, then
//! the elements row-major. Gzip is detected by its magic bytes `1f 8b`, not by the extension.
//! Only element type `0x08` (u8) is supported; the other IDX types (`0x09` i8, `0x0B` i16,
//! `0x0C` i32, `0x0D` f32, `0x0E` f64) are rejected by name. The payload must hold exactly the
//! product of the dimensions: short or long files are errors.

use crate::error::{fmt_dims, DataError, Result};
use crate::file::MAX_FILE_BYTES;
use deepnet_tensor::Tensor;
use flate2::read::MultiGzDecoder;
use std::io::{Read, Write};
use std::path::Path;

/// The IDX type byte for unsigned bytes.
pub const IDX_U8: u8 = 0x08;

/// A u8 IDX array: `dims` (e.g. `[N, 28, 28]` for images, `[N]` for labels) and the elements in
/// row-major order, `data.len() == dims.iter().product()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The sizes of the dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// The number of items along the first dimension (samples).
    pub fn len(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The dimensions of one item (all but the first).
    pub fn item_dims(&self) -> &[usize] {
        self.dims.get(1..).unwrap_or(&[])
    }
    /// A u8 tensor of shape `dims`.
    pub fn into_tensor(self) -> Result<Tensor> {
        Ok(Tensor::from_vec(self.data, self.dims)?)
    }
}

/// Whether `bytes` start with the gzip magic `1f 8b`.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => return None,
    })
}

/// Reads a u8 IDX file of any rank >= 1 (raw or gzip).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = crate::file::read_regular_file(path, crate::file::MAX_FILE_BYTES)?;
    decode_idx(bytes, path, None)
}

/// Reads a u8 IDX file that must have `rank` dimensions; `what` names its content in errors
/// (`"images"` gives `expected 0x00000803 (u8 images, 3 dims)`).
pub fn read_idx_rank(path: impl AsRef<Path>, rank: usize, what: &str) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = crate::file::read_regular_file(path, crate::file::MAX_FILE_BYTES)?;
    decode_idx(bytes, path, Some((rank, what)))
}

/// Decodes the bytes of an IDX file (raw or gzip). `source` names the file in errors; `expect`
/// optionally fixes the rank and names the content.
pub fn decode_idx(
    bytes: Vec<u8>,
    source: impl AsRef<Path>,
    expect: Option<(usize, &str)>,
) -> Result<IdxArray> {
    let path = source.as_ref();
    if is_gzip(&bytes) {
        let out = gunzip_bounded(&bytes, path)?;
        parse(out, path, expect, true)
    } else {
        parse(bytes, path, expect, false)
    }
}

/// Decompresses an IDX stream no further than its own header allows: the header first, then
/// the `prod(dims)` data bytes it announces plus a little, so that trailing garbage is still
/// seen. Nothing is preallocated from the gzip size trailer (it is the size mod 2^32 and can be
/// anything), so a small damaged file cannot make this allocate much more than it holds.
fn gunzip_bounded(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    /// how much past the announced end is read to report trailing bytes
    const SLACK: u64 = 4096;
    let mut dec = MultiGzDecoder::new(bytes);
    let mut out = Vec::new();
    let mut fill = |out: &mut Vec<u8>, upto: u64| -> Result<()> {
        let have = out.len() as u64;
        if upto > have {
            (&mut dec)
                .take(upto - have)
                .read_to_end(out)
                .map_err(|e| DataError::io(path, e))?;
        }
        Ok(())
    };
    fill(&mut out, 4)?;
    if out.len() < 4 {
        return Ok(out); // parse reports the truncated magic
    }
    let header = 4 + 4 * out[3] as u64;
    fill(&mut out, header)?;
    if (out.len() as u64) < header {
        return Ok(out);
    }
    let announced = out[4..header as usize]
        .chunks_exact(4)
        .try_fold(1u64, |a, c| {
            a.checked_mul(u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64)
        })
        .and_then(|n| n.checked_add(header + SLACK))
        .unwrap_or(u64::MAX);
    fill(&mut out, announced.min(MAX_FILE_BYTES))?;
    Ok(out)
}

fn parse(
    mut bytes: Vec<u8>,
    path: &Path,
    expect: Option<(usize, &str)>,
    gzip: bool,
) -> Result<IdxArray> {
    let expected_magic = match expect {
        Some((r, what)) => format!("0x{:08x} (u8 {what}, {r} dims)", 0x800 | r),
        None => "0x000008NN (u8, NN dims)".to_string(),
    };
    if bytes.len() < 4 {
        return Err(DataError::TruncatedHeader {
            path: path.into(),
            what: "IDX magic".into(),
            expected: 4,
            got: bytes.len(),
        });
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let (code, rank) = (bytes[2], bytes[3] as usize);
    let name = type_name(code);
    if bytes[0] != 0 || bytes[1] != 0 || name.is_none() {
        return Err(DataError::BadMagic {
            path: path.into(),
            got: magic,
            expected: expected_magic,
        });
    }
    if code != IDX_U8 {
        return Err(DataError::UnsupportedType {
            path: path.into(),
            code,
            name: name.unwrap_or("?"),
        });
    }
    match expect {
        Some((r, what)) if r != rank => {
            return Err(DataError::Rank {
                path: path.into(),
                got: rank,
                magic,
                expected: format!("{r} (u8 {what}, magic 0x{:08x})", 0x800 | r),
            })
        }
        None if rank == 0 => {
            return Err(DataError::Rank {
                path: path.into(),
                got: 0,
                magic,
                expected: "at least 1".into(),
            })
        }
        _ => {}
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(DataError::TruncatedHeader {
            path: path.into(),
            what: format!("IDX dimensions ({rank} x u32 big-endian)"),
            expected: header,
            got: bytes.len(),
        });
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    // The sample count may be 0 (an empty set); the size of a sample may not.
    if let Some(dim) = (1..rank).find(|&d| dims[d] == 0) {
        return Err(DataError::ZeroDim {
            path: path.into(),
            dim,
            dims: fmt_dims(&dims),
        });
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| DataError::TooLarge {
            path: path.into(),
            dims: fmt_dims(&dims),
        })?;
    let got = bytes.len() - header;
    if got != expected {
        let (dims, path) = (fmt_dims(&dims), path.into());
        return Err(if got < expected {
            DataError::Truncated {
                path,
                dims,
                expected,
                got,
                gzip,
            }
        } else {
            DataError::TrailingBytes {
                path,
                dims,
                expected,
                got,
                gzip,
            }
        });
    }
    bytes.drain(..header);
    Ok(IdxArray { dims, data: bytes })
}

/// Encodes a u8 IDX file's bytes (uncompressed).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    let n: usize = dims.iter().product();
    if dims.is_empty() || dims.len() > 255 || n != data.len() {
        return Err(DataError::invalid(
            "encode_idx",
            format!(
                "dims [{}] (product {n}) do not describe {} bytes of data (rank must be 1..=255)",
                fmt_dims(dims),
                data.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, IDX_U8, dims.len() as u8]);
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| {
            DataError::invalid("encode_idx", format!("dimension {d} does not fit in a u32"))
        })?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

/// Writes a u8 IDX file, gzip-compressed when `gzip` is set.
pub fn write_idx(path: impl AsRef<Path>, dims: &[usize], data: &[u8], gzip: bool) -> Result<()> {
    let bytes = encode_idx(dims, data)?;
    write_bytes(path, &bytes, gzip)
}

/// Writes `bytes` to `path`, gzip-compressed when `gzip` is set (for tests that build corrupt
/// files by hand).
pub fn write_bytes(path: impl AsRef<Path>, bytes: &[u8], gzip: bool) -> Result<()> {
    let path = path.as_ref();
    let io = |e| DataError::io(path, e);
    let bytes = if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).map_err(io)?;
        enc.finish().map_err(io)?
    } else {
        bytes.to_vec()
    };
    std::fs::write(path, bytes).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn sample() -> (Vec<usize>, Vec<u8>) {
        (vec![3, 2, 4], (0..24).collect())
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let dir = TempDir::new("idx-round-trip");
        let (dims, data) = sample();
        for (name, gz) in [("a.idx", false), ("b.idx.gz", true), ("c.bin", true)] {
            let p = dir.path().join(name);
            write_idx(&p, &dims, &data, gz).unwrap();
            let raw = std::fs::read(&p).unwrap();
            assert_eq!(is_gzip(&raw), gz, "{name}");
            let a = read_idx(&p).unwrap();
            assert_eq!(
                a,
                IdxArray {
                    dims: dims.clone(),
                    data: data.clone()
                }
            );
            assert_eq!((a.len(), a.item_dims()), (3, &[2usize, 4][..]));
            let b = read_idx_rank(&p, 3, "images").unwrap();
            assert_eq!(b, a);
        }
        // gzip detection is by content: a raw file named .gz still reads.
        let p = dir.path().join("raw-named.gz");
        write_idx(&p, &[5], &[1, 2, 3, 4, 5], false).unwrap();
        let t = read_idx(&p).unwrap().into_tensor().unwrap();
        assert_eq!(t.dims(), &[5]);
        assert_eq!(t.to_vec::<u8>().unwrap(), vec![1, 2, 3, 4, 5]);
        // an empty set (0 samples) is well-formed
        let p = dir.path().join("empty.idx");
        write_idx(&p, &[0, 28, 28], &[], false).unwrap();
        assert!(read_idx(&p).unwrap().is_empty());
    }

    fn err_of(dir: &TempDir, name: &str, bytes: &[u8], gz: bool, rank: Option<usize>) -> String {
        let p = dir.path().join(name);
        write_bytes(&p, bytes, gz).unwrap();
        let e = match rank {
            Some(r) => read_idx_rank(&p, r, "images").unwrap_err(),
            None => read_idx(&p).unwrap_err(),
        };
        let m = e.to_string();
        assert!(m.contains(name), "message does not name the file: {m}");
        m
    }

    #[test]
    fn wrong_magic() {
        let dir = TempDir::new("idx-magic");
        let (dims, data) = sample();
        let mut b = encode_idx(&dims, &data).unwrap();
        b[0..4].copy_from_slice(&[0, 0, 0, 0]);
        let m = err_of(&dir, "zero-magic.idx", &b, false, Some(3));
        assert!(
            m.ends_with("bad magic 0x00000000, expected 0x00000803 (u8 images, 3 dims)"),
            "{m}"
        );
        let m = err_of(&dir, "text.gz", b"hello world, not idx", true, None);
        assert!(m.contains("bad magic 0x68656c6c"), "{m}");
        let mut b = encode_idx(&dims, &data).unwrap();
        b[2] = 0x0D;
        let m = err_of(&dir, "float.idx", &b, false, None);
        assert!(
            m.contains("unsupported IDX element type 0x0d (f32), expected 0x08 (u8)"),
            "{m}"
        );
        let m = err_of(&dir, "tiny.idx", &[0, 0], false, None);
        assert!(
            m.contains("truncated header: IDX magic needs 4 bytes, file has 2"),
            "{m}"
        );
        assert!(matches!(
            read_idx(dir.path().join("nope.idx")),
            Err(DataError::Io { .. })
        ));
    }

    #[test]
    fn truncated() {
        let dir = TempDir::new("idx-truncated");
        let (dims, data) = sample();
        let b = encode_idx(&dims, &data).unwrap();
        let m = err_of(&dir, "short.idx", &b[..b.len() - 10], false, Some(3));
        assert!(
            m.ends_with("truncated: header says 3 x 2 x 4 = 24 bytes of data, file has 14"),
            "{m}"
        );
        let m = err_of(&dir, "short.idx.gz", &b[..b.len() - 10], true, Some(3));
        assert!(m.contains("file has 14 (after gunzip)"), "{m}");
        let m = err_of(&dir, "hdr.idx", &b[..9], false, None);
        assert!(
            m.contains(
                "truncated header: IDX dimensions (3 x u32 big-endian) needs 16 bytes, file has 9"
            ),
            "{m}"
        );
        // a cut-off gzip stream is an I/O error naming the file
        let p = dir.path().join("cut.gz");
        write_idx(&p, &dims, &data, true).unwrap();
        let gz = std::fs::read(&p).unwrap();
        std::fs::write(&p, &gz[..gz.len() / 2]).unwrap();
        let e = read_idx(&p).unwrap_err();
        assert!(
            matches!(e, DataError::Io { .. }) && e.to_string().contains("cut.gz"),
            "{e}"
        );
    }

    #[test]
    fn trailing_garbage() {
        let dir = TempDir::new("idx-trailing");
        let (dims, data) = sample();
        let mut b = encode_idx(&dims, &data).unwrap();
        b.extend_from_slice(&[9, 9, 9]);
        let m = err_of(&dir, "long.idx", &b, false, None);
        assert!(
            m.ends_with(
                "trailing bytes: header says 3 x 2 x 4 = 24 bytes of data, file has 27 (3 extra)"
            ),
            "{m}"
        );
        let m = err_of(&dir, "long.idx.gz", &b, true, None);
        assert!(m.contains("(3 extra) (after gunzip)"), "{m}");
    }

    #[test]
    fn a_gzip_stream_is_decompressed_no_further_than_its_header_announces() {
        // 24 bytes announced, 64 MiB of zeros behind them (64 KiB compressed), and a size
        // trailer claiming 4 GiB - 1: neither the trailer nor the garbage drives the allocation
        let dir = TempDir::new("idx-bomb");
        let (dims, data) = sample();
        let mut raw = encode_idx(&dims, &data).unwrap();
        raw.resize(raw.len() + (64 << 20), 0);
        let p = dir.path().join("bomb.idx.gz");
        write_bytes(&p, &raw, true).unwrap();
        let mut gz = std::fs::read(&p).unwrap();
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let out = gunzip_bounded(&gz, &p).unwrap();
        assert_eq!(out.len(), 4 + 12 + 24 + 4096);
        let e = decode_idx(gz, &p, None).unwrap_err().to_string();
        assert!(
            e.contains("trailing bytes") && e.contains("bomb.idx.gz"),
            "{e}"
        );
    }

    #[test]
    fn wrong_rank_and_zero_dims() {
        let dir = TempDir::new("idx-rank");
        let b = encode_idx(&[4], &[1, 2, 3, 4]).unwrap();
        let m = err_of(&dir, "labels.idx", &b, false, Some(3));
        assert!(m.ends_with("wrong rank: header has 1 dims (magic 0x00000801), expected 3 (u8 images, magic 0x00000803)"), "{m}");
        let m = err_of(&dir, "rank0.idx", &[0, 0, 8, 0], false, None);
        assert!(m.contains("header has 0 dims"), "{m}");
        let mut b = encode_idx(&[2, 1], &[1, 2]).unwrap();
        b[8..12].copy_from_slice(&0u32.to_be_bytes());
        let m = err_of(&dir, "zero.idx", &b[..12], false, None);
        assert!(
            m.ends_with("dimension 1 of 2 x 0 is 0, expected a positive size"),
            "{m}"
        );
        assert!(encode_idx(&[2, 2], &[1, 2, 3]).is_err());
        assert!(encode_idx(&[], &[]).is_err());
    }
}
