//! Netlink message and attribute framing: `nlmsghdr` + `nfgenmsg` headers, attributes
//! (header in host byte order, padded to 4 bytes), nests, and the nftables convention of
//! big-endian integers inside attributes.

/// `NLA_F_NESTED`: the attribute holds attributes.
const NLA_F_NESTED: u16 = 0x8000;
/// Size of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;

/// Rounds up to the 4-byte netlink alignment.
pub(crate) fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A buffer of netlink messages being written.
#[derive(Debug, Default, Clone)]
pub(crate) struct Writer {
    /// The bytes so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// Starts a message: `nlmsghdr` (length patched by [`Writer::end_msg`], sequence number
    /// 0 until the socket numbers the batch) and `nfgenmsg`. Returns its offset.
    pub fn begin_msg(&mut self, msg_type: u16, flags: u16, family: u8, res_id: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&msg_type.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // seq
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    /// Ends the message that starts at `start`: writes its length.
    pub fn end_msg(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// An attribute with raw `data`.
    pub fn put(&mut self, attr: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&attr.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// A NUL-terminated string attribute.
    pub fn put_str(&mut self, attr: u16, s: &str) {
        let len = 4 + s.len() + 1;
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&attr.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// A big-endian `u32` attribute (nftables' integers).
    pub fn put_u32(&mut self, attr: u16, v: u32) {
        self.put(attr, &v.to_be_bytes());
    }

    /// A big-endian `u64` attribute.
    pub fn put_u64(&mut self, attr: u16, v: u64) {
        self.put(attr, &v.to_be_bytes());
    }

    /// Opens a nested attribute; close it with [`Writer::end_nest`].
    pub fn begin_nest(&mut self, attr: u16) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(attr | NLA_F_NESTED).to_ne_bytes());
        start
    }

    /// Closes the nest opened at `start`.
    pub fn end_nest(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// A user-data blob of one TLV (type, length, value), as nft stores comments.
    pub fn put_udata(&mut self, attr: u16, tlv_type: u8, value: &[u8]) {
        let mut data = Vec::with_capacity(value.len() + 2);
        data.push(tlv_type);
        data.push(value.len().min(255) as u8);
        data.extend_from_slice(&value[..value.len().min(255)]);
        self.put(attr, &data);
    }

    fn pad(&mut self) {
        let aligned = align(self.buf.len());
        self.buf.resize(aligned, 0);
    }
}

/// A NUL-terminated comment for a user-data TLV, cut to what its one-byte length allows.
pub(crate) fn comment_bytes(comment: &str) -> Vec<u8> {
    let mut end = comment.len().min(254);
    while !comment.is_char_boundary(end) {
        end -= 1;
    }
    let mut v = comment.as_bytes()[..end].to_vec();
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_measured() {
        let mut w = Writer::default();
        let n = w.begin_nest(4);
        w.put_str(1, "t");
        w.put_u32(2, 0x30);
        w.end_nest(n);
        assert_eq!(
            w.buf,
            [
                20, 0, 4, 0x80, // nest: length 20, type 4 | NLA_F_NESTED
                6, 0, 1, 0, b't', 0, 0, 0, // "t\0" padded
                8, 0, 2, 0, 0, 0, 0, 0x30, // big-endian u32
            ]
        );
        assert_eq!(comment_bytes("ab"), b"ab\0");
        assert_eq!(comment_bytes(&"x".repeat(300)).len(), 255);
    }
}
