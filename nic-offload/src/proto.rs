//! Pure encode/decode of the SIOCETHTOOL command structs (include/uapi/linux/ethtool.h).
//! No I/O; every buffer is sized from the counts written into it, so the kernel never
//! writes past its end; decoding never panics on short or hostile replies.

/// Command numbers.
pub(crate) mod cmd {
    pub(crate) const GDRVINFO: u32 = 0x03;
    pub(crate) const GLINK: u32 = 0x0a;
    pub(crate) const GCOALESCE: u32 = 0x0e;
    pub(crate) const SCOALESCE: u32 = 0x0f;
    pub(crate) const GRINGPARAM: u32 = 0x10;
    pub(crate) const SRINGPARAM: u32 = 0x11;
    pub(crate) const GSTRINGS: u32 = 0x1b;
    pub(crate) const GRXFH: u32 = 0x29;
    pub(crate) const SRXFH: u32 = 0x2a;
    pub(crate) const GRXRINGS: u32 = 0x2d;
    pub(crate) const GSSET_INFO: u32 = 0x37;
    pub(crate) const GRXFHINDIR: u32 = 0x38;
    pub(crate) const GFEATURES: u32 = 0x3a;
    pub(crate) const SFEATURES: u32 = 0x3b;
    pub(crate) const GCHANNELS: u32 = 0x3c;
    pub(crate) const SCHANNELS: u32 = 0x3d;
    pub(crate) const GET_TS_INFO: u32 = 0x41;
    pub(crate) const GRSSH: u32 = 0x46;
    pub(crate) const SRSSH: u32 = 0x47;
    pub(crate) const GPAUSEPARAM: u32 = 0x12;
    pub(crate) const SPAUSEPARAM: u32 = 0x13;
    pub(crate) const GSTATS: u32 = 0x1d;
    pub(crate) const GPFLAGS: u32 = 0x27;
    pub(crate) const SPFLAGS: u32 = 0x28;
    pub(crate) const GRXCLSRLCNT: u32 = 0x2e;
    pub(crate) const GRXCLSRULE: u32 = 0x2f;
    pub(crate) const GRXCLSRLALL: u32 = 0x30;
    pub(crate) const SRXCLSRLDEL: u32 = 0x31;
    pub(crate) const SRXCLSRLINS: u32 = 0x32;
    pub(crate) const GTUNABLE: u32 = 0x48;
    pub(crate) const STUNABLE: u32 = 0x49;
    pub(crate) const PERQUEUE: u32 = 0x4b;
    pub(crate) const PHY_GTUNABLE: u32 = 0x4e;
    pub(crate) const PHY_STUNABLE: u32 = 0x4f;
    pub(crate) const GLINKSETTINGS: u32 = 0x4c;
    pub(crate) const SLINKSETTINGS: u32 = 0x4d;
}

/// `ETH_SS_STATS`: driver statistics names.
pub(crate) const ETH_SS_STATS: u32 = 1;
/// `ETH_SS_PRIV_FLAGS`: private flag names.
pub(crate) const ETH_SS_PRIV_FLAGS: u32 = 2;
/// `ETH_SS_LINK_MODES`: link mode names, by bit.
pub(crate) const ETH_SS_LINK_MODES: u32 = 9;

/// `ETH_SS_FEATURES`.
pub(crate) const ETH_SS_FEATURES: u32 = 4;
/// `ETH_GSTRING_LEN`.
pub(crate) const GSTRING_LEN: usize = 32;
/// The most strings a set may have before we call the reply hostile.
pub(crate) const MAX_STRINGS: u32 = 1 << 16;
/// The largest RSS indirection table and key accepted from a device.
pub(crate) const MAX_INDIR: u32 = 1 << 16;
pub(crate) const MAX_KEY: u32 = 1 << 12;

pub(crate) const DRVINFO_LEN: usize = 196;
pub(crate) const COALESCE_LEN: usize = 92;
pub(crate) const RINGPARAM_LEN: usize = 36;
pub(crate) const CHANNELS_LEN: usize = 36;
pub(crate) const RXNFC_LEN: usize = 192;
pub(crate) const RXFH_HEADER: usize = 24;

pub(crate) fn put32(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_ne_bytes());
    }
}

pub(crate) fn get32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

pub(crate) fn put64(b: &mut [u8], off: usize, v: u64) {
    if let Some(s) = b.get_mut(off..off + 8) {
        s.copy_from_slice(&v.to_ne_bytes());
    }
}

pub(crate) fn get64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// A buffer of `len` zero bytes whose first word is `command`.
pub(crate) fn command(command: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(4)];
    put32(&mut b, 0, command);
    b
}

/// A NUL-terminated C string field.
pub(crate) fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// `ethtool_sset_info` asking for the size of one string set.
pub(crate) fn sset_info(set: u32) -> Vec<u8> {
    let mut b = command(cmd::GSSET_INFO, 16 + 4);
    put64(&mut b, 8, 1u64 << set);
    b
}

/// The count from an `ethtool_sset_info` reply, when the set was returned.
pub(crate) fn sset_count(b: &[u8]) -> Option<u32> {
    (get64(b, 8) != 0).then(|| get32(b, 16))
}

/// `ethtool_gstrings` for `count` strings of `set`.
pub(crate) fn gstrings(set: u32, count: u32) -> Vec<u8> {
    let mut b = command(cmd::GSTRINGS, 12 + count as usize * GSTRING_LEN);
    put32(&mut b, 4, set);
    put32(&mut b, 8, count);
    b
}

/// The strings of a `gstrings` reply (empty slots kept as empty strings).
pub(crate) fn strings(b: &[u8]) -> Vec<String> {
    let count = get32(b, 8) as usize;
    (0..count)
        .map_while(|i| b.get(12 + i * GSTRING_LEN..12 + (i + 1) * GSTRING_LEN))
        .map(cstr)
        .collect()
}

/// Feature blocks of 32 bits for `count` features.
pub(crate) fn blocks(count: usize) -> usize {
    count.div_ceil(32)
}

/// `ethtool_gfeatures` with room for `nblocks` blocks.
pub(crate) fn gfeatures(nblocks: usize) -> Vec<u8> {
    let mut b = command(cmd::GFEATURES, 8 + nblocks * 16);
    put32(&mut b, 4, nblocks as u32);
    b
}

/// One block of a `gfeatures` reply: (available, requested, active, never_changed).
pub(crate) fn feature_block(b: &[u8], i: usize) -> [u32; 4] {
    let o = 8 + i * 16;
    [
        get32(b, o),
        get32(b, o + 4),
        get32(b, o + 8),
        get32(b, o + 12),
    ]
}

/// `ethtool_sfeatures` from (valid, requested) per block.
pub(crate) fn sfeatures(blocks: &[(u32, u32)]) -> Vec<u8> {
    let mut b = command(cmd::SFEATURES, 8 + blocks.len() * 8);
    put32(&mut b, 4, blocks.len() as u32);
    for (i, (valid, requested)) in blocks.iter().enumerate() {
        put32(&mut b, 8 + i * 8, *valid);
        put32(&mut b, 12 + i * 8, *requested);
    }
    b
}

/// `ethtool_rxnfc` for GRXRINGS / GRXFH / SRXFH.
pub(crate) fn rxnfc(command_no: u32, flow_type: u32, data: u64) -> Vec<u8> {
    let mut b = command(command_no, RXNFC_LEN);
    put32(&mut b, 4, flow_type);
    put64(&mut b, 8, data);
    b
}

/// `ethtool_rxfh` with room for `indir` entries and `key` bytes.
pub(crate) fn rxfh(command_no: u32, indir: u32, key: u32) -> Vec<u8> {
    let mut b = command(command_no, RXFH_HEADER + indir as usize * 4 + key as usize);
    put32(&mut b, 8, indir);
    put32(&mut b, 12, key);
    b
}

/// The sizes of an `ethtool_rxfh` reply: (indir_size, key_size, hfunc).
pub(crate) fn rxfh_sizes(b: &[u8]) -> (u32, u32, u8) {
    (get32(b, 8), get32(b, 12), b.get(16).copied().unwrap_or(0))
}

/// `ethtool_rxfh_indir` with room for `size` entries.
pub(crate) fn rxfh_indir(command_no: u32, size: u32) -> Vec<u8> {
    let mut b = command(command_no, 8 + size as usize * 4);
    put32(&mut b, 4, size);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sset_info_bytes() {
        let b = sset_info(ETH_SS_FEATURES);
        assert_eq!(b.len(), 20);
        assert_eq!(&b[0..4], &cmd::GSSET_INFO.to_ne_bytes());
        assert_eq!(&b[8..16], &(1u64 << 4).to_ne_bytes());
        let mut reply = b.clone();
        reply[16..20].copy_from_slice(&64u32.to_ne_bytes());
        assert_eq!(sset_count(&reply), Some(64));
        reply[8..16].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(sset_count(&reply), None, "the set is not there");
    }

    #[test]
    fn strings_keep_empty_slots_and_survive_truncation() {
        let mut b = gstrings(ETH_SS_FEATURES, 3);
        assert_eq!(b.len(), 12 + 96);
        b[12..12 + 9].copy_from_slice(b"tx-sg-foo");
        // slot 1 empty
        b[76..76 + 6].copy_from_slice(b"rx-gro");
        assert_eq!(
            strings(&b),
            vec!["tx-sg-foo".to_owned(), String::new(), "rx-gro".to_owned()]
        );
        // A count larger than the bytes: only whole slots are read.
        let mut hostile = b.clone();
        hostile[8..12].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(strings(&hostile).len(), 3);
        assert_eq!(strings(&b[..40]).len(), 0);
    }

    #[test]
    fn features_blocks_are_sized_from_the_raw_count() {
        assert_eq!(blocks(64), 2);
        assert_eq!(blocks(65), 3);
        let g = gfeatures(2);
        assert_eq!(g.len(), 8 + 32);
        assert_eq!(get32(&g, 4), 2);
        let s = sfeatures(&[(0x1, 0x1), (0x8000_0000, 0)]);
        assert_eq!(s.len(), 24);
        assert_eq!(
            (get32(&s, 8), get32(&s, 12), get32(&s, 16), get32(&s, 20)),
            (1, 1, 0x8000_0000, 0)
        );
        let mut reply = gfeatures(1);
        for (i, v) in [0xffu32, 0x0f, 0x07, 0x100].iter().enumerate() {
            put32(&mut reply, 8 + i * 4, *v);
        }
        assert_eq!(feature_block(&reply, 0), [0xff, 0x0f, 0x07, 0x100]);
        assert_eq!(
            feature_block(&reply, 5),
            [0, 0, 0, 0],
            "past the end reads as zero"
        );
    }

    #[test]
    fn rxfh_and_rxnfc_layouts() {
        let b = rxfh(cmd::GRSSH, 128, 40);
        assert_eq!(b.len(), 24 + 512 + 40);
        assert_eq!(rxfh_sizes(&b), (128, 40, 0));
        let n = rxnfc(cmd::GRXFH, 0x01, 0xf0);
        assert_eq!(n.len(), 192);
        assert_eq!(
            (get32(&n, 0), get32(&n, 4), get64(&n, 8)),
            (cmd::GRXFH, 1, 0xf0)
        );
        let i = rxfh_indir(cmd::GRXFHINDIR, 4);
        assert_eq!(i.len(), 8 + 16);
    }
}
