//! Kernel TCP servers and clients for the net_tap tests: a server that
//! reads each connection to its end and answers with the length and a
//! digest of what came (so both ends can compare a long transfer without
//! keeping it), reports which server accepted which peer, and can be
//! closed and reopened to play a server that goes down and comes back.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// FNV-1a and a length over a byte stream.
#[derive(Clone, Copy)]
pub struct Digest(u64, u64);

impl Digest {
    pub fn new() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325, 0)
    }

    pub fn of(bytes: &[u8]) -> Digest {
        let mut d = Digest::new();
        d.feed(bytes);
        d
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.1 += bytes.len() as u64;
    }

    /// What the server answers: `LENGTH DIGEST\n`.
    pub fn line(&self) -> String {
        format!("{} {:016x}\n", self.1, self.0)
    }
}

impl Default for Digest {
    fn default() -> Self {
        Digest::new()
    }
}

/// Who accepted a connection, and the peer it saw.
pub type Accepted = (&'static str, SocketAddr);

/// A listening kernel TCP server; [`DigestServer::close`] closes the
/// listening socket (new SYNs then get a RST from the kernel) while the
/// connections already accepted run on.
pub struct DigestServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DigestServer {
    /// Listens on `addr:port` and reports each accepted connection on
    /// `accepted` as `(name, peer)`.
    pub fn start(
        name: &'static str,
        addr: Ipv4Addr,
        port: u16,
        accepted: mpsc::Sender<Accepted>,
    ) -> DigestServer {
        let listener = TcpListener::bind((addr, port)).expect("listen");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        let _ = accepted.send((name, peer));
                        std::thread::spawn(move || answer_digest(conn));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        });
        DigestServer {
            stop,
            thread: Some(thread),
        }
    }

    /// Closes the listening socket; returns once it is closed.
    pub fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DigestServer {
    fn drop(&mut self) {
        self.close();
    }
}

fn answer_digest(mut conn: TcpStream) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let mut digest = Digest::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => digest.feed(&buf[..n]),
            Err(_) => return,
        }
    }
    let _ = conn.write_all(digest.line().as_bytes());
}

/// Connects to `vip:port` (the error if refused or timed out).
pub fn try_connect(vip: Ipv4Addr, port: u16, limit: Duration) -> std::io::Result<TcpStream> {
    let conn = TcpStream::connect_timeout(&SocketAddr::from((vip, port)), limit)?;
    conn.set_read_timeout(Some(limit))?;
    Ok(conn)
}

/// Sends `data`, ends the upload, and returns the server's answer; panics
/// if the connection was reset or the answer does not come.
pub fn finish(mut conn: TcpStream, data: &[u8]) -> String {
    conn.write_all(data).expect("send");
    conn.shutdown(Shutdown::Write).expect("shutdown");
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .expect("the server's answer (a reset connection fails here)");
    answer
}
