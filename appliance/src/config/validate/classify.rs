//! The `user_session_types` and `classify` sections: type names unique,
//! rules that name defined types, sane port ranges and DSCP values, and
//! the types' bitrate limits (the subscriber limits' rules, at most
//! `MAX_LIMITED_TYPES` of them); `terminal` and `dst` prefixes without
//! host bits and of one IP version.

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::Config;
use dataplane::shaping::MAX_LIMITED_TYPES;
use std::collections::HashSet;

/// Checks both sections; the defined type names, for the service pools.
pub fn check(c: &Config) -> Result<HashSet<&str>, Violation> {
    let mut type_names = HashSet::new();
    for (i, t) in c.user_session_types.iter().enumerate() {
        if !type_names.insert(t.name.as_str()) {
            return Err(violation(
                vec![field("user_session_types"), Seg::Index(i), field("name")],
                format!("user-session type \"{}\" is defined twice", t.name),
            ));
        }
    }
    if c.user_session_types.len() > 250 {
        return Err(violation(
            vec![field("user_session_types")],
            "at most 250 user-session types".into(),
        ));
    }
    let mut limited = 0;
    for (i, t) in c.user_session_types.iter().enumerate() {
        let Some(b) = &t.bitrate else { continue };
        let at = vec![field("user_session_types"), Seg::Index(i), field("bitrate")];
        super::hardening::bitrate(b, &at)?;
        limited += 1;
        if limited > MAX_LIMITED_TYPES {
            return Err(violation(
                at,
                format!("at most {MAX_LIMITED_TYPES} user-session types may have a bitrate limit"),
            ));
        }
    }
    for (i, r) in c.classify.iter().enumerate() {
        if !type_names.contains(r.user_session_type.as_str()) {
            return Err(violation(
                vec![field("classify"), Seg::Index(i), field("user_session_type")],
                format!(
                    "no user-session type is named \"{}\"; define it in user_session_types",
                    r.user_session_type
                ),
            ));
        }
        if let Some((a, b)) = r.ports {
            if a > b {
                return Err(violation(
                    vec![field("classify"), Seg::Index(i), field("ports")],
                    format!("port range ({a}, {b}) is empty"),
                ));
            }
        }
        for (name, p) in [("terminal", &r.terminal), ("dst", &r.dst)] {
            let Some(p) = p else { continue };
            if let Some(why) = super::subscribers::host_bits(p) {
                return Err(violation(
                    vec![field("classify"), Seg::Index(i), field(name)],
                    format!("\"{p}\" {why}"),
                ));
            }
        }
        if let (Some(t), Some(d)) = (&r.terminal, &r.dst) {
            if t.v4().is_some() != d.v4().is_some() {
                return Err(violation(
                    vec![field("classify"), Seg::Index(i), field("dst")],
                    format!(
                        "\"{d}\" and the terminal prefix \"{t}\" are of different IP \
                         versions: no flow has both (an IPv6 terminal addresses IPv6 \
                         destinations: a vip6 or a NAT64-prefix address); write one rule \
                         per version"
                    ),
                ));
            }
        }
        if r.dscp.is_some_and(|d| d > 63) {
            return Err(violation(
                vec![field("classify"), Seg::Index(i), field("dscp")],
                "dscp is 0 to 63".into(),
            ));
        }
    }
    Ok(type_names)
}
