//! The raw syscall floors the benchmarks compare against: the bare libc calls, no wrapper.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd};

/// `setsockopt` of an int, result ignored.
pub fn set_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> i32 {
    // SAFETY: a live int is passed with its exact size.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    }
}

/// `setsockopt` of bytes.
pub fn set_bytes(fd: BorrowedFd<'_>, level: i32, name: i32, value: &[u8]) -> i32 {
    // SAFETY: `value` is valid for its length.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    }
}

/// `getsockopt` into `buf`; returns the length the kernel wrote, or -1.
pub fn get(fd: BorrowedFd<'_>, level: i32, name: i32, buf: &mut [u8]) -> i32 {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is valid for `len` bytes and `len` is a live socklen_t.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if ret < 0 { ret } else { len as i32 }
}

/// `struct ifreq` for SIOCETHTOOL.
#[repr(C)]
struct Ifreq {
    name: [u8; 16],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// One raw `SIOCETHTOOL` ioctl on `buf` for interface `name`.
pub fn ethtool(fd: BorrowedFd<'_>, name: &str, buf: &mut [u8]) -> i32 {
    let mut ifr = Ifreq {
        name: [0; 16],
        data: buf.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    let n = name.len().min(15);
    ifr.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `buf` is sized by the caller for the command it holds and outlives the call.
    unsafe { libc::ioctl(fd.as_raw_fd(), 0x8946, &mut ifr) }
}

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
