//! Ethernet MAC addresses: the one address type std does not provide.

use std::fmt;
use std::str::FromStr;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00 (unknown target in ARP requests).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets.
    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// All ones.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }

    /// Group bit set (broadcast counts as multicast).
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Group bit clear.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not six colon-separated hex octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacParseError;

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a MAC address like 02:00:00:00:00:01")
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Parses `aa:bb:cc:dd:ee:ff` (either case; `-` also accepted as separator).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut octets = [0u8; 6];
        let mut parts = text.split([':', '-']);
        for octet in octets.iter_mut() {
            let part = parts.next().ok_or(MacParseError)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(MacParseError);
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| MacParseError)?;
        }
        if parts.next().is_some() {
            return Err(MacParseError);
        }
        Ok(MacAddr(octets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classifies_addresses() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        let ipv4_mcast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(ipv4_mcast.is_multicast());
        assert!(!ipv4_mcast.is_broadcast());
        let local = MacAddr([0x02, 0, 0, 0, 0, 1]);
        assert!(local.is_unicast());
        assert!(!local.is_multicast());
        assert!(!local.is_broadcast());
    }

    #[test]
    fn displays_lowercase_colon_hex() {
        let mac = MacAddr([0x02, 0xab, 0x0c, 0x00, 0xff, 0x10]);
        assert_eq!(mac.to_string(), "02:ab:0c:00:ff:10");
        assert_eq!(format!("{mac:?}"), "02:ab:0c:00:ff:10");
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:00:00:00:00:01",
            "02:00:00:00:00:0g",
            "020000000001",
            "+2:00:00:00:00:01",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(MacParseError), "{bad}");
        }
        assert_eq!(
            "02-AB-0c-00-ff-10".parse::<MacAddr>(),
            Ok(MacAddr([0x02, 0xab, 0x0c, 0x00, 0xff, 0x10]))
        );
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(octets in any::<[u8; 6]>()) {
            let mac = MacAddr(octets);
            prop_assert_eq!(mac.to_string().parse::<MacAddr>(), Ok(mac));
        }
    }
}
