//! Per-subscriber limits at user-session creation: the hook `uplink` calls
//! once a new user session is entitled, and the refusal when it is over its
//! subscriber's limits (answered by the one refusal, `refuse.rs`: TCP RST
//! or ICMP administratively prohibited, within the reply rate, and a final
//! accounting record with reason `subscriber_limit`).

use super::refuse::Refused;
use super::uplink::Opening;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{EndReason, EventSink};
use crate::frame::Frame;
use crate::policy::Limits;
use crate::tier1::SessionId;

impl Worker {
    /// Counts a new user session of `sid` (of service and user-session type
    /// `(service, ty)`) against `limits`; over them, the
    /// frame becomes the refusal's answer (or is dropped) and `Err` says
    /// what to return. `Ok(true)`: counted; the user session gets
    /// `SessionFlags::LIMITED` (its end releases it), or, if it is not
    /// created after all, [`Self::unadmit`] gives the count back.
    /// `Ok(false)`: no limits, nothing counted (no cost for subscribers
    /// without limits; a reload that adds limits counts only user sessions
    /// created after it). `type_metered`: its type has a bitrate limit of
    /// its own, so it is counted (its session ID gets an entry, where the
    /// type's buckets are) even without limits.
    pub(super) fn admit<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        o: &Opening,
        limits: &Limits,
        type_metered: bool,
        (service, ty): (u32, u8),
        ev: &mut E,
    ) -> Result<bool, Verdict> {
        let (sid, now_ms) = (o.sid, o.now_ms);
        if limits.is_none() && !type_metered {
            return Ok(false);
        }
        if self.gw.admission.admit(sid.0, limits, now_ms).is_ok() {
            return Ok(true);
        }
        let accounted = self
            .snaps
            .policy
            .get()
            .classifier
            .get(ty)
            .is_none_or(|t| t.accounted);
        let refused = Refused {
            service,
            ty,
            accounted,
        };
        Err(self.refuse(
            f,
            o,
            (EndReason::SubscriberLimit, DropReason::SubscriberLimit),
            Some(refused),
            ev,
        ))
    }

    /// Gives back an admission whose user session was not created.
    #[inline]
    pub(super) fn unadmit(&mut self, counted: bool, sid: SessionId, now_ms: u64) {
        if counted {
            self.gw.admission.release(sid.0, now_ms);
        }
    }
}
