//! A minimal HTTP/1.1 server for Prometheus scrapes: `GET /metrics` and
//! nothing more, on one thread, with no HTTP crate.
//!
//! Every connection is non-blocking and the thread serves all of them in
//! turn: it reads what each has sent, answers the ones whose request head
//! is complete, writes what each can take, and closes each one at its own
//! deadline ([`REQUEST_DEADLINE`] to send the request head,
//! [`WRITE_TIMEOUT`] to take the answer). So idle or slow clients cost a
//! little memory each, never the next scrape's turn: a scrape is answered
//! as soon as its request arrives, however many idle connections are open
//! (a server answering one connection at a time waited out each idle one's
//! deadline first: 20 idle connections made scrapes time out). At most
//! [`MAX_CONNECTIONS`] are held; a new one beyond that closes the one that
//! has waited longest for its request, so the newest client always gets in.
//! A thread pool would have bounded concurrency at its size instead.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::prometheus::CONTENT_TYPE;

/// Pause between two rounds when nothing happened (the latency added to a
/// new request).
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Time a client has to send its whole request head.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Time a client has to take the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest request head (request line and headers) read.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// After answering, what the client still sends is read and thrown away
/// (so closing does not reset the connection under the answer), up to this
/// much and for at most [`LINGER`].
const MAX_DISCARD: usize = 64 * 1024;
const LINGER: Duration = Duration::from_millis(200);
/// Connections held open at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Least time between two log lines about failing `accept` calls.
const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Serves `GET /metrics` on `listen` (port 0 picks a free port) from a new
/// thread until `stop` is set; the thread ends within a few milliseconds
/// of that (once the scrape in hand is answered). `fetch` gives the body of
/// each scrape, or `None` when there is nothing to give (the answer is
/// then 503). Binding errors are returned here; later errors are logged.
pub fn serve(
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
    fetch: impl Fn() -> Option<String> + Send + Sync + 'static,
) -> io::Result<JoinHandle<()>> {
    let (_, handle) = serve_on(listen, stop, fetch)?;
    Ok(handle)
}

/// As [`serve`], also telling which address it listens on (the port
/// chosen when `listen` asked for port 0).
pub fn serve_on(
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
    fetch: impl Fn() -> Option<String> + Send + Sync + 'static,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let handle = thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || serve_loop(&listener, &stop, &fetch))?;
    tracing::info!(%bound, "Prometheus metrics at http://{bound}/metrics");
    Ok((bound, handle))
}

/// Where one connection stands.
enum Stage {
    /// Reading the request head.
    Reading(Vec<u8>),
    /// Writing the answer from `at`.
    Writing { out: Vec<u8>, at: usize },
    /// Answer sent, write side shut; reading what the client still sends.
    Lingering { discarded: usize },
}

struct Conn {
    stream: TcpStream,
    stage: Stage,
    /// When this stage must be over.
    deadline: Instant,
    /// When the connection was accepted (the oldest is evicted first).
    since: Instant,
}

/// What one step of a connection did.
enum Step {
    /// Nothing to do now.
    Idle,
    /// Read or wrote something.
    Progress,
    /// Done (or failed): close it.
    Close,
}

fn serve_loop(listener: &TcpListener, stop: &AtomicBool, fetch: &dyn Fn() -> Option<String>) {
    let mut conns: Vec<Conn> = Vec::new();
    let mut last_warning: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut busy = accept_all(listener, &mut conns, &mut last_warning);
        let now = Instant::now();
        conns.retain_mut(|c| match step(c, now, fetch) {
            Step::Idle => true,
            Step::Progress => {
                busy = true;
                true
            }
            Step::Close => {
                busy = true;
                false
            }
        });
        if !busy {
            thread::sleep(POLL_INTERVAL);
        }
    }
}

/// Accepts every connection waiting; true if there was one.
fn accept_all(
    listener: &TcpListener,
    conns: &mut Vec<Conn>,
    last_warning: &mut Option<Instant>,
) -> bool {
    let mut any = false;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                any = true;
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                if conns.len() >= MAX_CONNECTIONS {
                    // The one waiting longest for its request goes.
                    if let Some(oldest) = conns
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| matches!(c.stage, Stage::Reading(_)))
                        .min_by_key(|(_, c)| c.since)
                        .map(|(i, _)| i)
                    {
                        conns.swap_remove(oldest);
                    } else {
                        continue;
                    }
                }
                let now = Instant::now();
                conns.push(Conn {
                    stream,
                    stage: Stage::Reading(Vec::new()),
                    deadline: now + REQUEST_DEADLINE,
                    since: now,
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return any,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of file descriptors and the like: log, come back later.
                if last_warning.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_INTERVAL) {
                    tracing::warn!(error = %e, "metrics endpoint cannot accept connections");
                    *last_warning = Some(Instant::now());
                }
                return any;
            }
        }
    }
}

/// Moves one connection on as far as it can go without waiting.
fn step(c: &mut Conn, now: Instant, fetch: &dyn Fn() -> Option<String>) -> Step {
    let mut progressed = false;
    loop {
        match &mut c.stage {
            Stage::Reading(head) => {
                let mut chunk = [0u8; 1024];
                let got = match c.stream.read(&mut chunk) {
                    Ok(0) => return Step::Close,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => return Step::Close,
                };
                head.extend_from_slice(&chunk[..got]);
                let answer = match find_head_end(head) {
                    Some(end) if end <= MAX_REQUEST_HEAD => {
                        let (method, target) = parse_request_line(&head[..end]);
                        Some((route(method, target, fetch), method == Some("HEAD")))
                    }
                    Some(_) => Some((too_large(), false)),
                    None if head.len() > MAX_REQUEST_HEAD => Some((too_large(), false)),
                    None if got == 0 && now >= c.deadline => Some((
                        Response::text("408 Request Timeout", "request too slow"),
                        false,
                    )),
                    None if got == 0 => return idle_or(progressed),
                    None => None,
                };
                progressed = true;
                if let Some((response, head_only)) = answer {
                    c.stage = Stage::Writing {
                        out: response_bytes(&response, head_only),
                        at: 0,
                    };
                    c.deadline = Instant::now() + WRITE_TIMEOUT;
                }
            }
            Stage::Writing { out, at } => match c.stream.write(&out[*at..]) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    *at += n;
                    progressed = true;
                    if *at == out.len() {
                        if c.stream.shutdown(Shutdown::Write).is_err() {
                            return Step::Close;
                        }
                        c.stage = Stage::Lingering { discarded: 0 };
                        c.deadline = Instant::now() + LINGER;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return if now >= c.deadline {
                        Step::Close
                    } else {
                        idle_or(progressed)
                    };
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Close,
            },
            Stage::Lingering { discarded } => {
                let mut chunk = [0u8; 4096];
                match c.stream.read(&mut chunk) {
                    Ok(0) => return Step::Close,
                    Ok(n) => {
                        *discarded += n;
                        progressed = true;
                        if *discarded >= MAX_DISCARD {
                            return Step::Close;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        return if now >= c.deadline {
                            Step::Close
                        } else {
                            idle_or(progressed)
                        };
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Step::Close,
                }
            }
        }
    }
}

fn idle_or(progressed: bool) -> Step {
    if progressed {
        Step::Progress
    } else {
        Step::Idle
    }
}

fn too_large() -> Response {
    Response::text("431 Request Header Fields Too Large", "request too large")
}

/// An answer: status, content type, extra header lines, body.
struct Response {
    status: &'static str,
    content_type: &'static str,
    extra_headers: &'static str,
    body: String,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            extra_headers: "",
            body: format!("{body}\n"),
        }
    }
}

/// Where the request head ends (before "\r\n\r\n", or "\n\n" from lax
/// clients).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Method and path (query string removed) of the request line, `None`
/// where the line is not `METHOD SP TARGET SP HTTP/1.x`.
fn parse_request_line(head: &[u8]) -> (Option<&str>, Option<&str>) {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return (None, None);
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (None, None);
    };
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return (None, None);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    (Some(method), Some(path))
}

fn route(method: Option<&str>, path: Option<&str>, fetch: &dyn Fn() -> Option<String>) -> Response {
    let (Some(method), Some(path)) = (method, path) else {
        return Response::text("400 Bad Request", "bad request");
    };
    if method != "GET" && method != "HEAD" {
        return Response {
            extra_headers: "Allow: GET, HEAD\r\n",
            ..Response::text("405 Method Not Allowed", "only GET and HEAD are served")
        };
    }
    match path {
        "/metrics" => match fetch() {
            Some(body) => Response {
                status: "200 OK",
                content_type: CONTENT_TYPE,
                extra_headers: "",
                body,
            },
            None => Response::text(
                "503 Service Unavailable",
                "the control plane did not answer; try again",
            ),
        },
        "/" => Response {
            status: "200 OK",
            content_type: "text/html; charset=utf-8",
            extra_headers: "",
            body: "<html><head><title>Tandem</title></head><body>\
                   <h1>Tandem</h1><p><a href=\"/metrics\">Metrics</a></p>\
                   </body></html>\n"
                .into(),
        },
        _ => Response::text("404 Not Found", "not found; metrics are at /metrics"),
    }
}

/// The bytes of an answer (head, and body unless `head_only`).
fn response_bytes(r: &Response, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        r.status,
        r.content_type,
        r.body.len(),
        r.extra_headers
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(r.body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A running server on a free loopback port, stopped when dropped.
    struct TestServer {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        handle: Option<JoinHandle<()>>,
    }

    impl TestServer {
        fn start(fetch: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
            let stop = Arc::new(AtomicBool::new(false));
            let any_port = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
            let (addr, handle) = serve_on(any_port, Arc::clone(&stop), fetch).unwrap();
            TestServer {
                addr,
                stop,
                handle: Some(handle),
            }
        }

        /// Sends `request` as is, returns everything the server answers.
        fn exchange(&self, request: &[u8]) -> String {
            let mut stream = TcpStream::connect(self.addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            stream.write_all(request).unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            String::from_utf8(answer).unwrap()
        }

        fn get(&self, path: &str) -> String {
            let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nAccept: */*\r\n\r\n");
            self.exchange(request.as_bytes())
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(handle) = self.handle.take() {
                let _ = handle.join();
            }
        }
    }

    fn status_line(answer: &str) -> &str {
        answer.split("\r\n").next().unwrap_or("")
    }

    fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
        let head = answer.split("\r\n\r\n").next()?;
        head.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    fn body(answer: &str) -> &str {
        answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    #[test]
    fn metrics_are_served_with_the_prometheus_content_type() {
        let scrapes = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&scrapes);
        let server = TestServer::start(move || {
            let n = counted.fetch_add(1, Ordering::Relaxed) + 1;
            Some(format!("tandem_scrapes {n}\n"))
        });
        let answer = server.get("/metrics");
        assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
        assert_eq!(
            header(&answer, "Content-Type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_eq!(header(&answer, "Connection"), Some("close"));
        assert_eq!(body(&answer), "tandem_scrapes 1\n");
        assert_eq!(header(&answer, "Content-Length"), Some("17"));

        // Each scrape asks for fresh metrics; a query string is ignored.
        let answer = server.get("/metrics?name[]=x");
        assert_eq!(body(&answer), "tandem_scrapes 2\n");

        // HEAD: the same headers, no body.
        let answer = server.exchange(b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
        assert_eq!(header(&answer, "Content-Length"), Some("17"));
        assert_eq!(body(&answer), "");
    }

    #[test]
    fn no_metrics_is_503() {
        let server = TestServer::start(|| None);
        let answer = server.get("/metrics");
        assert_eq!(status_line(&answer), "HTTP/1.1 503 Service Unavailable");
    }

    #[test]
    fn other_paths_and_methods_are_refused() {
        let server = TestServer::start(|| Some("m 1\n".into()));
        let root = server.get("/");
        assert_eq!(status_line(&root), "HTTP/1.1 200 OK");
        assert!(body(&root).contains("href=\"/metrics\""));

        assert_eq!(
            status_line(&server.get("/metrics/extra")),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            status_line(&server.get("/favicon.ico")),
            "HTTP/1.1 404 Not Found"
        );

        let post = server.exchange(b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(status_line(&post), "HTTP/1.1 405 Method Not Allowed");
        assert_eq!(header(&post, "Allow"), Some("GET, HEAD"));

        for garbage in [
            &b"hello\r\n\r\n"[..],
            b"GET /metrics\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics SPDY/3\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
        ] {
            let answer = server.exchange(garbage);
            assert_eq!(
                status_line(&answer),
                "HTTP/1.1 400 Bad Request",
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn an_oversized_request_is_refused_and_the_server_goes_on() {
        let server = TestServer::start(|| Some("m 1\n".into()));
        let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
        while request.len() <= MAX_REQUEST_HEAD + 100 {
            request.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        request.extend_from_slice(b"\r\n");
        let answer = server.exchange(&request);
        assert_eq!(
            status_line(&answer),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        assert_eq!(status_line(&server.get("/metrics")), "HTTP/1.1 200 OK");
    }

    #[test]
    fn a_client_that_sends_nothing_does_not_block_the_next() {
        let server = TestServer::start(|| Some("m 1\n".into()));
        // Connects, sends half a request and waits: the server gives up on
        // it after its deadline and answers the next client.
        let mut idle = TcpStream::connect(server.addr).unwrap();
        idle.write_all(b"GET /metr").unwrap();
        assert_eq!(status_line(&server.get("/metrics")), "HTTP/1.1 200 OK");
        // The idle client was told it was too slow and hung up on.
        idle.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut answer = String::new();
        idle.read_to_string(&mut answer).unwrap();
        assert_eq!(status_line(&answer), "HTTP/1.1 408 Request Timeout");
    }

    /// Fifty clients connect and send nothing (or half a request): a
    /// scrape is still answered at once, not after their deadlines.
    #[test]
    fn idle_connections_do_not_delay_a_scrape() {
        let server = TestServer::start(|| Some("m 1\n".into()));
        let mut idle: Vec<TcpStream> = (0..50)
            .map(|_| TcpStream::connect(server.addr).unwrap())
            .collect();
        for s in idle.iter_mut().step_by(2) {
            s.write_all(b"GET /metr").unwrap();
        }
        thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        assert_eq!(status_line(&server.get("/metrics")), "HTTP/1.1 200 OK");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "scrape took {took:?}");
    }

    /// More idle clients than the server holds: the oldest are closed and
    /// a new scrape still gets in.
    #[test]
    fn beyond_the_connection_limit_the_oldest_idle_one_goes() {
        let server = TestServer::start(|| Some("m 1\n".into()));
        let mut idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + 20)
            .map(|_| TcpStream::connect(server.addr).unwrap())
            .collect();
        thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        assert_eq!(status_line(&server.get("/metrics")), "HTTP/1.1 200 OK");
        assert!(start.elapsed() < Duration::from_secs(1));
        // The first one connected was closed without an answer.
        idle[0]
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = idle[0].read_to_end(&mut answer);
        assert!(answer.is_empty(), "{answer:?}");
    }

    #[test]
    fn setting_stop_ends_the_thread() {
        let mut server = TestServer::start(|| Some("m 1\n".into()));
        assert_eq!(status_line(&server.get("/metrics")), "HTTP/1.1 200 OK");
        server.stop.store(true, Ordering::Relaxed);
        let handle = server.handle.take().unwrap();
        // Generous bound, only so that a server that never stops fails the
        // test instead of hanging it.
        let give_up = Instant::now() + Duration::from_secs(30);
        while !handle.is_finished() && Instant::now() < give_up {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(handle.is_finished(), "the server thread did not stop");
        handle.join().unwrap();
        // Nobody listens any more.
        assert!(TcpStream::connect(server.addr).is_err());
    }

    #[test]
    fn binding_a_taken_address_fails_up_front() {
        let server = TestServer::start(|| None);
        let again = serve(server.addr, Arc::new(AtomicBool::new(false)), || None);
        assert_eq!(again.err().map(|e| e.kind()), Some(ErrorKind::AddrInUse));
    }

    #[test]
    fn the_request_line_is_parsed_strictly() {
        assert_eq!(
            parse_request_line(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a"),
            (Some("GET"), Some("/metrics"))
        );
        assert_eq!(
            parse_request_line(b"GET / HTTP/1.0"),
            (Some("GET"), Some("/"))
        );
        assert_eq!(parse_request_line(b"get / HTTP/1.1"), (None, None));
        assert_eq!(parse_request_line(b"GET  / HTTP/1.1"), (None, None));
        assert_eq!(parse_request_line(b"GET / HTTP/2"), (None, None));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
