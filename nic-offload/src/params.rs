//! Interrupt coalescing (`ethtool -c/-C`), rings (`-g/-G`) and channels (`-l/-L`).
//!
//! The ioctls take whole structs, so a change is a read-modify-write of only the fields
//! the caller names; afterwards the struct is read back, and fields the driver ignored
//! are reported.

use crate::error::{Error, Result};
use crate::nic::Nic;
use crate::proto::{self, cmd};

/// The queues `ETHTOOL_PERQUEUE` can address (`MAX_NUM_QUEUE`).
pub const MAX_QUEUES: u32 = 4096;
/// `struct ethtool_per_queue_op` before its data: cmd, sub_command, the queue mask.
const PER_QUEUE_HEADER: usize = 8 + MAX_QUEUES as usize / 8;

/// An `ETHTOOL_PERQUEUE` request for `sub` on `queues` (sorted, each below `MAX_QUEUES`),
/// with room for one `ethtool_coalesce` per queue.
fn per_queue(sub: u32, queues: &[u32]) -> Vec<u8> {
    let mut b = proto::command(
        cmd::PERQUEUE,
        PER_QUEUE_HEADER + queues.len() * proto::COALESCE_LEN,
    );
    proto::put32(&mut b, 4, sub);
    for &q in queues {
        let word = 8 + (q as usize / 32) * 4;
        let v = proto::get32(&b, word) | 1 << (q % 32);
        proto::put32(&mut b, word, v);
    }
    b
}

macro_rules! param_struct {
    (
        $(#[$doc:meta])* $name:ident, $update:ident, $len:expr,
        { $($(#[$fdoc:meta])* $field:ident @ $off:literal),* $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[non_exhaustive]
        pub struct $name {
            $($(#[$fdoc])* pub $field: u32,)*
        }

        impl $name {
            /// Decodes the kernel's struct.
            pub(crate) fn decode(b: &[u8]) -> Self {
                Self { $($field: proto::get32(b, $off),)* }
            }

            /// Encodes into the kernel's struct, command word `command`.
            pub(crate) fn encode(&self, command: u32) -> Vec<u8> {
                let mut b = proto::command(command, $len);
                $(proto::put32(&mut b, $off, self.$field);)*
                b
            }

            /// The field names and values, in the kernel's order.
            pub fn fields(&self) -> Vec<(&'static str, u32)> {
                vec![$((stringify!($field), self.$field),)*]
            }
        }

        #[doc = concat!("A change to [`", stringify!($name), "`]: only the fields set are written.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[non_exhaustive]
        pub struct $update {
            $($(#[$fdoc])* pub $field: Option<u32>,)*
        }

        impl $update {
            /// No change.
            pub fn new() -> Self {
                Self::default()
            }

            /// `current` with the named fields replaced.
            pub fn over(&self, current: &$name) -> $name {
                $name { $($field: self.$field.unwrap_or(current.$field),)* }
            }

            /// The names of the fields set.
            pub fn named(&self) -> Vec<(&'static str, u32)> {
                let mut out = Vec::new();
                $(if let Some(v) = self.$field { out.push((stringify!($field), v)); })*
                out
            }

            /// Sets a field by its name.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidValue`] for an unknown field name.
            pub fn set(&mut self, field: &str, value: u32) -> Result<&mut Self> {
                match field {
                    $(stringify!($field) => self.$field = Some(value),)*
                    other => {
                        return Err(Error::InvalidValue {
                            iface: "-".into(),
                            op: stringify!($name),
                            reason: format!(
                                "no field {other:?}; fields: {}",
                                [$(stringify!($field)),*].join(" ")
                            ),
                            source: None,
                        })
                    }
                }
                Ok(self)
            }
        }
    };
}

param_struct!(
    /// `struct ethtool_coalesce`: when the device raises interrupts. Times are µs, counts
    /// are frames; `use_adaptive_*` are 0/1. Fields a driver does not support read as 0
    /// and are ignored when set.
    Coalesce, CoalesceUpdate, proto::COALESCE_LEN,
    {
        /// rx-usecs
        rx_usecs @ 4,
        /// rx-frames
        rx_frames @ 8,
        /// rx-usecs-irq
        rx_usecs_irq @ 12,
        /// rx-frames-irq
        rx_frames_irq @ 16,
        /// tx-usecs
        tx_usecs @ 20,
        /// tx-frames
        tx_frames @ 24,
        /// tx-usecs-irq
        tx_usecs_irq @ 28,
        /// tx-frames-irq
        tx_frames_irq @ 32,
        /// stats-block-usecs
        stats_block_usecs @ 36,
        /// adaptive-rx (0/1)
        use_adaptive_rx @ 40,
        /// adaptive-tx (0/1)
        use_adaptive_tx @ 44,
        /// pkt-rate-low
        pkt_rate_low @ 48,
        /// rx-usecs-low
        rx_usecs_low @ 52,
        /// rx-frames-low
        rx_frames_low @ 56,
        /// tx-usecs-low
        tx_usecs_low @ 60,
        /// tx-frames-low
        tx_frames_low @ 64,
        /// pkt-rate-high
        pkt_rate_high @ 68,
        /// rx-usecs-high
        rx_usecs_high @ 72,
        /// rx-frames-high
        rx_frames_high @ 76,
        /// tx-usecs-high
        tx_usecs_high @ 80,
        /// tx-frames-high
        tx_frames_high @ 84,
        /// sample-interval (seconds)
        rate_sample_interval @ 88,
    }
);

param_struct!(
    /// `struct ethtool_ringparam`: ring sizes and their maxima.
    Rings, RingsUpdate, proto::RINGPARAM_LEN,
    {
        /// RX ring maximum.
        rx_max @ 4,
        /// RX mini ring maximum.
        rx_mini_max @ 8,
        /// RX jumbo ring maximum.
        rx_jumbo_max @ 12,
        /// TX ring maximum.
        tx_max @ 16,
        /// RX ring size.
        rx @ 20,
        /// RX mini ring size.
        rx_mini @ 24,
        /// RX jumbo ring size.
        rx_jumbo @ 28,
        /// TX ring size.
        tx @ 32,
    }
);

param_struct!(
    /// `struct ethtool_channels`: queue counts and their maxima.
    Channels, ChannelsUpdate, proto::CHANNELS_LEN,
    {
        /// RX-only channels maximum.
        max_rx @ 4,
        /// TX-only channels maximum.
        max_tx @ 8,
        /// Other channels maximum.
        max_other @ 12,
        /// Combined channels maximum.
        max_combined @ 16,
        /// RX-only channels.
        rx @ 20,
        /// TX-only channels.
        tx @ 24,
        /// Other channels.
        other @ 28,
        /// Combined channels.
        combined @ 32,
    }
);

/// The fields a set asked for that read back otherwise (the driver ignored them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Ignored {
    /// (field, asked for, reads back)
    pub fields: Vec<(&'static str, u32, u32)>,
}

impl Ignored {
    /// Whether every field took.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

fn ignored(asked: &[(&'static str, u32)], after: &[(&'static str, u32)]) -> Ignored {
    Ignored {
        fields: asked
            .iter()
            .filter_map(|(name, want)| {
                let got = after.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
                (got != *want).then_some((*name, *want, got))
            })
            .collect(),
    }
}

/// The rings `update` asks for, or why they exceed the device's maxima.
fn check_rings(current: &Rings, update: &RingsUpdate) -> std::result::Result<Rings, String> {
    let new = update.over(current);
    for (field, value, max) in [
        ("rx", new.rx, current.rx_max),
        ("rx_mini", new.rx_mini, current.rx_mini_max),
        ("rx_jumbo", new.rx_jumbo, current.rx_jumbo_max),
        ("tx", new.tx, current.tx_max),
    ] {
        if value > max {
            return Err(format!(
                "{field} ring {value} is above the device's maximum {max}"
            ));
        }
    }
    Ok(new)
}

impl Nic {
    /// Interrupt coalescing (`ETHTOOL_GCOALESCE`, `ethtool -c`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver has no coalescing settings.
    #[doc(alias = "ETHTOOL_GCOALESCE")]
    pub fn coalesce(&self) -> Result<Coalesce> {
        if let Some(nl) = self.via_netlink(crate::NicOp::Coalesce) {
            return nl.coalesce(self.name().as_str()).map(|c| c.coalesce);
        }
        let mut b = proto::command(cmd::GCOALESCE, proto::COALESCE_LEN);
        self.ethtool("ETHTOOL_GCOALESCE", &mut b)?;
        Ok(Coalesce::decode(&b))
    }

    /// Changes only the coalescing fields named in `update` (read-modify-write,
    /// `ETHTOOL_SCOALESCE`), reads back, and reports the fields the driver ignored.
    /// Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver lacks coalescing, or when a named field is
    /// outside the parameters it declares (the kernel then refuses the whole change);
    /// [`Error::PermissionDenied`]; [`Error::InvalidValue`] when the driver rejects the
    /// values.
    #[doc(alias = "ETHTOOL_SCOALESCE")]
    pub fn set_coalesce(&self, update: &CoalesceUpdate) -> Result<Ignored> {
        if let Some(nl) = self.via_netlink(crate::NicOp::SetCoalesce) {
            let now = nl.set_coalesce(self.name().as_str(), update)?;
            return Ok(ignored(&update.named(), &now.coalesce.fields()));
        }
        let current = self.coalesce()?;
        let mut b = update.over(&current).encode(cmd::SCOALESCE);
        self.ethtool("ETHTOOL_SCOALESCE", &mut b)?;
        Ok(ignored(&update.named(), &self.coalesce()?.fields()))
    }

    /// Coalescing of single queues (`ETHTOOL_PERQUEUE` with `ETHTOOL_GCOALESCE`, `ethtool
    /// --per-queue queue_mask M --show-coalesce`), in queue order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] before the call for no queue or a queue number of
    /// [`MAX_QUEUES`] or more; [`Error::Unsupported`] when the driver has no per-queue
    /// coalescing; [`Error::InvalidValue`] from the kernel for a queue the device lacks.
    #[doc(alias = "ETHTOOL_PERQUEUE")]
    pub fn queue_coalesce(&self, queues: &[u32]) -> Result<Vec<(u32, Coalesce)>> {
        let queues = self.queue_set(queues)?;
        let mut b = per_queue(cmd::GCOALESCE, &queues);
        self.ethtool("ETHTOOL_PERQUEUE", &mut b)?;
        Ok(queues
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let at = PER_QUEUE_HEADER + i * proto::COALESCE_LEN;
                (q, Coalesce::decode(&b[at..at + proto::COALESCE_LEN]))
            })
            .collect())
    }

    /// Changes only the named coalescing fields of each queue (`ETHTOOL_PERQUEUE` with
    /// `ETHTOOL_SCOALESCE`; the kernel puts back the queues already changed when one
    /// fails), reads back, and reports per queue the fields the driver ignored. Needs
    /// `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// As [`Nic::queue_coalesce`].
    #[doc(alias = "ETHTOOL_PERQUEUE")]
    pub fn set_queue_coalesce(
        &self,
        queues: &[u32],
        update: &CoalesceUpdate,
    ) -> Result<Vec<(u32, Ignored)>> {
        let current = self.queue_coalesce(queues)?;
        let set: Vec<u32> = current.iter().map(|(q, _)| *q).collect();
        let mut b = per_queue(cmd::SCOALESCE, &set);
        for (i, (_, c)) in current.iter().enumerate() {
            let at = PER_QUEUE_HEADER + i * proto::COALESCE_LEN;
            b[at..at + proto::COALESCE_LEN].copy_from_slice(&update.over(c).encode(cmd::SCOALESCE));
        }
        self.ethtool("ETHTOOL_PERQUEUE", &mut b)?;
        Ok(self
            .queue_coalesce(&set)?
            .into_iter()
            .map(|(q, c)| (q, ignored(&update.named(), &c.fields())))
            .collect())
    }

    /// The queues, sorted and deduplicated, each below [`MAX_QUEUES`].
    fn queue_set(&self, queues: &[u32]) -> Result<Vec<u32>> {
        let mut set = queues.to_vec();
        set.sort_unstable();
        set.dedup();
        let bad = |reason: String| Error::InvalidValue {
            iface: self.name().to_string(),
            op: "ETHTOOL_PERQUEUE",
            reason,
            source: None,
        };
        match set.last() {
            None => Err(bad("no queue named".into())),
            Some(&q) if q >= MAX_QUEUES => Err(bad(format!(
                "queue {q}: the kernel numbers queues below {MAX_QUEUES}"
            ))),
            Some(_) => Ok(set),
        }
    }

    /// Ring sizes and maxima (`ETHTOOL_GRINGPARAM`, `ethtool -g`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver has no rings to size.
    #[doc(alias = "ETHTOOL_GRINGPARAM")]
    pub fn rings(&self) -> Result<Rings> {
        if let Some(nl) = self.via_netlink(crate::NicOp::Rings) {
            return nl.rings(self.name().as_str()).map(|r| r.rings);
        }
        let mut b = proto::command(cmd::GRINGPARAM, proto::RINGPARAM_LEN);
        self.ethtool("ETHTOOL_GRINGPARAM", &mut b)?;
        Ok(Rings::decode(&b))
    }

    /// Changes ring sizes (`ETHTOOL_SRINGPARAM`), checked against the device's maxima
    /// before the call. Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] above a maximum (nothing written); as [`Nic::rings`].
    #[doc(alias = "ETHTOOL_SRINGPARAM")]
    pub fn set_rings(&self, update: &RingsUpdate) -> Result<Ignored> {
        let current = self.rings()?;
        let new = check_rings(&current, update).map_err(|reason| Error::InvalidValue {
            iface: self.name().to_string(),
            op: "ETHTOOL_SRINGPARAM",
            reason,
            source: None,
        })?;
        if let Some(nl) = self.via_netlink(crate::NicOp::SetRings) {
            let mut u = crate::ethnl::NlRingsUpdate::new();
            u.rings = *update;
            let now = nl.set_rings(self.name().as_str(), &u)?;
            return Ok(ignored(&update.named(), &now.rings.fields()));
        }
        let mut b = new.encode(cmd::SRINGPARAM);
        self.ethtool("ETHTOOL_SRINGPARAM", &mut b)?;
        Ok(ignored(&update.named(), &self.rings()?.fields()))
    }

    /// Queue counts and maxima (`ETHTOOL_GCHANNELS`, `ethtool -l`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the driver has no channel settings.
    #[doc(alias = "ETHTOOL_GCHANNELS")]
    pub fn channels(&self) -> Result<Channels> {
        if let Some(nl) = self.via_netlink(crate::NicOp::Channels) {
            return nl.channels(self.name().as_str());
        }
        let mut b = proto::command(cmd::GCHANNELS, proto::CHANNELS_LEN);
        self.ethtool("ETHTOOL_GCHANNELS", &mut b)?;
        Ok(Channels::decode(&b))
    }

    /// Changes queue counts (`ETHTOOL_SCHANNELS`), checked against the maxima before the
    /// call. Needs `CAP_NET_ADMIN`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] above a maximum or with no queue left (nothing written).
    #[doc(alias = "ETHTOOL_SCHANNELS")]
    pub fn set_channels(&self, update: &ChannelsUpdate) -> Result<Ignored> {
        let current = self.channels()?;
        let new = update.over(&current);
        let bad = |reason: String| Error::InvalidValue {
            iface: self.name().to_string(),
            op: "ETHTOOL_SCHANNELS",
            reason,
            source: None,
        };
        for (field, value, max) in [
            ("rx", new.rx, current.max_rx),
            ("tx", new.tx, current.max_tx),
            ("other", new.other, current.max_other),
            ("combined", new.combined, current.max_combined),
        ] {
            if value > max {
                return Err(bad(format!(
                    "{field} channels {value} is above the device's maximum {max}"
                )));
            }
        }
        if new.rx + new.combined == 0 || new.tx + new.combined == 0 {
            return Err(bad(
                "at least one RX and one TX (or combined) channel is needed".into(),
            ));
        }
        // The kernel refuses fewer RX queues than the RSS table (or a rule) uses, with a
        // bare EINVAL; say which.
        let rx = new.rx + new.combined;
        if rx < current.rx + current.combined
            && let Ok(rss) = self.rss()
            && let Some(&top) = rss.indirection.iter().max()
            && top >= rx
        {
            return Err(bad(format!(
                "{rx} RX queues, but the RSS indirection table sends traffic to queue {top}: spread it over fewer queues first (set_rss, ethtool -X)"
            )));
        }
        if let Some(nl) = self.via_netlink(crate::NicOp::SetChannels) {
            let now = nl.set_channels(self.name().as_str(), update)?;
            return Ok(ignored(&update.named(), &now.fields()));
        }
        let mut b = new.encode(cmd::SCHANNELS);
        self.ethtool("ETHTOOL_SCHANNELS", &mut b)?;
        Ok(ignored(&update.named(), &self.channels()?.fields()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_is_92_bytes_and_round_trips() {
        let c = Coalesce {
            rx_frames: 64,
            use_adaptive_rx: 1,
            rate_sample_interval: 3,
            ..Coalesce::default()
        };
        let b = c.encode(cmd::SCOALESCE);
        assert_eq!(b.len(), 92);
        assert_eq!(proto::get32(&b, 0), cmd::SCOALESCE);
        assert_eq!(proto::get32(&b, 8), 64);
        assert_eq!(proto::get32(&b, 40), 1);
        assert_eq!(proto::get32(&b, 88), 3);
        assert_eq!(Coalesce::decode(&b), c);
        assert_eq!(c.fields().len(), 22);
    }

    #[test]
    fn updates_touch_only_named_fields() {
        let current = Rings {
            rx_max: 4096,
            tx_max: 4096,
            rx: 256,
            tx: 256,
            ..Rings::default()
        };
        let mut u = RingsUpdate::new();
        u.set("rx", 1024).expect("field");
        let new = u.over(&current);
        assert_eq!((new.rx, new.tx, new.rx_max), (1024, 256, 4096));
        assert_eq!(u.named(), vec![("rx", 1024)]);
        assert!(u.set("rx_huge", 1).is_err());
        let b = new.encode(cmd::SRINGPARAM);
        assert_eq!(b.len(), 36);
        assert_eq!(Rings::decode(&b), new);
        let ch = Channels {
            max_combined: 8,
            combined: 4,
            ..Channels::default()
        };
        assert_eq!(Channels::decode(&ch.encode(cmd::SCHANNELS)), ch);
    }

    #[test]
    fn rings_above_the_maximum_are_refused() {
        let current = Rings {
            rx_max: 4096,
            tx_max: 1024,
            rx: 256,
            tx: 256,
            ..Rings::default()
        };
        let mut u = RingsUpdate::new();
        u.rx = Some(4096);
        assert_eq!(check_rings(&current, &u).map(|r| r.rx), Ok(4096));
        u.tx = Some(2048);
        let e = check_rings(&current, &u).expect_err("above max");
        assert_eq!(e, "tx ring 2048 is above the device's maximum 1024");
    }

    #[test]
    fn ignored_fields_are_reported() {
        let got = ignored(
            &[("rx_frames", 64), ("rx_usecs", 50)],
            &[("rx_frames", 64), ("rx_usecs", 0)],
        );
        assert_eq!(got.fields, vec![("rx_usecs", 50, 0)]);
    }
}
