//! Pure encode/decode of netlink messages and attributes (`netlink(7)`,
//! include/uapi/linux/netlink.h). No I/O; decoding borrows from the buffer, allocates
//! nothing per attribute and never panics on kernel bytes.

use std::fmt;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Length of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;

/// `nlmsg_flags`.
pub mod flags {
    /// A request.
    pub const REQUEST: u16 = 0x1;
    /// Part of a multipart reply.
    pub const MULTI: u16 = 0x2;
    /// Ask for an acknowledgement.
    pub const ACK: u16 = 0x4;
    /// The dump was interrupted (the table changed during it).
    pub const DUMP_INTR: u16 = 0x10;
    /// The dump was filtered by the kernel.
    pub const DUMP_FILTERED: u16 = 0x20;
    /// Dump the whole table.
    pub const DUMP: u16 = 0x300;
    /// Replace an existing object.
    pub const REPLACE: u16 = 0x100;
    /// Do not touch an existing object.
    pub const EXCL: u16 = 0x200;
    /// Create the object if absent.
    pub const CREATE: u16 = 0x400;
    /// (In an ACK) the request was cut from the error message.
    pub const CAPPED: u16 = 0x100;
    /// (In an ACK) extended-ACK attributes follow.
    pub const ACK_TLVS: u16 = 0x200;
}

/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 4;
/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_F_NET_BYTEORDER`.
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
/// The type bits of `nla_type`.
pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// Rounds up to the netlink alignment of 4.
pub const fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// Why some bytes are not a well-formed netlink message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed netlink data at byte {offset}: {what}")]
pub struct DecodeError {
    /// What is wrong.
    pub what: &'static str,
    /// Where, from the start of the buffer being decoded.
    pub offset: usize,
}

/// One message of a datagram.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// The bytes after the header.
    pub payload: &'a [u8],
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("ty", &self.ty)
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("seq", &self.seq)
            .field("len", &self.payload.len())
            .finish()
    }
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    b.get(o..o + 2).map(|s| u16::from_ne_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// Iterates the messages of a datagram.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The messages of a datagram.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { buf, pos: 0 }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.len() < NLMSG_HDRLEN {
            return if rest.is_empty() {
                None
            } else {
                self.pos = self.buf.len();
                Some(Err(DecodeError {
                    what: "truncated message header",
                    offset: self.pos,
                }))
            };
        }
        let len = u32_at(rest, 0).unwrap_or(0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            let offset = self.pos;
            self.pos = self.buf.len();
            return Some(Err(DecodeError {
                what: "message length out of bounds",
                offset,
            }));
        }
        let msg = Message {
            ty: u16_at(rest, 4).unwrap_or(0),
            flags: u16_at(rest, 6).unwrap_or(0),
            seq: u32_at(rest, 8).unwrap_or(0),
            pid: u32_at(rest, 12).unwrap_or(0),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        self.pos += align(len).min(rest.len());
        Some(Ok(msg))
    }
}

/// One attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type, without the nested and byte-order flags.
    pub ty: u16,
    /// `NLA_F_NESTED` was set.
    pub nested: bool,
    /// The payload.
    pub payload: &'a [u8],
}

impl fmt::Debug for Attr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Attr({}, {} bytes)", self.ty, self.payload.len())
    }
}

fn fixed<const N: usize>(p: &[u8], what: &'static str) -> Result<[u8; N], DecodeError> {
    p.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecodeError { what, offset: 0 })
}

impl<'a> Attr<'a> {
    /// A host-order `u32` payload, 0 when short (for lenient decoders).
    #[inline]
    pub fn walk_u32(p: &[u8]) -> u32 {
        match p {
            [a, b, c, d, ..] => u32::from_ne_bytes([*a, *b, *c, *d]),
            _ => 0,
        }
    }

    /// A `u8` payload.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn u8(&self) -> Result<u8, DecodeError> {
        fixed::<1>(self.payload, "u8 attribute too short").map(|b| b[0])
    }

    /// A host-order `u16`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn u16(&self) -> Result<u16, DecodeError> {
        fixed::<2>(self.payload, "u16 attribute too short").map(u16::from_ne_bytes)
    }

    /// A host-order `u32`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn u32(&self) -> Result<u32, DecodeError> {
        fixed::<4>(self.payload, "u32 attribute too short").map(u32::from_ne_bytes)
    }

    /// A host-order `u64`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn u64(&self) -> Result<u64, DecodeError> {
        fixed::<8>(self.payload, "u64 attribute too short").map(u64::from_ne_bytes)
    }

    /// A host-order `i32`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn i32(&self) -> Result<i32, DecodeError> {
        fixed::<4>(self.payload, "i32 attribute too short").map(i32::from_ne_bytes)
    }

    /// A big-endian `u16`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn be16(&self) -> Result<u16, DecodeError> {
        fixed::<2>(self.payload, "be16 attribute too short").map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn be32(&self) -> Result<u32, DecodeError> {
        fixed::<4>(self.payload, "be32 attribute too short").map(u32::from_be_bytes)
    }

    /// A big-endian `u64`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn be64(&self) -> Result<u64, DecodeError> {
        fixed::<8>(self.payload, "be64 attribute too short").map(u64::from_be_bytes)
    }

    /// A NUL-terminated string (lossy UTF-8, up to the NUL).
    pub fn string(&self) -> String {
        let end = self
            .payload
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.payload.len());
        String::from_utf8_lossy(&self.payload[..end]).into_owned()
    }

    /// The attributes nested in this one.
    pub fn nested_attrs(&self) -> Attrs<'a> {
        attrs(self.payload)
    }
}

/// Iterates attributes.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The attributes in `buf`.
pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { buf, pos: 0 }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        let pos = self.pos;
        if pos + NLA_HDRLEN > buf.len() {
            // Trailing padding shorter than a header is allowed; anything else is not.
            self.pos = buf.len();
            let rest = buf.get(pos..).unwrap_or_default();
            return if rest.iter().all(|&b| b == 0) {
                None
            } else {
                Some(Err(DecodeError {
                    what: "truncated attribute header",
                    offset: pos,
                }))
            };
        }
        let len = u16::from_ne_bytes([buf[pos], buf[pos + 1]]) as usize;
        let ty = u16::from_ne_bytes([buf[pos + 2], buf[pos + 3]]);
        let end = pos + len;
        if len < NLA_HDRLEN || end > buf.len() {
            self.pos = buf.len();
            return Some(Err(DecodeError {
                what: "attribute length out of bounds",
                offset: pos,
            }));
        }
        self.pos = pos + align(len);
        Some(Ok(Attr {
            ty: ty & NLA_TYPE_MASK,
            nested: ty & NLA_F_NESTED != 0,
            payload: &buf[pos + NLA_HDRLEN..end],
        }))
    }
}

/// Calls `f(type, payload)` for each attribute of `buf` (the nested flag dropped from the
/// type): the allocation-free, branch-light walk for hot decoders. Stops at the first
/// error of `f` or of the framing.
///
/// # Errors
///
/// The framing's [`DecodeError`], or `f`'s.
#[inline]
pub fn walk<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u16, &'a [u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut pos = 0;
    while pos + NLA_HDRLEN <= buf.len() {
        let len = u16::from_ne_bytes([buf[pos], buf[pos + 1]]) as usize;
        let ty = u16::from_ne_bytes([buf[pos + 2], buf[pos + 3]]) & NLA_TYPE_MASK;
        let end = pos + len;
        if len < NLA_HDRLEN || end > buf.len() {
            return Err(DecodeError {
                what: "attribute length out of bounds",
                offset: pos,
            });
        }
        f(ty, &buf[pos + NLA_HDRLEN..end])?;
        pos += align(len);
    }
    if buf
        .get(pos..)
        .is_some_and(|rest| rest.iter().any(|&b| b != 0))
    {
        return Err(DecodeError {
            what: "truncated attribute header",
            offset: pos,
        });
    }
    Ok(())
}

/// An IPv4 address payload (network order, as every netlink family sends it).
///
/// # Errors
///
/// When the payload is shorter than 4 bytes.
#[inline]
pub fn ipv4(p: &[u8]) -> Result<std::net::IpAddr, DecodeError> {
    match p {
        [a, b, c, d, ..] => Ok(std::net::Ipv4Addr::new(*a, *b, *c, *d).into()),
        _ => Err(DecodeError {
            what: "short IPv4 address",
            offset: 0,
        }),
    }
}

/// An IPv6 address payload.
///
/// # Errors
///
/// When the payload is shorter than 16 bytes.
#[inline]
pub fn ipv6(p: &[u8]) -> Result<std::net::IpAddr, DecodeError> {
    let b: [u8; 16] = fixed(p, "short IPv6 address")?;
    Ok(std::net::Ipv6Addr::from(b).into())
}

/// A big-endian `u16` payload.
///
/// # Errors
///
/// When the payload is shorter.
#[inline]
pub fn be16(p: &[u8]) -> Result<u16, DecodeError> {
    match p {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(DecodeError {
            what: "be16 attribute too short",
            offset: 0,
        }),
    }
}

/// A big-endian `u32` payload.
///
/// # Errors
///
/// When the payload is shorter.
#[inline]
pub fn be32(p: &[u8]) -> Result<u32, DecodeError> {
    match p {
        [a, b, c, d, ..] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(DecodeError {
            what: "be32 attribute too short",
            offset: 0,
        }),
    }
}

/// A big-endian `u64` payload.
///
/// # Errors
///
/// When the payload is shorter.
#[inline]
pub fn be64(p: &[u8]) -> Result<u64, DecodeError> {
    p.get(..8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(DecodeError {
            what: "be64 attribute too short",
            offset: 0,
        })
}

/// A host-order `u32` payload, 0 when short (for lenient decoders).
#[inline]
pub fn walk_u32(p: &[u8]) -> u32 {
    match p {
        [a, b, c, d, ..] => u32::from_ne_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// A `u8` payload.
///
/// # Errors
///
/// When the payload is empty.
#[inline]
pub fn u8(p: &[u8]) -> Result<u8, DecodeError> {
    p.first().copied().ok_or(DecodeError {
        what: "u8 attribute too short",
        offset: 0,
    })
}

/// Builds one message: header, family header, attributes, nests.
#[derive(Debug, Clone)]
pub struct MsgBuilder {
    buf: Vec<u8>,
}

impl MsgBuilder {
    /// A message of type `ty` with `flags` (`REQUEST` is added) and sequence `seq`.
    pub fn new(ty: u16, extra_flags: u16, seq: u32) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(extra_flags | flags::REQUEST).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        Self { buf }
    }

    /// Appends raw bytes (a family header), padded to 4.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self.pad();
        self
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    /// Appends an attribute.
    pub fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = (NLA_HDRLEN + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    /// A `u8` attribute.
    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.attr(ty, &[v])
    }

    /// A host-order `u16` attribute.
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A host-order `u32` attribute.
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A host-order `i32` attribute.
    pub fn i32(&mut self, ty: u16, v: i32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A big-endian `u16` attribute.
    pub fn be16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.attr(ty, &v.to_be_bytes())
    }

    /// A big-endian `u32` attribute.
    pub fn be32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_be_bytes())
    }

    /// A big-endian `u64` attribute.
    pub fn be64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.attr(ty, &v.to_be_bytes())
    }

    /// A NUL-terminated string attribute.
    pub fn string(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut b = Vec::with_capacity(s.len() + 1);
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        self.attr(ty, &b)
    }

    /// Opens a nested attribute (`NLA_F_NESTED` set); close it with [`MsgBuilder::end_nest`].
    pub fn begin_nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    /// Closes the nest opened at `at`.
    pub fn end_nest(&mut self, at: usize) -> &mut Self {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The finished message, its length set.
    pub fn finish(&mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        std::mem::take(&mut self.buf)
    }
}

/// `NLMSGERR_ATTR_MSG`.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NLMSGERR_ATTR_OFFS`.
const NLMSGERR_ATTR_OFFS: u16 = 2;

/// A decoded `NLMSG_ERROR`: an ACK when `errno` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    /// The positive errno (0: success).
    pub errno: i32,
    /// The kernel's extended-ACK message.
    pub ext_msg: Option<String>,
    /// The offset of the offending attribute in the request.
    pub offset: Option<u32>,
}

impl ErrorMsg {
    /// Decodes the payload of an `NLMSG_ERROR` with the message's flags.
    ///
    /// # Errors
    ///
    /// When the payload is cut short.
    pub fn decode(msg: &Message<'_>) -> Result<Self, DecodeError> {
        let p = msg.payload;
        let err = p
            .get(0..4)
            .map(|s| i32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or(DecodeError {
                what: "truncated error message",
                offset: 0,
            })?;
        let mut out = Self {
            errno: err.checked_neg().unwrap_or(i32::MAX),
            ext_msg: None,
            offset: None,
        };
        if msg.flags & flags::ACK_TLVS != 0 {
            // The original request follows: its header only when capped.
            let orig_len = if msg.flags & flags::CAPPED != 0 {
                NLMSG_HDRLEN
            } else {
                u32_at(p, 4).map_or(NLMSG_HDRLEN, |l| l as usize)
            };
            if let Some(tlvs) = p.get(4 + align(orig_len)..) {
                for a in attrs(tlvs).flatten() {
                    match a.ty {
                        NLMSGERR_ATTR_MSG => out.ext_msg = Some(a.string()),
                        NLMSGERR_ATTR_OFFS => out.offset = a.u32().ok(),
                        _ => {}
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse_round_trip() {
        let mut m = MsgBuilder::new(0x101, flags::DUMP, 7);
        m.bytes(&[2, 0, 0, 0]);
        let nest = m.begin_nest(1);
        m.be32(2, 0x0a00_0001).u8(3, 6);
        m.end_nest(nest);
        m.string(4, "hi").be16(5, 80);
        let bytes = m.finish();
        assert_eq!(bytes.len() % 4, 0);
        let msgs: Vec<_> = messages(&bytes).collect::<Result<_, _>>().expect("parse");
        assert_eq!(msgs.len(), 1);
        let msg = msgs[0];
        assert_eq!(
            (msg.ty, msg.flags, msg.seq),
            (0x101, flags::DUMP | flags::REQUEST, 7)
        );
        let list: Vec<_> = attrs(&msg.payload[4..])
            .collect::<Result<_, _>>()
            .expect("attrs");
        assert_eq!(list.len(), 3);
        assert!(list[0].nested);
        let inner: Vec<_> = list[0]
            .nested_attrs()
            .collect::<Result<_, _>>()
            .expect("nested");
        assert_eq!(inner[0].be32(), Ok(0x0a00_0001));
        assert_eq!(inner[1].u8(), Ok(6));
        assert_eq!(list[1].string(), "hi");
        assert_eq!(list[2].be16(), Ok(80));
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        assert!(messages(&[0u8; 10]).next().expect("one").is_err());
        let mut bad = MsgBuilder::new(1, 0, 0).finish();
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(messages(&bad).next().expect("one").is_err());
        let mut iter = attrs(&[8, 0, 1, 0, 1, 2]);
        assert!(iter.next().expect("one").is_err(), "length past the end");
        assert!(
            attrs(&[2, 0, 1, 0]).next().expect("one").is_err(),
            "length below the header"
        );
        assert!(attrs(&[0, 0]).next().is_none(), "zero padding is fine");
        let a = Attr {
            ty: 1,
            nested: false,
            payload: &[1],
        };
        assert!(a.u32().is_err() && a.be16().is_err() && a.u64().is_err());
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            for m in messages(&junk).flatten() {
                for a in attrs(m.payload).flatten() {
                    let _ = a.nested_attrs().count();
                }
            }
        }
    }

    #[test]
    fn error_with_extended_ack() {
        // An NLMSG_ERROR for a capped request with an extack message.
        let mut p = Vec::new();
        p.extend_from_slice(&(-34i32).to_ne_bytes());
        let orig = MsgBuilder::new(0x1c, 0, 9).finish();
        p.extend_from_slice(&orig[..16]);
        let mut tlv = MsgBuilder::new(0, 0, 0);
        tlv.string(1, "limit greater than maximum (8)").u32(2, 20);
        let tlv = tlv.finish();
        p.extend_from_slice(&tlv[16..]);
        let msg = Message {
            ty: NLMSG_ERROR,
            flags: flags::CAPPED | flags::ACK_TLVS,
            seq: 9,
            pid: 0,
            payload: &p,
        };
        let e = ErrorMsg::decode(&msg).expect("decode");
        assert_eq!(e.errno, 34);
        assert_eq!(e.ext_msg.as_deref(), Some("limit greater than maximum (8)"));
        assert_eq!(e.offset, Some(20));
    }
}
