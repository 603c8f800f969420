//! What the workers must do about used-up quotas: the session IDs whose
//! new user sessions are refused (`Block`) and those whose meters take a
//! throttle rate (`Throttle`). The control plane keeps the ledger and
//! decides; this set travels to the workers inside the policy snapshot
//! (RCU), so a worker reads it without a lock, and only where it matters:
//! when a user session of a subscriber with a quota is created, and when a
//! bitrate meter picks up a new policy generation.

use super::Bitrate;
use hashbrown::{HashMap, HashSet};
use std::sync::Arc;

/// Session IDs over their quota, shared between policy snapshots (a
/// snapshot that changes something else clones only the `Arc`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaVerdicts(Arc<Sets>);

#[derive(Debug, Default, PartialEq, Eq)]
struct Sets {
    blocked: HashSet<u64>,
    throttled: HashMap<u64, Bitrate>,
}

impl QuotaVerdicts {
    /// The verdicts for these blocked and throttled session IDs.
    pub fn new(
        blocked: impl IntoIterator<Item = u64>,
        throttled: impl IntoIterator<Item = (u64, Bitrate)>,
    ) -> QuotaVerdicts {
        QuotaVerdicts(Arc::new(Sets {
            blocked: blocked.into_iter().collect(),
            throttled: throttled.into_iter().collect(),
        }))
    }

    /// Whether new user sessions of `session_id` are refused.
    #[inline]
    pub fn is_blocked(&self, session_id: u64) -> bool {
        !self.0.blocked.is_empty() && self.0.blocked.contains(&session_id)
    }

    /// The throttle rates of `session_id`, if it is throttled.
    #[inline]
    pub fn throttle(&self, session_id: u64) -> Option<Bitrate> {
        if self.0.throttled.is_empty() {
            return None;
        }
        self.0.throttled.get(&session_id).copied()
    }

    pub fn blocked(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.blocked.iter().copied()
    }

    pub fn throttled(&self) -> impl Iterator<Item = (u64, Bitrate)> + '_ {
        self.0.throttled.iter().map(|(k, v)| (*k, *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaping::Rate;

    #[test]
    fn blocked_and_throttled_are_answered_by_session_id() {
        let slow = Bitrate {
            up: None,
            down: Some(Rate {
                bytes_per_s: 125_000,
                burst_bytes: 64_000,
            }),
        };
        let v = QuotaVerdicts::new([7], [(9, slow)]);
        assert!(v.is_blocked(7) && !v.is_blocked(9));
        assert_eq!(v.throttle(9), Some(slow));
        assert_eq!(v.throttle(7), None);
        let none = QuotaVerdicts::default();
        assert!(!none.is_blocked(7) && none.throttle(9).is_none());
    }
}
