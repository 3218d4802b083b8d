//! [`AsyncSocket`]: an event socket registered with tokio (feature `tokio`), read one
//! datagram at a time by the event streams of the crates above.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;

use crate::socket::{Error, Socket};

struct Inner(Socket);

impl AsRawFd for Inner {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A netlink socket on the tokio reactor: [`AsyncSocket::poll_datagram`] reads the next
/// datagram when one is ready.
pub struct AsyncSocket {
    inner: AsyncFd<Inner>,
}

impl std::fmt::Debug for AsyncSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSocket").finish_non_exhaustive()
    }
}

impl AsyncSocket {
    /// Makes `sock` non-blocking and registers it (call inside a tokio runtime with I/O
    /// enabled).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the socket cannot be made non-blocking or registered.
    pub fn new(sock: Socket) -> Result<Self, Error> {
        sock.set_nonblocking(true)?;
        let inner = crate::sys::register(Inner(sock)).map_err(|source| Error::Io {
            op: "register with tokio",
            source,
        })?;
        Ok(Self { inner })
    }

    /// The socket.
    pub fn get_ref(&self) -> &Socket {
        &self.inner.get_ref().0
    }

    /// Polls for the next item of an event stream, as [`Socket::next_item`] reads it.
    pub fn poll_item<T, E>(
        &mut self,
        cx: &mut Context<'_>,
        queue: &mut std::collections::VecDeque<Result<T, E>>,
        fill: impl Fn(&mut std::collections::VecDeque<Result<T, E>>, &[u8]),
        overrun: impl Fn() -> T,
        error: impl Fn(Error) -> E,
    ) -> Poll<Result<T, E>> {
        loop {
            if let Some(item) = queue.pop_front() {
                return Poll::Ready(item);
            }
            match ready!(self.poll_datagram(cx)) {
                Ok(bytes) => fill(queue, bytes),
                Err(e) if e.lost_messages() => queue.push_back(Ok(overrun())),
                Err(e) => return Poll::Ready(Err(error(e))),
            }
        }
    }

    /// Polls for the next datagram: `Ready` with its bytes (or the error of the read), or
    /// `Pending` until the socket is readable.
    pub fn poll_datagram(&mut self, cx: &mut Context<'_>) -> Poll<Result<&[u8], Error>> {
        loop {
            let mut guard = match ready!(self.inner.poll_read_ready_mut(cx)) {
                Ok(g) => g,
                Err(source) => return Poll::Ready(Err(Error::Io { op: "poll", source })),
            };
            let mut result = None;
            let attempt = guard.try_io(|inner| match inner.get_mut().0.fill_datagram() {
                Err(e) if e.is_would_block() => Err(io::Error::from(io::ErrorKind::WouldBlock)),
                other => {
                    result = Some(other);
                    Ok(())
                }
            });
            if attempt.is_err() {
                // Not readable after all: readiness was cleared, poll again.
                continue;
            }
            return Poll::Ready(match result {
                Some(Ok(())) => Ok(self.inner.get_mut().0.datagram()),
                Some(Err(e)) => Err(e),
                None => continue,
            });
        }
    }
}
