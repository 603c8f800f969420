//! MSS clamps (global `mss_clamp`, a port's `mss_clamp`) and DSCP marks
//! (`user_session_types[].dscp` and `.over_limit_dscp`,
//! `services[].dscp`): values in range, and
//! a port's own clamp only on an access port (the terminals' side).

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::{Config, Role};

/// The MSS values a clamp may take: the IPv4 minimum every host must
/// accept (RFC 9293) up to a 9216-byte jumbo frame's IPv4 + TCP payload.
pub const MSS_CLAMP_RANGE: std::ops::RangeInclusive<u16> = 536..=9176;

fn mss_ok(mss: u16, at: Vec<Seg<'static>>) -> Result<(), Violation> {
    if MSS_CLAMP_RANGE.contains(&mss) {
        return Ok(());
    }
    Err(violation(
        at,
        format!(
            "mss_clamp {mss} is outside {}..={}",
            MSS_CLAMP_RANGE.start(),
            MSS_CLAMP_RANGE.end()
        ),
    ))
}

fn dscp_ok(dscp: u8, at: Vec<Seg<'static>>) -> Result<(), Violation> {
    if dscp <= 63 {
        return Ok(());
    }
    Err(violation(
        at,
        format!("dscp {dscp} is not a DSCP value (0 to 63)"),
    ))
}

pub fn check(c: &Config) -> Result<(), Violation> {
    if let Some(m) = c.mss_clamp {
        mss_ok(m, vec![field("mss_clamp")])?;
    }
    for (i, p) in c.ports.iter().enumerate() {
        let Some(m) = p.mss_clamp else { continue };
        let at = || vec![field("ports"), Seg::Index(i), field("mss_clamp")];
        if p.role != Role::Access {
            return Err(violation(
                at(),
                format!(
                    "mss_clamp is for access ports; port \"{}\" is {:?} (the global mss_clamp covers every port)",
                    p.name, p.role
                ),
            ));
        }
        mss_ok(m, at())?;
    }
    for (i, t) in c.user_session_types.iter().enumerate() {
        if let Some(d) = t.dscp {
            dscp_ok(
                d,
                vec![field("user_session_types"), Seg::Index(i), field("dscp")],
            )?;
        }
        if let Some(d) = t.over_limit_dscp {
            dscp_ok(
                d,
                vec![
                    field("user_session_types"),
                    Seg::Index(i),
                    field("over_limit_dscp"),
                ],
            )?;
        }
    }
    for (i, s) in c.services.iter().enumerate() {
        if let Some(d) = s.dscp {
            dscp_ok(d, vec![field("services"), Seg::Index(i), field("dscp")])?;
        }
    }
    Ok(())
}
