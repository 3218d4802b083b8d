//! The `PathManager` handle.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};

use nettune_core::NetNs;
use nettune_netlink::genl::{self, GenlFamily};
use nettune_netlink::proto::{self, EventItem, Message, MsgBuilder};
use nettune_netlink::{Handle, NlFamily, Socket};
use nettune_sysctl::{Sysctl, knobs};

use crate::error::{Error, Result};
use crate::proto::{
    AddrNest, Endpoint, EndpointFlags, PmEvent, cmd, decode_endpoint_reply, decode_event,
    decode_limits, encode_addr, pm_attr,
};

/// How an endpoint names its interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Interface {
    /// By name (resolved in the path manager's namespace before sending).
    Name(String),
    /// By index.
    Index(u32),
}

/// An endpoint to add, checked as `ip mptcp endpoint add` checks it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EndpointSpec {
    addr: IpAddr,
    id: Option<u8>,
    port: Option<u16>,
    interface: Option<Interface>,
    flags: EndpointFlags,
}

impl EndpointSpec {
    /// An endpoint for `addr`, no flags.
    pub fn new(addr: IpAddr) -> Self {
        Self {
            addr,
            id: None,
            port: None,
            interface: None,
            flags: EndpointFlags::empty(),
        }
    }

    /// A chosen id (the kernel picks one otherwise).
    #[must_use]
    pub fn id(mut self, id: u8) -> Self {
        self.id = Some(id);
        self
    }

    /// A port (needs `signal`).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The interface subflows of this address use.
    #[must_use]
    pub fn interface(mut self, interface: Interface) -> Self {
        self.interface = Some(interface);
        self
    }

    /// Flags.
    #[must_use]
    pub fn flags(mut self, flags: EndpointFlags) -> Self {
        self.flags = flags;
        self
    }

    /// The checks `ip mptcp` makes, before anything is sent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] naming the rule.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: &str| Err(Error::invalid("add endpoint", reason));
        if self.flags.contains(EndpointFlags::SIGNAL)
            && self.flags.contains(EndpointFlags::FULLMESH)
        {
            return bad("flags signal and fullmesh cannot be used together");
        }
        if self.port.is_some() && !self.flags.contains(EndpointFlags::SIGNAL) {
            return bad("a port needs the signal flag");
        }
        if self.port == Some(0) {
            return bad("port 0 is not a port");
        }
        if self.flags.contains(EndpointFlags::IMPLICIT) {
            return bad("implicit endpoints are created by the kernel, not added");
        }
        if self.id == Some(0) {
            return bad("id 0 is the initial subflow's address and cannot be added");
        }
        if self.addr.is_unspecified() || self.addr.is_multicast() {
            return bad("the address must be a unicast address");
        }
        Ok(())
    }
}

/// Subflow and address limits (`ip mptcp limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Limits {
    /// The most extra subflows per connection.
    pub subflows: u32,
    /// The most ADD_ADDRs accepted per connection.
    pub add_addr_accepted: u32,
}

/// Which endpoint to remove or change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EndpointRef {
    /// By id.
    Id(u8),
    /// By address.
    Addr(IpAddr),
}

/// A handle of the MPTCP path manager of one network namespace (`ip-mptcp(8)`,
/// Documentation/networking/mptcp.rst). Reading needs no privilege; changes need
/// `CAP_NET_ADMIN`.
#[derive(Debug)]
pub struct PathManager {
    nl: Handle,
    family: GenlFamily,
}

fn interface_index(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|_| {
        let existing: Vec<String> = nix::net::if_::if_nameindex()
            .map(|l| {
                l.iter()
                    .map(|i| i.name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        Error::invalid(
            "add endpoint",
            format!(
                "no interface {name:?} in this namespace; interfaces: {}",
                existing.join(", ")
            ),
        )
    })
}

impl PathManager {
    /// Opens the path manager of the calling thread's namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel lacks MPTCP or `net.mptcp.enabled` is 0,
    /// saying which and how to enable it.
    pub fn open() -> Result<Self> {
        Self::wrap(Handle::open(NlFamily::Generic))
    }

    /// Opens the path manager of namespace `ns`.
    ///
    /// # Errors
    ///
    /// As [`PathManager::open`].
    pub fn open_in(ns: &NetNs) -> Result<Self> {
        Self::wrap(Handle::open_in(ns, NlFamily::Generic))
    }

    fn wrap(nl: std::result::Result<Handle, nettune_netlink::Error>) -> Result<Self> {
        const OP: &str = "open";
        let nl = nl.map_err(|e| Error::from_netlink(OP, e))?;
        let family = genl::resolve(&nl, "mptcp_pm").map_err(|e| match e.errno() {
            Some(libc::ENOENT) => Error::Unsupported {
                op: OP,
                reason: "the kernel has no mptcp_pm netlink family (built without CONFIG_MPTCP)"
                    .into(),
            },
            _ => Error::from_netlink(OP, e),
        })?;
        let enabled = nl.run(|| Sysctl::new().get::<knobs::MptcpEnabled>())?;
        if let Ok(false) = enabled {
            return Err(Error::Unsupported {
                op: OP,
                reason: "net.mptcp.enabled is 0 in this namespace; set it to 1".into(),
            });
        }
        Ok(Self { nl, family })
    }

    /// The namespace the handle works in, when not the caller's.
    pub fn netns(&self) -> Option<&NetNs> {
        self.nl.netns()
    }

    /// Sends command `command` (what `build` writes after the genl header) and calls
    /// `each` for every reply.
    fn request(
        &self,
        op: &'static str,
        command: u8,
        flags: u16,
        build: impl FnOnce(&mut MsgBuilder),
        each: impl FnMut(Message<'_>) -> Result<()>,
    ) -> Result<()> {
        self.nl
            .transact(
                self.family.id,
                flags,
                |m| {
                    m.header(&genl::genl_header(command, 1));
                    build(m);
                    Ok(())
                },
                each,
            )
            .map_err(|f| f.into_caller(|e| Error::from_netlink(op, e)))
    }

    /// Sends a command and waits for the ACK.
    fn command(
        &self,
        op: &'static str,
        command: u8,
        build: impl FnOnce(&mut MsgBuilder),
    ) -> Result<()> {
        self.request(op, command, proto::flags::ACK, build, |_| Ok(()))
    }

    /// Runs `f` in the handle's namespace (interface names resolve there).
    fn in_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.nl.run(f)?
    }

    /// Every endpoint (`ip mptcp endpoint show`).
    ///
    /// # Errors
    ///
    /// A netlink failure.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>> {
        const OP: &str = "list endpoints";
        let mut out = Vec::new();
        self.request(
            OP,
            cmd::GET_ADDR,
            proto::flags::DUMP,
            |_| {},
            |reply| {
                out.push(decode_endpoint_reply(&reply).map_err(|e| Error::decode(OP, e))?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The endpoint with id `id`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`].
    pub fn endpoint(&self, id: u8) -> Result<Endpoint> {
        const OP: &str = "get endpoint";
        let nest = AddrNest {
            id: Some(id),
            ..AddrNest::default()
        };
        let mut out = None;
        self.request(
            OP,
            cmd::GET_ADDR,
            proto::flags::ACK,
            |m| encode_addr(m, pm_attr::ADDR, &nest),
            |reply| {
                out = Some(decode_endpoint_reply(&reply).map_err(|e| Error::decode(OP, e))?);
                Ok(())
            },
        )?;
        out.ok_or_else(|| Error::not_found(OP, format!("no endpoint with id {id}")))
    }

    /// Adds an endpoint (after the checks `ip mptcp` makes) and returns its id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] before sending (bad flags, unknown interface) or with the
    /// kernel's text; [`Error::IdInUse`] when another endpoint has the id;
    /// [`Error::Exists`] when one has the address; [`Error::PermissionDenied`].
    pub fn add_endpoint(&self, spec: &EndpointSpec) -> Result<u8> {
        const OP: &str = "add endpoint";
        spec.validate()?;
        let ifindex = match &spec.interface {
            None => None,
            Some(Interface::Index(i)) => Some(*i),
            Some(Interface::Name(n)) => {
                let n = n.clone();
                Some(self.in_ns(move || interface_index(&n))?)
            }
        };
        let nest = AddrNest {
            id: spec.id,
            addr: Some(spec.addr),
            port: spec.port,
            flags: Some(spec.flags),
            ifindex,
        };
        self.command(OP, cmd::ADD_ADDR, |m| encode_addr(m, pm_attr::ADDR, &nest))
            .map_err(|e| match (e, spec.id) {
                (Error::Netlink { source, .. }, Some(id))
                    if source.errno() == Some(libc::EBUSY) =>
                {
                    Error::IdInUse { id, source }
                }
                (other, _) => other,
            })?;
        if let Some(id) = spec.id {
            return Ok(id);
        }
        self.endpoints()?
            .into_iter()
            .find(|e| e.addr == spec.addr && e.port == spec.port)
            .map(|e| e.id)
            .ok_or_else(|| Error::not_found(OP, "the endpoint vanished after adding it"))
    }

    /// Removes an endpoint by id or address.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is none.
    pub fn remove_endpoint(&self, which: EndpointRef) -> Result<()> {
        const OP: &str = "remove endpoint";
        let nest = match which {
            EndpointRef::Id(0) => {
                return Err(Error::invalid(OP, "removing id 0 needs the address"));
            }
            EndpointRef::Id(id) => AddrNest {
                id: Some(id),
                ..AddrNest::default()
            },
            EndpointRef::Addr(addr) => {
                let id = self
                    .endpoints()?
                    .into_iter()
                    .find(|e| e.addr == addr)
                    .map(|e| e.id);
                match id {
                    Some(id) => AddrNest {
                        id: Some(id),
                        addr: Some(addr),
                        ..AddrNest::default()
                    },
                    None => {
                        return Err(Error::not_found(OP, format!("no endpoint for {addr}")));
                    }
                }
            }
        };
        self.command(OP, cmd::DEL_ADDR, |m| encode_addr(m, pm_attr::ADDR, &nest))
    }

    /// Removes every endpoint.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`].
    pub fn flush(&self) -> Result<()> {
        self.command("flush endpoints", cmd::FLUSH_ADDRS, |_| {})
    }

    /// Sets the backup and fullmesh flags of an endpoint (the only ones that change);
    /// `backup`/`fullmesh` `None` keep the current value.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::InvalidValue`] with the kernel's text (fullmesh on a
    /// signal endpoint).
    pub fn set_flags(
        &self,
        which: EndpointRef,
        backup: Option<bool>,
        fullmesh: Option<bool>,
    ) -> Result<()> {
        const OP: &str = "set endpoint flags";
        let current = match which {
            EndpointRef::Id(id) => self.endpoint(id)?,
            EndpointRef::Addr(a) => self
                .endpoints()?
                .into_iter()
                .find(|e| e.addr == a)
                .ok_or_else(|| Error::not_found(OP, format!("no endpoint for {a}")))?,
        };
        let mut flags = current.flags;
        if let Some(b) = backup {
            flags.set(EndpointFlags::BACKUP, b);
        }
        if let Some(f) = fullmesh {
            if f && flags.contains(EndpointFlags::SIGNAL) {
                return Err(Error::invalid(
                    OP,
                    "flags signal and fullmesh cannot be used together",
                ));
            }
            flags.set(EndpointFlags::FULLMESH, f);
        }
        let nest = AddrNest {
            id: Some(current.id),
            addr: Some(current.addr),
            flags: Some(flags),
            ..AddrNest::default()
        };
        self.command(OP, cmd::SET_FLAGS, |m| encode_addr(m, pm_attr::ADDR, &nest))
    }

    /// The limits (`ip mptcp limits show`).
    ///
    /// # Errors
    ///
    /// A netlink failure.
    pub fn limits(&self) -> Result<Limits> {
        const OP: &str = "get limits";
        let mut out = None;
        self.request(
            OP,
            cmd::GET_LIMITS,
            proto::flags::ACK,
            |_| {},
            |reply| {
                out = Some(decode_limits(&reply).map_err(|e| Error::decode(OP, e))?);
                Ok(())
            },
        )?;
        let (subflows, add_addr_accepted) =
            out.ok_or_else(|| Error::not_found(OP, "no limits in the reply"))?;
        Ok(Limits {
            subflows,
            add_addr_accepted,
        })
    }

    /// Sets the limits. The kernel refuses values above its maximum (8) with a message
    /// this error carries.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] with the kernel's text.
    pub fn set_limits(&self, subflows: u32, add_addr_accepted: u32) -> Result<()> {
        self.command("set limits", cmd::SET_LIMITS, |m| {
            m.u32(pm_attr::RCV_ADD_ADDRS, add_addr_accepted)
                .u32(pm_attr::SUBFLOWS, subflows);
        })
    }

    /// Whether the namespace uses the userspace path manager.
    fn require_userspace(&self, op: &'static str) -> Result<()> {
        let pm = self.in_ns(|| Ok(Sysctl::new().get::<knobs::MptcpPmType>()?))?;
        if pm == nettune_sysctl::PmType::Userspace {
            Ok(())
        } else {
            Err(Error::invalid(
                op,
                "this namespace uses the in-kernel path manager; set net.mptcp.path_manager to userspace (or pm_type to 1)",
            ))
        }
    }

    /// Userspace PM: announces a local address on connection `token`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] when the namespace uses the in-kernel path manager, or with
    /// the kernel's text.
    pub fn announce(&self, token: u32, id: u8, addr: IpAddr, port: Option<u16>) -> Result<()> {
        const OP: &str = "announce";
        self.require_userspace(OP)?;
        let nest = AddrNest {
            id: Some(id),
            addr: Some(addr),
            port,
            flags: Some(EndpointFlags::SIGNAL),
            ..AddrNest::default()
        };
        self.command(OP, cmd::ANNOUNCE, |m| {
            m.u32(pm_attr::TOKEN, token);
            encode_addr(m, pm_attr::ADDR, &nest);
        })
    }

    /// Userspace PM: withdraws the address with local id `id` from connection `token`.
    ///
    /// # Errors
    ///
    /// As [`PathManager::announce`].
    pub fn remove(&self, token: u32, id: u8) -> Result<()> {
        const OP: &str = "remove";
        self.require_userspace(OP)?;
        self.command(OP, cmd::REMOVE, |m| {
            m.u32(pm_attr::TOKEN, token).u8(pm_attr::LOC_ID, id);
        })
    }

    /// Userspace PM: opens a subflow of connection `token` from `local` (with id
    /// `local_id`) to `remote:port`.
    ///
    /// # Errors
    ///
    /// As [`PathManager::announce`].
    pub fn subflow_create(
        &self,
        token: u32,
        local_id: u8,
        local: IpAddr,
        remote: IpAddr,
        port: u16,
    ) -> Result<()> {
        const OP: &str = "create subflow";
        self.require_userspace(OP)?;
        self.command(OP, cmd::SUBFLOW_CREATE, |m| {
            m.u32(pm_attr::TOKEN, token);
            encode_addr(
                m,
                pm_attr::ADDR,
                &AddrNest {
                    id: Some(local_id),
                    addr: Some(local),
                    ..AddrNest::default()
                },
            );
            encode_addr(
                m,
                pm_attr::ADDR_REMOTE,
                &AddrNest {
                    addr: Some(remote),
                    port: Some(port),
                    ..AddrNest::default()
                },
            );
        })
    }

    /// Userspace PM: closes the subflow of connection `token` between `local:lport` and
    /// `remote:rport`.
    ///
    /// # Errors
    ///
    /// As [`PathManager::announce`].
    pub fn subflow_destroy(
        &self,
        token: u32,
        local: IpAddr,
        lport: u16,
        remote: IpAddr,
        rport: u16,
    ) -> Result<()> {
        const OP: &str = "destroy subflow";
        self.require_userspace(OP)?;
        self.command(OP, cmd::SUBFLOW_DESTROY, |m| {
            m.u32(pm_attr::TOKEN, token);
            encode_addr(
                m,
                pm_attr::ADDR,
                &AddrNest {
                    addr: Some(local),
                    port: Some(lport),
                    ..AddrNest::default()
                },
            );
            encode_addr(
                m,
                pm_attr::ADDR_REMOTE,
                &AddrNest {
                    addr: Some(remote),
                    port: Some(rport),
                    ..AddrNest::default()
                },
            );
        })
    }

    /// Subscribes to `mptcp_pm_events` in the handle's namespace, with the kernel's default
    /// receive buffer (about 200 events).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the kernel has no event group.
    pub fn events(&self) -> Result<PmEvents> {
        self.events_with(None)
    }

    /// As [`PathManager::events`], with a receive buffer of `recv_buffer` bytes (past
    /// `net.core.rmem_max` with CAP_NET_ADMIN; about 200 bytes per queued event): a
    /// consumer that may pause under a burst of connections sizes it for the burst.
    ///
    /// # Errors
    ///
    /// As [`PathManager::events`].
    pub fn events_with(&self, recv_buffer: Option<usize>) -> Result<PmEvents> {
        const OP: &str = "events";
        let group = self
            .family
            .group("mptcp_pm_events")
            .ok_or(Error::Unsupported {
                op: OP,
                reason: "the kernel has no mptcp_pm_events group".into(),
            })?;
        let sock = self
            .nl
            .new_socket()
            .map_err(|e| Error::from_netlink(OP, e))?;
        let recv_buffer = sock
            .size_recv_buffer(recv_buffer)
            .map_err(|e| Error::from_netlink(OP, e))?;
        sock.subscribe(&[group])
            .map_err(|e| Error::from_netlink(OP, e))?;
        Ok(PmEvents {
            sock,
            queue: VecDeque::new(),
            recv_buffer,
        })
    }
}

/// What a path-manager event stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PmNotice {
    /// An event.
    Event(PmEvent),
    /// The socket's receive buffer overflowed and events were lost (`ENOBUFS`,
    /// `NLMSG_OVERRUN`, a datagram cut by a short buffer): read the endpoints and the
    /// connections again. Events go on after it.
    Overrun,
}

/// Path-manager events, as an iterator that blocks for the next one.
#[derive(Debug)]
pub struct PmEvents {
    sock: Socket,
    queue: VecDeque<Result<PmNotice>>,
    recv_buffer: usize,
}

impl AsFd for PmEvents {
    /// The netlink socket, to wait for events with poll/epoll.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Queues each message of an event datagram as an event or, in its place, the error that
/// it does not decode.
fn decode_datagram(queue: &mut VecDeque<Result<PmNotice>>, bytes: &[u8]) {
    queue.extend(proto::event_items(bytes).map(|item| {
        match item {
            EventItem::Broken(e) => Err(Error::decode(EVENTS, e)),
            EventItem::Overrun => Ok(PmNotice::Overrun),
            EventItem::Message(m) => decode_event(&m)
                .map(PmNotice::Event)
                .map_err(|e| Error::decode(EVENTS, e)),
        }
    }));
}

/// A failed read that did not just lose events.
fn read_error(e: nettune_netlink::Error) -> Error {
    Error::from_netlink(EVENTS, e)
}

const EVENTS: &str = "events";

impl PmEvents {
    /// How long [`PmEvents::next_event`] waits (`None`, the default: forever); on expiry
    /// it returns [`Error::Netlink`] whose source is a would-block error.
    ///
    /// # Errors
    ///
    /// A socket failure.
    pub fn set_timeout(&self, timeout: Option<std::time::Duration>) -> Result<()> {
        self.sock
            .set_recv_timeout(timeout)
            .map_err(|e| Error::from_netlink(EVENTS, e))
    }

    /// The receive buffer the kernel set, in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.recv_buffer
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

    /// The next event, or [`PmNotice::Overrun`] where events were lost.
    ///
    /// # Errors
    ///
    /// A netlink failure; a message that does not decode (an error item in its place:
    /// the next call goes on with the rest).
    pub fn next_event(&mut self) -> Result<PmNotice> {
        self.sock.next_item(
            &mut self.queue,
            decode_datagram,
            || PmNotice::Overrun,
            read_error,
        )
    }
}

impl Iterator for PmEvents {
    type Item = Result<PmNotice>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_event())
    }
}

/// [`PmEvents`] for async code (feature `tokio`): `next().await`, and a
/// [`Stream`](futures_core::Stream).
#[cfg(feature = "tokio")]
pub struct AsyncPmEvents {
    sock: nettune_netlink::AsyncSocket,
    queue: VecDeque<Result<PmNotice>>,
}

#[cfg(feature = "tokio")]
impl std::fmt::Debug for AsyncPmEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncPmEvents").finish_non_exhaustive()
    }
}

#[cfg(feature = "tokio")]
impl AsFd for AsyncPmEvents {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.get_ref().as_fd()
    }
}

#[cfg(feature = "tokio")]
impl AsyncPmEvents {
    /// The next event, or [`PmNotice::Overrun`].
    ///
    /// # Errors
    ///
    /// As [`PmEvents::next_event`].
    pub async fn next(&mut self) -> Result<PmNotice> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<PmNotice>> {
        self.sock.poll_item(
            cx,
            &mut self.queue,
            decode_datagram,
            || PmNotice::Overrun,
            read_error,
        )
    }
}

#[cfg(feature = "tokio")]
impl futures_core::Stream for AsyncPmEvents {
    type Item = Result<PmNotice>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx).map(Some)
    }
}

#[cfg(feature = "tokio")]
impl PathManager {
    /// As [`PathManager::events_with`], as an async stream (inside a tokio runtime with
    /// I/O enabled).
    ///
    /// # Errors
    ///
    /// As [`PathManager::events`].
    pub fn async_events(&self, recv_buffer: Option<usize>) -> Result<AsyncPmEvents> {
        let events = self.events_with(recv_buffer)?;
        let sock = nettune_netlink::AsyncSocket::new(events.sock)
            .map_err(|e| Error::from_netlink(EVENTS, e))?;
        Ok(AsyncPmEvents {
            sock,
            queue: VecDeque::new(),
        })
    }
}
