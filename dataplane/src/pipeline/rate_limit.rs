//! Per-subscriber bitrate limits on the established path (issue 15): the
//! hook `uplink` and `downlink` call for every packet of a user session
//! that carries `SessionFlags::BITRATE` (once its reply is known to come
//! from its server, so nobody else can spend a terminal's tokens).
//!
//! A user session created under limits with a bitrate (`Limits::bitrate`)
//! carries the flag; its packets take their IP length from the token
//! bucket of their direction in the session ID's [`Meter`], which lives
//! next to the session ID's admission entry on this gateway worker, so all
//! of one terminal's user sessions share it. A packet that does not
//! conform is dropped (`bitrate_limited`), or, if its user-session type
//! has an `over_limit_dscp`, forwarded with that DSCP (both ways, the
//! GTP-U outer header too) and counted as `bitrate_remarked`; it takes no
//! tokens. User sessions without the flag
//! pay one flag test at the call site; flagged ones one admission-table
//! lookup here, and a subscriber lookup only when a reload has published a
//! new policy (the meter then takes the new rates: a reload changes the
//! limit of live user sessions). A subscriber whose usage quota is used up
//! with `on_exhausted: Throttle(..)` is metered at the throttle rates
//! (`Policy::quota`) instead; its user sessions carry the flag from
//! creation, so the throttle reaches those already open too.
//!
//! A user-session type may have a bitrate limit of its own
//! (`UserSessionType::bitrate`): then each session ID's user sessions of
//! that type share a second pair of buckets (`shaping::TypeLimits`, in the
//! same admission entry), and they carry the flag whether or not their
//! subscriber has a limit. A packet conforms only if both its subscriber's
//! bucket and its type's hold its bytes; only then are they taken from
//! both, so a packet one limit refuses costs the other nothing. Over
//! either, it is dropped or re-marked as above. The types' rates are taken
//! from the policy together with the subscriber's (once per session ID and
//! reload: a meter that has seen generation G implies the worker's copy of
//! the types' rates has too).
//!
//! [`Meter`]: crate::shaping::Meter

use crate::policy::Policy;
use crate::rcu::Reader;
use crate::shaping::{Meter, TypeLimits};
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::{Admission, Direction, UserSession};

/// The DSCP a packet of `e` over its limit is re-marked to instead of
/// being dropped (its type's `over_limit_dscp`), if any. Only asked for a
/// packet that did not conform.
#[cold]
pub(super) fn over_limit_dscp(policy: &Reader<Policy>, e: &UserSession) -> Option<u8> {
    policy
        .get()
        .classifier
        .get(e.session_type)
        .and_then(|t| t.over_limit_dscp)
}

/// The re-mark DSCP the hook noted for user session `idx`'s packet
/// (`Worker::over_limit`), taken. Noted in the worker and read only where
/// the policy marks DSCPs (`marks::dscp`): a local carried from the hook to
/// the marking cost every packet 14 instructions (`scripts/instructions.sh`),
/// also without any limit.
#[inline(always)]
pub(super) fn take_remark(slot: &mut Option<(u32, u8)>, idx: u32) -> Option<u8> {
    match *slot {
        None => None,
        Some((i, d)) => {
            *slot = None;
            (i == idx).then_some(d)
        }
    }
}

/// Whether user session `e`'s packet of `len` IP bytes in `dir` is within
/// its session ID's bitrate limit (its tokens are taken if so). Out of
/// line: the call sites stay small for user sessions without a limit.
#[inline(never)]
pub(super) fn conforms(
    admission: &mut Admission,
    policy: &Reader<Policy>,
    e: &UserSession,
    (dir, len): (Direction, u32),
    now_ms: u64,
) -> bool {
    let generation = policy.generation();
    let refresh = |meter: &mut Meter, types: &mut TypeLimits| {
        refresh(meter, types, policy, e, generation);
    };
    match admission.meters_for(e.session_id, e.session_type, generation, refresh) {
        Some((meter, ty)) => meter.take_with(ty, dir, len, now_ms),
        None => true,
    }
}

/// Gives `meter` the rates of policy `generation`: its session ID's (a
/// used-up quota that throttles wins over the subscriber's own limit) and,
/// once per generation and worker, the user-session types' to `types`.
#[cold]
fn refresh(
    meter: &mut Meter,
    types: &mut TypeLimits,
    policy: &Reader<Policy>,
    e: &UserSession,
    generation: u64,
) {
    let p = policy.get();
    let bitrate = p.quota.throttle(e.session_id).or_else(|| {
        // A NAT64 user session's `client_ip` is a fold of the terminal's
        // IPv6 address: an IPv4 prefix entry must not match it.
        let ent = if e.flags.contains(SessionFlags::NAT64) {
            p.subscribers.lookup_v6(e.session_id)
        } else {
            p.subscribers.lookup(e.session_id, e.client_ip)
        };
        ent.limits.bitrate
    });
    meter.apply(bitrate, generation);
    if types.generation != generation {
        types.apply(p.classifier.types.iter().map(|t| t.bitrate.as_ref()));
        types.generation = generation;
    }
}
