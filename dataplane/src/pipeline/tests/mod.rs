//! The whole pipeline on byte buffers: frames in, verdicts and frames out,
//! checked field by field and against from-scratch checksums. The lab they
//! run in is `crate::testkit`.

mod behaviour;
mod bitrate;
mod edges;
mod fabric;
mod fabric_v6;
mod fragments;
mod hardening;
mod ipv6;
mod ipv6_steering;
mod limits;
mod marks;
mod nat64;
mod nat64_icmp;
mod nat66;
mod prefetch_pass;
mod props;
mod quota;
mod records;
mod remark;
mod scan;
mod type_bitrate;

use super::*;
use crate::event::Event;
use crate::frame::{Frame, VecFrame};
use crate::policy::{AdminState, Entitlement, Subscribers};
use crate::tier1::{GatewayId, SessionKeyMode};
use crate::topology::Neighbours;
use crate::wire::checksum::checksum;
use crate::wire::{FrameSpec, MacAddr, TcpFlags};
use std::net::Ipv4Addr;
use std::sync::Arc;

pub use crate::testkit::*;
