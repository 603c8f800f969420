//! The control API: protocol, socket server and the statistics picture.

pub mod clients;
pub mod protocol;
pub mod server;
pub mod stats;
