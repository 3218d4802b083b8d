//! The subcommands.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Subcommand;
use nettune::sysctl::sysctld::{SysctlConfig, SysctlD};
use nettune::sysctl::{Bdp, Key};
use serde_json::{Value, json};

use crate::{Cmd, Ctx, Fail, Res, run, txn, usage};

#[derive(Debug, Subcommand)]
pub(crate) enum SysctlCmd {
    /// Print keys' values; goes on past a key that cannot be read and exits 1 at the end.
    Get {
        /// Print the values only, one per line.
        #[arg(short = 'n', long = "values")]
        values_only: bool,
        /// Keys, dotted or slashed.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Set KEY=VALUE pairs, all or nothing.
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true)]
        assignments: Vec<String>,
    },
    /// List the keys a prefix or a glob names, with their values.
    List {
        /// A key, a prefix, or a glob within components (net.ipv4.conf.*.rp_filter).
        #[arg(default_value = "net")]
        pattern: String,
    },
    /// Apply sysctl.d files, or the system's configuration with --system, as one
    /// transaction like `apply` (journal, read-back, all or nothing).
    Load {
        /// sysctl.d files, applied in the order given (a later file wins).
        #[arg(required_unless_present_any = ["system", "config_dir"], conflicts_with_all = ["system", "config_dir"])]
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        config: ConfigDirs,
        /// Leave out (and list) the keys that do not belong to a network namespace: keys
        /// outside net.*, and net.* keys global to the host.
        #[arg(long)]
        net_only: bool,
        #[command(flatten)]
        txn: txn::TxnArgs,
    },
    /// Which file and line of the system's configuration sets each key, and to what;
    /// exits 1 when one is set by none.
    Origin {
        /// Keys.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        config: ConfigDirs,
    },
}

/// The system's sysctl.d configuration.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConfigDirs {
    /// Read the systemd-sysctl directories (/etc/sysctl.d, /run/sysctl.d,
    /// /usr/local/lib/sysctl.d, /usr/lib/sysctl.d) with systemd's precedence.
    #[arg(long)]
    system: bool,
    /// Read these directories instead (earliest strongest), with the same precedence.
    #[arg(long = "config-dir", value_name = "DIR")]
    config_dir: Vec<std::path::PathBuf>,
}

impl ConfigDirs {
    /// Loads the configuration: the directories named, or the system's.
    fn load(&self) -> Res<SysctlConfig> {
        let config = if self.config_dir.is_empty() {
            SysctlConfig::load()
        } else {
            SysctlConfig::load_dirs(&self.config_dir)
        };
        usage(config)
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum NicCmd {
    /// Driver, offloads, coalescing, rings, channels, RSS, pause, link, private flags and
    /// n-tuple rules of interfaces (all when none named), and which interface each was read
    /// through.
    Show {
        /// Interfaces.
        ifaces: Vec<String>,
        /// Read over SIOCETHTOOL what both interfaces carry (the ethtool netlink family
        /// otherwise, where the kernel has it).
        #[arg(long)]
        ioctl: bool,
    },
    /// The driver's statistics (`ethtool -S`) and the standard statistics groups.
    Stats {
        /// The interface.
        iface: String,
    },
    /// Change offloads (NAME=on|off), --coalesce FIELD=N, --rings FIELD=N, --channels FIELD=N.
    Set {
        /// The interface.
        iface: String,
        /// Offloads: gro=on lro=off tx-checksum-ip-generic=off ...
        offloads: Vec<String>,
        /// Coalescing fields (rx_usecs, rx_frames, ...).
        #[arg(long, value_name = "FIELD=N")]
        coalesce: Vec<String>,
        /// Ring fields (rx, tx, ...).
        #[arg(long, value_name = "FIELD=N")]
        rings: Vec<String>,
        /// Channel fields (rx, tx, combined, other).
        #[arg(long, value_name = "FIELD=N")]
        channels: Vec<String>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CtFilterArgs {
    /// Only entries with this mark (VALUE or VALUE/MASK, decimal or 0x hex).
    #[arg(long)]
    mark: Option<String>,
    /// Only this family: ipv4 or ipv6.
    #[arg(long)]
    family: Option<String>,
    /// Only this original source: an address or a prefix (10.0.0.0/8).
    #[arg(long, short = 's', value_name = "ADDR[/LEN]")]
    src: Option<String>,
    /// Only this original destination: an address or a prefix.
    #[arg(long, short = 'd', value_name = "ADDR[/LEN]")]
    dst: Option<String>,
    /// Only this protocol: tcp, udp, icmp, icmpv6, sctp, dccp, udplite or a number.
    #[arg(long, short = 'p', value_name = "PROTO")]
    proto: Option<String>,
    /// Only this original source port (needs --proto).
    #[arg(long)]
    sport: Option<u16>,
    /// Only this original destination port (needs --proto).
    #[arg(long)]
    dport: Option<u16>,
}

/// `ADDR` or `ADDR/LEN`.
fn net(what: &str, text: &str) -> Res<(std::net::IpAddr, u8)> {
    let (a, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: std::net::IpAddr = a
        .parse()
        .map_err(|_| Fail::Usage(format!("--{what} {text}: not an address")))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l.parse::<u8>().ok().filter(|&l| l <= max).ok_or_else(|| {
            Fail::Usage(format!("--{what} {text}: a prefix length is 0 to {max}"))
        })?,
    };
    Ok((addr, len))
}

/// A protocol by name or number.
fn protocol(text: &str) -> Res<u8> {
    Ok(match text {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" => 58,
        "sctp" => 132,
        "dccp" => 33,
        "udplite" => 136,
        "gre" => 47,
        other => other.parse().map_err(|_| {
            Fail::Usage(format!("--proto {other}: expected tcp, udp, icmp, icmpv6, sctp, dccp, udplite, gre or a number"))
        })?,
    })
}

#[derive(Debug, Subcommand)]
pub(crate) enum CtCmd {
    /// List entries (streamed).
    List {
        #[command(flatten)]
        filter: CtFilterArgs,
    },
    /// The expectation table (connections a helper such as FTP expects).
    Expect,
    /// Entries in the table and the maximum.
    Count,
    /// Per-CPU statistics.
    Stats,
    /// Delete the entries that match (done by the kernel).
    Flush {
        #[command(flatten)]
        filter: CtFilterArgs,
    },
    /// Print events as they happen.
    Watch {
        /// Stop after this many events (0: forever).
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MptcpCmd {
    /// The endpoints.
    Endpoints,
    /// Add, remove or flag one endpoint (`ip mptcp endpoint add|delete|change`).
    Endpoint {
        #[command(subcommand)]
        cmd: EndpointCmd,
    },
    /// The limits, or set them with --set SUBFLOWS,ADD_ADDR_ACCEPTED.
    Limits {
        /// New limits.
        #[arg(long, value_name = "SUBFLOWS,ADD_ADDR_ACCEPTED")]
        set: Option<String>,
    },
    /// Print path-manager events.
    Monitor {
        /// Stop after this many events (0: forever).
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EndpointCmd {
    /// Add an endpoint; prints its id.
    Add {
        /// The address.
        addr: std::net::IpAddr,
        /// The id (default: the kernel picks one).
        #[arg(long)]
        id: Option<u8>,
        /// The port (signal endpoints).
        #[arg(long)]
        port: Option<u16>,
        /// The interface the subflows use.
        #[arg(long, value_name = "IFACE")]
        dev: Option<String>,
        /// Flags, comma-separated: signal, subflow, backup, fullmesh.
        #[arg(long, value_delimiter = ',', default_value = "signal")]
        flags: Vec<String>,
    },
    /// Remove an endpoint by id or address.
    Del {
        /// The id or the address.
        endpoint: String,
    },
    /// Change the backup and fullmesh flags of an endpoint.
    Flags {
        /// The id or the address.
        endpoint: String,
        /// Backup: on or off.
        #[arg(long, value_name = "on|off")]
        backup: Option<String>,
        /// Fullmesh: on or off.
        #[arg(long, value_name = "on|off")]
        fullmesh: Option<String>,
    },
}

/// An endpoint named by id or address.
fn endpoint_ref(text: &str) -> Res<nettune::mptcp::EndpointRef> {
    if let Ok(id) = text.parse::<u8>() {
        return Ok(nettune::mptcp::EndpointRef::Id(id));
    }
    text.parse::<std::net::IpAddr>()
        .map(nettune::mptcp::EndpointRef::Addr)
        .map_err(|_| Fail::Usage(format!("{text:?}: not an endpoint id (0-255) or address")))
}

/// `on` or `off`.
fn on_off(what: &str, v: Option<String>) -> Res<Option<bool>> {
    v.map(|v| match v.as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(Fail::Usage(format!("--{what} {other}: expected on or off"))),
    })
    .transpose()
}

/// A path-manager error: what the kernel or the checks refused is a usage error (nothing
/// changed), a failure to talk to it a run error.
fn pm_error(e: nettune::mptcp::Error) -> Fail {
    use nettune::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::Exists | ErrorKind::NotFound => {
            Fail::Usage(nettune::error::report(&e))
        }
        _ => Fail::Run(nettune::error::report(&e)),
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCmd {
    /// Print a profile: its entries and reasons, or as a sysctl.d or TOML file.
    Show {
        /// A built-in name or a TOML file.
        name: String,
        /// Print as a file: sysctl.d or toml.
        #[arg(long, value_name = "FORMAT")]
        emit: Option<String>,
    },
    /// The built-in profiles.
    List,
    /// Render a profile for another engine; what the format cannot carry is listed on
    /// stderr, item by item.
    Render {
        /// A built-in name or a TOML/JSON file.
        name: String,
        /// sysctl.d, tuned, k8s-pod, systemd-link (one .link file per interface),
        /// ansible (a task list), networkmanager (an [ethtool] keyfile section per
        /// interface) or openshift-tuned (a Node Tuning Operator Tuned resource).
        #[arg(long, value_name = "FORMAT")]
        to: String,
        /// Write each file into this directory (atomically, under its own name) instead
        /// of printing.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// The Kubernetes version whose kubelet safe sysctls apply (k8s-pod): 1.32.
        #[arg(long, value_name = "1.MINOR", default_value = "1.37")]
        kubernetes: String,
        /// The NetworkManager version the keyfile is for (networkmanager): channels
        /// need 1.46.
        #[arg(long, value_name = "1.MINOR", default_value = "1.42")]
        networkmanager: String,
    },
    /// Read another engine's file as a profile (printed as TOML).
    Import {
        /// tuned (a tuned.conf) or sysctl.d (a sysctl.d file).
        #[arg(long, value_name = "FORMAT")]
        from: String,
        /// The file.
        file: std::path::PathBuf,
    },
}

fn load(profile: &str) -> Res<nettune::Profile> {
    usage(nettune::Profile::load(profile).map_err(|e| nettune::error::report(&e)))
}

pub(crate) fn dispatch(ctx: &mut Ctx, cmd: Cmd) -> Res {
    match cmd {
        Cmd::Audit {
            profile,
            interval,
            advice,
        } => {
            let p = load(&profile)?;
            let interval = interval
                .map(|i| usage(parse_duration("--interval", &i)))
                .transpose()?;
            crate::audit::audit(ctx, &p, interval, advice.as_deref())
        }
        Cmd::Apply { profile, txn } => {
            let p = load(&profile)?;
            txn.apply(ctx, &p)
        }
        Cmd::Rollback { file, no_wait } => txn::rollback(ctx, &file, no_wait),
        Cmd::Recover { file, no_wait } => txn::recover(ctx, &file, no_wait),
        Cmd::Verify { profile, strict } => {
            let p = load(&profile)?;
            txn::verify(ctx, &p, strict)
        }
        Cmd::Sysctl { cmd } => sysctl(ctx, cmd),
        Cmd::Nic { cmd } => nic(ctx, cmd),
        Cmd::Conntrack { cmd } => conntrack(ctx, cmd),
        Cmd::Mptcp { cmd } => mptcp(ctx, cmd),
        Cmd::Bdp { bandwidth, rtt } => bdp(ctx, &bandwidth, &rtt),
        Cmd::Profile { cmd } => profile(ctx, cmd),
        Cmd::Tune { args } => crate::tune::tune(ctx, &args),
        Cmd::Agent { args } => crate::agent::agent(ctx, &args),
        Cmd::Exporter {
            listen,
            textfile,
            interval,
            profile,
            journal,
            tune_journal,
        } => {
            let interval = interval
                .map(|i| usage(parse_duration("--interval", &i)))
                .transpose()?;
            let mut exporter = nettune::Exporter::new(txn::target(ctx)?);
            if let Some(p) = profile {
                exporter = exporter.with_profile(load(&p)?);
            }
            if let Some(j) = journal {
                exporter = exporter.with_journal(j);
            }
            if let Some(j) = tune_journal {
                exporter = exporter.with_tune_history(j);
            }
            exporter_run(exporter, listen.as_deref(), textfile.as_deref(), interval)
        }
    }
}

/// Runs the exporter: serves HTTP on `listen`, or writes `textfile` once (or every
/// `interval`).
fn exporter_run(
    mut exporter: nettune::Exporter,
    listen: Option<&str>,
    textfile: Option<&std::path::Path>,
    interval: Option<Duration>,
) -> Res {
    if let Some(path) = textfile {
        loop {
            exporter
                .write_textfile(path)
                .map_err(|e| Fail::Run(format!("--textfile {}: {e}", path.display())))?;
            match interval {
                Some(i) => std::thread::sleep(i),
                None => return Ok(()),
            }
        }
    }
    let addr = listen.unwrap_or_default();
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Fail::Usage(format!("--listen {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_or_else(|_| addr.to_owned(), |a| a.to_string());
    eprintln!("nettune: exporter on http://{bound}/metrics");
    exporter
        .serve(&listener)
        .map_err(|e| Fail::Run(format!("--listen {bound}: {e}")))
}

/// A one-off change (`sysctl set`, `nic set`): the same transaction as `apply`, all or
/// nothing, strict, its journal removed once it succeeded.
fn one_off(ctx: &mut Ctx, p: &nettune::Profile) -> Res {
    let dir = std::env::temp_dir().join(format!("nettune-{}", std::process::id()));
    run(std::fs::create_dir_all(&dir))?;
    let journal = dir.join("one-off.journal");
    let result = txn::apply(
        ctx,
        &txn::ApplyArgs {
            profile: p,
            dry_run: false,
            journal: Some(&journal),
            strict: true,
            no_wait: false,
            allow_host_keys: false,
            ephemeral: true,
        },
    );
    // Kept only when the apply failed and could not put everything back.
    if !journal.exists() {
        let _ = std::fs::remove_dir(&dir);
    }
    result
}

// ---- sysctl ------------------------------------------------------------------------------

fn sysctl(ctx: &mut Ctx, cmd: SysctlCmd) -> Res {
    let sys = ctx.sysctl();
    match cmd {
        SysctlCmd::Get { values_only, keys } => {
            // As procps: every key is tried; the ones that fail are named on stderr and
            // make the exit code 1 (2 when a name is not a key at all).
            let mut obj = serde_json::Map::new();
            let mut failed = Vec::new();
            let mut invalid = false;
            for text in &keys {
                let read = match Key::new(text) {
                    Ok(k) => sys
                        .read_raw(&k)
                        .map(|v| (k, v))
                        .map_err(|e| nettune::error::report(&e)),
                    Err(e) => {
                        invalid = true;
                        Err(nettune::error::report(&e))
                    }
                };
                match read {
                    Ok((k, v)) if ctx.json => {
                        obj.insert(k.to_string(), Value::String(v));
                    }
                    Ok((_, v)) if values_only => writeln!(ctx.out, "{}", flat(&v))?,
                    Ok((k, v)) => writeln!(ctx.out, "{k} = {}", flat(&v))?,
                    Err(e) => {
                        eprintln!("nettune: {e}");
                        failed.push(text.as_str());
                    }
                }
            }
            if ctx.json {
                ctx.json(&Value::Object(obj))?;
            }
            let message = format!(
                "{} of {} key(s) could not be read: {}",
                failed.len(),
                keys.len(),
                failed.join(", ")
            );
            match (failed.is_empty(), invalid) {
                (true, _) => Ok(()),
                (false, true) => Err(Fail::Usage(message)),
                (false, false) => Err(Fail::Run(message)),
            }
        }
        SysctlCmd::Set { assignments } => {
            let mut p = nettune::Profile::new("command line");
            for a in &assignments {
                let (k, v) = a
                    .split_once('=')
                    .ok_or_else(|| Fail::Usage(format!("{a:?}: expected KEY=VALUE")))?;
                usage(
                    p.set(k.trim(), v.trim(), "nettune sysctl set")
                        .map(drop)
                        .map_err(|e| nettune::error::report(&e)),
                )?;
            }
            drop(sys);
            one_off(ctx, &p)
        }
        SysctlCmd::List { pattern } => {
            let pattern = usage(Key::new(&pattern))?;
            let tree = match sys.read_matching(&pattern) {
                Ok(t) => t,
                Err(e @ nettune::sysctl::Error::InvalidKey { .. }) => return usage(Err(e)),
                Err(e) => return run(Err(e)),
            };
            if ctx.json {
                let obj: serde_json::Map<String, Value> = tree
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.to_string(), Value::String(v.ok()?))))
                    .collect();
                return ctx.json(&Value::Object(obj));
            }
            for (k, v) in tree {
                if let Ok(v) = v {
                    writeln!(ctx.out, "{k} = {}", flat(&v))?;
                }
            }
            Ok(())
        }
        SysctlCmd::Load {
            files,
            config,
            net_only,
            txn,
        } => {
            let config = if files.is_empty() {
                config.load()?
            } else {
                SysctlConfig::from_files(
                    files
                        .iter()
                        .map(|f| usage(SysctlD::load(f)))
                        .collect::<Res<Vec<_>>>()?,
                )
            };
            let p = sysctl_d_profile(&config, &sys, net_only)?;
            drop(sys);
            txn.apply(ctx, &p)
        }
        SysctlCmd::Origin { keys, config } => {
            let config = config.load()?;
            for w in config.warnings() {
                eprintln!("nettune: warning: {w}");
            }
            let resolved = run(config.resolve(&sys))?;
            let mut obj = serde_json::Map::new();
            let mut unset = Vec::new();
            for text in &keys {
                let key = usage(Key::new(text))?;
                match resolved.iter().find(|r| r.key == key) {
                    Some(r) if ctx.json => {
                        obj.insert(
                            key.to_string(),
                            json!({
                                "value": r.value,
                                "file": r.origin.file.display().to_string(),
                                "line": r.origin.line,
                                "optional": r.optional,
                            }),
                        );
                    }
                    Some(r) => writeln!(ctx.out, "{key} = {}  ({})", r.value, r.origin)?,
                    None => {
                        if ctx.json {
                            obj.insert(key.to_string(), Value::Null);
                        } else {
                            eprintln!("nettune: {key}: set by no file");
                        }
                        unset.push(key.to_string());
                    }
                }
            }
            if ctx.json {
                ctx.json(&Value::Object(obj))?;
            }
            if unset.is_empty() {
                Ok(())
            } else {
                Err(Fail::Run(format!(
                    "set by no sysctl.d file: {}",
                    unset.join(", ")
                )))
            }
        }
    }
}

/// A sysctl.d configuration as a whole-host profile. Skipped lines are named on stderr
/// and refuse the load (a transaction applies a file whole or not at all); with
/// `net_only`, the keys that do not belong to a network namespace are left out and named.
fn sysctl_d_profile(
    config: &SysctlConfig,
    sys: &nettune::sysctl::Sysctl,
    net_only: bool,
) -> Res<nettune::Profile> {
    let mut skipped = 0;
    for w in config.warnings() {
        eprintln!("nettune: warning: {w}");
        skipped += usize::from(w.skipped);
    }
    if skipped > 0 {
        return Err(Fail::Usage(format!(
            "{skipped} malformed line(s) (named above): nothing was written; fix them (systemd-sysctl would skip them and fail)"
        )));
    }
    let sysctl_profile = usage(config.to_profile(sys))?;
    let mut p = nettune::Profile::from_sysctl(&sysctl_profile);
    if net_only {
        let mut kept = nettune::Profile::new(p.name());
        for rule in p.sysctls() {
            let global = nettune::sysctl::knobs::info(&rule.key)
                .is_some_and(|k| k.scope == nettune::sysctl::knobs::Scope::Global);
            if rule.key.components().next() == Some("net") && !global {
                kept.push_sysctl(rule.clone());
            } else {
                eprintln!(
                    "nettune: {}: left out (--net-only): it does not belong to a network namespace",
                    rule.key
                );
            }
        }
        p = kept;
    }
    Ok(p)
}

/// Whitespace runs folded, for display.
pub(crate) fn flat(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- nic ---------------------------------------------------------------------------------

pub(crate) fn open_nic(ctx: &Ctx, name: &str) -> Res<nettune::nic::Nic> {
    let r = match &ctx.netns {
        Some(ns) => nettune::nic::Nic::open_in(ns, name),
        None => nettune::nic::Nic::open(name),
    };
    r.map_err(|e| match e {
        nettune::nic::Error::InvalidName { .. } | nettune::nic::Error::NoSuchInterface { .. } => {
            Fail::Usage(nettune::error::report(&e))
        }
        other => Fail::Run(nettune::error::report(&other)),
    })
}

pub(crate) fn list_nics(ctx: &Ctx) -> Res<Vec<String>> {
    let list = match &ctx.netns {
        Some(ns) => nettune::nic::Nic::list_in(ns),
        None => nettune::nic::Nic::list(),
    };
    Ok(run(list)?.into_iter().map(|n| n.to_string()).collect())
}

fn opt_json<T: serde::Serialize>(r: nettune::nic::Result<T>) -> Value {
    match r {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) if e.is_unsupported() => Value::Null,
        Err(e) => json!({ "error": nettune::error::report(&e) }),
    }
}

fn fields_map(fields: Vec<(&'static str, u32)>) -> BTreeMap<&'static str, u32> {
    fields.into_iter().collect()
}

fn nic_json(nic: &nettune::nic::Nic) -> Value {
    let features = nic.features().map(|f| {
        f.iter()
            .map(|x| {
                (
                    x.name.to_owned(),
                    json!({ "active": x.active, "requested": x.requested, "fixed": x.fixed }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    });
    json!({
        "name": nic.name().as_str(),
        "driver": opt_json(nic.driver_info().map(|d| json!({ "driver": d.driver, "version": d.version, "firmware": d.firmware, "bus_info": d.bus_info }))),
        "link_up": opt_json(nic.link_up()),
        "features": opt_json(features),
        "coalesce": opt_json(nic.coalesce().map(|c| fields_map(c.fields()))),
        "rings": opt_json(nic.rings().map(|r| fields_map(r.fields()))),
        "channels": opt_json(nic.channels().map(|c| fields_map(c.fields()))),
        "rss": opt_json(nic.rss().map(|r| json!({ "indirection": r.indirection, "key_len": r.key.len(), "hfunc": r.hfunc }))),
        "pause": opt_json(nic.pause()),
        "link": opt_json(nic.link_settings()),
        "private_flags": opt_json(nic.private_flags().map(|f| f.into_iter().collect::<BTreeMap<_, _>>())),
        "rules": opt_json(nic.rules().map(|r| r.len())),
        "backends": backends(nic),
    })
}

/// Which interface each part `nic show` reads went through.
fn backends(nic: &nettune::nic::Nic) -> BTreeMap<&'static str, &'static str> {
    use nettune::nic::NicOp;
    use nettune::nic::ethnl::Backend;
    [
        ("features", NicOp::Features),
        ("coalesce", NicOp::Coalesce),
        ("rings", NicOp::Rings),
        ("channels", NicOp::Channels),
        ("rss", NicOp::Rss),
        ("pause", NicOp::Pause),
        ("link", NicOp::LinkSettings),
        ("private_flags", NicOp::PrivateFlags),
        ("rules", NicOp::Rules),
    ]
    .into_iter()
    .map(|(part, op)| {
        let b = match nic.backend_for(op) {
            Backend::Netlink => "netlink",
            _ => "ioctl",
        };
        (part, b)
    })
    .collect()
}

fn show_part<T>(
    out: &mut impl Write,
    label: &str,
    r: nettune::nic::Result<T>,
    f: impl FnOnce(T) -> String,
) -> Res {
    let text = match r {
        Ok(v) => f(v),
        Err(e) if e.is_unsupported() => "not supported by the driver".into(),
        Err(e) => format!("error: {e}"),
    };
    writeln!(out, "  {label:<10} {text}")?;
    Ok(())
}

fn nic(ctx: &mut Ctx, cmd: NicCmd) -> Res {
    match cmd {
        NicCmd::Stats { iface } => {
            let nic = open_nic(ctx, &iface)?;
            let stats = nic
                .driver_stats()
                .map_err(|e| Fail::Run(nettune::error::report(&e)))?;
            // The standard groups exist only over netlink; a kernel without them has none.
            let groups = nic
                .netlink()
                .and_then(|nl| nl.std_stats(&iface))
                .unwrap_or_default();
            if ctx.json {
                let v = json!({
                    "name": iface,
                    "driver": stats.stats.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
                    "groups": groups.iter().map(|g| (g.group.clone(), g.stats.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>())).collect::<BTreeMap<_, _>>(),
                });
                return ctx.json(&v);
            }
            writeln!(ctx.out, "{iface}:")?;
            for (n, v) in &stats.stats {
                writeln!(ctx.out, "  {n}: {v}")?;
            }
            for g in &groups {
                for (n, v) in &g.stats {
                    writeln!(ctx.out, "  {}/{n}: {v}", g.group)?;
                }
            }
            Ok(())
        }
        NicCmd::Show { ifaces, ioctl } => {
            let names = if ifaces.is_empty() {
                list_nics(ctx)?
            } else {
                ifaces
            };
            let backend = if ioctl {
                nettune::nic::ethnl::Backend::Ioctl
            } else {
                nettune::nic::ethnl::Backend::Netlink
            };
            let nics = names
                .iter()
                .map(|n| open_nic(ctx, n).map(|nic| nic.prefer(backend)))
                .collect::<Res<Vec<_>>>()?;
            if ctx.json {
                let v: Vec<Value> = nics.iter().map(nic_json).collect();
                return ctx.json(&Value::Array(v));
            }
            for nic in &nics {
                writeln!(ctx.out, "{}:", nic.name())?;
                show_part(&mut ctx.out, "driver", nic.driver_info(), |d| {
                    format!("{} {} {}", d.driver, d.version, d.bus_info)
                })?;
                show_part(&mut ctx.out, "features", nic.features(), |f| {
                    let on: Vec<&str> = f.iter().filter(|x| x.active).map(|x| x.name).collect();
                    format!("on: {}", on.join(" "))
                })?;
                show_part(&mut ctx.out, "coalesce", nic.coalesce(), |c| {
                    c.fields()
                        .iter()
                        .filter(|(_, v)| *v != 0)
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })?;
                show_part(&mut ctx.out, "rings", nic.rings(), |r| {
                    format!("rx {}/{} tx {}/{}", r.rx, r.rx_max, r.tx, r.tx_max)
                })?;
                show_part(&mut ctx.out, "channels", nic.channels(), |c| {
                    format!(
                        "rx {}/{} tx {}/{} combined {}/{}",
                        c.rx, c.max_rx, c.tx, c.max_tx, c.combined, c.max_combined
                    )
                })?;
                show_part(&mut ctx.out, "rss", nic.rss(), |r| {
                    format!("{} buckets, {}-byte key", r.indirection.len(), r.key.len())
                })?;
                show_part(&mut ctx.out, "pause", nic.pause(), |p| {
                    format!("autoneg {} rx {} tx {}", p.autoneg, p.rx, p.tx)
                })?;
                show_part(&mut ctx.out, "link", nic.link_settings(), |l| {
                    let speed = l.speed.map_or("unknown".to_owned(), |s| format!("{s}Mb/s"));
                    format!("{speed} {:?} autoneg {}", l.duplex, l.autoneg)
                })?;
                show_part(&mut ctx.out, "flags", nic.private_flags(), |f| {
                    f.iter()
                        .map(|(n, on)| format!("{n}={}", if *on { "on" } else { "off" }))
                        .collect::<Vec<_>>()
                        .join(" ")
                })?;
                show_part(&mut ctx.out, "rules", nic.rules(), |r| {
                    format!("{} n-tuple rules", r.len())
                })?;
                let via: Vec<String> = backends(nic)
                    .into_iter()
                    .map(|(part, b)| format!("{part}={b}"))
                    .collect();
                writeln!(ctx.out, "  {:<10} {}", "via", via.join(" "))?;
            }
            Ok(())
        }
        NicCmd::Set {
            iface,
            offloads,
            coalesce,
            rings,
            channels,
        } => {
            let mut settings = nettune::profile::NicProfile::default();
            for o in &offloads {
                let (n, v) = o
                    .split_once('=')
                    .ok_or_else(|| Fail::Usage(format!("{o:?}: expected NAME=on|off")))?;
                let on = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err(Fail::Usage(format!("{o:?}: {v:?} is not on or off"))),
                };
                settings.offloads.insert(n.to_owned(), on);
            }
            for (list, map) in [
                (&coalesce, &mut settings.coalesce),
                (&rings, &mut settings.rings),
                (&channels, &mut settings.channels),
            ] {
                for a in list {
                    let (f, v) = a
                        .split_once('=')
                        .ok_or_else(|| Fail::Usage(format!("{a:?}: expected FIELD=N")))?;
                    let n: u32 = v
                        .parse()
                        .map_err(|_| Fail::Usage(format!("{a:?}: {v:?} is not a number")))?;
                    map.insert(f.to_owned(), n);
                }
            }
            let name = usage(nettune::nic::IfName::new(&iface))?;
            let mut p = nettune::Profile::new("command line");
            usage(
                p.set_nic(name, settings)
                    .map(drop)
                    .map_err(|e| nettune::error::report(&e)),
            )?;
            one_off(ctx, &p)
        }
    }
}

// ---- transactions: see txn.rs ---------------------------------------------------------

pub(crate) fn open_pm(ctx: &Ctx) -> Res<nettune::mptcp::PathManager> {
    run(match &ctx.netns {
        Some(ns) => nettune::mptcp::PathManager::open_in(ns),
        None => nettune::mptcp::PathManager::open(),
    })
}

// ---- conntrack ---------------------------------------------------------------------------

pub(crate) fn open_ct(ctx: &Ctx) -> Res<nettune::conntrack::Conntrack> {
    run(match &ctx.netns {
        Some(ns) => nettune::conntrack::Conntrack::open_in(ns),
        None => nettune::conntrack::Conntrack::open(),
    })
}

fn parse_u32(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => text.parse().ok(),
    }
}

fn ct_filter(a: &CtFilterArgs) -> Res<nettune::conntrack::Filter> {
    let mut f = nettune::conntrack::Filter::new();
    if let Some(m) = &a.mark {
        let (v, mask) = match m.split_once('/') {
            Some((v, mask)) => (parse_u32(v), parse_u32(mask)),
            None => (parse_u32(m), Some(u32::MAX)),
        };
        let (Some(v), Some(mask)) = (v, mask) else {
            return Err(Fail::Usage(format!(
                "--mark {m}: expected VALUE or VALUE/MASK"
            )));
        };
        f = f.mark(v, mask);
    }
    if let Some(fam) = &a.family {
        f = f.family(match fam.as_str() {
            "ipv4" | "4" => nettune::conntrack::Family::Ipv4,
            "ipv6" | "6" => nettune::conntrack::Family::Ipv6,
            other => {
                return Err(Fail::Usage(format!(
                    "--family {other}: expected ipv4 or ipv6"
                )));
            }
        });
    }
    let mut t = nettune::conntrack::TupleFilter::default();
    if let Some(src) = &a.src {
        let (addr, len) = net("src", src)?;
        t = t.src_net(addr, len);
    }
    if let Some(dst) = &a.dst {
        let (addr, len) = net("dst", dst)?;
        t = t.dst_net(addr, len);
    }
    t.protocol = a.proto.as_deref().map(protocol).transpose()?;
    t.src_port = a.sport;
    t.dst_port = a.dport;
    if (t.src_port.is_some() || t.dst_port.is_some()) && t.protocol.is_none() {
        return Err(Fail::Usage("--sport and --dport need --proto".into()));
    }
    if t != nettune::conntrack::TupleFilter::default() {
        f = f.original(t);
    }
    Ok(f)
}

/// Writes one entry as `conntrack -L` prints it (libnetfilter_conntrack's default
/// format: counters after each tuple when accounting is on, `delta-time` when timestamps
/// are on), straight into `out` (no allocation); `now` is the wall clock in seconds.
fn write_entry(
    out: &mut impl Write,
    e: &nettune::conntrack::Entry,
    now: u64,
) -> std::io::Result<()> {
    use nettune::conntrack::Status;
    write!(
        out,
        "{:<8} {} ",
        e.original.protocol_name(),
        e.original.protocol
    )?;
    if let Some(t) = e.timeout {
        write!(out, "{} ", t.as_secs())?;
    }
    if let Some(tcp) = e.tcp {
        write!(out, "{} ", tcp.state.as_str())?;
    }
    if let Some(p) = &e.proto_state {
        write!(out, "{} ", p.as_str())?;
    }
    write!(out, "{}", e.original)?;
    if let Some(c) = e.counters_original {
        write!(out, " packets={} bytes={}", c.packets, c.bytes)?;
    }
    if !e.status.contains(Status::SEEN_REPLY) {
        write!(out, " [UNREPLIED]")?;
    }
    if let Some(r) = &e.reply {
        write!(out, " {r}")?;
        if let Some(c) = e.counters_reply {
            write!(out, " packets={} bytes={}", c.packets, c.bytes)?;
        }
    }
    if e.status.contains(Status::ASSURED) {
        write!(out, " [ASSURED]")?;
    }
    write!(out, " mark={}", e.mark.unwrap_or(0))?;
    if let Some(c) = e.secctx() {
        write!(out, " secctx={c}")?;
    } else if let Some(m) = e.secmark {
        write!(out, " secmark={m}")?;
    }
    if let Some(z) = e.zone {
        write!(out, " zone={z}")?;
    }
    if let Some(t) = e.timestamps {
        write!(
            out,
            " delta-time={}",
            now.saturating_sub(t.start / 1_000_000_000)
        )?;
    }
    if let Some(h) = e.helper() {
        write!(out, " helper={h}")?;
    }
    match e.use_count {
        Some(n) => writeln!(out, " use={n}"),
        // Events carry no reference count; `conntrack -E` prints none either.
        None => writeln!(out),
    }
}

/// The wall clock in whole seconds, as `conntrack` takes it for `delta-time`.
fn wall_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn conntrack(ctx: &mut Ctx, cmd: CtCmd) -> Res {
    let ct = open_ct(ctx)?;
    match cmd {
        CtCmd::List { filter } => {
            // What the kernel cannot filter (an exact IPv6 address) is filtered here.
            let f = ct_filter(&filter)?.userspace_fallback(true);
            let progress = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
            let mut n = 0u64;
            if ctx.json {
                writeln!(ctx.out, "[")?;
            }
            let now = wall_seconds();
            // The dump (the kernel's work) runs on a thread of its own and hands over
            // the replies undecoded, in batches; this thread decodes, formats and writes.
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<Result<nettune::conntrack::RawBatch, _>>(16);
            let dumping = |tx: std::sync::mpsc::SyncSender<Result<_, _>>| {
                let mut dump = match ct.dump(&f) {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                while let Some(batch) = dump.next_raw_batch(256) {
                    let failed = batch.is_err();
                    if tx.send(batch).is_err() || failed {
                        return;
                    }
                }
            };
            std::thread::scope(|s| -> Res {
                s.spawn(move || dumping(tx));
                for batch in rx {
                    let batch = run(batch)?;
                    for e in batch.entries() {
                        let e = run(e)?;
                        if ctx.json {
                            if n > 0 {
                                writeln!(ctx.out, ",")?;
                            }
                            run(serde_json::to_writer(&mut ctx.out, &e))?;
                        } else {
                            write_entry(&mut ctx.out, &e, now)?;
                        }
                        n += 1;
                        if progress && n % 10_000 == 0 {
                            eprint!("\rlisted {n} entries");
                        }
                    }
                }
                Ok(())
            })?;
            if ctx.json {
                writeln!(ctx.out, "\n]")?;
            }
            if progress {
                eprintln!("\rlisted {n} entries");
            }
            Ok(())
        }
        CtCmd::Expect => {
            let all = run(ct.expectations())?;
            if ctx.json {
                return ctx.json(&run(serde_json::to_value(&all))?);
            }
            for e in all {
                writeln!(
                    ctx.out,
                    "{} proto={} {} master={}{}",
                    e.timeout.map_or(0, |t| t.as_secs()),
                    e.tuple.protocol,
                    e.tuple,
                    e.master,
                    e.helper.map(|h| format!(" helper={h}")).unwrap_or_default()
                )?;
            }
            Ok(())
        }
        CtCmd::Count => {
            let c = run(ct.count())?;
            if ctx.json {
                return ctx.json(&run(serde_json::to_value(c))?);
            }
            writeln!(
                ctx.out,
                "{} of {} ({:.1}%)",
                c.entries,
                c.max,
                c.fill() * 100.0
            )?;
            Ok(())
        }
        CtCmd::Stats => {
            let stats = run(ct.stats())?;
            if ctx.json {
                return ctx.json(&run(serde_json::to_value(&stats))?);
            }
            for s in stats {
                writeln!(
                    ctx.out,
                    "cpu={} found={} invalid={} insert={} insert_failed={} drop={} early_drop={} error={} search_restart={} clash_resolve={} chaintoolong={}",
                    s.cpu,
                    s.found,
                    s.invalid,
                    s.insert,
                    s.insert_failed,
                    s.drop,
                    s.early_drop,
                    s.error,
                    s.search_restart,
                    s.clash_resolve,
                    s.chaintoolong
                )?;
            }
            Ok(())
        }
        CtCmd::Flush { filter } => {
            let f = ct_filter(&filter)?;
            let before = run(ct.count())?.entries;
            if std::io::stderr().is_terminal() {
                eprint!("flushing...");
            }
            run(ct.flush(&f))?;
            let after = run(ct.count())?.entries;
            if std::io::stderr().is_terminal() {
                eprintln!(" done");
            }
            writeln!(
                ctx.out,
                "flushed {} entries ({} left)",
                before.saturating_sub(after),
                after
            )?;
            Ok(())
        }
        CtCmd::Watch { count } => {
            let events = run(ct.events(nettune::conntrack::EventConfig {
                recv_buffer: Some(8 << 20),
                ..nettune::conntrack::EventConfig::default()
            }))?;
            let mut n = 0;
            for ev in events {
                let (kind, entry) = match run(ev)? {
                    nettune::conntrack::Event::New(e) => ("NEW", Some(e)),
                    nettune::conntrack::Event::Update(e) => ("UPDATE", Some(e)),
                    nettune::conntrack::Event::Destroy(e) => ("DESTROY", Some(e)),
                    nettune::conntrack::Event::Overrun => ("OVERRUN", None),
                    _ => ("UNKNOWN", None),
                };
                if ctx.json {
                    // One JSON object per line, as events arrive.
                    let v = json!({ "event": kind.to_ascii_lowercase(), "entry": entry });
                    run(serde_json::to_writer(&mut ctx.out, &v))?;
                    writeln!(ctx.out)?;
                } else {
                    // As `conntrack -E` prints it: the kind right-aligned, then the entry.
                    match &entry {
                        Some(e) => {
                            write!(ctx.out, "{:>9} ", format!("[{kind}]"))?;
                            write_entry(&mut ctx.out, e, wall_seconds())?;
                        }
                        None => writeln!(
                            ctx.out,
                            "[{kind}] events were lost: resync with conntrack list"
                        )?,
                    }
                }
                ctx.out.flush()?;
                n += 1;
                if count != 0 && n >= count {
                    break;
                }
            }
            Ok(())
        }
    }
}

// ---- mptcp -------------------------------------------------------------------------------

fn mptcp(ctx: &mut Ctx, cmd: MptcpCmd) -> Res {
    let pm = open_pm(ctx)?;
    match cmd {
        MptcpCmd::Endpoints => {
            let eps = run(pm.endpoints())?;
            if ctx.json {
                return ctx.json(&run(serde_json::to_value(&eps))?);
            }
            for e in eps {
                let port = e.port.map(|p| format!(" port {p}")).unwrap_or_default();
                writeln!(
                    ctx.out,
                    "{}{port} id {} {}",
                    e.addr,
                    e.id,
                    e.flags.names().join(" ")
                )?;
            }
            Ok(())
        }
        MptcpCmd::Endpoint { cmd } => match cmd {
            EndpointCmd::Add {
                addr,
                id,
                port,
                dev,
                flags,
            } => {
                let mut f = nettune::mptcp::EndpointFlags::empty();
                for name in &flags {
                    let known = nettune::mptcp::EndpointFlags::NAMES
                        .iter()
                        .find(|(_, n)| n == name)
                        .ok_or_else(|| {
                            Fail::Usage(format!(
                                "--flags {name}: expected signal, subflow, backup or fullmesh"
                            ))
                        })?;
                    f |= known.0;
                }
                let mut spec = nettune::mptcp::EndpointSpec::new(addr).flags(f);
                if let Some(id) = id {
                    spec = spec.id(id);
                }
                if let Some(port) = port {
                    spec = spec.port(port);
                }
                if let Some(dev) = dev {
                    spec = spec.interface(nettune::mptcp::Interface::Name(dev));
                }
                let id = pm.add_endpoint(&spec).map_err(pm_error)?;
                if ctx.json {
                    return ctx.json(&json!({ "id": id }));
                }
                writeln!(ctx.out, "{id}")?;
                Ok(())
            }
            EndpointCmd::Del { endpoint } => pm
                .remove_endpoint(endpoint_ref(&endpoint)?)
                .map_err(pm_error),
            EndpointCmd::Flags {
                endpoint,
                backup,
                fullmesh,
            } => {
                let (backup, fullmesh) = (on_off("backup", backup)?, on_off("fullmesh", fullmesh)?);
                if backup.is_none() && fullmesh.is_none() {
                    return Err(Fail::Usage(
                        "nothing to change: give --backup and/or --fullmesh".into(),
                    ));
                }
                pm.set_flags(endpoint_ref(&endpoint)?, backup, fullmesh)
                    .map_err(pm_error)
            }
        },
        MptcpCmd::Limits { set } => {
            if let Some(s) = set {
                let (a, b) = s.split_once(',').ok_or_else(|| {
                    Fail::Usage(format!("--set {s}: expected SUBFLOWS,ADD_ADDR_ACCEPTED"))
                })?;
                let n = |v: &str| {
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| Fail::Usage(format!("--set {s}: {v:?} is not a number")))
                };
                let (sf, acc) = (n(a)?, n(b)?);
                run(pm.set_limits(sf, acc))?;
            }
            let l = run(pm.limits())?;
            if ctx.json {
                return ctx.json(&run(serde_json::to_value(l))?);
            }
            writeln!(
                ctx.out,
                "subflows {} add_addr_accepted {}",
                l.subflows, l.add_addr_accepted
            )?;
            Ok(())
        }
        MptcpCmd::Monitor { count } => {
            let events = run(pm.events())?;
            let mut n = 0;
            for ev in events {
                let nettune::mptcp::PmNotice::Event(e) = run(ev)? else {
                    if ctx.json {
                        writeln!(ctx.out, "{}", json!({ "kind": "overrun" }))?;
                    } else {
                        writeln!(
                            ctx.out,
                            "overrun: the kernel dropped events (the reader fell behind)"
                        )?;
                    }
                    ctx.out.flush()?;
                    n += 1;
                    if count != 0 && n >= count {
                        break;
                    }
                    continue;
                };
                if ctx.json {
                    // One JSON object per line, as events arrive.
                    run(serde_json::to_writer(&mut ctx.out, &e))?;
                    writeln!(ctx.out)?;
                } else {
                    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
                    let kind = e
                        .kind
                        .name()
                        .map_or_else(|| e.kind.get().to_string(), str::to_owned);
                    writeln!(
                        ctx.out,
                        "{kind} token={} {}:{} -> {}:{}",
                        opt(e.token.map(|t| t.to_string())),
                        opt(e.saddr.map(|a| a.to_string())),
                        opt(e.sport.map(|p| p.to_string())),
                        opt(e.daddr.map(|a| a.to_string())),
                        opt(e.dport.map(|p| p.to_string())),
                    )?;
                }
                ctx.out.flush()?;
                n += 1;
                if count != 0 && n >= count {
                    break;
                }
            }
            Ok(())
        }
    }
}

// ---- bdp, profile ------------------------------------------------------------------------

/// Parses `10gbit`, `100mbit`, `1.5gbit`, `25g`, `1000000` (bits per second).
pub(crate) fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("bit")
        .or_else(|| t.strip_suffix("bps"))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('m') => (&t[..t.len() - 1], 1e6),
        Some('g') => (&t[..t.len() - 1], 1e9),
        Some('t') => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| {
        format!("--bandwidth {text}: expected a number with kbit, mbit, gbit or tbit")
    })?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("--bandwidth {text}: must be above zero"));
    }
    Ok((v * mult) as u64)
}

/// Parses `10ms`, `150us`, `0.2s`.
pub(crate) fn parse_rtt(text: &str) -> Result<Duration, String> {
    parse_duration("--rtt", text)
}

/// Parses a duration option (`flag` names it in errors): `10ms`, `150us`, `0.2s`, `10s`,
/// `2m`.
pub(crate) fn parse_duration(flag: &str, text: &str) -> Result<Duration, String> {
    nettune::tune::parse_duration(text).map_err(|e| format!("{flag} {e}"))
}

fn bdp(ctx: &mut Ctx, bandwidth: &str, rtt: &str) -> Res {
    let bps = usage(parse_bandwidth(bandwidth))?;
    let rtt = usage(parse_rtt(rtt))?;
    let b = usage(Bdp::new(bps, rtt))?;
    let buf = b.buffer_bytes();
    if ctx.json {
        return ctx.json(&json!({ "bits_per_second": bps, "rtt_us": rtt.as_micros() as u64, "bdp_bytes": b.bytes(), "buffer_bytes": buf }));
    }
    writeln!(
        ctx.out,
        "bandwidth-delay product: {} bytes ({:.2} MB)",
        b.bytes(),
        b.bytes() as f64 / 1e6
    )?;
    writeln!(
        ctx.out,
        "buffer cap (2 x BDP, within the kernel's limits): {buf} bytes"
    )?;
    writeln!(ctx.out, "net.ipv4.tcp_rmem = 4096 131072 {buf}")?;
    writeln!(ctx.out, "net.ipv4.tcp_wmem = 4096 16384 {buf}")?;
    writeln!(
        ctx.out,
        "net.core.rmem_max = {buf}   # for applications that set SO_RCVBUF"
    )?;
    writeln!(
        ctx.out,
        "net.core.wmem_max = {buf}   # for applications that set SO_SNDBUF"
    )?;
    Ok(())
}

/// The sysctls of a profile as a sysctl.d file (written by the sysctl crate); what sysctl.d
/// cannot say (bounds, NIC, MPTCP and NOTRACK settings) is named in comments, never dropped
/// silently.
fn sysctl_d(p: &nettune::Profile) -> Res<String> {
    let r = run(p.render(
        nettune::render::Format::SysctlD,
        &nettune::render::RenderOptions::default(),
    ))?;
    Ok(with_unexpressed(&r, "sysctl.d"))
}

/// A rendered file, and what it could not carry as comments at its end.
fn with_unexpressed(r: &nettune::render::Rendered, what: &str) -> String {
    let mut out = r.text.clone();
    if !r.unexpressed.is_empty() {
        out.push_str(&format!(
            "\n# not carried by {what} as the profile says ({} item(s)):\n",
            r.unexpressed.len()
        ));
        for u in &r.unexpressed {
            out.push_str(&format!("#   {}: {}\n", u.item, u.why));
        }
    }
    out
}

fn profile(ctx: &mut Ctx, cmd: ProfileCmd) -> Res {
    match cmd {
        ProfileCmd::List => {
            if ctx.json {
                return ctx.json(&json!(nettune::profile::BUILTIN));
            }
            for n in nettune::profile::BUILTIN {
                writeln!(ctx.out, "{n}")?;
            }
            Ok(())
        }
        ProfileCmd::Render {
            name,
            to,
            out,
            kubernetes,
            networkmanager,
        } => {
            let p = load(&name)?;
            let format: nettune::render::Format = usage(to.parse())?;
            let minor = |flag: &str, v: &str| {
                v.strip_prefix("1.")
                    .and_then(|m| m.parse().ok())
                    .ok_or_else(|| Fail::Usage(format!("--{flag} {v}: give 1.MINOR")))
            };
            let r = usage(p.render(
                format,
                &nettune::render::RenderOptions {
                    kubernetes_minor: minor("kubernetes", &kubernetes)?,
                    networkmanager_minor: minor("networkmanager", &networkmanager)?,
                },
            ))?;
            if let Some(dir) = &out {
                let mut written = Vec::new();
                for f in &r.files {
                    let path = dir.join(&f.name);
                    nettune::netns::files::write_atomic(&path, f.text.as_bytes(), 0o644).map_err(
                        |e| {
                            Fail::Run(format!(
                                "--out {}: {e} (written before it: {})",
                                path.display(),
                                if written.is_empty() {
                                    "none".to_owned()
                                } else {
                                    written.join(", ")
                                }
                            ))
                        },
                    )?;
                    if !ctx.json {
                        writeln!(ctx.out, "wrote {}", path.display())?;
                    }
                    written.push(path.display().to_string());
                }
            }
            if ctx.json {
                return ctx.json(&run(serde_json::to_value(&r))?);
            }
            if out.is_none() {
                write!(ctx.out, "{}", r.text)?;
            }
            for u in &r.unexpressed {
                eprintln!("nettune: not in {to}: {}: {}", u.item, u.why);
            }
            Ok(())
        }
        ProfileCmd::Import { from, file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Fail::Usage(format!("{}: {e}", file.display())))?;
            let name = file.file_stem().map_or_else(
                || "imported".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            );
            let p = match from.as_str() {
                "tuned" => usage(nettune::Profile::from_tuned(&name, &text))?,
                "sysctl.d" => nettune::Profile::from_sysctl(&usage(
                    nettune::sysctl::Profile::from_sysctl_d(&text),
                )?),
                other => {
                    return Err(Fail::Usage(format!(
                        "--from {other}: expected tuned or sysctl.d"
                    )));
                }
            };
            write!(ctx.out, "{}", p.to_toml())?;
            Ok(())
        }
        ProfileCmd::Show { name, emit } => {
            let p = load(&name)?;
            match emit.as_deref() {
                Some("sysctl.d") => write!(ctx.out, "{}", sysctl_d(&p)?)?,
                Some("toml") => write!(ctx.out, "{}", p.to_toml())?,
                Some("json") => writeln!(ctx.out, "{}", p.to_json())?,
                Some(other) => {
                    return Err(Fail::Usage(format!(
                        "--emit {other}: expected sysctl.d, toml or json"
                    )));
                }
                None if ctx.json => {
                    let v: Vec<Value> = p
                        .sysctls()
                        .iter()
                        .map(|r| json!({ "key": r.key.to_string(), "value": r.want.value(), "want": r.want, "why": r.why }))
                        .collect();
                    return ctx.json(&json!({
                        "name": p.name(),
                        "sysctl": v,
                        "nic": run(serde_json::to_value(p.nics()))?,
                        "mptcp_limits": run(serde_json::to_value(p.mptcp_limits()))?,
                        "mptcp_endpoints": run(serde_json::to_value(p.endpoints()))?,
                        "notrack": run(serde_json::to_value(p.notrack()))?,
                    }));
                }
                None => {
                    writeln!(ctx.out, "profile {}", p.name())?;
                    for r in p.sysctls() {
                        let v = match &r.want {
                            nettune::Want::Exact(v) => v.clone(),
                            nettune::Want::AtLeast(v) => format!("at least {v}"),
                            nettune::Want::AtMost(v) => format!("at most {v}"),
                        };
                        writeln!(ctx.out, "  {} = {v}\n      {}", r.key, r.why)?;
                    }
                    for (iface, n) in p.nics() {
                        writeln!(ctx.out, "  nic {iface}: {}", run(serde_json::to_string(n))?)?;
                    }
                    if let Some(l) = p.mptcp_limits() {
                        writeln!(
                            ctx.out,
                            "  mptcp limits: subflows {} add_addr_accepted {}",
                            l.subflows, l.add_addr_accepted
                        )?;
                    }
                    for e in p.endpoints() {
                        writeln!(
                            ctx.out,
                            "  mptcp endpoint {} {}",
                            e.addr,
                            e.flags.names().join(",")
                        )?;
                    }
                    for r in p.notrack() {
                        writeln!(ctx.out, "  notrack {}", run(serde_json::to_string(r))?)?;
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_bandwidth("10gbit"), Ok(10_000_000_000));
        assert_eq!(parse_bandwidth("100mbit"), Ok(100_000_000));
        assert_eq!(parse_bandwidth("1.5g"), Ok(1_500_000_000));
        assert!(parse_bandwidth("fast").is_err());
        assert!(parse_bandwidth("0gbit").is_err());
        assert_eq!(parse_rtt("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_rtt("150us"), Ok(Duration::from_micros(150)));
        assert!(parse_rtt("10").is_err());
        assert!(parse_rtt("-1ms").is_err());
    }
}
