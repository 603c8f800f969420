//! Tier 2: the gateway state of one worker core.
//!
//! Each worker owns, without sharing: the gateway ports dealt to it
//! (`ports`), its user sessions (`session`), their idle timers (`timer`),
//! the per-protocol state and timeouts (`state`) and the server choice for
//! new sessions (`select`). Nothing here reads a clock or touches packets:
//! callers pass times in milliseconds and plain addresses and ports.

pub mod admission;
pub mod flow_index;
pub mod path_guard;
pub mod ports;
pub mod select;
pub mod session;
pub mod state;
pub mod syncookie;
pub mod timer;
pub mod window;

#[cfg(test)]
mod proptests;

pub use admission::{Admission, Refusal};
pub use path_guard::{PathChange, PathGuard, PATH_QUIET_MS};
pub use ports::{owner_core, try_owner_core, PortAllocator, PortPool, Quarantine, QuarantineClass};
pub use select::{consistent, least_load, terminal_hash, LoadCounters, ServerCandidate};
pub use session::{ClientPath, FlowKey, GtpTunnel, InsertError, UserSession, UserSessionTable};
pub use state::{
    Direction, EndReason, FlowState, IcmpState, TcpFlags, TcpState, Timeouts, UdpState,
};
pub use timer::TimerWheel;
pub use window::{Segment, TcpWindow};
