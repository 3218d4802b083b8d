//! A tokio TCP echo server that tunes each accepted connection by its peer: BBR and a
//! pacing cap for WAN peers, the host defaults for LAN peers; it logs TCP_INFO when a
//! connection closes.
//!
//! `cargo run -p nettune-examples --bin echo_server -- --listen 0.0.0.0:7000 --pacing-mbit 500`

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use nettune::sockopt::{PacingRate, PeerPolicy, SocketProfile, tcp_info};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Echo server with per-peer socket tuning.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7000")]
    listen: SocketAddr,
    /// Pacing cap for WAN peers, in Mbit/s.
    #[arg(long, default_value_t = 1000)]
    pacing_mbit: u64,
    /// Congestion control for WAN peers.
    #[arg(long, default_value = "bbr")]
    wan_cc: String,
    /// Stop after this many connections (0: run forever).
    #[arg(long, default_value_t = 0)]
    connections: u64,
}

async fn serve(mut stream: TcpStream, peer: SocketAddr) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n as u64;
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    // The socket is still open: read what the kernel learned about the connection.
    match tcp_info(&stream) {
        Ok(i) => println!(
            "closed {peer}: {total} bytes echoed, rtt {:?} (min {:?}), cwnd {}, retrans {}, delivery {} B/s, pacing {} B/s",
            i.rtt(),
            i.min_rtt().unwrap_or_default(),
            i.snd_cwnd(),
            i.total_retrans(),
            i.delivery_rate().unwrap_or_default(),
            i.pacing_rate().unwrap_or_default()
        ),
        Err(e) => eprintln!("closed {peer}: TCP_INFO: {}", nettune::error::report(&e)),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let wan_cc = match args.wan_cc.parse() {
        Ok(cc) => cc,
        Err(e) => {
            eprintln!("echo_server: --wan-cc: {}", nettune::error::report(&e));
            return ExitCode::from(2);
        }
    };
    let policy = PeerPolicy::new(
        SocketProfile::new().nodelay(true).best_effort(),
        SocketProfile::new()
            .nodelay(true)
            .congestion(wan_cc)
            .max_pacing_rate(PacingRate::bits_per_second(args.pacing_mbit * 1_000_000))
            .notsent_lowat(128 * 1024)
            .best_effort(),
    );
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: bind {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", args.listen);
    let mut served = 0u64;
    let mut tasks = Vec::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("echo_server: accept: {}", nettune::error::report(&e));
                continue;
            }
        };
        let kind = if policy.is_lan(peer.ip()) {
            "lan"
        } else {
            "wan"
        };
        match policy.profile_for(&peer).apply(&stream) {
            Ok(report) => {
                let applied: Vec<&str> = report.outcomes.iter().map(|(o, _)| *o).collect();
                println!("accepted {peer} ({kind}): {}", applied.join(" "));
                if !report.all_applied() {
                    print!("{report}");
                }
            }
            Err(e) => eprintln!(
                "accepted {peer}: tuning failed: {}",
                nettune::error::report(&e)
            ),
        }
        tasks.push(tokio::spawn(serve(stream, peer)));
        served += 1;
        if args.connections != 0 && served >= args.connections {
            break;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    ExitCode::SUCCESS
}
