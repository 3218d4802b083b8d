//! Conntrack events: NEW, UPDATE and DESTROY as they happen (`conntrack -E`).
//!
//! Events are multicast; when the socket's receive buffer overflows the kernel drops
//! events and reports `ENOBUFS` once. This stream turns that into an explicit
//! [`Event::Overrun`] item — events are never lost silently — after which
//! [`Events::resync`] (a dump) gives the current table. A datagram cut by a short buffer
//! and an `NLMSG_OVERRUN` message are overruns too. A message that does not decode is an
//! error item in its place: the events before it come first, those after it still come.

use std::collections::VecDeque;

use std::os::fd::{AsFd, BorrowedFd};

use nettune_netlink::Socket;
use nettune_netlink::proto::{self, EventItem};

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
    pub(crate) queue: VecDeque<Result<Event>>,
    recv_buffer: usize,
}

impl AsFd for Events {
    /// The netlink socket, to wait for events with poll/epoll.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
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

    /// The subscribed socket (for the async stream).
    #[cfg(feature = "tokio")]
    pub(crate) fn into_socket(self) -> Socket {
        self.sock
    }

    /// Events over a socket of the caller's (a test playing the kernel's side).
    #[doc(hidden)]
    pub fn from_socket(sock: Socket) -> Self {
        Self {
            sock,
            queue: VecDeque::new(),
            recv_buffer: 0,
        }
    }

    /// The next event, blocking until one arrives.
    ///
    /// # Errors
    ///
    /// When the socket fails or a message does not decode.
    pub fn next_event(&mut self) -> Result<Event> {
        self.sock.next_item(
            &mut self.queue,
            decode_datagram,
            || Event::Overrun,
            read_error,
        )
    }
}

/// Queues each message of an event datagram as an event or, in its place, the error that
/// it does not decode.
pub(crate) fn decode_datagram(queue: &mut VecDeque<Result<Event>>, bytes: &[u8]) {
    const OP: &str = "events";
    queue.extend(proto::event_items(bytes).map(|item| {
        match item {
            EventItem::Broken(e) => Err(Error::decode(OP, e)),
            EventItem::Overrun => Ok(Event::Overrun),
            EventItem::Message(m) => decode_entry(&m)
                .map(|entry| match m.ty {
                    msg::DELETE => Event::Destroy(entry),
                    _ if m.flags & flags::CREATE != 0 => Event::New(entry),
                    _ => Event::Update(entry),
                })
                .map_err(|e| Error::decode(OP, e)),
        }
    }));
}

/// A failed read that did not just lose events.
pub(crate) fn read_error(e: nettune_netlink::Error) -> Error {
    Error::from_netlink("events", e)
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
    let recv_buffer = sock
        .size_recv_buffer(config.recv_buffer)
        .map_err(|e| Error::from_netlink(OP, e))?;
    Ok(Events {
        sock,
        queue: VecDeque::new(),
        recv_buffer,
    })
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

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    use nettune_netlink::proto::MsgBuilder;

    use super::*;
    use crate::proto::{Tuple, encode_entry, nfgenmsg};

    /// An event message as the kernel sends it: `ty`, flags, an IPv4 UDP entry (or, with
    /// `entry` false, only the family header, which does not decode as an entry).
    fn event(ty: u16, flags: u16, port: u16, entry: bool) -> Vec<u8> {
        let mut m = MsgBuilder::new(ty, flags, 0);
        m.header(&nfgenmsg(2, 0));
        if entry {
            let e = Entry::new(
                Tuple::udp(
                    "10.0.0.1".parse().expect("ip"),
                    port,
                    "10.0.0.2".parse().expect("ip"),
                    53,
                ),
                Duration::from_secs(30),
            );
            encode_entry(&mut m, &e);
        }
        m.finish().expect("encode")
    }

    /// Events over one end of a datagram socket pair; the test writes the kernel's side.
    fn injected() -> (Events, UnixDatagram) {
        let (ours, kernel) = UnixDatagram::pair().expect("pair");
        (
            Events::from_socket(Socket::from_fd(std::os::fd::OwnedFd::from(ours))),
            kernel,
        )
    }

    #[test]
    fn a_bad_message_is_reported_in_its_place_and_the_rest_still_come() {
        let (mut events, kernel) = injected();
        let mut datagram = event(msg::NEW, flags::CREATE, 1000, true);
        datagram.extend(event(msg::NEW, 0, 0, false));
        datagram.extend(event(msg::DELETE, 0, 1002, true));
        kernel.send(&datagram).expect("send");
        let port = |e: &Event| match e {
            Event::New(x) | Event::Update(x) | Event::Destroy(x) => {
                x.original.src_port.unwrap_or_default()
            }
            Event::Overrun => 0,
        };
        let first = events.next_event().expect("the event before the bad one");
        assert!(
            matches!(first, Event::New(_)) && port(&first) == 1000,
            "{first:?}"
        );
        let bad = events.next_event().expect_err("the bad one, in its place");
        assert_eq!(bad.kind(), nettune_core::ErrorKind::Decode, "{bad}");
        let last = events.next_event().expect("the event after it");
        assert!(
            matches!(last, Event::Destroy(_)) && port(&last) == 1002,
            "{last:?}"
        );
    }

    #[test]
    fn overrun_messages_and_cut_datagrams_are_overruns() {
        let (mut events, kernel) = injected();
        // NLMSG_OVERRUN from the kernel.
        let mut m = MsgBuilder::new(proto::NLMSG_OVERRUN, 0, 0);
        m.header(&[0u8; 4]);
        kernel.send(&m.finish().expect("encode")).expect("send");
        assert_eq!(events.next_event().expect("overrun"), Event::Overrun);
        // A datagram larger than the receive buffer: cut, so its events are lost.
        let one = event(msg::NEW, flags::CREATE, 7, true);
        let mut big = Vec::new();
        while big.len() <= 70 * 1024 {
            big.extend(&one);
        }
        kernel.send(&big).expect("send");
        assert_eq!(events.next_event().expect("cut"), Event::Overrun);
        // The buffer grew: the same datagram now reads whole.
        kernel.send(&big).expect("send");
        let n = big.len() / one.len();
        for i in 0..n {
            let e = events.next_event().expect("event");
            assert!(matches!(e, Event::New(_)), "{i}: {e:?}");
        }
    }
}
