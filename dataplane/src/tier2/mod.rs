//! Tier 2: the gateway state of one worker core.
//!
//! Each worker owns, without sharing: the gateway ports dealt to it
//! (`ports`), its user sessions (`session`), their idle timers (`timer`),
//! the per-protocol state and timeouts (`state`) and the server choice for
//! new sessions (`select`). Nothing here reads a clock or touches packets:
//! callers pass times in milliseconds and plain addresses and ports.

pub mod admission;
pub mod flow_index;
pub mod flow_state;
pub mod fragment_table;
pub mod path_guard;
pub mod ports;
pub mod select;
pub mod syncookie;
pub mod timer;
pub mod user_sessions;
pub mod window;

#[cfg(test)]
mod tests;

pub use admission::{Admission, Refusal};
pub use flow_state::{
    Direction, EndReason, FlowState, IcmpState, TcpFlags, TcpState, Timeouts, UdpState,
};
pub use fragment_table::{Follow, FragmentKey, FragmentLimits, FragmentTable, Miss};
pub use path_guard::{PathChange, PathGuard, PATH_QUIET_MS};
pub use ports::{owner_core, try_owner_core, PortAllocator, PortPool, Quarantine, QuarantineClass};
pub use select::{consistent, least_load, terminal_hash, LoadCounters, ServerCandidate};
pub use timer::TimerWheel;
pub use user_sessions::{
    ClientPath, FlowKey, GtpTunnel, InsertError, UserSession, UserSessionTable,
};
pub use window::{Segment, TcpWindow};
