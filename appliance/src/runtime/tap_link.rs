//! The link state of a net_tap port whose interface was moved into another
//! network namespace.
//!
//! DPDK's net_tap answers `rte_eth_link_get` with the interface's flags as
//! an `ioctl(SIOCGIFFLAGS)` on a socket of Tandem's own namespace sees them.
//! Once the interface has been moved into another namespace (`ip link set
//! dtap0 netns ns1`, as the end-to-end tests and lab setups do) that ioctl
//! finds no interface of that name, and every such port said `down` while
//! traffic flowed. So when DPDK says down and the interface is not in
//! Tandem's namespace, the state is read where the interface is: in each
//! named namespace (`/run/netns/*`, those `ip netns add` makes) a helper
//! thread enters the namespace (setns) and asks the kernel over rtnetlink
//! (RTM_GETLINK by name); the link is up when the interface is UP and
//! RUNNING there, DPDK's own rule. An interface found nowhere is reported
//! down, with the reason. Only ports whose vdev names its interface
//! (`iface=NAME`) can be looked up.

use rustix::net::{recv, send, socket, AddressFamily, RecvFlags, SendFlags, SocketType};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
use std::os::fd::AsFd;
use std::time::Duration;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
/// Where `ip netns add` mounts named namespaces.
const NAMED_NETNS_DIR: &str = "/run/netns";

/// Where a port's link state came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkSource {
    /// DPDK's answer (the interface is in Tandem's namespace, or the port
    /// is not a net_tap one).
    Dpdk,
    /// Read in this named network namespace.
    Netns(String),
    /// The interface is in no namespace Tandem can look into.
    NotFound,
}

/// The interface a net_tap vdev creates (`iface=NAME`), if it names it.
pub fn tap_interface<'a>(vdevs: &'a [String], device: &str) -> Option<&'a str> {
    vdevs.iter().find_map(|v| {
        let mut parts = v.split(',');
        if parts.next()? != device || !device.starts_with("net_tap") {
            return None;
        }
        parts.find_map(|kv| kv.strip_prefix("iface="))
    })
}

/// The interface's flags in the calling thread's network namespace;
/// `None` if there is no interface of that name there.
fn flags_here(name: &str) -> Option<u32> {
    let fd = socket(AddressFamily::NETLINK, SocketType::RAW, None).ok()?;
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_millis(500)),
    )
    .ok()?;
    let mut attr = Vec::new();
    let attr_len = 4 + name.len() + 1;
    attr.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    attr.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
    attr.extend_from_slice(name.as_bytes());
    attr.push(0);
    while attr.len() % 4 != 0 {
        attr.push(0);
    }
    let total = 16 + 16 + attr.len();
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    msg.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    msg.extend_from_slice(&[0u8; 16]); // ifinfomsg: any family, index 0
    msg.extend_from_slice(&attr);
    send(fd.as_fd(), &msg, SendFlags::empty()).ok()?;
    let mut buf = vec![0u8; 8192];
    let (got, _) = recv(fd.as_fd(), &mut buf[..], RecvFlags::empty()).ok()?;
    let reply = buf.get(..got)?;
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    match kind {
        // ifinfomsg after the 16-byte header: flags at offset 8 of it.
        RTM_NEWLINK => Some(u32::from_ne_bytes(reply.get(24..28)?.try_into().ok()?)),
        NLMSG_ERROR => None,
        _ => None,
    }
}

/// The interface's link state in the first named network namespace that
/// has it: (namespace, up).
fn find_in_named_netns(name: &str) -> Option<(String, bool)> {
    let entries = std::fs::read_dir(NAMED_NETNS_DIR).ok()?;
    for entry in entries.flatten() {
        let ns = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let iface = name.to_string();
        // setns changes only the calling thread: a thread of its own, gone
        // after the question.
        let answer = std::thread::Builder::new()
            .name("tandem-netns".into())
            .spawn(move || {
                let file = std::fs::File::open(path).ok()?;
                move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network)).ok()?;
                flags_here(&iface)
            })
            .ok()
            .and_then(|h| h.join().ok())
            .flatten();
        if let Some(flags) = answer {
            return Some((ns, flags & IFF_UP != 0 && flags & IFF_RUNNING != 0));
        }
    }
    None
}

/// The link state of a net_tap port whose interface is `iface`, given what
/// DPDK said: DPDK's answer when it says up or when the interface is in
/// Tandem's namespace, otherwise the state where the interface is.
pub fn tap_link(iface: &str, dpdk_up: bool) -> (bool, LinkSource) {
    if dpdk_up || flags_here(iface).is_some() {
        return (dpdk_up, LinkSource::Dpdk);
    }
    match find_in_named_netns(iface) {
        Some((ns, up)) => (up, LinkSource::Netns(ns)),
        None => (false, LinkSource::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_comes_from_the_vdev_of_the_port() {
        let vdevs = vec![
            "net_tap0,iface=acc7".to_string(),
            "net_tap1".to_string(),
            "net_pcap0,iface=eth0".to_string(),
        ];
        assert_eq!(tap_interface(&vdevs, "net_tap0"), Some("acc7"));
        assert_eq!(tap_interface(&vdevs, "net_tap1"), None, "no iface= given");
        assert_eq!(tap_interface(&vdevs, "net_pcap0"), None, "not a tap");
        assert_eq!(tap_interface(&vdevs, "net_tap9"), None);
    }

    #[test]
    fn loopback_is_found_here_and_up() {
        let flags = flags_here("lo").expect("lo exists in every namespace");
        assert!(
            flags & IFF_UP != 0 && flags & IFF_RUNNING != 0,
            "{flags:#x}"
        );
        assert_eq!(flags_here("no-such-if0"), None);
    }
}
