//! TCP options (RFC 9293 3.1): a bounded walk over a segment's options, and
//! the two rewrites a full-NAT gateway makes in them — clamping the MSS a
//! SYN or SYN-ACK announces (so an encapsulated or GTP-U path never needs
//! fragmentation), and shifting SACK blocks when the gateway has moved a
//! connection's sequence space (a PROXY protocol header it inserted).
//!
//! Every function takes the TCP header as bytes whose data offset was
//! checked by [`TcpSegment::new_checked`](super::TcpSegment); given anything
//! else they read nothing past the slice and change nothing. Rewrites keep
//! the TCP checksum valid incrementally (RFC 1624).

use super::checksum::{update16, update32};

/// Option kinds this module knows.
pub const OPT_END: u8 = 0;
pub const OPT_NOP: u8 = 1;
pub const OPT_MSS: u8 = 2;
pub const OPT_WINDOW_SCALE: u8 = 3;
pub const OPT_SACK_PERMITTED: u8 = 4;
pub const OPT_SACK: u8 = 5;

const CHECKSUM: usize = 16;

/// The options area of a TCP header (`tcp[20..data offset]`), or empty if
/// the slice is shorter than the data offset says.
#[inline]
fn options_range(tcp: &[u8]) -> core::ops::Range<usize> {
    let Some(&off) = tcp.get(12) else {
        return 0..0;
    };
    let end = usize::from(off >> 4) * 4;
    if end < 20 || end > tcp.len() {
        return 0..0;
    }
    20..end
}

/// One option: its kind and where its data (after kind and length) lies,
/// as offsets into the TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpOption {
    pub kind: u8,
    /// Offset of the option's first byte (its kind) in the header.
    pub at: usize,
    /// Length of the whole option (kind and length bytes included).
    pub len: usize,
}

/// Walks the options of a TCP header. Stops at End of Option List, at the
/// end of the area, or at a malformed option (length below 2 or past the
/// area): what follows a malformed option cannot be trusted. At most 40
/// bytes of options exist, so the walk is bounded by construction.
#[derive(Clone, Debug)]
pub struct TcpOptions<'a> {
    tcp: &'a [u8],
    at: usize,
    end: usize,
    malformed: bool,
}

impl<'a> TcpOptions<'a> {
    pub fn new(tcp: &'a [u8]) -> TcpOptions<'a> {
        let r = options_range(tcp);
        TcpOptions {
            tcp,
            at: r.start,
            end: r.end,
            malformed: false,
        }
    }

    /// True if the walk stopped at a malformed option.
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl Iterator for TcpOptions<'_> {
    type Item = TcpOption;

    fn next(&mut self) -> Option<TcpOption> {
        while self.at < self.end {
            let kind = *self.tcp.get(self.at)?;
            match kind {
                OPT_END => {
                    self.at = self.end;
                    return None;
                }
                OPT_NOP => self.at += 1,
                _ => {
                    let len = self.tcp.get(self.at + 1).map_or(0, |&l| usize::from(l));
                    if len < 2 || self.at + len > self.end {
                        self.malformed = true;
                        self.at = self.end;
                        return None;
                    }
                    let o = TcpOption {
                        kind,
                        at: self.at,
                        len,
                    };
                    self.at += len;
                    return Some(o);
                }
            }
        }
        None
    }
}

#[inline]
fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The MSS a segment announces, if it has a well-formed MSS option.
pub fn mss(tcp: &[u8]) -> Option<u16> {
    TcpOptions::new(tcp)
        .find(|o| o.kind == OPT_MSS && o.len == 4)
        .map(|o| rd16(tcp, o.at + 2))
}

/// The window scale a segment announces, if any (RFC 7323: values above
/// 14 are used as 14).
pub fn window_scale(tcp: &[u8]) -> Option<u8> {
    TcpOptions::new(tcp)
        .find(|o| o.kind == OPT_WINDOW_SCALE && o.len == 3)
        .map(|o| tcp[o.at + 2].min(14))
}

/// Lowers the MSS option to `max` if it announces more; returns the value
/// it had when it was rewritten, `None` when nothing changed (no MSS
/// option, or already at most `max`). The checksum is updated.
pub fn clamp_mss(tcp: &mut [u8], max: u16) -> Option<u16> {
    let o = TcpOptions::new(tcp).find(|o| o.kind == OPT_MSS && o.len == 4)?;
    let old = rd16(tcp, o.at + 2);
    if old <= max {
        return None;
    }
    tcp[o.at + 2..o.at + 4].copy_from_slice(&max.to_be_bytes());
    let c = update16(rd16(tcp, CHECKSUM), old, max);
    tcp[CHECKSUM..CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    Some(old)
}

/// Adds `delta` (wrapping) to both edges of every SACK block; returns how
/// many blocks were shifted. To take a delta away, pass its negation
/// (`0u32.wrapping_sub(d)`). The checksum is updated.
pub fn shift_sack(tcp: &mut [u8], delta: u32) -> usize {
    let mut blocks = 0;
    let mut sacks = [(0usize, 0usize); 2];
    let mut n = 0;
    for o in TcpOptions::new(tcp) {
        // 40 bytes of options hold at most one SACK option (4 blocks); a
        // second is malformed, but shift it too rather than leave it wrong.
        if o.kind == OPT_SACK && n < sacks.len() {
            sacks[n] = (o.at, o.len);
            n += 1;
        }
    }
    for &(at, len) in &sacks[..n] {
        let mut edge = at + 2;
        while edge + 4 <= at + len {
            let old = rd32(tcp, edge);
            let new = old.wrapping_add(delta);
            tcp[edge..edge + 4].copy_from_slice(&new.to_be_bytes());
            let c = update32(rd16(tcp, CHECKSUM), old, new);
            tcp[CHECKSUM..CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
            edge += 4;
        }
        blocks += (len - 2) / 8;
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::l4_checksum;
    use crate::wire::PROTO_TCP;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 21);

    /// A TCP header with these option bytes (padded with NOPs to a word)
    /// and a correct checksum.
    fn segment(options: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut opts = options.to_vec();
        while !opts.len().is_multiple_of(4) {
            opts.push(OPT_NOP);
        }
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&1000u32.to_be_bytes());
        t[12] = (((20 + opts.len()) / 4) as u8) << 4;
        t[13] = 0x02; // SYN
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t.extend_from_slice(&opts);
        t.extend_from_slice(payload);
        let c = l4_checksum(SRC, DST, PROTO_TCP, &t);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        t
    }

    fn checksum_ok(t: &[u8]) -> bool {
        let mut z = t.to_vec();
        z[16] = 0;
        z[17] = 0;
        l4_checksum(SRC, DST, PROTO_TCP, &z) == rd16(t, 16)
    }

    /// A Linux SYN's options: MSS 1460, SACK permitted, timestamps, NOP,
    /// window scale 7.
    const LINUX_SYN: [u8; 20] = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    #[test]
    fn walks_a_linux_syn() {
        let t = segment(&LINUX_SYN, &[]);
        let kinds: Vec<u8> = TcpOptions::new(&t).map(|o| o.kind).collect();
        assert_eq!(kinds, [OPT_MSS, OPT_SACK_PERMITTED, 8, OPT_WINDOW_SCALE]);
        assert_eq!(mss(&t), Some(1460));
        assert_eq!(window_scale(&t), Some(7));
    }

    #[test]
    fn clamps_mss_1460_to_1400_with_a_valid_checksum() {
        let mut t = segment(&LINUX_SYN, &[]);
        assert_eq!(clamp_mss(&mut t, 1400), Some(1460));
        assert_eq!(mss(&t), Some(1400));
        assert!(checksum_ok(&t));
        // Already low enough: unchanged.
        let before = t.clone();
        assert_eq!(clamp_mss(&mut t, 1400), None);
        assert_eq!(clamp_mss(&mut t, 1500), None);
        assert_eq!(t, before);
    }

    #[test]
    fn a_segment_without_mss_is_left_alone() {
        let mut t = segment(&[1, 1, 1, 3, 3, 7], &[]);
        let before = t.clone();
        assert_eq!(clamp_mss(&mut t, 536), None);
        assert_eq!(t, before);
    }

    #[test]
    fn stops_at_a_zero_length_option_and_at_end_of_list() {
        // An unknown option with length 0 would loop forever if trusted.
        let t = segment(&[30, 0, 2, 4, 5, 0xb4], &[]);
        let mut w = TcpOptions::new(&t);
        assert_eq!(w.next(), None);
        assert!(w.malformed());
        assert_eq!(mss(&t), None);
        // An MSS after End of Option List is not an option.
        let t = segment(&[0, 0, 0, 0, 2, 4, 5, 0xb4], &[]);
        assert_eq!(mss(&t), None);
    }

    #[test]
    fn an_option_running_past_the_header_is_malformed() {
        let t = segment(&[1, 1, 2, 10, 5, 0xb4], &[0xaa; 16]);
        assert_eq!(mss(&t), None);
    }

    #[test]
    fn a_data_offset_past_the_slice_reads_nothing() {
        let mut t = segment(&LINUX_SYN, &[]);
        t.truncate(30);
        assert_eq!(TcpOptions::new(&t).count(), 0);
        assert_eq!(clamp_mss(&mut t, 500), None);
        assert_eq!(shift_sack(&mut t, 5), 0);
    }

    #[test]
    fn shifts_every_sack_edge() {
        let mut opts = vec![1, 1, OPT_SACK, 18];
        for v in [100u32, 200, 300, 400] {
            opts.extend_from_slice(&v.to_be_bytes());
        }
        let mut t = segment(&opts, &[]);
        assert_eq!(shift_sack(&mut t, 0u32.wrapping_sub(50)), 2);
        let edges: Vec<u32> = (0..4).map(|i| rd32(&t, 24 + 4 * i)).collect();
        assert_eq!(edges, [50, 150, 250, 350]);
        assert!(checksum_ok(&t));
    }

    proptest! {
        /// Any option bytes: the walk never panics, never leaves the area,
        /// and clamping keeps the checksum valid.
        #[test]
        fn any_options_walk_within_bounds(opts in proptest::collection::vec(any::<u8>(), 0..40), max in any::<u16>()) {
            let mut t = segment(&opts, &[1, 2, 3]);
            let area = options_range(&t);
            for o in TcpOptions::new(&t) {
                prop_assert!(o.at >= area.start && o.at + o.len <= area.end);
            }
            let had = mss(&t);
            let changed = clamp_mss(&mut t, max);
            prop_assert!(checksum_ok(&t));
            prop_assert_eq!(changed.is_some(), had.is_some_and(|m| m > max));
            if let Some(m) = had {
                prop_assert_eq!(mss(&t), Some(m.min(max)));
            }
        }

        /// Shifting SACK blocks by d and then by -d gives the segment back.
        #[test]
        fn sack_shift_round_trips(edges in proptest::collection::vec(any::<u32>(), 2..=8), d in any::<u32>()) {
            let n = edges.len() / 2 * 2;
            let mut opts = vec![1, 1, OPT_SACK, (2 + 4 * n) as u8];
            for v in &edges[..n] {
                opts.extend_from_slice(&v.to_be_bytes());
            }
            let orig = segment(&opts, &[9; 5]);
            let mut t = orig.clone();
            prop_assert_eq!(shift_sack(&mut t, d), n / 2);
            prop_assert!(checksum_ok(&t));
            shift_sack(&mut t, 0u32.wrapping_sub(d));
            // The checksum may change between its two encodings of zero.
            prop_assert_eq!(&t[..16], &orig[..16]);
            prop_assert_eq!(&t[18..], &orig[18..]);
            prop_assert!(checksum_ok(&t));
        }
    }
}
