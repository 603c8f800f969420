//! Starting and stopping DPDK's Environment Abstraction Layer, and the
//! per-thread facts it provides (lcore, NUMA socket, TSC clock).

use std::ffi::{c_char, c_int, CString};

use crate::error::{self, Error, Result};
use crate::lifecycle::{self, EalState};
use crate::sys;

/// The program name handed to DPDK as `argv[0]`.
const PROGRAM_NAME: &str = "tandem";

/// Why [`Eal::cleanup`] failed; `eal` is the EAL handed back when it still
/// runs (cleanup was refused), so cleanup can be retried. Converts into
/// [`Error`] for `?`.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct CleanupError {
    pub error: Error,
    pub eal: Option<Eal>,
}

impl From<CleanupError> for Error {
    fn from(err: CleanupError) -> Error {
        err.error
    }
}

/// Proof that the EAL runs in this process. Only one exists; it is created by
/// [`Eal::init`] and consumed by [`Eal::cleanup`].
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Starts the EAL with `args` (EAL options only, without the program
    /// name, e.g. `["-l", "0-1", "--vdev", "net_null0"]`). The EAL starts once
    /// per process: a second call, even after [`Eal::cleanup`], gives
    /// [`Error::AlreadyInitialised`].
    pub fn init(args: &[String]) -> Result<Eal> {
        let mut lifecycle = lifecycle::lock();
        if lifecycle.state != EalState::NotStarted {
            return Err(Error::AlreadyInitialised);
        }
        let mut argv = Vec::with_capacity(args.len() + 2);
        for arg in std::iter::once(PROGRAM_NAME).chain(args.iter().map(String::as_str)) {
            let arg = CString::new(arg).map_err(|_| {
                Error::InvalidArgument(format!("EAL argument {arg:?} contains a NUL byte"))
            })?;
            // The EAL may keep pointers into argv (it reorders argv and
            // remembers some options), so the strings live for the process.
            argv.push(Box::leak(arg.into_boxed_c_str()).as_ptr().cast_mut());
        }
        let argc = c_int::try_from(argv.len())
            .map_err(|_| Error::InvalidArgument("too many EAL arguments".to_string()))?;
        argv.push(std::ptr::null_mut::<c_char>());
        // SAFETY: argv holds argc pointers to NUL-terminated strings that are
        // never freed, followed by a NULL, as C's main() would pass them; the
        // Vec's buffer outlives the call. The lifecycle lock makes this the
        // only rte_eal_init call in flight.
        let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            let (errno, msg) = error::from_rte_errno();
            return Err(Error::Eal {
                op: "rte_eal_init",
                errno,
                msg,
            });
        }
        lifecycle.state = EalState::Running;
        Ok(Eal { _private: () })
    }

    /// Stops the EAL (`rte_eal_cleanup`). Refused with
    /// [`Error::ObjectsAlive`] while mempools, rings or configured ports made
    /// through this crate still exist, since cleanup unmaps their memory; the
    /// refusal hands the `Eal` back so cleanup can be tried again once they
    /// are gone. Functions launched on worker lcores must have returned.
    pub fn cleanup(self) -> std::result::Result<(), CleanupError> {
        let mut lifecycle = lifecycle::lock();
        if lifecycle.live_objects > 0 {
            return Err(CleanupError {
                error: Error::ObjectsAlive(lifecycle.live_objects),
                eal: Some(self),
            });
        }
        lifecycle.state = EalState::CleanedUp;
        // SAFETY: the EAL runs (this token exists) and no object owning DPDK
        // memory is alive; the lifecycle lock keeps new ones from appearing.
        let rc = unsafe { sys::rte_eal_cleanup() };
        if rc < 0 {
            let (errno, msg) = error::from_negative(rc);
            return Err(CleanupError {
                error: Error::Eal {
                    op: "rte_eal_cleanup",
                    errno,
                    msg,
                },
                eal: None,
            });
        }
        Ok(())
    }

    /// DPDK objects made through this crate that are still alive (what
    /// blocks [`Eal::cleanup`]).
    pub fn live_objects(&self) -> usize {
        lifecycle::lock().live_objects
    }

    /// The main lcore (the one that called [`Eal::init`]).
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: reads the EAL configuration, which is set up (self exists).
        unsafe { sys::rte_get_main_lcore() }
    }

    /// Whether `lcore` is one of the lcores the EAL was started with.
    pub fn lcore_enabled(&self, lcore: u32) -> bool {
        if lcore >= sys::RTE_MAX_LCORE {
            return false;
        }
        // SAFETY: the EAL configuration is set up (self exists) and lcore is
        // within the lcore table.
        unsafe { sys::rte_lcore_is_enabled(lcore) != 0 }
    }

    /// The enabled lcores other than the main one, in ascending order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let main = self.main_lcore();
        (0..sys::RTE_MAX_LCORE)
            .filter(|&lcore| lcore != main && self.lcore_enabled(lcore))
            .collect()
    }

    /// The calling thread's lcore, or `None` on a thread the EAL does not
    /// know (any thread not started by it).
    pub fn lcore_id() -> Option<u32> {
        // SAFETY: reads a thread-local through a C shim; valid on any thread.
        let id = unsafe { sys::tandem_lcore_id() };
        (id < sys::RTE_MAX_LCORE).then_some(id)
    }

    /// The NUMA socket of the calling thread (`SOCKET_ID_ANY` as `u32::MAX`
    /// on threads the EAL does not know).
    pub fn socket_id() -> u32 {
        // SAFETY: reads a thread-local; valid on any thread.
        unsafe { sys::rte_socket_id() }
    }

    /// The current TSC value.
    #[inline]
    pub fn tsc_cycles() -> u64 {
        // SAFETY: reads the time-stamp counter; no arguments, no state.
        unsafe { sys::tandem_get_tsc_cycles() }
    }

    /// TSC ticks per second, as measured by the EAL (0 before it runs).
    pub fn tsc_hz() -> u64 {
        // SAFETY: reads a value the EAL set at start-up; no arguments.
        unsafe { sys::tandem_get_tsc_hz() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_outside_the_eal_have_no_lcore() {
        assert_eq!(Eal::lcore_id(), None);
    }

    #[test]
    fn tsc_moves_forward() {
        let first = Eal::tsc_cycles();
        let mut later = Eal::tsc_cycles();
        while later == first {
            later = Eal::tsc_cycles();
        }
        assert!(later > first);
    }
}
