//! The control API's Unix socket: accepts connections, reads one JSON
//! request per line, hands it to the control plane and writes its answer.
//!
//! The socket is created with mode 0600 (owner only). Requests are executed
//! one at a time by the control loop, so a change is validated and
//! published atomically, and a refused change leaves everything as it was.
//! Each connection has a thread; how many, and for how long an idle one is
//! kept, is bounded by `clients`.

use super::clients::{Admitted, Clients, IDLE_TIMEOUT, MAX_CLIENTS};
use super::protocol::{RequestEnvelope, Response, VERSION};
use crate::api::protocol::Request;
use crossbeam::channel::{bounded, Sender};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{debug, warn};

/// A request on its way to the control loop, with where to answer.
pub struct ApiCall {
    pub request: Request,
    pub reply: Sender<Response>,
}

/// Longest request line accepted.
const MAX_LINE: usize = 64 * 1024;
/// How long a connection waits for the control plane's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// Parses one request line; the error is the answer to send.
pub fn parse_line(line: &str) -> Result<Request, Response> {
    let env: RequestEnvelope = serde_json::from_str(line).map_err(|e| {
        // Tell version problems apart from malformed requests.
        let version = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("version").and_then(|v| v.as_u64()));
        match version {
            Some(v) if v != u64::from(VERSION) => Response::err(format!(
                "protocol version {v} is not supported; this tandem speaks version {VERSION}"
            )),
            _ => Response::err(format!("bad request: {e}")),
        }
    })?;
    if env.version != VERSION {
        return Err(Response::err(format!(
            "protocol version {} is not supported; this tandem speaks version {VERSION}",
            env.version
        )));
    }
    Ok(env.request)
}

fn serve_connection(stream: UnixStream, calls: Sender<ApiCall>, place: Admitted) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_line(&mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        place.busy();
        let answer = if line.len() > MAX_LINE {
            Response::err(format!("request longer than {MAX_LINE} bytes"))
        } else {
            match parse_line(line.trim_end()) {
                Err(resp) => resp,
                Ok(request) => {
                    let (tx, rx) = bounded(1);
                    if calls.send(ApiCall { request, reply: tx }).is_err() {
                        Response::err("tandem is shutting down")
                    } else {
                        rx.recv_timeout(ANSWER_TIMEOUT).unwrap_or_else(|_| {
                            Response::err("the control plane did not answer in time")
                        })
                    }
                }
            }
        };
        let mut out = serde_json::to_string(&answer).unwrap_or_else(|_| {
            r#"{"version":1,"ok":false,"error":"cannot encode the answer"}"#.to_string()
        });
        out.push('\n');
        if writer.write_all(out.as_bytes()).is_err() {
            return;
        }
        place.idle();
    }
}

/// Tells a client there is no room for it, and hangs up.
fn refuse(mut stream: UnixStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let answer = Response::err(format!(
        "too many control clients: all {MAX_CLIENTS} places are busy with requests; try again"
    ));
    if let Ok(mut out) = serde_json::to_string(&answer) {
        out.push('\n');
        let _ = stream.write_all(out.as_bytes());
    }
}

/// A running API listener; dropping it stops the listener and removes the
/// socket file.
pub struct ApiServer {
    path: PathBuf,
    /// Who is connected, with the refused and evicted counts.
    pub clients: Arc<Clients>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Binds the socket at `path` (mode 0600) and starts accepting.
    pub fn start(
        path: &Path,
        calls: Sender<ApiCall>,
        clients: Arc<Clients>,
    ) -> std::io::Result<ApiServer> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "another process answers on {}; is tandem already running?",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let clients2 = Arc::clone(&clients);
        let thread = std::thread::Builder::new()
            .name("tandem-api".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let Some(place) = clients2.admit(&s) else {
                                refuse(s);
                                continue;
                            };
                            let calls = calls.clone();
                            let spawned = std::thread::Builder::new()
                                .name("tandem-api-conn".into())
                                .spawn(move || serve_connection(s, calls, place));
                            if let Err(e) = spawned {
                                warn!("API: cannot start a connection thread: {e}");
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            debug!("API accept: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            })?;
        Ok(ApiServer {
            path: path.to_path_buf(),
            clients,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_syntax_errors_are_explained() {
        let e = parse_line(r#"{"version":2,"request":{"cmd":"status"}}"#).unwrap_err();
        assert!(e.error.unwrap().contains("version 2 is not supported"));
        let e = parse_line("not json").unwrap_err();
        assert!(e.error.unwrap().starts_with("bad request"));
        assert_eq!(
            parse_line(r#"{"version":1,"request":{"cmd":"status"}}"#).unwrap(),
            Request::Status
        );
    }

    #[test]
    fn socket_answers_and_is_private() {
        let dir = std::env::temp_dir().join(format!("tandem-api-test-{}", std::process::id()));
        let path = dir.join("t.sock");
        let (tx, rx) = crossbeam::channel::unbounded::<ApiCall>();
        let server = ApiServer::start(&path, tx, Arc::default()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second instance refuses to steal the socket.
        let (tx2, _rx2) = crossbeam::channel::unbounded::<ApiCall>();
        assert!(ApiServer::start(&path, tx2, Arc::default()).is_err());
        let answerer = std::thread::spawn(move || {
            let call = rx.recv().unwrap();
            assert_eq!(call.request, Request::Status);
            call.reply
                .send(Response::ok(serde_json::json!({"hello": 1})))
                .unwrap();
        });
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"{\"version\":1,\"request\":{\"cmd\":\"status\"}}\n{\"version\":1,\"request\":{\"cmd\":\"nope\"}}\n")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        answerer.join().unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].contains("\"ok\":true") && lines[0].contains("hello"));
        assert!(lines[1].contains("\"ok\":false") && lines[1].contains("bad request"));
        drop(server);
        assert!(!path.exists(), "socket removed on stop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
