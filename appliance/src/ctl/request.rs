//! Turns a parsed `tandem ctl` verb into the control request to send and
//! the way its answer is to be shown.

use super::args::{
    CtlCmd, GatewayCmd, QuotaCmd, ServerCmd, ServerTarget, ServiceCmd, SessionCmd, SubscriberCmd,
    SubscriberKey,
};
use crate::api::protocol::{Request, ServerRef};

/// How the answer's `data` is shown to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// The whole `Stats`, in brief.
    Status,
    /// Ports and workers from the whole `Stats`.
    StatsSummary,
    Ports,
    Workers,
    Sessions,
    UserSessions,
    Services,
    Subscribers,
    Types,
    /// Usage quotas (`ctl usage`).
    Usage,
    /// Prometheus text, printed as it comes.
    Metrics,
    /// A change: one line saying what was done.
    Done(String),
    /// Cluster members and digests (`ctl cluster`).
    Cluster,
}

/// What one verb sends and how it shows the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub request: Request,
    pub view: View,
}

fn server_ref(t: &ServerTarget) -> ServerRef {
    ServerRef {
        service: t.service.clone(),
        addr: t.addr.to_string(),
        port: t.port,
    }
}

/// `10.2.0.21:8080 of web`, the way confirmations name a server.
fn server_name(t: &ServerTarget) -> String {
    match (t.port, t.addr) {
        (Some(p), std::net::IpAddr::V6(a)) => format!("server [{a}]:{p} of {}", t.service),
        (Some(p), a) => format!("server {a}:{p} of {}", t.service),
        (None, a) => format!("server {a} of {}", t.service),
    }
}

fn subscriber_key(k: &SubscriberKey) -> (Option<String>, Option<String>) {
    (k.session.clone(), k.prefix.map(|p| p.to_string()))
}

fn subscriber_name(k: &SubscriberKey) -> String {
    match (&k.session, &k.prefix) {
        (Some(s), _) => format!("subscriber session {s}"),
        (None, Some(p)) => format!("subscribers in {p}"),
        (None, None) => "subscriber".to_string(),
    }
}

fn plain(request: Request, view: View) -> Result<Plan, String> {
    Ok(Plan { request, view })
}

fn done(request: Request, what: String) -> Result<Plan, String> {
    Ok(Plan {
        request,
        view: View::Done(what),
    })
}

/// The request for a verb. An error is a usage error the parser could not
/// catch (e.g. a port range that ends before it starts).
pub fn plan(cmd: &CtlCmd) -> Result<Plan, String> {
    match cmd {
        CtlCmd::Status => plain(Request::Status, View::Status),
        CtlCmd::Stats => plain(Request::Status, View::StatsSummary),
        CtlCmd::Ports => plain(Request::Ports, View::Ports),
        CtlCmd::Workers => plain(Request::Workers, View::Workers),
        CtlCmd::Sessions => plain(Request::Sessions, View::Sessions),
        CtlCmd::UserSessions(a) => plain(
            Request::UserSessions {
                session: a.session.clone(),
                server: a.server.clone(),
                limit: a.limit,
            },
            View::UserSessions,
        ),
        CtlCmd::Services => plain(Request::Services, View::Services),
        CtlCmd::Subscribers => plain(Request::Subscribers, View::Subscribers),
        CtlCmd::Types => plain(Request::Types, View::Types),
        CtlCmd::Reload => done(Request::Reload, "config reloaded".to_string()),
        CtlCmd::Usage { subscriber } => plain(
            Request::Usage {
                subscriber: subscriber.clone(),
            },
            View::Usage,
        ),
        CtlCmd::Quota(QuotaCmd::Grant {
            subscriber,
            bytes,
            seconds,
        }) => done(
            Request::QuotaGrant {
                subscriber: subscriber.clone(),
                bytes: *bytes,
                seconds: *seconds,
            },
            format!("granted {bytes} bytes and {seconds} s to {subscriber}"),
        ),
        CtlCmd::Quota(QuotaCmd::Reset { subscriber }) => done(
            Request::QuotaReset {
                subscriber: subscriber.clone(),
            },
            format!("quota of {subscriber} reset"),
        ),
        CtlCmd::Metrics => plain(Request::Metrics, View::Metrics),
        CtlCmd::Cluster => plain(Request::Cluster, View::Cluster),
        CtlCmd::Gateway(GatewayCmd::Drain { id }) => done(
            Request::DrainGateway { gateway: *id },
            format!("gateway {id} draining"),
        ),
        CtlCmd::Server(s) => plan_server(s),
        CtlCmd::Service(s) => plan_service(s),
        CtlCmd::Session(s) => plan_session(s),
        CtlCmd::Subscriber(s) => plan_subscriber(s),
    }
}

fn plan_server(cmd: &ServerCmd) -> Result<Plan, String> {
    match cmd {
        ServerCmd::Add { target, weight } => {
            let what = match weight {
                Some(w) => format!("added {} with weight {w}", server_name(target)),
                None => format!("added {}", server_name(target)),
            };
            done(
                Request::AddServer {
                    server: server_ref(target),
                    weight: *weight,
                },
                what,
            )
        }
        ServerCmd::Remove { target } => done(
            Request::RemoveServer {
                server: server_ref(target),
            },
            format!("removed {}", server_name(target)),
        ),
        ServerCmd::Drain { target } => done(
            Request::DrainServer {
                server: server_ref(target),
            },
            format!(
                "{} is draining: no new user sessions, existing ones run on",
                server_name(target)
            ),
        ),
        ServerCmd::Activate { target } => done(
            Request::ActivateServer {
                server: server_ref(target),
            },
            format!("{} is active", server_name(target)),
        ),
        ServerCmd::Weight { target, weight } => done(
            Request::SetWeight {
                server: server_ref(target),
                weight: *weight,
            },
            format!("{} has weight {weight}", server_name(target)),
        ),
        ServerCmd::Load { target, load } => done(
            Request::SetLoad {
                server: server_ref(target),
                load: *load,
            },
            format!("{} reports load {load}", server_name(target)),
        ),
    }
}

fn plan_service(cmd: &ServiceCmd) -> Result<Plan, String> {
    match cmd {
        ServiceCmd::Add {
            name,
            vip,
            proto,
            port,
            port_end,
        } => {
            let ports = match port_end {
                Some(end) if end < port => {
                    return Err(format!(
                        "--port-end {end} is below --port {port}: a range runs from --port up to --port-end"
                    ))
                }
                Some(end) if end != port => format!("{port}-{end}"),
                _ => port.to_string(),
            };
            done(
                Request::AddService {
                    name: name.clone(),
                    vip: vip.to_string(),
                    proto: proto.as_str().to_string(),
                    port: *port,
                    port_end: *port_end,
                },
                format!("added service {name} at {vip}:{ports}/{}", proto.as_str()),
            )
        }
        ServiceCmd::Remove { name } => done(
            Request::RemoveService { name: name.clone() },
            format!("removed service {name}"),
        ),
    }
}

fn plan_session(cmd: &SessionCmd) -> Result<Plan, String> {
    match cmd {
        SessionCmd::Create { id, gateway } => done(
            Request::CreateSession {
                id: id.clone(),
                gateway: *gateway,
            },
            "created session".to_string(),
        ),
        SessionCmd::Move { id, gateway } => done(
            Request::MoveSession {
                id: id.clone(),
                gateway: *gateway,
            },
            format!("moved session {id} to gateway {gateway}"),
        ),
        SessionCmd::Delete { id } => done(
            Request::DeleteSession { id: id.clone() },
            format!("deleted session {id}"),
        ),
    }
}

fn plan_subscriber(cmd: &SubscriberCmd) -> Result<Plan, String> {
    match cmd {
        SubscriberCmd::Add {
            key,
            services,
            external,
        } => {
            let (session, prefix) = subscriber_key(key);
            let allowed = if services.is_empty() {
                "all services".to_string()
            } else {
                format!("services {}", services.join(", "))
            };
            let external_note = if *external {
                " and external servers"
            } else {
                ""
            };
            done(
                Request::AddSubscriber {
                    session,
                    prefix,
                    services: (!services.is_empty()).then(|| services.clone()),
                    external: *external,
                },
                format!("added {}: {allowed}{external_note}", subscriber_name(key)),
            )
        }
        SubscriberCmd::Remove { key } => {
            let (session, prefix) = subscriber_key(key);
            done(
                Request::RemoveSubscriber { session, prefix },
                format!("removed {}", subscriber_name(key)),
            )
        }
    }
}
