//! Reading DNS wire format by hand where decoding a whole message would
//! cost more than the answer: skipping names and records.

/// The position after the name starting at `at` (labels ending in the root
/// or in a compression pointer); `None` when it runs past the end or is not
/// a name.
pub(crate) fn skip_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *bytes.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(len),
            0xc0..=0xff => return (at + 2 <= bytes.len()).then_some(at + 2),
            _ => return None,
        }
    }
}

/// The position after the resource record starting at `at`.
pub(crate) fn skip_record(bytes: &[u8], at: usize) -> Option<usize> {
    let fixed = skip_name(bytes, at)?;
    let rdlength = u16::from_be_bytes([*bytes.get(fixed + 8)?, *bytes.get(fixed + 9)?]);
    let end = fixed + 10 + usize::from(rdlength);
    (end <= bytes.len()).then_some(end)
}

/// The big-endian `u16` at `at`.
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_records_are_skipped() {
        // "a.b." then a record owned by a pointer: A, IN, TTL 30, 4 bytes.
        let bytes = [
            1, b'a', 1, b'b', 0, 0xc0, 0, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1,
        ];
        assert_eq!(skip_name(&bytes, 0), Some(5));
        assert_eq!(skip_name(&bytes, 5), Some(7));
        assert_eq!(skip_record(&bytes, 5), Some(bytes.len()));
        assert_eq!(skip_record(&bytes[..20], 5), None);
        assert_eq!(skip_name(&[3, b'a'], 0), None);
        assert_eq!(skip_name(&[0x40], 0), None);
        assert_eq!(skip_name(&[0xc0], 0), None);
        assert_eq!(u16_at(&bytes, 15), Some(4));
        assert_eq!(u16_at(&bytes, 20), None);
    }
}
