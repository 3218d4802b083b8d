//! Notifications of changes made by anyone (`ethtool --monitor`): the family's `monitor`
//! multicast group, in the handle's namespace.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};

use nettune_netlink::Socket;
use nettune_netlink::proto::{self, EventItem, Message};

use super::{EthtoolNl, HEADER_DEV_INDEX, HEADER_DEV_NAME, walk};
use crate::error::{Error, Result};

/// What changed (the notification's `ETHTOOL_MSG_*_NTF` type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum NoticeKind {
    /// Port, PHY address, MDI-X (`LINKINFO_NTF`).
    LinkInfo,
    /// Speed, duplex, advertised modes (`LINKMODES_NTF`).
    LinkModes,
    /// Message level (`DEBUG_NTF`).
    Debug,
    /// Wake-on-LAN (`WOL_NTF`).
    Wol,
    /// Offloads (`FEATURES_NTF`).
    Features,
    /// Private flags (`PRIVFLAGS_NTF`).
    PrivateFlags,
    /// Ring sizes (`RINGS_NTF`).
    Rings,
    /// Channel counts (`CHANNELS_NTF`).
    Channels,
    /// Coalescing (`COALESCE_NTF`).
    Coalesce,
    /// Pause (`PAUSE_NTF`).
    Pause,
    /// Energy-efficient Ethernet (`EEE_NTF`).
    Eee,
    /// Another notification type.
    Other(u8),
}

impl NoticeKind {
    fn from_cmd(cmd: u8) -> Self {
        match cmd {
            3 => Self::LinkInfo,
            5 => Self::LinkModes,
            8 => Self::Debug,
            10 => Self::Wol,
            13 => Self::Features,
            15 => Self::PrivateFlags,
            17 => Self::Rings,
            19 => Self::Channels,
            21 => Self::Coalesce,
            23 => Self::Pause,
            25 => Self::Eee,
            other => Self::Other(other),
        }
    }
}

/// One notification: what changed on which device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Notice {
    /// A change.
    Changed {
        /// What changed.
        kind: NoticeKind,
        /// The device's name.
        iface: String,
        /// Its interface index.
        ifindex: u32,
    },
    /// The socket's receive buffer overflowed and notifications were lost: read the
    /// devices again.
    Overrun,
}

/// Notifications, as an iterator that blocks for the next one.
#[derive(Debug)]
pub struct Monitor {
    sock: Socket,
    queue: VecDeque<Result<Notice>>,
}

impl AsFd for Monitor {
    /// The netlink socket, to wait for notifications with poll/epoll.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

const OP: &str = "monitor (netlink)";

pub(super) fn decode(m: &Message<'_>) -> std::result::Result<Notice, proto::DecodeError> {
    let cmd = m.payload.first().copied().unwrap_or(0);
    let (mut iface, mut ifindex) = (String::new(), 0);
    walk(m, |a| {
        // Every notification's header is its attribute 1.
        if a.ty == 1 {
            a.walk(|h| {
                match h.ty {
                    HEADER_DEV_INDEX => ifindex = h.u32()?,
                    HEADER_DEV_NAME => iface = h.string(),
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(Notice::Changed {
        kind: NoticeKind::from_cmd(cmd),
        iface,
        ifindex,
    })
}

impl EthtoolNl {
    /// Subscribes to the family's `monitor` group: every change to a device of this
    /// namespace, by anyone (`ethtool`, another program, this one), as a [`Notice`].
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the family has no `monitor` group; [`Error::Netlink`].
    pub fn monitor(&self) -> Result<Monitor> {
        let group = self.family.group("monitor").ok_or(Error::Unsupported {
            iface: "-".into(),
            op: OP,
            driver: "kernel's netlink".into(),
            source: std::io::Error::from_raw_os_error(libc::EOPNOTSUPP),
        })?;
        let sock = self
            .nl
            .new_socket()
            .map_err(|e| Error::netlink("-", OP, e))?;
        sock.subscribe(&[group])
            .map_err(|e| Error::netlink("-", OP, e))?;
        Ok(Monitor {
            sock,
            queue: VecDeque::new(),
        })
    }
}

impl Monitor {
    /// How long [`Monitor::next_notice`] waits (`None`: forever); on expiry it returns
    /// [`Error::Netlink`] whose source is a would-block error.
    ///
    /// # Errors
    ///
    /// A socket failure.
    pub fn set_timeout(&self, timeout: Option<std::time::Duration>) -> Result<()> {
        self.sock
            .set_recv_timeout(timeout)
            .map_err(|e| Error::netlink("-", OP, e))
    }

    /// The next notification, waiting for it.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] for a socket failure, a timeout, or a notification that does
    /// not decode (the ones after it still come).
    pub fn next_notice(&mut self) -> Result<Notice> {
        self.sock.next_item(
            &mut self.queue,
            |q, bytes| {
                q.extend(proto::event_items(bytes).map(|item| match item {
                    EventItem::Broken(e) => Err(Error::decode("-", OP, e)),
                    EventItem::Overrun => Ok(Notice::Overrun),
                    EventItem::Message(m) => decode(&m).map_err(|e| Error::decode("-", OP, e)),
                }));
            },
            || Notice::Overrun,
            |e| Error::netlink("-", OP, e),
        )
    }
}

impl Iterator for Monitor {
    type Item = Result<Notice>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_notice())
    }
}
