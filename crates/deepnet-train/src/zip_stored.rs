//! The subset of ZIP that PyTorch checkpoints use: entries stored without compression
//! (`torch.save` writes them so, aligned for memory mapping). Reading checks every offset and
//! size against the file before using it; writing produces an archive Python's `zipfile` (and
//! so `torch.load`) reads, CRCs included.

use std::fmt::Write as _;

/// One stored entry: its name and where its bytes are in the archive.
#[derive(Clone, Debug)]
pub struct ZipEntry {
    /// the path inside the archive
    pub name: String,
    /// offset of the data in the archive
    pub start: usize,
    /// length of the data
    pub len: usize,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// The entries of a ZIP archive. Compressed entries, ZIP64 archives and anything that points
/// outside the file are errors (the message says what).
pub fn read_entries(b: &[u8]) -> Result<Vec<ZipEntry>, String> {
    // the end-of-central-directory record: 22 bytes plus a comment of up to 65535
    let lo = b.len().saturating_sub(22 + 65_535);
    let eocd = (lo..=b.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(b, i) == Some(0x0605_4b50))
        .ok_or("not a ZIP archive (no end-of-central-directory record)")?;
    let count = u16_at(b, eocd + 10).ok_or("truncated directory record")? as usize;
    let dir_len = u32_at(b, eocd + 12).ok_or("truncated directory record")?;
    let dir_off = u32_at(b, eocd + 16).ok_or("truncated directory record")?;
    if count == 0xffff || dir_len == u32::MAX || dir_off == u32::MAX {
        return Err("ZIP64 archives (over 4 GiB or 65535 entries) are not supported".into());
    }
    let mut at = dir_off as usize;
    let mut out = Vec::with_capacity(count.min(b.len() / 46));
    for k in 0..count {
        let bad = |what: &str| format!("central directory entry {k}: {what}");
        if u32_at(b, at) != Some(0x0201_4b50) {
            return Err(bad("bad signature"));
        }
        let field16 = |o: usize| u16_at(b, at + o).ok_or_else(|| bad("truncated"));
        let field32 = |o: usize| u32_at(b, at + o).ok_or_else(|| bad("truncated"));
        let method = field16(10)?;
        let (csize, usize_) = (field32(20)?, field32(24)?);
        let (n, e, c) = (
            field16(28)? as usize,
            field16(30)? as usize,
            field16(32)? as usize,
        );
        let local = field32(42)? as usize;
        let name_bytes = b
            .get(at + 46..at + 46 + n)
            .ok_or_else(|| bad("truncated name"))?;
        let name = String::from_utf8(name_bytes.to_vec()).map_err(|_| bad("name not UTF-8"))?;
        if method != 0 || csize != usize_ {
            return Err(format!(
                "entry \"{name}\": compressed (method {method}); only stored entries are read"
            ));
        }
        if u32_at(b, local) != Some(0x0403_4b50) {
            return Err(format!("entry \"{name}\": bad local header"));
        }
        let ln = u16_at(b, local + 26).ok_or_else(|| bad("truncated local header"))? as usize;
        let le = u16_at(b, local + 28).ok_or_else(|| bad("truncated local header"))? as usize;
        let start = local + 30 + ln + le;
        let len = csize as usize;
        if start.checked_add(len).is_none_or(|end| end > b.len()) {
            return Err(format!(
                "entry \"{name}\": {len} bytes at {start} run past the end of the file ({} bytes)",
                b.len()
            ));
        }
        out.push(ZipEntry { name, start, len });
        at += 46 + n + e + c;
    }
    Ok(out)
}

pub use crate::crc::crc32;

/// Writes a ZIP archive of stored entries, each entry's data aligned to 64 bytes (as PyTorch
/// does, padding the local header's extra field).
pub fn write_stored(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        if data.len() > u32::MAX as usize - 1 || out.len() > u32::MAX as usize - 1 {
            return Err(format!("entry \"{name}\": over 4 GiB needs ZIP64"));
        }
        let offset = out.len() as u32;
        let header = 30 + name.len();
        let pad = (64 - (out.len() + header + 4) % 64) % 64;
        let extra = 4 + pad; // one extra field: id 0x6666 ("ff"), length pad
        let crc = crc32(data);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // method: stored
            v.extend_from_slice(&0u32.to_le_bytes()); // time and date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(&(extra as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&0x6666u16.to_le_bytes());
        out.extend_from_slice(&(pad as u16).to_le_bytes());
        out.resize(out.len() + pad, 0);
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes: zero
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let dir_off = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let n = entries.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&dir_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

/// `name: len` of each entry, for messages.
pub fn describe(entries: &[ZipEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        let _ = write!(s, "{}: {} bytes; ", e.name, e.len);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_archives_round_trip_and_damage_is_an_error() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let z = write_stored(&[
            ("a/data.pkl".into(), b"hello".to_vec()),
            ("a/data/0".into(), vec![7; 100]),
        ])
        .unwrap();
        let e = read_entries(&z).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(&z[e[0].start..e[0].start + e[0].len], b"hello");
        assert_eq!(e[1].start % 64, 0, "aligned data");
        assert!(describe(&e).contains("a/data/0: 100 bytes"));
        assert!(read_entries(&z[..z.len() - 30]).is_err());
        assert!(read_entries(b"not a zip")
            .unwrap_err()
            .contains("not a ZIP"));
        // a size pointing past the end
        let mut bad = z.clone();
        let cd = e[1].start + 100; // the central directory follows the last entry
        bad[cd + 20..cd + 24].copy_from_slice(&u32::MAX.to_le_bytes());
        bad[cd + 24..cd + 28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_entries(&bad).unwrap_err().contains("past the end"));
    }
}
