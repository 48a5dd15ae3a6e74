//! Lowercase hexadecimal, written digit by digit rather than with `format!`: every sign-in
//! writes several hundred digits (random ids, hashes, the times that begin ids), and one
//! `format!` per byte was a tenth of its instructions.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` in lowercase hex, two digits a byte. (A `String::push` per digit, with its
/// checks, cost about 1.5 k instructions a flow more than these plain bytes.)
pub fn encode(bytes: &[u8]) -> String {
    let mut text = vec![0; bytes.len() * 2];
    for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    // Only ASCII digits and letters were written, so this is always text.
    String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Appends `value` as `format!("{value:0width$x}")` writes it: at least `width` digits (and
/// at least one), zeros first, and more when the number needs them.
pub fn push_number(out: &mut String, value: u64, width: u32) {
    let digits = (u64::BITS - value.leading_zeros())
        .div_ceil(4)
        .max(width)
        .max(1);
    for place in (0..digits).rev() {
        // Past the number's own digits (a width over 16), the shift would overflow: a zero.
        let digit = value.checked_shr(place * 4).unwrap_or(0) & 0xf;
        out.push(char::from(DIGITS[digit as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_two_lowercase_digits_each() {
        assert_eq!(encode(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let every_byte: Vec<u8> = (0..=255).collect();
        let expected: String = every_byte.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(encode(&every_byte), expected);
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn numbers_are_written_as_format_writes_them() {
        for value in [
            0,
            9,
            0xabc,
            1_796_000_000_000, // December 2026 in Unix milliseconds
            (1 << 48) - 1,     // the last moment twelve digits hold, in the year 10889
            1 << 48,
            u64::MAX,
        ] {
            for width in [0, 1, 12, 20] {
                let mut text = String::from("id:");
                push_number(&mut text, value, width);
                let width = width as usize;
                assert_eq!(text, format!("id:{value:0width$x}"), "{value} at {width}");
            }
        }
    }
}
