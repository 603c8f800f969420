//! The etcd client of one appliance: its own thread with a current-thread
//! tokio runtime, on the control core, never on a worker.
//!
//! It joins the cluster (steering parameters, lease, member and gateway
//! keys, SNAT address claims), keeps the lease alive, watches the cluster's
//! prefix and hands every new [`View`] to the control loop, writes the
//! table digest the control loop reports, and carries out the `ctl`
//! changes that must be shared (API pins). When etcd cannot be reached the
//! appliance keeps its last view (forwarding goes on with the last table)
//! and refuses shared changes; when etcd returns it rejoins (a new lease if
//! the old one expired) and reads everything afresh.
//!
//! It talks to one etcd endpoint at a time and fails over to the next
//! that accepts a connection when that one stops answering: etcd-client's
//! balanced channel keeps sending some requests to a member that is down,
//! which made one stopped member of three look like losing etcd.

use super::keys::{self, Claim, Digest, Drain, Member, Params, Pin};
use super::view::{self, Kv, View};
use crate::api::protocol::Response;
use dataplane::tier1::{GatewayId, SessionId};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, LeaseKeepAliveStream, LeaseKeeper,
    PutOptions, Txn, TxnOp, WatchOptions, WatchStream,
};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;
use tracing::{error, info, warn};

/// Who this appliance is in the cluster, from its config.
#[derive(Debug, Clone)]
pub struct Me {
    pub cluster: String,
    pub appliance_id: u32,
    pub etcd: Vec<String>,
    pub lease_ttl_s: u64,
    pub timeout: Duration,
    pub fabric_addr: Ipv4Addr,
    pub fabric_base_port: u16,
    pub tier1: bool,
    /// Workers offered as gateways (0 for a tier-1 unit only).
    pub gateways: u16,
    /// Gateway (SNAT) addresses to claim (empty for a tier-1 unit only).
    pub gateway_addresses: Vec<Ipv4Addr>,
    pub max_gateways: u32,
    /// How long a drained gateway stays for its open user sessions
    /// (`steering.move_drain_s`) before it leaves.
    pub drain_s: u64,
}

/// A `ctl` change that goes through etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinChange {
    /// Create the pin; refused if the session is pinned already.
    Create(GatewayId),
    /// Pin it there, whatever it was.
    Move(GatewayId),
    Delete,
}

/// What the control loop asks of the agent.
pub enum Command {
    Pin {
        session: SessionId,
        change: PinChange,
        reply: crossbeam::channel::Sender<Response>,
    },
    /// `ctl cluster`.
    Status {
        reply: crossbeam::channel::Sender<Response>,
    },
    /// The digest of the table the control loop built last.
    Digest(Digest),
    /// `ctl gateway drain`.
    Drain {
        gateway: GatewayId,
        reply: crossbeam::channel::Sender<Response>,
    },
}

/// What the agent tells the control loop.
#[derive(Debug, Clone)]
pub enum Update {
    View(View),
    Reachable(bool),
}

/// The control loop's end of the agent.
pub struct Handle {
    pub commands: tokio::sync::mpsc::UnboundedSender<Command>,
    pub updates: crossbeam::channel::Receiver<Update>,
    /// The view read while joining (the first table is built from it).
    pub initial: View,
    pub params: Params,
    /// Says when the agent has given its lease back (see `leave`).
    left: crossbeam::channel::Receiver<()>,
    timeout: Duration,
}

impl Handle {
    /// Stops the agent, which gives the lease back so the other appliances
    /// drop this one at once; waits for that at most twice the etcd timeout.
    pub fn leave(self) {
        let Handle {
            commands,
            left,
            timeout,
            ..
        } = self;
        drop(commands);
        if left.recv_timeout(timeout * 2).is_ok() {
            info!("cluster: left (lease given back)");
        }
    }
}

/// Starts the agent and waits until it has joined the cluster. An error
/// (etcd unreachable, parameters that differ, an address claimed by
/// another appliance) means the appliance must not start.
pub fn start(me: Me) -> Result<Handle, String> {
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
    let (upd_tx, upd_rx) = crossbeam::channel::unbounded();
    let (joined_tx, joined_rx) = crossbeam::channel::bounded(1);
    let (left_tx, left_rx) = crossbeam::channel::bounded(1);
    let timeout = me.timeout;
    let wait = JOIN_RETRY + me.timeout * 8 + Duration::from_secs(2);
    std::thread::Builder::new()
        .name("tandem-cluster".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = joined_tx.send(Err(format!("cluster: no tokio runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                // etcd may be starting too: retry while it cannot be
                // reached, never when it answered no.
                let deadline = tokio::time::Instant::now() + JOIN_RETRY;
                let mut agent = loop {
                    match Agent::join(me.clone()).await {
                        Ok(agent) => break agent,
                        Err(e)
                            if e.contains(UNREACHABLE)
                                && tokio::time::Instant::now() < deadline =>
                        {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => {
                            let _ = joined_tx
                                .send(Err(format!("cluster \"{}\": cannot join: {e}", me.cluster)));
                            return;
                        }
                    }
                };
                let params = agent.params;
                if joined_tx.send(Ok((agent.view.clone(), params))).is_err() {
                    return;
                }
                agent.run(cmd_rx, upd_tx).await;
                let _ = left_tx.send(());
            });
        })
        .map_err(|e| format!("cluster: cannot start its thread: {e}"))?;
    match joined_rx.recv_timeout(wait) {
        Ok(Ok((initial, params))) => Ok(Handle {
            commands: cmd_tx,
            updates: upd_rx,
            initial,
            params,
            left: left_rx,
            timeout,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "cluster: joining took longer than {} s; is etcd reachable?",
            wait.as_secs()
        )),
    }
}

struct Agent {
    me: Me,
    client: Client,
    /// The index in `me.etcd` of the endpoint `client` talks to.
    endpoint: usize,
    params: Params,
    lease: i64,
    keeper: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    watch: Option<WatchStream>,
    view: View,
    reachable: bool,
    /// The digest to publish, and whether etcd has it.
    digest: Option<Digest>,
    digest_written: bool,
    /// Own gateways draining, since when this agent saw it.
    drains_seen: HashMap<u32, std::time::Instant>,
    /// Own gateways that drained and left: never registered again by this
    /// process.
    left: BTreeSet<u32>,
    /// Whether the member, gateway and claim keys are in etcd under the
    /// current lease (false after a refused claim: retried every tick).
    registered: bool,
    /// Why joining again was refused (an address claimed by another
    /// appliance while etcd was away): shown by `ctl cluster`.
    problem: Option<String>,
}

/// How long a starting appliance retries while etcd cannot be reached.
const JOIN_RETRY: Duration = Duration::from_secs(5);

const UNREACHABLE: &str = "etcd unreachable";

fn unreachable(e: impl std::fmt::Display) -> String {
    format!("{UNREACHABLE} ({e})")
}

impl Agent {
    /// Runs `f` within the etcd timeout.
    async fn timed<T, E: std::fmt::Display>(
        timeout: Duration,
        f: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(unreachable(e)),
            Err(_) => Err(unreachable(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    /// A client of endpoint `i` of `me.etcd` alone.
    async fn connect(me: &Me, i: usize) -> Result<Client, String> {
        let opts = ConnectOptions::new()
            .with_connect_timeout(me.timeout)
            .with_timeout(me.timeout);
        let endpoint = me.etcd.get(i).map(String::as_str).unwrap_or_default();
        Self::timed(me.timeout, Client::connect([endpoint], Some(opts))).await
    }

    /// Whether `url` (`http://host:port`) accepts a TCP connection now;
    /// a member that is down refuses at once, where a request to it would
    /// wait for the etcd timeout.
    async fn accepts(url: &str, timeout: Duration) -> bool {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let hostport = rest.split('/').next().unwrap_or(rest);
        let limit = timeout.min(Duration::from_millis(300));
        matches!(
            tokio::time::timeout(limit, tokio::net::TcpStream::connect(hostport)).await,
            Ok(Ok(_))
        )
    }

    /// The first endpoint from `from` on (cyclically) that accepts a
    /// connection, or `from` itself when none does.
    async fn pick_endpoint(me: &Me, from: usize) -> usize {
        let n = me.etcd.len().max(1);
        for step in 0..n {
            let i = (from + step) % n;
            if let Some(url) = me.etcd.get(i) {
                if Self::accepts(url, me.timeout).await {
                    return i;
                }
            }
        }
        from % n
    }

    /// Moves to the next endpoint that accepts a connection (with more
    /// than one configured); true when the client changed.
    async fn fail_over(&mut self) -> bool {
        let n = self.me.etcd.len();
        if n < 2 {
            return false;
        }
        let i = Self::pick_endpoint(&self.me, self.endpoint + 1).await;
        match Self::connect(&self.me, i).await {
            Ok(client) => {
                if i != self.endpoint {
                    info!(endpoint = %self.me.etcd[i], "cluster: etcd endpoint");
                }
                self.client = client;
                self.endpoint = i;
                self.watch = None;
                self.keeper = None;
                true
            }
            Err(_) => false,
        }
    }

    async fn join(me: Me) -> Result<Agent, String> {
        let endpoint = Self::pick_endpoint(&me, 0).await;
        let client = Self::connect(&me, endpoint).await?;
        let mut agent = Agent {
            params: Params {
                max_gateways: me.max_gateways,
                seed: 0,
            },
            me,
            client,
            endpoint,
            lease: 0,
            keeper: None,
            watch: None,
            view: View::default(),
            reachable: true,
            digest: None,
            digest_written: false,
            drains_seen: HashMap::new(),
            left: BTreeSet::new(),
            registered: false,
            problem: None,
        };
        agent.params = agent.agree_params().await?;
        agent.register().await?;
        // A fresh start brings this appliance's gateways back into service:
        // drains asked of a previous run are over.
        for (gid, _) in view::own_gateways(
            agent.me.appliance_id,
            agent.me.gateways,
            agent.me.fabric_addr,
            agent.me.fabric_base_port,
        ) {
            let key = keys::drain(&agent.me.cluster, gid.0);
            Self::timed(agent.me.timeout, agent.client.delete(key, None)).await?;
        }
        agent.refresh().await?;
        Ok(agent)
    }

    /// Creates the steering parameters if nobody has, else reads them; a
    /// maximum that differs from this appliance's config is refused (the
    /// Maglev tables would differ).
    async fn agree_params(&mut self) -> Result<Params, String> {
        let key = keys::params(&self.me.cluster);
        let mine = Params {
            max_gateways: self.me.max_gateways,
            seed: random_seed(),
        };
        let value = serde_json::to_vec(&mine).map_err(|e| e.to_string())?;
        let txn = Txn::new()
            .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.clone(), value, None)])
            .or_else([TxnOp::get(key.clone(), None)]);
        let t = self.me.timeout;
        let resp = Self::timed(t, self.client.txn(txn)).await?;
        if resp.succeeded() {
            info!(cluster = %self.me.cluster, max_gateways = mine.max_gateways, seed = mine.seed, "cluster: steering parameters created");
            return Ok(mine);
        }
        let mut got = Self::timed(t, self.client.get(key.clone(), None)).await?;
        let kvs = got.take_kvs();
        let theirs: Params = kvs
            .first()
            .and_then(|kv| serde_json::from_slice(kv.value()).ok())
            .ok_or_else(|| format!("{key} holds something that is not steering parameters"))?;
        if theirs.max_gateways != mine.max_gateways {
            return Err(format!(
                "the cluster sizes its Maglev tables for max_gateways {} but this config says {}; \
                 every appliance must use the same value",
                theirs.max_gateways, mine.max_gateways
            ));
        }
        Ok(theirs)
    }

    /// Grants a lease and puts this appliance's keys under it: address
    /// claims first (refused if another appliance holds one), then the
    /// member, its gateways and its digest.
    async fn register(&mut self) -> Result<(), String> {
        let t = self.me.timeout;
        let ttl = i64::try_from(self.me.lease_ttl_s).unwrap_or(3);
        self.registered = false;
        if self.lease != 0 {
            // A lease left from a refused attempt: give it back.
            let _ = Self::timed(t, self.client.lease_revoke(self.lease)).await;
        }
        let grant = Self::timed(t, self.client.lease_grant(ttl, None)).await?;
        self.lease = grant.id();
        self.keeper = None;
        let lease = Some(PutOptions::new().with_lease(self.lease));
        let c = self.me.cluster.clone();
        let id = self.me.appliance_id;
        for addr in self.me.gateway_addresses.clone() {
            let key = keys::claim(&c, addr);
            let value =
                serde_json::to_vec(&Claim { appliance_id: id }).map_err(|e| e.to_string())?;
            let txn = Txn::new()
                .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key.clone(), value.clone(), lease.clone())])
                .or_else([TxnOp::get(key.clone(), None)]);
            if Self::timed(t, self.client.txn(txn)).await?.succeeded() {
                continue;
            }
            let mut got = Self::timed(t, self.client.get(key.clone(), None)).await?;
            let owner = got
                .take_kvs()
                .first()
                .and_then(|kv| serde_json::from_slice::<Claim>(kv.value()).ok());
            match owner {
                // Ours from before a restart: take it under the new lease.
                Some(Claim { appliance_id }) if appliance_id == id => {
                    Self::timed(t, self.client.put(key, value, lease.clone())).await?;
                }
                Some(Claim { appliance_id }) => {
                    return Err(format!(
                        "gateway address {addr} is claimed by appliance {appliance_id}; \
                         refusing to translate to it (two gateways must never share an address)"
                    ));
                }
                None => return Err(format!("{key} holds something that is not a claim")),
            }
        }
        let member = Member {
            appliance_id: id,
            fabric_addr: self.me.fabric_addr,
            fabric_base_port: self.me.fabric_base_port,
            tier1: self.me.tier1,
            gateways: u32::from(self.me.gateways),
            lease: self.lease,
            lease_ttl_s: self.me.lease_ttl_s,
        };
        let mut ops = vec![TxnOp::put(
            keys::member(&c, id),
            serde_json::to_vec(&member).map_err(|e| e.to_string())?,
            lease.clone(),
        )];
        for (gid, rec) in view::own_gateways(
            id,
            self.me.gateways,
            self.me.fabric_addr,
            self.me.fabric_base_port,
        ) {
            if self.left.contains(&gid.0) {
                continue;
            }
            ops.push(TxnOp::put(
                keys::gateway(&c, gid.0),
                serde_json::to_vec(&rec).map_err(|e| e.to_string())?,
                lease.clone(),
            ));
        }
        Self::timed(t, self.client.txn(Txn::new().and_then(ops))).await?;
        self.digest_written = false;
        self.registered = true;
        self.problem = None;
        info!(
            cluster = %c,
            appliance = id,
            lease = self.lease,
            gateways = self.me.gateways,
            tier1 = self.me.tier1,
            "cluster: joined"
        );
        Ok(())
    }

    /// Reads everything under the prefix into a new view.
    async fn refresh(&mut self) -> Result<bool, String> {
        let t = self.me.timeout;
        let mut resp = Self::timed(
            t,
            self.client.get(
                keys::root(&self.me.cluster),
                Some(GetOptions::new().with_prefix()),
            ),
        )
        .await?;
        let kvs: Vec<Kv> = resp
            .take_kvs()
            .into_iter()
            .map(|kv| Kv {
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                value: kv.value().to_vec(),
                mod_revision: kv.mod_revision(),
            })
            .collect();
        let next = View::from_kvs(&self.me.cluster, &kvs);
        let changed = next != self.view;
        self.view = next;
        Ok(changed)
    }

    async fn keep_alive(&mut self) -> Result<(), String> {
        let t = self.me.timeout;
        if self.keeper.is_none() {
            let pair = Self::timed(t, self.client.lease_keep_alive(self.lease)).await?;
            self.keeper = Some(pair);
        }
        let Some((keeper, stream)) = self.keeper.as_mut() else {
            return Err(unreachable("no keepalive stream"));
        };
        let sent = Self::timed(t, keeper.keep_alive()).await;
        let answer = match sent {
            Ok(()) => Self::timed(t, stream.message()).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(Some(r)) if r.ttl() > 0 => Ok(()),
            Ok(Some(_)) => {
                // The lease expired while etcd could not be reached: join
                // again with a new one.
                warn!(lease = self.lease, "cluster: lease expired; joining again");
                self.register().await
            }
            Ok(None) => {
                self.keeper = None;
                Err(unreachable("keepalive stream closed"))
            }
            Err(e) => {
                self.keeper = None;
                Err(e)
            }
        }
    }

    async fn write_digest(&mut self) -> Result<(), String> {
        let Some(d) = &self.digest else {
            return Ok(());
        };
        if self.digest_written {
            return Ok(());
        }
        let value = serde_json::to_vec(d).map_err(|e| e.to_string())?;
        let key = keys::digest(&self.me.cluster, self.me.appliance_id);
        let opts = Some(PutOptions::new().with_lease(self.lease));
        Self::timed(self.me.timeout, self.client.put(key, value, opts)).await?;
        self.digest_written = true;
        Ok(())
    }

    async fn start_watch(&mut self) -> Result<(), String> {
        let stream = Self::timed(
            self.me.timeout,
            self.client.watch(
                keys::root(&self.me.cluster),
                Some(WatchOptions::new().with_prefix()),
            ),
        )
        .await?;
        self.watch = Some(stream);
        Ok(())
    }

    /// Housekeeping every tick: lease, watch, digest; a failure marks etcd
    /// unreachable until one succeeds.
    async fn housekeeping(&mut self, upd: &crossbeam::channel::Sender<Update>) {
        if !self.reachable {
            self.fail_over().await;
        }
        let mut result = if self.registered {
            self.keep_alive().await
        } else {
            self.register().await
        };
        // etcd answered, but no: another appliance claimed one of this
        // one's gateway addresses while it was away. It stays out of the
        // cluster (its gateways are in no table) and says so, loudly.
        if let Err(e) = &result {
            if !e.contains(UNREACHABLE) {
                if self.problem.as_ref() != Some(e) {
                    error!("cluster: cannot join again: {e}; this appliance's gateways are out of the cluster until it can");
                    self.problem = Some(e.clone());
                }
                result = Ok(());
            }
        }
        if result.is_ok() && self.watch.is_none() {
            result = self.start_watch().await;
            if result.is_ok() {
                // Whatever changed while nobody watched.
                result = self.refresh().await.map(|_| {
                    let _ = upd.send(Update::View(self.view.clone()));
                });
            }
        }
        if result.is_ok() {
            result = self.write_digest().await;
        }
        if result.is_ok() {
            result = self.leave_drained().await;
        }
        self.set_reachable(result, upd);
    }

    /// Own gateways drained for `drain_s` leave: their gateway and drain
    /// keys go in one transaction, so every appliance drops them at once.
    async fn leave_drained(&mut self) -> Result<(), String> {
        let me = self.me.appliance_id;
        let mine: Vec<u32> = self
            .view
            .drains
            .iter()
            .copied()
            .filter(|g| {
                self.view
                    .gateways
                    .get(g)
                    .is_some_and(|r| r.appliance_id == me)
            })
            .collect();
        self.drains_seen.retain(|g, _| mine.contains(g));
        let now = std::time::Instant::now();
        for g in mine {
            let since = *self.drains_seen.entry(g).or_insert(now);
            if now.duration_since(since) < Duration::from_secs(self.me.drain_s) {
                continue;
            }
            let c = &self.me.cluster;
            let txn = Txn::new().and_then([
                TxnOp::delete(keys::gateway(c, g), None),
                TxnOp::delete(keys::drain(c, g), None),
            ]);
            Self::timed(self.me.timeout, self.client.txn(txn)).await?;
            self.left.insert(g);
            self.drains_seen.remove(&g);
            info!(
                gateway = g,
                "cluster: gateway drained; it leaves the cluster"
            );
        }
        Ok(())
    }

    fn set_reachable(
        &mut self,
        result: Result<(), String>,
        upd: &crossbeam::channel::Sender<Update>,
    ) {
        match result {
            Ok(()) if !self.reachable => {
                info!("cluster: etcd reachable again");
                self.reachable = true;
                let _ = upd.send(Update::Reachable(true));
            }
            Err(e) if self.reachable => {
                error!("cluster: {e}; forwarding goes on with the last table, shared changes are refused");
                self.reachable = false;
                self.watch = None;
                self.keeper = None;
                let _ = upd.send(Update::Reachable(false));
            }
            Err(_) => {
                self.watch = None;
                self.keeper = None;
            }
            Ok(()) => {}
        }
    }

    async fn run(
        &mut self,
        mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
        upd: crossbeam::channel::Sender<Update>,
    ) {
        let _ = upd.send(Update::View(self.view.clone()));
        let _ = upd.send(Update::Reachable(true));
        // Keepalives three times per lease, and at least every 500 ms so a
        // lost etcd is noticed quickly.
        let period = Duration::from_millis((self.me.lease_ttl_s * 1000 / 3).clamp(100, 500));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Commands first: while etcd is unreachable every tick is due
            // at once, and a fair pick let `ctl` wait several housekeeping
            // passes (each up to a few etcd timeouts) and give up.
            tokio::select! {
                biased;
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.command(cmd, &upd).await;
                }
                _ = tick.tick() => self.housekeeping(&upd).await,
                msg = next_watch(&mut self.watch) => {
                    let result = match msg {
                        Ok(Some(_)) => self.refresh().await.map(|changed| {
                            if changed {
                                let _ = upd.send(Update::View(self.view.clone()));
                            }
                        }),
                        Ok(None) => Err(unreachable("watch closed")),
                        Err(e) => Err(e),
                    };
                    self.set_reachable(result, &upd);
                }
            }
        }
        // Leaving on purpose: give the lease back so the others see it now.
        let _ = Self::timed(self.me.timeout, self.client.lease_revoke(self.lease)).await;
    }

    async fn command(&mut self, cmd: Command, upd: &crossbeam::channel::Sender<Update>) {
        match cmd {
            Command::Digest(d) => {
                if self.digest != Some(d.clone()) {
                    self.digest = Some(d);
                    self.digest_written = false;
                    if self.reachable {
                        let r = self.write_digest().await;
                        self.set_reachable(r, upd);
                    }
                }
            }
            Command::Pin {
                session,
                change,
                reply,
            } => {
                let t0 = std::time::Instant::now();
                let mut r = self.pin(session, change).await;
                // Refused at once (the member is down, not slow): once more
                // through another member.
                if matches!(r, Err(PinError::Etcd(_)))
                    && t0.elapsed() < self.me.timeout
                    && self.fail_over().await
                {
                    r = self.pin(session, change).await;
                }
                let answer = match r {
                    Ok(msg) => Response::ok(serde_json::json!({ "message": msg })),
                    Err(PinError::Refused(msg)) => Response::err(msg),
                    Err(PinError::Etcd(e)) => {
                        self.set_reachable(Err(e.clone()), upd);
                        Response::err(format!(
                            "{e}: session {session} was not changed (cluster changes need etcd); \
                             forwarding goes on with the last table"
                        ))
                    }
                };
                let _ = reply.send(answer);
            }
            Command::Drain { gateway, reply } => {
                let c = &self.me.cluster;
                let key = keys::drain(c, gateway.0);
                let value = serde_json::to_vec(&Drain {
                    requested_by: self.me.appliance_id,
                })
                .unwrap_or_default();
                let txn = Txn::new()
                    .when([
                        Compare::version(keys::gateway(c, gateway.0), CompareOp::Greater, 0),
                        Compare::version(key.clone(), CompareOp::Equal, 0),
                    ])
                    .and_then([TxnOp::put(key, value, None)]);
                let answer = match Self::timed(self.me.timeout, self.client.txn(txn)).await {
                    Ok(r) if r.succeeded() => Response::ok(serde_json::json!({
                        "message": format!(
                            "gateway {gateway} draining: no new sessions there on any appliance; \
                             its pinned sessions move and their open user sessions finish there; \
                             it leaves in {} s",
                            self.me.drain_s
                        )
                    })),
                    Ok(_) => Response::err(format!(
                        "gateway {gateway} is not live in the cluster or is draining already"
                    )),
                    Err(e) => {
                        self.set_reachable(Err(e.clone()), upd);
                        Response::err(format!(
                            "{e}: gateway {gateway} was not drained (cluster changes need etcd)"
                        ))
                    }
                };
                let _ = reply.send(answer);
            }
            Command::Status { reply } => {
                let status = self.status(upd).await;
                let _ = reply.send(Response::ok(status));
            }
        }
    }

    async fn pin(&mut self, session: SessionId, change: PinChange) -> Result<String, PinError> {
        let t = self.me.timeout;
        let key = keys::pin(&self.me.cluster, &session.to_string());
        let put = |g: GatewayId| serde_json::to_vec(&Pin { gateway: g.0 }).unwrap_or_default();
        match change {
            PinChange::Create(g) => {
                let txn = Txn::new()
                    .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key, put(g), None)]);
                let r = Self::timed(t, self.client.txn(txn))
                    .await
                    .map_err(PinError::Etcd)?;
                if !r.succeeded() {
                    return Err(PinError::Refused(format!(
                        "session {session} is already pinned in the cluster; use session move"
                    )));
                }
                Ok(format!(
                    "session {session} created on gateway {g} (cluster-wide)"
                ))
            }
            PinChange::Move(g) => {
                Self::timed(t, self.client.put(key, put(g), None))
                    .await
                    .map_err(PinError::Etcd)?;
                Ok(format!(
                    "session {session} pinned to gateway {g} on every appliance; \
                     open user sessions stay where they are for steering.move_drain_s"
                ))
            }
            PinChange::Delete => {
                let r = Self::timed(t, self.client.delete(key, None))
                    .await
                    .map_err(PinError::Etcd)?;
                if r.deleted() == 0 {
                    return Err(PinError::Refused(format!(
                        "session {session} has no cluster pin"
                    )));
                }
                Ok(format!(
                    "session {session} deleted on every appliance; its user sessions expire normally"
                ))
            }
        }
    }

    /// `ctl cluster`: members with their lease's time left, digests, and
    /// whether they agree.
    async fn status(&mut self, upd: &crossbeam::channel::Sender<Update>) -> serde_json::Value {
        if self.reachable {
            // Fresh digests; the watch reports input changes itself.
            let r = self.refresh().await.map(|changed| {
                if changed {
                    let _ = upd.send(Update::View(self.view.clone()));
                }
            });
            self.set_reachable(r, upd);
        }
        // Asked while unreachable: no attempt here. The tick tries again
        // within 500 ms; trying here too made `ctl` wait for two etcd
        // timeouts in a row when etcd had no quorum (requests hang rather
        // than fail) and give up after 5 s.
        let mut members = Vec::new();
        for (id, m) in self.view.members.clone() {
            let ttl = if self.reachable {
                Self::timed(
                    self.me.timeout,
                    self.client.lease_time_to_live(m.lease, None),
                )
                .await
                .ok()
                .map(|r| r.ttl())
            } else {
                None
            };
            let digest = self.view.digests.get(&id);
            members.push(serde_json::json!({
                "appliance_id": id,
                "fabric": format!("{}:{}", m.fabric_addr, m.fabric_base_port),
                "tier1": m.tier1,
                "gateways": m.gateways,
                "lease": format!("{:x}", m.lease),
                "lease_ttl_s": m.lease_ttl_s,
                "lease_left_s": ttl,
                "generation": digest.map(|d| d.generation),
                "digest": digest.map(|d| d.hash.clone()),
                "me": id == self.me.appliance_id,
            }));
        }
        serde_json::json!({
            "cluster": self.me.cluster,
            "appliance_id": self.me.appliance_id,
            "etcd_reachable": self.reachable,
            "etcd": self.me.etcd,
            "max_gateways": self.params.max_gateways,
            "seed": format!("{:016x}", self.params.seed),
            "generation": self.view.generation,
            "gateways": self.view.gateways.len(),
            "pins": self.view.pins.len(),
            "draining": view::draining(&self.view).iter().map(|g| g.0).collect::<Vec<_>>(),
            "members": members,
            "digest_mismatch": self.view.digest_mismatch(),
            "problem": self.problem,
        })
    }
}

enum PinError {
    /// etcd answered no (nothing changed).
    Refused(String),
    /// etcd could not be asked.
    Etcd(String),
}

/// A seed nobody can guess from outside: std's per-process random hasher
/// keys, mixed with the time.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The next watch message, or never when there is no watch.
async fn next_watch(
    watch: &mut Option<WatchStream>,
) -> Result<Option<etcd_client::WatchResponse>, String> {
    match watch {
        Some(w) => w.message().await.map_err(unreachable),
        None => std::future::pending().await,
    }
}
