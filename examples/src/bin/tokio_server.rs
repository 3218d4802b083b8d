//! A tokio server tuned once on its listener: accept() carries most options, and each
//! connection gets only the rest (`apply_accepted`). It prints what each accepted socket
//! reads back, then echoes one message.
//!
//! `cargo run -p nettune-examples --bin tokio_server -- 127.0.0.1:7100 2`

use nettune::sockopt::{Dscp, SocketProfile, TrafficClass, priority, traffic_class};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:7100".into())
        .parse()?;
    let count: usize = args.next().unwrap_or_else(|| "0".into()).parse()?;
    let ef = TrafficClass {
        dscp: Dscp::EF,
        ..Default::default()
    };
    let profile = SocketProfile::new()
        .nodelay(true)
        .priority(5)
        .traffic_class(ef);
    let (listener, _) = profile.listen_tokio(addr, 1024)?;
    println!("listening on {addr}");
    let mut echoes = Vec::new();
    for _ in 0..(if count == 0 { usize::MAX } else { count }) {
        let (mut stream, peer) = listener.accept().await?;
        profile.apply_accepted(&stream)?; // SO_PRIORITY: the one accept() does not carry
        println!(
            "{peer}: priority {} dscp {}",
            priority(&stream)?,
            traffic_class(&stream)?.dscp.get()
        );
        echoes.push(tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            if let Ok(n @ 1..) = stream.read(&mut buf).await {
                let _ = stream.write_all(&buf[..n]).await;
            }
        }));
    }
    for echo in echoes {
        echo.await?;
    }
    Ok(())
}
