//! The expectation table (`conntrack -L expect`): the connections a helper (FTP, SIP,
//! TFTP, ...) expects because of what it read in a master connection, such as the data
//! connection an FTP `PASV` reply announced. Dump, get, create, delete, flush and events
//! over ctnetlink's expectation subsystem (`NFNL_SUBSYS_CTNETLINK_EXP`).

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nettune_netlink::Socket;
use nettune_netlink::proto::{self, Attr, DecodeError, EventItem, Message};

use crate::conntrack::Conntrack;
use crate::error::{Error, Result};
use crate::proto::{Tuple, decode_tuple, encode_tuple, flags};

/// `NFNL_SUBSYS_CTNETLINK_EXP`.
const SUBSYS: u16 = 2 << 8;
mod msg {
    pub(super) const NEW: u16 = super::SUBSYS;
    pub(super) const GET: u16 = super::SUBSYS | 1;
    pub(super) const DELETE: u16 = super::SUBSYS | 2;
}
/// `enum ctattr_expect`.
mod attr {
    pub(super) const MASTER: u16 = 1;
    pub(super) const TUPLE: u16 = 2;
    pub(super) const MASK: u16 = 3;
    pub(super) const TIMEOUT: u16 = 4;
    pub(super) const ID: u16 = 5;
    pub(super) const HELP_NAME: u16 = 6;
    pub(super) const ZONE: u16 = 7;
    pub(super) const FLAGS: u16 = 8;
    pub(super) const CLASS: u16 = 9;
}

/// One expected connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Expectation {
    /// The expectation's id (`CTA_EXPECT_ID`).
    pub id: Option<u32>,
    /// The original tuple of the master connection (the FTP control connection).
    pub master: Tuple,
    /// The connection expected.
    pub tuple: Tuple,
    /// Which parts of `tuple` must match (a zero field matches anything: the source port
    /// of an FTP data connection).
    pub mask: Option<Tuple>,
    /// Seconds left before the expectation expires.
    #[cfg_attr(feature = "serde", serde(serialize_with = "secs"))]
    pub timeout: Option<Duration>,
    /// The helper that made it.
    pub helper: Option<String>,
    /// Zone.
    pub zone: Option<u16>,
    /// `NF_CT_EXPECT_*` flags (1 permanent, 2 inactive, 4 userspace).
    pub flags: Option<u32>,
    /// The helper's expectation class.
    pub class: Option<u32>,
}

#[cfg(feature = "serde")]
fn secs<S: serde::Serializer>(t: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_some(&t.map(|t| t.as_secs()))
}

impl Expectation {
    /// An expectation to create: the connection `tuple` (with `mask` saying which fields
    /// must match) of master connection `master`, for `timeout`, made by the helper the
    /// master has (or `helper`).
    pub fn new(master: Tuple, tuple: Tuple, mask: Tuple, timeout: Duration) -> Self {
        Self {
            id: None,
            master,
            tuple,
            mask: Some(mask),
            timeout: Some(timeout),
            helper: None,
            zone: None,
            flags: None,
            class: None,
        }
    }

    /// The same, naming the helper.
    #[must_use]
    pub fn helper(mut self, name: &str) -> Self {
        self.helper = Some(name.to_owned());
        self
    }
}

/// Decodes an expectation message (nfgenmsg + `CTA_EXPECT_*`).
pub(crate) fn decode_expectation(
    msg: &Message<'_>,
) -> std::result::Result<Expectation, DecodeError> {
    let mut master = None;
    let mut tuple = None;
    let mut e = Expectation {
        id: None,
        master: Tuple::udp([0, 0, 0, 0].into(), 0, [0, 0, 0, 0].into(), 0),
        tuple: Tuple::udp([0, 0, 0, 0].into(), 0, [0, 0, 0, 0].into(), 0),
        mask: None,
        timeout: None,
        helper: None,
        zone: None,
        flags: None,
        class: None,
    };
    for a in msg.attrs(4) {
        let a: Attr<'_> = a?;
        match a.ty {
            attr::MASTER => master = Some(decode_tuple(a)?),
            attr::TUPLE => tuple = Some(decode_tuple(a)?),
            // The mask's addresses are masks, its family the tuple's.
            attr::MASK => e.mask = decode_tuple(a).ok(),
            attr::TIMEOUT => e.timeout = Some(Duration::from_secs(a.be32()?.into())),
            attr::ID => e.id = Some(a.be32()?),
            attr::HELP_NAME => e.helper = Some(a.string()),
            attr::ZONE => e.zone = Some(a.be16()?),
            attr::FLAGS => e.flags = Some(a.be32()?),
            attr::CLASS => e.class = Some(a.be32()?),
            _ => {}
        }
    }
    let missing = |what| DecodeError { what, offset: 0 };
    e.master = master.ok_or_else(|| missing("an expectation without its master tuple"))?;
    e.tuple = tuple.ok_or_else(|| missing("an expectation without its tuple"))?;
    Ok(e)
}

fn family(t: &Tuple) -> u8 {
    t.family().to_raw()
}

impl Conntrack {
    /// Every expectation (`conntrack -L expect`).
    ///
    /// # Errors
    ///
    /// A netlink failure; [`Error::Decode`] for a reply that does not decode.
    pub fn expectations(&self) -> Result<Vec<Expectation>> {
        let op = "list expectations";
        let mut out = Vec::new();
        self.transact(
            op,
            (msg::GET, flags::DUMP, 0, 0),
            |_| Ok(()),
            |m| {
                out.push(decode_expectation(&m).map_err(|e| Error::decode(op, e))?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The expectation of connection `tuple`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub fn get_expectation(&self, tuple: &Tuple) -> Result<Expectation> {
        let op = "get expectation";
        let mut found = None;
        self.transact(
            op,
            (msg::GET, flags::ACK, family(tuple), 0),
            |m| {
                encode_tuple(m, attr::TUPLE, tuple);
                Ok(())
            },
            |m| {
                found = Some(decode_expectation(&m).map_err(|e| Error::decode(op, e))?);
                Ok(())
            },
        )?;
        found.ok_or(Error::NotFound { op, source: None })
    }

    /// Creates an expectation (`conntrack -I expect`): its master connection must exist
    /// and have a helper, or `helper` must name one. When the master has a helper, the
    /// kernel gives the expectation that helper's timeout (FTP: 300 s) rather than the one
    /// asked; read it back with [`Conntrack::get_expectation`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] without a mask or timeout, or with families that differ
    /// (before sending); [`Error::NotFound`] when the master connection does not exist;
    /// [`Error::Exists`].
    pub fn create_expectation(&self, e: &Expectation) -> Result<()> {
        let op = "create expectation";
        let (Some(mask), Some(timeout)) = (&e.mask, e.timeout) else {
            return Err(Error::invalid(
                op,
                "an expectation needs a mask and a timeout",
            ));
        };
        if e.master.family() != e.tuple.family() || mask.family() != e.tuple.family() {
            return Err(Error::invalid(
                op,
                "the master, the tuple and the mask must be of one address family",
            ));
        }
        let secs = crate::proto::timeout_secs(timeout).map_err(|r| Error::invalid(op, r))?;
        self.transact(
            op,
            (
                msg::NEW,
                flags::ACK | flags::CREATE | flags::EXCL,
                family(&e.tuple),
                0,
            ),
            |m| {
                encode_tuple(m, attr::MASTER, &e.master);
                encode_tuple(m, attr::TUPLE, &e.tuple);
                encode_tuple(m, attr::MASK, mask);
                m.be32(attr::TIMEOUT, secs);
                if let Some(h) = &e.helper {
                    m.string(attr::HELP_NAME, h);
                }
                if let Some(z) = e.zone {
                    m.be16(attr::ZONE, z);
                }
                if let Some(f) = e.flags {
                    m.be32(attr::FLAGS, f);
                }
                Ok(())
            },
            |_| Ok(()),
        )
        .map_err(|e| match e {
            Error::Unsupported { source, .. } => Error::Unsupported {
                op,
                reason: "the master connection has no helper: give it one (an nftables \
                         `ct helper set` rule on its traffic) before expecting connections"
                    .into(),
                source,
            },
            other => other,
        })
    }

    /// Deletes the expectation of connection `tuple`; with `id`, only if its id is that.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub fn delete_expectation(&self, tuple: &Tuple, id: Option<u32>) -> Result<()> {
        let op = "delete expectation";
        self.transact(
            op,
            (msg::DELETE, flags::ACK, family(tuple), 0),
            |m| {
                encode_tuple(m, attr::TUPLE, tuple);
                if let Some(id) = id {
                    m.be32(attr::ID, id);
                }
                Ok(())
            },
            |_| Ok(()),
        )
    }

    /// Deletes every expectation (`conntrack -F expect`); with `helper`, only that
    /// helper's.
    ///
    /// # Errors
    ///
    /// A netlink failure.
    pub fn flush_expectations(&self, helper: Option<&str>) -> Result<()> {
        let op = "flush expectations";
        self.transact(
            op,
            (msg::DELETE, flags::ACK, 0, 0),
            |m| {
                if let Some(h) = helper {
                    m.string(attr::HELP_NAME, h);
                }
                Ok(())
            },
            |_| Ok(()),
        )
    }

    /// Subscribes to expectation events (`conntrack -E expect`): new and destroyed
    /// expectations.
    ///
    /// # Errors
    ///
    /// As [`Conntrack::events`](crate::Conntrack::events).
    pub fn expectation_events(&self, recv_buffer: Option<usize>) -> Result<ExpectationEvents> {
        const OP: &str = "expectation events";
        let sock = self
            .handle()
            .new_socket()
            .map_err(|e| Error::from_netlink(OP, e))?;
        // NFNLGRP_CONNTRACK_EXP_NEW, _EXP_UPDATE, _EXP_DESTROY.
        sock.subscribe(&[4, 5, 6])
            .map_err(|e| Error::from_netlink(OP, e))?;
        sock.size_recv_buffer(recv_buffer)
            .map_err(|e| Error::from_netlink(OP, e))?;
        Ok(ExpectationEvents {
            sock,
            queue: VecDeque::new(),
        })
    }
}

/// An expectation event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpectationEvent {
    /// A helper (or a caller) created an expectation.
    New(Expectation),
    /// An expectation was met, expired or was deleted.
    Destroy(Expectation),
    /// Events were lost (the receive buffer overflowed).
    Overrun,
}

/// Expectation events, as an iterator that blocks for the next one.
#[derive(Debug)]
pub struct ExpectationEvents {
    sock: Socket,
    queue: VecDeque<Result<ExpectationEvent>>,
}

impl AsFd for ExpectationEvents {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl ExpectationEvents {
    /// How long [`ExpectationEvents::next_event`] waits (`None`: forever).
    ///
    /// # Errors
    ///
    /// A socket failure.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.sock
            .set_recv_timeout(timeout)
            .map_err(|e| Error::from_netlink("expectation events", e))
    }

    /// The next event.
    ///
    /// # Errors
    ///
    /// A socket failure; a message that does not decode (in its place).
    pub fn next_event(&mut self) -> Result<ExpectationEvent> {
        const OP: &str = "expectation events";
        let decode = |queue: &mut VecDeque<Result<ExpectationEvent>>, bytes: &[u8]| {
            queue.extend(proto::event_items(bytes).map(|i| {
                match i {
                    EventItem::Broken(e) => Err(Error::decode(OP, e)),
                    EventItem::Overrun => Ok(ExpectationEvent::Overrun),
                    EventItem::Message(m) => decode_expectation(&m)
                        .map(|x| {
                            if m.ty == msg::DELETE {
                                ExpectationEvent::Destroy(x)
                            } else {
                                ExpectationEvent::New(x)
                            }
                        })
                        .map_err(|e| Error::decode(OP, e)),
                }
            }));
        };
        self.sock.next_item(
            &mut self.queue,
            decode,
            || ExpectationEvent::Overrun,
            |e| Error::from_netlink(OP, e),
        )
    }
}

impl Iterator for ExpectationEvents {
    type Item = Result<ExpectationEvent>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_event())
    }
}
