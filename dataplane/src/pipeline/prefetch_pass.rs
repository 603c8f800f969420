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
//! pass checks everything, so a frame this pass misreads only costs a
//! wasted hint.

use super::parse::{FrameRecord, Ip6, NotIpv4, Parsed};
use super::Worker;
use crate::prefetch::Prefetch;
use crate::tier1::session_id;
use crate::tier2::flow_index::KeyHash;
use crate::tier2::FlowKey;
use crate::topology::{LocalAddr, Role};
use crate::wire::{ICMP_ECHO_REPLY, PROTO_ICMP, PROTO_TCP, PROTO_UDP};

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
    /// From an IPv6 terminal: by its NAT64 flow key (and the slot's
    /// NAT64 side entry is read too).
    Nat64(KeyHash),
    /// From a server: by gateway address and port.
    Reply(u8, u16),
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
        let mut records = [FrameRecord::default(); PREFETCH_MAX];
        self.prefetch_records(frames, hint, &mut records);
    }

    /// [`prefetch_burst`](Self::prefetch_burst) that keeps what it read of
    /// each frame in `records` (one per frame, in order; at most
    /// `records.len()` and [`PREFETCH_MAX`] frames), for
    /// [`process_recorded`](Self::process_recorded). Returns how many
    /// frames it read.
    pub fn prefetch_records<'a, P: Prefetch>(
        &self,
        frames: impl IntoIterator<Item = (&'a [u8], u16)>,
        hint: &P,
        records: &mut [FrameRecord],
    ) -> usize {
        let mut lookups = [Lookup::Nothing; PREFETCH_MAX];
        let mut n = 0;
        for ((bytes, in_port), record) in frames
            .into_iter()
            .zip(records.iter_mut())
            .take(PREFETCH_MAX)
        {
            lookups[n] = self.locate(bytes, in_port, hint, record);
            n += 1;
        }
        self.prefetch_slots(&lookups[..n], &mut records[..n], hint);
        n
    }

    /// [`prefetch_records`](Self::prefetch_records) for frames another
    /// worker handed to this one with the records it made of them
    /// ([`FrameRecord::carried`]): nothing is parsed again, only this
    /// worker's lookups are computed (its flow index hash) and prefetched.
    /// At most [`PREFETCH_MAX`] records are looked at.
    pub fn prefetch_carried<P: Prefetch>(&self, records: &mut [FrameRecord], hint: &P) {
        let mut lookups = [Lookup::Nothing; PREFETCH_MAX];
        let n = records.len().min(PREFETCH_MAX);
        for (record, lookup) in records[..n].iter_mut().zip(lookups.iter_mut()) {
            if let Some(role) = self.topo.role(record.port).filter(|_| record.read) {
                *lookup = self.lookup(role, self.unwraps_gtp(role), record, hint, None);
            }
        }
        self.prefetch_slots(&lookups[..n], &mut records[..n], hint);
    }

    /// Asks for the slab slot of every packet whose bucket was asked for;
    /// keeps a terminal's candidate slot in its record (the pipeline checks
    /// it first instead of scanning the bucket again).
    #[inline]
    fn prefetch_slots<P: Prefetch>(
        &self,
        lookups: &[Lookup],
        records: &mut [FrameRecord],
        hint: &P,
    ) {
        for (lookup, record) in lookups.iter().zip(records.iter_mut()) {
            let slot = match *lookup {
                Lookup::Client(hash) => {
                    let candidate = self.gw.table.client_candidate(hash);
                    record.parsed.client_candidate = candidate;
                    candidate
                }
                Lookup::Nat64(hash) => {
                    let candidate = self.gw.table.client_candidate(hash);
                    record.parsed.client_candidate = candidate;
                    if let Some(side) = candidate.and_then(|idx| self.gw.nat64.entry(idx)) {
                        hint.read(side);
                    }
                    candidate
                }
                Lookup::Reply(addr, port) => self.gw.table.find_reply(addr, port),
                Lookup::Nothing => None,
            };
            if let Some(memory) = slot.and_then(|idx| self.gw.table.slot_memory(idx)) {
                hint.read(memory);
            }
        }
    }

    /// Reads one frame into its record, prefetches the first-level lines
    /// and says where its session will be looked up.
    #[inline]
    fn locate<P: Prefetch>(
        &self,
        b: &[u8],
        in_port: u16,
        hint: &P,
        record: &mut FrameRecord,
    ) -> Lookup {
        record.len = b.len();
        record.port = in_port;
        record.read = false;
        let Some(role) = self.topo.role(in_port) else {
            return Lookup::Nothing;
        };
        let gtp = self.unwraps_gtp(role);
        if role != Role::Fabric {
            if record.parsed.read_into(b, gtp).is_err() {
                return Lookup::Nothing;
            }
            record.read = true;
            return self.lookup(role, gtp, record, hint, Some(b));
        }
        self.locate_fabric(b, record, hint)
    }

    /// A fabric frame for this worker's gateway port (others get it
    /// handed, as `fabric_in` will see it): the terminal's frame inside is
    /// read into the record (`Parsed::read_fabric`: the outer frame only as
    /// far as the fabric needs; the terminal's frame with the same
    /// `Parsed::read` the pipeline would use once the outer headers are
    /// gone, on the same bytes, up to the outer UDP length), so the
    /// pipeline does not read it again and the flow key and its hash are
    /// the same. Nothing is checked here: `fabric.rs` checks the outer
    /// headers before it uses any of it. Any other frame on the fabric
    /// port is read as on any port (out of line: `Parsed::read_other`).
    #[inline]
    fn locate_fabric<P: Prefetch>(&self, b: &[u8], record: &mut FrameRecord, hint: &P) -> Lookup {
        let to = self
            .cfg
            .fabric
            .filter(|f| f.gateways)
            .map(|f| (f.addr, f.base_port.wrapping_add(self.cfg.index)));
        let p = &mut record.parsed;
        if !to.is_some_and(|to| p.read_fabric(b, to)) {
            record.read = p.read_other(b);
            return Lookup::Nothing;
        }
        record.read = true;
        let (Ok(ip), Ok(l4)) = (p.inner, p.l4) else {
            return Lookup::Nothing;
        };
        let key = FlowKey {
            proto: l4.proto,
            client_ip: ip.src,
            client_port: l4.src_port,
            dst_ip: ip.dst,
            dst_port: l4.dst_port,
        };
        let hash = self.gw.table.client_hash(&key);
        p.client_hash = Some(hash);
        hint.read(self.gw.table.client_bucket(hash));
        Lookup::Client(hash)
    }

    /// An IPv6 terminal's TCP or UDP packet on an access port with NAT64
    /// on: the pinned leaf of its prefix and the flow-index bucket of its
    /// NAT64 key (`nat64::v6_key`, the key `uplink_v6` looks up first),
    /// whose hash the record keeps, as for IPv4. Anything else (ICMPv6,
    /// fragments, no NAT64) is looked up without hints.
    #[inline(never)]
    fn locate_nat64<P: Prefetch>(&self, b: &[u8], ip6: Ip6, p: &mut Parsed, hint: &P) -> Lookup {
        if self.cfg.nat64.is_none()
            || ip6.fragment
            || !matches!(ip6.proto, PROTO_TCP | PROTO_UDP)
            || self.cfg.fabric.is_some_and(|f| !f.gateways)
        {
            return Lookup::Nothing;
        }
        let (off, upper) = (usize::from(ip6.off), usize::from(ip6.upper));
        let (Some(addrs), Some(ports)) = (b.get(off + 8..off + 40), b.get(upper..upper + 4)) else {
            return Lookup::Nothing;
        };
        let mut a = [0u8; 32];
        a.copy_from_slice(addrs);
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        src.copy_from_slice(&a[..16]);
        dst.copy_from_slice(&a[16..]);
        let (src, dst) = (std::net::Ipv6Addr::from(src), std::net::Ipv6Addr::from(dst));
        if let Some(sid) =
            crate::tier1::session_id_v6(self.cfg.session_key, src, self.cfg.ipv6_session_prefix)
        {
            if let Some(leaf) = self.snaps.steering.get().pinned().leaf_of(sid) {
                let per_line = leaf.first().map_or(1, |e| 64 / std::mem::size_of_val(e));
                for entry in leaf.iter().step_by(per_line.max(1)).take(MAX_LEAF_LINES) {
                    hint.read(entry);
                }
            }
        }
        let key = super::nat64::v6_key(
            ip6.proto,
            src,
            u16::from_be_bytes([ports[0], ports[1]]),
            dst,
            u16::from_be_bytes([ports[2], ports[3]]),
        );
        let hash = self.gw.table.client_hash(&key);
        p.client_hash = Some(hash);
        hint.read(self.gw.table.client_bucket(hash));
        Lookup::Nat64(hash)
    }

    /// Where the session of a read frame will be looked up; prefetches the
    /// pinned-map leaf (`steering`: the frame is steered here) and the
    /// flow-index bucket or reply cell, and keeps the flow index hash in
    /// the record. `gtp`: the access port unwraps G-PDUs. `frame`: the
    /// frame's bytes when it was received here (steered here: the pinned
    /// leaf is prefetched too), `None` for a frame handed over.
    #[inline]
    fn lookup<P: Prefetch>(
        &self,
        role: Role,
        gtp: bool,
        record: &mut FrameRecord,
        hint: &P,
        frame: Option<&[u8]>,
    ) -> Lookup {
        let steering = frame.is_some();
        let in_port = record.port;
        let p = &mut record.parsed;
        p.client_hash = None;
        p.client_candidate = None;
        let (Ok(ip), Ok(l4)) = (&p.inner, &p.l4) else {
            // An IPv6 terminal's packet: its NAT64 flow key (out of line).
            if let (Role::Access, Some(b), Err(NotIpv4::Ipv6(ip6))) = (role, frame, p.outer) {
                return self.locate_nat64(b, ip6, p, hint);
            }
            return Lookup::Nothing;
        };
        match role {
            Role::Access => {
                if gtp && p.tunnel.is_none() {
                    return Lookup::Nothing;
                }
                if steering {
                    let teid = p.tunnel.map(|(_, teid)| teid);
                    if let Some(sid) = session_id(self.cfg.session_key, ip.src, p.l2.vlan, teid) {
                        let pinned = self.snaps.steering.get().pinned();
                        if let Some(leaf) = pinned.leaf_of(sid) {
                            // The binary search may read any line of the
                            // leaf (a few entries; about 19 at 10M sessions).
                            let per_line =
                                leaf.first().map_or(1, |e| 64 / std::mem::size_of_val(e));
                            for entry in leaf.iter().step_by(per_line.max(1)).take(MAX_LEAF_LINES) {
                                hint.read(entry);
                            }
                        }
                    }
                }
                if self.cfg.fabric.is_some_and(|f| !f.gateways) {
                    // A tier-1 unit only: its sessions' user sessions are
                    // on other appliances, its own table stays empty.
                    return Lookup::Nothing;
                }
                let key = FlowKey {
                    proto: l4.proto,
                    client_ip: ip.src,
                    client_port: l4.src_port,
                    dst_ip: ip.dst,
                    dst_port: l4.dst_port,
                };
                let hash = self.gw.table.client_hash(&key);
                p.client_hash = Some(hash);
                hint.read(self.gw.table.client_bucket(hash));
                Lookup::Client(hash)
            }
            // Fabric frames are decapsulated first (`fabric.rs`).
            Role::Fabric => Lookup::Nothing,
            Role::Server | Role::External => {
                let Some(LocalAddr::Gateway(addr)) = self.topo.local(in_port, ip.dst) else {
                    return Lookup::Nothing;
                };
                let port = match l4.proto {
                    PROTO_TCP | PROTO_UDP => l4.dst_port,
                    PROTO_ICMP if l4.icmp_type == ICMP_ECHO_REPLY => l4.src_port,
                    _ => return Lookup::Nothing,
                };
                if let Some(cell) = self.gw.table.reply_cell(addr, port) {
                    hint.read(cell);
                }
                Lookup::Reply(addr, port)
            }
        }
    }
}
