//! One error type for the whole safe layer. DPDK reports failures as an
//! errno (returned negated, or left in `rte_errno`); each variant keeps the
//! operation that failed, the errno and DPDK's own text for it, so a log line
//! says what went wrong without a second lookup.

use std::ffi::CStr;

use crate::sys;

/// Result of every fallible call in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong in a DPDK call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An EAL call (`rte_eal_init`, `rte_eal_cleanup`, ...) failed.
    #[error("EAL: {op} failed: {msg} (errno {errno})")]
    Eal {
        op: &'static str,
        errno: i32,
        msg: String,
    },
    /// `Eal::init` was called a second time in this process.
    #[error("EAL is already initialised in this process (it can be initialised once)")]
    AlreadyInitialised,
    /// The call needs a running EAL: it was not initialised yet, or was
    /// cleaned up.
    #[error("EAL is not running (not initialised yet, or already cleaned up)")]
    NotInitialised,
    /// `Eal::cleanup` was refused: DPDK objects made through this crate are
    /// still alive (mempools, rings, mempools held by configured ports).
    #[error("EAL cleanup refused: {0} DPDK object(s) still alive (drop rings and mempools, close ports first)")]
    ObjectsAlive(usize),
    /// An ethdev call on a port failed.
    #[error("port {port}: {op} failed: {msg} (errno {errno})")]
    Port {
        port: u16,
        op: &'static str,
        errno: i32,
        msg: String,
    },
    /// No ethdev port has this name.
    #[error("no ethdev port named {0:?}")]
    NoSuchPort(String),
    /// A mempool call failed.
    #[error("mempool {name:?}: {op} failed: {msg} (errno {errno})")]
    Mempool {
        name: String,
        op: &'static str,
        errno: i32,
        msg: String,
    },
    /// A ring call failed.
    #[error("ring {name:?}: {op} failed: {msg} (errno {errno})")]
    Ring {
        name: String,
        op: &'static str,
        errno: i32,
        msg: String,
    },
    /// Launching a function on a worker lcore failed.
    #[error("lcore {lcore}: {op} failed: {msg} (errno {errno})")]
    Launch {
        lcore: u32,
        op: &'static str,
        errno: i32,
        msg: String,
    },
    /// The function launched on a worker lcore panicked; the panic message.
    #[error("worker panicked: {0}")]
    WorkerPanicked(String),
    /// Registering a telemetry command failed.
    #[error("telemetry command {cmd:?}: {op} failed: {msg} (errno {errno})")]
    Telemetry {
        cmd: String,
        op: &'static str,
        errno: i32,
        msg: String,
    },
    /// A packet-capture (pdump) call failed.
    #[error("pdump: {op} failed: {msg} (errno {errno})")]
    Pdump {
        op: &'static str,
        errno: i32,
        msg: String,
    },
    /// An argument cannot be handed to DPDK (a name with a NUL byte, a ring
    /// size that is not a power of two, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// DPDK's text for an errno value (`rte_strerror`, which knows DPDK's own
/// codes as well as libc's).
pub fn errno_text(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any int and returns a pointer to a
    // NUL-terminated string, static or in a per-thread buffer; we copy it out
    // before anything else on this thread can overwrite that buffer.
    unsafe {
        let text = sys::tandem_strerror(errno);
        if text.is_null() {
            return format!("errno {errno}");
        }
        CStr::from_ptr(text).to_string_lossy().into_owned()
    }
}

/// The calling thread's `rte_errno`.
pub fn last_errno() -> i32 {
    // SAFETY: reads this thread's rte_errno through a C shim; no arguments.
    unsafe { sys::tandem_errno() }
}

/// `(errno, text)` for a DPDK call that returned a negative errno.
pub(crate) fn from_negative(rc: i32) -> (i32, String) {
    let errno = rc.checked_neg().unwrap_or(i32::MAX);
    (errno, errno_text(errno))
}

/// `(errno, text)` for a DPDK call that left its error in `rte_errno`.
pub(crate) fn from_rte_errno() -> (i32, String) {
    let errno = last_errno();
    (errno, errno_text(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EINVAL: i32 = 22;

    #[test]
    fn errno_text_is_the_libc_text_for_libc_codes() {
        assert_eq!(errno_text(EINVAL), "Invalid argument");
    }

    #[test]
    fn negative_return_codes_become_positive_errno() {
        let (errno, msg) = from_negative(-EINVAL);
        assert_eq!(errno, EINVAL);
        assert_eq!(msg, "Invalid argument");
    }

    #[test]
    fn display_names_operation_errno_and_text() {
        let err = Error::Port {
            port: 3,
            op: "rte_eth_dev_start",
            errno: EINVAL,
            msg: errno_text(EINVAL),
        };
        assert_eq!(
            err.to_string(),
            "port 3: rte_eth_dev_start failed: Invalid argument (errno 22)"
        );
    }
}
