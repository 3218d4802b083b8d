//! Generic netlink family resolution (`genetlink`, the `nlctrl` family).

use crate::handle::Handle;
use crate::proto::{self, DecodeError, NLMSG_HDRLEN};
use crate::socket::Error;

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const CTRL_ATTR_VERSION: u16 = 3;
const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;
/// The length of `genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;

/// A resolved generic netlink family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenlFamily {
    /// The message type to address it with.
    pub id: u16,
    /// Its version.
    pub version: u32,
    /// Its multicast groups: (name, id).
    pub groups: Vec<(String, u32)>,
}

impl GenlFamily {
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

/// Decodes a `CTRL_CMD_NEWFAMILY` reply payload.
///
/// # Errors
///
/// [`DecodeError`] with the offset of the malformed attribute.
pub fn decode_family(reply: &proto::Message<'_>) -> Result<GenlFamily, DecodeError> {
    let mut f = GenlFamily {
        id: 0,
        version: 0,
        groups: Vec::new(),
    };
    reply.walk(GENL_HDRLEN, |a| {
        match a.ty {
            CTRL_ATTR_FAMILY_ID => f.id = a.u16()?,
            CTRL_ATTR_VERSION => f.version = a.u32()?,
            CTRL_ATTR_MCAST_GROUPS => a.walk(|g| {
                let (mut name, mut id) = (String::new(), 0);
                g.walk(|ga| {
                    match ga.ty {
                        CTRL_ATTR_MCAST_GRP_NAME => name = ga.string(),
                        CTRL_ATTR_MCAST_GRP_ID => id = ga.u32()?,
                        _ => {}
                    }
                    Ok(())
                })?;
                f.groups.push((name, id));
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    if f.id == 0 {
        return Err(DecodeError {
            what: "no family id in the reply",
            offset: NLMSG_HDRLEN,
        });
    }
    Ok(f)
}

/// Resolves family `name` on a `NETLINK_GENERIC` handle.
///
/// # Errors
///
/// [`Error::Kernel`] with `ENOENT` when the kernel has no such family.
pub fn resolve(handle: &Handle, name: &str) -> Result<GenlFamily, Error> {
    let mut family = None;
    handle
        .transact::<Error>(
            GENL_ID_CTRL,
            proto::flags::ACK,
            |m| {
                m.header(&genl_header(CTRL_CMD_GETFAMILY, 1))
                    .string(CTRL_ATTR_FAMILY_NAME, name);
                Ok(())
            },
            |reply| {
                family = Some(decode_family(&reply)?);
                Ok(())
            },
        )
        .map_err(|f| f.into_caller(|e| e))?;
    family.ok_or(Error::Decode(DecodeError {
        what: "no family in the reply",
        offset: 0,
    }))
}
