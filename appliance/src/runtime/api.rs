//! The control plane's side of the API: every request is checked first and
//! then applied as one new snapshot; a refused request changes nothing.

use super::control::Control;
use super::worker::WorkerCmd;
use crate::api::protocol::{Request, Response, ServerRef};
use crate::api::stats::{
    AccountingStats, PortPoolStats, PortStats, ServerStats, ServiceStats, SessionStats,
    SnapshotStats, Stats, WorkerStats,
};
use crossbeam::channel::{bounded, Receiver, Sender, TryRecvError};
use dataplane::counters::DropReason;
use dataplane::event::EndReason;
use dataplane::pipeline::inspect::{Filter, UserSessionInfo};
use dataplane::policy::{
    AdminState, Entitlement, Policy, Server, Service, ServiceSet, MAX_SERVERS,
};
use dataplane::tier1::{GatewayId, SessionId, SessionOrigin};
use dataplane::topology::Role;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// How long a control request waits for the workers' answers while nothing
/// moves (no answer, no event drained). A worker walks its table
/// `commands::SCAN_BUDGET` slots per loop iteration, so even the largest
/// table (12.9M slots) takes a few thousand iterations.
const WORKER_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a control request waits for the workers, however busy the
/// event rings are (ending millions of user sessions takes as long as their
/// records take to export).
const WORKER_ANSWER_LIMIT: Duration = Duration::from_secs(120);

type Answer = Result<Value, String>;

fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        _ => "other",
    }
}

fn parse_ip(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not an IPv4 address"))
}

/// A server's address as `ctl server` names it: IPv4, or IPv6 (with or
/// without brackets).
fn parse_server_ip(s: &str) -> Result<IpAddr, String> {
    let bare = s
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse()
        .map_err(|_| format!("'{s}' is not an IPv4 or IPv6 address"))
}

/// Refuses a server of the wrong IP version for service `si`, as
/// check-config does: a service's servers are all IPv4 or all IPv6, and
/// IPv6 servers serve only an IPv6 VIP (IPv6 → IPv6 full NAT), which
/// needs a gateway IPv6 address.
fn check_server_version(p: &Policy, si: u32, addr: IpAddr, gateway_v6: bool) -> Result<(), String> {
    let svc = &p.services.services[si as usize];
    let other_version = svc
        .servers
        .iter()
        .any(|&i| p.services.servers[i as usize].addr6.is_some() != addr.is_ipv6());
    if other_version {
        let (has, other) = if addr.is_ipv6() {
            ("IPv4", "IPv6")
        } else {
            ("IPv6", "IPv4")
        };
        return Err(format!(
            "service \"{}\" has {has} servers: an {other} server cannot join them",
            svc.name
        ));
    }
    if addr.is_ipv6() {
        if svc.vip6.is_none() {
            return Err(format!(
                "service \"{}\" has no IPv6 VIP: IPv6 servers serve only IPv6 terminals through a vip6",
                svc.name
            ));
        }
        if svc.vip.is_some() {
            return Err(format!(
                "service \"{}\" has an IPv4 VIP too: its IPv4 terminals could not reach an IPv6 server",
                svc.name
            ));
        }
        if !gateway_v6 {
            return Err(
                "no gateway IPv6 address (gateway.ipv6_addresses): IPv6 servers need one".into(),
            );
        }
    }
    Ok(())
}

fn parse_sid(s: &str) -> Result<SessionId, String> {
    s.parse().map_err(|_| {
        format!(
            "'{s}' is not a session ID (e.g. 10.8.0.5, 10.8.0.5@vlan100, teid:0x10, id:42, \
             2001:db8:1:2::/64)"
        )
    })
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Access => "access",
        Role::Server => "server",
        Role::External => "external",
        Role::Fabric => "fabric",
    }
}

impl Control {
    /// Executes one API request.
    pub fn handle_request(&mut self, req: Request) -> Response {
        let result = match req {
            Request::Status => Ok(serde_json::to_value(self.stats()).unwrap_or(Value::Null)),
            Request::Ports => Ok(serde_json::to_value(self.stats().ports).unwrap_or(Value::Null)),
            Request::Workers => {
                Ok(serde_json::to_value(self.stats().workers).unwrap_or(Value::Null))
            }
            Request::Services => {
                Ok(serde_json::to_value(self.stats().services).unwrap_or(Value::Null))
            }
            Request::Metrics => {
                let mut stats = self.stats();
                // A scrape starts a new interval for the longest loop.
                for (w, c) in stats.workers.iter_mut().zip(&self.shared.counters) {
                    w.loop_max_ns = w.loop_max_ns.max(c.loop_times.take_max_ns());
                }
                Ok(Value::String(crate::metrics::prometheus::render(&stats)))
            }
            Request::Sessions => Ok(self.sessions()),
            Request::UserSessions {
                session,
                server,
                limit,
            } => self.user_sessions(session, server, limit),
            Request::AddServer { server, weight } => self.add_server(&server, weight.unwrap_or(1)),
            Request::RemoveServer { server } => self.remove_server(&server),
            Request::DrainServer { server } => {
                self.set_server(&server, |s| s.state = AdminState::Draining, "draining")
            }
            Request::ActivateServer { server } => {
                self.set_server(&server, |s| s.state = AdminState::Active, "active")
            }
            Request::SetWeight { server, weight } => {
                self.set_server(&server, |s| s.weight = weight, "weight set")
            }
            Request::SetLoad { server, load } => {
                self.set_server(&server, |s| s.reported_load = load, "load set")
            }
            Request::AddService {
                name,
                vip,
                proto,
                port,
                port_end,
            } => self.add_service(name, &vip, &proto, port, port_end),
            Request::RemoveService { name } => self.remove_service(&name),
            Request::CreateSession { id, gateway } => self.create_session(id, gateway),
            Request::MoveSession { id, gateway } => self.move_session(&id, gateway),
            Request::DeleteSession { id } => self.delete_session(&id),
            Request::AddSubscriber {
                session,
                prefix,
                services,
                external,
            } => self.add_subscriber(session, prefix, services, external),
            Request::RemoveSubscriber { session, prefix } => {
                self.remove_subscriber(session, prefix)
            }
            Request::Subscribers => Ok(self.subscribers()),
            Request::Types => Ok(self.types()),
            Request::Reload => self.reload().map(|msg| json!({ "message": msg })),
            Request::Usage { subscriber } => self.usage(subscriber),
            Request::QuotaGrant {
                subscriber,
                bytes,
                seconds,
            } => self.quota_grant(&subscriber, bytes, seconds),
            Request::QuotaReset { subscriber } => self.quota_reset(&subscriber),
            Request::Cluster | Request::DrainGateway { .. } => Err(
                "this appliance is not in a cluster (its config has no cluster: section)".into(),
            ),
        };
        match result {
            Ok(v) => Response::ok(v),
            Err(e) => Response::err(e),
        }
    }

    /// A full picture of the running appliance.
    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        let cfg = &s.cfg;
        let ports = cfg
            .ports
            .iter()
            .zip(&s.ports)
            .enumerate()
            .map(|(i, (p, pid))| {
                let st = pid.stats().unwrap_or_default();
                let link = pid.link().ok();
                let dpdk_up = link.is_some_and(|l| l.up);
                let (link_up, link_source) =
                    match super::tap_link::tap_interface(&cfg.eal.vdevs, &p.device) {
                        Some(iface) => match super::tap_link::tap_link(iface, dpdk_up) {
                            (up, super::tap_link::LinkSource::Dpdk) => (up, String::new()),
                            (up, super::tap_link::LinkSource::Netns(ns)) => {
                                (up, format!("netns {ns}"))
                            }
                            (up, super::tap_link::LinkSource::NotFound) => {
                                (up, format!("{iface} is in no namespace tandem can see"))
                            }
                        },
                        None => (dpdk_up, String::new()),
                    };
                PortStats {
                    name: p.name.clone(),
                    device: p.device.clone(),
                    role: if p.role == crate::config::Role::Fabric {
                        "fabric".to_string()
                    } else {
                        s.topo.role(i as u16).map_or("?", role_name).to_string()
                    },
                    mac: dataplane::wire::MacAddr(s.topo.mac(i as u16)).to_string(),
                    addresses: p.addresses.iter().map(|a| a.to_string()).collect(),
                    link_up,
                    link_source,
                    speed_mbps: link.map_or(0, |l| l.speed_mbps),
                    rx_packets: st.ipackets,
                    tx_packets: st.opackets,
                    rx_bytes: st.ibytes,
                    tx_bytes: st.obytes,
                    rx_missed: st.imissed,
                    rx_errors: st.ierrors,
                    tx_errors: st.oerrors,
                    rx_nombuf: st.rx_nombuf,
                }
            })
            .collect();
        let workers = s
            .counters
            .iter()
            .enumerate()
            .map(|(i, c)| WorkerStats {
                index: i as u16,
                lcore: cfg.workers.get(i).map_or(0, |w| w.lcore),
                rx_packets: c.rx_packets.get(),
                rx_bytes: c.rx_bytes.get(),
                tx_packets: c.tx_packets.get(),
                tx_bytes: c.tx_bytes.get(),
                handoff_in: c.handoff_in.get(),
                handoff_out: c.handoff_out.get(),
                user_sessions_live: c.user_sessions_live.get(),
                user_sessions_created: c.user_sessions_created.get(),
                user_sessions_expired: c.user_sessions_expired.get(),
                arp_replies: c.arp_replies.get(),
                icmp_replies: c.icmp_replies.get(),
                nd_replies: c.nd_replies.get(),
                refused: c.refused.get(),
                rst_sent: c.rst_sent.get(),
                icmp_errors_sent: c.icmp_errors_sent.get(),
                nat64_fragmented: c.nat64_fragmented.get(),
                ttl_exceeded_sent: c.ttl_exceeded_sent.get(),
                client_path_moved: c.client_path_moved.get(),
                client_path_refused: c.client_path_refused.get(),
                events_lost: c.events_lost.get(),
                syn_cookies_sent: c.syn_cookies_sent.get(),
                syn_cookies_valid: c.syn_cookies_valid.get(),
                syn_proxy_opened: c.syn_proxy_opened.get(),
                mss_clamped: c.mss_clamped.get(),
                proxy_headers_inserted: c.proxy_headers_inserted.get(),
                bitrate_remarked: c.bitrate_remarked.get(),
                fabric_tx: c.fabric_tx.get(),
                fabric_rx: c.fabric_rx.get(),
                second_chance: c.second_chance.get(),
                busy_polls: c.busy_polls.get(),
                idle_polls: c.idle_polls.get(),
                drops: DropReason::ALL
                    .iter()
                    .map(|r| (r.as_str().to_string(), c.dropped(*r)))
                    .collect(),
                port_pools: s
                    .pools
                    .get(i)
                    .map(|g| {
                        g.iter()
                            .zip(&cfg.gateway.addresses)
                            .map(|(g, a)| PortPoolStats {
                                gateway_address: a.to_string(),
                                capacity: g.capacity.get(),
                                in_use: g.in_use.get(),
                                quarantined: g.quarantined.get(),
                                free: g.free.get(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                ring_occupancy: c.ring_occupancy.get(),
                ring_capacity: c.ring_capacity.get(),
                snapshot_generation: c.snapshot_generation.get(),
                loop_max_ns: c.loop_times.peek_max_ns(),
                loop_times: c.loop_times.histogram().into(),
            })
            .collect();
        let policy = s.policy.current();
        let loads = s.server_loads();
        let services = policy
            .services
            .services
            .iter()
            .filter(|svc| !svc.removed)
            .map(|svc| ServiceStats {
                name: svc.name.clone(),
                vip: svc.vip.map_or("-".to_string(), |v| {
                    if svc.port_lo == svc.port_hi {
                        format!("{v}:{}/{}", svc.port_lo, proto_name(svc.proto))
                    } else {
                        format!(
                            "{v}:{}-{}/{}",
                            svc.port_lo,
                            svc.port_hi,
                            proto_name(svc.proto)
                        )
                    }
                }),
                servers: svc
                    .servers
                    .iter()
                    .filter_map(|&i| policy.services.servers.get(i as usize).map(|srv| (i, srv)))
                    .map(|(i, srv)| ServerStats {
                        addr: srv.addr6.map_or(srv.addr.to_string(), |a| a.to_string()),
                        port: srv.port,
                        weight: srv.weight,
                        state: srv.state.as_str().to_string(),
                        healthy: !srv.unhealthy,
                        user_sessions: loads.get(i as usize).copied().unwrap_or(0),
                        reported_load: srv.reported_load,
                        down_events: self.health.downs(i),
                    })
                    .collect(),
            })
            .collect();
        let acct = s.accounting.counters().unwrap_or_default();
        let snap =
            |name: &str, gen: u64, oldest: Option<u64>, retired: usize, at: usize| SnapshotStats {
                name: name.into(),
                generation: gen,
                oldest_reader_generation: oldest.unwrap_or(gen),
                age_s: s.published_at[at].elapsed().as_secs_f64(),
                retired: retired as u64,
            };
        Stats {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_s: s.started.elapsed().as_secs(),
            ports,
            workers,
            services,
            sessions: SessionStats {
                pinned: s.manager.len() as u64,
                gateways: s.manager.gateways().len() as u64,
                learned_pins: s.manager.learned_pins() as u64,
                pins_refused: s.manager.pins_refused(),
            },
            quota: self.quota_stats(),
            accounting: AccountingStats {
                records: s.accounting.records,
                exported: acct.exported,
                export_errors: acct.export_errors,
                lost: acct.lost,
            },
            snapshots: vec![
                snap(
                    "steering",
                    s.steering.generation(),
                    s.steering.oldest_reader_generation(),
                    s.steering.retired_len(),
                    0,
                ),
                snap(
                    "policy",
                    s.policy.generation(),
                    s.policy.oldest_reader_generation(),
                    s.policy.retired_len(),
                    1,
                ),
                snap(
                    "neighbours",
                    s.neighbours.generation(),
                    s.neighbours.oldest_reader_generation(),
                    s.neighbours.retired_len(),
                    2,
                ),
                snap(
                    "loads",
                    s.loads.generation(),
                    s.loads.oldest_reader_generation(),
                    s.loads.retired_len(),
                    3,
                ),
            ],
            mbufs_in_use: s.pool.in_use(),
            mbufs_total: cfg.mempool.mbufs,
            control_clients: {
                use std::sync::atomic::Ordering::Relaxed;
                let c = &s.api_clients;
                crate::api::stats::ControlClientStats {
                    connected: c.connected() as u64,
                    refused: c.refused.load(Relaxed),
                    evicted: c.evicted.load(Relaxed),
                }
            },
            neighbours: s.neighbour_stats.clone(),
            cluster: self
                .cluster
                .as_ref()
                .map(|l| crate::api::stats::ClusterStats {
                    etcd_reachable: l.reachable,
                    members: l.view.members.len() as u64,
                    gateways: l.view.gateways.len() as u64,
                    generation: l.view.generation,
                    digest_mismatch: l.view.digest_mismatch(),
                }),
        }
    }

    /// Pinned sessions with their gateway, live user sessions and bytes.
    fn sessions(&mut self) -> Value {
        let mut totals: hashbrown::HashMap<u64, (u64, u64, u64)> = hashbrown::HashMap::new();
        let answers = self.ask_workers(|reply| WorkerCmd::Totals { reply });
        for (s, (n, up, down)) in answers.into_iter().flatten().flatten().flatten() {
            let t = totals.entry(s).or_default();
            t.0 += n;
            t.1 += up;
            t.2 += down;
        }
        Value::Array(
            self.shared
                .manager
                .list()
                .into_iter()
                .map(|i| {
                    let (n, up, down) = totals.get(&i.id.0).copied().unwrap_or_default();
                    json!({
                        "id": i.id.to_string(),
                        "gateway": i.gateway.0,
                        "draining_from": self.shared.manager.draining_from(i.id).map(|g| g.0),
                        "origin": match i.origin { SessionOrigin::Api => "api", _ => "traffic" },
                        "user_sessions": n,
                        "bytes_up": up,
                        "bytes_down": down,
                        "created_ms": i.created_ms,
                        "last_seen_ms": i.last_seen_ms,
                    })
                })
                .collect(),
        )
    }

    /// Asks every worker for its user sessions (each walks its table a few
    /// thousand slots per loop iteration; see `ask_workers`).
    fn user_sessions(
        &mut self,
        session: Option<String>,
        server: Option<String>,
        limit: Option<usize>,
    ) -> Answer {
        let filter = Filter {
            session_id: session.as_deref().map(parse_sid).transpose()?.map(|s| s.0),
            server: server.as_deref().map(parse_ip).transpose()?,
            server_index: None,
        };
        let limit = limit.unwrap_or(1000).min(100_000);
        let policy = self.shared.policy.current();
        let mut all: Vec<UserSessionInfo> = Vec::new();
        for answer in self.ask_workers(|reply| WorkerCmd::Dump {
            filter,
            limit,
            reply,
        }) {
            match answer {
                Some(v) => all.extend(v),
                None => return Err("a worker did not answer in time; try again".into()),
            }
        }
        all.truncate(limit);
        let now = crate::clock::Clock::new().now_ms();
        let names = |svc: u32| {
            policy
                .services
                .services
                .get(svc as usize)
                .map_or("external".to_string(), |s| s.name.clone())
        };
        Ok(Value::Array(
            all.into_iter()
                .map(|u| {
                    // A NAT64 user session: its IPv6 ends, `[addr]:port`.
                    let (terminal, destination) = match u.ipv6 {
                        Some(v6) => (
                            format!("[{}]:{}", v6.terminal, u.terminal.1),
                            format!("[{}]:{}", v6.dest, u.destination.1),
                        ),
                        None => (
                            format!("{}:{}", u.terminal.0, u.terminal.1),
                            format!("{}:{}", u.destination.0, u.destination.1),
                        ),
                    };
                    // IPv6 → IPv6: the gateway and server are IPv6 too.
                    let (gateway, server) = match u.ipv6.and_then(|v6| v6.post_nat) {
                        Some(p) => (
                            format!("[{}]:{}", p.gateway, u.gateway.1),
                            format!("[{}]:{}", p.server, u.server.1),
                        ),
                        None => (
                            format!("{}:{}", u.gateway.0, u.gateway.1),
                            format!("{}:{}", u.server.0, u.server.1),
                        ),
                    };
                    json!({
                        "worker": u.worker,
                        "session": SessionId(u.session_id).to_string(),
                        "terminal": terminal,
                        "destination": destination,
                        "gateway": gateway,
                        "server": server,
                        "service": names(u.service),
                        "proto": proto_name(u.proto),
                        "type": policy.classifier.type_name(u.user_session_type),
                        "state": u.state,
                        "packets_up": u.packets_up,
                        "bytes_up": u.bytes_up,
                        "packets_down": u.packets_down,
                        "bytes_down": u.bytes_down,
                        "age_s": now.saturating_sub(u.created_ms) / 1000,
                    })
                })
                .collect(),
        ))
    }

    /// Ends user sessions on every worker (accounting reason `admin`).
    /// Each worker ends its matching user sessions a few thousand slots per
    /// loop iteration, pausing while its event ring is three quarters full
    /// (one final record per user session); the control plane drains the
    /// rings while it waits, so no record is lost however many end.
    pub fn end_user_sessions(&mut self, filter: Filter) -> usize {
        self.ask_workers(|reply| WorkerCmd::End {
            filter,
            reason: EndReason::Admin,
            reply,
        })
        .into_iter()
        .flatten()
        .sum()
    }

    /// Gives every worker the command `make` builds, then waits for all the
    /// answers (`None` for a worker whose command queue was full or that did
    /// not answer). Workers answer a little per loop iteration, so a large
    /// table takes a few thousand iterations; meanwhile the control plane
    /// drains their event rings (ending user sessions fills them with
    /// accounting records, and the worker pauses the walk while its ring is
    /// full). It gives up after `WORKER_ANSWER_TIMEOUT` with no answer and no
    /// event drained, or after `WORKER_ANSWER_LIMIT` in all; a worker that
    /// was given up on still finishes the command (an `End` still ends every
    /// matching user session, its records drained by later ticks), only its
    /// answer is not awaited.
    fn ask_workers<T>(&mut self, make: impl Fn(Sender<T>) -> WorkerCmd) -> Vec<Option<T>> {
        let pending: Vec<Option<Receiver<T>>> = self
            .shared
            .commands
            .iter()
            .map(|q| {
                let (tx, rx) = bounded(1);
                q.push(make(tx)).is_ok().then_some(rx)
            })
            .collect();
        let started = Instant::now();
        let mut progress = started;
        let mut answers: Vec<Option<T>> = pending.iter().map(|_| None).collect();
        loop {
            let mut waiting = false;
            for (rx, answer) in pending.iter().zip(answers.iter_mut()) {
                if let (Some(rx), None) = (rx, &answer) {
                    match rx.try_recv() {
                        Ok(v) => {
                            *answer = Some(v);
                            progress = Instant::now();
                        }
                        Err(TryRecvError::Empty) => waiting = true,
                        Err(TryRecvError::Disconnected) => {}
                    }
                }
            }
            if !waiting
                || progress.elapsed() >= WORKER_ANSWER_TIMEOUT
                || started.elapsed() >= WORKER_ANSWER_LIMIT
            {
                return answers;
            }
            if self.drain_events() > 0 {
                progress = Instant::now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    fn find_server(p: &Policy, r: &ServerRef) -> Result<(u32, u32), String> {
        let si = p
            .services
            .service_index(&r.service)
            .ok_or_else(|| format!("no service is named \"{}\"", r.service))?;
        let addr = parse_server_ip(&r.addr)?;
        let svc = &p.services.services[si as usize];
        let found: Vec<u32> = svc
            .servers
            .iter()
            .copied()
            .filter(|&i| {
                let s = &p.services.servers[i as usize];
                s.has_addr(addr) && (r.port.is_none() || s.port == r.port)
            })
            .collect();
        match found.as_slice() {
            [one] => Ok((si, *one)),
            [] => Err(format!(
                "service \"{}\" has no server {}",
                r.service, r.addr
            )),
            _ => Err(format!(
                "service \"{}\" has {} twice; give --port",
                r.service, r.addr
            )),
        }
    }

    fn edit_policy(&mut self, f: impl FnOnce(&mut Policy) -> Answer) -> Answer {
        let mut p = (*self.shared.policy.current()).clone();
        let out = f(&mut p)?;
        p.services.reindex();
        self.shared.publish_policy(p);
        Ok(out)
    }

    fn add_server(&mut self, r: &ServerRef, weight: u32) -> Answer {
        let addr = parse_server_ip(&r.addr)?;
        let routed = match addr {
            IpAddr::V4(a) => self.shared.topo.route(a).is_some(),
            IpAddr::V6(a) => self.shared.topo.route_v6(a).is_some(),
        };
        if !routed {
            return Err(format!(
                "no route to {addr}: it is on no port's network and no static route covers it"
            ));
        }
        let gateway_v6 = self.shared.topo.gateways_v6().next().is_some();
        let out = self.edit_policy(|p| {
            let si = p
                .services
                .service_index(&r.service)
                .ok_or_else(|| format!("no service is named \"{}\"", r.service))?;
            check_server_version(p, si, addr, gateway_v6)?;
            let dup = p.services.services[si as usize].servers.iter().any(|&i| {
                let s = &p.services.servers[i as usize];
                s.has_addr(addr) && s.port == r.port
            });
            if dup {
                return Err(format!(
                    "service \"{}\" already has server {}",
                    r.service, r.addr
                ));
            }
            if p.services.servers.len() >= MAX_SERVERS {
                return Err(format!("at most {MAX_SERVERS} servers"));
            }
            let idx = p.services.servers.len() as u32;
            let (addr4, addr6) = match addr {
                IpAddr::V4(a) => (a, None),
                IpAddr::V6(a) => (Ipv4Addr::UNSPECIFIED, Some(a)),
            };
            p.services.servers.push(Server {
                addr: addr4,
                addr6,
                port: r.port,
                weight,
                state: AdminState::Active,
                reported_load: 0,
                unhealthy: false,
            });
            p.services.services[si as usize].servers.push(idx);
            Ok(json!({ "message": format!("server {addr} added to \"{}\"", r.service) }))
        })?;
        self.resolve_known();
        Ok(out)
    }

    fn remove_server(&mut self, r: &ServerRef) -> Answer {
        self.edit_policy(|p| {
            let (si, idx) = Self::find_server(p, r)?;
            p.services.services[si as usize].servers.retain(|&i| i != idx);
            p.services.servers[idx as usize].state = AdminState::Removed;
            Ok(json!({ "message": format!("server {} removed from \"{}\"; its user sessions run on until they end", r.addr, r.service) }))
        })
    }

    fn set_server(&mut self, r: &ServerRef, f: impl FnOnce(&mut Server), what: &str) -> Answer {
        self.edit_policy(|p| {
            let (_, idx) = Self::find_server(p, r)?;
            f(&mut p.services.servers[idx as usize]);
            Ok(json!({ "message": format!("server {} of \"{}\": {what}", r.addr, r.service) }))
        })
    }

    fn add_service(
        &mut self,
        name: String,
        vip: &str,
        proto: &str,
        port: u16,
        port_end: Option<u16>,
    ) -> Answer {
        let vip = parse_ip(vip)?;
        let proto = match proto {
            "tcp" => 6,
            "udp" => 17,
            other => return Err(format!("protocol '{other}': use tcp or udp")),
        };
        let end = port_end.unwrap_or(port);
        if end < port {
            return Err(format!("port_end {end} is below port {port}"));
        }
        self.edit_policy(|p| {
            if p.services.service_index(&name).is_some() {
                return Err(format!("a service is already named \"{name}\""));
            }
            if let Some(o) = p.services.services.iter().find(|s| {
                !s.removed
                    && s.vip == Some(vip)
                    && s.proto == proto
                    && port <= s.port_hi
                    && end >= s.port_lo
            }) {
                return Err(format!(
                    "VIP {vip} ports {port}..={end} overlaps service \"{}\"",
                    o.name
                ));
            }
            p.services.services.push(Service {
                name: name.clone(),
                vip: Some(vip),
                vip6: None,
                proto,
                port_lo: port,
                port_hi: end,
                servers: Vec::new(),
                by_type: Vec::new(),
                removed: false,
                syn_proxy: dataplane::policy::SynProxyMode::Off,
                dscp: None,
                proxy_v2: false,
            });
            Ok(json!({ "message": format!("service \"{name}\" added; add servers to it") }))
        })
    }

    fn remove_service(&mut self, name: &str) -> Answer {
        self.edit_policy(|p| {
            let si = p
                .services
                .service_index(name)
                .ok_or_else(|| format!("no service is named \"{name}\""))?;
            if let Some(user) = p
                .services
                .services
                .iter()
                .find(|s| !s.removed && s.by_type.iter().any(|&(_, t)| t == si))
            {
                return Err(format!("service \"{}\" sends a user-session type to \"{name}\"; change it first", user.name));
            }
            let svc = &mut p.services.services[si as usize];
            svc.removed = true;
            let servers = std::mem::take(&mut svc.servers);
            for i in servers {
                p.services.servers[i as usize].state = AdminState::Removed;
            }
            Ok(json!({ "message": format!("service \"{name}\" removed; its user sessions run on until they end") }))
        })
    }

    fn check_gateway(&self, g: u32) -> Result<GatewayId, String> {
        let n = self.shared.manager.gateways().len() as u32;
        if g >= n {
            return Err(format!(
                "gateway {g} does not exist; gateways are 0..{}",
                n.saturating_sub(1)
            ));
        }
        Ok(GatewayId(g))
    }

    fn create_session(&mut self, id: Option<String>, gateway: Option<u32>) -> Answer {
        let sid = id.as_deref().map(parse_sid).transpose()?;
        let gw = gateway.map(|g| self.check_gateway(g)).transpose()?;
        let now = crate::clock::Clock::new().now_ms();
        let created = self
            .shared
            .manager
            .create(sid, gw, now)
            .map_err(|e| e.to_string())?;
        let info = self.shared.manager.get(created);
        Ok(json!({
            "id": created.to_string(),
            "gateway": info.map(|i| i.gateway.0),
            "message": format!("session {created} created"),
        }))
    }

    fn move_session(&mut self, id: &str, gateway: u32) -> Answer {
        let sid = parse_sid(id)?;
        let gw = self.check_gateway(gateway)?;
        let prev = self
            .shared
            .manager
            .move_to(sid, gw)
            .map_err(|e| e.to_string())?;
        let message = match self.shared.manager.draining_from(sid) {
            _ if prev.0 == gateway => format!("session {sid} is already on gateway {gateway}"),
            Some(old) => format!(
                "session {sid} moved from gateway {} to {gateway}; new TCP connections go there, \
                 open user sessions (and new UDP/ICMP flows) stay on gateway {} for {} s",
                prev.0, old.0, self.shared.cfg.steering.move_drain_s
            ),
            None => format!(
                "session {sid} moved from gateway {} to {gateway}; new user sessions go there",
                prev.0
            ),
        };
        Ok(json!({ "message": message }))
    }

    fn delete_session(&mut self, id: &str) -> Answer {
        let sid = parse_sid(id)?;
        self.shared.manager.delete(sid).map_err(|e| e.to_string())?;
        Ok(
            json!({ "message": format!("session {sid} deleted; its user sessions expire normally") }),
        )
    }

    fn entitlement(
        p: &Policy,
        services: &Option<Vec<String>>,
        external: bool,
    ) -> Result<Entitlement, String> {
        let services = match services {
            None => ServiceSet::All,
            Some(names) => {
                let mut ix = Vec::new();
                for n in names {
                    ix.push(
                        p.services
                            .service_index(n)
                            .ok_or_else(|| format!("no service is named \"{n}\""))?,
                    );
                }
                ServiceSet::from_indexes(ix)
            }
        };
        // Subscribers added through the API get the default limits.
        Ok(Entitlement {
            services,
            external,
            limits: p.subscribers.default.limits,
        })
    }

    fn add_subscriber(
        &mut self,
        session: Option<String>,
        prefix: Option<String>,
        services: Option<Vec<String>>,
        external: bool,
    ) -> Answer {
        let key = subscriber_key(&self.shared.cfg, session, prefix)?;
        self.edit_policy(|p| {
            let e = Self::entitlement(p, &services, external)?;
            match key {
                SubKey::Session(sid) => p.subscribers.set_session(sid.0, e),
                SubKey::Prefix(ip, len) => p.subscribers.set_prefix(ip, len, e),
                SubKey::Prefix6(ip, len) => p.subscribers.set_prefix6(ip, len, e),
            }
            Ok(json!({ "message": "subscriber set; applies to new user sessions" }))
        })
    }

    fn remove_subscriber(&mut self, session: Option<String>, prefix: Option<String>) -> Answer {
        let key = subscriber_key(&self.shared.cfg, session, prefix)?;
        self.edit_policy(|p| {
            let found = match key {
                SubKey::Session(sid) => p.subscribers.remove_session(sid.0),
                SubKey::Prefix(ip, len) => p.subscribers.remove_prefix(ip, len),
                SubKey::Prefix6(ip, len) => p.subscribers.remove_prefix6(ip, len),
            };
            if found {
                Ok(json!({ "message": "subscriber removed" }))
            } else {
                Err("no such subscriber entry".into())
            }
        })
    }

    fn subscribers(&self) -> Value {
        let p = self.shared.policy.current();
        let names = |e: &Entitlement| -> Value {
            match &e.services {
                ServiceSet::All => json!("all"),
                ServiceSet::Some(_) => json!(p
                    .services
                    .services
                    .iter()
                    .enumerate()
                    .filter(|(i, s)| !s.removed && e.services.contains(*i as u32))
                    .map(|(_, s)| s.name.clone())
                    .collect::<Vec<_>>()),
            }
        };
        let mut out = vec![
            json!({ "match": "default", "services": names(&p.subscribers.default), "external": p.subscribers.default.external }),
        ];
        for (sid, e) in p.subscribers.sessions() {
            out.push(json!({ "match": format!("session {}", SessionId(sid)), "services": names(e), "external": e.external }));
        }
        for (ip, len, e) in p.subscribers.prefixes() {
            out.push(json!({ "match": format!("prefix {ip}/{len}"), "services": names(e), "external": e.external }));
        }
        for (ip, len, e) in p.subscribers.prefixes6() {
            out.push(json!({ "match": format!("prefix {ip}/{len}"), "services": names(e), "external": e.external }));
        }
        Value::Array(out)
    }
}

enum SubKey {
    Session(SessionId),
    Prefix(Ipv4Addr, u8),
    /// IPv6 terminals whose session ID lies inside the prefix.
    Prefix6(std::net::Ipv6Addr, u8),
}

/// The entry a `ctl subscriber` request names, checked as in the config
/// file: an IPv6 session ID shorter than the terminals' is a prefix entry
/// (a /48 covers each /64 session ID in it), one that could never match
/// is refused with the reason.
fn subscriber_key(
    cfg: &crate::config::Config,
    session: Option<String>,
    prefix: Option<String>,
) -> Result<SubKey, String> {
    use crate::config::net::PortAddr;
    match (session, prefix) {
        (Some(s), None) => {
            let sid = parse_sid(&s)?;
            if let Some(why) = crate::config::unmatched_ipv6_prefix(cfg, sid) {
                return Err(format!("'{sid}' {why}"));
            }
            Ok(match crate::plan::ipv6_session_as_prefix(cfg, sid) {
                Some((addr, len)) => SubKey::Prefix6(addr, len),
                None => SubKey::Session(sid),
            })
        }
        (None, Some(p)) => {
            let c: PortAddr = p.parse()?;
            if let Some(why) = crate::config::prefix_problem(cfg, &c) {
                return Err(format!("'{c}' {why}"));
            }
            Ok(match c {
                PortAddr::V4(c) => SubKey::Prefix(c.addr, c.prefix_len),
                PortAddr::V6(c) => SubKey::Prefix6(c.addr, c.prefix_len),
            })
        }
        _ => Err("give exactly one of session or prefix".into()),
    }
}
