//! `mptcp_paths`: configures MPTCP endpoints and limits from arguments, then prints the
//! path manager's events as connections come and go.
//!
//! `cargo run -p nettune-examples --bin mptcp_paths -- --limits 2,2 --endpoint 10.2.0.1,eth1,signal`

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nettune::mptcp::{
    EndpointFlags, EndpointSpec, EventKind, Interface, PathManager, PmEvent, PmNotice,
};

/// Configure MPTCP paths and watch them.
#[derive(Debug, Parser)]
struct Args {
    /// Limits as SUBFLOWS,ADD_ADDR_ACCEPTED.
    #[arg(long)]
    limits: Option<String>,
    /// An endpoint as `ADDRESS[,INTERFACE][,FLAG...]` (flags: signal subflow backup fullmesh).
    #[arg(long = "endpoint")]
    endpoints: Vec<String>,
    /// Remove every endpoint first.
    #[arg(long)]
    flush: bool,
    /// Stop after this many events (0: run forever).
    #[arg(long, default_value_t = 0)]
    events: u64,
    /// Stop after this many seconds without an event (0: wait forever).
    #[arg(long, default_value_t = 0)]
    idle_secs: u64,
}

fn parse_endpoint(text: &str) -> Result<EndpointSpec, String> {
    let mut parts = text.split(',');
    let addr: IpAddr = parts
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| format!("--endpoint {text}: the first field must be an IP address"))?;
    let mut spec = EndpointSpec::new(addr);
    let mut flags = EndpointFlags::empty();
    for p in parts {
        match p {
            "signal" => flags |= EndpointFlags::SIGNAL,
            "subflow" => flags |= EndpointFlags::SUBFLOW,
            "backup" => flags |= EndpointFlags::BACKUP,
            "fullmesh" => flags |= EndpointFlags::FULLMESH,
            iface if !iface.is_empty() => spec = spec.interface(Interface::Name(iface.to_owned())),
            _ => {}
        }
    }
    Ok(spec.flags(flags))
}

fn describe(e: &PmEvent) -> String {
    let kind = match e.kind {
        EventKind::Created => "CREATED",
        EventKind::Established => "ESTABLISHED",
        EventKind::Closed => "CLOSED",
        EventKind::Announced => "ANNOUNCED",
        EventKind::Removed => "REMOVED",
        EventKind::SubEstablished => "SF_ESTABLISHED",
        EventKind::SubClosed => "SF_CLOSED",
        EventKind::SubPriority => "SF_PRIORITY",
        EventKind::ListenerCreated => "LISTENER_CREATED",
        EventKind::ListenerClosed => "LISTENER_CLOSED",
        _ => "OTHER",
    };
    let mut s = format!("[{kind}]");
    if let Some(t) = e.token {
        s.push_str(&format!(" token={t:08x}"));
    }
    if let (Some(a), Some(p)) = (e.saddr, e.sport) {
        s.push_str(&format!(" local={a}:{p}"));
    }
    if let Some(a) = e.daddr {
        s.push_str(&format!(
            " remote={a}{}",
            e.dport.map(|p| format!(":{p}")).unwrap_or_default()
        ));
    }
    if let Some(id) = e.rem_id {
        s.push_str(&format!(" remid={id}"));
    }
    if let Some(err) = e.error {
        s.push_str(&format!(" error={err}"));
    }
    s
}

fn run(args: Args) -> Result<(), String> {
    let specs = args
        .endpoints
        .iter()
        .map(|e| parse_endpoint(e))
        .collect::<Result<Vec<_>, _>>()?;
    let limits = match &args.limits {
        None => None,
        Some(l) => {
            let (a, b) = l
                .split_once(',')
                .ok_or("--limits wants SUBFLOWS,ADD_ADDR_ACCEPTED")?;
            let n = |v: &str| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("--limits {l}: {v:?} is not a number"))
            };
            Some((n(a)?, n(b)?))
        }
    };
    let pm = PathManager::open().map_err(|e| nettune::error::report(&e))?;
    if args.flush {
        pm.flush().map_err(|e| nettune::error::report(&e))?;
    }
    if let Some((subflows, accepted)) = limits {
        pm.set_limits(subflows, accepted)
            .map_err(|e| nettune::error::report(&e))?;
    }
    for spec in &specs {
        pm.add_endpoint(spec)
            .map_err(|e| nettune::error::report(&e))?;
    }
    let l = pm.limits().map_err(|e| nettune::error::report(&e))?;
    println!(
        "limits: subflows {} add_addr_accepted {}",
        l.subflows, l.add_addr_accepted
    );
    for e in pm.endpoints().map_err(|e| nettune::error::report(&e))? {
        println!(
            "endpoint: {} id {} {}",
            e.addr,
            e.id,
            e.flags.names().join(" ")
        );
    }
    let mut events = pm.events().map_err(|e| nettune::error::report(&e))?;
    println!("watching events");
    if args.idle_secs > 0 {
        events
            .set_timeout(Some(Duration::from_secs(args.idle_secs)))
            .map_err(|e| nettune::error::report(&e))?;
    }
    let mut seen = 0;
    loop {
        match events.next_event() {
            Ok(PmNotice::Event(e)) => println!("{}", describe(&e)),
            Ok(_) => println!("overrun: events were lost (paths may have changed unseen)"),
            Err(_) if args.idle_secs > 0 => return Ok(()),
            Err(e) => return Err(nettune::error::report(&e)),
        }
        seen += 1;
        if args.events != 0 && seen >= args.events {
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mptcp_paths: {e}");
            ExitCode::FAILURE
        }
    }
}
