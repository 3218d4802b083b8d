//! `nic_tune IFACE [--set NAME=on|off]... [--coalesce FIELD=N]...`: shows an interface's
//! driver, offloads, coalescing, rings, channels and RSS, then applies the changes asked
//! for and prints what each one did.
//!
//! `cargo run -p nettune-examples --bin nic_tune -- eth0 --set gro=on --set lro=off`

use std::process::ExitCode;

use clap::Parser;
use nettune::nic::{CoalesceUpdate, FeatureOutcome, Nic, Offload};

/// Show and tune a NIC.
#[derive(Debug, Parser)]
struct Args {
    /// The interface.
    iface: String,
    /// An offload to change: short name (gro, tso, ...) or kernel name, `=on` or `=off`.
    #[arg(long = "set", value_name = "NAME=on|off")]
    set: Vec<String>,
    /// A coalescing field to change (rx_usecs, rx_frames, ...), `=N`.
    #[arg(long = "coalesce", value_name = "FIELD=N")]
    coalesce: Vec<String>,
}

fn parse_set(s: &str) -> Result<(Offload, bool), String> {
    let (name, state) = s
        .split_once('=')
        .ok_or_else(|| format!("--set {s}: expected NAME=on|off"))?;
    let on = match state {
        "on" => true,
        "off" => false,
        other => return Err(format!("--set {s}: {other:?} is not on or off")),
    };
    Ok((name.parse().map_err(|e| format!("--set {s}: {e}"))?, on))
}

fn show(nic: &Nic) {
    let or_na = |e: nettune::nic::Error| {
        if e.is_unsupported() {
            "not supported by the driver".to_owned()
        } else {
            nettune::error::report(&e)
        }
    };
    match nic.driver_info() {
        Ok(d) => println!(
            "driver: {} {} bus {}",
            d.driver,
            d.version,
            if d.bus_info.is_empty() {
                "-"
            } else {
                &d.bus_info
            }
        ),
        Err(e) => println!("driver: {}", or_na(e)),
    }
    match nic.link_up() {
        Ok(up) => println!("link: {}", if up { "up" } else { "down" }),
        Err(e) => println!("link: {}", or_na(e)),
    }
    match nic.features() {
        Ok(f) => {
            let on: Vec<&str> = f.iter().filter(|x| x.active).map(|x| x.name).collect();
            let changeable = f.iter().filter(|x| !x.fixed).count();
            println!(
                "offloads on ({} of {}, {changeable} changeable): {}",
                on.len(),
                f.iter().count(),
                on.join(" ")
            );
        }
        Err(e) => println!("offloads: {}", or_na(e)),
    }
    match nic.coalesce() {
        Ok(c) => {
            let set: Vec<String> = c
                .fields()
                .iter()
                .filter(|(_, v)| *v != 0)
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            println!(
                "coalesce: {}",
                if set.is_empty() {
                    "all 0".to_owned()
                } else {
                    set.join(" ")
                }
            );
        }
        Err(e) => println!("coalesce: {}", or_na(e)),
    }
    match nic.rings() {
        Ok(r) => println!("rings: rx {}/{} tx {}/{}", r.rx, r.rx_max, r.tx, r.tx_max),
        Err(e) => println!("rings: {}", or_na(e)),
    }
    match nic.channels() {
        Ok(c) => println!(
            "channels: rx {}/{} tx {}/{} combined {}/{}",
            c.rx, c.max_rx, c.tx, c.max_tx, c.combined, c.max_combined
        ),
        Err(e) => println!("channels: {}", or_na(e)),
    }
    match nic.rss() {
        Ok(r) => println!(
            "rss: {} buckets, {}-byte key, hfunc {:#x}",
            r.indirection.len(),
            r.key.len(),
            r.hfunc
        ),
        Err(e) => println!("rss: {}", or_na(e)),
    }
}

fn run(args: Args) -> Result<(), String> {
    let changes = args
        .set
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut coalesce = CoalesceUpdate::new();
    for c in &args.coalesce {
        let (field, value) = c
            .split_once('=')
            .ok_or_else(|| format!("--coalesce {c}: expected FIELD=N"))?;
        let value: u32 = value
            .parse()
            .map_err(|_| format!("--coalesce {c}: {value:?} is not a number"))?;
        coalesce
            .set(field, value)
            .map_err(|e| format!("--coalesce {c}: {e}"))?;
    }
    let nic = Nic::open(&args.iface).map_err(|e| nettune::error::report(&e))?;
    show(&nic);
    if !changes.is_empty() {
        let change = nic
            .set_offloads(&changes)
            .map_err(|e| nettune::error::report(&e))?;
        for r in &change.requested {
            for (name, outcome) in &r.features {
                let what = match outcome {
                    FeatureOutcome::Applied => "applied",
                    FeatureOutcome::Fixed => "fixed: this device cannot change it",
                    FeatureOutcome::Wish => "requested, but the driver kept it as it was",
                };
                println!(
                    "set {}={}: {name}: {what}",
                    r.offload,
                    if r.on { "on" } else { "off" }
                );
            }
        }
        for (name, on) in &change.side_effects {
            println!(
                "side effect: {name} is now {}",
                if *on { "on" } else { "off" }
            );
        }
    }
    if !coalesce.named().is_empty() {
        let ignored = nic
            .set_coalesce(&coalesce)
            .map_err(|e| nettune::error::report(&e))?;
        for (field, want, got) in &ignored.fields {
            println!("coalesce {field}: asked {want}, the driver kept {got}");
        }
        if ignored.is_empty() {
            println!("coalesce: applied");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nic_tune: {e}");
            ExitCode::FAILURE
        }
    }
}
