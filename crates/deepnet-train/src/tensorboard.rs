//! TensorBoard event files: scalars (losses, accuracy, learning rate, gradient norms) and
//! images (sample grids as PNG) that `tensorboard --logdir RUN` shows.
//!
//! The format, written by hand so that nothing beyond the standard library is needed:
//! - the file is a sequence of TFRecords: `u64` length (little-endian), the masked CRC-32C of
//!   those 8 bytes, the record's bytes, the masked CRC-32C of the record;
//! - each record is a serialized `tensorflow.Event` protocol buffer: `wall_time` (field 1,
//!   double), `step` (2, int64), then either `file_version` (3, string, the first record:
//!   `brain.Event:2`) or `summary` (5): a `Summary` of `Value`s, each a `tag` (1, string) and
//!   a `simple_value` (2, float) or an `image` (4: `height` 1, `width` 2, `colorspace` 3,
//!   `encoded_image_string` 4).
//!
//! `tools/tensorboard/check_events.py` reads a file back with TensorBoard's own reader.

use crate::crc::crc32c;
use crate::error::{Result, TrainError};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// TFRecord's masked CRC: rotated and offset so that a CRC of data holding CRCs stays strong.
fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c(bytes);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// A protocol-buffer message under construction (only the wire types events use).
#[derive(Default)]
struct Proto(Vec<u8>);

impl Proto {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }
    fn double(&mut self, field: u32, v: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn float(&mut self, field: u32, v: f32) {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        self.varint(v as u64);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

/// An image for [`EventWriter::image`]: PNG bytes and their size.
pub struct EventImage<'a> {
    /// the encoded PNG
    pub png: &'a [u8],
    /// pixels
    pub width: u32,
    /// pixels
    pub height: u32,
    /// 1 grey, 3 RGB, 4 RGBA
    pub channels: u32,
}

/// Appends events to `events.out.tfevents.<seconds>.deepnet` in a log folder, flushing each.
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

impl EventWriter {
    /// Creates the folder and a new event file in it, starting with the version record.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let now = wall_time();
        let path = dir.join(format!("events.out.tfevents.{}.deepnet", now as u64));
        let file = File::create(&path).map_err(|e| TrainError::io(&path, e))?;
        let mut w = EventWriter { path, file };
        let mut ev = Proto::default();
        ev.double(1, now);
        ev.bytes(3, b"brain.Event:2");
        w.record(&ev.0)?;
        Ok(w)
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `tag = value` at `step`.
    pub fn scalar(&mut self, tag: &str, value: f64, step: u64) -> Result<()> {
        let mut v = Proto::default();
        v.bytes(1, tag.as_bytes());
        v.float(2, value as f32);
        self.summary(&v.0, step)
    }

    /// Writes an image under `tag` at `step`.
    pub fn image(&mut self, tag: &str, img: &EventImage, step: u64) -> Result<()> {
        let mut im = Proto::default();
        im.int(1, img.height as i64);
        im.int(2, img.width as i64);
        im.int(3, img.channels as i64);
        im.bytes(4, img.png);
        let mut v = Proto::default();
        v.bytes(1, tag.as_bytes());
        v.bytes(4, &im.0);
        self.summary(&v.0, step)
    }

    fn summary(&mut self, value: &[u8], step: u64) -> Result<()> {
        let mut s = Proto::default();
        s.bytes(1, value);
        let mut ev = Proto::default();
        ev.double(1, wall_time());
        ev.int(2, step as i64);
        ev.bytes(5, &s.0);
        self.record(&ev.0)
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut rec = Vec::with_capacity(data.len() + 16);
        rec.extend_from_slice(&len);
        rec.extend_from_slice(&masked_crc(&len).to_le_bytes());
        rec.extend_from_slice(data);
        rec.extend_from_slice(&masked_crc(data).to_le_bytes());
        let path = &self.path;
        self.file
            .write_all(&rec)
            .and_then(|_| self.file.flush())
            .map_err(|e| TrainError::io(path, e))
    }
}

fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the records back, checking both CRCs of each.
    fn records(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let len = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap()) as usize;
            let c = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap());
            assert_eq!(c, masked_crc(&bytes[i..i + 8]));
            let data = &bytes[i + 12..i + 12 + len];
            let c = u32::from_le_bytes(bytes[i + 12 + len..i + 16 + len].try_into().unwrap());
            assert_eq!(c, masked_crc(data));
            out.push(data.to_vec());
            i += 16 + len;
        }
        out
    }

    #[test]
    fn events_are_framed_records_with_the_expected_fields() {
        let dir = std::env::temp_dir().join(format!("deepnet-tb-{}", std::process::id()));
        let mut w = EventWriter::create(&dir).unwrap();
        w.scalar("train/loss", 0.5, 3).unwrap();
        let png = [0x89u8, b'P', b'N', b'G'];
        let img = EventImage {
            png: &png,
            width: 2,
            height: 1,
            channels: 1,
        };
        w.image("samples", &img, 4).unwrap();
        let recs = records(&std::fs::read(w.path()).unwrap());
        assert_eq!(recs.len(), 3);
        // version record: wall_time (key 0x09, 8 bytes), then file_version (key 0x1a)
        assert_eq!(recs[0][0], 0x09);
        assert_eq!(&recs[0][9..11], &[0x1a, 13]);
        assert_eq!(&recs[0][11..], b"brain.Event:2");
        // scalar: ... step 3 (0x10 0x03), summary (0x2a) holding value (0x0a) with tag and
        // float 0.5 (key 0x15)
        let r = &recs[1];
        assert_eq!(&r[9..11], &[0x10, 3]);
        assert_eq!(r[11], 0x2a);
        let tail = &r[r.len() - 5..];
        assert_eq!(tail[0], 0x15);
        assert_eq!(f32::from_le_bytes(tail[1..].try_into().unwrap()), 0.5);
        assert!(recs[2].windows(4).any(|w| w == png));
        let _ = std::fs::remove_dir_all(dir);
    }
}
