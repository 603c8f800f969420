//! The session manager's bookkeeping (control plane, no I/O).
//!
//! The session manager decides which sessions are pinned to which gateway.
//! Sessions arrive two ways: an operator or API call creates one (optionally
//! choosing its gateway), or a worker sees the first packet of an unpinned
//! session, steers it by Maglev and asks for it to be pinned there. Pinned
//! sessions learned from traffic are unpinned again after they have been idle
//! for the configured time; sessions created through the API stay until they
//! are deleted, since whoever created them owns their lifetime.
//!
//! Every change is queued as `(session, Some(gateway) | None)`; the control
//! loop takes the queue with [`SessionManager::take_changes`], applies it to
//! the current [`SteeringTable`] and publishes the result. Times are
//! milliseconds on any monotonic clock the caller chooses.

use std::fmt;

use hashbrown::HashMap;

use super::session_id::{SessionId, MAX_ASSIGNED};
use super::steering::{Gateway, GatewayId, SteeringError, SteeringTable, DEFAULT_MAX_GATEWAYS};

/// How a session came to be pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionOrigin {
    /// Created by an operator or API call; never expires.
    Api,
    /// Pinned on a worker's request after its first packet; expires when idle.
    Traffic,
}

/// What the manager knows about one pinned session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub gateway: GatewayId,
    pub origin: SessionOrigin,
    pub created_ms: u64,
    pub last_seen_ms: u64,
}

/// The result of a worker's pin request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinOutcome {
    /// The session is now pinned to the requested gateway.
    Pinned,
    /// The session was already pinned (to this gateway); nothing changed
    /// except its idle timer.
    AlreadyPinned { gateway: GatewayId },
    /// Not pinned: the cap or rate on traffic-learned pins was reached (it
    /// stays steered by Maglev).
    Refused,
}

/// Why a session operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    NotFound(SessionId),
    AlreadyExists(SessionId),
    UnknownGateway(GatewayId),
    /// No gateway is live, so there is nothing to pin a session to.
    NoGateways,
    /// Every manager-assigned ID is in use.
    IdSpaceExhausted,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::NotFound(id) => write!(
                f,
                "session {id} is not pinned; list the sessions to see the known IDs"
            ),
            SessionError::AlreadyExists(id) => write!(
                f,
                "session {id} already exists; delete it first or move it to another gateway"
            ),
            SessionError::UnknownGateway(id) => write!(
                f,
                "gateway {id} is not live; choose one of the configured gateways"
            ),
            SessionError::NoGateways => write!(
                f,
                "no gateway is live, so the session cannot be placed; \
                 configure workers or gateways first"
            ),
            SessionError::IdSpaceExhausted => write!(
                f,
                "all {MAX_ASSIGNED} manager-assigned session IDs are in use; \
                 delete sessions or give IDs explicitly"
            ),
        }
    }
}

impl std::error::Error for SessionError {}

/// Pinned sessions, their gateways and the changes not yet published.
pub struct SessionManager {
    idle_unpin_ms: u64,
    /// Gateways and Maglev table (its pinned map is not used here).
    placement: SteeringTable,
    sessions: HashMap<SessionId, SessionInfo>,
    /// Next candidate for a manager-assigned ID.
    next_assigned: u64,
    pending: Vec<(SessionId, Option<GatewayId>)>,
    /// How long a moved session drains from its old gateway (0: no drain).
    drain_ms: u64,
    /// Moved sessions still draining.
    draining: HashMap<SessionId, Drain>,
    /// Drain changes not yet published, for [`SteeringTable::with_draining`].
    drain_changes: Vec<(SessionId, Option<GatewayId>)>,
    /// Cap and rate on pins learned from traffic (API pins are not counted).
    learned: LearnedPins,
}

/// The cap and rate limit on traffic-learned pins: a flood of spoofed
/// session IDs must not fill the steering table (and the control plane's
/// time) with pins that live for `idle_unpin`. A session refused a pin is
/// still steered, by Maglev, which gives the pinned answer while the
/// gateway set is stable.
#[derive(Clone, Copy, Debug, Default)]
struct LearnedPins {
    max: Option<usize>,
    /// Pins per second; the bucket holds one second's worth.
    per_s: Option<u32>,
    /// Thousandths of a pin.
    tokens: u64,
    at_ms: u64,
    /// Traffic-learned pins now.
    count: usize,
    /// Pin requests refused by the cap or the rate, since start.
    refused: u64,
}

impl LearnedPins {
    fn take(&mut self, now_ms: u64) -> bool {
        if self.max.is_some_and(|m| self.count >= m) {
            return false;
        }
        if let Some(r) = self.per_s {
            let cap = u64::from(r.max(1)) * 1000;
            let elapsed = now_ms.saturating_sub(self.at_ms);
            self.tokens = self
                .tokens
                .saturating_add(elapsed.saturating_mul(u64::from(r)))
                .min(cap);
            self.at_ms = self.at_ms.max(now_ms);
            if self.tokens < 1000 {
                return false;
            }
            self.tokens -= 1000;
        }
        true
    }
}

/// A moved session's drain: the gateway it left, and since when (set at
/// the first [`SessionManager::expire_drains`] after the move).
#[derive(Clone, Copy, Debug)]
struct Drain {
    from: GatewayId,
    since_ms: Option<u64>,
}

/// How long a moved session drains unless configured otherwise.
pub const DEFAULT_DRAIN_MS: u64 = 300_000;

impl SessionManager {
    /// A manager with no gateways and no sessions; sessions learned from
    /// traffic are unpinned after `idle_unpin_ms` without a packet. Its
    /// Maglev choices match a [`SteeringTable::default`].
    pub fn new(idle_unpin_ms: u64) -> SessionManager {
        SessionManager::with_max_gateways(idle_unpin_ms, DEFAULT_MAX_GATEWAYS)
    }

    /// Like [`new`](SessionManager::new), with Maglev choices matching
    /// [`SteeringTable::with_max_gateways`]`(max_gateways)`.
    pub fn with_max_gateways(idle_unpin_ms: u64, max_gateways: usize) -> SessionManager {
        SessionManager::with_params(idle_unpin_ms, max_gateways, 0)
    }

    /// Like [`with_max_gateways`](SessionManager::with_max_gateways), with
    /// Maglev choices matching [`SteeringTable::with_params`].
    pub fn with_params(idle_unpin_ms: u64, max_gateways: usize, seed: u64) -> SessionManager {
        SessionManager {
            idle_unpin_ms,
            placement: SteeringTable::with_params(max_gateways, seed),
            sessions: HashMap::new(),
            next_assigned: 1,
            pending: Vec::new(),
            drain_ms: DEFAULT_DRAIN_MS,
            draining: HashMap::new(),
            drain_changes: Vec::new(),
            learned: LearnedPins::default(),
        }
    }

    /// Caps the pins learned from traffic: at most `max` at a time and
    /// `per_s` new ones a second (None = no limit). Pins already there
    /// stay; API pins are never limited.
    pub fn set_learned_limits(&mut self, max: Option<usize>, per_s: Option<u32>) {
        if self.learned.per_s.is_none() {
            // A new bucket starts full.
            self.learned.tokens = u64::from(per_s.unwrap_or(0)) * 1000;
        }
        self.learned.max = max;
        self.learned.per_s = per_s;
    }

    /// Pins learned from traffic now.
    pub fn learned_pins(&self) -> usize {
        self.learned.count
    }

    /// Pin requests refused by the cap or rate since start.
    pub fn pins_refused(&self) -> u64 {
        self.learned.refused
    }

    /// Sets how long a moved session's user sessions may run on on the
    /// gateway it left (0 turns draining off: a move cuts them off).
    pub fn set_drain_ms(&mut self, drain_ms: u64) {
        self.drain_ms = drain_ms;
    }

    /// The gateway `id` is draining from, if it was moved recently.
    pub fn draining_from(&self, id: SessionId) -> Option<GatewayId> {
        self.draining.get(&id).map(|drain| drain.from)
    }

    /// Ends drains that have run their time (the clock of a drain starts at
    /// the first call after the move). Returns how many ended.
    pub fn expire_drains(&mut self, now_ms: u64) -> usize {
        let limit = self.drain_ms;
        let mut ended: Vec<SessionId> = Vec::new();
        for (id, drain) in self.draining.iter_mut() {
            let since = *drain.since_ms.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= limit {
                ended.push(*id);
            }
        }
        ended.sort_unstable();
        for id in &ended {
            self.end_drain(*id);
        }
        ended.len()
    }

    /// The drain changes since the last call, in order, for
    /// [`SteeringTable::with_draining`].
    pub fn take_drain_changes(&mut self) -> Vec<(SessionId, Option<GatewayId>)> {
        std::mem::take(&mut self.drain_changes)
    }

    fn end_drain(&mut self, id: SessionId) {
        if self.draining.remove(&id).is_some() {
            self.drain_changes.push((id, None));
        }
    }

    /// Replaces the live gateway set. Sessions pinned to a gateway that is
    /// no longer live are unpinned (their state went with the gateway; their
    /// next packet is steered and pinned afresh); their IDs are returned,
    /// sorted.
    pub fn set_gateways(&mut self, gateways: &[Gateway]) -> Result<Vec<SessionId>, SteeringError> {
        self.placement = self.placement.with_gateways(gateways)?;
        Ok(self.unpin_orphans())
    }

    /// Unpins the sessions whose gateway is no longer live; their IDs,
    /// sorted.
    fn unpin_orphans(&mut self) -> Vec<SessionId> {
        let placement = &self.placement;
        let mut orphaned: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|session| placement.gateway(session.gateway).is_none())
            .map(|session| session.id)
            .collect();
        orphaned.sort_unstable();
        for id in &orphaned {
            self.forget(*id);
            self.pending.push((*id, None));
        }
        orphaned
    }

    /// Like [`set_gateways`](SessionManager::set_gateways), with the
    /// gateways in `not_for_new` (draining) left out of Maglev: see
    /// [`SteeringTable::with_gateways_excluding`]. Their pins stay; the
    /// caller moves them.
    pub fn set_gateways_excluding(
        &mut self,
        gateways: &[Gateway],
        not_for_new: &[GatewayId],
    ) -> Result<Vec<SessionId>, SteeringError> {
        self.placement = self
            .placement
            .with_gateways_excluding(gateways, not_for_new)?;
        Ok(self.unpin_orphans())
    }

    /// The gateway Maglev gives `id` now (pins aside).
    pub fn maglev_choice(&self, id: SessionId) -> Option<GatewayId> {
        self.placement.maglev_choice(id)
    }

    /// The live gateways, sorted by id.
    pub fn gateways(&self) -> &[Gateway] {
        self.placement.gateways()
    }

    /// Creates a session. Without an `id` the manager assigns one from its
    /// own space (`id:N`); without a `gateway` the Maglev choice is used.
    pub fn create(
        &mut self,
        id: Option<SessionId>,
        gateway: Option<GatewayId>,
        now_ms: u64,
    ) -> Result<SessionId, SessionError> {
        if let Some(id) = id {
            if self.sessions.contains_key(&id) {
                return Err(SessionError::AlreadyExists(id));
            }
        }
        if let Some(gateway) = gateway {
            self.require_live(gateway)?;
        } else if self.placement.gateways().is_empty() {
            return Err(SessionError::NoGateways);
        }
        let id = match id {
            Some(id) => id,
            None => self.next_free_assigned_id()?,
        };
        let gateway = match gateway {
            Some(gateway) => gateway,
            None => self
                .placement
                .maglev_choice(id)
                .ok_or(SessionError::NoGateways)?,
        };
        self.insert(id, gateway, SessionOrigin::Api, now_ms);
        Ok(id)
    }

    /// A worker saw the first packet of unpinned session `id` and sent it to
    /// `gateway`: pin it there. Repeated requests (several workers, or
    /// packets in flight before the publish) leave the existing pin alone.
    pub fn pin_request(
        &mut self,
        id: SessionId,
        gateway: GatewayId,
        now_ms: u64,
    ) -> Result<PinOutcome, SessionError> {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_seen_ms = session.last_seen_ms.max(now_ms);
            return Ok(PinOutcome::AlreadyPinned {
                gateway: session.gateway,
            });
        }
        self.require_live(gateway)?;
        if !self.learned.take(now_ms) {
            self.learned.refused += 1;
            return Ok(PinOutcome::Refused);
        }
        self.insert(id, gateway, SessionOrigin::Traffic, now_ms);
        Ok(PinOutcome::Pinned)
    }

    /// Records activity on `id`, restarting its idle timer.
    pub fn touch(&mut self, id: SessionId, now_ms: u64) -> Result<(), SessionError> {
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(SessionError::NotFound(id))?;
        session.last_seen_ms = session.last_seen_ms.max(now_ms);
        Ok(())
    }

    /// Re-pins `id` to `gateway` and returns the gateway it had.
    pub fn move_to(
        &mut self,
        id: SessionId,
        gateway: GatewayId,
    ) -> Result<GatewayId, SessionError> {
        self.require_live(gateway)?;
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(SessionError::NotFound(id))?;
        let previous = session.gateway;
        if previous != gateway {
            session.gateway = gateway;
            self.pending.push((id, Some(gateway)));
            // Back to where it is draining from: nothing to drain any more.
            // Otherwise the old gateway keeps its user sessions for a while
            // (one drain at a time: a second move cuts off the first).
            if self.draining_from(id) == Some(gateway) || self.drain_ms == 0 {
                self.end_drain(id);
            } else {
                self.draining.insert(
                    id,
                    Drain {
                        from: previous,
                        since_ms: None,
                    },
                );
                self.drain_changes.push((id, Some(previous)));
            }
        }
        Ok(previous)
    }

    /// Makes `id` an API pin on `gateway`, whatever it was before: created
    /// if unknown, moved (with the usual drain) if pinned elsewhere, and
    /// from now on never expired for idleness. A cluster applies the pins
    /// it reads from etcd this way. Returns the gateway it had, if any.
    pub fn pin_api(
        &mut self,
        id: SessionId,
        gateway: GatewayId,
        now_ms: u64,
    ) -> Result<Option<GatewayId>, SessionError> {
        self.require_live(gateway)?;
        let Some(existing) = self.sessions.get(&id).copied() else {
            self.insert(id, gateway, SessionOrigin::Api, now_ms);
            return Ok(None);
        };
        if existing.origin == SessionOrigin::Traffic {
            self.learned.count = self.learned.count.saturating_sub(1);
            if let Some(session) = self.sessions.get_mut(&id) {
                session.origin = SessionOrigin::Api;
            }
        }
        self.move_to(id, gateway).map(Some)
    }

    /// Unpins and forgets `id`.
    pub fn delete(&mut self, id: SessionId) -> Result<SessionInfo, SessionError> {
        let session = self.forget(id).ok_or(SessionError::NotFound(id))?;
        self.pending.push((id, None));
        self.end_drain(id);
        Ok(session)
    }

    pub fn get(&self, id: SessionId) -> Option<SessionInfo> {
        self.sessions.get(&id).copied()
    }

    /// All sessions, sorted by ID.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut sessions: Vec<SessionInfo> = self.sessions.values().copied().collect();
        sessions.sort_unstable_by_key(|session| session.id);
        sessions
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Unpins traffic-learned sessions idle for longer than the limit and
    /// returns their IDs, sorted. Scans every session: call it on a timer,
    /// not per event.
    pub fn expire_idle(&mut self, now_ms: u64) -> Vec<SessionId> {
        let limit = self.idle_unpin_ms;
        let mut expired: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|session| {
                session.origin == SessionOrigin::Traffic
                    && now_ms.saturating_sub(session.last_seen_ms) > limit
            })
            .map(|session| session.id)
            .collect();
        expired.sort_unstable();
        for id in &expired {
            self.forget(*id);
            self.pending.push((*id, None));
            self.end_drain(*id);
        }
        expired
    }

    /// The changes since the last call, in order, for
    /// [`SteeringTable::with_pins`].
    pub fn take_changes(&mut self) -> Vec<(SessionId, Option<GatewayId>)> {
        std::mem::take(&mut self.pending)
    }

    fn require_live(&self, gateway: GatewayId) -> Result<(), SessionError> {
        match self.placement.gateway(gateway) {
            Some(_) => Ok(()),
            None => Err(SessionError::UnknownGateway(gateway)),
        }
    }

    /// Removes `id`, keeping the count of learned pins.
    fn forget(&mut self, id: SessionId) -> Option<SessionInfo> {
        let session = self.sessions.remove(&id)?;
        if session.origin == SessionOrigin::Traffic {
            self.learned.count = self.learned.count.saturating_sub(1);
        }
        Some(session)
    }

    fn insert(&mut self, id: SessionId, gateway: GatewayId, origin: SessionOrigin, now_ms: u64) {
        if origin == SessionOrigin::Traffic {
            self.learned.count += 1;
        }
        if let Some(old) = self.sessions.insert(
            id,
            SessionInfo {
                id,
                gateway,
                origin,
                created_ms: now_ms,
                last_seen_ms: now_ms,
            },
        ) {
            if old.origin == SessionOrigin::Traffic {
                self.learned.count = self.learned.count.saturating_sub(1);
            }
        }
        self.pending.push((id, Some(gateway)));
    }

    fn next_free_assigned_id(&mut self) -> Result<SessionId, SessionError> {
        while let Some(id) = SessionId::assigned(self.next_assigned) {
            self.next_assigned += 1;
            if !self.sessions.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(SessionError::IdSpaceExhausted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier1::steering::GatewayTarget;

    #[test]
    fn pin_api_creates_adopts_and_moves_with_drain() {
        let gateways: Vec<Gateway> = (0..3)
            .map(|i| Gateway {
                id: GatewayId(i),
                target: GatewayTarget::LocalWorker(i as u16),
            })
            .collect();
        let mut m = SessionManager::new(1000);
        m.set_drain_ms(5000);
        m.set_gateways(&gateways).unwrap();
        let learned = SessionId(7);
        assert_eq!(
            m.pin_request(learned, GatewayId(0), 0),
            Ok(PinOutcome::Pinned)
        );
        assert_eq!(m.learned_pins(), 1);
        // Adopted: now an API pin on gateway 2, draining from 0.
        assert_eq!(m.pin_api(learned, GatewayId(2), 10), Ok(Some(GatewayId(0))));
        assert_eq!(m.learned_pins(), 0);
        assert_eq!(m.draining_from(learned), Some(GatewayId(0)));
        let info = m.get(learned).unwrap();
        assert_eq!(
            (info.gateway, info.origin),
            (GatewayId(2), SessionOrigin::Api)
        );
        // API pins never idle out.
        assert!(m.expire_idle(1_000_000).is_empty());
        // Unknown: created; dead gateway: refused, nothing changes.
        assert_eq!(m.pin_api(SessionId(8), GatewayId(1), 0), Ok(None));
        assert_eq!(
            m.pin_api(SessionId(9), GatewayId(5), 0),
            Err(SessionError::UnknownGateway(GatewayId(5)))
        );
        assert!(m.get(SessionId(9)).is_none());
    }
    use proptest::prelude::*;

    const IDLE_MS: u64 = 30_000;

    fn gateways(ids: &[u32]) -> Vec<Gateway> {
        ids.iter()
            .map(|id| Gateway {
                id: GatewayId(*id),
                target: GatewayTarget::LocalWorker(*id as u16),
            })
            .collect()
    }

    fn manager_with(ids: &[u32]) -> SessionManager {
        let mut manager = SessionManager::new(IDLE_MS);
        assert_eq!(manager.set_gateways(&gateways(ids)), Ok(Vec::new()));
        manager
    }

    #[test]
    fn create_assigns_ids_and_refuses_duplicates() {
        let mut manager = manager_with(&[1, 2, 3]);
        let first = manager.create(None, None, 0).unwrap();
        let second = manager.create(None, Some(GatewayId(2)), 0).unwrap();
        assert_eq!(
            (first, second),
            (
                SessionId::assigned(1).unwrap(),
                SessionId::assigned(2).unwrap()
            )
        );
        assert_eq!(first.to_string(), "id:1");
        assert_eq!(manager.get(second).map(|s| s.gateway), Some(GatewayId(2)));

        let explicit = SessionId(0x0a00_0001);
        manager.create(Some(explicit), None, 0).unwrap();
        let table = SteeringTable::new(&gateways(&[3, 1, 2])).unwrap();
        assert_eq!(
            manager.get(explicit).map(|s| s.gateway),
            table.maglev_choice(explicit),
            "defaults to Maglev"
        );
        assert_eq!(
            manager.create(Some(explicit), Some(GatewayId(1)), 5),
            Err(SessionError::AlreadyExists(explicit))
        );
        // An explicit ID from the assigned space is skipped by the counter.
        manager.create(SessionId::assigned(3), None, 0).unwrap();
        assert_eq!(
            manager.create(None, None, 0),
            SessionId::assigned(4).ok_or(SessionError::IdSpaceExhausted)
        );
    }

    #[test]
    fn create_needs_a_live_gateway() {
        let mut empty = SessionManager::new(IDLE_MS);
        assert_eq!(empty.create(None, None, 0), Err(SessionError::NoGateways));
        let mut manager = manager_with(&[1]);
        assert_eq!(
            manager.create(Some(SessionId(5)), Some(GatewayId(9)), 0),
            Err(SessionError::UnknownGateway(GatewayId(9)))
        );
        assert!(manager.is_empty());
        assert!(manager.take_changes().is_empty());
    }

    #[test]
    fn a_move_drains_from_the_old_gateway_for_the_drain_time() {
        let mut manager = manager_with(&[1, 2, 3]);
        manager.set_drain_ms(1_000);
        let id = manager.create(None, Some(GatewayId(1)), 0).unwrap();
        manager.take_changes();
        assert_eq!(manager.move_to(id, GatewayId(2)), Ok(GatewayId(1)));
        assert_eq!(manager.draining_from(id), Some(GatewayId(1)));
        assert_eq!(manager.take_drain_changes(), vec![(id, Some(GatewayId(1)))]);
        // The clock starts at the first check after the move.
        assert_eq!(manager.expire_drains(5_000), 0);
        assert_eq!(manager.expire_drains(5_999), 0);
        assert_eq!(manager.expire_drains(6_000), 1);
        assert_eq!(manager.draining_from(id), None);
        assert_eq!(manager.take_drain_changes(), vec![(id, None)]);

        // Moving back where it drains from ends the drain; delete ends it.
        manager.move_to(id, GatewayId(3)).unwrap();
        manager.move_to(id, GatewayId(2)).unwrap();
        assert_eq!(manager.draining_from(id), None);
        manager.move_to(id, GatewayId(1)).unwrap();
        assert_eq!(manager.draining_from(id), Some(GatewayId(2)));
        manager.delete(id).unwrap();
        assert_eq!(manager.draining_from(id), None);
        assert_eq!(
            manager.take_drain_changes(),
            vec![
                (id, Some(GatewayId(2))),
                (id, None),
                (id, Some(GatewayId(2))),
                (id, None),
            ]
        );

        // Draining off: a move cuts the old gateway's user sessions off.
        let other = manager.create(None, Some(GatewayId(1)), 0).unwrap();
        manager.set_drain_ms(0);
        manager.move_to(other, GatewayId(2)).unwrap();
        assert_eq!(manager.draining_from(other), None);
        assert!(manager.take_drain_changes().is_empty());
    }

    #[test]
    fn unknown_sessions_are_reported() {
        let mut manager = manager_with(&[1, 2]);
        let ghost = SessionId::from_teid(0x99);
        assert_eq!(manager.delete(ghost), Err(SessionError::NotFound(ghost)));
        assert_eq!(manager.touch(ghost, 1), Err(SessionError::NotFound(ghost)));
        assert_eq!(
            manager.move_to(ghost, GatewayId(1)),
            Err(SessionError::NotFound(ghost))
        );
        let message = SessionError::NotFound(ghost).to_string();
        assert!(
            message.contains("teid:0x99") && message.contains("list"),
            "{message}"
        );
    }

    #[test]
    fn learned_pins_stop_at_the_cap_and_api_pins_do_not_count() {
        let mut manager = manager_with(&[1, 2]);
        manager.set_learned_limits(Some(3), None);
        let mut pinned = 0;
        for i in 0..100u64 {
            if manager.pin_request(SessionId(0x0a00_0000 + i), GatewayId(1), 10)
                == Ok(PinOutcome::Pinned)
            {
                pinned += 1;
            }
        }
        assert_eq!(pinned, 3);
        assert_eq!(manager.learned_pins(), 3);
        assert_eq!(manager.pins_refused(), 97);
        assert_eq!(
            manager.take_changes().len(),
            3,
            "refused pins publish nothing"
        );
        // API pins are not limited.
        for i in 0..5u64 {
            assert!(manager
                .create(Some(SessionId(0x0b00_0000 + i)), None, 10)
                .is_ok());
        }
        assert_eq!(manager.len(), 8);
        assert_eq!(manager.learned_pins(), 3);
        // Idle learned pins go, and make room again.
        assert_eq!(manager.expire_idle(10 + IDLE_MS + 1).len(), 3);
        assert_eq!(manager.learned_pins(), 0);
        assert_eq!(
            manager.pin_request(SessionId(0x0a00_1000), GatewayId(2), IDLE_MS + 20),
            Ok(PinOutcome::Pinned)
        );
        assert!(manager.delete(SessionId(0x0a00_1000)).is_ok());
        assert_eq!(manager.learned_pins(), 0);
    }

    #[test]
    fn learned_pins_per_second_never_exceed_rate_times_time_plus_one_second() {
        let mut manager = manager_with(&[1]);
        manager.set_learned_limits(None, Some(50));
        let mut pinned = 0u64;
        // 10 000 requests over 2 s (one every 0.2 ms, in whole ms: 5 per ms).
        for i in 0..10_000u64 {
            let now = 1000 + i / 5;
            if manager.pin_request(SessionId(i), GatewayId(1), now) == Ok(PinOutcome::Pinned) {
                pinned += 1;
            }
        }
        // One second's worth at once, then 50 a second for 2 s.
        assert!(pinned <= 50 + 100, "{pinned}");
        assert!(pinned >= 50 + 99, "{pinned}");
    }

    #[test]
    fn pin_requests_are_idempotent() {
        let mut manager = manager_with(&[1, 2]);
        let id = SessionId(0x0a00_0002);
        assert_eq!(
            manager.pin_request(id, GatewayId(2), 10),
            Ok(PinOutcome::Pinned)
        );
        assert_eq!(
            manager.pin_request(id, GatewayId(2), 20),
            Ok(PinOutcome::AlreadyPinned {
                gateway: GatewayId(2)
            })
        );
        assert_eq!(
            manager.pin_request(id, GatewayId(1), 30),
            Ok(PinOutcome::AlreadyPinned {
                gateway: GatewayId(2)
            }),
            "a late request from another worker does not re-pin"
        );
        assert_eq!(manager.take_changes(), vec![(id, Some(GatewayId(2)))]);
        assert_eq!(
            manager.get(id).map(|s| (s.created_ms, s.last_seen_ms)),
            Some((10, 30))
        );
        assert_eq!(
            manager.pin_request(SessionId(7), GatewayId(9), 0),
            Err(SessionError::UnknownGateway(GatewayId(9)))
        );
    }

    #[test]
    fn idle_traffic_sessions_are_unpinned() {
        let mut manager = manager_with(&[1, 2]);
        let quiet = SessionId(1);
        let busy = SessionId(2);
        let created = manager.create(Some(SessionId(3)), None, 0).unwrap();
        manager.pin_request(quiet, GatewayId(1), 0).unwrap();
        manager.pin_request(busy, GatewayId(2), 0).unwrap();
        manager.take_changes();

        manager.touch(busy, 20_000).unwrap();
        assert_eq!(
            manager.expire_idle(IDLE_MS),
            Vec::<SessionId>::new(),
            "idle exactly the limit"
        );
        assert_eq!(manager.expire_idle(IDLE_MS + 1), vec![quiet]);
        assert_eq!(manager.take_changes(), vec![(quiet, None)]);
        assert_eq!(manager.get(quiet), None);
        assert_eq!(manager.expire_idle(20_000 + IDLE_MS + 1), vec![busy]);
        assert_eq!(manager.expire_idle(u64::MAX), Vec::<SessionId>::new());
        assert!(
            manager.get(created).is_some(),
            "API sessions stay until deleted"
        );
        // A clock step backwards never expires anything.
        manager.pin_request(quiet, GatewayId(1), 50_000).unwrap();
        assert!(manager.expire_idle(0).is_empty());
    }

    #[test]
    fn move_delete_and_changes() {
        let mut manager = manager_with(&[1, 2]);
        let id = manager
            .create(Some(SessionId(11)), Some(GatewayId(1)), 0)
            .unwrap();
        assert_eq!(manager.move_to(id, GatewayId(2)), Ok(GatewayId(1)));
        assert_eq!(manager.move_to(id, GatewayId(2)), Ok(GatewayId(2)));
        assert_eq!(
            manager.move_to(id, GatewayId(5)),
            Err(SessionError::UnknownGateway(GatewayId(5)))
        );
        assert_eq!(manager.delete(id).map(|s| s.gateway), Ok(GatewayId(2)));
        assert_eq!(
            manager.take_changes(),
            vec![
                (id, Some(GatewayId(1))),
                (id, Some(GatewayId(2))),
                (id, None)
            ]
        );
        assert!(manager.take_changes().is_empty());
    }

    #[test]
    fn departed_gateways_take_their_sessions_with_them() {
        let mut manager = manager_with(&[1, 2]);
        manager.pin_request(SessionId(1), GatewayId(1), 0).unwrap();
        manager.pin_request(SessionId(2), GatewayId(2), 0).unwrap();
        manager.take_changes();
        assert_eq!(
            manager.set_gateways(&gateways(&[1, 3])),
            Ok(vec![SessionId(2)])
        );
        assert_eq!(manager.take_changes(), vec![(SessionId(2), None)]);
        assert_eq!(
            manager.list().iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![SessionId(1)]
        );
    }

    proptest! {
        /// Publishing the manager's changes keeps the steering table's pins
        /// equal to the manager's sessions, whatever the operation sequence.
        #[test]
        fn published_pins_mirror_the_manager(ops in prop::collection::vec((0u8..5, 0u64..20, 1u32..4, 0u64..100_000), 1..60)) {
            let mut manager = manager_with(&[1, 2, 3]);
            let mut table = SteeringTable::new(manager.gateways()).unwrap();
            for (op, id, gateway, now) in ops {
                let id = SessionId(id);
                let gateway = GatewayId(gateway);
                let _ = match op {
                    0 => manager.create(Some(id), Some(gateway), now).map(|_| ()),
                    1 => manager.pin_request(id, gateway, now).map(|_| ()),
                    2 => manager.move_to(id, gateway).map(|_| ()),
                    3 => manager.delete(id).map(|_| ()),
                    _ => {
                        manager.expire_idle(now);
                        Ok(())
                    }
                };
                table = table.with_pins(&manager.take_changes());
                let pinned: Vec<(SessionId, GatewayId)> = {
                    let mut all: Vec<_> = table.pinned().iter().collect();
                    all.sort_unstable();
                    all
                };
                let expected: Vec<(SessionId, GatewayId)> =
                    manager.list().iter().map(|s| (s.id, s.gateway)).collect();
                prop_assert_eq!(pinned, expected);
            }
        }
    }
}
