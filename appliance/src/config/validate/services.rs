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
        if let Some(vip6) = s.vip6 {
            nat64_service(c, i, s, vip6.0)?;
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

/// A service with an IPv6 VIP (NAT64 to its IPv4 servers): one VIP only,
/// at least one server, not a port's IPv6 address nor inside the NAT64
/// prefix, no SYN proxy or PROXY protocol (a NAT64 user session is never
/// proxied), and a steering key that gives IPv6 terminals a session ID.
fn nat64_service(
    c: &Config,
    i: usize,
    s: &crate::config::schema::Service,
    vip6: std::net::Ipv6Addr,
) -> Result<(), Violation> {
    let at = || vec![field("services"), Seg::Index(i), field("vip6")];
    let refuse = |message: String| Err(violation(at(), message));
    let name = &s.name;
    if s.vip.is_some() {
        return refuse(format!(
            "service \"{name}\" has both vip and vip6; give a service one VIP (a second \
             service with the same servers serves the other version)"
        ));
    }
    if s.servers.is_empty() {
        return refuse(format!(
            "service \"{name}\": an IPv6 VIP needs servers (IPv4 through NAT64, or IPv6); \
             this service has none"
        ));
    }
    if c.steering.key != crate::config::schema::SessionKey::SourceIp {
        return refuse(format!(
            "service \"{name}\": an IPv6 VIP needs steering key SourceIp (IPv6 terminals have \
             no session ID under {:?})",
            c.steering.key
        ));
    }
    if s.syn_proxy != crate::config::schema::SynProxyMode::Off
        || s.proxy_protocol != crate::config::schema::ProxyProtocol::Off
    {
        return refuse(format!(
            "service \"{name}\": syn_proxy and proxy_protocol are not supported on an IPv6 \
             VIP (NAT64 user sessions are not proxied); set them Off"
        ));
    }
    for p in &c.ports {
        if p.addresses
            .iter()
            .any(|a| a.v6().is_some_and(|a6| a6.addr == vip6))
        {
            return refuse(format!(
                "vip6 {vip6} of service \"{name}\" is port \"{}\"'s address",
                p.name
            ));
        }
    }
    if let Some(n) = &c.nat64 {
        let prefix = dataplane::wire::Nat64Prefix::new(n.prefix.addr);
        if prefix.extract(vip6).is_some() {
            return refuse(format!(
                "vip6 {vip6} of service \"{name}\" is inside the NAT64 prefix {}/96",
                prefix.prefix()
            ));
        }
    }
    Ok(())
}

/// The `nat64` section: a /96 prefix (the RFC 6052 lengths other than 96
/// are not supported), whose last 32 bits are zero, that is not a port's
/// address; NAT64 needs steering key SourceIp.
pub fn check_nat64(c: &Config) -> Result<(), Violation> {
    let Some(n) = &c.nat64 else {
        return Ok(());
    };
    let at = || vec![field("nat64"), field("prefix")];
    let p = n.prefix;
    if p.prefix_len != 96 {
        return Err(violation(
            at(),
            format!(
                "NAT64 prefix {p} must be a /96 (e.g. 64:ff9b::/96; the RFC 6052 lengths \
                 32, 40, 48, 56 and 64 are not supported)"
            ),
        ));
    }
    if p.addr.to_bits() & 0xffff_ffff != 0 {
        return Err(violation(
            at(),
            format!("NAT64 prefix {p} has bits set in its last 32 (where the IPv4 address goes)"),
        ));
    }
    if p.addr.is_multicast() || p.addr.is_loopback() || p.addr.is_unspecified() {
        return Err(violation(
            at(),
            format!("NAT64 prefix {p} is not a unicast prefix"),
        ));
    }
    if c.steering.key != crate::config::schema::SessionKey::SourceIp {
        return Err(violation(
            vec![field("nat64")],
            format!(
                "NAT64 needs steering key SourceIp (IPv6 terminals have no session ID under {:?})",
                c.steering.key
            ),
        ));
    }
    Ok(())
}
