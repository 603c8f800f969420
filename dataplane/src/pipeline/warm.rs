//! The first pass over a burst: where each packet's state lives.
//!
//! At a million user sessions every lookup misses the cache several times
//! (pinned-session leaf, flow-index bucket, slab slot), and one packet's
//! misses depend on each other. Done packet by packet they queue up; done
//! for the whole burst first they overlap. [`Worker::prefetch_burst`] reads
//! just enough of each frame to know its session ID and flow key (or its
//! gateway port, for replies), asks for the pinned leaf and the index
//! bucket of every packet, then, with the buckets arriving, for every
//! packet's slab slot. It changes nothing and decides nothing: the normal
//! pass re-parses and checks everything, so a frame this pass misreads only
//! costs a wasted hint.

use super::l2::{gtp_inner, rd16};
use super::steer::parse_l2;
use super::Worker;
use crate::prefetch::Prefetch;
use crate::tier1::{session_id, SessionKeyMode};
use crate::tier2::flow_index::KeyHash;
use crate::tier2::FlowKey;
use crate::topology::{LocalAddr, Role};
use crate::wire::{ETHERTYPE_IPV4, PROTO_ICMP, PROTO_TCP, PROTO_UDP};
use std::net::Ipv4Addr;

/// Frames looked at per call (a DPDK burst).
pub const PREFETCH_MAX: usize = 32;
/// Lines of one pinned-map leaf asked for at most.
const MAX_LEAF_LINES: usize = 8;

/// Where one packet's user session will be looked up.
#[derive(Clone, Copy)]
enum Lookup {
    Nothing,
    /// From the terminal: by flow key.
    Client(KeyHash),
    /// From a server: by gateway address and port.
    Reply(u8, u16),
}

#[inline]
fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

impl Worker {
    /// Prefetches the state the next [`process`](Worker::process) calls for
    /// these frames (bytes and receiving port) will read; at most
    /// [`PREFETCH_MAX`] frames are looked at.
    pub fn prefetch_burst<'a, P: Prefetch>(
        &self,
        frames: impl IntoIterator<Item = (&'a [u8], u16)>,
        hint: &P,
    ) {
        let mut lookups = [Lookup::Nothing; PREFETCH_MAX];
        let mut n = 0;
        for (bytes, in_port) in frames.into_iter().take(PREFETCH_MAX) {
            lookups[n] = self.locate(bytes, in_port, hint);
            n += 1;
        }
        for lookup in &lookups[..n] {
            let slot = match *lookup {
                Lookup::Client(hash) => self.table.client_candidate(hash),
                Lookup::Reply(addr, port) => self.table.find_reply(addr, port),
                Lookup::Nothing => None,
            };
            if let Some(memory) = slot.and_then(|idx| self.table.slot_memory(idx)) {
                hint.read(memory);
            }
        }
    }

    /// Prefetches the first-level lines of one frame and says where its
    /// session will be looked up.
    #[inline]
    fn locate<P: Prefetch>(&self, b: &[u8], in_port: u16, hint: &P) -> Lookup {
        let Some(role) = self.topo.role(in_port) else {
            return Lookup::Nothing;
        };
        let Ok((l2, ethertype)) = parse_l2(b) else {
            return Lookup::Nothing;
        };
        if ethertype != ETHERTYPE_IPV4 {
            return Lookup::Nothing;
        }
        let mut ip = l2.ip_off;
        match role {
            Role::Access => {
                let mode = self.cfg.session_key;
                let mut teid = None;
                if mode == SessionKeyMode::GtpTeid {
                    let Some((tunnel, _, inner)) = gtp_inner(b, ip) else {
                        return Lookup::Nothing;
                    };
                    teid = Some(tunnel);
                    ip = inner;
                }
                let Some(head) = b.get(ip..ip + 20) else {
                    return Lookup::Nothing;
                };
                let client_ip = ip_at(head, 12);
                if let Some(sid) = session_id(mode, client_ip, l2.vlan, teid) {
                    let pinned = self.snaps.steering.get().pinned();
                    if let Some(leaf) = pinned.leaf_of(sid) {
                        // The binary search may read any line of the leaf
                        // (a few entries; about 19 at 10M sessions).
                        let per_line = leaf.first().map_or(1, |e| 64 / std::mem::size_of_val(e));
                        for entry in leaf.iter().step_by(per_line.max(1)).take(MAX_LEAF_LINES) {
                            hint.read(entry);
                        }
                    }
                }
                let l4 = ip + usize::from(head[0] & 0x0f) * 4;
                let (client_port, dst_port) = match head[9] {
                    PROTO_TCP | PROTO_UDP if b.len() >= l4 + 4 => (rd16(b, l4), rd16(b, l4 + 2)),
                    PROTO_ICMP if b.len() >= l4 + 6 => (rd16(b, l4 + 4), 0),
                    _ => return Lookup::Nothing,
                };
                let key = FlowKey {
                    proto: head[9],
                    client_ip,
                    client_port,
                    dst_ip: ip_at(head, 16),
                    dst_port,
                };
                let hash = self.table.client_hash(&key);
                hint.read(self.table.client_bucket(hash));
                Lookup::Client(hash)
            }
            Role::Server | Role::External => {
                let Some(head) = b.get(ip..ip + 20) else {
                    return Lookup::Nothing;
                };
                let Some(LocalAddr::Gateway(addr)) = self.topo.local(in_port, ip_at(head, 16))
                else {
                    return Lookup::Nothing;
                };
                let l4 = ip + usize::from(head[0] & 0x0f) * 4;
                let port = match head[9] {
                    PROTO_TCP | PROTO_UDP if b.len() >= l4 + 4 => rd16(b, l4 + 2),
                    PROTO_ICMP if b.len() >= l4 + 6 && b[l4] == 0 => rd16(b, l4 + 4),
                    _ => return Lookup::Nothing,
                };
                if let Some(cell) = self.table.reply_cell(addr, port) {
                    hint.read(cell);
                }
                Lookup::Reply(addr, port)
            }
        }
    }
}
