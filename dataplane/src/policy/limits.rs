//! Per-subscriber limits on user sessions (hardening against one terminal,
//! or one spoofed source range, taking the whole user-session table).
//!
//! A subscriber entry carries [`Limits`]; they apply to each mobile session
//! ID on its own (a prefix entry limits every session ID it matches
//! separately, not the entry's sessions together). The counting lives in
//! [`crate::tier2::admission`], per worker: every user session of one
//! session ID lives on the one gateway the steering table picks.

use crate::shaping::{Bitrate, OnExhausted, QuotaPlan};

/// Limits on one session ID's user sessions. `None` = no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Limits {
    /// Live user sessions at most.
    pub max_live: Option<u32>,
    /// New user sessions per second (token bucket) and the bucket's size.
    pub rate: Option<Rate>,
    /// Bitrate limits, up and down, shared by all of the session ID's user
    /// sessions (`pipeline::rate_limit`).
    pub bitrate: Option<Bitrate>,
    /// A usage quota per session ID: its user sessions report what they
    /// carry (`SessionFlags::QUOTA`) to the control plane's ledger.
    pub quota: Option<QuotaPlan>,
}

/// A token bucket: `per_s` tokens a second, at most `burst` saved up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_s: u32,
    pub burst: u32,
}

impl Limits {
    pub const NONE: Limits = Limits {
        max_live: None,
        rate: None,
        bitrate: None,
        quota: None,
    };

    pub fn is_none(&self) -> bool {
        self.max_live.is_none()
            && self.rate.is_none()
            && self.bitrate.is_none()
            && self.quota.is_none()
    }

    /// Whether user sessions under these limits are metered: a bitrate
    /// limit, or a quota that throttles once used up.
    pub fn metered(&self) -> bool {
        self.bitrate.is_some()
            || self
                .quota
                .is_some_and(|q| matches!(q.on_exhausted, OnExhausted::Throttle(_)))
    }
}
