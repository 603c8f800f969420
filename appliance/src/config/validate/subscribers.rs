//! The `subscribers` section: each entry a session ID or a prefix, naming
//! defined services.

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::{Config, SessionKey};
use dataplane::tier1::{SessionId, SessionIdKind};
use std::collections::HashSet;

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
                        format!("\"{sid}\" is not a session ID (e.g. \"10.1.0.5\", \"10.1.0.5@vlan100\", \"teid:0x10\", \"2001:db8:1:2::/64\")"),
                    ));
                };
                if let Some(why) = unmatched_ipv6_prefix(c, id) {
                    return Err(violation(at(), format!("\"{sid}\" {why}")));
                }
            }
            (None, Some(_)) => {}
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
/// prefix: IPv6 terminals' session IDs are their prefixes of exactly
/// `steering.ipv6_prefix_len` bits, and only under `steering.key:
/// SourceIp`. Also asked by `ctl subscriber add`.
pub fn unmatched_ipv6_prefix(c: &Config, id: SessionId) -> Option<String> {
    let SessionIdKind::Ipv6Prefix { len, .. } = id.kind() else {
        return None;
    };
    let want = c.steering.ipv6_prefix_len;
    if c.steering.key != SessionKey::SourceIp {
        return Some(
            "is an IPv6 prefix, but IPv6 terminals have no prefix session ID unless \
             `steering.key` is SourceIp: this entry would never match"
                .into(),
        );
    }
    (len.bits() != want).then(|| {
        format!(
            "is a /{} prefix, but an IPv6 terminal's session ID is its /{want} prefix \
             (`steering.ipv6_prefix_len`): this entry would never match; name the /{want}",
            len.bits()
        )
    })
}
