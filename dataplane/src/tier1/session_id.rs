//! Session IDs: the key tier-1 steers on.
//!
//! A session ID names the mobile session a packet from the access side
//! belongs to: the terminal's IPv4 source address, optionally together with
//! its VLAN ID, or the TEID of a GTP-U packet. The session manager can also
//! assign IDs of its own. All kinds share one `u64` space; the top byte says
//! which kind it is, so IDs of different kinds never collide:
//!
//! | top byte | kind | low bits | text form |
//! |---|---|---|---|
//! | `0x00` | source IP | address in bits 0..32 | `10.0.0.1` |
//! | `0x01` | source IP + VLAN | VLAN ID in bits 32..44, address in 0..32 | `10.0.0.1@vlan100` |
//! | `0x02` | GTP-U TEID | TEID in bits 0..32 | `teid:0x1234` |
//! | `0x03` | assigned by the session manager | counter in bits 0..56 | `id:42` |
//! | `0x80`–`0xff` (bit 63) | IPv6 source prefix | see below | `2001:db8:1:2::/64` |
//!
//! An IPv6 terminal's ID is its source prefix (default /64; 3GPP gives
//! every terminal its own /64), so a terminal that rotates its interface
//! identifier (privacy addresses, RFC 8981) keeps its session and its
//! gateway. The ID carries the prefix and its length: bit 63 marks the
//! kind, bits 61..63 the length ([`Ipv6SessionPrefix`]: 0 = /64, 1 = /60,
//! 2 = /56, 3 = /48), bits 0..61 the address's bits 3..64 (the first three
//! are always `001`: only global unicast, `2000::/3`, has a session ID),
//! the bits past the length zero. The text form is the prefix in CIDR
//! notation; `ctl` also accepts any address inside it with its length
//! (`2001:db8:1:2::99/64`), and a bare address stands for its /64.
//!
//! Any other value prints (and parses) as `raw:0x…`, so every `u64` has a
//! text form that reads back to itself.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::hash::hash_u64;

const KIND_SHIFT: u32 = 56;
const KIND_SOURCE_IP: u64 = 0x00;
const KIND_SOURCE_IP_VLAN: u64 = 0x01;
const KIND_GTP_TEID: u64 = 0x02;
const KIND_ASSIGNED: u64 = 0x03;
const VLAN_SHIFT: u32 = 32;
/// The 12-bit VLAN ID inside an 802.1Q tag control field.
const VLAN_ID_MASK: u16 = 0x0fff;
const LOW_32: u64 = 0xffff_ffff;
/// Largest counter an assigned ID can carry.
pub const MAX_ASSIGNED: u64 = (1 << KIND_SHIFT) - 1;
/// Seed of the hash that feeds Maglev: the same on every appliance.
const STEERING_SEED: u64 = 0x7469_6572_315f_7374;
/// Bit 63: the ID is an IPv6 prefix.
const IPV6_FLAG: u64 = 1 << 63;
/// Bits 61..63 of an IPv6 ID: its length code.
const IPV6_LEN_SHIFT: u32 = 61;
/// Bits 0..61 of an IPv6 ID: the prefix without its leading `001`.
const IPV6_BITS: u64 = (1 << IPV6_LEN_SHIFT) - 1;
/// The first three bits of every global unicast address (`2000::/3`).
const GLOBAL_UNICAST: u64 = 0b001 << 61;

/// How many leading bits of an IPv6 terminal's source address make its
/// session ID: the lengths operators hand out (3GPP: /64 per terminal;
/// RFC 6177: /48, /56 or /60 to a site), one of four so the length fits
/// in the ID beside the prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ipv6SessionPrefix {
    P48,
    P56,
    P60,
    #[default]
    P64,
}

impl Ipv6SessionPrefix {
    /// Every length, for messages and tests.
    pub const ALL: [Ipv6SessionPrefix; 4] = [
        Ipv6SessionPrefix::P64,
        Ipv6SessionPrefix::P60,
        Ipv6SessionPrefix::P56,
        Ipv6SessionPrefix::P48,
    ];

    /// The prefix length in bits.
    pub const fn bits(self) -> u8 {
        match self {
            Ipv6SessionPrefix::P48 => 48,
            Ipv6SessionPrefix::P56 => 56,
            Ipv6SessionPrefix::P60 => 60,
            Ipv6SessionPrefix::P64 => 64,
        }
    }

    /// The length of `bits`, if it is one of the four.
    pub const fn from_bits(bits: u8) -> Option<Ipv6SessionPrefix> {
        match bits {
            48 => Some(Ipv6SessionPrefix::P48),
            56 => Some(Ipv6SessionPrefix::P56),
            60 => Some(Ipv6SessionPrefix::P60),
            64 => Some(Ipv6SessionPrefix::P64),
            _ => None,
        }
    }

    const fn code(self) -> u64 {
        match self {
            Ipv6SessionPrefix::P64 => 0,
            Ipv6SessionPrefix::P60 => 1,
            Ipv6SessionPrefix::P56 => 2,
            Ipv6SessionPrefix::P48 => 3,
        }
    }

    const fn from_code(code: u64) -> Ipv6SessionPrefix {
        match code & 3 {
            0 => Ipv6SessionPrefix::P64,
            1 => Ipv6SessionPrefix::P60,
            2 => Ipv6SessionPrefix::P56,
            _ => Ipv6SessionPrefix::P48,
        }
    }

    /// The mask of the prefix's bits within the address's upper 64.
    const fn mask(self) -> u64 {
        !0u64 << (64 - self.bits() as u32)
    }
}

/// The ID of one mobile session (see the module docs for the layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// Which packet fields make up the session ID on an access port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionKeyMode {
    /// The terminal's IPv4 source address.
    SourceIp,
    /// The terminal's IPv4 source address and the VLAN ID it arrived on.
    SourceIpVlan,
    /// The TEID of a GTP-U packet.
    GtpTeid,
}

/// A session ID taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionIdKind {
    SourceIp(Ipv4Addr),
    SourceIpVlan {
        addr: Ipv4Addr,
        vlan: u16,
    },
    GtpTeid(u32),
    Assigned(u64),
    /// An IPv6 terminal's source prefix (`addr` has no bits past `len`).
    Ipv6Prefix {
        addr: Ipv6Addr,
        len: Ipv6SessionPrefix,
    },
    /// A value no constructor produces (for example a corrupt config).
    Raw(u64),
}

/// The session ID of a packet under `mode`, or `None` when the packet lacks
/// the field the mode needs (no VLAN tag, not GTP-U). `vlan` may be the
/// whole tag control field: only its 12-bit VLAN ID is used, so the
/// priority bits do not split a session.
#[inline]
pub fn session_id(
    mode: SessionKeyMode,
    src_ip: Ipv4Addr,
    vlan: Option<u16>,
    teid: Option<u32>,
) -> Option<SessionId> {
    match mode {
        SessionKeyMode::SourceIp => Some(SessionId::from_source_ip(src_ip)),
        SessionKeyMode::SourceIpVlan => vlan.map(|tag| SessionId::from_source_ip_vlan(src_ip, tag)),
        SessionKeyMode::GtpTeid => teid.map(SessionId::from_teid),
    }
}

/// The session ID of an IPv6 terminal's packet from `src` under `mode`:
/// its prefix of length `len` in the source-address modes (`None` for a
/// source outside `2000::/3`: link-local, unique-local, unspecified and
/// multicast sources name no terminal's session), `None` under
/// `SourceIpVlan` (no room in the ID for a VLAN beside a prefix) and
/// `GtpTeid` (there the TEID is the ID, whatever the inner version).
#[inline]
pub fn session_id_v6(
    mode: SessionKeyMode,
    src: Ipv6Addr,
    len: Ipv6SessionPrefix,
) -> Option<SessionId> {
    match mode {
        SessionKeyMode::SourceIp => SessionId::from_ipv6_prefix(src, len),
        SessionKeyMode::SourceIpVlan | SessionKeyMode::GtpTeid => None,
    }
}

impl SessionId {
    /// The ID of the prefix of length `len` that holds `addr`; `None`
    /// outside global unicast (`2000::/3`).
    #[inline]
    pub const fn from_ipv6_prefix(addr: Ipv6Addr, len: Ipv6SessionPrefix) -> Option<SessionId> {
        let upper = (addr.to_bits() >> 64) as u64;
        if upper & !IPV6_BITS != GLOBAL_UNICAST {
            return None;
        }
        Some(SessionId(
            IPV6_FLAG | len.code() << IPV6_LEN_SHIFT | (upper & len.mask() & IPV6_BITS),
        ))
    }

    pub const fn from_source_ip(addr: Ipv4Addr) -> SessionId {
        SessionId(KIND_SOURCE_IP << KIND_SHIFT | u32::from_be_bytes(addr.octets()) as u64)
    }

    /// `vlan` is masked to its 12-bit VLAN ID.
    pub const fn from_source_ip_vlan(addr: Ipv4Addr, vlan: u16) -> SessionId {
        let vlan_id = (vlan & VLAN_ID_MASK) as u64;
        SessionId(
            KIND_SOURCE_IP_VLAN << KIND_SHIFT
                | vlan_id << VLAN_SHIFT
                | u32::from_be_bytes(addr.octets()) as u64,
        )
    }

    pub const fn from_teid(teid: u32) -> SessionId {
        SessionId(KIND_GTP_TEID << KIND_SHIFT | teid as u64)
    }

    /// An ID from the session manager's own space; `None` above
    /// [`MAX_ASSIGNED`].
    pub const fn assigned(counter: u64) -> Option<SessionId> {
        if counter > MAX_ASSIGNED {
            None
        } else {
            Some(SessionId(KIND_ASSIGNED << KIND_SHIFT | counter))
        }
    }

    /// Takes the ID apart according to its kind byte.
    pub fn kind(self) -> SessionIdKind {
        let value = self.0;
        let low = value & LOW_32;
        let middle = (value >> VLAN_SHIFT) & ((1 << (KIND_SHIFT - VLAN_SHIFT)) - 1);
        if value & IPV6_FLAG != 0 {
            let len = Ipv6SessionPrefix::from_code(value >> IPV6_LEN_SHIFT);
            let upper = GLOBAL_UNICAST | (value & IPV6_BITS);
            if upper & !len.mask() != 0 {
                return SessionIdKind::Raw(value);
            }
            return SessionIdKind::Ipv6Prefix {
                addr: Ipv6Addr::from_bits(u128::from(upper) << 64),
                len,
            };
        }
        match value >> KIND_SHIFT {
            KIND_SOURCE_IP if middle == 0 => SessionIdKind::SourceIp(Ipv4Addr::from(low as u32)),
            KIND_SOURCE_IP_VLAN if middle <= u64::from(VLAN_ID_MASK) => {
                SessionIdKind::SourceIpVlan {
                    addr: Ipv4Addr::from(low as u32),
                    vlan: middle as u16,
                }
            }
            KIND_GTP_TEID if middle == 0 => SessionIdKind::GtpTeid(low as u32),
            KIND_ASSIGNED => SessionIdKind::Assigned(value & MAX_ASSIGNED),
            _ => SessionIdKind::Raw(value),
        }
    }

    /// The hash Maglev steers on. Fixed seed: every core and every appliance
    /// computes the same value.
    #[inline]
    pub fn steering_hash(self) -> u64 {
        hash_u64(self.0, STEERING_SEED)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            SessionIdKind::SourceIp(addr) => write!(f, "{addr}"),
            SessionIdKind::SourceIpVlan { addr, vlan } => write!(f, "{addr}@vlan{vlan}"),
            SessionIdKind::GtpTeid(teid) => write!(f, "teid:{teid:#x}"),
            SessionIdKind::Assigned(counter) => write!(f, "id:{counter}"),
            SessionIdKind::Ipv6Prefix { addr, len } => write!(f, "{addr}/{}", len.bits()),
            SessionIdKind::Raw(value) => write!(f, "raw:{value:#x}"),
        }
    }
}

/// A string that is not a session ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseSessionIdError {
    input: String,
}

impl fmt::Display for ParseSessionIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a session ID; write an IPv4 address (10.0.0.1), an address \
             with its VLAN ID 0-4095 (10.0.0.1@vlan100), a GTP-U TEID (teid:0x1234 or \
             teid:4660), a manager-assigned ID (id:42), an IPv6 terminal's prefix \
             (2001:db8:1:2::/64; length 48, 56, 60 or 64; a global unicast address) \
             or raw:0x<hex>",
            self.input
        )
    }
}

impl std::error::Error for ParseSessionIdError {}

impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        parse_session_id(trimmed).ok_or_else(|| ParseSessionIdError {
            input: trimmed.to_owned(),
        })
    }
}

fn parse_session_id(text: &str) -> Option<SessionId> {
    if let Some(teid) = text.strip_prefix("teid:") {
        return u32::try_from(parse_integer(teid)?)
            .ok()
            .map(SessionId::from_teid);
    }
    if let Some(counter) = text.strip_prefix("id:") {
        return SessionId::assigned(parse_integer(counter)?);
    }
    if let Some(value) = text.strip_prefix("raw:") {
        return parse_integer(value).map(SessionId);
    }
    if let Some((addr, vlan)) = text.split_once("@vlan") {
        let vlan: u16 = vlan.parse().ok()?;
        if vlan > VLAN_ID_MASK {
            return None;
        }
        return Some(SessionId::from_source_ip_vlan(addr.parse().ok()?, vlan));
    }
    if text.contains(':') {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Ipv6SessionPrefix::from_bits(len.parse().ok()?)?),
            None => (text, Ipv6SessionPrefix::P64),
        };
        return SessionId::from_ipv6_prefix(addr.parse().ok()?, len);
    }
    text.parse().ok().map(SessionId::from_source_ip)
}

/// Decimal, or hexadecimal with a `0x` prefix.
fn parse_integer(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl fmt::Display for SessionKeyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionKeyMode::SourceIp => "source-ip",
            SessionKeyMode::SourceIpVlan => "source-ip-vlan",
            SessionKeyMode::GtpTeid => "gtp-teid",
        })
    }
}

impl FromStr for SessionKeyMode {
    type Err = String;

    /// Accepts `source-ip`, `source-ip-vlan` and `gtp-teid` (the config
    /// spelling).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "source-ip" => Ok(SessionKeyMode::SourceIp),
            "source-ip-vlan" => Ok(SessionKeyMode::SourceIpVlan),
            "gtp-teid" => Ok(SessionKeyMode::GtpTeid),
            other => Err(format!(
                "unknown session key mode `{other}`; use source-ip, source-ip-vlan or gtp-teid"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TERMINAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    #[test]
    fn modes_take_their_field_or_refuse() {
        use SessionKeyMode::*;
        assert_eq!(
            session_id(SourceIp, TERMINAL, Some(7), Some(9)),
            Some(SessionId(0x0a00_0001))
        );
        assert_eq!(
            session_id(SourceIpVlan, TERMINAL, Some(100), None),
            Some(SessionId(1 << 56 | 100 << 32 | 0x0a00_0001))
        );
        assert_eq!(session_id(SourceIpVlan, TERMINAL, None, Some(9)), None);
        assert_eq!(
            session_id(GtpTeid, TERMINAL, None, Some(0x1234)),
            Some(SessionId(2 << 56 | 0x1234))
        );
        assert_eq!(session_id(GtpTeid, TERMINAL, Some(1), None), None);
    }

    #[test]
    fn kinds_do_not_collide() {
        let by_ip = SessionId::from_source_ip(Ipv4Addr::from(0x1234));
        let by_vlan0 = SessionId::from_source_ip_vlan(Ipv4Addr::from(0x1234), 0);
        let by_teid = SessionId::from_teid(0x1234);
        let assigned = SessionId::assigned(0x1234).unwrap();
        let all = [by_ip, by_vlan0, by_teid, assigned];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn vlan_priority_bits_are_ignored() {
        let tci_with_priority = 0xa000 | 100;
        assert_eq!(
            SessionId::from_source_ip_vlan(TERMINAL, tci_with_priority),
            SessionId::from_source_ip_vlan(TERMINAL, 100)
        );
    }

    #[test]
    fn text_forms() {
        let cases = [
            (SessionId::from_source_ip(TERMINAL), "10.0.0.1"),
            (
                SessionId::from_source_ip_vlan(TERMINAL, 100),
                "10.0.0.1@vlan100",
            ),
            (SessionId::from_teid(0x1234), "teid:0x1234"),
            (SessionId::assigned(42).unwrap(), "id:42"),
            (SessionId(0xff00_0000_0000_0001), "raw:0xff00000000000001"),
            (SessionId(1 << 40), "raw:0x10000000000"),
        ];
        for (id, text) in cases {
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<SessionId>(), Ok(id));
        }
        assert_eq!(" teid:4660 ".parse(), Ok(SessionId::from_teid(0x1234)));
        assert_eq!("teid:0X1234".parse(), Ok(SessionId::from_teid(0x1234)));
    }

    #[test]
    fn bad_text_is_refused_with_a_hint() {
        for bad in [
            "",
            "10.0.0",
            "10.0.0.1@vlan4096",
            "10.0.0.1@vlan",
            "teid:0x1_0000_0000",
            "teid:0x100000000",
            "id:72057594037927936",
            "raw:xyz",
            "host",
        ] {
            let error = bad.parse::<SessionId>().unwrap_err();
            assert!(error.to_string().contains("10.0.0.1@vlan100"), "{bad}");
        }
    }

    #[test]
    fn key_modes_round_trip_through_text() {
        for mode in [
            SessionKeyMode::SourceIp,
            SessionKeyMode::SourceIpVlan,
            SessionKeyMode::GtpTeid,
        ] {
            assert_eq!(mode.to_string().parse(), Ok(mode));
        }
        assert!("teid".parse::<SessionKeyMode>().is_err());
    }

    fn v6(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    #[test]
    fn an_ipv6_terminal_keeps_its_id_when_it_changes_its_interface_identifier() {
        use Ipv6SessionPrefix::*;
        let a = v6("2001:db8:1:2:a8bb:ccff:fedd:eeff");
        let b = v6("2001:db8:1:2:1234:5678:9abc:def0");
        let other = v6("2001:db8:1:3::1");
        let id = session_id_v6(SessionKeyMode::SourceIp, a, P64).unwrap();
        assert_eq!(session_id_v6(SessionKeyMode::SourceIp, b, P64), Some(id));
        assert_ne!(
            session_id_v6(SessionKeyMode::SourceIp, other, P64),
            Some(id)
        );
        // A /56 holds both /64s.
        assert_eq!(
            SessionId::from_ipv6_prefix(a, P56),
            SessionId::from_ipv6_prefix(other, P56)
        );
        assert_eq!(
            id.kind(),
            SessionIdKind::Ipv6Prefix {
                addr: v6("2001:db8:1:2::"),
                len: P64
            }
        );
    }

    #[test]
    fn only_global_unicast_ipv6_sources_and_the_source_mode_have_an_id() {
        use Ipv6SessionPrefix::P64;
        for src in ["fe80::1", "fd00::1", "::", "::1", "ff02::1", "4000::1"] {
            assert_eq!(SessionId::from_ipv6_prefix(v6(src), P64), None, "{src}");
        }
        let a = v6("2001:db8::1");
        assert_eq!(session_id_v6(SessionKeyMode::SourceIpVlan, a, P64), None);
        assert_eq!(session_id_v6(SessionKeyMode::GtpTeid, a, P64), None);
        assert!(session_id_v6(SessionKeyMode::SourceIp, v6("3fff:ffff::1"), P64).is_some());
    }

    #[test]
    fn ipv6_ids_do_not_collide_with_other_kinds_or_lengths() {
        use Ipv6SessionPrefix::*;
        let a = v6("2001:db8:1:200::1");
        let ids: Vec<SessionId> = [P64, P60, P56, P48]
            .iter()
            .map(|&len| SessionId::from_ipv6_prefix(a, len).unwrap())
            .collect();
        for (i, x) in ids.iter().enumerate() {
            for y in &ids[i + 1..] {
                assert_ne!(x, y);
            }
            assert!(x.0 >> 56 > KIND_ASSIGNED);
        }
    }

    #[test]
    fn ipv6_text_forms() {
        use Ipv6SessionPrefix::*;
        let id = SessionId::from_ipv6_prefix(v6("2001:db8:1:2::77"), P64).unwrap();
        assert_eq!(id.to_string(), "2001:db8:1:2::/64");
        for text in [
            "2001:db8:1:2::/64",
            "2001:db8:1:2::77",
            "2001:db8:1:2:ffff::1/64",
        ] {
            assert_eq!(text.parse(), Ok(id), "{text}");
        }
        let id56 = SessionId::from_ipv6_prefix(v6("2001:db8:1:2ff::1"), P56).unwrap();
        assert_eq!(id56.to_string(), "2001:db8:1:200::/56");
        assert_eq!("2001:db8:1:2ff::1/56".parse(), Ok(id56));
        for bad in ["2001:db8::/63", "fe80::1/64", "2001:db8::/", "2001:db8:::1"] {
            let error = bad.parse::<SessionId>().unwrap_err();
            assert!(error.to_string().contains("2001:db8:1:2::/64"), "{bad}");
        }
        for len in Ipv6SessionPrefix::ALL {
            assert_eq!(Ipv6SessionPrefix::from_bits(len.bits()), Some(len));
        }
        assert_eq!(Ipv6SessionPrefix::from_bits(63), None);
    }

    proptest! {
        #[test]
        fn ipv6_ids_read_back_and_ignore_the_bits_past_their_length(
            addr in any::<u128>(), iid in any::<u64>(), code in 0usize..4,
        ) {
            let len = Ipv6SessionPrefix::ALL[code];
            // Into 2000::/3.
            let addr = addr & !(0b111 << 125) | 0b001 << 125;
            let a = Ipv6Addr::from_bits(addr);
            let id = SessionId::from_ipv6_prefix(a, len).unwrap();
            prop_assert_eq!(id.to_string().parse::<SessionId>(), Ok(id));
            // Any bits past the length: the same ID.
            let past_length = !(u128::MAX << (128 - u32::from(len.bits())));
            let noise = u128::from(iid) << 64 | u128::from(iid);
            let b = Ipv6Addr::from_bits(addr ^ (noise & past_length));
            prop_assert_eq!(SessionId::from_ipv6_prefix(b, len), Some(id));
        }

        #[test]
        fn every_id_reads_back_from_its_text(value in any::<u64>()) {
            let id = SessionId(value);
            prop_assert_eq!(id.to_string().parse::<SessionId>(), Ok(id));
        }

        #[test]
        fn constructed_ids_print_as_their_kind(addr in any::<u32>(), vlan in 0u16..4096, teid in any::<u32>()) {
            let addr = Ipv4Addr::from(addr);
            prop_assert_eq!(SessionId::from_source_ip(addr).kind(), SessionIdKind::SourceIp(addr));
            prop_assert_eq!(
                SessionId::from_source_ip_vlan(addr, vlan).kind(),
                SessionIdKind::SourceIpVlan { addr, vlan }
            );
            prop_assert_eq!(SessionId::from_teid(teid).kind(), SessionIdKind::GtpTeid(teid));
        }
    }
}
