//! The control loop's side of a cluster (docs/cluster.md): applies the
//! views the etcd agent reads (gateways, API pins) to the session manager
//! and publishes the result as a steering snapshot, reports the digest of
//! the table it built, and sends the `ctl` changes that must be shared
//! (session create/move/delete, `ctl cluster`) to the agent instead of
//! applying them locally. Never blocks: the agent answers the caller.

use super::control::Control;
use crate::api::protocol::{Request, Response};
use crate::api::server::ApiCall;
use crate::cluster::agent::{Command, PinChange, Update};
use dataplane::tier1::{GatewayId, SessionId};
use tracing::{info, warn};

impl Control {
    /// Applies what the agent reported since the last round.
    pub(super) fn cluster_tick(&mut self, now_ms: u64) {
        let Some(link) = self.cluster.as_mut() else {
            return;
        };
        let mut latest = None;
        for update in link.handle.updates.try_iter() {
            match update {
                Update::View(v) => latest = Some(v),
                Update::Reachable(r) => link.reachable = r,
            }
        }
        let Some(view) = latest else {
            return;
        };
        let me = link.me.appliance_id;
        self.shared
            .publish_fabric(crate::cluster::fabric_peers(&view));
        let was = link.view.gateways.len();
        let same = link.view.same_inputs(&view);
        link.view = view;
        if same {
            // Only members, claims or digests moved: the table stands (and
            // the sessions are not walked again).
            return;
        }
        match crate::cluster::apply_view(
            &mut self.shared.manager,
            &link.view,
            me,
            now_ms,
            &mut link.draining,
        ) {
            Ok(true) => {
                let gateways = self.shared.manager.gateways().to_vec();
                info!(
                    gateways = gateways.len(),
                    before = was,
                    draining = ?link.draining,
                    generation = link.view.generation,
                    "cluster: gateway set changed"
                );
                if let Err(e) = self.shared.publish_gateways(&gateways, &link.draining) {
                    warn!("cluster: gateway set refused: {e}");
                }
            }
            Ok(false) => {}
            Err(e) => warn!("cluster: gateway set refused: {e}"),
        }
        link.report_digest(&self.shared.manager);
    }

    /// Sends a shared change to the agent; returns the call when it is not
    /// one (or this appliance is not in a cluster).
    pub(super) fn cluster_forward(&mut self, call: ApiCall) -> Option<ApiCall> {
        let Some(link) = self.cluster.as_ref() else {
            return Some(call);
        };
        let ApiCall { request, reply } = call;
        let command = match &request {
            Request::Cluster => Command::Status {
                reply: reply.clone(),
            },
            Request::CreateSession { id, gateway } => {
                let Some(id) = id else {
                    let _ = reply.send(Response::err(
                        "in a cluster a session is created with its ID (e.g. session create --id 10.8.0.5): \
                         IDs must be the same on every appliance",
                    ));
                    return None;
                };
                let sid = match self.cluster_session(id) {
                    Ok(s) => s,
                    Err(e) => return refuse(&reply, e),
                };
                let gw = match gateway {
                    Some(g) => self.cluster_gateway(*g),
                    None => self
                        .shared
                        .steering
                        .current()
                        .maglev_choice(sid)
                        .ok_or_else(|| "no gateway is live in the cluster".to_string()),
                };
                match gw {
                    Ok(g) => Command::Pin {
                        session: sid,
                        change: PinChange::Create(g),
                        reply: reply.clone(),
                    },
                    Err(e) => return refuse(&reply, e),
                }
            }
            Request::MoveSession { id, gateway } => {
                match (self.cluster_session(id), self.cluster_gateway(*gateway)) {
                    (Ok(sid), Ok(g)) => Command::Pin {
                        session: sid,
                        change: PinChange::Move(g),
                        reply: reply.clone(),
                    },
                    (Err(e), _) | (_, Err(e)) => return refuse(&reply, e),
                }
            }
            Request::DeleteSession { id } => match self.cluster_session(id) {
                Ok(sid) => Command::Pin {
                    session: sid,
                    change: PinChange::Delete,
                    reply: reply.clone(),
                },
                Err(e) => return refuse(&reply, e),
            },
            Request::DrainGateway { gateway } => match self.cluster_gateway(*gateway) {
                Ok(g)
                    if self
                        .cluster
                        .as_ref()
                        .is_some_and(|l| l.draining.contains(&g)) =>
                {
                    return refuse(&reply, format!("gateway {g} is draining already"))
                }
                Ok(g) => Command::Drain {
                    gateway: g,
                    reply: reply.clone(),
                },
                Err(e) => return refuse(&reply, e),
            },
            _ => return Some(ApiCall { request, reply }),
        };
        if link.handle.commands.send(command).is_err() {
            let _ = reply.send(Response::err(
                "the cluster agent has stopped; nothing was changed",
            ));
        }
        None
    }

    fn cluster_session(&self, id: &str) -> Result<SessionId, String> {
        id.parse().map_err(|_| {
            format!(
                "'{id}' is not a session ID (e.g. 10.8.0.5, 10.8.0.5@vlan100, teid:0x10, id:42)"
            )
        })
    }

    /// A gateway that is live in the cluster now.
    fn cluster_gateway(&self, g: u32) -> Result<GatewayId, String> {
        let gateways = self.shared.manager.gateways();
        if gateways.iter().any(|x| x.id.0 == g) {
            return Ok(GatewayId(g));
        }
        let live: Vec<String> = gateways.iter().map(|x| x.id.0.to_string()).collect();
        Err(format!(
            "gateway {g} is not live in the cluster; live gateways: {}",
            if live.is_empty() {
                "none".to_string()
            } else {
                live.join(", ")
            }
        ))
    }
}

fn refuse(reply: &crossbeam::channel::Sender<Response>, e: String) -> Option<ApiCall> {
    let _ = reply.send(Response::err(e));
    None
}
