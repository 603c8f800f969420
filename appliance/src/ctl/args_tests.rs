//! Every verb parses as documented and becomes exactly the request the
//! appliance expects; bad usage is refused before anything is sent.

use super::args::{resolve_socket, DEFAULT_SOCKET};
use super::request::{plan, View};
use super::test_support::parse;
use crate::api::protocol::{Request, ServerRef};
use std::ffi::OsString;
use std::path::PathBuf;

fn request(line: &str) -> Request {
    let args = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    plan(&args.cmd)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .request
}

fn view(line: &str) -> View {
    plan(&parse(line).unwrap().cmd).unwrap().view
}

fn web(addr: &str, port: Option<u16>) -> ServerRef {
    ServerRef {
        service: "web".into(),
        addr: addr.into(),
        port,
    }
}

#[test]
fn read_only_verbs_map_to_their_requests_and_views() {
    assert_eq!(request("ctl status"), Request::Status);
    assert_eq!(view("ctl status"), View::Status);
    assert_eq!(request("ctl stats"), Request::Status);
    assert_eq!(view("ctl stats"), View::StatsSummary);
    assert_eq!(request("ctl ports"), Request::Ports);
    assert_eq!(view("ctl ports"), View::Ports);
    assert_eq!(request("ctl workers"), Request::Workers);
    assert_eq!(view("ctl workers"), View::Workers);
    assert_eq!(request("ctl sessions"), Request::Sessions);
    assert_eq!(view("ctl sessions"), View::Sessions);
    assert_eq!(request("ctl services"), Request::Services);
    assert_eq!(view("ctl services"), View::Services);
    assert_eq!(request("ctl subscribers"), Request::Subscribers);
    assert_eq!(view("ctl subscribers"), View::Subscribers);
    assert_eq!(request("ctl types"), Request::Types);
    assert_eq!(view("ctl types"), View::Types);
    assert_eq!(request("ctl metrics"), Request::Metrics);
    assert_eq!(view("ctl metrics"), View::Metrics);
    assert_eq!(request("ctl reload"), Request::Reload);
    assert!(matches!(view("ctl reload"), View::Done(_)));
}

#[test]
fn user_sessions_filters() {
    assert_eq!(
        request("ctl user-sessions"),
        Request::UserSessions {
            session: None,
            server: None,
            limit: None
        }
    );
    assert_eq!(
        request("ctl user-sessions --session teid:0x10 --server 10.2.0.21:8080 --limit 50"),
        Request::UserSessions {
            session: Some("teid:0x10".into()),
            server: Some("10.2.0.21:8080".into()),
            limit: Some(50),
        }
    );
    assert!(parse("ctl user-sessions --limit many").is_err());
}

#[test]
fn server_verbs() {
    assert_eq!(
        request("ctl server add web 10.2.0.21 --port 8080 --weight 3"),
        Request::AddServer {
            server: web("10.2.0.21", Some(8080)),
            weight: Some(3)
        }
    );
    assert_eq!(
        request("ctl server add web 10.2.0.21"),
        Request::AddServer {
            server: web("10.2.0.21", None),
            weight: None
        }
    );
    assert_eq!(
        request("ctl server remove web 10.2.0.21"),
        Request::RemoveServer {
            server: web("10.2.0.21", None)
        }
    );
    assert_eq!(
        request("ctl server drain web 10.2.0.21 --port 8080"),
        Request::DrainServer {
            server: web("10.2.0.21", Some(8080))
        }
    );
    assert_eq!(
        request("ctl server activate web 10.2.0.22"),
        Request::ActivateServer {
            server: web("10.2.0.22", None)
        }
    );
    assert_eq!(
        request("ctl server weight web 10.2.0.21 7 --port 8080"),
        Request::SetWeight {
            server: web("10.2.0.21", Some(8080)),
            weight: 7
        }
    );
    assert_eq!(
        request("ctl server load web 10.2.0.21 250"),
        Request::SetLoad {
            server: web("10.2.0.21", None),
            load: 250
        }
    );
    // An IPv6 server (IPv6 -> IPv6 full NAT).
    assert_eq!(
        request("ctl server add web 2001:db8:20::23 --port 8080"),
        Request::AddServer {
            server: web("2001:db8:20::23", Some(8080)),
            weight: None
        }
    );
}

#[test]
fn server_verbs_refuse_bad_arguments() {
    // Not an IP address, port 0, missing weight, weight only on add.
    assert!(parse("ctl server add web 10.2.0.300").is_err());
    assert!(parse("ctl server add web 2001:db8::g").is_err());
    assert!(parse("ctl server add web backend1").is_err());
    assert!(parse("ctl server drain web 10.2.0.21 --port 0").is_err());
    assert!(parse("ctl server weight web 10.2.0.21").is_err());
    assert!(parse("ctl server drain web 10.2.0.21 --weight 3").is_err());
    assert!(parse("ctl server explode web 10.2.0.21").is_err());
}

#[test]
fn service_verbs() {
    assert_eq!(
        request("ctl service add web --vip 10.9.0.1 --proto tcp --port 80"),
        Request::AddService {
            name: "web".into(),
            vip: "10.9.0.1".into(),
            proto: "tcp".into(),
            port: 80,
            port_end: None
        }
    );
    assert_eq!(
        request("ctl service add rtp --vip 10.9.0.2 --proto udp --port 10000 --port-end 10999"),
        Request::AddService {
            name: "rtp".into(),
            vip: "10.9.0.2".into(),
            proto: "udp".into(),
            port: 10000,
            port_end: Some(10999)
        }
    );
    assert_eq!(
        request("ctl service remove web"),
        Request::RemoveService { name: "web".into() }
    );
    assert!(parse("ctl service add web --vip 10.9.0.1 --proto sctp --port 80").is_err());
    assert!(parse("ctl service add web --vip 10.9.0.1 --proto tcp").is_err());
    // A range that ends before it starts is a usage error, not a request.
    let backwards =
        parse("ctl service add web --vip 10.9.0.1 --proto tcp --port 90 --port-end 80").unwrap();
    let e = plan(&backwards.cmd).unwrap_err();
    assert!(e.contains("--port-end 80"), "{e}");
}

#[test]
fn session_verbs() {
    assert_eq!(
        request("ctl session create"),
        Request::CreateSession {
            id: None,
            gateway: None
        }
    );
    assert_eq!(
        request("ctl session create --id 10.1.0.5 --gateway 2"),
        Request::CreateSession {
            id: Some("10.1.0.5".into()),
            gateway: Some(2)
        }
    );
    assert_eq!(
        request("ctl session move teid:0x10 3"),
        Request::MoveSession {
            id: "teid:0x10".into(),
            gateway: 3
        }
    );
    assert_eq!(
        request("ctl session delete 10.1.0.5"),
        Request::DeleteSession {
            id: "10.1.0.5".into()
        }
    );
    assert!(parse("ctl session move 10.1.0.5").is_err());
    assert!(parse("ctl session move 10.1.0.5 -1").is_err());
}

#[test]
fn subscriber_verbs() {
    assert_eq!(
        request("ctl subscriber add --session 10.1.0.5 --service web --service dns --external"),
        Request::AddSubscriber {
            session: Some("10.1.0.5".into()),
            prefix: None,
            services: Some(vec!["web".into(), "dns".into()]),
            external: true
        }
    );
    assert_eq!(
        request("ctl subscriber add --prefix 10.1.0.0/16"),
        Request::AddSubscriber {
            session: None,
            prefix: Some("10.1.0.0/16".into()),
            services: None,
            external: false
        }
    );
    assert_eq!(
        request("ctl subscriber remove --prefix 10.1.0.7"),
        Request::RemoveSubscriber {
            session: None,
            prefix: Some("10.1.0.7/32".into())
        }
    );
    assert_eq!(
        request("ctl subscriber remove --session teid:0x10"),
        Request::RemoveSubscriber {
            session: Some("teid:0x10".into()),
            prefix: None
        }
    );
    // Exactly one of --session and --prefix; the prefix must be IPv4.
    assert!(parse("ctl subscriber add --service web").is_err());
    assert!(parse("ctl subscriber add --session 10.1.0.5 --prefix 10.1.0.0/16").is_err());
    assert!(parse("ctl subscriber remove").is_err());
    assert!(parse("ctl subscriber add --prefix 10.1.0.0/33").is_err());
}

#[test]
fn socket_and_json_options_go_before_or_after_the_verb() {
    let a = parse("ctl --socket /tmp/t.sock --json services").unwrap();
    assert_eq!(a.socket, Some(PathBuf::from("/tmp/t.sock")));
    assert!(a.json);
    let b = parse("ctl server drain web 10.2.0.21 --json --socket /tmp/u.sock").unwrap();
    assert_eq!(b.socket, Some(PathBuf::from("/tmp/u.sock")));
    assert!(b.json);
    let c = parse("ctl status").unwrap();
    assert_eq!(c.socket, None);
    assert!(!c.json);
    assert!(parse("ctl").is_err());
    assert!(parse("ctl frobnicate").is_err());
}

#[test]
fn socket_flag_wins_over_environment_which_wins_over_default() {
    let flag = Some(PathBuf::from("/a.sock"));
    let env = Some(OsString::from("/b.sock"));
    assert_eq!(resolve_socket(flag, env.clone()), PathBuf::from("/a.sock"));
    assert_eq!(resolve_socket(None, env), PathBuf::from("/b.sock"));
    assert_eq!(
        resolve_socket(None, Some(OsString::new())),
        PathBuf::from(DEFAULT_SOCKET)
    );
    assert_eq!(resolve_socket(None, None), PathBuf::from(DEFAULT_SOCKET));
}

#[test]
fn quota_verbs_map_to_their_requests() {
    assert_eq!(request("ctl usage"), Request::Usage { subscriber: None });
    assert_eq!(view("ctl usage"), View::Usage);
    assert_eq!(
        request("ctl usage 10.8.0.5"),
        Request::Usage {
            subscriber: Some("10.8.0.5".into())
        }
    );
    assert_eq!(
        request("ctl quota grant 10.8.0.5 --bytes 5000000"),
        Request::QuotaGrant {
            subscriber: "10.8.0.5".into(),
            bytes: 5_000_000,
            seconds: 0
        }
    );
    assert_eq!(
        request("ctl quota grant teid:0x10 --seconds 60"),
        Request::QuotaGrant {
            subscriber: "teid:0x10".into(),
            bytes: 0,
            seconds: 60
        }
    );
    assert_eq!(
        request("ctl quota reset 10.8.0.5"),
        Request::QuotaReset {
            subscriber: "10.8.0.5".into()
        }
    );
    assert!(matches!(view("ctl quota reset 10.8.0.5"), View::Done(_)));
    // Usage errors: no subscriber, a negative amount.
    assert!(parse("ctl quota grant --bytes 5").is_err());
    assert!(parse("ctl quota grant 10.8.0.5 --bytes -5").is_err());
    assert!(parse("ctl quota reset").is_err());
}
