//! The `syn_proxy` and `services` sections: the SYN proxy's fill
//! threshold; service names unique, VIP port ranges that do not overlap,
//! servers, pools that name defined types and services, and the per-service
//! TCP-only options (`syn_proxy`, `proxy_protocol`).

use super::{field, violation, Violation};
use crate::config::locate::Seg;
use crate::config::schema::Config;
use std::collections::HashSet;

/// Checks both sections; the service names, for the subscribers.
pub fn check<'c>(c: &'c Config, type_names: &HashSet<&str>) -> Result<HashSet<&'c str>, Violation> {
    if !(1..=100).contains(&c.syn_proxy.fill_percent) {
        return Err(violation(
            vec![field("syn_proxy"), field("fill_percent")],
            format!(
                "fill_percent {} is not a percentage from 1 to 100",
                c.syn_proxy.fill_percent
            ),
        ));
    }

    // Services.
    let mut svc_names = HashSet::new();
    let mut vips: Vec<(
        usize,
        crate::config::net::Ip,
        crate::config::schema::Proto,
        u16,
        u16,
    )> = Vec::new();
    for (i, s) in c.services.iter().enumerate() {
        let at = |f: &'static str| vec![field("services"), Seg::Index(i), field(f)];
        if !svc_names.insert(s.name.as_str()) {
            return Err(violation(
                at("name"),
                format!("service name \"{}\" is used twice", s.name),
            ));
        }
        let end = s.port_end.unwrap_or(s.port);
        if end < s.port {
            return Err(violation(
                at("port_end"),
                format!("port_end {end} is below port {}", s.port),
            ));
        }
        if let Some(vip) = s.vip {
            if let Some(&(j, ..)) = vips
                .iter()
                .find(|(_, ip, pr, a, b)| *ip == vip && *pr == s.proto && s.port <= *b && end >= *a)
            {
                return Err(violation(
                    at("vip"),
                    format!(
                        "VIP {vip} {:?} ports {}..={end} overlaps services[{j}]",
                        s.proto, s.port
                    ),
                ));
            }
            vips.push((i, vip, s.proto, s.port, end));
        }
        if s.proto != crate::config::schema::Proto::Tcp
            && s.syn_proxy != crate::config::schema::SynProxyMode::Off
        {
            return Err(violation(
                at("syn_proxy"),
                format!("service \"{}\" is not TCP: syn_proxy must be Off", s.name),
            ));
        }
        if s.proxy_protocol != crate::config::schema::ProxyProtocol::Off {
            if s.proto != crate::config::schema::Proto::Tcp {
                return Err(violation(
                    at("proxy_protocol"),
                    format!(
                        "service \"{}\" is not TCP: proxy_protocol must be Off",
                        s.name
                    ),
                ));
            }
            if s.syn_proxy != crate::config::schema::SynProxyMode::Off {
                // The SYN proxy answers the handshake itself and holds the
                // terminal's first segments: no header can be placed.
                return Err(violation(
                    at("proxy_protocol"),
                    format!(
                        "service \"{}\" has a syn_proxy: proxy_protocol needs syn_proxy Off",
                        s.name
                    ),
                ));
            }
        }
        if s.servers.is_empty() {
            return Err(violation(
                at("servers"),
                format!("service \"{}\" has no servers", s.name),
            ));
        }
        let mut seen = HashSet::new();
        for (j, srv) in s.servers.iter().enumerate() {
            if !seen.insert((srv.addr, srv.port)) {
                return Err(violation(
                    vec![
                        field("services"),
                        Seg::Index(i),
                        field("servers"),
                        Seg::Index(j),
                    ],
                    format!(
                        "server {} is listed twice in service \"{}\"",
                        srv.addr, s.name
                    ),
                ));
            }
        }
    }
    if c.services.iter().map(|s| s.servers.len()).sum::<usize>() > dataplane::policy::MAX_SERVERS {
        return Err(violation(
            vec![field("services")],
            format!(
                "more than {} servers in all",
                dataplane::policy::MAX_SERVERS
            ),
        ));
    }
    for (i, s) in c.services.iter().enumerate() {
        for (j, p) in s.pools.iter().enumerate() {
            let at = |f: &'static str| {
                vec![
                    field("services"),
                    Seg::Index(i),
                    field("pools"),
                    Seg::Index(j),
                    field(f),
                ]
            };
            if !type_names.contains(p.user_session_type.as_str()) {
                return Err(violation(
                    at("user_session_type"),
                    format!("no user-session type is named \"{}\"", p.user_session_type),
                ));
            }
            if !svc_names.contains(p.service.as_str()) {
                return Err(violation(
                    at("service"),
                    format!("no service is named \"{}\"", p.service),
                ));
            }
        }
    }
    Ok(svc_names)
}
