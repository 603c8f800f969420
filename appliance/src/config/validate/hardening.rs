//! Rules for the hardening settings (issue 13): per-subscriber limits,
//! the cap on traffic-learned pins, and anti-spoofing source prefixes;
//! and the IPv6 session prefix length beside the other steering settings.
//! Called last.

use super::{field, Violation};
use crate::config::locate::Seg;
use crate::config::schema::{BitrateLimit, Config, Role, SubscriberLimits};

/// Largest rate or burst a token bucket holds (see dataplane admission).
const MAX_RATE: u32 = dataplane::tier2::admission::MAX_RATE;

pub fn check(c: &Config) -> Result<(), Violation> {
    limits(
        &c.subscribers.default_limits,
        vec![field("subscribers"), field("default_limits")],
    )?;
    for (i, e) in c.subscribers.entries.iter().enumerate() {
        if let Some(l) = &e.limits {
            limits(
                l,
                vec![
                    field("subscribers"),
                    field("entries"),
                    Seg::Index(i),
                    field("limits"),
                ],
            )?;
        }
    }
    let st = &c.steering;
    if st.learned_pins_per_s == Some(0) || st.learned_pins_per_s.is_some_and(|r| r > MAX_RATE) {
        return Err(Violation {
            path: vec![field("steering"), field("learned_pins_per_s")],
            message: format!(
                "learned_pins_per_s must be 1..={MAX_RATE} (leave it out for no limit)"
            ),
        });
    }
    if dataplane::tier1::Ipv6SessionPrefix::from_bits(st.ipv6_prefix_len).is_none() {
        return Err(Violation {
            path: vec![field("steering"), field("ipv6_prefix_len")],
            message: format!(
                "ipv6_prefix_len must be 48, 56, 60 or 64 (the prefix an IPv6 terminal's \
                 session ID is made of), not {}",
                st.ipv6_prefix_len
            ),
        });
    }
    for (i, p) in c.ports.iter().enumerate() {
        let Some(list) = &p.allowed_sources else {
            continue;
        };
        let at = || vec![field("ports"), Seg::Index(i), field("allowed_sources")];
        if p.role != Role::Access {
            return Err(Violation {
                path: at(),
                message: format!(
                    "allowed_sources is only for access ports; port \"{}\" is {:?}",
                    p.name, p.role
                ),
            });
        }
        if list.is_empty() {
            return Err(Violation {
                path: at(),
                message: "an empty allowed_sources would drop everything; leave it out to allow any source".into(),
            });
        }
        for (j, pfx) in list.iter().enumerate() {
            let mask = if pfx.prefix_len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(pfx.prefix_len))
            };
            if u32::from(pfx.addr) & !mask != 0 {
                let mut path = at();
                path.push(Seg::Index(j));
                let net = std::net::Ipv4Addr::from(u32::from(pfx.addr) & mask);
                return Err(Violation {
                    path,
                    message: format!(
                        "\"{pfx}\" has host bits set; did you mean \"{net}/{}\"?",
                        pfx.prefix_len
                    ),
                });
            }
        }
    }
    Ok(())
}

fn limits(l: &SubscriberLimits, at: Vec<Seg<'static>>) -> Result<(), Violation> {
    let sub = |name: &'static str| {
        let mut p = at.clone();
        p.push(field(name));
        p
    };
    if l.max_user_sessions == Some(0) {
        return Err(Violation {
            path: sub("max_user_sessions"),
            message: "max_user_sessions must be at least 1 (leave it out for no limit; refuse services with `services: []`)".into(),
        });
    }
    if let Some(r) = l.new_user_sessions_per_s {
        if r == 0 || r > MAX_RATE {
            return Err(Violation {
                path: sub("new_user_sessions_per_s"),
                message: format!(
                    "new_user_sessions_per_s must be 1..={MAX_RATE} (leave it out for no limit)"
                ),
            });
        }
    }
    if let Some(b) = l.burst {
        if l.new_user_sessions_per_s.is_none() {
            return Err(Violation {
                path: sub("burst"),
                message: "burst needs new_user_sessions_per_s".into(),
            });
        }
        if b == 0 || b > MAX_RATE {
            return Err(Violation {
                path: sub("burst"),
                message: format!("burst must be 1..={MAX_RATE}"),
            });
        }
    }
    if let Some(b) = &l.bitrate {
        bitrate(b, &sub("bitrate"))?;
    }
    if let Some(q) = &l.quota {
        super::quota::check(q, &sub("quota"))?;
    }
    Ok(())
}

/// Largest bitrate limit, Mbit/s (400 Gbit/s: beyond any port).
pub(super) const MAX_MBIT: u32 = 400_000;
/// Smallest bitrate burst, kB: one 1500-byte packet (the dataplane
/// keeps at least a jumbo frame and a millisecond of the rate anyway, but a
/// smaller figure is a mistake, not a wish).
const MIN_BURST_KB: u32 = 2;
/// Largest bitrate burst, kB (1 GB).
const MAX_BURST_KB: u32 = 1_000_000;

/// Checks a bitrate limit at `at` (a subscriber's, or a user-session
/// type's: one set of rules for both).
pub(super) fn bitrate(b: &BitrateLimit, at: &[Seg<'static>]) -> Result<(), Violation> {
    let sub = |name: &'static str| {
        let mut p = at.to_vec();
        p.push(field(name));
        p
    };
    if b.up_mbit.is_none() && b.down_mbit.is_none() {
        return Err(Violation {
            path: at.to_vec(),
            message:
                "a bitrate limit needs up_mbit, down_mbit or both (leave bitrate out for no limit)"
                    .into(),
        });
    }
    for (name, v) in [("up_mbit", b.up_mbit), ("down_mbit", b.down_mbit)] {
        if v.is_some_and(|m| m == 0 || m > MAX_MBIT) {
            return Err(Violation {
                path: sub(name),
                message: format!(
                    "{name} must be 1..={MAX_MBIT} Mbit/s (leave it out for no limit in that direction)"
                ),
            });
        }
    }
    if b.burst_kb
        .is_some_and(|kb| !(MIN_BURST_KB..=MAX_BURST_KB).contains(&kb))
    {
        return Err(Violation {
            path: sub("burst_kb"),
            message: format!(
                "burst_kb must be {MIN_BURST_KB}..={MAX_BURST_KB} (kB of 1000 bytes; a burst must hold at least one 1500-byte packet)"
            ),
        });
    }
    Ok(())
}
