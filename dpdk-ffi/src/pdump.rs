//! Packet capture support: lets `dpdk-dumpcap` (a secondary process) attach
//! to the appliance's ports and copy their traffic.

use crate::error::{self, Error, Result};
use crate::lifecycle;
use crate::sys;

/// Starts the pdump server (`rte_pdump_init`). Needs the EAL running with
/// multi-process support (not `--in-memory` / `--no-shconf`).
pub fn pdump_init() -> Result<()> {
    let lifecycle = lifecycle::lock();
    lifecycle::require_running(&lifecycle)?;
    // SAFETY: the EAL runs (checked under the lifecycle lock); no arguments.
    let rc = unsafe { sys::rte_pdump_init() };
    if rc < 0 {
        let (errno, msg) = error::from_rte_errno();
        return Err(Error::Pdump {
            op: "rte_pdump_init",
            errno,
            msg,
        });
    }
    Ok(())
}

/// Stops the pdump server (`rte_pdump_uninit`).
pub fn pdump_uninit() -> Result<()> {
    let lifecycle = lifecycle::lock();
    lifecycle::require_running(&lifecycle)?;
    // SAFETY: the EAL runs (checked under the lifecycle lock); no arguments.
    let rc = unsafe { sys::rte_pdump_uninit() };
    if rc < 0 {
        let (errno, msg) = error::from_rte_errno();
        return Err(Error::Pdump {
            op: "rte_pdump_uninit",
            errno,
            msg,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdump_needs_the_eal() {
        assert_eq!(pdump_init(), Err(Error::NotInitialised));
    }
}
