//! Each IPv4 address Tandem owns has exactly one role: a port's own
//! address, a gateway address (the source of translated user sessions) or
//! a service VIP (what terminals connect to). An address given two roles,
//! or one gateway address listed twice, makes the pipeline's answer depend
//! on which table it looks in first: a duplicate gateway address hands the
//! same address:port to two user sessions at once and replies reach the
//! wrong one; a VIP that is also a gateway or port address turns replies
//! into new user sessions (or the reverse). So `check-config` refuses them.
//! Several services may share one VIP (different protocols or ports): that
//! is one role, checked for overlap in `validate`.

use super::locate::Seg;
use super::schema::Config;
use super::validate::Violation;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Refuses an address with two roles or a gateway address given twice;
/// the error points at the later mention.
pub fn check(c: &Config) -> Result<(), Violation> {
    // Address -> the role it was first given, in words.
    let mut owners: HashMap<Ipv4Addr, String> = HashMap::new();
    for p in &c.ports {
        for a in p.ipv4_addresses() {
            owners
                .entry(a.addr)
                .or_insert_with(|| format!("the address of port \"{}\"", p.name));
        }
    }
    for (i, a) in c.gateway.addresses.iter().enumerate() {
        let path = vec![
            Seg::Field("gateway"),
            Seg::Field("addresses"),
            Seg::Index(i),
        ];
        if let Some(first) = owners.get(&a.0) {
            return Err(Violation {
                path,
                message: format!(
                    "gateway address {} is already {}; give each gateway address once, \
                     distinct from port addresses and VIPs",
                    a.0, first
                ),
            });
        }
        owners.insert(a.0, format!("gateway.addresses[{i}]"));
    }
    for (i, s) in c.services.iter().enumerate() {
        let Some(vip) = s.vip else { continue };
        if let Some(first) = owners.get(&vip.0) {
            return Err(Violation {
                path: vec![Seg::Field("services"), Seg::Index(i), Seg::Field("vip")],
                message: format!(
                    "VIP {} of service \"{}\" is already {}; a VIP must not be a port or gateway address",
                    vip.0, s.name, first
                ),
            });
        }
    }
    Ok(())
}
