//! The five areas through the facade alone, in a namespace of the test's own: what the
//! crate documentation's program does, with the kernel's answers checked.

use nettune::conntrack::{Conntrack, Entry, Filter, Tuple};
use nettune::mptcp::PathManager;
use nettune::nic::{Feature, Nic, Offload};
use nettune::sockopt::{SocketProfile, notsent_lowat, tcp_info};
use nettune::sysctl::{Sysctl, knobs};
use nettune::{ErrorKind, NetNs};
use testkit::require_root;

#[test]
fn five_areas_through_the_facade() {
    if !require_root("five_areas_through_the_facade") {
        return;
    }
    let ns = NetNs::create().expect("namespace");
    // A fresh namespace starts with `lo` down; a child forked inside it brings it up.
    let up = ns
        .run(|| {
            std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
        })
        .expect("enter")
        .expect("ip");
    assert!(up.success());

    let sys = Sysctl::open_in(&ns);
    sys.set::<knobs::TcpNotsentLowat>(16 * 1024).expect("set");
    assert_eq!(sys.get::<knobs::TcpNotsentLowat>().expect("get"), 16 * 1024);
    assert_ne!(
        Sysctl::open().get::<knobs::TcpNotsentLowat>().ok(),
        None,
        "the host's own value is readable and untouched by the write above"
    );

    let lo = Nic::open_in(&ns, "lo").expect("lo");
    lo.set_offloads(&[(Offload::Gro, false)]).expect("gro off");
    let gro = |nic: &Nic| {
        nic.features()
            .expect("features")
            .iter()
            .find(|f: &Feature<'_>| f.name == "rx-gro")
            .map(|f| f.active)
    };
    assert_eq!(gro(&lo), Some(false));

    let ct = Conntrack::open_in(&ns).expect("conntrack");
    let t = Tuple::udp(
        "10.9.0.1".parse().expect("ip"),
        4000,
        "10.9.0.2".parse().expect("ip"),
        53,
    );
    let mut e = Entry::new(t, std::time::Duration::from_secs(60));
    e.mark = Some(0x10);
    ct.create(&e).expect("create");
    let marked = ct
        .dump(&Filter::new().mark(0x10, 0xff))
        .expect("dump")
        .filter(Result::is_ok)
        .count();
    assert_eq!(marked, 1);
    assert_eq!(ct.count().expect("count").entries, 1);

    let pm = PathManager::open_in(&ns).expect("mptcp");
    pm.set_limits(2, 2).expect("limits");
    let l = pm.limits().expect("limits");
    assert_eq!((l.subflows, l.add_addr_accepted), (2, 2));

    let lowat = ns
        .run(|| {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let client = std::net::TcpStream::connect(listener.local_addr().expect("addr"))
                .expect("connect");
            SocketProfile::new()
                .nodelay(true)
                .notsent_lowat(4096)
                .apply(&client)
                .expect("profile");
            tcp_info(&client).expect("tcp_info");
            notsent_lowat(&client).expect("lowat")
        })
        .expect("enter");
    assert_eq!(lowat, 4096);

    // Errors from any area answer with the shared kinds.
    let missing = Nic::open_in(&ns, "nosuch0").expect_err("no such interface");
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    let absent = sys
        .read_raw(&"net.ipv4.nosuch".parse().expect("key"))
        .expect_err("absent key");
    assert_eq!(absent.kind(), ErrorKind::Unsupported);
}
