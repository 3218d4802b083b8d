//! The netlink layer against a "kernel" the test plays: one end of a datagram socket pair
//! carries replies written here, so conditions the kernel produces rarely (an interrupted
//! dump, a datagram larger than the buffer, a signal during a read) happen on demand.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;

use nettune_netlink::proto::{MsgBuilder, NLMSG_DONE, flags};
use nettune_netlink::{Error, Socket};

fn injected() -> (Socket, UnixDatagram) {
    let (ours, kernel) = UnixDatagram::pair().expect("pair");
    (Socket::from_fd(OwnedFd::from(ours)), kernel)
}

/// A reply message of request `seq`: type 0x100, `extra` flags, one u32 attribute `n`.
fn reply(seq: u32, extra: u16, n: u32) -> Vec<u8> {
    let mut m = MsgBuilder::new(0x100, flags::MULTI | extra, seq);
    m.header(&[0u8; 4]).u32(1, n);
    m.finish().expect("encode")
}

fn done(seq: u32, extra: u16) -> Vec<u8> {
    let mut m = MsgBuilder::new(NLMSG_DONE, flags::MULTI | extra, seq);
    m.header(&[0u8; 4]);
    m.finish().expect("encode")
}

/// Starts a dump of sequence `seq` on `sock` and reads what the kernel side sent for it.
fn start(sock: &mut Socket, kernel: &UnixDatagram) -> u32 {
    let seq = sock.next_seq();
    let mut m = MsgBuilder::new(0x100, flags::DUMP, seq);
    m.header(&[0u8; 4]);
    sock.dump_start(&m.finish().expect("encode")).expect("send");
    let mut request = [0u8; 64];
    kernel
        .recv(&mut request)
        .expect("the request reached the kernel side");
    seq
}

fn read_all(sock: &mut Socket, seq: u32) -> (Vec<u32>, Option<Error>) {
    let mut got = Vec::new();
    loop {
        match sock.dump_next(seq, |m| {
            m.attrs(4)
                .next()
                .and_then(Result::ok)
                .map_or(Ok(0), |a| a.u32())
                .map_err(Error::from)
        }) {
            None => return (got, None),
            Some(Ok(n)) => got.push(n),
            Some(Err(e)) => return (got, Some(e)),
        }
    }
}

#[test]
fn an_interrupted_dump_is_an_error_not_a_short_table() {
    let (mut sock, kernel) = injected();
    let seq = start(&mut sock, &kernel);
    let mut d = reply(seq, 0, 1);
    d.extend(reply(seq, flags::DUMP_INTR, 2));
    kernel.send(&d).expect("send");
    kernel.send(&done(seq, flags::DUMP_INTR)).expect("send");
    let (got, err) = read_all(&mut sock, seq);
    assert_eq!(got, vec![1, 2], "the replies still come");
    assert!(matches!(err, Some(Error::DumpInterrupted)), "{err:?}");
    assert!(!sock.in_flight(), "the dump ended: the socket is reusable");
    // A clean dump on the same socket is complete again.
    let seq = start(&mut sock, &kernel);
    let mut d = reply(seq, 0, 3);
    d.extend(done(seq, 0));
    kernel.send(&d).expect("send");
    let (got, err) = read_all(&mut sock, seq);
    assert_eq!(got, vec![3]);
    assert!(err.is_none(), "{err:?}");
}

#[test]
fn a_datagram_larger_than_the_buffer_is_an_error_and_the_buffer_grows() {
    let (mut sock, kernel) = injected();
    let seq = start(&mut sock, &kernel);
    let mut big = Vec::new();
    let mut n = 0;
    while big.len() <= 100 * 1024 {
        big.extend(reply(seq, 0, n));
        n += 1;
    }
    kernel.send(&big).expect("send");
    let (got, err) = read_all(&mut sock, seq);
    assert!(got.is_empty());
    match err {
        Some(Error::Truncated { len, buffer }) => {
            assert_eq!(len, big.len());
            assert!(buffer < len);
        }
        other => panic!("expected a truncation, got {other:?}"),
    }
    assert!(
        sock.in_flight(),
        "the dump did not end: this socket must not be reused"
    );
    // The next datagram of that size reads whole.
    let seq = start(&mut sock, &kernel);
    let mut big = Vec::new();
    for i in 0..n {
        big.extend(reply(seq, 0, i));
    }
    kernel.send(&big).expect("send");
    kernel.send(&done(seq, 0)).expect("send");
    let (got, err) = read_all(&mut sock, seq);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, (0..n).collect::<Vec<_>>());
}

#[test]
fn a_malformed_datagram_leaves_the_socket_in_flight() {
    let (mut sock, kernel) = injected();
    let seq = start(&mut sock, &kernel);
    let mut bad = reply(seq, 0, 1);
    // A length that runs past the datagram.
    bad[0..4].copy_from_slice(&4096u32.to_ne_bytes());
    kernel.send(&bad).expect("send");
    let (_, err) = read_all(&mut sock, seq);
    assert!(matches!(err, Some(Error::Decode(_))), "{err:?}");
    assert!(sock.in_flight());
}

#[test]
fn a_raw_request_without_ack_is_sent_with_one() {
    let (mut sock, kernel) = injected();
    let seq = sock.next_seq();
    let mut m = MsgBuilder::new(0x100, 0, seq);
    m.header(&[0u8; 4]).u32(1, 1);
    let msg = m.finish().expect("encode");
    let player = std::thread::spawn(move || {
        let mut request = [0u8; 64];
        let n = kernel.recv(&mut request).expect("request");
        let mut ack = MsgBuilder::new(nettune_netlink::proto::NLMSG_ERROR, 0, seq);
        ack.header(&[0u8; 4 + 16]);
        kernel.send(&ack.finish().expect("encode")).expect("send");
        request[..n].to_vec()
    });
    sock.transact::<Error>(&msg, |_| Ok(()))
        .expect("the ACK ends it");
    let sent = player.join().expect("kernel side");
    let flags_sent = u16::from_ne_bytes([sent[6], sent[7]]);
    assert_eq!(flags_sent, flags::REQUEST | flags::ACK);
    // Everything but the flags went as built.
    assert_eq!(sent.len(), msg.len());
    assert_eq!(sent[..6], msg[..6]);
    assert_eq!(sent[8..], msg[8..]);
}
