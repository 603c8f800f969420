//! Ethernet ports (ethdev): finding, configuring, starting and polling them,
//! and reading their link state and counters.
//!
//! A (port, queue) pair must be polled by one thread at a time: DPDK does no
//! locking on its queues. So bursts are not methods of the `Copy` port id:
//! [`PortId::configure`] hands out exactly one [`RxQueue`] / [`TxQueue`]
//! per queue it sets up, neither `Clone` nor `Copy`, and their burst
//! methods take `&mut self`. Safe code can move a queue to a worker thread
//! but cannot poll it from two threads (the same idea as the ring halves
//! in `ring.rs`). Configuring or closing the port again retires every handle
//! made before: their bursts then do nothing.
//!
//! Moving a queue to the thread that polls it compiles:
//!
//! ```no_run
//! # fn one_poller(mut queue: dpdk_ffi::RxQueue) {
//! std::thread::spawn(move || queue.rx_burst(&mut dpdk_ffi::Burst::new()));
//! # }
//! ```
//!
//! Keeping a second handle, or polling one from two threads, does not:
//!
//! ```compile_fail
//! # fn two_pollers(mut queue: dpdk_ffi::RxQueue) {
//! let mut other = queue.clone(); // RxQueue is not Clone
//! # }
//! ```
//!
//! ```compile_fail
//! # fn two_pollers(mut queue: dpdk_ffi::TxQueue, mut burst: dpdk_ffi::Burst) {
//! std::thread::scope(|s| {
//!     // Two threads may not borrow one queue mutably at once.
//!     s.spawn(|| queue.tx_burst(&mut dpdk_ffi::Burst::new()));
//!     s.spawn(|| queue.tx_burst(&mut burst));
//! });
//! # }
//! ```

use std::collections::BTreeMap;
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::burst::Burst;
use crate::error::{self, Error, Result};
use crate::mempool::Mempool;
use crate::sys;

const MAX_PORTS: usize = sys::RTE_MAX_ETHPORTS as usize;

#[allow(clippy::declare_interior_mutable_const)] // only used to fill the array below
const NO_QUEUES: AtomicU32 = AtomicU32::new(0);

/// Which set of queue handles is live on each port: bumped by
/// [`PortId::configure`] (before it replaces the queues) and by
/// [`PortId::close`]. A handle carries the generation it was made in and
/// bursts only while that is still the port's, because DPDK does not check
/// queue numbers and would read past its queue table. Generation 0 is never
/// handed out.
static QUEUE_GENERATION: [AtomicU32; MAX_PORTS] = [NO_QUEUES; MAX_PORTS];

/// The mempool each configured port receives into, kept alive until the
/// port is closed.
static PORT_POOLS: Mutex<BTreeMap<u16, Mempool>> = Mutex::new(BTreeMap::new());

fn port_pools() -> MutexGuard<'static, BTreeMap<u16, Mempool>> {
    // Nothing panics while the lock is held; poisoned data is intact.
    PORT_POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An ethdev port that existed when the id was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(u16);

/// Which queue of which port: a name only, it cannot burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId {
    pub port: PortId,
    pub queue: u16,
}

/// The one handle that may receive from a queue of a port (see the module
/// docs): not `Clone`, bursts take `&mut self`.
#[derive(Debug, PartialEq, Eq)]
pub struct RxQueue {
    id: QueueId,
    generation: u32,
}

/// The one handle that may transmit on a queue of a port.
#[derive(Debug, PartialEq, Eq)]
pub struct TxQueue {
    id: QueueId,
    generation: u32,
}

/// The queues [`PortId::configure`] set up, in queue-number order.
#[derive(Debug)]
pub struct PortQueues {
    pub rx: Vec<RxQueue>,
    pub tx: Vec<TxQueue>,
}

/// Link state of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStatus {
    pub up: bool,
    pub speed_mbps: u32,
}

/// The basic counters of a port (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

impl PortId {
    /// The port with this device name (e.g. `net_ring0`, `0000:3b:00.0`).
    pub fn by_name(name: &str) -> Result<PortId> {
        let c_name = CString::new(name).map_err(|_| Error::NoSuchPort(name.to_string()))?;
        let mut id = 0_u16;
        // SAFETY: c_name is NUL-terminated and id is a valid out-pointer;
        // before the EAL runs the device list is empty and this fails.
        let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(Error::NoSuchPort(name.to_string()));
        }
        Ok(PortId(id))
    }

    /// The port with this number, if it exists.
    pub fn from_index(id: u16) -> Option<PortId> {
        // SAFETY: validity check on a plain number; no other precondition.
        let valid = unsafe { sys::rte_eth_dev_is_valid_port(id) } != 0;
        valid.then_some(PortId(id))
    }

    /// Every port that exists, in number order.
    pub fn all() -> Vec<PortId> {
        (0..MAX_PORTS)
            .filter_map(|id| u16::try_from(id).ok())
            .filter_map(PortId::from_index)
            .collect()
    }

    /// How many ports are usable by the application.
    pub fn count_avail() -> u16 {
        // SAFETY: reads the device table; no arguments.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The port number.
    #[inline]
    pub fn index(self) -> u16 {
        self.0
    }

    fn error(self, op: &'static str, rc: i32) -> Error {
        let (errno, msg) = error::from_negative(rc);
        Error::Port {
            port: self.0,
            op,
            errno,
            msg,
        }
    }

    fn check(self, op: &'static str, rc: i32) -> Result<()> {
        if rc < 0 {
            Err(self.error(op, rc))
        } else {
            Ok(())
        }
    }

    fn queue_table_slot(self) -> usize {
        usize::from(self.0)
    }

    /// Retires every queue handle of this port; the new generation.
    fn retire_queues(self) -> u32 {
        QUEUE_GENERATION
            .get(self.queue_table_slot())
            .map_or(0, |generation| {
                generation.fetch_add(1, Ordering::AcqRel).wrapping_add(1)
            })
    }

    /// Whether handles of `generation` may still burst on this port.
    #[inline]
    fn queues_live(self, generation: u32) -> bool {
        generation != 0
            && QUEUE_GENERATION
                .get(self.queue_table_slot())
                .is_some_and(|current| current.load(Ordering::Acquire) == generation)
    }

    /// A configuration that spreads received IPv4 flows over `rx_queues`
    /// queues by RSS (hash of addresses and ports), when there are several
    /// queues and the device can hash them; None otherwise.
    fn rss_conf(&self, rx_queues: u16) -> Option<sys::rte_eth_conf> {
        // RTE_ETH_RSS_IPV4 | FRAG_IPV4 | NONFRAG_IPV4_TCP | NONFRAG_IPV4_UDP
        // | NONFRAG_IPV4_OTHER (function-like macros in rte_ethdev.h).
        const WANTED: u64 = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7);
        if rx_queues < 2 {
            return None;
        }
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid, writable rte_eth_dev_info for the call.
        let rc = unsafe { sys::rte_eth_dev_info_get(self.0, &mut info) };
        let hf = WANTED & info.flow_type_rss_offloads;
        if rc != 0 || hf == 0 {
            return None;
        }
        let mut conf = sys::rte_eth_conf::default();
        conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
        Some(conf)
    }

    /// Configures the port with DPDK's default settings (plus RSS over the
    /// receive queues when there are several and the device supports it) and sets up
    /// `rx_queues` receive queues (filled from `pool`) and `tx_queues`
    /// transmit queues, `rx_desc` / `tx_desc` descriptors each (adjusted to
    /// what the device allows). The port must be stopped. Returns the only
    /// handles of the new queues; handles from an earlier configure stop
    /// working.
    pub fn configure(
        &self,
        rx_queues: u16,
        tx_queues: u16,
        rx_desc: u16,
        tx_desc: u16,
        pool: &Mempool,
    ) -> Result<PortQueues> {
        let plain = sys::rte_eth_conf::default();
        let mut rc = -1;
        if let Some(rss) = self.rss_conf(rx_queues) {
            // SAFETY: rss is a valid configuration that outlives the call.
            rc = unsafe { sys::rte_eth_dev_configure(self.0, rx_queues, tx_queues, &rss) };
        }
        if rc != 0 {
            // Without RSS (one queue, a device without it, or one that
            // refused it): DPDK's defaults.
            // SAFETY: plain is a zeroed (default) configuration that
            // outlives the call; DPDK validates the port and queue counts
            // and refuses a started port.
            rc = unsafe { sys::rte_eth_dev_configure(self.0, rx_queues, tx_queues, &plain) };
        }
        // The queues are being replaced: the old handles must not burst on
        // them any more (configure fails on a started port, so none can be
        // polling right now unless the caller ignored that error).
        let mut generation = self.retire_queues();
        if generation == 0 {
            // Wrapped: 0 means "never handed out".
            generation = self.retire_queues();
        }
        self.check("rte_eth_dev_configure", rc)?;
        let (mut rx_desc, mut tx_desc) = (rx_desc, tx_desc);
        // SAFETY: both pointers are valid u16 locations for the call.
        let rc =
            unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.0, &mut rx_desc, &mut tx_desc) };
        self.check("rte_eth_dev_adjust_nb_rx_tx_desc", rc)?;
        // SAFETY: plain query on a port number.
        let socket = unsafe { sys::rte_eth_dev_socket_id(self.0) };
        // DPDK takes the socket unsigned here; SOCKET_ID_ANY (-1) wraps to
        // the value it expects.
        let socket = socket as u32;
        // The pool must outlive the queues: keep a clone until close().
        port_pools().insert(self.0, pool.clone());
        for queue in 0..rx_queues {
            // SAFETY: the port is configured with rx_queues queues; a null
            // rxconf means the device defaults; the pool is kept alive in
            // PORT_POOLS for as long as the queue can use it.
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(
                    self.0,
                    queue,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            self.check("rte_eth_rx_queue_setup", rc)?;
        }
        for queue in 0..tx_queues {
            // SAFETY: the port is configured with tx_queues queues; a null
            // txconf means the device defaults.
            let rc = unsafe {
                sys::rte_eth_tx_queue_setup(self.0, queue, tx_desc, socket, std::ptr::null())
            };
            self.check("rte_eth_tx_queue_setup", rc)?;
        }
        let port = *self;
        Ok(PortQueues {
            rx: (0..rx_queues)
                .map(|queue| RxQueue {
                    id: QueueId { port, queue },
                    generation,
                })
                .collect(),
            tx: (0..tx_queues)
                .map(|queue| TxQueue {
                    id: QueueId { port, queue },
                    generation,
                })
                .collect(),
        })
    }

    /// Sets the port's MTU (the largest IP packet it sends and receives,
    /// Ethernet header not counted); fails where the device cannot take it
    /// or does not support setting it.
    pub fn set_mtu(&self, mtu: u16) -> Result<()> {
        // SAFETY: DPDK validates the port and the value.
        let rc = unsafe { sys::rte_eth_dev_set_mtu(self.0, mtu) };
        self.check("rte_eth_dev_set_mtu", rc)
    }

    /// The port's MTU now.
    pub fn mtu(&self) -> Result<u16> {
        let mut mtu = 0u16;
        // SAFETY: mtu is a valid, writable u16 for the call.
        let rc = unsafe { sys::rte_eth_dev_get_mtu(self.0, &mut mtu) };
        self.check("rte_eth_dev_get_mtu", rc)?;
        Ok(mtu)
    }

    /// Starts the port.
    pub fn start(&self) -> Result<()> {
        // SAFETY: DPDK validates the port and its configuration.
        let rc = unsafe { sys::rte_eth_dev_start(self.0) };
        self.check("rte_eth_dev_start", rc)
    }

    /// Stops the port (bursts then do nothing until it is started again).
    pub fn stop(&self) -> Result<()> {
        // SAFETY: DPDK validates the port; a stopped port's burst functions
        // are replaced by no-ops.
        let rc = unsafe { sys::rte_eth_dev_stop(self.0) };
        self.check("rte_eth_dev_stop", rc)
    }

    /// Closes the port (it must be stopped): frees its queues and releases
    /// the mempool it received into. The port id is dead afterwards.
    pub fn close(&self) -> Result<()> {
        self.retire_queues();
        // SAFETY: DPDK validates the port; no burst can reach its queues
        // through this crate any more (every handle is retired).
        let rc = unsafe { sys::rte_eth_dev_close(self.0) };
        self.check("rte_eth_dev_close", rc)?;
        port_pools().remove(&self.0);
        Ok(())
    }

    /// Accept all frames, whatever their destination MAC.
    pub fn promiscuous_enable(&self) -> Result<()> {
        // SAFETY: DPDK validates the port.
        let rc = unsafe { sys::rte_eth_promiscuous_enable(self.0) };
        self.check("rte_eth_promiscuous_enable", rc)
    }

    /// The port's MAC address.
    pub fn mac_addr(&self) -> Result<[u8; 6]> {
        let mut addr = sys::rte_ether_addr::default();
        // SAFETY: addr is a valid out-pointer; DPDK validates the port.
        let rc = unsafe { sys::rte_eth_macaddr_get(self.0, &mut addr) };
        self.check("rte_eth_macaddr_get", rc)?;
        Ok(addr.addr_bytes)
    }

    /// The link state, without waiting for auto-negotiation.
    pub fn link(&self) -> Result<LinkStatus> {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: link is a valid out-pointer; DPDK validates the port.
        let rc = unsafe { sys::rte_eth_link_get_nowait(self.0, &mut link) };
        self.check("rte_eth_link_get_nowait", rc)?;
        Ok(LinkStatus {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
        })
    }

    /// The basic counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut stats = sys::rte_eth_stats::default();
        // SAFETY: stats is a valid out-pointer; DPDK validates the port.
        let rc = unsafe { sys::rte_eth_stats_get(self.0, &mut stats) };
        self.check("rte_eth_stats_get", rc)?;
        Ok(PortStats {
            ipackets: stats.ipackets,
            opackets: stats.opackets,
            ibytes: stats.ibytes,
            obytes: stats.obytes,
            imissed: stats.imissed,
            ierrors: stats.ierrors,
            oerrors: stats.oerrors,
            rx_nombuf: stats.rx_nombuf,
        })
    }

    /// The device's extended counters, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        // SAFETY: a null table with size 0 asks for the number of names.
        let rc = unsafe { sys::rte_eth_xstats_get_names(self.0, std::ptr::null_mut(), 0) };
        self.check("rte_eth_xstats_get_names", rc)?;
        let count = usize::try_from(rc).unwrap_or(0);
        let capacity = u32::try_from(count).unwrap_or(u32::MAX);
        let mut names = vec![sys::rte_eth_xstat_name::default(); count];
        // SAFETY: names has room for `capacity` entries.
        let rc = unsafe { sys::rte_eth_xstats_get_names(self.0, names.as_mut_ptr(), capacity) };
        self.check("rte_eth_xstats_get_names", rc)?;
        let mut values = vec![sys::rte_eth_xstat::default(); count];
        // SAFETY: values has room for `capacity` entries.
        let rc = unsafe { sys::rte_eth_xstats_get(self.0, values.as_mut_ptr(), capacity) };
        self.check("rte_eth_xstats_get", rc)?;
        // A count above capacity means the set grew in between; take what
        // fits.
        values.truncate(usize::try_from(rc).unwrap_or(0).min(count));
        let named = values
            .iter()
            .filter_map(|value| {
                let name = names.get(usize::try_from(value.id).ok()?)?;
                Some((c_chars_to_string(&name.name), value.value))
            })
            .collect();
        Ok(named)
    }

    /// The device name (what [`PortId::by_name`] takes).
    pub fn name(&self) -> Result<String> {
        let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buf has the RTE_ETH_NAME_MAX_LEN bytes DPDK may write.
        let rc = unsafe { sys::rte_eth_dev_get_name_by_port(self.0, buf.as_mut_ptr()) };
        self.check("rte_eth_dev_get_name_by_port", rc)?;
        Ok(c_chars_to_string(&buf))
    }
}

impl RxQueue {
    /// Which queue this is.
    pub fn id(&self) -> QueueId {
        self.id
    }

    /// Receives into the free part of `burst`; the number of mbufs added.
    /// 0 once the port has been configured again or closed.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut Burst) -> usize {
        let room = burst.free_space();
        let QueueId { port, queue } = self.id;
        if room == 0 || !port.queues_live(self.generation) {
            return 0;
        }
        let room = u16::try_from(room).unwrap_or(u16::MAX);
        // SAFETY: the queue was set up on this port by the configure that
        // made this handle and is still (the generation matches); the spare
        // part of the burst has room for `room` pointers; this handle is the
        // queue's only one and `&mut self` keeps it to one thread.
        let received = unsafe { sys::tandem_eth_rx_burst(port.0, queue, burst.spare_ptr(), room) };
        let len = burst.len() + usize::from(received.min(room));
        // SAFETY: DPDK wrote `received` owned, non-null mbufs after len.
        unsafe { burst.set_len(len) };
        usize::from(received)
    }
}

impl TxQueue {
    /// Which queue this is.
    pub fn id(&self) -> QueueId {
        self.id
    }

    /// Transmits from the front of `burst`; the number sent. Sent mbufs
    /// leave the burst; unsent ones stay (moved to the front) for the caller
    /// to retry or free and count. 0 once the port has been configured
    /// again or closed.
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        let QueueId { port, queue } = self.id;
        if burst.is_empty() || !port.queues_live(self.generation) {
            return 0;
        }
        let count = u16::try_from(burst.len()).unwrap_or(u16::MAX);
        // SAFETY: the queue is set up and current (generation checked), the
        // burst holds `count` owned mbufs, and this handle is the queue's
        // only one, used through `&mut self` by one thread.
        let sent = unsafe { sys::tandem_eth_tx_burst(port.0, queue, burst.as_raw_ptr(), count) };
        let sent = usize::from(sent.min(count));
        // SAFETY: the driver now owns the first `sent` mbufs.
        unsafe { burst.forget_front(sent) };
        sent
    }
}

/// A NUL-terminated C string in a fixed buffer, as a Rust string.
fn c_chars_to_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_port_exists_before_the_eal_runs() {
        assert_eq!(PortId::count_avail(), 0);
        assert!(PortId::all().is_empty());
        assert_eq!(
            PortId::by_name("net_ring0"),
            Err(Error::NoSuchPort("net_ring0".to_string()))
        );
    }

    #[test]
    fn c_strings_stop_at_the_first_nul() {
        let chars = [b'r' as c_char, b'x' as c_char, 0, b'z' as c_char];
        assert_eq!(c_chars_to_string(&chars), "rx");
        assert_eq!(c_chars_to_string(&[]), "");
    }

    #[test]
    fn retired_handles_do_nothing() {
        // Handles this test makes by hand for a port nobody configured:
        // generation 0 is never live, and a handle of an older generation
        // stops when the port's generation moves.
        let port = PortId(7);
        let mut burst = Burst::new();
        let id = QueueId { port, queue: 0 };
        let mut never = RxQueue { id, generation: 0 };
        assert_eq!(never.rx_burst(&mut burst), 0);
        let generation = port.retire_queues();
        assert!(port.queues_live(generation));
        let mut old = TxQueue { id, generation };
        port.retire_queues();
        assert!(!port.queues_live(generation));
        assert_eq!(old.tx_burst(&mut burst), 0);
        assert!(burst.is_empty());
    }
}
