//! `tandem ctl` against a fake appliance: a thread listening on a Unix
//! socket that records the request line and answers a canned line. Checks
//! what goes over the wire, what is printed where, and the exit status.

use super::client::{connect_error, CallError};
use super::execute;
use super::test_support::parse;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A socket path no other test uses; removed when dropped.
struct TempSocket(PathBuf);

impl TempSocket {
    fn new() -> TempSocket {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tandem-ctl-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempSocket(path)
    }
}

impl Drop for TempSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What the fake appliance does with the one connection it accepts.
enum Answer {
    /// Reply with this line (a newline is added).
    Line(String),
    /// Close without answering.
    Close,
    /// Keep the connection open, silent, until told to stop.
    Silent(mpsc::Receiver<()>),
}

/// Listens at `socket`, accepts one connection, returns the request line.
fn fake_appliance(socket: &Path, answer: Answer) -> JoinHandle<String> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&stream);
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        match answer {
            Answer::Line(line) => {
                (&stream).write_all(format!("{line}\n").as_bytes()).unwrap();
            }
            Answer::Close => {}
            Answer::Silent(stop) => {
                let _ = stop.recv();
            }
        }
        request
    })
}

struct Outcome {
    code: u8,
    stdout: String,
    stderr: String,
}

fn ctl(socket: &Path, line: &str, timeout: Duration) -> Outcome {
    let args = parse(line).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = execute(&args, socket, timeout, &mut out, &mut err);
    Outcome {
        code,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

fn exchange(line: &str, answer: &str) -> (String, Outcome) {
    let socket = TempSocket::new();
    let server = fake_appliance(&socket.0, Answer::Line(answer.to_string()));
    let outcome = ctl(&socket.0, line, Duration::from_secs(5));
    (server.join().unwrap(), outcome)
}

#[test]
fn a_request_goes_out_as_one_versioned_line_and_the_answer_is_a_table() {
    let answer = r#"{"version":1,"ok":true,"data":[{"name":"web","vip":"10.9.0.1:80/tcp","servers":[
        {"addr":"10.2.0.21","port":8080,"weight":2,"state":"active","healthy":true,"user_sessions":12,"reported_load":0}]}]}"#
        .replace('\n', "");
    let (request, out) = exchange("ctl services", &answer);
    let sent: serde_json::Value = serde_json::from_str(&request).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"version": 1, "request": {"cmd": "services"}})
    );
    assert!(request.ends_with('\n') && request.matches('\n').count() == 1);
    assert_eq!(out.code, 0);
    assert_eq!(out.stderr, "");
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[1], ["web", "10.9.0.1:80/tcp"]);
    assert_eq!(
        rows[2],
        ["->", "10.2.0.21:8080", "2", "active", "yes", "12", "0"]
    );
}

#[test]
fn a_change_sends_its_arguments_and_prints_one_line() {
    let (request, out) = exchange(
        "ctl server drain web 10.2.0.21 --port 8080",
        r#"{"version":1,"ok":true}"#,
    );
    let sent: serde_json::Value = serde_json::from_str(&request).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"version": 1, "request":
            {"cmd": "drain_server", "service": "web", "addr": "10.2.0.21", "port": 8080}})
    );
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        "server 10.2.0.21:8080 of web is draining: no new user sessions, existing ones run on\n"
    );
}

#[test]
fn json_prints_the_data_pretty() {
    let (_, out) = exchange(
        "ctl --json sessions",
        r#"{"version":1,"ok":true,"data":[{"id":"10.1.0.5","gateway":1}]}"#,
    );
    assert_eq!(out.code, 0);
    let back: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(back, serde_json::json!([{"id": "10.1.0.5", "gateway": 1}]));
    assert!(
        out.stdout.lines().count() > 1,
        "pretty, not one line: {}",
        out.stdout
    );
}

#[test]
fn a_refusal_prints_the_reason_and_exits_1() {
    let (_, out) = exchange(
        "ctl service remove web",
        r#"{"version":1,"ok":false,"error":"no service named web"}"#,
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "tandem ctl: no service named web\n");
}

#[test]
fn another_protocol_version_names_both_and_exits_2() {
    let (_, out) = exchange(
        "ctl status",
        r#"{"version":2,"ok":false,"error":"version 1 is no longer spoken"}"#,
    );
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("tandem ctl: protocol version mismatch"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("speaks version 1"), "{}", out.stderr);
    assert!(
        out.stderr.contains("answered with version 2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("version 1 is no longer spoken"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_socket_asks_whether_tandem_runs_and_exits_2() {
    let socket = TempSocket::new();
    let out = ctl(&socket.0, "ctl status", Duration::from_secs(5));
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        format!(
            "tandem ctl: is tandem running? no socket at {}\n",
            socket.0.display()
        )
    );
}

#[test]
fn a_stale_socket_is_named_as_such() {
    let socket = TempSocket::new();
    drop(UnixListener::bind(&socket.0).unwrap());
    let out = ctl(&socket.0, "ctl status", Duration::from_secs(5));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("nothing accepts connections"),
        "{}",
        out.stderr
    );
}

#[test]
fn permission_denied_says_who_may_connect() {
    // Tests may run as root, where the kernel never refuses; check the wording.
    let e = connect_error(
        Path::new("/run/tandem/tandem.sock"),
        std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    );
    assert!(matches!(e, CallError::PermissionDenied(_)));
    assert_eq!(
        e.to_string(),
        "permission denied on /run/tandem/tandem.sock: run as the user that runs tandem, or root"
    );
}

#[test]
fn a_closed_connection_or_a_silent_appliance_exits_2() {
    let socket = TempSocket::new();
    let server = fake_appliance(&socket.0, Answer::Close);
    let out = ctl(&socket.0, "ctl status", Duration::from_secs(5));
    server.join().unwrap();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("closed the connection"),
        "{}",
        out.stderr
    );

    let socket = TempSocket::new();
    let (stop, stopped) = mpsc::channel();
    let server = fake_appliance(&socket.0, Answer::Silent(stopped));
    let out = ctl(&socket.0, "ctl status", Duration::from_millis(50));
    stop.send(()).unwrap();
    server.join().unwrap();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("did not answer"), "{}", out.stderr);
}

#[test]
fn garbage_answers_exit_2() {
    let (_, out) = exchange("ctl status", "HTTP/1.1 400 Bad Request");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not understood"), "{}", out.stderr);
    let (_, out) = exchange("ctl status", r#"{"ok":true}"#);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no protocol version"), "{}", out.stderr);
}

#[test]
fn an_unexpected_shape_is_shown_as_json_with_a_warning() {
    let (_, out) = exchange(
        "ctl ports",
        r#"{"version":1,"ok":true,"data":{"surprise":1}}"#,
    );
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("unexpected shape"), "{}", out.stderr);
    let back: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(back, serde_json::json!({"surprise": 1}));
}

#[test]
fn a_usage_error_found_after_parsing_sends_nothing_and_exits_2() {
    let socket = TempSocket::new();
    let out = ctl(
        &socket.0,
        "ctl service add web --vip 10.9.0.1 --proto tcp --port 90 --port-end 80",
        Duration::from_secs(5),
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("tandem ctl: --port-end 80"),
        "{}",
        out.stderr
    );
}
