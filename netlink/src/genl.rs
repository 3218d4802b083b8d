//! Generic netlink family resolution (`genetlink`, the `nlctrl` family).

use crate::proto::{self, MsgBuilder};
use crate::socket::{Error, Socket};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const CTRL_ATTR_VERSION: u16 = 3;
const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// A resolved generic netlink family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The message type to address it with.
    pub id: u16,
    /// Its version.
    pub version: u32,
    /// Its multicast groups: (name, id).
    pub groups: Vec<(String, u32)>,
}

impl Family {
    /// The id of the multicast group `name`.
    pub fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }
}

/// The 4-byte `genlmsghdr`.
pub fn genl_header(cmd: u8, version: u8) -> [u8; 4] {
    [cmd, version, 0, 0]
}

/// Resolves family `name` on a `NETLINK_GENERIC` socket.
///
/// # Errors
///
/// [`Error::Kernel`] with `ENOENT` when the kernel has no such family.
pub fn resolve(sock: &mut Socket, name: &str) -> Result<Family, Error> {
    let seq = sock.next_seq();
    let mut m = MsgBuilder::new(GENL_ID_CTRL, proto::flags::ACK, seq);
    m.bytes(&genl_header(CTRL_CMD_GETFAMILY, 1))
        .string(CTRL_ATTR_FAMILY_NAME, name);
    let msg = m.finish();
    let mut family = None;
    sock.transact::<Error>("resolve generic netlink family", &msg, |reply| {
        let mut f = Family {
            id: 0,
            version: 0,
            groups: Vec::new(),
        };
        for a in proto::attrs(reply.payload.get(4..).unwrap_or_default()).flatten() {
            match a.ty {
                CTRL_ATTR_FAMILY_ID => f.id = a.u16().unwrap_or(0),
                CTRL_ATTR_VERSION => f.version = a.u32().unwrap_or(0),
                CTRL_ATTR_MCAST_GROUPS => {
                    for g in a.nested_attrs().flatten() {
                        let (mut gname, mut gid) = (String::new(), 0);
                        for ga in g.nested_attrs().flatten() {
                            match ga.ty {
                                CTRL_ATTR_MCAST_GRP_NAME => gname = ga.string(),
                                CTRL_ATTR_MCAST_GRP_ID => gid = ga.u32().unwrap_or(0),
                                _ => {}
                            }
                        }
                        f.groups.push((gname, gid));
                    }
                }
                _ => {}
            }
        }
        family = Some(f);
        Ok(())
    })?;
    family.ok_or(Error::Decode {
        op: "resolve generic netlink family",
        source: proto::DecodeError {
            what: "no family in the reply",
            offset: 0,
        },
    })
}
