//! The `subscribers` section: each entry a session ID or a prefix, naming
//! defined services; an IPv6 entry must be able to match an IPv6
//! terminal's session ID (its prefix of `steering.ipv6_prefix_len` bits).

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::net::PortAddr;
use crate::config::schema::{Config, SessionKey};
use dataplane::tier1::{SessionId, SessionIdKind};
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

pub fn check(c: &Config, svc_names: &HashSet<&str>) -> Result<(), Violation> {
    for (i, e) in c.subscribers.entries.iter().enumerate() {
        let entry = || vec![field("subscribers"), field("entries"), Seg::Index(i)];
        match (&e.session, &e.prefix) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(violation(
                    entry(),
                    "give exactly one of `session` or `prefix`".into(),
                ))
            }
            (Some(sid), None) => {
                let at = || {
                    let mut p = entry();
                    p.push(field("session"));
                    p
                };
                let Ok(id) = sid.parse::<SessionId>() else {
                    return Err(violation(
                        at(),
                        format!("\"{sid}\" is not a session ID (e.g. \"10.1.0.5\", \"10.1.0.5@vlan100\", \"teid:0x10\", \"2001:db8:1:2::/64\"); for the IPv6 terminals inside a prefix of any length write `prefix: \"2001:db8::/40\"`"),
                    ));
                };
                if let Some(why) = unmatched_ipv6_prefix(c, id) {
                    return Err(violation(at(), format!("\"{sid}\" {why}")));
                }
            }
            (None, Some(p)) => {
                if let Some(why) = prefix_problem(c, p) {
                    let mut at = entry();
                    at.push(field("prefix"));
                    return Err(violation(at, format!("\"{p}\" {why}")));
                }
            }
        }
        for (j, name) in e.services.iter().flatten().enumerate() {
            if !svc_names.contains(name.as_str()) {
                let mut p = entry();
                p.push(field("services"));
                p.push(Seg::Index(j));
                return Err(violation(p, format!("no service is named \"{name}\"")));
            }
        }
    }
    Ok(())
}

/// Why an entry for session `id` could never match, when `id` is an IPv6
/// prefix: IPv6 terminals' session IDs are their prefixes of
/// `steering.ipv6_prefix_len` bits, and only under `steering.key:
/// SourceIp`. A shorter prefix names every session ID inside it (it is
/// kept as a prefix entry, `plan::ipv6_session_as_prefix`); a longer one
/// would split a session ID. Also asked by `ctl subscriber add`.
pub fn unmatched_ipv6_prefix(c: &Config, id: SessionId) -> Option<String> {
    let SessionIdKind::Ipv6Prefix { addr, len } = id.kind() else {
        return None;
    };
    ipv6_problem(c, addr, len.bits())
}

/// Why prefix entry `p` is wrong: host bits set, or (IPv6) it could never
/// match a terminal's session ID. Also asked by `ctl subscriber add`.
pub fn prefix_problem(c: &Config, p: &PortAddr) -> Option<String> {
    host_bits(p).or_else(|| match *p {
        PortAddr::V4(_) => None,
        PortAddr::V6(p) => ipv6_problem(c, p.addr, p.prefix_len),
    })
}

/// "has host bits set; did you mean …" when `p` has bits past its length.
pub(super) fn host_bits(p: &PortAddr) -> Option<String> {
    let (net, len) = match *p {
        PortAddr::V4(p) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(p.prefix_len))
                .unwrap_or(0);
            let net = Ipv4Addr::from(u32::from(p.addr) & mask);
            (std::net::IpAddr::from(net), p.prefix_len)
        }
        PortAddr::V6(p) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(p.prefix_len))
                .unwrap_or(0);
            let net = Ipv6Addr::from_bits(p.addr.to_bits() & mask);
            (std::net::IpAddr::from(net), p.prefix_len)
        }
    };
    (net != p.ip()).then(|| format!("has host bits set; did you mean \"{net}/{len}\"?"))
}

/// Why an IPv6 entry for `addr/len` could never match a terminal's
/// session ID.
fn ipv6_problem(c: &Config, addr: Ipv6Addr, len: u8) -> Option<String> {
    let want = c.steering.ipv6_prefix_len;
    if c.steering.key != SessionKey::SourceIp {
        return Some(
            "is an IPv6 prefix, but IPv6 terminals have no prefix session ID unless \
             `steering.key` is SourceIp: this entry would never match"
                .into(),
        );
    }
    if len > want {
        return Some(format!(
            "is a /{len} prefix, longer than an IPv6 terminal's session ID, its /{want} \
             prefix (`steering.ipv6_prefix_len`): an entry covers whole session IDs; \
             name the /{want} (or a shorter prefix holding it)"
        ));
    }
    // Session IDs exist for global unicast sources only (2000::/3).
    if len >= 3 && addr.segments()[0] & 0xe000 != 0x2000 {
        return Some(
            "is outside 2000::/3: only global unicast IPv6 terminals have a session ID, \
             so this entry would never match"
                .into(),
        );
    }
    None
}
