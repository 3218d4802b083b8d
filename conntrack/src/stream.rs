//! Conntrack events as an async stream on tokio (feature `tokio`).

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use nettune_netlink::AsyncSocket;

use crate::conntrack::Conntrack;
use crate::error::{Error, Result};
use crate::events::{Event, EventConfig, decode_datagram, read_error};

/// [`Events`](crate::Events) for async code: `next().await` yields the next event, with
/// [`Event::Overrun`] when the kernel dropped events; it is also a
/// [`Stream`](futures_core::Stream) (tokio-stream's `StreamExt` works on it).
pub struct AsyncEvents {
    sock: AsyncSocket,
    queue: VecDeque<Result<Event>>,
}

impl std::fmt::Debug for AsyncEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncEvents").finish_non_exhaustive()
    }
}

impl AsFd for AsyncEvents {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.get_ref().as_fd()
    }
}

impl AsyncEvents {
    /// The next event.
    ///
    /// # Errors
    ///
    /// When the socket fails or a message does not decode (an error item in its place;
    /// the next call goes on with the rest).
    pub async fn next(&mut self) -> Result<Event> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event>> {
        self.sock.poll_item(
            cx,
            &mut self.queue,
            decode_datagram,
            || Event::Overrun,
            read_error,
        )
    }
}

impl futures_core::Stream for AsyncEvents {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx).map(Some)
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
        let sock =
            AsyncSocket::new(events.into_socket()).map_err(|e| Error::from_netlink("events", e))?;
        Ok(AsyncEvents {
            sock,
            queue: VecDeque::new(),
        })
    }
}
