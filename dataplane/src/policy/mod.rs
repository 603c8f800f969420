//! Service policy: what a new user session may reach and how it is served.
//!
//! One immutable `Policy` is published to every worker as a snapshot. It
//! answers, only when a user session is created (never per established
//! packet): which service group a destination belongs to (claim 3), the
//! user-session type and its treatment (claim 9), whether the subscriber
//! may use the service (claim 5), and whether an external destination may
//! be reached (claim 6). The one exception: a subscriber's bitrate limit
//! (`Limits::bitrate`) is looked up again on the established path, once
//! per session ID after each reload (`pipeline::rate_limit`).

pub mod admit;
mod classify;
mod limits;
mod services;
mod subscribers;

pub use classify::{ClassRule, Classifier, Selection, UserSessionType};
pub use limits::{Limits, Rate};
pub use services::{AdminState, Server, Service, ServiceTable, SynProxyMode, MAX_SERVERS};
pub use subscribers::{Entitlement, ServiceSet, Subscribers};

use crate::tier2::Timeouts;

/// Everything a worker consults when a user session starts.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub services: ServiceTable,
    pub classifier: Classifier,
    pub subscribers: Subscribers,
    /// Default idle timeouts (types may override).
    pub timeouts: Timeouts,
    /// Interval of interim accounting records for long user sessions, ms
    /// (0 = only final records).
    pub interim_ms: u64,
    /// Replies Tandem generates (TCP RST, ICMP errors) per second and worker.
    pub reply_rate_per_s: u32,
    /// Fill level (percent of a worker's user-session table or of one
    /// gateway address's port pool) from which `SynProxyMode::Auto`
    /// services are proxied.
    pub syn_proxy_fill_percent: u8,
}

impl Policy {
    /// Timeouts for a user session of type `t`.
    #[inline]
    pub fn timeouts_for(&self, t: u8) -> &Timeouts {
        self.classifier
            .types
            .get(usize::from(t))
            .and_then(|ty| ty.timeouts.as_ref())
            .unwrap_or(&self.timeouts)
    }
}
