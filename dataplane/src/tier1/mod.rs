//! Tier 1: steering every access-side packet to the gateway that owns its
//! session.
//!
//! Each worker runs a tier-1 stage for the I/O points it polls. It derives a
//! [`SessionId`] from the packet ([`session_id`]) and looks it up in the
//! published [`SteeringTable`]: a pinned entry if there is one, else a Maglev
//! choice over the live gateways that every core and appliance computes
//! identically. The [`SessionManager`] on the control plane keeps the pins and
//! produces the changes for the next published table.

pub mod fabric_peers;
pub mod maglev;
pub mod pinned;
pub mod session_id;
pub mod session_manager;
pub mod steering;

#[cfg(test)]
mod steering_properties;

pub use fabric_peers::{FabricPeer, FabricPeers};
pub use maglev::Maglev;
pub use pinned::PinnedMap;
pub use session_id::{
    session_id, session_id_v6, Ipv6SessionPrefix, ParseSessionIdError, SessionId, SessionIdKind,
    SessionKeyMode,
};
pub use session_manager::{PinOutcome, SessionError, SessionInfo, SessionManager, SessionOrigin};
pub use steering::{
    Gateway, GatewayId, GatewayTarget, Steer, SteeringError, SteeringTable, DEFAULT_MAX_GATEWAYS,
};
