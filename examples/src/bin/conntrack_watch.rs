//! `conntrack_watch`: prints conntrack events as they happen and the table fill
//! (entries/max) every interval, with a warning and what to tune as it nears full.
//!
//! `cargo run -p nettune-examples --bin conntrack_watch -- --interval-ms 1000 --warn 0.8`

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use nettune::conntrack::{Conntrack, Event, EventConfig};

/// Watch the conntrack table.
#[derive(Debug, Parser)]
struct Args {
    /// How often to print the table fill, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Warn when the table is this full (0 to 1).
    #[arg(long, default_value_t = 0.8)]
    warn: f64,
    /// Stop after this many events (0: run forever).
    #[arg(long, default_value_t = 0)]
    events: u64,
    /// Receive buffer for events, in MiB.
    #[arg(long, default_value_t = 8)]
    buffer_mib: usize,
}

fn describe(e: &Event) -> String {
    let line = |kind: &str, x: &nettune::conntrack::Entry| {
        let state = x
            .tcp
            .map(|t| format!(" {}", t.state.as_str()))
            .unwrap_or_default();
        format!(
            "[{kind}] {} {}{state}",
            x.original.protocol_name(),
            x.original
        )
    };
    match e {
        Event::New(x) => line("NEW", x),
        Event::Update(x) => line("UPDATE", x),
        Event::Destroy(x) => line("DESTROY", x),
        Event::Overrun => {
            "[OVERRUN] events were lost: the receive buffer overflowed; raise --buffer-mib".into()
        }
        _ => "[?] unknown event".into(),
    }
}

fn fill_line(ct: &Conntrack, warn: f64) -> String {
    match ct.count() {
        Ok(c) => {
            let pct = c.fill() * 100.0;
            let mut s = format!("table: {} of {} entries ({pct:.1}%)", c.entries, c.max);
            if c.fill() >= warn {
                s.push_str(
                    "; WARNING: nearly full, new connections will be dropped. Raise \
                     net.netfilter.nf_conntrack_max (and nf_conntrack_buckets), shorten \
                     nf_conntrack_tcp_timeout_established, or exempt traffic with NOTRACK",
                );
            }
            s
        }
        Err(e) => format!(
            "table: cannot read the count: {}",
            nettune::error::report(&e)
        ),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.warn) {
        eprintln!("conntrack_watch: --warn must be between 0 and 1");
        return ExitCode::from(2);
    }
    let (ct, reporter) = match (Conntrack::open(), Conntrack::open()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("conntrack_watch: {}", nettune::error::report(&e));
            return ExitCode::FAILURE;
        }
    };
    let config = EventConfig {
        recv_buffer: Some(args.buffer_mib << 20),
        ..EventConfig::default()
    };
    let events = match ct.events(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conntrack_watch: {}", nettune::error::report(&e));
            return ExitCode::FAILURE;
        }
    };
    println!("{}", fill_line(&reporter, args.warn));
    let interval = Duration::from_millis(args.interval_ms.max(10));
    let warn = args.warn;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(interval);
            println!("{}", fill_line(&reporter, warn));
        }
    });
    let mut seen = 0u64;
    for e in events {
        match e {
            Ok(ev) => println!("{}", describe(&ev)),
            Err(e) => {
                eprintln!("conntrack_watch: {}", nettune::error::report(&e));
                return ExitCode::FAILURE;
            }
        }
        seen += 1;
        if args.events != 0 && seen >= args.events {
            break;
        }
    }
    ExitCode::SUCCESS
}
