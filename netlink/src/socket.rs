//! A netlink socket (neli's `NlSocket`) with request/ACK, streaming dumps that keep the
//! kernel's extended-ACK text and offset, receive-buffer sizing and multicast membership.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use neli::consts::socket::{Msg, NlFamily};
use neli::socket::NlSocket;
use neli::utils::Groups;
use nettune_core::{ErrorKind, ExtAck, NetnsError, raw};

use crate::proto::{
    self, DecodeError, EncodeError, ErrorMsg, Message, MsgBuilder, NLMSG_DONE, NLMSG_ERROR,
    NLMSG_OVERRUN,
};

/// The receive buffer for one datagram: dumps send at most 32 KiB per datagram.
const RECV_BUF: usize = 64 * 1024;
/// `NETLINK_NO_ENOBUFS`.
const NETLINK_NO_ENOBUFS: libc::c_int = 5;
/// `SOL_NETLINK`.
const SOL_NETLINK: libc::c_int = 270;

/// A netlink failure. The crates above add which operation it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel answered with an error; `ext_ack` is its extended acknowledgement.
    #[error("the kernel refused the request{}", ext_ack.message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kernel {
        /// The errno.
        errno: i32,
        /// The kernel's text and the offset of the attribute it objected to.
        ext_ack: ExtAck,
        /// The errno as an OS error.
        #[source]
        source: io::Error,
    },
    /// The socket's receive buffer overflowed: the kernel dropped messages (`ENOBUFS`,
    /// `NLMSG_OVERRUN`).
    #[error("the netlink socket's receive buffer overflowed and messages were lost")]
    Overrun {
        /// `ENOBUFS`.
        #[source]
        source: io::Error,
    },
    /// The dump ran while the kernel's table changed (`NLM_F_DUMP_INTR`): what it returned
    /// may miss or repeat entries. Run it again.
    #[error(
        "the dump was interrupted by a change to what it lists (NLM_F_DUMP_INTR): its result is inconsistent; run it again"
    )]
    DumpInterrupted,
    /// A datagram was larger than the receive buffer and was cut (`MSG_TRUNC`): its
    /// messages are lost. The buffer is grown for the next ones.
    #[error(
        "a netlink datagram of {len} bytes did not fit the {buffer}-byte receive buffer and was cut: its messages were lost"
    )]
    Truncated {
        /// The datagram's length.
        len: usize,
        /// The buffer it was read into.
        buffer: usize,
    },
    /// A socket call failed.
    #[error("netlink {op}")]
    Io {
        /// What was done (`open`, `send`, `receive`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The kernel's bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A request could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Entering the handle's network namespace failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

impl Error {
    /// The errno, for kernel and socket errors.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { errno, .. } => Some(*errno),
            Self::Overrun { .. } => Some(libc::ENOBUFS),
            Self::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// What kind of failure this is: a kernel refusal is classified by its errno
    /// ([`ErrorKind::Kernel`] when the errno says nothing more specific).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Kernel { errno, .. } => match ErrorKind::from_errno(*errno) {
                ErrorKind::Io => ErrorKind::Kernel,
                k => k,
            },
            Self::Overrun { .. } | Self::DumpInterrupted | Self::Truncated { .. } => ErrorKind::Io,
            Self::Io { source, .. } => ErrorKind::of_io(source),
            Self::Decode(_) => ErrorKind::Decode,
            Self::Encode(_) => ErrorKind::InvalidValue,
            Self::Netns(e) => e.kind(),
        }
    }

    /// Whether messages were lost on an event socket: its buffer overflowed (`ENOBUFS`),
    /// or a datagram was cut by a short buffer. The stream goes on; the consumer
    /// resynchronises.
    pub fn lost_messages(&self) -> bool {
        matches!(self, Self::Overrun { .. } | Self::Truncated { .. })
    }

    /// Whether a non-blocking receive (or one with a timeout) found nothing to read.
    pub fn is_would_block(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::WouldBlock)
    }

    /// The kernel's extended acknowledgement, for kernel refusals.
    pub fn ext_ack(&self) -> Option<&ExtAck> {
        match self {
            Self::Kernel { ext_ack, .. } => Some(ext_ack),
            _ => None,
        }
    }

    /// The extended-ACK text.
    pub fn ext_msg(&self) -> Option<&str> {
        self.ext_ack().and_then(|a| a.message.as_deref())
    }
}

/// A netlink socket of one protocol, bound to the network namespace it was opened in.
pub struct Socket {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
    len: usize,
    pos: usize,
    /// A request was sent and its end (DONE, the ACK, the kernel's error) not yet read:
    /// the socket cannot serve another until it is.
    in_flight: bool,
    /// A reply of the request in flight carried `NLM_F_DUMP_INTR`.
    interrupted: bool,
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        crate::sys::borrow(&self.sock)
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
        let sock = NlSocket::connect(family, None, Groups::empty())
            .map_err(|source| Error::Io { op: "open", source })?;
        // Extended ACKs are an improvement, not a requirement.
        let _ = sock.enable_ext_ack(true);
        Ok(Self::wrap(sock))
    }

    fn wrap(sock: NlSocket) -> Self {
        Self {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUF],
            len: 0,
            pos: 0,
            in_flight: false,
            interrupted: false,
        }
    }

    /// A socket over any datagram descriptor: what it reads is taken as netlink. For tests
    /// that play the kernel's side (one end of a `socketpair(AF_UNIX, SOCK_DGRAM)`), and
    /// for a netlink descriptor opened elsewhere.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self::wrap(crate::sys::nl_socket(fd))
    }

    /// Whether a request was sent and its end not read yet (after a failure that left the
    /// kernel's side unfinished): such a socket is not reused.
    pub fn in_flight(&self) -> bool {
        self.in_flight
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
        self.interrupted = false;
        loop {
            match self.sock.send(msg, Msg::empty()) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(Error::Io { op: "send", source }),
            }
        }
        self.in_flight = true;
        Ok(())
    }

    /// Receives one datagram into the internal buffer; a signal's interruption is retried,
    /// a datagram cut by a short buffer is an error (and the buffer grows).
    fn fill(&mut self) -> Result<(), Error> {
        let n = loop {
            match self.sock.recv(&mut self.buf[..], Msg::TRUNC) {
                Ok((n, _)) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(match source.raw_os_error() {
                        Some(libc::ENOBUFS) => Error::Overrun { source },
                        _ => Error::Io {
                            op: "receive",
                            source,
                        },
                    });
                }
            }
        };
        if n > self.buf.len() {
            let buffer = self.buf.len();
            self.buf.resize(n.next_power_of_two(), 0);
            self.len = 0;
            self.pos = 0;
            return Err(Error::Truncated { len: n, buffer });
        }
        self.len = n;
        self.pos = 0;
        Ok(())
    }

    /// Receives the next whole datagram (for event sockets). The messages are decoded by
    /// the caller with [`proto::messages`].
    ///
    /// # Errors
    ///
    /// [`Error::Overrun`] when events were lost; [`Error::Io`].
    pub fn recv_datagram(&mut self) -> Result<&[u8], Error> {
        self.fill_datagram()?;
        Ok(self.datagram())
    }

    /// The next item of an event stream: the oldest in `queue`, else what `fill` queues
    /// from the next datagram. A read that lost messages (an overrun, a cut datagram)
    /// queues `overrun()`; any other failed read is the stream's error, made by `error`.
    ///
    /// # Errors
    ///
    /// An item that is an error (queued by `fill`), or `error` of a failed read.
    pub fn next_item<T, E>(
        &mut self,
        queue: &mut std::collections::VecDeque<Result<T, E>>,
        fill: impl Fn(&mut std::collections::VecDeque<Result<T, E>>, &[u8]),
        overrun: impl Fn() -> T,
        error: impl Fn(Error) -> E,
    ) -> Result<T, E> {
        loop {
            if let Some(item) = queue.pop_front() {
                return item;
            }
            match self.recv_datagram() {
                Ok(bytes) => fill(queue, bytes),
                Err(e) if e.lost_messages() => queue.push_back(Ok(overrun())),
                Err(e) => return Err(error(e)),
            }
        }
    }

    /// Receives the next whole datagram, to be read with [`Socket::datagram`].
    pub(crate) fn fill_datagram(&mut self) -> Result<(), Error> {
        self.fill()?;
        self.pos = self.len;
        Ok(())
    }

    /// The datagram [`Socket::fill_datagram`] received.
    pub(crate) fn datagram(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The next message of the request with sequence `seq`, reading datagrams as needed.
    fn step(&mut self, seq: u32) -> Result<Step<'_>, Error> {
        loop {
            if self.pos >= self.len {
                self.fill()?;
                continue;
            }
            let start = self.pos;
            let Some(h) = self.buf.get(start..start + proto::NLMSG_HDRLEN) else {
                self.pos = self.len;
                return Err(DecodeError {
                    what: "truncated message header",
                    offset: start,
                }
                .into());
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
                return Err(DecodeError {
                    what: "message length out of bounds",
                    offset: start,
                }
                .into());
            }
            self.pos = (start + proto::align(len)).min(self.len);
            if mseq != seq {
                continue; // a stale reply of an abandoned request
            }
            if flags & proto::flags::DUMP_INTR != 0 {
                self.interrupted = true;
            }
            let msg = Message {
                ty,
                flags,
                seq: mseq,
                pid,
                payload: &self.buf[start + proto::NLMSG_HDRLEN..start + len],
            };
            return match ty {
                NLMSG_DONE => {
                    self.in_flight = false;
                    if self.interrupted {
                        Err(Error::DumpInterrupted)
                    } else {
                        Ok(Step::Done)
                    }
                }
                NLMSG_OVERRUN => Err(Error::Overrun {
                    source: io::Error::from_raw_os_error(libc::ENOBUFS),
                }),
                NLMSG_ERROR => {
                    let e = ErrorMsg::decode(&msg)?;
                    // The kernel's answer ends the request, error or not.
                    self.in_flight = false;
                    if e.errno == 0 {
                        Ok(Step::Done)
                    } else {
                        Err(Error::Kernel {
                            errno: e.errno,
                            ext_ack: e.ext_ack,
                            source: io::Error::from_raw_os_error(e.errno),
                        })
                    }
                }
                _ => Ok(Step::Reply(msg)),
            };
        }
    }

    /// Sends `msg` and calls `each` for every reply message until the kernel says done
    /// (the end of a dump, or the ACK). `NLM_F_ACK` is set on the request when it lacks
    /// it: a request the kernel answers without one (a plain get, a successful set) would
    /// otherwise never be seen to end. The kernel sends no ACK after a dump's end.
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] with the kernel's errno and extended ACK; errors of `each`.
    pub fn transact<E: From<Error>>(
        &mut self,
        msg: &[u8],
        mut each: impl FnMut(Message<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let seq = seq_of(msg);
        match with_ack(msg) {
            Some(acked) => self.send(&acked)?,
            None => self.send(msg)?,
        }
        loop {
            match self.step(seq)? {
                Step::Reply(m) => each(m)?,
                Step::Done => return Ok(()),
            }
        }
    }

    /// Sends `messages` as one nfnetlink batch (`NFNL_MSG_BATCH_BEGIN` ... `END`, for
    /// the subsystem `res_id`): the kernel applies all of them or none. Each message is
    /// built by its function with a sequence number of its own and an ACK asked for; the
    /// kernel answers every one. Returns the first refusal (with its extended ACK), after
    /// reading every answer, so the socket stays usable.
    ///
    /// # Errors
    ///
    /// [`Error::Kernel`] for the first message the kernel refused (the batch was then
    /// undone); [`Error::Encode`] when a message does not fit.
    pub fn batch(
        &mut self,
        res_id: u16,
        messages: &[&dyn Fn(&mut MsgBuilder)],
    ) -> Result<(), Error> {
        const BEGIN: u16 = 0x10;
        const END: u16 = 0x11;
        let edge = |ty: u16, seq: u32| -> Result<Vec<u8>, Error> {
            let mut m = MsgBuilder::new(ty, 0, seq);
            let id = res_id.to_be_bytes();
            m.header(&[0, 0, id[0], id[1]]);
            Ok(m.finish()?)
        };
        let mut out = edge(BEGIN, self.next_seq())?;
        let mut seqs = Vec::with_capacity(messages.len());
        for build in messages {
            let seq = self.next_seq();
            let mut m = MsgBuilder::new(0, proto::flags::ACK, seq);
            build(&mut m);
            out.extend(m.finish()?);
            seqs.push(seq);
        }
        out.extend(edge(END, self.next_seq())?);
        self.send(&out)?;
        let mut first = None;
        for seq in seqs {
            self.in_flight = true;
            loop {
                match self.step(seq) {
                    Ok(Step::Done) => break,
                    Ok(Step::Reply(_)) => {}
                    Err(e @ Error::Kernel { .. }) => {
                        first.get_or_insert(e);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        match first {
            None => Ok(()),
            Some(e) => Err(e),
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
        seq: u32,
        decode: impl FnOnce(Message<'_>) -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        match self.step(seq) {
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
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let opt = if force {
            libc::SO_RCVBUFFORCE
        } else {
            libc::SO_RCVBUF
        };
        raw::setsockopt_int(self.as_fd(), libc::SOL_SOCKET, opt, value).map_err(|source| {
            Error::Io {
                op: "set receive buffer",
                source,
            }
        })?;
        self.recv_buffer()
    }

    /// The receive buffer the kernel set (`SO_RCVBUF`), in bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn recv_buffer(&self) -> Result<usize, Error> {
        raw::getsockopt_int(self.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF)
            .map(|v| usize::try_from(v).unwrap_or(0))
            .map_err(|source| Error::Io {
                op: "read receive buffer",
                source,
            })
    }

    /// Sizes the receive buffer of an event socket: past `net.core.rmem_max` when the
    /// caller has `CAP_NET_ADMIN` (`SO_RCVBUFFORCE`), capped by it otherwise; `None`
    /// keeps the kernel's default. Returns the size set.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn size_recv_buffer(&self, bytes: Option<usize>) -> Result<usize, Error> {
        match bytes {
            Some(b) => self
                .set_recv_buffer(b, true)
                .or_else(|_| self.set_recv_buffer(b, false)),
            None => self.recv_buffer(),
        }
    }

    /// Turns off ENOBUFS reports (`NETLINK_NO_ENOBUFS`): events may then be lost silently,
    /// so only callers that resynchronise otherwise should.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn set_no_enobufs(&self, on: bool) -> Result<(), Error> {
        raw::setsockopt_int(
            self.as_fd(),
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
        raw::set_recv_timeout(self.as_fd(), timeout).map_err(|source| Error::Io {
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

/// A copy of `msg` with `NLM_F_ACK` set, or `None` when it is set already (or `msg` has
/// no header to set it in).
fn with_ack(msg: &[u8]) -> Option<Vec<u8>> {
    let flags = msg.get(6..8).map(|f| u16::from_ne_bytes([f[0], f[1]]))?;
    if flags & proto::flags::ACK != 0 {
        return None;
    }
    let mut acked = msg.to_vec();
    acked[6..8].copy_from_slice(&(flags | proto::flags::ACK).to_ne_bytes());
    Some(acked)
}

fn seq_of(msg: &[u8]) -> u32 {
    msg.get(8..12)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}
