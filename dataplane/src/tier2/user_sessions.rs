//! The user session entry and the per-core table that finds it from either
//! side of the gateway.
//!
//! A user session is one terminal flow (TCP/UDP 5-tuple, or ICMP echo id)
//! given a unique (gateway address, gateway port). Packets from the terminal
//! find it by their flow key through a [`FlowIndex`]; replies from servers
//! find it by the (address index, port) they are sent to through a direct
//! array, no hashing. Entries live in a slab allocated up front, so the fast
//! path never allocates: an insert beyond capacity is refused. Both lookups
//! are split into "where will it be" and "is it there" so a burst can ask
//! the memory system for every packet's lines before it needs the first.

use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;

use crate::tier2::flow_index::{Bucket, FlowIndex, KeyHash};
use crate::tier2::flow_state::{Direction, FlowState, TcpFlags, Timeouts};
use crate::tier2::path_guard::PathGuard;

/// Client-side identity of a flow: the packet as it arrives from the
/// terminal. For ICMP echo `client_port` is the echo identifier and
/// `dst_port` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    pub proto: u8,
    pub client_ip: Ipv4Addr,
    pub client_port: u16,
    pub dst_ip: Ipv4Addr,
    pub dst_port: u16,
}

impl Hash for FlowKey {
    /// Two word writes instead of five field writes (equal keys give equal
    /// words, so this agrees with the derived `Eq`).
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let client = (u64::from(u32::from(self.client_ip)) << 32)
            | (u64::from(self.client_port) << 16)
            | u64::from(self.proto);
        let dst = (u64::from(u32::from(self.dst_ip)) << 16) | u64::from(self.dst_port);
        state.write_u64(client);
        state.write_u64(dst);
    }
}

/// The way back to a terminal: the access port and neighbour MAC its
/// packets come from, its VLAN (0 = untagged) and GTP-U tunnel. A terminal
/// packet from another path replaces it when [`PathGuard`] sees evidence
/// that the sender is the terminal, so replies follow a terminal that moves
/// between I/O points but not a neighbour that spoofs it.
///
/// On a cluster gateway a terminal behind another appliance's tier-1 unit
/// has `port` = the Fabric port and `tunnel` = (that unit's fabric address,
/// the I/O point on it as `teid`): GTP-U sessions never cross the fabric,
/// so the two meanings never meet (`pipeline/fabric.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientPath {
    pub port: u16,
    pub mac: [u8; 6],
    pub vlan: u16,
    pub tunnel: GtpTunnel,
}

impl ClientPath {
    pub const NONE: ClientPath = ClientPath {
        port: u16::MAX,
        mac: [0; 6],
        vlan: 0,
        tunnel: GtpTunnel::NONE,
    };
}

/// GTP-U tunnel a session's downlink goes back through; all zero when the
/// terminal is not behind a tunnel.
///
/// Packed to 2-byte alignment so that [`ClientPath`] has no padding and
/// [`UserSession`] keeps two cache lines with 16 flag bits (fields are
/// read and written by value; take no reference to them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(2))]
pub struct GtpTunnel {
    pub peer_ip: Ipv4Addr,
    pub teid: u32,
}

impl GtpTunnel {
    pub const NONE: GtpTunnel = GtpTunnel {
        peer_ip: Ipv4Addr::UNSPECIFIED,
        teid: 0,
    };

    pub fn is_none(&self) -> bool {
        *self == GtpTunnel::NONE
    }
}

/// Packet and byte counts of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
}

/// Bit set of per-session flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionFlags(pub u16);

impl SessionFlags {
    /// The start of this session has been reported to accounting.
    pub const ACCOUNTED: SessionFlags = SessionFlags(1);
    /// The server was chosen by consistent hash (sticky type).
    pub const STICKY: SessionFlags = SessionFlags(1 << 1);
    /// Counted against its subscriber's limits (released when it ends).
    pub const LIMITED: SessionFlags = SessionFlags(1 << 2);
    /// SYN proxy (`pipeline/synproxy`): opened from a cookie ACK, waiting
    /// for the server's SYN-ACK.
    pub const SYN_PROXY_OPENING: SessionFlags = SessionFlags(1 << 3);
    /// SYN proxy: handshake done, sequence numbers spliced.
    pub const SYN_PROXY_SPLICED: SessionFlags = SessionFlags(1 << 4);
    /// Metered against its session ID's bitrate limits (`pipeline::rate_limit`).
    pub const BITRATE: SessionFlags = SessionFlags(1 << 5);
    /// Its server gets a PROXY protocol v2 header; sequence numbers are
    /// shifted by it (`pipeline::proxy_protocol`).
    pub const PROXY_V2: SessionFlags = SessionFlags(1 << 6);
    /// PROXY protocol: the server has acknowledged the whole header.
    pub const PROXY_V2_ACKED: SessionFlags = SessionFlags(1 << 7);
    /// Its subscriber has a usage quota: its totals are reported to the
    /// control plane's ledger (`Event::Usage`) while it lives and when it ends.
    pub const QUOTA: SessionFlags = SessionFlags(1 << 8);
    /// Its subscriber's quota ran out (`Block`): the next segments are
    /// answered by resets and it is removed (`pipeline::quota_end`).
    pub const QUOTA_ENDED: SessionFlags = SessionFlags(1 << 9);
    /// NAT64 (`pipeline::nat64`): an IPv6 terminal's user session toward
    /// an IPv4 server; its IPv6 addresses are in the NAT64 side array.
    pub const NAT64: SessionFlags = SessionFlags(1 << 10);
    /// With `NAT64` (an IPv6 terminal): the server is IPv6 too, IPv6 →
    /// IPv6 full NAT (`pipeline::nat66`); the server's address is in the
    /// NAT64 side array and the gateway address is an IPv6 one.
    pub const NAT66: SessionFlags = SessionFlags(1 << 11);
    /// Either SYN proxy flag.
    pub const SYN_PROXY: u16 = (1 << 3) | (1 << 4);

    #[inline]
    pub fn contains(self, other: SessionFlags) -> bool {
        self.0 & other.0 == other.0
    }

    #[inline]
    pub fn insert(&mut self, other: SessionFlags) {
        self.0 |= other.0;
    }

    #[inline]
    pub fn remove(&mut self, other: SessionFlags) {
        self.0 &= !other.0;
    }
}

/// One user session (128 bytes: two cache lines). Aligned to a line so
/// that each slot of the table is exactly two lines: at the allocator's
/// 16-byte alignment most slots straddled three, and a packet touched
/// three lines of session state instead of two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(align(64))]
pub struct UserSession {
    /// Terminal side, as received.
    pub client_ip: Ipv4Addr,
    pub client_port: u16,
    /// Destination the terminal addressed: a VIP or an external host.
    pub orig_dst_ip: Ipv4Addr,
    pub orig_dst_port: u16,
    pub proto: u8,
    /// Gateway address index and port: the user-session ID.
    pub gw_addr: u8,
    pub gw_port: u16,
    /// The server chosen for this session.
    pub server_ip: Ipv4Addr,
    pub server_port: u16,
    pub server_index: u32,
    /// Server group (service) the server was chosen from.
    pub group_index: u32,
    /// User-session type (index into the policy's type list).
    pub session_type: u8,
    pub flags: SessionFlags,
    pub state: FlowState,
    /// The mobile session (tier-1 session ID) this flow belongs to.
    pub session_id: u64,
    pub client_path: ClientPath,
    /// TCP sequence tracking, or the UDP/ICMP path timing: what it takes
    /// to move `client_path`.
    pub guard: PathGuard,
    /// When the last accounting record (start or interim) was written.
    pub last_report_ms: u64,
    pub created_ms: u64,
    pub last_seen_ms: u64,
    pub to_server: Traffic,
    pub to_client: Traffic,
}

impl UserSession {
    /// A fresh session for the first packet of `key`, holding gateway port
    /// (`gw_addr`, `gw_port`). Server, group, type, session ID and tunnel
    /// are zero until the caller fills them in.
    pub fn new(key: &FlowKey, gw_addr: u8, gw_port: u16, now_ms: u64) -> UserSession {
        UserSession {
            client_ip: key.client_ip,
            client_port: key.client_port,
            orig_dst_ip: key.dst_ip,
            orig_dst_port: key.dst_port,
            proto: key.proto,
            gw_addr,
            gw_port,
            server_ip: Ipv4Addr::UNSPECIFIED,
            server_port: 0,
            server_index: 0,
            group_index: 0,
            session_type: 0,
            flags: SessionFlags::default(),
            state: FlowState::initial(key.proto),
            session_id: 0,
            client_path: ClientPath::NONE,
            guard: PathGuard::new(),
            last_report_ms: now_ms,
            created_ms: now_ms,
            last_seen_ms: now_ms,
            to_server: Traffic::default(),
            to_client: Traffic::default(),
        }
    }

    /// The client-side flow key this session was created for.
    #[inline]
    pub fn client_key(&self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            client_ip: self.client_ip,
            client_port: self.client_port,
            dst_ip: self.orig_dst_ip,
            dst_port: self.orig_dst_port,
        }
    }

    /// Records one packet: counters, last-seen time and protocol state.
    /// This is all a packet does to the session; the timer wheel notices
    /// the new `last_seen_ms` when the old deadline comes round.
    #[inline]
    pub fn on_packet(&mut self, dir: Direction, bytes: u32, flags: TcpFlags, now_ms: u64) {
        self.count(dir, bytes);
        self.state = self.state.next(dir, flags);
        self.last_seen_ms = self.last_seen_ms.max(now_ms);
    }

    /// Counts one packet of `bytes` travelling `dir`, and nothing else (an
    /// out-of-window TCP segment that is still forwarded).
    #[inline]
    pub fn count(&mut self, dir: Direction, bytes: u32) {
        let traffic = match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        };
        traffic.packets += 1;
        traffic.bytes += u64::from(bytes);
    }

    /// When this session expires if no further packet comes.
    #[inline]
    pub fn deadline_ms(&self, timeouts: &Timeouts) -> u64 {
        self.last_seen_ms
            .saturating_add(timeouts.timeout_ms(self.state))
    }

    /// Whether a reply's source is the server recorded for this session.
    #[inline]
    pub fn is_from_server(&self, src_ip: Ipv4Addr, src_port: u16) -> bool {
        self.server_ip == src_ip && self.server_port == src_port
    }
}

/// Why an insert was refused. The table is unchanged after any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// `entry.gw_addr` is not below the table's address count.
    BadGatewayAddr,
    /// The flow key is already in the table.
    DuplicateKey,
    /// Another session already holds (`gw_addr`, `gw_port`).
    ReplySlotTaken,
    /// Every slot is in use, or the flow index has no room near the key's
    /// bucket.
    TableFull,
    /// `key` is not the entry's own client-side key.
    KeyMismatch,
}

/// Slab index meaning "none".
const NIL: u32 = u32::MAX;
/// Ports per gateway address in the reply index.
const PORTS_PER_ADDR: usize = 1 << 16;

#[derive(Clone, Debug)]
enum Slot {
    Free {
        next_free: u32,
    },
    /// The client-side key is not stored again: it is `entry.client_key()`.
    Live {
        entry: UserSession,
    },
}

/// The user sessions of one core.
#[derive(Debug)]
pub struct UserSessionTable {
    slots: Vec<Slot>,
    free_head: u32,
    len: u32,
    by_client: FlowIndex,
    /// `gw_addr * 65536 + gw_port` -> slab index, `NIL` when empty.
    by_reply: Vec<u32>,
    n_addrs: u8,
}

impl UserSessionTable {
    /// Room for `capacity` sessions (at most `u32::MAX - 1`) over gateway
    /// addresses `0..n_addrs`. Everything is allocated here.
    pub fn with_capacity(capacity: u32, n_addrs: u8) -> UserSessionTable {
        let capacity = capacity.min(NIL - 1);
        let slots = (0..capacity)
            .map(|i| Slot::Free {
                next_free: if i + 1 == capacity { NIL } else { i + 1 },
            })
            .collect();
        UserSessionTable {
            slots,
            free_head: if capacity == 0 { NIL } else { 0 },
            len: 0,
            by_client: FlowIndex::with_capacity(capacity as usize),
            by_reply: vec![NIL; usize::from(n_addrs) * PORTS_PER_ADDR],
            n_addrs,
        }
    }

    #[inline]
    fn reply_pos(&self, gw_addr: u8, gw_port: u16) -> Option<usize> {
        (gw_addr < self.n_addrs)
            .then(|| usize::from(gw_addr) * PORTS_PER_ADDR + usize::from(gw_port))
    }

    /// Adds a session under `key` and under its (`gw_addr`, `gw_port`).
    /// Returns its slab index.
    #[inline]
    pub fn insert(&mut self, key: FlowKey, entry: UserSession) -> Result<u32, InsertError> {
        if entry.client_key() != key {
            return Err(InsertError::KeyMismatch);
        }
        let reply_pos = self
            .reply_pos(entry.gw_addr, entry.gw_port)
            .ok_or(InsertError::BadGatewayAddr)?;
        let hash = self.by_client.hash(&key);
        if self.find_client_hashed(hash, &key).is_some() {
            return Err(InsertError::DuplicateKey);
        }
        if self.by_reply[reply_pos] != NIL {
            return Err(InsertError::ReplySlotTaken);
        }
        let idx = self.free_head;
        let Some(Slot::Free { next_free }) = self.slots.get(idx as usize).cloned() else {
            return Err(InsertError::TableFull);
        };
        if self.by_client.insert(hash, idx).is_err() {
            return Err(InsertError::TableFull);
        }
        self.slots[idx as usize] = Slot::Live { entry };
        self.free_head = next_free;
        self.by_reply[reply_pos] = idx;
        self.len += 1;
        Ok(idx)
    }

    /// The session of a packet from the terminal.
    #[inline]
    pub fn find_client(&self, key: &FlowKey) -> Option<u32> {
        self.find_client_hashed(self.by_client.hash(key), key)
    }

    /// The index hash of a terminal's flow key.
    #[inline]
    pub fn client_hash(&self, key: &FlowKey) -> KeyHash {
        self.by_client.hash(key)
    }

    /// [`find_client`](Self::find_client) with the hash already computed.
    #[inline]
    pub fn find_client_hashed(&self, hash: KeyHash, key: &FlowKey) -> Option<u32> {
        self.by_client.find(hash, |idx| {
            matches!(self.slots.get(idx as usize), Some(Slot::Live { entry }) if entry.client_key() == *key)
        })
    }

    /// [`find_client_hashed`](Self::find_client_hashed) that first tries
    /// `candidate`, the slot the home bucket named when the prefetch pass
    /// looked ([`client_candidate`](Self::client_candidate)): a live slot
    /// holding `key` is the only one (keys are unique), so the bucket is
    /// not scanned again; a stale candidate (the slot freed or reused since)
    /// fails the check and the index is searched.
    #[inline(always)]
    pub fn find_client_hinted(
        &self,
        hash: KeyHash,
        candidate: Option<u32>,
        key: &FlowKey,
    ) -> Option<u32> {
        if let Some(idx) = candidate {
            if matches!(self.slots.get(idx as usize), Some(Slot::Live { entry }) if entry.client_key() == *key)
            {
                return Some(idx);
            }
        }
        self.find_client_hashed(hash, key)
    }

    /// The index bucket a key with this hash is looked up in first (to
    /// prefetch).
    #[inline]
    pub fn client_bucket(&self, hash: KeyHash) -> &Bucket {
        self.by_client.bucket_of(hash)
    }

    /// The slab slot the home bucket names first for this hash, without
    /// confirming the key (to prefetch; it may be another key's slot).
    #[inline]
    pub fn client_candidate(&self, hash: KeyHash) -> Option<u32> {
        self.by_client.first_candidate(hash)
    }

    /// The reply-index cell of a gateway port (to prefetch).
    #[inline]
    pub fn reply_cell(&self, gw_addr: u8, gw_port: u16) -> Option<&u32> {
        self.by_reply.get(self.reply_pos(gw_addr, gw_port)?)
    }

    /// Prefetches what `remove(idx)` will touch besides the slot itself:
    /// the flow-index bucket and the reply-index cell (the slot is read
    /// here, so it should be cached already).
    #[inline]
    pub fn prefetch_remove<P: crate::prefetch::Prefetch>(&self, idx: u32, hint: &P) {
        if let Some(Slot::Live { entry }) = self.slots.get(idx as usize) {
            hint.read(
                self.by_client
                    .bucket_of(self.by_client.hash(&entry.client_key())),
            );
            if let Some(cell) = self.reply_cell(entry.gw_addr, entry.gw_port) {
                hint.read(cell);
            }
        }
    }

    /// Slab slot `idx`, free or live, as something to prefetch.
    #[inline]
    pub fn slot_memory(&self, idx: u32) -> Option<&impl Sized> {
        self.slots.get(idx as usize)
    }

    /// The session holding gateway port (`gw_addr`, `gw_port`).
    #[inline]
    pub fn find_reply(&self, gw_addr: u8, gw_port: u16) -> Option<u32> {
        let idx = *self.by_reply.get(self.reply_pos(gw_addr, gw_port)?)?;
        (idx != NIL).then_some(idx)
    }

    /// The session in slot `idx`; `None` when that slot is free.
    #[inline]
    pub fn get(&self, idx: u32) -> Option<&UserSession> {
        match self.slots.get(idx as usize)? {
            Slot::Live { entry, .. } => Some(entry),
            Slot::Free { .. } => None,
        }
    }

    /// Mutable access for counters and state. Changing `gw_addr`/`gw_port`
    /// or the flow fields here does not re-key the session; `remove` still
    /// removes the keys it was inserted under.
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut UserSession> {
        match self.slots.get_mut(idx as usize)? {
            Slot::Live { entry, .. } => Some(entry),
            Slot::Free { .. } => None,
        }
    }

    /// The flow key slot `idx` was inserted under.
    #[inline]
    pub fn key(&self, idx: u32) -> Option<FlowKey> {
        match self.slots.get(idx as usize)? {
            Slot::Live { entry } => Some(entry.client_key()),
            Slot::Free { .. } => None,
        }
    }

    /// Removes the session in slot `idx` and both its keys; `None` (and no
    /// change) when the slot is free.
    #[inline]
    pub fn remove(&mut self, idx: u32) -> Option<UserSession> {
        let slot = self.slots.get_mut(idx as usize)?;
        if matches!(slot, Slot::Free { .. }) {
            return None;
        }
        let old = std::mem::replace(
            slot,
            Slot::Free {
                next_free: self.free_head,
            },
        );
        let Slot::Live { entry } = old else {
            return None;
        };
        self.free_head = idx;
        self.len -= 1;
        let hash = self.by_client.hash(&entry.client_key());
        self.by_client.remove(hash, idx);
        if let Some(pos) = self.reply_pos(entry.gw_addr, entry.gw_port) {
            if self.by_reply[pos] == idx {
                self.by_reply[pos] = NIL;
            }
        }
        Some(entry)
    }

    /// Live sessions.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most sessions the table can hold.
    pub fn capacity(&self) -> u32 {
        self.slots.len() as u32
    }

    pub fn n_addrs(&self) -> u8 {
        self.n_addrs
    }

    /// Every live session with its slab index (control plane; walks the
    /// whole slab).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &UserSession)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| match slot {
                Slot::Live { entry, .. } => Some((i as u32, entry)),
                Slot::Free { .. } => None,
            })
    }

    /// Bytes [`with_capacity`](Self::with_capacity) allocates for
    /// `capacity` sessions over `n_addrs` gateway addresses (slab, flow
    /// index, reply index), without allocating: config checks compare it
    /// with the machine's memory before anything starts.
    pub fn preallocated_bytes(capacity: u32, n_addrs: u8) -> u64 {
        let capacity = capacity.min(NIL - 1);
        u64::from(capacity) * std::mem::size_of::<Slot>() as u64
            + FlowIndex::preallocated_bytes(capacity as usize)
            + u64::from(n_addrs) * PORTS_PER_ADDR as u64 * std::mem::size_of::<u32>() as u64
    }

    /// Bytes of the flow index (fixed at construction).
    pub fn index_bytes(&self) -> usize {
        self.by_client.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier2::flow_state::{TcpState, PROTO_TCP, PROTO_UDP};

    fn key(port: u16) -> FlowKey {
        FlowKey {
            proto: PROTO_TCP,
            client_ip: Ipv4Addr::new(10, 0, 0, 1),
            client_port: port,
            dst_ip: Ipv4Addr::new(192, 0, 2, 1),
            dst_port: 80,
        }
    }

    #[test]
    fn entry_and_key_are_compact() {
        let size = std::mem::size_of::<UserSession>();
        println!("size_of::<UserSession>() = {size}");
        assert!(size <= 128, "UserSession is {size} bytes");
        // 120 bytes before TCP sequence tracking; the 12-byte guard fills
        // the second cache line exactly.
        assert_eq!(
            size, 128,
            "size changed: update BENCHMARKS.md memory figures"
        );
        assert!(std::mem::size_of::<FlowKey>() <= 14);
    }

    #[test]
    fn preallocated_bytes_counts_the_slab_and_both_indexes() {
        let t = UserSessionTable::with_capacity(1000, 2);
        let expected = t.slots.capacity() * std::mem::size_of::<Slot>()
            + t.index_bytes()
            + t.by_reply.len() * 4;
        assert_eq!(
            UserSessionTable::preallocated_bytes(1000, 2),
            expected as u64
        );
        // Without allocating: a table no machine could hold.
        assert!(UserSessionTable::preallocated_bytes(u32::MAX, 1) > 500 << 30);
    }

    #[test]
    fn insert_find_remove_both_sides() {
        let mut t = UserSessionTable::with_capacity(4, 2);
        let k = key(1000);
        let e = UserSession::new(&k, 1, 5000, 7);
        assert_eq!(e.client_key(), k);
        let idx = t.insert(k, e).unwrap();
        assert_eq!(t.find_client(&k), Some(idx));
        assert_eq!(t.find_reply(1, 5000), Some(idx));
        assert_eq!(t.find_reply(0, 5000), None);
        assert_eq!(t.find_reply(9, 5000), None);
        assert_eq!(t.get(idx).unwrap().created_ms, 7);
        assert_eq!(t.key(idx), Some(k));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(idx), Some(e));
        assert_eq!(t.remove(idx), None);
        assert_eq!(t.find_client(&k), None);
        assert_eq!(t.find_reply(1, 5000), None);
        assert!(t.get(idx).is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn refusals_leave_the_table_unchanged() {
        let mut t = UserSessionTable::with_capacity(2, 1);
        let a = t
            .insert(key(1), UserSession::new(&key(1), 0, 10, 0))
            .unwrap();
        assert_eq!(
            t.insert(key(1), UserSession::new(&key(1), 0, 11, 0)),
            Err(InsertError::DuplicateKey)
        );
        assert_eq!(
            t.insert(key(2), UserSession::new(&key(2), 0, 10, 0)),
            Err(InsertError::ReplySlotTaken)
        );
        assert_eq!(
            t.insert(key(2), UserSession::new(&key(2), 1, 10, 0)),
            Err(InsertError::BadGatewayAddr)
        );
        assert_eq!(t.find_client(&key(2)), None);
        t.insert(key(2), UserSession::new(&key(2), 0, 11, 0))
            .unwrap();
        assert_eq!(
            t.insert(key(3), UserSession::new(&key(3), 0, 12, 0)),
            Err(InsertError::TableFull)
        );
        assert_eq!(t.find_client(&key(3)), None);
        assert_eq!(t.find_reply(0, 12), None);
        assert_eq!(t.find_client(&key(1)), Some(a));
        assert_eq!(t.len(), 2);
        // A freed slot is reused.
        t.remove(a).unwrap();
        assert_eq!(t.insert(key(3), UserSession::new(&key(3), 0, 12, 0)), Ok(a));
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let mut t = UserSessionTable::with_capacity(0, 1);
        assert_eq!(
            t.insert(key(1), UserSession::new(&key(1), 0, 10, 0)),
            Err(InsertError::TableFull)
        );
        assert_eq!(t.remove(0), None);
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn iter_lists_live_sessions() {
        let mut t = UserSessionTable::with_capacity(8, 1);
        let idx: Vec<u32> = (0..5)
            .map(|i| {
                t.insert(key(i), UserSession::new(&key(i), 0, 100 + i, 0))
                    .unwrap()
            })
            .collect();
        t.remove(idx[1]).unwrap();
        t.remove(idx[3]).unwrap();
        let mut ports: Vec<u16> = t.iter().map(|(_, e)| e.gw_port).collect();
        ports.sort_unstable();
        assert_eq!(ports, vec![100, 102, 104]);
        for (i, e) in t.iter() {
            assert_eq!(t.get(i), Some(e));
        }
    }

    #[test]
    fn on_packet_counts_and_moves_state() {
        let k = key(1);
        let mut e = UserSession::new(&k, 0, 10, 100);
        let t = Timeouts::default();
        assert_eq!(e.deadline_ms(&t), 100 + t.tcp_syn_ms);
        let syn_ack = TcpFlags::from_header_byte(0x12);
        let ack = TcpFlags::from_header_byte(0x10);
        e.on_packet(Direction::ToClient, 60, syn_ack, 150);
        e.on_packet(Direction::ToServer, 40, ack, 170);
        e.on_packet(Direction::ToServer, 1500, ack, 160); // late stamp never rewinds
        assert_eq!(e.state, FlowState::Tcp(TcpState::Established));
        assert_eq!(
            e.to_server,
            Traffic {
                packets: 2,
                bytes: 1540
            }
        );
        assert_eq!(
            e.to_client,
            Traffic {
                packets: 1,
                bytes: 60
            }
        );
        assert_eq!(e.last_seen_ms, 170);
        assert_eq!(e.deadline_ms(&t), 170 + t.tcp_established_ms);
    }

    #[test]
    fn reply_source_and_flags() {
        let k = FlowKey {
            proto: PROTO_UDP,
            ..key(1)
        };
        let mut e = UserSession::new(&k, 0, 10, 0);
        e.server_ip = Ipv4Addr::new(10, 9, 9, 9);
        e.server_port = 53;
        assert!(e.is_from_server(Ipv4Addr::new(10, 9, 9, 9), 53));
        assert!(!e.is_from_server(Ipv4Addr::new(10, 9, 9, 9), 54));
        assert!(!e.is_from_server(Ipv4Addr::new(10, 9, 9, 8), 53));
        assert!(e.client_path.tunnel.is_none());
        e.flags.insert(SessionFlags::ACCOUNTED);
        assert!(e.flags.contains(SessionFlags::ACCOUNTED));
        assert!(!e.flags.contains(SessionFlags::STICKY));
        e.flags.remove(SessionFlags::ACCOUNTED);
        assert_eq!(e.flags, SessionFlags::default());
    }
}
