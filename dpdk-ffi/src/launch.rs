//! Running a Rust closure on a worker lcore (`rte_eal_remote_launch`) and
//! collecting its result, with panics turned into errors rather than
//! unwinding into C.

use std::collections::BTreeSet;
use std::ffi::{c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{self, Error, Result};
use crate::lifecycle;
use crate::sys;

const EINVAL: i32 = 22;
const EBUSY: i32 = 16;

/// What a launched closure returns to DPDK when it panicked.
const PANICKED_RC: c_int = -1;

type WorkerFn = Box<dyn FnOnce() -> i32 + Send + 'static>;

/// Shared between the launching thread and the worker lcore.
struct LaunchSlot {
    work: Mutex<Option<WorkerFn>>,
    panic_message: Mutex<Option<String>>,
}

/// Lcores with a live [`LcoreHandle`]. Holding this lock also serialises
/// `rte_eal_remote_launch`, which must not race with itself on one lcore.
static CLAIMED_LCORES: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; poisoned data is intact.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A closure running (or finished) on a worker lcore. Call [`wait`] to get
/// its result; dropping the handle leaves the closure running and discards
/// its result.
///
/// [`wait`]: LcoreHandle::wait
#[must_use = "a launched closure's result and panics are only seen through wait()"]
#[derive(Debug)]
pub struct LcoreHandle {
    lcore: u32,
    slot: Arc<LaunchSlot>,
}

impl std::fmt::Debug for LaunchSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LaunchSlot")
    }
}

/// Runs `f` on worker lcore `lcore`. Fails if the EAL does not run, if
/// `lcore` is the main lcore or not enabled, or if it is still busy with (or
/// has an unwaited handle for) an earlier closure.
pub fn launch_on_lcore(
    lcore: u32,
    f: impl FnOnce() -> i32 + Send + 'static,
) -> Result<LcoreHandle> {
    let lifecycle = lifecycle::lock();
    lifecycle::require_running(&lifecycle)?;
    let refuse = |errno: i32, why: &str| Error::Launch {
        lcore,
        op: "rte_eal_remote_launch",
        errno,
        msg: why.to_string(),
    };
    // SAFETY: the EAL runs (checked above, under the lifecycle lock), so the
    // lcore configuration is set up; lcore is bounds-checked first.
    let usable = lcore < sys::RTE_MAX_LCORE
        && unsafe { sys::rte_lcore_is_enabled(lcore) != 0 && sys::rte_get_main_lcore() != lcore };
    if !usable {
        return Err(refuse(EINVAL, "not an enabled worker lcore"));
    }
    let mut claimed = lock(&CLAIMED_LCORES);
    if claimed.contains(&lcore) {
        return Err(refuse(EBUSY, "an earlier launch on it was not waited for"));
    }
    let slot = Arc::new(LaunchSlot {
        work: Mutex::new(Some(Box::new(f))),
        panic_message: Mutex::new(None),
    });
    let arg = Arc::into_raw(Arc::clone(&slot)).cast_mut().cast::<c_void>();
    // SAFETY: trampoline has the lcore_function_t signature; arg is one
    // strong reference to a LaunchSlot that trampoline takes over. lcore is
    // an enabled worker, and CLAIMED_LCORES (held) serialises launches.
    let rc = unsafe { sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if rc < 0 {
        // SAFETY: the launch failed, so trampoline will never run and the
        // reference handed over in arg is still ours to release.
        drop(unsafe { Arc::from_raw(arg.cast_const().cast::<LaunchSlot>()) });
        let (errno, msg) = error::from_negative(rc);
        return Err(Error::Launch {
            lcore,
            op: "rte_eal_remote_launch",
            errno,
            msg,
        });
    }
    claimed.insert(lcore);
    Ok(LcoreHandle { lcore, slot })
}

/// Entry point DPDK calls on the worker lcore.
///
/// # Safety
/// `arg` must be a pointer made by `Arc::into_raw` on a `LaunchSlot`, passed
/// to exactly one call.
unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: arg came from Arc::into_raw in launch_on_lcore and DPDK passes
    // it to exactly one call of this function.
    let slot = unsafe { Arc::from_raw(arg.cast_const().cast::<LaunchSlot>()) };
    let Some(work) = lock(&slot.work).take() else {
        return PANICKED_RC;
    };
    match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(rc) => rc,
        Err(payload) => {
            *lock(&slot.panic_message) = Some(panic_text(payload.as_ref()));
            PANICKED_RC
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

impl LcoreHandle {
    /// The lcore the closure runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Blocks until the closure returns; its return value, or
    /// [`Error::WorkerPanicked`] with the panic message.
    pub fn wait(self) -> Result<i32> {
        // SAFETY: this handle's claim on the lcore means the closure DPDK runs
        // (or ran) there is ours; waiting on a worker lcore has no other
        // precondition.
        let rc = unsafe { sys::rte_eal_wait_lcore(self.lcore) };
        match lock(&self.slot.panic_message).take() {
            Some(message) => Err(Error::WorkerPanicked(message)),
            None => Ok(rc),
        }
    }
}

impl Drop for LcoreHandle {
    fn drop(&mut self) {
        lock(&CLAIMED_LCORES).remove(&self.lcore);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launching_before_the_eal_runs_fails() {
        let result = launch_on_lcore(1, || 0);
        assert_eq!(result.err(), Some(Error::NotInitialised));
    }

    #[test]
    fn panic_text_reads_str_and_string_payloads() {
        assert_eq!(panic_text(&"boom"), "boom");
        assert_eq!(panic_text(&String::from("bang")), "bang");
        assert_eq!(panic_text(&42_u8), "panic with a non-string payload");
    }
}
