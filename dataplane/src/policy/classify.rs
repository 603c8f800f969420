//! User-session types (claim 9): ordered rules name a type, the type sets
//! how its user sessions are served.
//!
//! A rule may also match the terminal's address and the destination it
//! addressed by prefix, IPv4 or IPv6; a prefix of one version never
//! matches a flow of the other (an IPv6 terminal's destination is the
//! IPv6 address it addressed: a service's IPv6 VIP or a NAT64-prefix
//! address).

use crate::shaping::Bitrate;
use crate::tier2::Timeouts;
use std::net::{Ipv4Addr, Ipv6Addr};

/// How a server is chosen for a new user session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Selection {
    /// Fewest live user sessions; weights ignored (weight 0 still excludes).
    LeastLoad,
    /// Fewest live user sessions per unit of weight.
    #[default]
    WeightedLeastLoad,
    /// Consistent hash of the terminal's address: the same terminal keeps
    /// its server while the server set is unchanged.
    Sticky,
}

/// A user-session type and its policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSessionType {
    pub name: String,
    pub selection: Selection,
    /// None: the policy's default timeouts.
    pub timeouts: Option<Timeouts>,
    /// Whether accounting records are written for it.
    pub accounted: bool,
    /// DSCP set on its packets both ways (wins over the service's).
    pub dscp: Option<u8>,
    /// A packet over its session ID's bitrate limit is forwarded with this
    /// DSCP instead of being dropped (`pipeline::rate_limit`); so is one
    /// over this type's own `bitrate` limit.
    pub over_limit_dscp: Option<u8>,
    /// A bitrate limit on each session ID's user sessions of this type
    /// (shared by them, on top of the subscriber's own limit;
    /// `shaping::TypeLimits`).
    pub bitrate: Option<Bitrate>,
}

/// An address prefix a rule matches (host bits zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrMatch {
    V4 { net: Ipv4Addr, len: u8 },
    V6 { net: Ipv6Addr, len: u8 },
}

impl AddrMatch {
    #[inline]
    fn holds4(&self, a: Ipv4Addr) -> bool {
        match *self {
            AddrMatch::V4 { net, len } => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(a) & mask == u32::from(net)
            }
            AddrMatch::V6 { .. } => false,
        }
    }

    #[inline]
    fn holds6(&self, a: Ipv6Addr) -> bool {
        match *self {
            AddrMatch::V6 { net, len } => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                a.to_bits() & mask == net.to_bits()
            }
            AddrMatch::V4 { .. } => false,
        }
    }
}

/// The addresses of a new flow a rule may match: the terminal's and the
/// destination it addressed, of one IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ends {
    V4 { terminal: Ipv4Addr, dst: Ipv4Addr },
    V6 { terminal: Ipv6Addr, dst: Ipv6Addr },
}

/// One classification rule; every present condition must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassRule {
    pub proto: Option<u8>,
    pub dst_ports: Option<(u16, u16)>,
    pub dscp: Option<u8>,
    /// The terminal's address lies in this prefix.
    pub terminal: Option<AddrMatch>,
    /// The destination the terminal addressed lies in this prefix.
    pub dst: Option<AddrMatch>,
    /// Index into `Classifier::types`.
    pub type_index: u8,
}

impl ClassRule {
    #[inline]
    fn matches(&self, proto: u8, dst_port: u16, dscp: u8, ends: &Ends) -> bool {
        self.proto.is_none_or(|p| p == proto)
            && self
                .dst_ports
                .is_none_or(|(lo, hi)| (lo..=hi).contains(&dst_port))
            && self.dscp.is_none_or(|d| d == dscp)
            && match *ends {
                Ends::V4 { terminal, dst } => {
                    self.terminal.is_none_or(|m| m.holds4(terminal))
                        && self.dst.is_none_or(|m| m.holds4(dst))
                }
                Ends::V6 { terminal, dst } => {
                    self.terminal.is_none_or(|m| m.holds6(terminal))
                        && self.dst.is_none_or(|m| m.holds6(dst))
                }
            }
    }
}

/// Types and the ordered rules that pick them. Type 0 is the default when
/// no rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classifier {
    pub types: Vec<UserSessionType>,
    pub rules: Vec<ClassRule>,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier {
            types: vec![UserSessionType {
                name: "other".into(),
                selection: Selection::default(),
                timeouts: None,
                accounted: true,
                dscp: None,
                over_limit_dscp: None,
                bitrate: None,
            }],
            rules: Vec::new(),
        }
    }
}

impl Classifier {
    /// The type of a new user session: the first matching rule's, else 0.
    #[inline]
    pub fn classify(&self, proto: u8, dst_port: u16, dscp: u8, ends: &Ends) -> u8 {
        self.rules
            .iter()
            .find(|r| r.matches(proto, dst_port, dscp, ends))
            .map_or(0, |r| r.type_index)
    }

    pub fn type_name(&self, t: u8) -> &str {
        self.types
            .get(usize::from(t))
            .map_or("unknown", |ty| ty.name.as_str())
    }

    #[inline]
    pub fn get(&self, t: u8) -> Option<&UserSessionType> {
        self.types.get(usize::from(t))
    }

    /// Whether type `t` has a bitrate limit of its own.
    pub fn has_bitrate(&self, t: u8) -> bool {
        self.get(t).is_some_and(|ty| ty.bitrate.is_some())
    }

    /// How many types have a bitrate limit of their own.
    pub fn limited_types(&self) -> usize {
        self.types.iter().filter(|t| t.bitrate.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(name: &str) -> UserSessionType {
        UserSessionType {
            name: name.into(),
            selection: Selection::LeastLoad,
            timeouts: None,
            accounted: true,
            dscp: None,
            over_limit_dscp: None,
            bitrate: None,
        }
    }

    const V4: Ends = Ends::V4 {
        terminal: Ipv4Addr::new(10, 8, 0, 5),
        dst: Ipv4Addr::new(10, 9, 0, 1),
    };

    fn by(terminal: Option<AddrMatch>, dst: Option<AddrMatch>, type_index: u8) -> ClassRule {
        ClassRule {
            proto: None,
            dst_ports: None,
            dscp: None,
            terminal,
            dst,
            type_index,
        }
    }

    #[test]
    fn rules_by_prefix_match_their_ip_version_only() {
        let v6 = |a: &str, len| AddrMatch::V6 {
            net: a.parse().unwrap(),
            len,
        };
        let c = Classifier {
            types: vec![ty("other"), ty("lab"), ty("nat64"), ty("v4net"), ty("any6")],
            rules: vec![
                by(Some(v6("2001:db8:5::", 48)), None, 1),
                by(None, Some(v6("64:ff9b::", 96)), 2),
                by(
                    Some(AddrMatch::V4 {
                        net: Ipv4Addr::UNSPECIFIED,
                        len: 0,
                    }),
                    None,
                    3,
                ),
                by(Some(v6("::", 0)), None, 4),
            ],
        };
        let ends6 = |t: &str, d: &str| Ends::V6 {
            terminal: t.parse().unwrap(),
            dst: d.parse().unwrap(),
        };
        let vip6 = "2001:db8:9::80";
        assert_eq!(c.classify(6, 80, 0, &ends6("2001:db8:5:7::1", vip6)), 1);
        assert_eq!(
            c.classify(6, 80, 0, &ends6("2001:db8:6::1", "64:ff9b::a09:1")),
            2
        );
        // The IPv4 catch-all never takes an IPv6 terminal: ::/0 does.
        assert_eq!(c.classify(6, 80, 0, &ends6("2001:db8:6::1", vip6)), 4);
        // And no IPv6 prefix takes an IPv4 terminal.
        assert_eq!(c.classify(6, 80, 0, &V4), 3);
    }

    #[test]
    fn first_matching_rule_wins() {
        let c = Classifier {
            types: vec![ty("other"), ty("web"), ty("video"), ty("voip")],
            rules: vec![
                ClassRule {
                    proto: Some(6),
                    dst_ports: Some((8000, 8999)),
                    dscp: None,
                    terminal: None,
                    dst: None,
                    type_index: 2,
                },
                ClassRule {
                    proto: Some(6),
                    dst_ports: Some((80, 80)),
                    dscp: None,
                    terminal: None,
                    dst: None,
                    type_index: 1,
                },
                ClassRule {
                    proto: Some(6),
                    dst_ports: None,
                    dscp: Some(34),
                    terminal: None,
                    dst: None,
                    type_index: 2,
                },
                ClassRule {
                    proto: Some(17),
                    dst_ports: None,
                    dscp: Some(46),
                    terminal: None,
                    dst: None,
                    type_index: 3,
                },
            ],
        };
        assert_eq!(c.classify(6, 80, 0, &V4), 1);
        assert_eq!(c.classify(6, 8080, 0, &V4), 2);
        assert_eq!(c.classify(6, 443, 34, &V4), 2);
        assert_eq!(c.classify(17, 5060, 46, &V4), 3);
        assert_eq!(c.classify(17, 5060, 0, &V4), 0);
        assert_eq!(c.type_name(3), "voip");
        assert_eq!(c.type_name(9), "unknown");
    }
}
