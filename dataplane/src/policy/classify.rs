//! User-session types (claim 9): ordered rules name a type, the type sets
//! how its user sessions are served.

use crate::shaping::Bitrate;
use crate::tier2::Timeouts;

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

/// One classification rule; every present condition must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassRule {
    pub proto: Option<u8>,
    pub dst_ports: Option<(u16, u16)>,
    pub dscp: Option<u8>,
    /// Index into `Classifier::types`.
    pub type_index: u8,
}

impl ClassRule {
    #[inline]
    fn matches(&self, proto: u8, dst_port: u16, dscp: u8) -> bool {
        self.proto.is_none_or(|p| p == proto)
            && self
                .dst_ports
                .is_none_or(|(lo, hi)| (lo..=hi).contains(&dst_port))
            && self.dscp.is_none_or(|d| d == dscp)
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
    pub fn classify(&self, proto: u8, dst_port: u16, dscp: u8) -> u8 {
        self.rules
            .iter()
            .find(|r| r.matches(proto, dst_port, dscp))
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

    #[test]
    fn first_matching_rule_wins() {
        let c = Classifier {
            types: vec![ty("other"), ty("web"), ty("video"), ty("voip")],
            rules: vec![
                ClassRule {
                    proto: Some(6),
                    dst_ports: Some((8000, 8999)),
                    dscp: None,
                    type_index: 2,
                },
                ClassRule {
                    proto: Some(6),
                    dst_ports: Some((80, 80)),
                    dscp: None,
                    type_index: 1,
                },
                ClassRule {
                    proto: Some(6),
                    dst_ports: None,
                    dscp: Some(34),
                    type_index: 2,
                },
                ClassRule {
                    proto: Some(17),
                    dst_ports: None,
                    dscp: Some(46),
                    type_index: 3,
                },
            ],
        };
        assert_eq!(c.classify(6, 80, 0), 1);
        assert_eq!(c.classify(6, 8080, 0), 2);
        assert_eq!(c.classify(6, 443, 34), 2);
        assert_eq!(c.classify(17, 5060, 46), 3);
        assert_eq!(c.classify(17, 5060, 0), 0);
        assert_eq!(c.type_name(3), "voip");
        assert_eq!(c.type_name(9), "unknown");
    }
}
