//! Process-wide EAL state and the count of live DPDK objects.
//!
//! DPDK memory (mempools, rings, mbufs) is unmapped by `rte_eal_cleanup`.
//! To keep the safe layer sound, every object that owns DPDK memory holds a
//! [`LiveObject`] token, objects can only be created while the EAL runs, and
//! cleanup is refused while any token exists. Creation and cleanup both take
//! the same lock, so neither can slip past the other.

use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EalState {
    /// `rte_eal_init` has not succeeded yet.
    NotStarted,
    /// The EAL is running.
    Running,
    /// `rte_eal_cleanup` ran; the EAL cannot be started again.
    CleanedUp,
}

pub(crate) struct Lifecycle {
    pub(crate) state: EalState,
    pub(crate) live_objects: usize,
}

static LIFECYCLE: Mutex<Lifecycle> = Mutex::new(Lifecycle {
    state: EalState::NotStarted,
    live_objects: 0,
});

/// Locks the lifecycle. No code panics while holding it, so a poisoned lock
/// still holds consistent data and is used as is.
pub(crate) fn lock() -> MutexGuard<'static, Lifecycle> {
    LIFECYCLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fails unless the EAL is running.
pub(crate) fn require_running(lifecycle: &Lifecycle) -> Result<()> {
    if lifecycle.state == EalState::Running {
        Ok(())
    } else {
        Err(Error::NotInitialised)
    }
}

/// Proof that one DPDK object is alive; holding it blocks `Eal::cleanup`.
/// Dropping it releases the object's claim; forgetting it (for an object
/// that has to be leaked) keeps cleanup refused for good, which is safe.
#[derive(Debug)]
pub(crate) struct LiveObject {
    _private: (),
}

impl LiveObject {
    /// Registers a new live object; only while the EAL runs.
    pub(crate) fn register() -> Result<LiveObject> {
        let mut lifecycle = lock();
        require_running(&lifecycle)?;
        lifecycle.live_objects += 1;
        Ok(LiveObject { _private: () })
    }
}

impl Drop for LiveObject {
    fn drop(&mut self) {
        let mut lifecycle = lock();
        lifecycle.live_objects = lifecycle.live_objects.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_cannot_be_registered_before_the_eal_runs() {
        // Unit tests never start the EAL.
        assert_eq!(LiveObject::register().err(), Some(Error::NotInitialised));
        assert_eq!(lock().live_objects, 0);
    }
}
