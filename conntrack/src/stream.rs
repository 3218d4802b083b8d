//! Conntrack events as an async stream on tokio (feature `tokio`).

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;

use crate::conntrack::Conntrack;
use crate::error::{Error, Result};
use crate::events::{Event, EventConfig, Events};

struct Fd(Events);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.sock.as_raw_fd()
    }
}

/// [`Events`] for async code: `next().await` yields the next event, with
/// [`Event::Overrun`] when the kernel dropped events.
pub struct AsyncEvents {
    inner: AsyncFd<Fd>,
}

impl std::fmt::Debug for AsyncEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncEvents").finish_non_exhaustive()
    }
}

impl AsyncEvents {
    /// The next event.
    ///
    /// # Errors
    ///
    /// When the socket fails or a message does not decode.
    pub async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(e) = self.inner.get_mut().0.queue.pop_front() {
                return Ok(e);
            }
            let mut guard = self.inner.readable_mut().await.map_err(|e| {
                Error::from_netlink(
                    "events",
                    nettune_netlink::Error::Io {
                        op: "poll",
                        source: e,
                    },
                )
            })?;
            let mut failure = None;
            // Err(_would_block): nothing to read yet; readiness was cleared, wait again.
            let _ = guard.try_io(|inner| match inner.get_mut().0.fill() {
                Ok(()) => Ok(()),
                Err(Error::Netlink { source, .. }) if source.is_would_block() => {
                    Err(io::Error::from(io::ErrorKind::WouldBlock))
                }
                Err(other) => {
                    failure = Some(other);
                    Ok(())
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }
}

impl Conntrack {
    /// Subscribes to events as an async stream (needs a tokio runtime with I/O enabled).
    ///
    /// # Errors
    ///
    /// As [`Conntrack::events`].
    pub fn async_events(&self, config: EventConfig) -> Result<AsyncEvents> {
        let events = self.events(config)?;
        events
            .sock
            .set_nonblocking(true)
            .map_err(|e| Error::from_netlink("events", e))?;
        let inner = crate::sys::register(Fd(events)).map_err(|e| {
            Error::from_netlink(
                "events",
                nettune_netlink::Error::Io {
                    op: "register",
                    source: e,
                },
            )
        })?;
        Ok(AsyncEvents { inner })
    }
}
