//! The error vocabulary every nettune crate shares.
//!
//! Each crate has its own error type, which adds the context of that crate (the sysctl
//! key, the socket option, the interface, the netlink operation) and answers
//! [`kind()`](ErrorKind) with one of the kinds below, so that callers can act on an error
//! from any crate the same way:
//!
//! ```
//! use nettune_core::ErrorKind;
//! fn retry_as_root(kind: ErrorKind) -> bool {
//!     matches!(kind, ErrorKind::PermissionDenied)
//! }
//! assert!(retry_as_root(ErrorKind::from_errno(libc::EPERM)));
//! ```
//!
//! `Display` of every nettune error says what failed and never repeats its
//! [`source`](std::error::Error::source); [`report`] prints the whole chain.

use std::fmt;
use std::io;

/// What kind of failure an error is: the part of an error that callers act on.
///
/// Every nettune error type has a `kind()` method that returns one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not present here: a key, feature, module, netlink family or operation this kernel,
    /// driver or namespace does not have (`ENOENT`, `EOPNOTSUPP`, `ENOPROTOOPT`).
    Unsupported,
    /// Not permitted: a capability is missing, or the object is read-only here (for
    /// example a key that is read-only in a child network namespace).
    PermissionDenied,
    /// A rejected value: by local validation before anything was written, or by the kernel
    /// (`EINVAL`, `ERANGE`).
    InvalidValue,
    /// The object asked for does not exist (a connection, an endpoint, an interface).
    NotFound,
    /// The object exists already (`EEXIST`).
    Exists,
    /// Someone else holds it: a lock, a dump in progress, `EBUSY`.
    Busy,
    /// The kernel refused a request for another reason; netlink errors carry the kernel's
    /// extended acknowledgement ([`ExtAck`]).
    Kernel,
    /// Bytes from the kernel or from a file that do not decode.
    Decode,
    /// Another I/O failure.
    Io,
}

impl ErrorKind {
    /// The usual meaning of an errno; each crate refines it where its context knows better
    /// (an `ENOENT` of a conntrack lookup is [`ErrorKind::NotFound`], of a sysctl key
    /// [`ErrorKind::Unsupported`]).
    pub fn from_errno(errno: i32) -> Self {
        match errno {
            libc::ENOENT
            | libc::ENOTDIR
            | libc::EOPNOTSUPP
            | libc::ENOPROTOOPT
            | libc::EPROTONOSUPPORT
            | libc::EAFNOSUPPORT
            | libc::ENODEV
            | libc::ENOTTY => Self::Unsupported,
            libc::EPERM | libc::EACCES | libc::EROFS => Self::PermissionDenied,
            libc::EINVAL | libc::ERANGE | libc::EDOM | libc::E2BIG => Self::InvalidValue,
            libc::EEXIST => Self::Exists,
            libc::ESRCH | libc::ENXIO => Self::NotFound,
            libc::EBUSY | libc::EAGAIN | libc::EALREADY | libc::EINPROGRESS => Self::Busy,
            _ => Self::Io,
        }
    }

    /// The kind of an OS error ([`ErrorKind::Io`] when it carries no errno).
    pub fn of_io(e: &io::Error) -> Self {
        e.raw_os_error().map_or(Self::Io, Self::from_errno)
    }

    /// A short lowercase name (`unsupported`, `permission denied`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsupported => "unsupported",
            Self::PermissionDenied => "permission denied",
            Self::InvalidValue => "invalid value",
            Self::NotFound => "not found",
            Self::Exists => "exists",
            Self::Busy => "busy",
            Self::Kernel => "refused by the kernel",
            Self::Decode => "undecodable data",
            Self::Io => "i/o error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kernel's explanation of a refused netlink request (extended ACK,
/// `NLMSGERR_ATTR_MSG` and `NLMSGERR_ATTR_OFFS`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ExtAck {
    /// The kernel's text, such as `limit greater than maximum (8)`.
    pub message: Option<String>,
    /// The byte offset, in the request, of the attribute the kernel objected to.
    pub offset: Option<u32>,
}

impl ExtAck {
    /// Whether the kernel sent neither a text nor an offset.
    pub fn is_empty(&self) -> bool {
        self.message.is_none() && self.offset.is_none()
    }
}

impl fmt::Display for ExtAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.message, self.offset) {
            (Some(m), Some(o)) => write!(f, "{m} (at byte {o} of the request)"),
            (Some(m), None) => f.write_str(m),
            (None, Some(o)) => write!(f, "the attribute at byte {o} of the request"),
            (None, None) => f.write_str("no explanation"),
        }
    }
}

/// A value that does not parse or does not satisfy its type's rules.
///
/// Returned by the `FromStr` and `TryFrom` implementations of the value types of every
/// crate; a crate that writes the value turns it into its own `InvalidValue` error, naming
/// where it was to be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct ValueError {
    what: &'static str,
    input: String,
    reason: String,
}

impl ValueError {
    /// A new error for a value of type `what` (for example `"tcp_rmem triple"`); `input`
    /// is cut to 64 characters.
    pub fn new(what: &'static str, input: impl AsRef<str>, reason: impl Into<String>) -> Self {
        Self {
            what,
            input: clip(input.as_ref()),
            reason: reason.into(),
        }
    }

    /// What kind of value was expected.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The rejected input (cut to 64 characters).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected, and how to fix it.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Always [`ErrorKind::InvalidValue`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidValue
    }
}

/// Cuts user or kernel text to 64 characters for use in an error message.
pub fn clip(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// An error and its chain of sources on one line, `outer: inner: os error`, skipping a
/// source whose text the previous link already ends with.
///
/// ```
/// let e = std::io::Error::other("disk full");
/// assert_eq!(nettune_core::error::report(&e), "disk full");
/// ```
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("read sysctl net.x")]
    struct Outer(#[source] io::Error);

    #[test]
    fn report_prints_the_chain_once() {
        let e = Outer(io::Error::from_raw_os_error(libc::EIO));
        let text = report(&e);
        assert!(text.starts_with("read sysctl net.x: "), "{text}");
        assert_eq!(text.matches("Input/output error").count(), 1, "{text}");
    }

    #[test]
    fn errnos_have_kinds() {
        assert_eq!(
            ErrorKind::from_errno(libc::EPERM),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            ErrorKind::from_errno(libc::EOPNOTSUPP),
            ErrorKind::Unsupported
        );
        assert_eq!(ErrorKind::from_errno(libc::ERANGE), ErrorKind::InvalidValue);
        assert_eq!(ErrorKind::from_errno(libc::EEXIST), ErrorKind::Exists);
        assert_eq!(ErrorKind::from_errno(libc::EBUSY), ErrorKind::Busy);
        assert_eq!(ErrorKind::from_errno(libc::EIO), ErrorKind::Io);
    }

    #[test]
    fn clip_keeps_char_boundaries() {
        let long = "é".repeat(40);
        let c = clip(&long);
        assert!(c.ends_with("(80 bytes)"), "{c}");
        assert_eq!(clip("short"), "short");
    }
}
