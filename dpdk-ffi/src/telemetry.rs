//! Telemetry commands: Rust closures answering queries on DPDK's telemetry
//! socket (`dpdk-telemetry.py`), each returning a flat dictionary.
//!
//! DPDK calls one C callback for every command; it finds the closure
//! registered under the command name and copies its answer into DPDK's
//! reply.

use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{self, Error, Result};
use crate::sys;

/// One value in a telemetry reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelValue {
    U64(u64),
    I64(i64),
    Str(String),
}

type Handler = Arc<dyn Fn() -> Vec<(String, TelValue)> + Send + Sync + 'static>;

static HANDLERS: Mutex<Vec<(&'static str, Handler)>> = Mutex::new(Vec::new());

fn handlers() -> MutexGuard<'static, Vec<(&'static str, Handler)>> {
    // Handlers run outside the lock, so it is never poisoned by them.
    HANDLERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Registers `cmd` (starting with '/', e.g. `/tandem/workers`) with help
/// text `help`; `f` answers each query with name/value pairs. Works before
/// or after the EAL starts. A command can be registered once.
pub fn register_command(
    cmd: &'static str,
    help: &'static str,
    f: impl Fn() -> Vec<(String, TelValue)> + Send + Sync + 'static,
) -> Result<()> {
    let refuse = |errno: i32, msg: &str| Error::Telemetry {
        cmd: cmd.to_string(),
        op: "rte_telemetry_register_cmd",
        errno,
        msg: msg.to_string(),
    };
    const EINVAL: i32 = 22;
    const EEXIST: i32 = 17;
    if !cmd.starts_with('/') {
        return Err(refuse(EINVAL, "telemetry commands start with '/'"));
    }
    let (Ok(c_cmd), Ok(c_help)) = (CString::new(cmd), CString::new(help)) else {
        return Err(refuse(EINVAL, "command or help contains a NUL byte"));
    };
    {
        // Reserve the name first; the lock is not held while calling DPDK,
        // which takes its own lock (and so does a query arriving meanwhile).
        let mut registered = handlers();
        if registered.iter().any(|(name, _)| *name == cmd) {
            return Err(refuse(EEXIST, "already registered"));
        }
        registered.push((cmd, Arc::new(f)));
    }
    // DPDK may keep the pointers; registration is rare, so they live for
    // the process.
    let c_cmd: &'static CStr = Box::leak(c_cmd.into_boxed_c_str());
    let c_help: &'static CStr = Box::leak(c_help.into_boxed_c_str());
    // SAFETY: both strings are NUL-terminated and never freed; the callback
    // has the telemetry_cb signature and never unwinds.
    let rc = unsafe {
        sys::rte_telemetry_register_cmd(c_cmd.as_ptr(), Some(answer_command), c_help.as_ptr())
    };
    if rc < 0 {
        handlers().retain(|(name, _)| *name != cmd);
        let (errno, msg) = error::from_negative(rc);
        return Err(Error::Telemetry {
            cmd: cmd.to_string(),
            op: "rte_telemetry_register_cmd",
            errno,
            msg,
        });
    }
    Ok(())
}

/// The one callback DPDK calls for every command registered here.
///
/// # Safety
/// Called by DPDK only: `cmd` a NUL-terminated string, `reply` the reply
/// being built for this query.
unsafe extern "C" fn answer_command(
    cmd: *const c_char,
    _params: *const c_char,
    reply: *mut sys::rte_tel_data,
) -> c_int {
    if cmd.is_null() || reply.is_null() {
        return -1;
    }
    // SAFETY: DPDK passes the NUL-terminated command string it matched.
    let cmd = unsafe { CStr::from_ptr(cmd) };
    let handler = {
        let registered = handlers();
        registered
            .iter()
            .find(|(name, _)| name.as_bytes() == cmd.to_bytes())
            .map(|(_, handler)| Arc::clone(handler))
    };
    let Some(handler) = handler else {
        return -1;
    };
    // A panic must not unwind into C.
    let Ok(entries) = panic::catch_unwind(AssertUnwindSafe(|| handler())) else {
        return -1;
    };
    // SAFETY: reply is DPDK's reply buffer for this call.
    unsafe { sys::rte_tel_data_start_dict(reply) };
    for (name, value) in &entries {
        // SAFETY: reply is a dictionary being filled for this call.
        unsafe { add_entry(reply, name, value) };
    }
    0
}

/// How a value is stored in DPDK's dictionary, which in 22.11 has no 64-bit
/// signed type: signed values that do not fit an `int` go out unsigned if
/// non-negative, else as text.
#[derive(Debug, PartialEq, Eq)]
enum DictValue<'a> {
    Int(c_int),
    U64(u64),
    Text(std::borrow::Cow<'a, str>),
}

fn dict_value(value: &TelValue) -> DictValue<'_> {
    match value {
        TelValue::U64(v) => DictValue::U64(*v),
        TelValue::I64(v) => match (c_int::try_from(*v), u64::try_from(*v)) {
            (Ok(small), _) => DictValue::Int(small),
            (Err(_), Ok(positive)) => DictValue::U64(positive),
            (Err(_), Err(_)) => DictValue::Text(v.to_string().into()),
        },
        TelValue::Str(text) => DictValue::Text(text.as_str().into()),
    }
}

/// Adds one entry; entries DPDK cannot take (a NUL in a name or text, names
/// or texts too long, a full dictionary) are left out.
///
/// # Safety
/// `reply` must be a telemetry dictionary being filled in a callback.
unsafe fn add_entry(reply: *mut sys::rte_tel_data, name: &str, value: &TelValue) {
    let Ok(c_name) = CString::new(name) else {
        return;
    };
    match dict_value(value) {
        // SAFETY: reply is a dictionary (caller's promise); c_name is
        // NUL-terminated and DPDK copies it, refusing harmlessly what does
        // not fit.
        DictValue::Int(v) => unsafe {
            sys::rte_tel_data_add_dict_int(reply, c_name.as_ptr(), v);
        },
        // SAFETY: as for Int.
        DictValue::U64(v) => unsafe {
            sys::rte_tel_data_add_dict_u64(reply, c_name.as_ptr(), v);
        },
        DictValue::Text(text) => {
            if let Ok(c_text) = CString::new(text.as_bytes()) {
                // SAFETY: as for Int; c_text is NUL-terminated as well.
                unsafe {
                    sys::rte_tel_data_add_dict_string(reply, c_name.as_ptr(), c_text.as_ptr());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_must_start_with_a_slash() {
        let result = register_command("tandem/no-slash", "help", Vec::new);
        assert!(matches!(result, Err(Error::Telemetry { errno: 22, .. })));
    }

    #[test]
    fn a_command_registers_once() {
        assert_eq!(
            register_command("/tandem/unit/once", "help", Vec::new),
            Ok(())
        );
        let again = register_command("/tandem/unit/once", "help", Vec::new);
        assert!(matches!(again, Err(Error::Telemetry { errno: 17, .. })));
    }

    #[test]
    fn signed_values_map_to_the_closest_dpdk_type() {
        assert_eq!(dict_value(&TelValue::I64(-5)), DictValue::Int(-5));
        assert_eq!(dict_value(&TelValue::I64(1 << 40)), DictValue::U64(1 << 40));
        assert_eq!(
            dict_value(&TelValue::I64(-(1 << 40))),
            DictValue::Text("-1099511627776".into())
        );
        assert_eq!(dict_value(&TelValue::U64(7)), DictValue::U64(7));
        assert_eq!(
            dict_value(&TelValue::Str("up".into())),
            DictValue::Text("up".into())
        );
    }
}
