//! Per-subscriber bitrate limits on the established path (issue 15): the
//! hook `uplink` and `downlink` call for every packet of a user session.
//!
//! A user session created under limits with a bitrate (`Limits::bitrate`)
//! carries `SessionFlags::BITRATE`; its packets take their IP length from
//! the token bucket of their direction in the session ID's [`Meter`], which
//! lives next to the session ID's admission entry on this gateway worker,
//! so all of one terminal's user sessions share it. A packet that does not
//! conform is dropped (`bitrate_limited`). User sessions without the flag
//! pay one flag test; flagged ones one admission-table lookup, and a
//! subscriber lookup only when a reload has published a new policy (the
//! meter then takes the new rates: a reload changes the limit of live
//! user sessions).
//!
//! [`Meter`]: crate::shaping::Meter

use super::Worker;
use crate::tier2::user_sessions::SessionFlags;
use crate::tier2::Direction;

impl Worker {
    /// Whether the packet of `len` IP bytes of user session `idx` in `dir`
    /// is within its session ID's bitrate limit (its tokens are taken if so).
    #[inline]
    pub(super) fn within_bitrate(
        &mut self,
        idx: u32,
        dir: Direction,
        len: u32,
        now_ms: u64,
    ) -> bool {
        let Some(e) = self.gw.table.get(idx) else {
            return true;
        };
        if e.flags.0 & SessionFlags::BITRATE.0 == 0 {
            return true;
        }
        let (sid, terminal) = (e.session_id, e.client_ip);
        let Some(meter) = self.gw.admission.meter(sid) else {
            return true;
        };
        let generation = self.snaps.policy.generation();
        if meter.generation != generation {
            let bitrate = self
                .snaps
                .policy
                .get()
                .subscribers
                .lookup(sid, terminal)
                .limits
                .bitrate;
            meter.apply(bitrate, generation);
        }
        meter.take(dir, len, now_ms)
    }
}
