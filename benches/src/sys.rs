//! The raw netlink floor the benchmarks compare against (socket options and ethtool ioctls
//! use nettune-core's `raw` wrappers, one syscall each), and a counting allocator.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

/// A raw `NETLINK_NETFILTER` socket, for the floor of a conntrack dump.
#[derive(Debug)]
pub struct RawNetlink(std::os::fd::OwnedFd);

impl RawNetlink {
    /// Opens and binds a socket in the calling thread's namespace.
    pub fn open() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2); the descriptor is owned by the returned OwnedFd.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket(2) and is not owned elsewhere.
        Ok(Self(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    /// Sends `request` and receives datagrams into `buf` until NLMSG_DONE; returns the
    /// bytes received. Nothing is decoded but the last header of each datagram.
    pub fn dump(&self, request: &[u8], buf: &mut [u8]) -> usize {
        let fd = self.0.as_raw_fd();
        // SAFETY: `request` is valid for its length.
        unsafe { libc::send(fd, request.as_ptr().cast(), request.len(), 0) };
        let mut total = 0;
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                return total;
            }
            let n = n as usize;
            total += n;
            // Walk the headers to find DONE (or an error) at the end of the dump.
            let mut pos = 0;
            while pos + 16 <= n {
                let len = u32::from_ne_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]])
                    as usize;
                let ty = u16::from_ne_bytes([buf[pos + 4], buf[pos + 5]]);
                if ty == 3 || ty == 2 {
                    return total;
                }
                if len < 16 {
                    return total;
                }
                pos += (len + 3) & !3;
            }
        }
    }
}

/// The global allocator of the benchmark binary: the system allocator, counting the
/// bytes live and their peak, so a benchmark can measure its peak heap.
#[derive(Debug)]
pub struct CountingAlloc;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl CountingAlloc {
    /// Resets the peak to the bytes live now; returns that.
    pub fn reset_peak() -> usize {
        let live = LIVE.load(std::sync::atomic::Ordering::Relaxed);
        PEAK.store(live, std::sync::atomic::Ordering::Relaxed);
        live
    }

    /// The peak since the last reset.
    pub fn peak() -> usize {
        PEAK.load(std::sync::atomic::Ordering::Relaxed)
    }
}

// SAFETY: every call forwards to the system allocator with the caller's layout; the
// counters are only statistics.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use std::sync::atomic::Ordering::Relaxed;
        // SAFETY: forwarded with the same layout.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}
