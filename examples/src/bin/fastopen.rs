//! A TCP Fast Open server and client pair.
//!
//! `fastopen server 127.0.0.1:7001` accepts connections with TCP_FASTOPEN and prints what
//! each brought in its first read; `fastopen client 127.0.0.1:7001 hello` connects with
//! TCP_FASTOPEN_CONNECT, so its first write rides in the SYN once it holds a cookie (run
//! it twice), and reports whether it did. Needs `net.ipv4.tcp_fastopen` with bits 0x1
//! (client) and 0x2 (server); the server says so when the bit is missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nettune::sockopt::{SocketProfile, TcpOptions, set_fastopen, tcp_info};

/// TCP Fast Open demo.
#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// Accept fast-open connections and echo the first message back.
    Server {
        /// Address to listen on.
        addr: SocketAddr,
        /// Stop after this many connections (0: run forever).
        #[arg(long, default_value_t = 0)]
        connections: u64,
    },
    /// Connect with data in the SYN.
    Client {
        /// Server address.
        addr: SocketAddr,
        /// Message to send.
        message: String,
    },
}

fn server(addr: SocketAddr, connections: u64) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    match set_fastopen(&listener, 64) {
        Ok(()) => {}
        Err(e @ nettune::sockopt::Error::Inactive { .. }) => eprintln!("warning: {e}"),
        Err(e) => return Err(nettune::error::report(&e)),
    }
    println!("listening on {addr} with TCP_FASTOPEN");
    let mut n = 0;
    for stream in listener.incoming() {
        let mut stream = stream.map_err(|e| format!("accept: {e}"))?;
        let tfo = tcp_info(&stream)
            .map(|i| i.options().contains(TcpOptions::TFO_CHILD))
            .unwrap_or(false);
        let mut buf = [0u8; 1024];
        let got = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        println!(
            "{} bytes{}: {}",
            got,
            if tfo { " (fast open)" } else { "" },
            String::from_utf8_lossy(&buf[..got])
        );
        stream
            .write_all(&buf[..got])
            .map_err(|e| format!("write: {e}"))?;
        n += 1;
        if connections != 0 && n >= connections {
            break;
        }
    }
    Ok(())
}

fn client(addr: SocketAddr, message: &str) -> Result<(), String> {
    // TCP_FASTOPEN_CONNECT must be set before connect(); the profile does that.
    let (mut stream, _) = SocketProfile::new()
        .fastopen_connect(true)
        .nodelay(true)
        .connect(addr)
        .map_err(|e| nettune::error::report(&e))?;
    stream
        .write_all(message.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; message.len()];
    stream
        .read_exact(&mut buf)
        .map_err(|e| format!("read: {e}"))?;
    let syn_data = tcp_info(&stream)
        .map(|i| i.options().contains(TcpOptions::SYN_DATA))
        .unwrap_or(false);
    println!(
        "echoed {:?}; data {} in the SYN",
        String::from_utf8_lossy(&buf),
        if syn_data {
            "was"
        } else {
            "was not (no cookie yet: run again)"
        }
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.role {
        Role::Server { addr, connections } => server(addr, connections),
        Role::Client { addr, message } => client(addr, &message),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fastopen: {e}");
            ExitCode::FAILURE
        }
    }
}
