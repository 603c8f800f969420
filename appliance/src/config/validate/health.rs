//! The `health` section: active probes from source ports outside the
//! gateway's range, and thresholds of at least 1.

use super::{field, violation, Violation};
use crate::config::schema::Config;

pub fn check(c: &Config) -> Result<(), Violation> {
    let (lo, hi) = c.gateway.port_range;
    if let Some(a) = &c.health.active {
        let (plo, phi) = a.source_ports;
        let at = vec![field("health"), field("active"), field("source_ports")];
        if plo == 0 || plo > phi {
            return Err(violation(
                at,
                format!("source_ports ({plo}, {phi}) must satisfy 1 <= first <= last"),
            ));
        }
        if plo <= hi && phi >= lo {
            return Err(violation(
                at,
                format!("probe source ports ({plo}, {phi}) overlap gateway.port_range ({lo}, {hi}); pick ports outside it"),
            ));
        }
        if a.rise == 0 || a.fall == 0 || a.interval_ms == 0 || a.timeout_ms == 0 {
            return Err(violation(
                vec![field("health"), field("active")],
                "interval_ms, timeout_ms, rise and fall must be at least 1".into(),
            ));
        }
    }
    if c.health.fall == 0 {
        return Err(violation(
            vec![field("health"), field("fall")],
            "fall must be at least 1".into(),
        ));
    }
    Ok(())
}
