//! The admission decision for a new user session, as one function of the
//! policy snapshot and the flow: its user-session type (classify), the
//! subscriber's entitlement, the service, the server (or the external
//! destination), or why it may not open. No I/O and no worker state
//! besides what is passed in (server loads, the round-robin rotor and
//! reusable buffers), so it is tested here on its own; the pipeline
//! (`pipeline/uplink.rs`) acts on the answer.

use super::{Ends, Limits, Policy, Selection};
use crate::counters::DropReason;
use crate::event::EXTERNAL_SERVICE;
use crate::tier2::{consistent, least_load, terminal_hash, ServerCandidate, Timeouts};
use crate::wire::PROTO_ICMP;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a new flow looks like to policy.
#[derive(Clone, Copy, Debug)]
pub struct NewFlow {
    pub proto: u8,
    /// The terminal's IPv4 address; for an IPv6 terminal (NAT64) a 32-bit
    /// fold of its address, which only spreads sticky selection: its
    /// subscriber entry is found by session ID alone (prefix entries are
    /// IPv4 prefixes).
    pub client_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub dst_port: u16,
    pub dscp: u8,
    pub session_id: u64,
    /// NAT64: the terminal is an IPv6 one, and `Some(vip)` when it
    /// addressed a service's IPv6 VIP (else `dst_ip` is the IPv4 address
    /// its NAT64-prefix destination embeds).
    pub ipv6: Option<Option<Ipv6Addr>>,
    /// NAT64: the terminal's IPv6 address and the one it addressed (for
    /// classify rules by IPv6 prefix).
    pub v6_ends: Option<(Ipv6Addr, Ipv6Addr)>,
}

/// The outcome of policy for a new user session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Open it towards this server (`server_index` `u32::MAX` for an
    /// external destination) as `service` of type `ty`.
    Serve {
        server_ip: Ipv4Addr,
        server_port: u16,
        server_index: u32,
        service: u32,
        ty: u8,
        timeouts: Timeouts,
    },
    /// The subscriber may not use `service`: answer with a refusal.
    Refuse {
        service: u32,
        ty: u8,
        accounted: bool,
    },
    /// Drop the packet.
    Drop(DropReason),
}

/// What the decision reuses from one call to the next (no allocation per
/// new user session) and the least-load tie-break's rotor.
#[derive(Debug, Default)]
pub struct Scratch {
    candidates: Vec<ServerCandidate>,
    candidate_ix: Vec<u32>,
    rotor: u32,
}

impl Scratch {
    /// Buffers for up to `servers` servers per service.
    pub fn with_capacity(servers: usize) -> Scratch {
        Scratch {
            candidates: Vec::with_capacity(servers),
            candidate_ix: Vec::with_capacity(servers),
            rotor: 0,
        }
    }
}

/// Decides where `flow` goes, and the subscriber's limits. `load(i)` is
/// server `i`'s live user sessions (all workers); `external(dst)` says
/// whether `dst` is routed out of an external port.
pub fn decide(
    policy: &Policy,
    flow: &NewFlow,
    load: impl Fn(usize) -> u64,
    external: impl Fn(Ipv4Addr) -> bool,
    scratch: &mut Scratch,
) -> (Decision, Limits) {
    let ends = match flow.v6_ends {
        Some((terminal, dst)) => Ends::V6 { terminal, dst },
        None => Ends::V4 {
            terminal: flow.client_ip,
            dst: flow.dst_ip,
        },
    };
    let ty = policy
        .classifier
        .classify(flow.proto, flow.dst_port, flow.dscp, &ends);
    // An IPv6 terminal (NAT64) is matched by its prefix session ID only.
    let (ent, vip6) = match flow.ipv6 {
        None => (
            policy.subscribers.lookup(flow.session_id, flow.client_ip),
            None,
        ),
        Some(vip6) => (policy.subscribers.lookup_v6(flow.session_id), vip6),
    };
    let accounted = policy.classifier.get(ty).is_none_or(|t| t.accounted);
    let service = if flow.proto == PROTO_ICMP {
        None
    } else if let Some(vip6) = vip6 {
        policy.services.find6(flow.proto, vip6, flow.dst_port)
    } else {
        policy.services.find(flow.proto, flow.dst_ip, flow.dst_port)
    };
    let decision = match service {
        Some(s) if !ent.services.contains(s) => Decision::Refuse {
            service: s,
            ty,
            accounted,
        },
        Some(s) => {
            let serving = policy.services.serving(s, ty);
            let selection = policy
                .classifier
                .get(ty)
                .map_or(Selection::default(), |t| t.selection);
            match select(policy, &load, scratch, serving, selection, flow.client_ip) {
                Some(si) => {
                    let srv = &policy.services.servers[si as usize];
                    Decision::Serve {
                        server_ip: srv.addr,
                        server_port: srv.port.unwrap_or(flow.dst_port),
                        server_index: si,
                        service: s,
                        ty,
                        timeouts: *policy.timeouts_for(ty),
                    }
                }
                None => Decision::Drop(DropReason::NoServer),
            }
        }
        None if vip6.is_some() || policy.services.is_vip(flow.dst_ip) => {
            Decision::Drop(DropReason::NoService)
        }
        None => {
            let external = external(flow.dst_ip);
            if external && ent.external {
                Decision::Serve {
                    server_ip: flow.dst_ip,
                    server_port: flow.dst_port,
                    server_index: u32::MAX,
                    service: EXTERNAL_SERVICE,
                    ty,
                    timeouts: *policy.timeouts_for(ty),
                }
            } else if external && flow.proto != PROTO_ICMP {
                // Reachable, but this subscriber may not go outside:
                // refused like a service it has no right to.
                Decision::Refuse {
                    service: EXTERNAL_SERVICE,
                    ty,
                    accounted,
                }
            } else {
                Decision::Drop(DropReason::NoService)
            }
        }
    };
    (decision, ent.limits)
}

/// Picks a server of service `s`: least load (plus any load reported
/// through the API) per weight, or a consistent hash of the terminal for
/// sticky types.
fn select(
    policy: &Policy,
    load: &impl Fn(usize) -> u64,
    scratch: &mut Scratch,
    s: u32,
    selection: Selection,
    client: Ipv4Addr,
) -> Option<u32> {
    let svc = policy.services.services.get(s as usize)?;
    let Scratch {
        candidates,
        candidate_ix,
        rotor,
    } = scratch;
    candidates.clear();
    candidate_ix.clear();
    for &si in &svc.servers {
        let Some(srv) = policy.services.servers.get(si as usize) else {
            continue;
        };
        let weight = match selection {
            Selection::LeastLoad => u32::from(srv.weight > 0),
            _ => srv.weight,
        };
        candidates.push(ServerCandidate {
            weight,
            eligible: srv.eligible(),
            load: load(si as usize) + u64::from(srv.reported_load),
        });
        candidate_ix.push(si);
    }
    let pick = match selection {
        Selection::Sticky => consistent(candidates, terminal_hash(client)),
        _ => least_load(candidates, rotor),
    }?;
    candidate_ix.get(pick).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{policy, DNS_VIP, EXT_HOST, SERVERS, UE, UE_DENIED, VIP};

    fn flow(client_ip: Ipv4Addr, proto: u8, dst_ip: Ipv4Addr, dst_port: u16) -> NewFlow {
        NewFlow {
            proto,
            client_ip,
            dst_ip,
            dst_port,
            dscp: 0,
            session_id: u64::from(u32::from(client_ip)),
            ipv6: None,
            v6_ends: None,
        }
    }

    fn decide_with(f: &NewFlow, loads: [u64; 4], external: bool) -> Decision {
        let mut scratch = Scratch::with_capacity(4);
        decide(&policy(), f, |i| loads[i], |_| external, &mut scratch).0
    }

    #[test]
    fn an_entitled_flow_goes_to_the_least_loaded_server_on_its_port() {
        let d = decide_with(&flow(UE, 6, VIP, 80), [5, 0, 5, 0], false);
        let Decision::Serve {
            server_ip,
            server_port,
            server_index,
            service,
            ..
        } = d
        else {
            panic!("{d:?}");
        };
        assert_eq!((server_ip, server_port), (SERVERS[1], 8080));
        assert_eq!((server_index, service), (1, 0));
    }

    #[test]
    fn a_subscriber_without_the_service_is_refused() {
        let d = decide_with(&flow(UE_DENIED, 6, VIP, 80), [0; 4], false);
        assert!(matches!(d, Decision::Refuse { service: 0, .. }), "{d:?}");
        // The service it has is served.
        let d = decide_with(&flow(UE_DENIED, 17, DNS_VIP, 53), [0; 4], false);
        assert!(
            matches!(
                d,
                Decision::Serve {
                    server_index: 3,
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn a_vip_port_without_a_service_is_dropped() {
        let d = decide_with(&flow(UE, 6, VIP, 81), [0; 4], false);
        assert_eq!(d, Decision::Drop(DropReason::NoService));
    }

    #[test]
    fn external_destinations_need_a_route_out_and_the_right() {
        let f = flow(UE, 6, EXT_HOST, 443);
        let d = decide_with(&f, [0; 4], true);
        assert!(
            matches!(d, Decision::Serve { server_index: u32::MAX, service: EXTERNAL_SERVICE, server_ip, server_port: 443, .. } if server_ip == EXT_HOST),
            "{d:?}"
        );
        assert_eq!(
            decide_with(&f, [0; 4], false),
            Decision::Drop(DropReason::NoService)
        );
        let denied = flow(UE_DENIED, 6, EXT_HOST, 443);
        assert!(matches!(
            decide_with(&denied, [0; 4], true),
            Decision::Refuse {
                service: EXTERNAL_SERVICE,
                ..
            }
        ));
    }

    #[test]
    fn all_servers_down_means_no_server() {
        let mut p = policy();
        for s in &mut p.services.servers {
            s.weight = 0;
        }
        let mut scratch = Scratch::with_capacity(4);
        let (d, _) = decide(&p, &flow(UE, 6, VIP, 80), |_| 0, |_| false, &mut scratch);
        assert_eq!(d, Decision::Drop(DropReason::NoServer));
    }
}
