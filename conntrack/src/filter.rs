//! Dump and flush filters, applied by the kernel.

use std::net::IpAddr;

use crate::proto::{Entry, Family, Status};

/// A partial tuple to match (`CTA_FILTER`): each field given must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TupleFilter {
    /// Source address.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: Option<IpAddr>,
    /// IP protocol number (needed with ports).
    pub protocol: Option<u8>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// The prefix length of `src` (`10.0.0.0/8`: 8); `None` is the whole address. The
    /// kernel compares whole addresses only, so a shorter prefix is matched here, after
    /// the kernel's own filter.
    pub src_prefix: Option<u8>,
    /// The prefix length of `dst`.
    pub dst_prefix: Option<u8>,
}

/// Whether `a` lies in `net/len` (`len` of `None`: equal).
fn in_net(a: IpAddr, net: IpAddr, len: Option<u8>) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = u32::from(len.unwrap_or(32).min(32));
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = u32::from(len.unwrap_or(128).min(128));
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl TupleFilter {
    /// Matches `net/len` as the source (`conntrack --src 10.0.0.0/8`).
    #[must_use]
    pub fn src_net(mut self, net: IpAddr, len: u8) -> Self {
        self.src = Some(net);
        self.src_prefix = Some(len);
        self
    }

    /// Matches `net/len` as the destination.
    #[must_use]
    pub fn dst_net(mut self, net: IpAddr, len: u8) -> Self {
        self.dst = Some(net);
        self.dst_prefix = Some(len);
        self
    }

    /// Whether `t` matches.
    pub fn matches(&self, t: &crate::proto::Tuple) -> bool {
        self.src.is_none_or(|a| in_net(t.src, a, self.src_prefix))
            && self.dst.is_none_or(|a| in_net(t.dst, a, self.dst_prefix))
            && self.protocol.is_none_or(|p| p == t.protocol)
            && self.src_port.is_none_or(|p| Some(p) == t.src_port)
            && self.dst_port.is_none_or(|p| Some(p) == t.dst_port)
    }

    /// What the kernel can apply of this: the addresses that are whole.
    pub(crate) fn for_kernel(self) -> Self {
        let keep = |a: Option<IpAddr>, len: Option<u8>| {
            a.filter(|a| len.is_none_or(|l| l >= if a.is_ipv4() { 32 } else { 128 }))
        };
        Self {
            src: keep(self.src, self.src_prefix),
            dst: keep(self.dst, self.dst_prefix),
            src_prefix: None,
            dst_prefix: None,
            ..self
        }
    }

    pub(crate) fn family(&self) -> Option<Family> {
        self.src.or(self.dst).map(|a| {
            if a.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            }
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Which entries a dump or flush touches. Every criterion given is applied by the kernel;
/// an empty filter matches everything.
///
/// ```
/// use nettune_conntrack::{Filter, Family, Status};
/// let f = Filter::new().family(Family::Ipv4).mark(0x10, 0xff).status(Status::ASSURED, Status::ASSURED);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub(crate) family: Option<Family>,
    pub(crate) mark: Option<(u32, u32)>,
    pub(crate) status: Option<(Status, Status)>,
    pub(crate) zone: Option<u16>,
    pub(crate) original: Option<TupleFilter>,
    pub(crate) reply: Option<TupleFilter>,
    pub(crate) userspace_fallback: bool,
}

impl Filter {
    /// Matches every entry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this address family.
    #[must_use]
    pub fn family(mut self, family: Family) -> Self {
        self.family = Some(family);
        self
    }

    /// Only entries with `mark & mask == value & mask`.
    #[must_use]
    pub fn mark(mut self, value: u32, mask: u32) -> Self {
        self.mark = Some((value, mask));
        self
    }

    /// Only entries with `status & mask == value & mask` (Linux 5.15).
    #[must_use]
    pub fn status(mut self, value: Status, mask: Status) -> Self {
        self.status = Some((value, mask));
        self
    }

    /// Only entries of this zone (Linux 6.8).
    #[must_use]
    pub fn zone(mut self, zone: u16) -> Self {
        self.zone = Some(zone);
        self
    }

    /// Only entries whose original tuple matches (Linux 5.8; needs the family, which the
    /// addresses give).
    #[must_use]
    pub fn original(mut self, tuple: TupleFilter) -> Self {
        self.original = Some(tuple);
        self
    }

    /// Only entries whose reply tuple matches.
    #[must_use]
    pub fn reply(mut self, tuple: TupleFilter) -> Self {
        self.reply = Some(tuple);
        self
    }

    /// When the running kernel cannot apply a criterion, apply it in user space instead
    /// of failing with `Unsupported` (the dump then reads the whole table).
    #[must_use]
    pub fn userspace_fallback(mut self, on: bool) -> Self {
        self.userspace_fallback = on;
        self
    }

    /// Whether `e` matches every criterion.
    pub fn matches(&self, e: &Entry) -> bool {
        self.family.is_none_or(|f| f == e.family)
            && self
                .mark
                .is_none_or(|(v, m)| e.mark.unwrap_or(0) & m == v & m)
            && self.status.is_none_or(|(v, m)| e.status & m == v & m)
            && self.zone.is_none_or(|z| e.zone.unwrap_or(0) == z)
            && self.original.is_none_or(|t| t.matches(&e.original))
            && self
                .reply
                .is_none_or(|t| e.reply.as_ref().is_some_and(|r| t.matches(r)))
    }

    /// The family the kernel should filter on.
    pub(crate) fn effective_family(&self) -> Option<Family> {
        self.family
            .or_else(|| self.original.and_then(|t| t.family()))
            .or_else(|| self.reply.and_then(|t| t.family()))
    }

    pub(crate) fn has_tuple(&self) -> bool {
        self.original.is_some_and(|t| !t.is_empty()) || self.reply.is_some_and(|t| !t.is_empty())
    }
}
