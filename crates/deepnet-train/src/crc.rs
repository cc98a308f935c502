//! The two table-driven CRC-32 variants the file formats here need: IEEE (ZIP entries) and
//! Castagnoli (TFRecords of TensorBoard event files). Same algorithm, other polynomial.

/// The byte table of a reflected CRC-32 with polynomial `poly`.
const fn table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { poly ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static IEEE: [u32; 256] = table(0xEDB8_8320);
static CASTAGNOLI: [u32; 256] = table(0x82F6_3B78);

fn run(t: &[u32; 256], bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |c, &b| {
        t[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8)
    })
}

/// CRC-32 (IEEE), as ZIP uses.
pub fn crc32(bytes: &[u8]) -> u32 {
    run(&IEEE, bytes)
}

/// CRC-32C (Castagnoli), as TFRecords use.
pub fn crc32c(bytes: &[u8]) -> u32 {
    run(&CASTAGNOLI, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // RFC 3720 B.4 and the common "123456789" check value
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    }
}
