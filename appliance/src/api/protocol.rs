//! The control API's wire format: one JSON object per line each way.
//!
//! A request is `{"version": 1, "request": {"cmd": "...", ...}}`; the answer
//! is `{"version": 1, "ok": true, "data": ...}` or `{"version": 1, "ok":
//! false, "error": "what went wrong and what to do"}`. A request that is
//! refused changes nothing. `version` lets a newer `tandem ctl` talk to an
//! older appliance and be told clearly when it cannot.

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// A server named by its service and address (and port, when the service
/// has the same address twice with different ports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerRef {
    pub service: String,
    pub addr: String,
    #[serde(default)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Version, uptime, workers, counters in brief.
    Status,
    /// Ports with roles, MACs, link and DPDK statistics.
    Ports,
    /// Per-worker counters, drops by reason, port pools, ring occupancy.
    Workers,
    /// Mobile sessions with their gateway (pinned ones).
    Sessions,
    /// User sessions, optionally only those of one session or one server.
    UserSessions {
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        server: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Services and servers with live load.
    Services,
    AddServer {
        #[serde(flatten)]
        server: ServerRef,
        #[serde(default)]
        weight: Option<u32>,
    },
    RemoveServer {
        #[serde(flatten)]
        server: ServerRef,
    },
    /// No new user sessions; existing ones run on.
    DrainServer {
        #[serde(flatten)]
        server: ServerRef,
    },
    /// Back to active after drain or down.
    ActivateServer {
        #[serde(flatten)]
        server: ServerRef,
    },
    SetWeight {
        #[serde(flatten)]
        server: ServerRef,
        weight: u32,
    },
    /// A load value reported by the server or a monitoring system, added
    /// to its live user sessions when choosing.
    SetLoad {
        #[serde(flatten)]
        server: ServerRef,
        load: u32,
    },
    AddService {
        name: String,
        vip: String,
        /// "tcp" or "udp".
        proto: String,
        port: u16,
        #[serde(default)]
        port_end: Option<u16>,
    },
    RemoveService {
        name: String,
    },
    CreateSession {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        gateway: Option<u32>,
    },
    MoveSession {
        id: String,
        gateway: u32,
    },
    DeleteSession {
        id: String,
    },
    AddSubscriber {
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        prefix: Option<String>,
        /// Service names; absent = all.
        #[serde(default)]
        services: Option<Vec<String>>,
        #[serde(default)]
        external: bool,
    },
    RemoveSubscriber {
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        prefix: Option<String>,
    },
    Subscribers,
    /// User-session types in force: selection, accounting, the
    /// classification rules that pick each (in the order they are tried)
    /// and its idle timeouts.
    Types,
    /// Re-read the config file and apply what can change at run time.
    Reload,
    /// Usage quotas: used, remaining, state and period end, of every
    /// subscriber with a quota that has used something, or of one.
    Usage {
        #[serde(default)]
        subscriber: Option<String>,
    },
    /// More bytes and/or online seconds for a subscriber's current period.
    QuotaGrant {
        subscriber: String,
        #[serde(default)]
        bytes: u64,
        #[serde(default)]
        seconds: u64,
    },
    /// A subscriber's quota starts a fresh period now.
    QuotaReset {
        subscriber: String,
    },
    /// Prometheus text exposition of every metric.
    Metrics,
    /// Cluster members, leases, generation and table digests
    /// (docs/cluster.md); refused on a stand-alone appliance.
    Cluster,
    /// No new sessions for a gateway of the cluster; it leaves after
    /// `steering.move_drain_s` (docs/cluster.md).
    DrainGateway {
        gateway: u32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub version: u32,
    pub request: Request,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Response {
    pub fn ok(data: serde_json::Value) -> Response {
        Response {
            version: VERSION,
            ok: true,
            error: None,
            data,
        }
    }

    pub fn err(msg: impl Into<String>) -> Response {
        Response {
            version: VERSION,
            ok: false,
            error: Some(msg.into()),
            data: serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json_lines() {
        let reqs = vec![
            Request::Status,
            Request::DrainServer {
                server: ServerRef {
                    service: "web".into(),
                    addr: "10.2.0.21".into(),
                    port: Some(8080),
                },
            },
            Request::UserSessions {
                session: Some("10.8.0.1".into()),
                server: None,
                limit: Some(10),
            },
        ];
        for r in reqs {
            let line = serde_json::to_string(&RequestEnvelope {
                version: VERSION,
                request: r.clone(),
            })
            .unwrap();
            assert!(!line.contains('\n'));
            let back: RequestEnvelope = serde_json::from_str(&line).unwrap();
            assert_eq!(back.request, r);
        }
        let drain: RequestEnvelope = serde_json::from_str(
            r#"{"version":1,"request":{"cmd":"drain_server","service":"web","addr":"10.2.0.21"}}"#,
        )
        .unwrap();
        assert!(matches!(drain.request, Request::DrainServer { .. }));
    }

    #[test]
    fn unknown_commands_and_fields_are_refused() {
        assert!(serde_json::from_str::<RequestEnvelope>(
            r#"{"version":1,"request":{"cmd":"explode"}}"#
        )
        .is_err());
        // Fields of a command with fields are checked.
        assert!(serde_json::from_str::<RequestEnvelope>(
            r#"{"version":1,"request":{"cmd":"delete_session","id":"x","typo":1}}"#
        )
        .is_err());
    }
}
