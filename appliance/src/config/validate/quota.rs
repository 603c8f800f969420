//! Rules for a subscriber's usage quota (`limits: (quota: ...)`): it
//! limits something, its thresholds are percentages in order, and a
//! throttle rate is one a meter can hold. Called from `hardening.rs` for
//! every `limits`.

use super::hardening::MAX_MBIT;
use super::{field, Violation};
use crate::config::locate::Seg;
use crate::config::schema::{OnExhausted, Quota};
use dataplane::shaping::MAX_THRESHOLDS;

pub fn check(q: &Quota, at: &[Seg<'static>]) -> Result<(), Violation> {
    let sub = |name: &'static str| {
        let mut p = at.to_vec();
        p.push(field(name));
        p
    };
    if q.bytes.is_none() && q.online_s.is_none() {
        return Err(Violation {
            path: at.to_vec(),
            message: "a quota needs bytes, online_s or both (leave quota out for none)".into(),
        });
    }
    for (name, v) in [("bytes", q.bytes), ("online_s", q.online_s)] {
        if v == Some(0) {
            return Err(Violation {
                path: sub(name),
                message: format!(
                    "{name} must be at least 1 (leave it out for no limit of that kind)"
                ),
            });
        }
    }
    if q.period_s == Some(0) {
        return Err(Violation {
            path: sub("period_s"),
            message:
                "period_s must be at least 1 (leave it out for a quota that never renews by itself)"
                    .into(),
        });
    }
    if q.thresholds.len() > MAX_THRESHOLDS {
        return Err(Violation {
            path: sub("thresholds"),
            message: format!("at most {MAX_THRESHOLDS} thresholds"),
        });
    }
    let mut last = 0u8;
    for (i, &t) in q.thresholds.iter().enumerate() {
        if !(1..=99).contains(&t) || t <= last {
            let mut path = sub("thresholds");
            path.push(Seg::Index(i));
            return Err(Violation {
                path,
                message: format!(
                    "threshold {t}: thresholds are percentages 1..=99 in ascending order (100 is the exhaustion itself)"
                ),
            });
        }
        last = t;
    }
    if let OnExhausted::Throttle(up, down) = q.on_exhausted {
        if [up, down].iter().any(|&m| m == 0 || m > MAX_MBIT) {
            return Err(Violation {
                path: sub("on_exhausted"),
                message: format!(
                    "Throttle(up_mbit, down_mbit): each must be 1..={MAX_MBIT} Mbit/s (Block refuses traffic instead)"
                ),
            });
        }
    }
    Ok(())
}
