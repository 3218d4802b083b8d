//! [`Handle`]: the one way every nettune netlink crate talks to the kernel.
//!
//! A handle belongs to one netlink protocol in one network namespace. It keeps a small
//! pool of sockets opened in that namespace: each request takes a socket for as long as
//! it runs and gives it back, so a dump being read never blocks another call on the same
//! handle (a lookup or a delete inside the dump loop), and threads sharing a handle run
//! their requests side by side.

use std::sync::{Mutex, PoisonError};

use neli::consts::socket::NlFamily;
use nettune_core::{NetNs, NetnsError};

use crate::proto::{Message, MsgBuilder};
use crate::socket::{Error, Socket};

/// Idle sockets kept for reuse; more are opened under contention and closed after.
const POOL: usize = 4;

/// Why a request failed: the netlink layer's error, or the caller's own (an error its
/// reply callback returned, such as a reply that does not decode).
#[derive(Debug)]
pub enum Failure<E> {
    /// The netlink layer (the kernel's refusal, a socket error).
    Netlink(Error),
    /// The caller's callback.
    Caller(E),
}

impl<E> From<Error> for Failure<E> {
    fn from(e: Error) -> Self {
        Self::Netlink(e)
    }
}

impl<E> Failure<E> {
    /// One error type: the caller's, with `netlink` turning a netlink error into it.
    pub fn into_caller(self, netlink: impl FnOnce(Error) -> E) -> E {
        match self {
            Self::Netlink(e) => netlink(e),
            Self::Caller(e) => e,
        }
    }
}

/// A netlink handle: one protocol, one network namespace, a pool of sockets.
#[derive(Debug)]
pub struct Handle {
    protocol: NlFamily,
    netns: Option<NetNs>,
    idle: Mutex<Vec<Socket>>,
}

impl Handle {
    /// Opens a handle of `protocol` in the calling thread's network namespace (one
    /// socket is opened now, so that a missing protocol fails here).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the kernel lacks the protocol.
    pub fn open(protocol: NlFamily) -> Result<Self, Error> {
        let first = Socket::open(protocol)?;
        Ok(Self {
            protocol,
            netns: None,
            idle: Mutex::new(vec![first]),
        })
    }

    /// Opens a handle of `protocol` in network namespace `ns`: its sockets are opened
    /// there and stay bound to it, whatever thread uses them.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] when the namespace cannot be entered, as [`Handle::open`] otherwise.
    pub fn open_in(ns: &NetNs, protocol: NlFamily) -> Result<Self, Error> {
        let first = ns.run_owned(move || Socket::open(protocol))??;
        Ok(Self {
            protocol,
            netns: Some(ns.clone()),
            idle: Mutex::new(vec![first]),
        })
    }

    /// The namespace the handle was opened in, when not the caller's.
    pub fn netns(&self) -> Option<&NetNs> {
        self.netns.as_ref()
    }

    /// Runs `f` in the handle's namespace (directly when it was opened in the caller's):
    /// for lookups that must resolve there, such as interface names.
    ///
    /// # Errors
    ///
    /// [`NetnsError`] when the namespace cannot be entered.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NetnsError> {
        match &self.netns {
            None => Ok(f()),
            Some(ns) => ns.run_owned(f),
        }
    }

    /// A new socket of the handle's protocol in its namespace, owned by the caller (for
    /// event subscriptions).
    ///
    /// # Errors
    ///
    /// As [`Handle::open_in`].
    pub fn new_socket(&self) -> Result<Socket, Error> {
        let protocol = self.protocol;
        match &self.netns {
            None => Socket::open(protocol),
            Some(ns) => ns.run_owned(move || Socket::open(protocol))?,
        }
    }

    /// A socket from the pool, or a new one when all are in use.
    ///
    /// # Errors
    ///
    /// As [`Handle::new_socket`].
    pub fn socket(&self) -> Result<Pooled<'_>, Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let sock = match idle {
            Some(s) => s,
            None => self.new_socket()?,
        };
        Ok(Pooled {
            handle: self,
            sock: Some(sock),
        })
    }

    /// Sends one request of type `ty` with `flags` (`REQUEST` and `ACK` are added: see
    /// [`Socket::transact`]), whose family header and attributes `build` writes, and calls
    /// `each` for every reply until the kernel says done (an ACK, or the end of a dump).
    /// When `build` fails nothing is sent.
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with the kernel's errno and extended ACK, [`Error::Encode`] when
    /// the request does not fit netlink's lengths, errors of `each`.
    pub fn transact<E>(
        &self,
        ty: u16,
        flags: u16,
        build: impl FnOnce(&mut MsgBuilder) -> Result<(), E>,
        mut each: impl FnMut(Message<'_>) -> Result<(), E>,
    ) -> Result<(), Failure<E>> {
        let mut sock = self.socket()?;
        let mut m = MsgBuilder::new(ty, flags | crate::proto::flags::ACK, sock.next_seq());
        build(&mut m).map_err(Failure::Caller)?;
        let msg = m.finish().map_err(Error::from)?;
        sock.transact::<Failure<E>>(&msg, |reply| each(reply).map_err(Failure::Caller))
    }

    /// [`Handle::transact`] for requests whose only answer is the ACK.
    ///
    /// # Errors
    ///
    /// As [`Handle::transact`].
    pub fn ack(
        &self,
        ty: u16,
        flags: u16,
        build: impl FnOnce(&mut MsgBuilder),
    ) -> Result<(), Error> {
        self.transact::<Error>(
            ty,
            flags,
            |m| {
                build(m);
                Ok(())
            },
            |_| Ok(()),
        )
        .map_err(|f| f.into_caller(|e| e))
    }

    /// Sends `messages` as one nfnetlink batch for subsystem `res_id` (see
    /// [`Socket::batch`]): each function sets its message's type, flags and attributes.
    ///
    /// # Errors
    ///
    /// As [`Socket::batch`].
    pub fn batch(&self, res_id: u16, messages: &[&dyn Fn(&mut MsgBuilder)]) -> Result<(), Error> {
        self.socket()?.batch(res_id, messages)
    }

    /// Starts a streaming dump on a socket of its own; read it with [`Dump::next_with`].
    /// When `build` fails nothing is sent.
    ///
    /// # Errors
    ///
    /// As [`Handle::transact`].
    pub fn dump<E>(
        &self,
        ty: u16,
        flags: u16,
        build: impl FnOnce(&mut MsgBuilder) -> Result<(), E>,
    ) -> Result<Dump<'_>, Failure<E>> {
        let mut sock = self.socket()?;
        let mut m = MsgBuilder::new(ty, flags, sock.next_seq());
        build(&mut m).map_err(Failure::Caller)?;
        let seq = sock
            .dump_start(&m.finish().map_err(Error::from)?)
            .map_err(Failure::Netlink)?;
        Ok(Dump {
            sock,
            seq,
            done: false,
        })
    }
}

/// A socket taken from a [`Handle`]'s pool; it goes back when dropped.
#[derive(Debug)]
pub struct Pooled<'a> {
    handle: &'a Handle,
    sock: Option<Socket>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        // Some until drop.
        self.sock.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Socket {
        self.sock.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        // A socket whose request did not end (a failure mid-dump) would answer the next
        // request with the kernel's EBUSY or with stale replies: it is closed instead.
        if let Some(sock) = self.sock.take().filter(|s| !s.in_flight()) {
            let mut idle = self
                .handle
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if idle.len() < POOL {
                idle.push(sock);
            }
        }
    }
}

/// A dump in progress on a socket of its own. Dropping it before the end reads what is
/// left, so the socket can serve the next request.
#[derive(Debug)]
pub struct Dump<'a> {
    sock: Pooled<'a>,
    seq: u32,
    done: bool,
}

impl Dump<'_> {
    /// The next reply, decoded by `decode`; `None` at the end. A netlink error ends the
    /// dump; an error of `decode` does not (the next call reads on, and dropping the dump
    /// drains the rest).
    pub fn next_with<T, E>(
        &mut self,
        decode: impl FnOnce(Message<'_>) -> Result<T, E>,
    ) -> Option<Result<T, Failure<E>>> {
        if self.done {
            return None;
        }
        match self.sock.dump_next(self.seq, |m| Ok::<_, Error>(decode(m))) {
            None => {
                self.done = true;
                None
            }
            Some(Err(netlink)) => {
                self.done = true;
                Some(Err(Failure::Netlink(netlink)))
            }
            Some(Ok(decoded)) => Some(decoded.map_err(Failure::Caller)),
        }
    }
}

impl Drop for Dump<'_> {
    fn drop(&mut self) {
        while !self.done {
            if !matches!(
                self.sock.dump_next::<(), Error>(self.seq, |_| Ok(())),
                Some(Ok(()))
            ) {
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixDatagram;

    use super::*;
    use crate::proto::{NLMSG_DONE, flags};

    /// A handle whose pool holds one socket over a pair whose other end plays the kernel.
    fn injected() -> (Handle, UnixDatagram) {
        let (ours, kernel) = UnixDatagram::pair().expect("pair");
        let handle = Handle {
            protocol: NlFamily::Netfilter,
            netns: None,
            idle: Mutex::new(vec![Socket::from_fd(OwnedFd::from(ours))]),
        };
        (handle, kernel)
    }

    fn pooled(h: &Handle) -> usize {
        h.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// The sequence number of the request the kernel side received.
    fn request_seq(kernel: &UnixDatagram) -> u32 {
        request_flags_seq(kernel).1
    }

    /// The `nlmsg_flags` and sequence of the request the kernel side received.
    fn request_flags_seq(kernel: &UnixDatagram) -> (u16, u32) {
        let mut b = [0u8; 64];
        kernel.recv(&mut b).expect("request");
        (
            u16::from_ne_bytes([b[6], b[7]]),
            u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        )
    }

    #[test]
    fn a_request_built_without_ack_asks_for_one_and_ends_with_it() {
        let (h, kernel) = injected();
        let player = std::thread::spawn(move || {
            let (flags_seen, seq) = request_flags_seq(&kernel);
            // One reply, then the ACK (error 0 and the request's header).
            let mut reply = MsgBuilder::new(0x100, 0, seq);
            reply.header(&[0u8; 4]).u32(1, 7);
            kernel.send(&reply.finish().expect("encode")).expect("send");
            let mut ack = MsgBuilder::new(crate::proto::NLMSG_ERROR, 0, seq);
            ack.header(&[0u8; 4 + 16]);
            kernel.send(&ack.finish().expect("encode")).expect("send");
            flags_seen
        });
        let mut replies = 0;
        h.transact::<Error>(
            0x100,
            0,
            |m| {
                m.header(&[0u8; 4]);
                Ok(())
            },
            |_| {
                replies += 1;
                Ok(())
            },
        )
        .expect("the ACK ends the request");
        let flags_seen = player.join().expect("kernel side");
        assert_ne!(flags_seen & flags::ACK, 0, "flags {flags_seen:#x}");
        assert_eq!(replies, 1);
        assert_eq!(pooled(&h), 1, "the finished socket went back to the pool");
    }

    /// Against the real kernel: a get with no flags (rtnetlink's RTM_GETLINK of `lo`), and
    /// a dump, both end; without the added ACK the get would wait for ever.
    #[test]
    fn a_plain_get_and_a_dump_end_on_the_kernel() {
        const RTM_GETLINK: u16 = 18;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let run = || -> Result<(usize, usize), Error> {
                let h = Handle::open(NlFamily::Route)?;
                let mut ifinfo = [0u8; 16];
                ifinfo[4..8].copy_from_slice(&1i32.to_ne_bytes()); // lo is ifindex 1
                let mut get = 0;
                h.transact::<Error>(
                    RTM_GETLINK,
                    0,
                    |m| {
                        m.header(&ifinfo);
                        Ok(())
                    },
                    |_| {
                        get += 1;
                        Ok(())
                    },
                )
                .map_err(|f| f.into_caller(|e| e))?;
                let mut dump = 0;
                h.transact::<Error>(
                    RTM_GETLINK,
                    flags::DUMP,
                    |m| {
                        m.header(&[0u8; 16]);
                        Ok(())
                    },
                    |_| {
                        dump += 1;
                        Ok(())
                    },
                )
                .map_err(|f| f.into_caller(|e| e))?;
                Ok((get, dump))
            };
            let _ = tx.send(run());
        });
        let (get, dump) = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("both requests ended within 20 s")
            .expect("RTM_GETLINK");
        assert_eq!(get, 1, "one link for ifindex 1");
        assert!(dump >= 1, "the dump lists lo at least");
    }

    #[test]
    fn a_socket_whose_dump_failed_midway_is_not_reused() {
        let (h, kernel) = injected();
        // A clean dump: the socket goes back to the pool.
        let mut d = h
            .dump::<Error>(0x100, flags::DUMP, |m| {
                m.header(&[0u8; 4]);
                Ok(())
            })
            .expect("dump");
        let seq = request_seq(&kernel);
        let mut done = MsgBuilder::new(NLMSG_DONE, flags::MULTI, seq);
        done.header(&[0u8; 4]);
        kernel.send(&done.finish().expect("encode")).expect("send");
        assert!(d.next_with(|_| Ok::<_, Error>(())).is_none());
        drop(d);
        assert_eq!(pooled(&h), 1);
        // A dump cut by a malformed datagram: the kernel's side is unfinished, so the
        // socket is closed rather than answer the next request with EBUSY.
        let mut d = h
            .dump::<Error>(0x100, flags::DUMP, |m| {
                m.header(&[0u8; 4]);
                Ok(())
            })
            .expect("dump");
        let _ = request_seq(&kernel);
        kernel.send(&[0xff; 7]).expect("send");
        assert!(matches!(
            d.next_with(|_| Ok::<_, Error>(())),
            Some(Err(Failure::Netlink(Error::Decode(_))))
        ));
        drop(d);
        assert_eq!(pooled(&h), 0, "the failed socket was not put back");
    }
}
