//! Service policy: what a new user session may reach and how it is served.
//!
//! One immutable `Policy` is published to every worker as a snapshot. It
//! answers, only when a user session is created (never per established
//! packet): which service group a destination belongs to (claim 3), the
//! user-session type and its treatment (claim 9), whether the subscriber
//! may use the service (claim 5), and whether an external destination may
//! be reached (claim 6). The one exception: a subscriber's bitrate limit
//! (`Limits::bitrate`, or the throttle of a used-up quota) is looked up
//! again on the established path, once per session ID after each publish
//! (`pipeline::rate_limit`).

pub mod admit;
mod classify;
mod limits;
mod services;
mod subscribers;

pub use classify::{AddrMatch, ClassRule, Classifier, Ends, Selection, UserSessionType};
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
    /// Session IDs over their usage quota (the control plane's ledger
    /// decides; `shaping::QuotaVerdicts`).
    pub quota: crate::shaping::QuotaVerdicts,
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

    /// Whether any type or service marks a DSCP, or a type re-marks packets
    /// over their bitrate limit (checked once per new snapshot, so that the
    /// established path can skip [`dscp_for`]).
    ///
    /// [`dscp_for`]: Policy::dscp_for
    pub fn marks_dscp(&self) -> bool {
        self.classifier
            .types
            .iter()
            .any(|t| t.dscp.is_some() || t.over_limit_dscp.is_some())
            || self.services.services.iter().any(|s| s.dscp.is_some())
    }

    /// The DSCP packets of a user session of type `t` served by service
    /// `service` are marked with, both ways: the type's, else the
    /// service's; None = left as sent. Read per packet, so a reload
    /// re-marks live user sessions too.
    #[inline]
    pub fn dscp_for(&self, t: u8, service: u32) -> Option<u8> {
        let by_type = self
            .classifier
            .types
            .get(usize::from(t))
            .and_then(|ty| ty.dscp);
        by_type.or_else(|| {
            self.services
                .services
                .get(service as usize)
                .and_then(|s| s.dscp)
        })
    }
}
