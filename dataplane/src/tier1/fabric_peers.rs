//! The cluster members a worker exchanges fabric (Geneve) packets with.
//!
//! Anyone on the fabric network can write a Tandem option, so a worker
//! believes a fabric packet only if its outer source is the fabric address
//! of a current member and the option names that member (issue 12). The
//! control plane builds this list from the members it reads from etcd
//! (`cluster::apply_view`) and publishes it inside the steering snapshot,
//! with the generation of the table built from the same view: a worker
//! then never sees a table and a member list from two different views.

use std::net::Ipv4Addr;

/// Up to how many members [`FabricPeers::by_addr`] scans instead of
/// searching.
const SCANNED_MEMBERS: usize = 8;

/// One appliance of the cluster as the fabric knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FabricPeer {
    /// `cluster.appliance_id`.
    pub appliance_id: u32,
    /// Its fabric address (the outer source of what it sends).
    pub addr: Ipv4Addr,
    /// Its `fabric_base_port`: gateway `w` listens on `base_port + w`; a
    /// tier-1 unit receives its downlink on `base_port` (the option's
    /// downlink flag tells the two apart).
    pub base_port: u16,
}

/// The members of the cluster and the table generation, sorted by address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FabricPeers {
    /// The generation of the steering table published with this list (the
    /// highest etcd revision among its inputs); written into every option.
    pub generation: u64,
    by_addr: Vec<FabricPeer>,
}

impl FabricPeers {
    /// The members (order does not matter). Of two entries with one
    /// address the first is kept: an address names one appliance.
    pub fn new(generation: u64, mut members: Vec<FabricPeer>) -> FabricPeers {
        members.sort_by_key(|m| u32::from(m.addr));
        members.dedup_by_key(|m| m.addr);
        FabricPeers {
            generation,
            by_addr: members,
        }
    }

    /// The member whose fabric address is `addr`: looked up for every
    /// fabric packet, so a cluster of a few appliances is scanned (cheaper
    /// than the binary search's branches), a large one searched.
    #[inline]
    pub fn by_addr(&self, addr: Ipv4Addr) -> Option<&FabricPeer> {
        if self.by_addr.len() <= SCANNED_MEMBERS {
            return self.by_addr.iter().find(|m| m.addr == addr);
        }
        let i = self
            .by_addr
            .binary_search_by_key(&u32::from(addr), |m| u32::from(m.addr))
            .ok()?;
        self.by_addr.get(i)
    }

    /// The member with this appliance ID (a few members: a scan).
    #[inline]
    pub fn by_id(&self, appliance_id: u32) -> Option<&FabricPeer> {
        self.by_addr.iter().find(|m| m.appliance_id == appliance_id)
    }

    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FabricPeer> + '_ {
        self.by_addr.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u32, last: u8) -> FabricPeer {
        FabricPeer {
            appliance_id: id,
            addr: Ipv4Addr::new(10, 99, 0, last),
            base_port: 6081,
        }
    }

    #[test]
    fn members_are_found_by_address_and_by_id() {
        let peers = FabricPeers::new(7, vec![peer(3, 30), peer(1, 10), peer(2, 20)]);
        assert_eq!(peers.len(), 3);
        assert_eq!(
            peers
                .by_addr(Ipv4Addr::new(10, 99, 0, 20))
                .map(|p| p.appliance_id),
            Some(2)
        );
        assert_eq!(peers.by_addr(Ipv4Addr::new(10, 99, 0, 21)), None);
        assert_eq!(peers.by_id(3).map(|p| p.addr.octets()[3]), Some(30));
        assert_eq!(peers.by_id(4), None);
        assert_eq!(peers.generation, 7);
    }
}
