//! The command line of `tandem ctl`: one subcommand per control request,
//! with ipvsadm-like verbs (`server drain web 10.2.0.21`).
//!
//! Addresses and prefixes are checked here, so a typo is a usage error
//! before anything is sent to the appliance.

use crate::config::net::IpCidr;
use clap::{Args, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Where the appliance listens unless `--socket` or `TANDEM_SOCKET` says
/// otherwise.
pub const DEFAULT_SOCKET: &str = "/run/tandem/tandem.sock";

/// The environment variable naming the control socket.
pub const SOCKET_ENV: &str = "TANDEM_SOCKET";

/// `tandem ctl`: talk to a running appliance over its control socket.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The appliance's control socket [env: TANDEM_SOCKET] [default:
    /// /run/tandem/tandem.sock].
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,

    /// Print the answer's data as JSON (pretty) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub cmd: CtlCmd,
}

impl CtlArgs {
    /// The socket to use: `--socket`, else `TANDEM_SOCKET`, else the default.
    pub fn socket_path(&self) -> PathBuf {
        resolve_socket(self.socket.clone(), std::env::var_os(SOCKET_ENV))
    }
}

/// `--socket` wins over the environment; an empty variable counts as unset.
pub fn resolve_socket(flag: Option<PathBuf>, env: Option<OsString>) -> PathBuf {
    flag.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

#[derive(Debug, Subcommand)]
pub enum CtlCmd {
    /// Version, uptime, workers and counters in brief.
    Status,
    /// Ports with roles, MACs, link and DPDK statistics.
    Ports,
    /// Per-worker counters, drops by reason, port pools, ring occupancy.
    Workers,
    /// Ports and workers in one summary, with drops totalled by reason.
    Stats,
    /// Mobile sessions pinned to a gateway.
    Sessions,
    /// User sessions, optionally of one mobile session or one server.
    UserSessions(UserSessionsArgs),
    /// Services and their servers with live load (like `ipvsadm -Ln`).
    Services,
    /// Add, remove, drain, activate or tune a server.
    #[command(subcommand)]
    Server(ServerCmd),
    /// Add or remove a service.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Create, move or delete a mobile session's pinning.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Add or remove a subscriber policy.
    #[command(subcommand)]
    Subscriber(SubscriberCmd),
    /// Subscriber policies in force.
    Subscribers,
    /// User-session types: classification rules, server selection and timeouts.
    Types,
    /// Re-read the config file and apply what can change at run time.
    Reload,
    /// Usage quotas: used and remaining bytes and time, state, period end.
    Usage {
        /// Only this subscriber (its session ID, e.g. 10.1.0.5, teid:0x10).
        subscriber: Option<String>,
    },
    /// Grant more of a subscriber's quota, or reset it.
    #[command(subcommand)]
    Quota(QuotaCmd),
    /// Every metric in Prometheus text format.
    Metrics,
    /// Cluster members, leases, generation and table digests; a loud line
    /// when digests differ or etcd cannot be reached.
    Cluster,
    /// A gateway of the cluster.
    #[command(subcommand)]
    Gateway(GatewayCmd),
}

#[derive(Debug, Subcommand)]
pub enum QuotaCmd {
    /// More bytes and/or online seconds for the current period.
    Grant {
        /// The subscriber's session ID.
        subscriber: String,
        /// Bytes to add.
        #[arg(long, value_name = "N", default_value_t = 0)]
        bytes: u64,
        /// Online seconds to add.
        #[arg(long, value_name = "S", default_value_t = 0)]
        seconds: u64,
    },
    /// Start a fresh period now (usage back to zero).
    Reset {
        /// The subscriber's session ID.
        subscriber: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GatewayCmd {
    /// No new sessions there (it leaves Maglev everywhere, its pinned
    /// sessions move and drain); it leaves after steering.move_drain_s.
    Drain {
        /// The gateway ID (appliance_id × 100 + worker, see ctl cluster).
        id: u32,
    },
}

#[derive(Debug, Args)]
pub struct UserSessionsArgs {
    /// Only the user sessions of this mobile session (e.g. 10.1.0.5, teid:0x10).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Only the user sessions on this server (ADDR or ADDR:PORT).
    #[arg(long, value_name = "ADDR")]
    pub server: Option<String>,
    /// At most this many.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// A server as the operator names it: service, address, optional port.
#[derive(Debug, Args)]
pub struct ServerTarget {
    /// The service's name.
    pub service: String,
    /// The server's IPv4 or IPv6 address.
    pub addr: std::net::IpAddr,
    /// The server's port, when the service has this address more than once.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Add a server to a service.
    Add {
        #[command(flatten)]
        target: ServerTarget,
        /// Its weight (default: the service's default).
        #[arg(long, value_name = "W")]
        weight: Option<u32>,
    },
    /// Remove a server; its user sessions run on until they end.
    Remove {
        #[command(flatten)]
        target: ServerTarget,
    },
    /// No new user sessions on the server; existing ones run on.
    Drain {
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Back to active after drain or down.
    Activate {
        #[command(flatten)]
        target: ServerTarget,
    },
    /// Set a server's weight.
    Weight {
        #[command(flatten)]
        target: ServerTarget,
        /// The new weight.
        weight: u32,
    },
    /// Set the load a server or a monitoring system reports for it.
    Load {
        #[command(flatten)]
        target: ServerTarget,
        /// The reported load, added to its live user sessions when choosing.
        load: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Add a service reached at a VIP and port (or port range).
    Add {
        /// The service's name.
        name: String,
        /// Its virtual IPv4 address.
        #[arg(long, value_name = "IP")]
        vip: Ipv4Addr,
        #[arg(long, value_enum)]
        proto: Proto,
        /// Its port, or the first of a range.
        #[arg(long, value_name = "P", value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// The last port of a range.
        #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u16).range(1..))]
        port_end: Option<u16>,
    },
    /// Remove a service and its servers.
    Remove {
        /// The service's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Pin a mobile session to a gateway (chosen by tandem if not given).
    Create {
        /// The session ID (e.g. 10.1.0.5, teid:0x10).
        #[arg(long)]
        id: Option<String>,
        /// The gateway (worker) index.
        #[arg(long, value_name = "N")]
        gateway: Option<u32>,
    },
    /// Move a mobile session to another gateway.
    Move {
        /// The session ID.
        id: String,
        /// The new gateway (worker) index.
        gateway: u32,
    },
    /// Unpin a mobile session.
    Delete {
        /// The session ID.
        id: String,
    },
}

/// A subscriber is named either by its session ID or by a prefix of them.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SubscriberKey {
    /// One subscriber by session ID.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// The subscribers whose terminal addresses fall in this IPv4 prefix,
    /// or whose IPv6 session ID (prefix) falls in this IPv6 prefix.
    #[arg(long, value_name = "CIDR")]
    pub prefix: Option<IpCidr>,
}

#[derive(Debug, Subcommand)]
pub enum SubscriberCmd {
    /// Allow a subscriber (or prefix) some services, or all.
    Add {
        #[command(flatten)]
        key: SubscriberKey,
        /// A service it may use; repeat for several; none = all.
        #[arg(long = "service", value_name = "NAME")]
        services: Vec<String>,
        /// Its traffic may also go to external servers.
        #[arg(long)]
        external: bool,
    },
    /// Remove a subscriber policy.
    Remove {
        #[command(flatten)]
        key: SubscriberKey,
    },
}
