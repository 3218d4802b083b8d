//! Source-based routing over rtnetlink (`ip-rule(8)`, `ip-route(8)`): per-interface tables
//! and `from ADDRESS lookup TABLE` rules, so each MPTCP subflow leaves by its own
//! interface.

use std::net::IpAddr;

use nettune_core::NetNs;
use nettune_netlink::proto::{self, Message, MsgBuilder};
use nettune_netlink::{Handle, NlFamily};

use crate::error::{Error, Result};

const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWRULE: u16 = 32;
const RTM_DELRULE: u16 = 33;
const RTM_GETRULE: u16 = 34;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const FRA_SRC: u16 = 2;
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;
const RTPROT_STATIC: u8 = 4;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;
const FR_ACT_TO_TBL: u8 = 1;

/// A route in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Route {
    /// The table.
    pub table: u32,
    /// The destination and prefix length; `None` is the default route.
    pub dst: Option<(IpAddr, u8)>,
    /// The next hop, if any.
    pub gateway: Option<IpAddr>,
    /// The output interface index.
    pub oif: Option<u32>,
}

/// A policy rule `from SRC/LEN lookup TABLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rule {
    /// The priority (lower first).
    pub priority: u32,
    /// The source prefix; `None` matches every source.
    pub src: Option<(IpAddr, u8)>,
    /// The table looked up.
    pub table: u32,
}

fn family_of(ip: &IpAddr) -> u8 {
    if ip.is_ipv4() {
        libc::AF_INET as u8
    } else {
        libc::AF_INET6 as u8
    }
}

/// The length of `struct rtmsg` and of `struct fib_rule_hdr`.
const RTMSG_LEN: usize = 12;

/// An rtnetlink handle of one namespace.
#[derive(Debug)]
pub struct Routing {
    nl: Handle,
}

impl Routing {
    /// Opens rtnetlink in the calling thread's namespace.
    ///
    /// # Errors
    ///
    /// A socket failure.
    pub fn open() -> Result<Self> {
        let nl = Handle::open(NlFamily::Route).map_err(|e| Error::from_netlink("open", e))?;
        Ok(Self { nl })
    }

    /// Opens rtnetlink in namespace `ns`.
    ///
    /// # Errors
    ///
    /// As [`Routing::open`], and [`Error::Netns`] when the namespace cannot be entered.
    pub fn open_in(ns: &NetNs) -> Result<Self> {
        let nl =
            Handle::open_in(ns, NlFamily::Route).map_err(|e| Error::from_netlink("open", e))?;
        Ok(Self { nl })
    }

    /// The namespace the handle works in, when not the caller's.
    pub fn netns(&self) -> Option<&NetNs> {
        self.nl.netns()
    }

    fn transact(
        &self,
        op: &'static str,
        ty: u16,
        flags: u16,
        build: impl FnOnce(&mut MsgBuilder) -> Result<()>,
        each: impl FnMut(Message<'_>) -> Result<()>,
    ) -> Result<()> {
        self.nl
            .transact(ty, flags, build, each)
            .map_err(|f| f.into_caller(|e| Error::from_netlink(op, e)))
    }

    fn request(
        &self,
        op: &'static str,
        ty: u16,
        flags: u16,
        build: impl FnOnce(&mut MsgBuilder) -> Result<()>,
    ) -> Result<()> {
        self.transact(op, ty, flags | proto::flags::ACK, build, |_| Ok(()))
    }

    fn route_message(m: &mut MsgBuilder, r: &Route) -> Result<()> {
        let family = r
            .dst
            .map(|(a, _)| a)
            .or(r.gateway)
            .map(|a| family_of(&a))
            .ok_or_else(|| {
                Error::invalid(
                    "route",
                    "a default route needs a gateway to tell its address family",
                )
            })?;
        let dst_len = r.dst.map_or(0, |(_, l)| l);
        let scope = if r.gateway.is_some() {
            RT_SCOPE_UNIVERSE
        } else {
            RT_SCOPE_LINK
        };
        let table_u8 = u8::try_from(r.table).unwrap_or(0);
        m.header(&[
            family,
            dst_len,
            0,
            0,
            table_u8,
            RTPROT_STATIC,
            scope,
            RTN_UNICAST,
            0,
            0,
            0,
            0,
        ]);
        if let Some((dst, _)) = r.dst {
            m.ip(RTA_DST, &dst);
        }
        if let Some(g) = r.gateway {
            m.ip(RTA_GATEWAY, &g);
        }
        if let Some(oif) = r.oif {
            m.u32(RTA_OIF, oif);
        }
        m.u32(RTA_TABLE, r.table);
        Ok(())
    }

    fn check_table(op: &'static str, table: u32) -> Result<()> {
        // 0 is "unspecified", 253-255 are default, main and local.
        if table == 0 || (253..=255).contains(&table) {
            return Err(Error::invalid(
                op,
                format!("table {table} is reserved; use 1-252 or above 255"),
            ));
        }
        Ok(())
    }

    /// Adds a route to a table (`ip route add ... table N`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for a reserved table or with the kernel's text.
    pub fn add_route(&self, route: &Route) -> Result<()> {
        const OP: &str = "add route";
        Self::check_table(OP, route.table)?;
        self.request(
            OP,
            RTM_NEWROUTE,
            proto::flags::CREATE | proto::flags::EXCL,
            |m| Self::route_message(m, route),
        )
    }

    /// Removes a route from its table.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`].
    pub fn remove_route(&self, route: &Route) -> Result<()> {
        const OP: &str = "remove route";
        self.request(OP, RTM_DELROUTE, 0, |m| Self::route_message(m, route))
    }

    /// The routes of table `table` (`ip route show table N`).
    ///
    /// # Errors
    ///
    /// A netlink failure.
    pub fn routes(&self, table: u32) -> Result<Vec<Route>> {
        const OP: &str = "list routes";
        let mut out = Vec::new();
        self.transact(
            OP,
            RTM_GETROUTE,
            proto::flags::DUMP,
            |m| {
                m.header(&[0u8; RTMSG_LEN]);
                Ok(())
            },
            |reply| {
                let h = reply.header(RTMSG_LEN).map_err(|e| Error::decode(OP, e))?;
                let (dst_len, rt_table) = (h[1], h[4]);
                let mut r = Route {
                    table: u32::from(rt_table),
                    dst: None,
                    gateway: None,
                    oif: None,
                };
                reply
                    .walk(RTMSG_LEN, |a| {
                        match a.ty {
                            RTA_TABLE => r.table = a.u32()?,
                            RTA_DST => r.dst = Some((a.ip()?, dst_len)),
                            RTA_GATEWAY => r.gateway = Some(a.ip()?),
                            RTA_OIF => r.oif = Some(a.u32()?),
                            _ => {}
                        }
                        Ok(())
                    })
                    .map_err(|e| Error::decode(OP, e))?;
                if r.table == table {
                    out.push(r);
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn rule_message(m: &mut MsgBuilder, r: &Rule) {
        let (family, src_len) = match r.src {
            Some((a, l)) => (family_of(&a), l),
            None => (libc::AF_INET as u8, 0),
        };
        let table_u8 = u8::try_from(r.table).unwrap_or(0);
        m.header(&[
            family,
            0,
            src_len,
            0,
            table_u8,
            0,
            0,
            FR_ACT_TO_TBL,
            0,
            0,
            0,
            0,
        ]);
        if let Some((a, _)) = r.src {
            m.ip(FRA_SRC, &a);
        }
        m.u32(FRA_PRIORITY, r.priority).u32(FRA_TABLE, r.table);
    }

    /// Adds a rule (`ip rule add from SRC lookup TABLE priority P`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] for a reserved table or with the kernel's text.
    pub fn add_rule(&self, rule: &Rule) -> Result<()> {
        const OP: &str = "add rule";
        Self::check_table(OP, rule.table)?;
        self.request(
            OP,
            RTM_NEWRULE,
            proto::flags::CREATE | proto::flags::EXCL,
            |m| {
                Self::rule_message(m, rule);
                Ok(())
            },
        )
    }

    /// Removes a rule.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`].
    pub fn remove_rule(&self, rule: &Rule) -> Result<()> {
        self.request("remove rule", RTM_DELRULE, 0, |m| {
            Self::rule_message(m, rule);
            Ok(())
        })
    }

    /// Every rule of a family (`ip rule show`, `ip -6 rule show`).
    ///
    /// # Errors
    ///
    /// A netlink failure.
    pub fn rules(&self, ipv6: bool) -> Result<Vec<Rule>> {
        const OP: &str = "list rules";
        let family = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
        let mut out = Vec::new();
        self.transact(
            OP,
            RTM_GETRULE,
            proto::flags::DUMP,
            |m| {
                let mut header = [0u8; RTMSG_LEN];
                header[0] = u8::try_from(family).unwrap_or(0);
                m.header(&header);
                Ok(())
            },
            |reply| {
                let h = reply.header(RTMSG_LEN).map_err(|e| Error::decode(OP, e))?;
                let (src_len, table) = (h[2], h[4]);
                let mut r = Rule {
                    priority: 0,
                    src: None,
                    table: u32::from(table),
                };
                reply
                    .walk(RTMSG_LEN, |a| {
                        match a.ty {
                            FRA_SRC => r.src = Some((a.ip()?, src_len)),
                            FRA_PRIORITY => r.priority = a.u32()?,
                            FRA_TABLE => r.table = a.u32()?,
                            _ => {}
                        }
                        Ok(())
                    })
                    .map_err(|e| Error::decode(OP, e))?;
                out.push(r);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Sets up source routing for one endpoint: table `table` gets a route to `network`
    /// (the interface's subnet, on link `oif`) and, with `gateway`, a default route via
    /// it; a rule `from ADDR lookup TABLE` at `priority` sends traffic from the
    /// endpoint's address there.
    ///
    /// # Errors
    ///
    /// As [`Routing::add_route`] and [`Routing::add_rule`]; what was added before a
    /// failure is removed again.
    pub fn source_route(
        &self,
        addr: IpAddr,
        network: (IpAddr, u8),
        oif: u32,
        gateway: Option<IpAddr>,
        table: u32,
        priority: u32,
    ) -> Result<()> {
        let host_len = if addr.is_ipv4() { 32 } else { 128 };
        let mut added_routes: Vec<Route> = Vec::new();
        let link = Route {
            table,
            dst: Some(network),
            gateway: None,
            oif: Some(oif),
        };
        let mut steps = || -> Result<()> {
            self.add_route(&link)?;
            added_routes.push(link);
            if let Some(g) = gateway {
                let default = Route {
                    table,
                    dst: None,
                    gateway: Some(g),
                    oif: Some(oif),
                };
                self.add_route(&default)?;
                added_routes.push(default);
            }
            self.add_rule(&Rule {
                priority,
                src: Some((addr, host_len)),
                table,
            })
        };
        let result = steps();
        if result.is_err() {
            for r in added_routes.iter().rev() {
                let _ = self.remove_route(r);
            }
        }
        result
    }
}
