//! Address types as they are written in config files.
//!
//! They deserialize from strings and fail inside the deserializer, so a bad
//! address is reported by RON with the line and column where it stands.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 address with its prefix length, e.g. `10.1.0.1/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        if Ipv6Addr::from_str(a).is_ok() {
            return Err(format!(
                "'{s}' is an IPv6 prefix, but this field takes IPv4 prefixes only \
                 (e.g. 10.1.0.0/24)"
            ));
        }
        let addr = Ipv4Addr::from_str(a)
            .map_err(|_| format!("'{s}' is not an IPv4 address (expected e.g. 10.1.0.1/24)"))?;
        let prefix_len = match p {
            None => 32,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= 32 => n,
                _ => return Err(format!("'{s}': prefix length must be 0..=32")),
            },
        };
        Ok(Ipv4Cidr { addr, prefix_len })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl<'de> Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ipv4Cidr::from_str(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Ipv4Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An IPv6 address with its prefix length, e.g. `2001:db8:1::1/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Cidr {
    pub addr: Ipv6Addr,
    pub prefix_len: u8,
}

impl FromStr for Ipv6Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        if Ipv4Addr::from_str(a).is_ok() {
            return Err(format!(
                "'{s}' is an IPv4 prefix, but this field takes IPv6 prefixes only \
                 (e.g. 2001:db8:1::/48)"
            ));
        }
        let addr = Ipv6Addr::from_str(a).map_err(|_| {
            format!("'{s}' is not an IPv6 address (expected e.g. 2001:db8:1::1/64)")
        })?;
        let prefix_len = match p {
            None => 128,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= 128 => n,
                _ => return Err(format!("'{s}': prefix length must be 0..=128")),
            },
        };
        Ok(Ipv6Cidr { addr, prefix_len })
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// One address of a port: IPv4 or IPv6, with prefix length. Written as a
/// string; one with a `:` is read as IPv6. Also any prefix of either
/// version ([`IpCidr`]: a subscriber entry's `prefix`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortAddr {
    V4(Ipv4Cidr),
    V6(Ipv6Cidr),
}

/// An IPv4 or an IPv6 prefix, e.g. `10.8.0.0/16` or `2001:db8:5::/48`.
pub type IpCidr = PortAddr;

impl PortAddr {
    /// The IPv4 address, if this is one.
    pub fn v4(&self) -> Option<Ipv4Cidr> {
        match self {
            PortAddr::V4(c) => Some(*c),
            PortAddr::V6(_) => None,
        }
    }

    /// The IPv6 address, if this is one.
    pub fn v6(&self) -> Option<Ipv6Cidr> {
        match self {
            PortAddr::V6(c) => Some(*c),
            PortAddr::V4(_) => None,
        }
    }

    /// The address without its prefix length.
    pub fn ip(&self) -> std::net::IpAddr {
        match self {
            PortAddr::V4(c) => c.addr.into(),
            PortAddr::V6(c) => c.addr.into(),
        }
    }
}

impl FromStr for PortAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            Ipv6Cidr::from_str(s).map(PortAddr::V6)
        } else {
            Ipv4Cidr::from_str(s)
                .map(PortAddr::V4)
                .map_err(|e| format!("{e}; an IPv6 address is written e.g. 2001:db8:1::1/64"))
        }
    }
}

impl fmt::Display for PortAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortAddr::V4(c) => c.fmt(f),
            PortAddr::V6(c) => c.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for PortAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PortAddr::from_str(&s).map_err(de::Error::custom)
    }
}

impl Serialize for PortAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A plain IPv4 address written as a string, e.g. `"10.2.0.21"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ip(pub Ipv4Addr);

impl<'de> Deserialize<'de> for Ip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if Ipv6Addr::from_str(&s).is_ok() {
            return Err(de::Error::custom(format!(
                "'{s}' is an IPv6 address, but this field takes IPv4 only (an IPv6 VIP is \
                 written `vip6`, an IPv6 gateway address goes in `gateway.ipv6_addresses`)"
            )));
        }
        Ipv4Addr::from_str(&s)
            .map(Ip)
            .map_err(|_| de::Error::custom(format!("'{s}' is not an IPv4 address")))
    }
}

impl Serialize for Ip {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A server's address: IPv4 (`"10.2.0.21"`) or IPv6 (`"2001:db8:2::21"`,
/// a service with a `vip6` served over IPv6 → IPv6 full NAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerIp(pub std::net::IpAddr);

impl ServerIp {
    /// The IPv4 address, if this is one.
    pub fn v4(&self) -> Option<Ipv4Addr> {
        match self.0 {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        }
    }

    /// The IPv6 address, if this is one.
    pub fn v6(&self) -> Option<Ipv6Addr> {
        match self.0 {
            std::net::IpAddr::V4(_) => None,
            std::net::IpAddr::V6(a) => Some(a),
        }
    }
}

impl<'de> Deserialize<'de> for ServerIp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let a = std::net::IpAddr::from_str(&s)
            .map_err(|_| de::Error::custom(format!("'{s}' is not an IPv4 or IPv6 address")))?;
        let unicast = match a {
            std::net::IpAddr::V4(v4) => !(v4.is_multicast() || v4.is_broadcast()),
            std::net::IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_unicast_link_local()),
        };
        if !unicast || a.is_unspecified() || a.is_loopback() {
            return Err(de::Error::custom(format!(
                "'{s}' is not a server address (multicast, broadcast, link-local, loopback \
                 and unspecified addresses are not)"
            )));
        }
        Ok(ServerIp(a))
    }
}

impl Serialize for ServerIp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl fmt::Display for ServerIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A route's next hop: an IPv4 address, or an IPv6 one (link-local
/// included: IPv6 routers are usually reached at theirs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NextHopIp(pub std::net::IpAddr);

impl<'de> Deserialize<'de> for NextHopIp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let a = std::net::IpAddr::from_str(&s)
            .map_err(|_| de::Error::custom(format!("'{s}' is not an IPv4 or IPv6 address")))?;
        if a.is_multicast() || a.is_unspecified() || a.is_loopback() {
            return Err(de::Error::custom(format!(
                "'{s}' cannot be a next hop (multicast, unspecified or loopback)"
            )));
        }
        Ok(NextHopIp(a))
    }
}

impl Serialize for NextHopIp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl fmt::Display for NextHopIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv6 unicast address written as a string, e.g. `"2001:db8:9::80"`
/// (a service's `vip6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ip6(pub Ipv6Addr);

impl<'de> Deserialize<'de> for Ip6 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if Ipv4Addr::from_str(&s).is_ok() {
            return Err(de::Error::custom(format!(
                "'{s}' is an IPv4 address; an IPv4 VIP is written `vip`"
            )));
        }
        let a = Ipv6Addr::from_str(&s)
            .map_err(|_| de::Error::custom(format!("'{s}' is not an IPv6 address")))?;
        if a.is_multicast() || a.is_unspecified() || a.is_loopback() || a.to_ipv4_mapped().is_some()
        {
            return Err(de::Error::custom(format!(
                "'{s}' is not a unicast IPv6 address (multicast, ::, ::1 and IPv4-mapped \
                 addresses cannot be a VIP)"
            )));
        }
        Ok(Ip6(a))
    }
}

impl Serialize for Ip6 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl fmt::Display for Ip6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Ipv6Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ipv6Cidr::from_str(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Ipv6Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An Ethernet address written as `"02:00:00:00:00:01"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 || part.len() != 2 {
                return Err(format!(
                    "'{s}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)"
                ));
            }
            out[n] = u8::from_str_radix(part, 16)
                .map_err(|_| format!("'{s}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)"))?;
            n += 1;
        }
        if n != 6 {
            return Err(format!(
                "'{s}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)"
            ));
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Mac::from_str(&s).map_err(de::Error::custom)
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses() {
        let c: Ipv4Cidr = "10.1.0.1/24".parse().unwrap();
        assert_eq!(c.addr, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(c.prefix_len, 24);
        let host: Ipv4Cidr = "10.1.0.1".parse().unwrap();
        assert_eq!(host.prefix_len, 32);
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(all.prefix_len, 0);
    }

    #[test]
    fn bad_cidrs_are_refused() {
        assert!("10.1.0/24".parse::<Ipv4Cidr>().is_err());
        assert!("10.1.0.1/33".parse::<Ipv4Cidr>().is_err());
        assert!("10.1.0.1/x".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn port_addresses_of_both_versions_parse() {
        let v4: PortAddr = "10.1.0.1/24".parse().unwrap();
        assert_eq!(v4.v4().map(|c| c.prefix_len), Some(24));
        assert_eq!(v4.v6(), None);
        let v6: PortAddr = "2001:db8:1::1/64".parse().unwrap();
        let c = v6.v6().unwrap();
        assert_eq!(c.addr, "2001:db8:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(c.prefix_len, 64);
        assert_eq!(v6.to_string(), "2001:db8:1::1/64");
        let host: PortAddr = "fe80::1".parse().unwrap();
        assert_eq!(host.v6().map(|c| c.prefix_len), Some(128));
        assert!("2001:db8::1/129".parse::<PortAddr>().is_err());
        assert!("2001:db8::g/64".parse::<PortAddr>().is_err());
        assert!("10.1.0.1/33".parse::<PortAddr>().is_err());
    }

    #[test]
    fn mac_round_trip() {
        let m: Mac = "02:00:00:aa:bb:0c".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0, 0xaa, 0xbb, 0x0c]);
        assert_eq!(m.to_string(), "02:00:00:aa:bb:0c");
        assert!("02:00:00:aa:bb".parse::<Mac>().is_err());
        assert!("02:00:00:aa:bb:0c:11".parse::<Mac>().is_err());
        assert!("zz:00:00:aa:bb:0c".parse::<Mac>().is_err());
    }
}
