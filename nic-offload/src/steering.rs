//! Steering beyond RSS: RPS and XPS CPU masks per queue, RFS, and the IRQ affinity of the
//! device's interrupts (Documentation/networking/scaling.rst, `/proc/irq/N/`).
//!
//! The per-queue files live in sysfs, which shows the devices of the namespace that
//! mounted it. For a [`Nic`] opened with [`Nic::open_in`], these calls run on a thread
//! that entered the namespace and mounted its own sysfs in a private mount namespace
//! (as `ip netns exec` does), so they see and change that namespace's devices and
//! nothing else. IRQ affinity is host-wide: `/proc/irq` is not per namespace.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::nic::Nic;
use nettune_core::files::Tree;

/// A set of CPUs, each below [`CpuSet::MAX_CPUS`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "Vec<u32>", into = "Vec<u32>")
)]
pub struct CpuSet(BTreeSet<u32>);

impl TryFrom<Vec<u32>> for CpuSet {
    type Error = Error;
    fn try_from(cpus: Vec<u32>) -> Result<Self> {
        Self::of(cpus)
    }
}

impl From<CpuSet> for Vec<u32> {
    fn from(set: CpuSet) -> Self {
        set.0.into_iter().collect()
    }
}

impl CpuSet {
    /// The most CPUs a Linux kernel can have (`CONFIG_NR_CPUS` is at most 8192); a CPU
    /// number is below this.
    pub const MAX_CPUS: u32 = 8192;

    /// The empty set (RPS/XPS off).
    pub fn new() -> Self {
        Self::default()
    }

    /// A set of the given CPUs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for a CPU number of [`CpuSet::MAX_CPUS`] or more.
    pub fn of(cpus: impl IntoIterator<Item = u32>) -> Result<Self> {
        let set: BTreeSet<u32> = cpus.into_iter().collect();
        match set.last() {
            Some(&max) if max >= Self::MAX_CPUS => Err(bad_cpus(
                &max.to_string(),
                &format!(
                    "CPU numbers are below {} (the kernel's most)",
                    Self::MAX_CPUS
                ),
            )),
            _ => Ok(Self(set)),
        }
    }

    /// The CPUs that exist on this machine (`/sys/devices/system/cpu/possible`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::InvalidValue`] when it does
    /// not hold a CPU list.
    pub fn possible() -> Result<Self> {
        let text =
            std::fs::read_to_string("/sys/devices/system/cpu/possible").map_err(|source| {
                Error::Io {
                    iface: "-".into(),
                    op: "read /sys/devices/system/cpu/possible",
                    source,
                }
            })?;
        Self::from_list(&text)
    }

    /// The CPUs of this set that are not in `other`.
    pub fn difference(&self, other: &Self) -> Self {
        Self(self.0.difference(&other.0).copied().collect())
    }

    /// The CPUs, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }

    /// Whether no CPU is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a sysfs hex mask: 32-bit groups, most significant first, separated by commas
    /// (`00000000,00000003` is CPUs 0 and 1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for anything else.
    pub fn from_mask(text: &str) -> Result<Self> {
        let groups: Vec<&str> = text.trim().split(',').collect();
        let mut set = BTreeSet::new();
        for (i, g) in groups.iter().rev().enumerate() {
            if g.is_empty() || g.len() > 8 {
                return Err(bad_cpus(text, "not a hex CPU mask"));
            }
            let bits =
                u32::from_str_radix(g, 16).map_err(|_| bad_cpus(text, "not a hex CPU mask"))?;
            let base = u32::try_from(i).map_or(u32::MAX, |i| i.saturating_mul(32));
            for b in 0..32 {
                if bits & (1 << b) != 0 {
                    if base >= Self::MAX_CPUS {
                        return Err(bad_cpus(
                            text,
                            "a CPU number above the kernel's most (8191)",
                        ));
                    }
                    set.insert(base + b);
                }
            }
        }
        Ok(Self(set))
    }

    /// The sysfs hex mask form (one pass over the set).
    pub fn to_mask(&self) -> String {
        let groups = self.0.iter().next_back().map_or(1, |m| m / 32 + 1) as usize;
        let mut words = vec![0u32; groups];
        for c in &self.0 {
            words[(c / 32) as usize] |= 1 << (c % 32);
        }
        let mut out = String::with_capacity(groups * 9);
        for (i, w) in words.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("{w:08x}"));
        }
        out
    }

    /// Parses a CPU list (`0-3,5`), as in `smp_affinity_list`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for anything else.
    pub fn from_list(text: &str) -> Result<Self> {
        let mut set = BTreeSet::new();
        for part in text.trim().split(',').filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let a: u32 = a.parse().map_err(|_| bad_cpus(text, "not a CPU list"))?;
            let b: u32 = b.parse().map_err(|_| bad_cpus(text, "not a CPU list"))?;
            if a > b {
                return Err(bad_cpus(text, "bad CPU range"));
            }
            if b >= Self::MAX_CPUS {
                return Err(bad_cpus(
                    text,
                    "a CPU number above the kernel's most (8191)",
                ));
            }
            set.extend(a..=b);
        }
        Ok(Self(set))
    }

    /// The list form (`0-3,5`).
    pub fn to_list(&self) -> String {
        let mut out = Vec::new();
        let mut it = self.0.iter().copied().peekable();
        while let Some(start) = it.next() {
            let mut end = start;
            while it.peek() == Some(&(end + 1)) {
                end += 1;
                it.next();
            }
            out.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
        }
        out.join(",")
    }
}

fn bad_cpus(text: &str, reason: &str) -> Error {
    Error::InvalidValue {
        iface: "-".into(),
        op: "CPU set",
        reason: format!("{reason}: {:?}", text.chars().take(64).collect::<String>()),
        source: None,
    }
}

impl FromStr for CpuSet {
    type Err = Error;
    /// A CPU list (`0-3,5`).
    fn from_str(s: &str) -> Result<Self> {
        Self::from_list(s)
    }
}

impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list())
    }
}

/// RPS settings of one RX queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RxQueue {
    /// The queue index (`rx-N`).
    pub index: u32,
    /// CPUs RPS steers this queue's packets to (`rps_cpus`).
    pub rps_cpus: CpuSet,
    /// RFS flow table entries for this queue (`rps_flow_cnt`).
    pub rps_flow_cnt: u32,
}

/// XPS settings of one TX queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TxQueue {
    /// The queue index (`tx-N`).
    pub index: u32,
    /// CPUs that transmit on this queue (`xps_cpus`); `None` for single-queue devices.
    pub xps_cpus: Option<CpuSet>,
}

/// One interrupt of the device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Irq {
    /// The IRQ number.
    pub number: u32,
    /// Its name in /proc/interrupts.
    pub name: String,
    /// The CPUs it may run on (`/proc/irq/N/smp_affinity_list`).
    pub affinity: CpuSet,
}

/// The steering state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Steering {
    /// RX queues.
    pub rx: Vec<RxQueue>,
    /// TX queues.
    pub tx: Vec<TxQueue>,
    /// The device's interrupts (none for virtual devices).
    pub irqs: Vec<Irq>,
    /// `net.core.rps_sock_flow_entries` (global: `None` in a child namespace).
    pub rfs_entries: Option<u32>,
}

fn queue_indexes(dir: &Path, prefix: &str) -> io::Result<Vec<u32>> {
    let mut out: Vec<u32> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix(prefix)?.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

fn read_trim(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned())
}

/// The IRQs of the device at `dev` (its sysfs `device` link): the MSI vectors of it or its
/// parent, else the /proc/interrupts lines that name the device (`virtio2-input.0`). Never
/// by the interface's name: a namespace's veth may be called like a host device, and
/// /proc/interrupts is the host's. A device without a `device` link (veth, tun, lo) has no
/// interrupts of its own.
fn device_irqs(dev: Option<PathBuf>) -> Vec<(u32, String)> {
    let interrupts = std::fs::read_to_string("/proc/interrupts").unwrap_or_default();
    let name_of = |irq: u32| {
        interrupts
            .lines()
            .find(|l| {
                l.trim_start()
                    .split(':')
                    .next()
                    .and_then(|n| n.trim().parse::<u32>().ok())
                    == Some(irq)
            })
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_default()
            .to_owned()
    };
    if let Some(dev) = &dev {
        for dir in [dev.join("msi_irqs"), dev.join("../msi_irqs")] {
            if let Ok(list) = std::fs::read_dir(&dir) {
                let mut irqs: Vec<u32> = list
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect();
                irqs.sort_unstable();
                if !irqs.is_empty() {
                    return irqs.into_iter().map(|i| (i, name_of(i))).collect();
                }
            }
        }
    }
    let Some(devname) = dev
        .as_ref()
        .and_then(|d| d.file_name())
        .map(|n| format!("{}-", n.to_string_lossy()))
    else {
        return Vec::new();
    };
    interrupts
        .lines()
        .filter_map(|l| {
            let (num, rest) = l.trim_start().split_once(':')?;
            let num: u32 = num.trim().parse().ok()?;
            let name = rest.split_whitespace().last()?;
            name.starts_with(&devname).then(|| (num, name.to_owned()))
        })
        .collect()
}

impl Nic {
    fn sysfs_error(&self, op: &'static str, source: io::Error) -> Error {
        match source.raw_os_error() {
            Some(libc::EACCES | libc::EPERM) => Error::PermissionDenied {
                iface: self.name().to_string(),
                op,
                source,
            },
            Some(libc::ENOENT) => Error::Unsupported {
                iface: self.name().to_string(),
                op,
                driver: self.driver_name(),
                source,
            },
            Some(libc::EINVAL) => Error::InvalidValue {
                iface: self.name().to_string(),
                op,
                reason: "rejected by the kernel (a CPU that does not exist?)".into(),
                source: Some(source),
            },
            _ => Error::Io {
                iface: self.name().to_string(),
                op,
                source,
            },
        }
    }

    /// RPS/XPS masks of every queue, the device's IRQs and their affinity, and the RFS
    /// table size.
    ///
    /// # Errors
    ///
    /// [`Error::Netns`] when the namespace's sysfs cannot be mounted; [`Error::Io`] when
    /// the queue directory cannot be read.
    pub fn steering(&self) -> Result<Steering> {
        let name = self.name().to_string();
        let read = self.with_sysfs(move || -> io::Result<Steering> {
            let base = PathBuf::from("/sys/class/net").join(&name);
            let queues = base.join("queues");
            let mut s = Steering::default();
            for i in queue_indexes(&queues, "rx-")? {
                let q = queues.join(format!("rx-{i}"));
                s.rx.push(RxQueue {
                    index: i,
                    rps_cpus: CpuSet::from_mask(&read_trim(&q.join("rps_cpus"))?)
                        .unwrap_or_default(),
                    rps_flow_cnt: read_trim(&q.join("rps_flow_cnt"))?.parse().unwrap_or(0),
                });
            }
            for i in queue_indexes(&queues, "tx-")? {
                let xps = read_trim(&queues.join(format!("tx-{i}/xps_cpus"))).ok();
                s.tx.push(TxQueue {
                    index: i,
                    xps_cpus: xps.and_then(|m| CpuSet::from_mask(&m).ok()),
                });
            }
            let dev = std::fs::canonicalize(base.join("device")).ok();
            for (number, irq_name) in device_irqs(dev) {
                let affinity =
                    read_trim(Path::new(&format!("/proc/irq/{number}/smp_affinity_list")))
                        .ok()
                        .and_then(|l| CpuSet::from_list(&l).ok())
                        .unwrap_or_default();
                s.irqs.push(Irq {
                    number,
                    name: irq_name,
                    affinity,
                });
            }
            s.rfs_entries = read_trim(Path::new("/proc/sys/net/core/rps_sock_flow_entries"))
                .ok()
                .and_then(|v| v.parse().ok());
            Ok(s)
        })?;
        read.map_err(|e| self.sysfs_error("read queues", e))
    }

    /// Writes a file of the interface's `queues/` directory: in another namespace through
    /// the namespace's sysfs kept open ([`nettune_core::files`]), so a run of writes enters
    /// it once.
    fn write_queue_file(&self, op: &'static str, rel: String, value: String) -> Result<()> {
        let rel = format!("{}/queues/{rel}", self.name());
        let written = match self.netns() {
            Some(ns) => ns.write_file(Tree::SysClassNet, &rel, value.as_bytes())?,
            None => std::fs::OpenOptions::new()
                .write(true)
                .open(Path::new("/sys/class/net").join(&rel))
                .and_then(|mut f| f.write(value.as_bytes())),
        };
        match written {
            Ok(n) if n == value.len() => Ok(()),
            Ok(n) => Err(Error::Io {
                iface: self.name().to_string(),
                op,
                source: io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short write: the kernel took {n} of {} bytes", value.len()),
                ),
            }),
            Err(e) => Err(self.sysfs_error(op, e)),
        }
    }

    /// Sets the RPS CPUs of RX queue `queue` (`rps_cpus`; empty turns RPS off). Needs root.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the queue does not exist; [`Error::InvalidValue`] for
    /// CPUs the kernel refuses.
    pub fn set_rps(&self, queue: u32, cpus: &CpuSet) -> Result<()> {
        self.check_cpus("write rps_cpus", cpus)?;
        self.write_queue_file(
            "write rps_cpus",
            format!("rx-{queue}/rps_cpus"),
            cpus.to_mask(),
        )
    }

    /// Refuses CPUs this machine does not have, naming them and the ones it has.
    fn check_cpus(&self, op: &'static str, cpus: &CpuSet) -> Result<()> {
        let possible = CpuSet::possible()?;
        let missing = cpus.difference(&possible);
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidValue {
            iface: self.name().to_string(),
            op,
            reason: format!("CPU(s) {missing} do not exist on this machine (possible: {possible})"),
            source: None,
        })
    }

    /// Sets the RFS flow count of RX queue `queue` (`rps_flow_cnt`). Needs root.
    ///
    /// # Errors
    ///
    /// As [`Nic::set_rps`].
    pub fn set_rps_flow_cnt(&self, queue: u32, entries: u32) -> Result<()> {
        self.write_queue_file(
            "write rps_flow_cnt",
            format!("rx-{queue}/rps_flow_cnt"),
            entries.to_string(),
        )
    }

    /// Sets the XPS CPUs of TX queue `queue` (`xps_cpus`). Needs root.
    ///
    /// # Errors
    ///
    /// As [`Nic::set_rps`].
    pub fn set_xps(&self, queue: u32, cpus: &CpuSet) -> Result<()> {
        self.check_cpus("write xps_cpus", cpus)?;
        self.write_queue_file(
            "write xps_cpus",
            format!("tx-{queue}/xps_cpus"),
            cpus.to_mask(),
        )
    }

    /// Sets the CPUs IRQ `irq` may run on (`/proc/irq/N/smp_affinity_list`; host-wide).
    /// Needs root.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for an empty set or CPUs the kernel refuses.
    pub fn set_irq_affinity(&self, irq: u32, cpus: &CpuSet) -> Result<()> {
        if cpus.is_empty() {
            return Err(Error::InvalidValue {
                iface: self.name().to_string(),
                op: "write smp_affinity_list",
                reason: "an IRQ needs at least one CPU".into(),
                source: None,
            });
        }
        self.check_cpus("write smp_affinity_list", cpus)?;
        std::fs::write(format!("/proc/irq/{irq}/smp_affinity_list"), cpus.to_list())
            .map_err(|e| self.sysfs_error("write smp_affinity_list", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_lists() {
        let s = CpuSet::from_mask("00000000,00000003").expect("mask");
        assert_eq!(s, CpuSet::of([0, 1]).expect("cpus"));
        assert_eq!(s.to_mask(), "00000003");
        let big = CpuSet::of([0, 33, 63]).expect("cpus");
        assert_eq!(big.to_mask(), "80000002,00000001");
        assert_eq!(CpuSet::from_mask(&big.to_mask()).expect("mask"), big);
        assert_eq!(CpuSet::new().to_mask(), "00000000");
        assert_eq!(
            CpuSet::from_list("0-3,5,7-8").expect("list").to_list(),
            "0-3,5,7-8"
        );
        assert_eq!(CpuSet::from_list("").expect("list"), CpuSet::new());
        assert!(CpuSet::from_list("3-1").is_err());
        assert!(CpuSet::from_list("a").is_err());
        assert!(CpuSet::from_mask("xyz").is_err());
        assert!(CpuSet::from_list("0-99999999").is_err());
    }

    #[test]
    fn cpu_numbers_are_bounded_by_the_kernels_most() {
        let e = CpuSet::of([u32::MAX]).expect_err("u32::MAX");
        assert!(e.to_string().contains("8192"), "{e}");
        assert!(CpuSet::of([CpuSet::MAX_CPUS - 1]).is_ok());
        assert!(CpuSet::from_list("8192").is_err());
        // 257 groups of 32 bits name CPU 8192: refused, not allocated.
        let mask = std::iter::once("1")
            .chain(std::iter::repeat_n("00000000", 256))
            .collect::<Vec<_>>()
            .join(",");
        assert!(CpuSet::from_mask(&mask).is_err());
        let all = CpuSet::from_list("0-8191").expect("list");
        assert_eq!(CpuSet::from_mask(&all.to_mask()).expect("mask"), all);
        assert_eq!(all.to_mask().len(), 256 * 9 - 1);
    }
}
