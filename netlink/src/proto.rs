//! Pure encode/decode of netlink messages and attributes (`netlink(7)`,
//! include/uapi/linux/netlink.h). No I/O; decoding borrows from the buffer, allocates
//! nothing per attribute and never panics on kernel bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use nettune_core::ExtAck;

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

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error or an ACK.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed netlink data at byte {offset}: {what}")]
pub struct DecodeError {
    /// What is wrong.
    pub what: &'static str,
    /// Where: the byte offset from the start of the message (its header included), or of
    /// the buffer given to [`messages`].
    pub offset: usize,
}

/// A message that cannot be encoded: an attribute or nest longer than netlink's 16-bit
/// attribute length allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("netlink message cannot be encoded: {what}")]
pub struct EncodeError {
    /// What is too long.
    pub what: &'static str,
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

impl<'a> Message<'a> {
    /// The family header of `len` bytes at the start of the payload (`nfgenmsg`,
    /// `genlmsghdr`, `rtmsg`, ...).
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    pub fn header(&self, len: usize) -> Result<&'a [u8], DecodeError> {
        self.payload.get(..len).ok_or(DecodeError {
            what: "message shorter than its family header",
            offset: NLMSG_HDRLEN,
        })
    }

    /// The attributes after a family header of `header_len` bytes, with offsets counted
    /// from the start of the message.
    pub fn attrs(&self, header_len: usize) -> Attrs<'a> {
        let start = align(header_len).min(self.payload.len());
        attrs_at(&self.payload[start..], NLMSG_HDRLEN + start)
    }

    /// Walks the attributes after a family header of `header_len` bytes (see [`walk`]).
    ///
    /// # Errors
    ///
    /// When the payload is shorter than the header, the framing's, or `f`'s.
    #[inline]
    pub fn walk(
        &self,
        header_len: usize,
        f: impl FnMut(Attr<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        self.header(header_len)?;
        let start = align(header_len).min(self.payload.len());
        walk_at(&self.payload[start..], NLMSG_HDRLEN + start, f)
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

/// One item of an event (multicast) datagram, as [`event_items`] reads it.
#[derive(Debug)]
pub enum EventItem<'a> {
    /// A message to decode as an event.
    Message(Message<'a>),
    /// `NLMSG_OVERRUN`: the kernel lost messages.
    Overrun,
    /// The framing broke here; the rest of the datagram cannot be read.
    Broken(DecodeError),
}

/// The items of an event datagram in order: each message, `NLMSG_OVERRUN` as
/// [`EventItem::Overrun`], a framing error as one [`EventItem::Broken`] that ends it;
/// `NLMSG_ERROR`, `NLMSG_DONE` and `NLMSG_NOOP` are skipped. Event streams queue what
/// each becomes, so a message that does not decode takes its place among the others.
pub fn event_items(buf: &[u8]) -> impl Iterator<Item = EventItem<'_>> {
    let mut broken = false;
    messages(buf)
        .map_while(move |m| {
            if broken {
                return None;
            }
            Some(match m {
                Err(e) => {
                    broken = true;
                    Some(EventItem::Broken(e))
                }
                Ok(m) if m.ty == NLMSG_OVERRUN => Some(EventItem::Overrun),
                Ok(m) if m.ty == NLMSG_ERROR || m.ty == NLMSG_DONE || m.ty == NLMSG_NOOP => None,
                Ok(m) => Some(EventItem::Message(m)),
            })
        })
        .flatten()
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.len() < NLMSG_HDRLEN {
            return if rest.is_empty() {
                None
            } else {
                let offset = self.pos;
                self.pos = self.buf.len();
                Some(Err(DecodeError {
                    what: "truncated message header",
                    offset,
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

/// One attribute, and where its payload starts in the message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type, without the nested and byte-order flags.
    pub ty: u16,
    /// `NLA_F_NESTED` was set.
    pub nested: bool,
    /// The payload.
    pub payload: &'a [u8],
    /// The byte offset of the payload from the start of the message (or of the buffer
    /// given to [`attrs`]), for errors.
    pub offset: usize,
}

impl fmt::Debug for Attr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Attr({}, {} bytes at {})",
            self.ty,
            self.payload.len(),
            self.offset
        )
    }
}

impl<'a> Attr<'a> {
    #[inline]
    fn fixed<const N: usize>(&self, what: &'static str) -> Result<[u8; N], DecodeError> {
        match self.payload.get(..N) {
            Some(s) => {
                let mut out = [0u8; N];
                out.copy_from_slice(s);
                Ok(out)
            }
            None => Err(DecodeError {
                what,
                offset: self.offset,
            }),
        }
    }

    /// A `u8` payload.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn u8(&self) -> Result<u8, DecodeError> {
        self.fixed::<1>("u8 attribute too short").map(|b| b[0])
    }

    /// A host-order `u16`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn u16(&self) -> Result<u16, DecodeError> {
        self.fixed("u16 attribute too short")
            .map(u16::from_ne_bytes)
    }

    /// A host-order `u32`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn u32(&self) -> Result<u32, DecodeError> {
        self.fixed("u32 attribute too short")
            .map(u32::from_ne_bytes)
    }

    /// A host-order `u64`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn u64(&self) -> Result<u64, DecodeError> {
        self.fixed("u64 attribute too short")
            .map(u64::from_ne_bytes)
    }

    /// A host-order `i32`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn i32(&self) -> Result<i32, DecodeError> {
        self.fixed("i32 attribute too short")
            .map(i32::from_ne_bytes)
    }

    /// A big-endian `u16`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn be16(&self) -> Result<u16, DecodeError> {
        self.fixed("be16 attribute too short")
            .map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn be32(&self) -> Result<u32, DecodeError> {
        self.fixed("be32 attribute too short")
            .map(u32::from_be_bytes)
    }

    /// A big-endian `u64`.
    ///
    /// # Errors
    ///
    /// When the payload is shorter.
    #[inline]
    pub fn be64(&self) -> Result<u64, DecodeError> {
        self.fixed("be64 attribute too short")
            .map(u64::from_be_bytes)
    }

    /// An IPv4 address (network order, as every netlink family sends it).
    ///
    /// # Errors
    ///
    /// When the payload is shorter than 4 bytes.
    #[inline]
    pub fn ipv4(&self) -> Result<IpAddr, DecodeError> {
        self.fixed::<4>("short IPv4 address")
            .map(|b| IpAddr::V4(Ipv4Addr::from(b)))
    }

    /// An IPv6 address.
    ///
    /// # Errors
    ///
    /// When the payload is shorter than 16 bytes.
    #[inline]
    pub fn ipv6(&self) -> Result<IpAddr, DecodeError> {
        self.fixed::<16>("short IPv6 address")
            .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
    }

    /// An address of either family, told apart by the payload's length (4 or 16 bytes),
    /// as rtnetlink sends them.
    ///
    /// # Errors
    ///
    /// When the payload is neither 4 nor 16 bytes long.
    pub fn ip(&self) -> Result<IpAddr, DecodeError> {
        match self.payload.len() {
            4 => self.ipv4(),
            16 => self.ipv6(),
            _ => Err(DecodeError {
                what: "an address is 4 or 16 bytes",
                offset: self.offset,
            }),
        }
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
    pub fn attrs(&self) -> Attrs<'a> {
        attrs_at(self.payload, self.offset)
    }

    /// Walks the attributes nested in this one (see [`walk`]).
    ///
    /// # Errors
    ///
    /// The framing's [`DecodeError`], or `f`'s.
    #[inline]
    pub fn walk(&self, f: impl FnMut(Self) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
        walk_at(self.payload, self.offset, f)
    }
}

/// Iterates attributes.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

/// The attributes in `buf` (offsets counted from its start).
pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    attrs_at(buf, 0)
}

/// The attributes in `buf`, which starts `base` bytes into the message.
pub fn attrs_at(buf: &[u8], base: usize) -> Attrs<'_> {
    Attrs { buf, pos: 0, base }
}

/// The attribute at `pos` of `buf`: `None` at a clean end (nothing, or zero padding
/// shorter than a header), an error for anything malformed.
#[inline]
fn attr_at(buf: &[u8], pos: usize, base: usize) -> Option<Result<(Attr<'_>, usize), DecodeError>> {
    let Some(h) = buf.get(pos..pos + NLA_HDRLEN) else {
        let rest = buf.get(pos..).unwrap_or_default();
        return (!rest.iter().all(|&b| b == 0)).then_some(Err(DecodeError {
            what: "truncated attribute header",
            offset: base + pos,
        }));
    };
    let len = u16::from_ne_bytes([h[0], h[1]]) as usize;
    let ty = u16::from_ne_bytes([h[2], h[3]]);
    let end = pos + len;
    if len < NLA_HDRLEN || end > buf.len() {
        return Some(Err(DecodeError {
            what: "attribute length out of bounds",
            offset: base + pos,
        }));
    }
    Some(Ok((
        Attr {
            ty: ty & NLA_TYPE_MASK,
            nested: ty & NLA_F_NESTED != 0,
            payload: &buf[pos + NLA_HDRLEN..end],
            offset: base + pos + NLA_HDRLEN,
        },
        pos + align(len),
    )))
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match attr_at(self.buf, self.pos, self.base) {
            None => {
                self.pos = self.buf.len();
                None
            }
            Some(Err(e)) => {
                self.pos = self.buf.len();
                Some(Err(e))
            }
            Some(Ok((attr, next))) => {
                self.pos = next;
                Some(Ok(attr))
            }
        }
    }
}

/// Calls `f` for each attribute of `buf` (offsets counted from its start): the
/// allocation-free walk for hot decoders. Stops at the first error of `f` or of the
/// framing.
///
/// # Errors
///
/// The framing's [`DecodeError`], or `f`'s.
#[inline]
pub fn walk<'a>(
    buf: &'a [u8],
    f: impl FnMut(Attr<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    walk_at(buf, 0, f)
}

/// [`walk`] over a `buf` that starts `base` bytes into the message.
///
/// # Errors
///
/// The framing's [`DecodeError`], or `f`'s.
#[inline]
pub fn walk_at<'a>(
    buf: &'a [u8],
    base: usize,
    mut f: impl FnMut(Attr<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut pos = 0;
    while let Some(next) = attr_at(buf, pos, base) {
        let (attr, after) = next?;
        f(attr)?;
        pos = after;
    }
    Ok(())
}

/// Builds one message: header, family header, attributes, nests. Lengths are checked:
/// an attribute or nest that does not fit netlink's 16-bit length makes
/// [`MsgBuilder::finish`] fail instead of sending a corrupt message.
#[derive(Debug, Clone)]
pub struct MsgBuilder {
    buf: Vec<u8>,
    error: Option<EncodeError>,
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
        Self { buf, error: None }
    }

    /// Sets the message type (for messages built before their type is known).
    pub fn set_type(&mut self, ty: u16) -> &mut Self {
        self.buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        self
    }

    /// Adds to the message's flags.
    pub fn add_flags(&mut self, extra: u16) -> &mut Self {
        let f = u16::from_ne_bytes([self.buf[6], self.buf[7]]) | extra;
        self.buf[6..8].copy_from_slice(&f.to_ne_bytes());
        self
    }

    /// Appends the family header (`nfgenmsg`, `genlmsghdr`, `rtmsg`, ...), padded to 4.
    pub fn header(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self.pad();
        self
    }

    fn pad(&mut self) {
        let padded = align(self.buf.len());
        self.buf.resize(padded, 0);
    }

    fn fail(&mut self, what: &'static str) {
        self.error.get_or_insert(EncodeError { what });
    }

    /// Appends an attribute.
    pub fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let Ok(len) = u16::try_from(NLA_HDRLEN + payload.len()) else {
            self.fail("an attribute longer than 65535 bytes");
            return self;
        };
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

    /// An address attribute: 4 bytes for IPv4, 16 for IPv6 (network order).
    pub fn ip(&mut self, ty: u16, ip: &IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(a) => self.attr(ty, &a.octets()),
            IpAddr::V6(a) => self.attr(ty, &a.octets()),
        }
    }

    /// A NUL-terminated string attribute.
    pub fn string(&mut self, ty: u16, s: &str) -> &mut Self {
        let Ok(len) = u16::try_from(NLA_HDRLEN + s.len() + 1) else {
            self.fail("a string attribute longer than 65535 bytes");
            return self;
        };
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
        self
    }

    /// A nested attribute (`NLA_F_NESTED` set) holding what `f` appends.
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Self)) -> &mut Self {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        f(self);
        match u16::try_from(self.buf.len() - at) {
            Ok(len) => self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes()),
            Err(_) => self.fail("a nest longer than 65535 bytes"),
        }
        self
    }

    /// The finished message, its length set.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when an attribute or nest was too long.
    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let len = u32::try_from(self.buf.len()).map_err(|_| EncodeError {
            what: "a message longer than 4 GiB",
        })?;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        Ok(std::mem::take(&mut self.buf))
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
    /// The kernel's extended acknowledgement: its text, and the offset in the request of
    /// the attribute it objected to.
    pub ext_ack: ExtAck,
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
                offset: NLMSG_HDRLEN,
            })?;
        let mut out = Self {
            errno: err.checked_neg().unwrap_or(i32::MAX),
            ext_ack: ExtAck::default(),
        };
        if msg.flags & flags::ACK_TLVS != 0 {
            // The original request follows: its header only when capped.
            let orig_len = if msg.flags & flags::CAPPED != 0 {
                NLMSG_HDRLEN
            } else {
                u32_at(p, 4).map_or(NLMSG_HDRLEN, |l| l as usize)
            };
            if let Some(tlvs) = p.get(4 + align(orig_len)..) {
                let base = NLMSG_HDRLEN + 4 + align(orig_len);
                for a in attrs_at(tlvs, base).flatten() {
                    match a.ty {
                        NLMSGERR_ATTR_MSG => out.ext_ack.message = Some(a.string()),
                        NLMSGERR_ATTR_OFFS => out.ext_ack.offset = a.u32().ok(),
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
        m.header(&[2, 0, 0, 0]);
        m.nest(1, |m| {
            m.be32(2, 0x0a00_0001).u8(3, 6);
        });
        m.string(4, "hi").be16(5, 80);
        m.ip(6, &"fd00::1".parse().expect("ip"));
        let bytes = m.finish().expect("encode");
        assert_eq!(bytes.len() % 4, 0);
        let msgs: Vec<_> = messages(&bytes).collect::<Result<_, _>>().expect("parse");
        assert_eq!(msgs.len(), 1);
        let msg = msgs[0];
        assert_eq!(
            (msg.ty, msg.flags, msg.seq),
            (0x101, flags::DUMP | flags::REQUEST, 7)
        );
        let list: Vec<_> = msg.attrs(4).collect::<Result<_, _>>().expect("attrs");
        assert_eq!(list.len(), 4);
        assert!(list[0].nested);
        // Offsets count from the start of the message: header 16, nfgenmsg 4, nla 4.
        assert_eq!(list[0].offset, 24);
        let inner: Vec<_> = list[0].attrs().collect::<Result<_, _>>().expect("nested");
        assert_eq!(inner[0].offset, 28);
        assert_eq!(inner[0].be32(), Ok(0x0a00_0001));
        assert_eq!(inner[1].u8(), Ok(6));
        assert_eq!(list[1].string(), "hi");
        assert_eq!(list[2].be16(), Ok(80));
        assert_eq!(list[3].ip(), Ok("fd00::1".parse().expect("ip")));
        let mut walked = Vec::new();
        msg.walk(4, |a| {
            walked.push(a.ty);
            Ok(())
        })
        .expect("walk");
        assert_eq!(walked, [1, 4, 5, 6]);
    }

    #[test]
    fn decode_errors_carry_the_real_offset() {
        let mut m = MsgBuilder::new(1, 0, 0);
        m.header(&[2, 0, 0, 0]).u32(1, 7).nest(2, |m| {
            m.u8(3, 1);
        });
        let bytes = m.finish().expect("encode");
        let msg = messages(&bytes).next().expect("one").expect("ok");
        let nest = msg.attrs(4).nth(1).expect("two").expect("ok");
        let inner = nest.attrs().next().expect("one").expect("ok");
        // The u8 payload sits at 16 + 4 + 8 (the u32 attribute) + 4 (nest header) + 4.
        assert_eq!(inner.offset, 36);
        assert_eq!(
            inner.be32(),
            Err(DecodeError {
                what: "be32 attribute too short",
                offset: 36
            })
        );
        // A broken attribute inside the nest reports where it starts.
        let mut broken = bytes.clone();
        broken[32] = 200; // the nested attribute's length
        let msg = messages(&broken).next().expect("one").expect("ok");
        let nest = msg.attrs(4).nth(1).expect("two").expect("ok");
        let e = nest.attrs().next().expect("one").expect_err("bad length");
        assert_eq!(e.offset, 32);
    }

    #[test]
    fn oversized_attributes_are_refused_not_truncated() {
        let mut m = MsgBuilder::new(1, 0, 0);
        m.attr(1, &vec![0u8; 70_000]);
        assert!(m.finish().is_err());
        let mut m = MsgBuilder::new(1, 0, 0);
        m.nest(1, |m| {
            for _ in 0..20 {
                m.attr(2, &[0u8; 4000]);
            }
        });
        let e = m.finish().expect_err("nest too long");
        assert!(e.to_string().contains("nest"), "{e}");
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        assert!(messages(&[0u8; 10]).next().expect("one").is_err());
        let mut bad = MsgBuilder::new(1, 0, 0).finish().expect("encode");
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(messages(&bad).next().expect("one").is_err());
        let mut iter = attrs(&[8, 0, 1, 0, 1, 2]);
        assert!(iter.next().expect("one").is_err(), "length past the end");
        assert!(
            attrs(&[2, 0, 1, 0]).next().expect("one").is_err(),
            "length below the header"
        );
        assert!(attrs(&[0, 0]).next().is_none(), "zero padding is fine");
        assert!(walk(&[0, 0, 0], |_| Ok(())).is_ok(), "zero padding is fine");
        assert!(walk(&[1, 0, 0], |_| Ok(())).is_err(), "junk after the last");
        let a = Attr {
            ty: 1,
            nested: false,
            payload: &[1],
            offset: 0,
        };
        assert!(a.u32().is_err() && a.be16().is_err() && a.u64().is_err() && a.ip().is_err());
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            for m in messages(&junk).flatten() {
                for a in m.attrs(0).flatten() {
                    let _ = a.attrs().count();
                }
            }
        }
    }

    #[test]
    fn error_with_extended_ack() {
        // An NLMSG_ERROR for a capped request with an extack message.
        let mut p = Vec::new();
        p.extend_from_slice(&(-34i32).to_ne_bytes());
        let orig = MsgBuilder::new(0x1c, 0, 9).finish().expect("encode");
        p.extend_from_slice(&orig[..16]);
        let mut tlv = MsgBuilder::new(0, 0, 0);
        tlv.string(1, "limit greater than maximum (8)").u32(2, 20);
        let tlv = tlv.finish().expect("encode");
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
        assert_eq!(
            e.ext_ack.message.as_deref(),
            Some("limit greater than maximum (8)")
        );
        assert_eq!(e.ext_ack.offset, Some(20));
    }
}
