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
                        op: "wait",
                        source: e,
                    },
                )
            })?;
            let filled = guard.try_io(|inner| {
                inner.get_mut().0.fill().map_err(|e| match e {
                    Error::Netlink { source, .. } if source.is_would_block() => {
                        io::Error::from(io::ErrorKind::WouldBlock)
                    }
                    other => io::Error::other(other.to_string()),
                })
            });
            match filled {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(Error::InvalidValue {
                        op: "events",
                        reason: e.to_string(),
                    });
                }
                Err(_would_block) => {}
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
