//! TCP_INFO, TCP_CC_INFO (BBR), MPTCP_INFO, MPTCP_SUBFLOW_ADDRS and MPTCP_TCPINFO bytes: decoded by the
//! length the kernel gives, every field read, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nettune_sockopt::mptcp::{MptcpInfo, decode_subflow_tcp_info, decode_subflows};
use nettune_sockopt::{BbrInfo, TcpInfo};

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = TcpInfo::decode(data) {
        assert_eq!(info.len(), data.len());
        let _ = format!("{info:?}");
    }
    let _ = BbrInfo::decode(data);
    let _ = MptcpInfo::decode(data).map(|i| format!("{i:?}"));
    let _ = decode_subflows(data);
    let _ = decode_subflow_tcp_info(data).map(|v| format!("{v:?}"));
});
