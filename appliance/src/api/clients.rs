//! The control socket's clients: at most [`MAX_CLIENTS`] connections are
//! served at once (one thread each), and a client that sends nothing for
//! [`IDLE_TIMEOUT`] is hung up on. Without a bound, every connection got a
//! thread: 2,000 idle clients made 2,008 threads. With a bound but without
//! eviction, 64 idle clients would lock the operator out until they time
//! out; so when all places are taken, a new client takes the place of the
//! one that has been idle (waiting for its next request) longest, and only
//! when every client is in the middle of a request is the new one refused,
//! with a JSON error line saying so. Refusals and evictions are counted and
//! logged.

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CLIENTS: usize = 64;
/// How long a connection may wait between two requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Least time between two warnings about refused or evicted clients.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

struct Place {
    id: u64,
    /// A handle on the connection, to hang up on it when it is evicted.
    stream: UnixStream,
    /// Since when it waits for a request; `None` while one is served.
    idle_since: Option<Instant>,
}

#[derive(Default)]
struct Table {
    places: Vec<Place>,
    next_id: u64,
    last_warning: Option<Instant>,
}

/// Who is connected; shared by the accept loop and the connection threads.
#[derive(Default)]
pub struct Clients {
    table: Mutex<Table>,
    /// New clients refused because every place was busy.
    pub refused: AtomicU64,
    /// Idle clients hung up on to make room for a new one.
    pub evicted: AtomicU64,
}

/// A client's place; given back when dropped.
pub struct Admitted {
    clients: Arc<Clients>,
    id: u64,
}

impl Clients {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Clients connected now.
    pub fn connected(&self) -> usize {
        self.table().places.len()
    }

    /// Gives `stream` a place (evicting the longest-idle client if all are
    /// taken), or `None` if every client is busy with a request.
    pub fn admit(self: &Arc<Self>, stream: &UnixStream) -> Option<Admitted> {
        let handle = stream.try_clone().ok()?;
        let mut t = self.table();
        if t.places.len() >= MAX_CLIENTS {
            let oldest_idle = t
                .places
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.idle_since.map(|s| (i, s)))
                .min_by_key(|&(_, s)| s)
                .map(|(i, _)| i);
            match oldest_idle {
                Some(i) => {
                    let gone = t.places.swap_remove(i);
                    let _ = gone.stream.shutdown(std::net::Shutdown::Both);
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                    self.warn_if_due(&mut t);
                }
                None => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    self.warn_if_due(&mut t);
                    return None;
                }
            }
        }
        let id = t.next_id;
        t.next_id += 1;
        t.places.push(Place {
            id,
            stream: handle,
            idle_since: Some(Instant::now()),
        });
        Some(Admitted {
            clients: Arc::clone(self),
            id,
        })
    }

    fn warn_if_due(&self, t: &mut Table) {
        if t.last_warning.is_none_or(|w| w.elapsed() >= WARN_INTERVAL) {
            t.last_warning = Some(Instant::now());
            tracing::warn!(
                max = MAX_CLIENTS,
                refused = self.refused.load(Ordering::Relaxed),
                evicted = self.evicted.load(Ordering::Relaxed),
                "control socket: too many clients; idle ones are hung up on, new ones refused while all are busy"
            );
        }
    }

    fn set_idle(&self, id: u64, idle: bool) {
        let mut t = self.table();
        if let Some(p) = t.places.iter_mut().find(|p| p.id == id) {
            p.idle_since = idle.then(Instant::now);
        }
    }
}

impl Admitted {
    /// A request arrived: not evictable until [`idle`](Self::idle).
    pub fn busy(&self) {
        self.clients.set_idle(self.id, false);
    }

    /// The answer is written: waiting for the next request.
    pub fn idle(&self) {
        self.clients.set_idle(self.id, true);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut t = self.clients.table();
        t.places.retain(|p| p.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_full_table_evicts_the_longest_idle_client_then_refuses() {
        let clients = Arc::new(Clients::default());
        let mut kept = Vec::new();
        let mut peers = Vec::new();
        for _ in 0..MAX_CLIENTS {
            let (ours, theirs) = UnixStream::pair().unwrap();
            let place = clients.admit(&ours).expect("room");
            place.busy();
            kept.push((ours, place));
            peers.push(theirs);
        }
        // All busy: a new client is refused.
        let (extra, _extra_peer) = UnixStream::pair().unwrap();
        assert!(clients.admit(&extra).is_none());
        assert_eq!(clients.refused.load(Ordering::Relaxed), 1);
        // Two go idle: the one idle longest is evicted (hung up on).
        kept[3].1.idle();
        std::thread::sleep(Duration::from_millis(5));
        kept[7].1.idle();
        let place = clients.admit(&extra).expect("an idle client makes room");
        assert_eq!(clients.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(clients.connected(), MAX_CLIENTS);
        let mut buf = [0u8; 1];
        peers[3]
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(peers[3].read(&mut buf).unwrap(), 0, "evicted: hung up");
        // Places are given back when dropped.
        drop(place);
        drop(kept);
        assert_eq!(clients.connected(), 0);
    }
}
