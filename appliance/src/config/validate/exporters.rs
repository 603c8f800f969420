//! The `metrics` and `accounting` sections: listen and collector addresses,
//! the IPFIX enterprise number.

use super::{field, violation, Violation};
use crate::config::schema::Config;

pub fn check(c: &Config) -> Result<(), Violation> {
    if let Some(l) = &c.metrics.listen {
        if l.parse::<std::net::SocketAddr>().is_err() {
            return Err(violation(
                vec![field("metrics"), field("listen")],
                format!("\"{l}\" is not an address:port (e.g. \"127.0.0.1:9469\")"),
            ));
        }
    }
    if let Some(ipfix) = &c.accounting.ipfix {
        if ipfix.enterprise == Some(0) {
            return Err(violation(
                vec![field("accounting"), field("ipfix"), field("enterprise")],
                "enterprise 0 is IANA's own number; give your private enterprise number, or leave it out".into(),
            ));
        }
        if ipfix.collector.parse::<std::net::SocketAddr>().is_err() {
            return Err(violation(
                vec![field("accounting"), field("ipfix"), field("collector")],
                format!(
                    "collector \"{}\" is not an address:port (e.g. \"127.0.0.1:4739\")",
                    ipfix.collector
                ),
            ));
        }
    }
    Ok(())
}
