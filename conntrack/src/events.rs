//! Conntrack events: NEW, UPDATE and DESTROY as they happen (`conntrack -E`).
//!
//! Events are multicast; when the socket's receive buffer overflows the kernel drops
//! events and reports `ENOBUFS` once. This stream turns that into an explicit
//! [`Event::Overrun`] item — events are never lost silently — after which
//! [`Events::resync`] (a dump) gives the current table.

use std::collections::VecDeque;

use nettune_netlink::Socket;
use nettune_netlink::proto::{self, NLMSG_ERROR};

use crate::conntrack::{Conntrack, Dump};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::proto::{Entry, decode_entry, flags, msg};

bitflags::bitflags! {
    /// The event groups to subscribe to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct EventGroups: u8 {
        /// New connections (`NFNLGRP_CONNTRACK_NEW`).
        const NEW = 1;
        /// Changed connections (`NFNLGRP_CONNTRACK_UPDATE`).
        const UPDATE = 2;
        /// Destroyed connections, with final counters (`NFNLGRP_CONNTRACK_DESTROY`).
        const DESTROY = 4;
    }
}

/// How to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventConfig {
    /// Groups to join.
    pub groups: EventGroups,
    /// Receive buffer in bytes (about 1.3 KB per queued event). Set with
    /// `SO_RCVBUFFORCE` when the caller has `CAP_NET_ADMIN`, else capped at
    /// `net.core.rmem_max`; `None` keeps the default (about 200 events).
    pub recv_buffer: Option<usize>,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            groups: EventGroups::all(),
            recv_buffer: None,
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection was created.
    New(Entry),
    /// A connection changed (state, mark, ...).
    Update(Entry),
    /// A connection was destroyed.
    Destroy(Entry),
    /// The receive buffer overflowed and events were lost; resynchronise with a dump.
    Overrun,
}

/// A stream of conntrack events, as an iterator that blocks for the next one.
#[derive(Debug)]
pub struct Events {
    pub(crate) sock: Socket,
    pub(crate) queue: VecDeque<Event>,
    recv_buffer: usize,
}

impl Events {
    /// How long [`Events::next_event`] waits for the next datagram (`None`, the default:
    /// forever); on expiry it returns an error.
    ///
    /// # Errors
    ///
    /// A socket failure.
    pub fn set_timeout(&self, timeout: Option<std::time::Duration>) -> Result<()> {
        self.sock
            .set_recv_timeout(timeout)
            .map_err(|e| Error::from_netlink("events", e))
    }

    /// The receive buffer the kernel set, in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.recv_buffer
    }

    /// The current table, for a consumer that saw [`Event::Overrun`]: a dump through `ct`.
    ///
    /// # Errors
    ///
    /// As [`Conntrack::dump`].
    pub fn resync<'a>(&self, ct: &'a Conntrack, filter: &Filter) -> Result<Dump<'a>> {
        ct.dump(filter)
    }

    /// Reads one datagram into the queue.
    pub(crate) fn fill(&mut self) -> Result<()> {
        const OP: &str = "events";
        match self.sock.recv_datagram() {
            Ok(bytes) => {
                for m in proto::messages(bytes) {
                    let m = m.map_err(|e| Error::decode(OP, e))?;
                    if m.ty == NLMSG_ERROR {
                        continue;
                    }
                    let entry = decode_entry(&m).map_err(|e| Error::decode(OP, e))?;
                    self.queue.push_back(match m.ty {
                        msg::DELETE => Event::Destroy(entry),
                        _ if m.flags & flags::CREATE != 0 => Event::New(entry),
                        _ => Event::Update(entry),
                    });
                }
                Ok(())
            }
            Err(e) if e.errno() == Some(libc::ENOBUFS) => {
                self.queue.push_back(Event::Overrun);
                Ok(())
            }
            Err(e) => Err(Error::from_netlink(OP, e)),
        }
    }

    /// The next event, blocking until one arrives.
    ///
    /// # Errors
    ///
    /// When the socket fails or a message does not decode.
    pub fn next_event(&mut self) -> Result<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(e);
            }
            self.fill()?;
        }
    }
}

impl Iterator for Events {
    type Item = Result<Event>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_event())
    }
}

fn open_events(ct: &Conntrack, config: EventConfig) -> Result<Events> {
    const OP: &str = "events";
    let sock = ct
        .handle()
        .new_socket()
        .map_err(|e| Error::from_netlink(OP, e))?;
    let groups: Vec<u32> = [
        (EventGroups::NEW, 1),
        (EventGroups::UPDATE, 2),
        (EventGroups::DESTROY, 3),
    ]
    .into_iter()
    .filter(|(g, _)| config.groups.contains(*g))
    .map(|(_, id)| id)
    .collect();
    sock.subscribe(&groups)
        .map_err(|e| Error::from_netlink(OP, e))?;
    let recv_buffer = match config.recv_buffer {
        Some(bytes) => sock
            .set_recv_buffer(bytes, true)
            .or_else(|_| sock.set_recv_buffer(bytes, false))
            .map_err(|e| Error::from_netlink(OP, e))?,
        None => default_buffer(),
    };
    Ok(Events {
        sock,
        queue: VecDeque::new(),
        recv_buffer,
    })
}

fn default_buffer() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/rmem_default")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(0, |v| v * 2)
}

impl Conntrack {
    /// Subscribes to events in the handle's namespace.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] without `CAP_NET_ADMIN`; [`Error::Netns`].
    pub fn events(&self, config: EventConfig) -> Result<Events> {
        open_events(self, config)
    }
}
