//! A netlink socket (neli's `NlSocket`) with request/ACK, streaming dumps that keep the
//! kernel's extended-ACK text, receive-buffer sizing and multicast membership.

use std::io;
use std::os::fd::AsRawFd;

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;

use crate::proto::{self, ErrorMsg, Message, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN};
use crate::sys;

/// The receive buffer for one datagram: dumps send at most 32 KiB per datagram.
const RECV_BUF: usize = 64 * 1024;
/// `NETLINK_NO_ENOBUFS`.
const NETLINK_NO_ENOBUFS: libc::c_int = 5;
/// `SOL_NETLINK`.
const SOL_NETLINK: libc::c_int = 270;

/// A netlink failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel answered with an error; `ext_msg` is its extended-ACK text.
    #[error("{op}: {source}{}", ext_msg.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel {
        /// What was asked.
        op: &'static str,
        /// The errno.
        #[source]
        source: io::Error,
        /// The kernel's explanation, when it sent one.
        ext_msg: Option<String>,
    },
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel's bytes do not decode.
    #[error("{op}: {source}")]
    Decode {
        /// What was read.
        op: &'static str,
        /// Why.
        #[source]
        source: proto::DecodeError,
    },
}

impl Error {
    /// The errno, for kernel and socket errors.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { source, .. } | Self::Io { source, .. } => source.raw_os_error(),
            Self::Decode { .. } => None,
        }
    }

    /// Whether a non-blocking receive found nothing to read.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::WouldBlock)
    }

    /// The extended-ACK text.
    pub fn ext_msg(&self) -> Option<&str> {
        match self {
            Self::Kernel { ext_msg, .. } => ext_msg.as_deref(),
            _ => None,
        }
    }
}

/// A netlink socket of one protocol, bound to the network namespace it was opened in.
pub struct Socket {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
    len: usize,
    pos: usize,
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("fd", &self.sock.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

/// What one received message means for a request in progress.
enum Step<'a> {
    /// A reply message of the request.
    Reply(Message<'a>),
    /// The request is complete.
    Done,
}

impl Socket {
    /// Opens a socket of `family` (e.g. `NlFamily::Netfilter`) in the calling thread's
    /// network namespace, with extended ACKs on.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the kernel lacks the family or the socket cannot be made.
    pub fn open(family: NlFamily) -> Result<Self, Error> {
        let sock =
            NlSocket::connect(family, None, Groups::empty()).map_err(|source| Error::Io {
                op: "open netlink socket",
                source,
            })?;
        // Extended ACKs are an improvement, not a requirement.
        let _ = sock.enable_ext_ack(true);
        Ok(Self {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUF],
            len: 0,
            pos: 0,
        })
    }

    /// The next sequence number.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends one message.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.len = 0;
        self.pos = 0;
        self.sock
            .send(msg, Msg::empty())
            .map(drop)
            .map_err(|source| Error::Io { op: "send", source })
    }

    /// Receives one datagram into the internal buffer.
    fn fill(&mut self, op: &'static str) -> Result<(), Error> {
        let (n, _) =
            self.sock
                .recv(&mut self.buf[..], Msg::empty())
                .map_err(|source| match source.raw_os_error() {
                    Some(libc::ENOBUFS) => Error::Kernel {
                        op,
                        source,
                        ext_msg: Some("the socket's receive buffer overflowed".into()),
                    },
                    _ => Error::Io { op, source },
                })?;
        self.len = n;
        self.pos = 0;
        Ok(())
    }

    /// Receives the next whole datagram (for event sockets). The messages are decoded by
    /// the caller with [`proto::messages`].
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with `ENOBUFS` when events were lost; [`Error::Io`].
    pub fn recv_datagram(&mut self) -> Result<&[u8], Error> {
        self.fill("receive")?;
        self.pos = self.len;
        Ok(&self.buf[..self.len])
    }

    /// The next message of the request with sequence `seq`, reading datagrams as needed.
    fn step(&mut self, op: &'static str, seq: u32) -> Result<Step<'_>, Error> {
        let bad = |what, offset| Error::Decode {
            op,
            source: proto::DecodeError { what, offset },
        };
        loop {
            if self.pos >= self.len {
                self.fill(op)?;
                continue;
            }
            let start = self.pos;
            let Some(h) = self.buf.get(start..start + proto::NLMSG_HDRLEN) else {
                self.pos = self.len;
                return Err(bad("truncated message header", start));
            };
            let word = |o: usize| u32::from_ne_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
            let (len, ty, flags, mseq, pid) = (
                word(0) as usize,
                u16::from_ne_bytes([h[4], h[5]]),
                u16::from_ne_bytes([h[6], h[7]]),
                word(8),
                word(12),
            );
            if len < proto::NLMSG_HDRLEN || start + len > self.len {
                self.pos = self.len;
                return Err(bad("message length out of bounds", start));
            }
            self.pos = (start + proto::align(len)).min(self.len);
            if mseq != seq {
                continue; // a stale reply of an abandoned request
            }
            let msg = Message {
                ty,
                flags,
                seq: mseq,
                pid,
                payload: &self.buf[start + proto::NLMSG_HDRLEN..start + len],
            };
            return match ty {
                NLMSG_DONE => Ok(Step::Done),
                NLMSG_OVERRUN => Err(Error::Io {
                    op,
                    source: io::Error::from_raw_os_error(libc::ENOBUFS),
                }),
                NLMSG_ERROR => {
                    let e =
                        ErrorMsg::decode(&msg).map_err(|source| Error::Decode { op, source })?;
                    if e.errno == 0 {
                        Ok(Step::Done)
                    } else {
                        Err(Error::Kernel {
                            op,
                            source: io::Error::from_raw_os_error(e.errno),
                            ext_msg: e.ext_msg,
                        })
                    }
                }
                _ => Ok(Step::Reply(msg)),
            };
        }
    }

    /// Sends `msg` (which must ask for an ACK or be a dump) and calls `each` for every
    /// reply message until the kernel says done.
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with the kernel's errno and extended-ACK text; errors of `each`.
    pub fn transact<E: From<Error>>(
        &mut self,
        op: &'static str,
        msg: &[u8],
        mut each: impl FnMut(Message<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let seq = seq_of(msg);
        self.send(msg)?;
        loop {
            match self.step(op, seq)? {
                Step::Reply(m) => each(m)?,
                Step::Done => return Ok(()),
            }
        }
    }

    /// Starts a streaming dump: send `msg`, then read replies with [`Socket::dump_next`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn dump_start(&mut self, msg: &[u8]) -> Result<u32, Error> {
        let seq = seq_of(msg);
        self.send(msg)?;
        Ok(seq)
    }

    /// The next reply of the dump `seq`, decoded by `decode`; `None` at the end.
    pub fn dump_next<T, E: From<Error>>(
        &mut self,
        op: &'static str,
        seq: u32,
        decode: impl FnOnce(Message<'_>) -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        match self.step(op, seq) {
            Ok(Step::Reply(m)) => Some(decode(m)),
            Ok(Step::Done) => None,
            Err(e) => Some(Err(e.into())),
        }
    }

    /// Sets the receive buffer (`SO_RCVBUF`, or `SO_RCVBUFFORCE` past `net.core.rmem_max`
    /// when `force`, which needs `CAP_NET_ADMIN`) and returns the size the kernel set.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] (`EPERM` for force without the capability).
    pub fn set_recv_buffer(&self, bytes: usize, force: bool) -> Result<usize, Error> {
        let fd = self.sock.as_raw_fd();
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let opt = if force {
            libc::SO_RCVBUFFORCE
        } else {
            libc::SO_RCVBUF
        };
        sys::set_int(fd, libc::SOL_SOCKET, opt, value).map_err(|source| Error::Io {
            op: "set receive buffer",
            source,
        })?;
        sys::get_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)
            .map(|v| v.max(0) as usize)
            .map_err(|source| Error::Io {
                op: "read receive buffer",
                source,
            })
    }

    /// Turns off ENOBUFS reports (`NETLINK_NO_ENOBUFS`): events may then be lost silently,
    /// so only callers that resynchronise otherwise should.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn set_no_enobufs(&self, on: bool) -> Result<(), Error> {
        sys::set_int(
            self.sock.as_raw_fd(),
            SOL_NETLINK,
            NETLINK_NO_ENOBUFS,
            libc::c_int::from(on),
        )
        .map_err(|source| Error::Io {
            op: "set NETLINK_NO_ENOBUFS",
            source,
        })
    }

    /// How long a blocking receive waits before failing with `WouldBlock` (`None`: forever).
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn set_recv_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), Error> {
        sys::set_recv_timeout(self.sock.as_raw_fd(), timeout).map_err(|source| Error::Io {
            op: "set receive timeout",
            source,
        })
    }

    /// Makes receiving non-blocking (for an async reactor) or blocking again.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn set_nonblocking(&self, on: bool) -> Result<(), Error> {
        let r = if on {
            self.sock.nonblock()
        } else {
            self.sock.block()
        };
        r.map_err(|source| Error::Io {
            op: "set non-blocking",
            source,
        })
    }

    /// Joins multicast groups.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn subscribe(&self, groups: &[u32]) -> Result<(), Error> {
        self.sock
            .add_mcast_membership(Groups::new_groups(groups))
            .map_err(|source| Error::Io {
                op: "join multicast group",
                source,
            })
    }
}

fn seq_of(msg: &[u8]) -> u32 {
    msg.get(8..12)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}
