//! The `subscribers` section: each entry a session ID or a prefix, naming
//! defined services.

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::Config;
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
                if sid.parse::<dataplane::tier1::SessionId>().is_err() {
                    let mut p = entry();
                    p.push(field("session"));
                    return Err(violation(
                        p,
                        format!("\"{sid}\" is not a session ID (e.g. \"10.1.0.5\", \"10.1.0.5@vlan100\", \"teid:0x10\")"),
                    ));
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
