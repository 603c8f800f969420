//! Frames waiting for their next hop's MAC address, and for how long.
//!
//! The pipeline answers [`Verdict::Hold`](super::Verdict::Hold) when a
//! frame is ready to leave but the neighbour is not resolved yet; the worker
//! loop keeps such frames here, retries them once per loop round with
//! [`Worker::complete_held`](super::Worker::complete_held), and drops them
//! as `neighbour_miss` when the queue is full or they waited too long. The
//! policy (how many, how long) lives here, without I/O, so tests reach it;
//! the frame type is the caller's (an mbuf in the appliance).

use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// What a held frame waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitingFor {
    /// The MAC address of this IPv4 neighbour (ARP).
    Ipv4(Ipv4Addr),
    /// The MAC address of the next hop toward IPv6 server number `n`
    /// (Neighbor Discovery; the server, or the router its route names).
    ServerV6(u32),
}

/// Frames a worker holds at most.
pub const HOLD_MAX: usize = 64;
/// How long a frame may wait for ARP before it is dropped, ms.
pub const HOLD_MS: u64 = 1000;

/// One held frame and where it is to go.
#[derive(Debug)]
struct Held<T> {
    frame: T,
    port: u16,
    waiting: WaitingFor,
    since_ms: u64,
}

/// A bounded queue of held frames (allocated once, at its full size).
#[derive(Debug)]
pub struct HoldQueue<T> {
    held: VecDeque<Held<T>>,
    max: usize,
    hold_ms: u64,
}

impl<T> Default for HoldQueue<T> {
    fn default() -> Self {
        HoldQueue::new(HOLD_MAX, HOLD_MS)
    }
}

impl<T> HoldQueue<T> {
    /// Room for `max` frames, each kept at most `hold_ms`.
    pub fn new(max: usize, hold_ms: u64) -> Self {
        HoldQueue {
            held: VecDeque::with_capacity(max),
            max,
            hold_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Holds `frame` for `port` and what it waits for from `now_ms`; gives
    /// it back when the queue is full (the caller drops it as
    /// `neighbour_miss`).
    pub fn hold(&mut self, frame: T, port: u16, waiting: WaitingFor, now_ms: u64) -> Result<(), T> {
        if self.held.len() >= self.max {
            return Err(frame);
        }
        self.held.push_back(Held {
            frame,
            port,
            waiting,
            since_ms: now_ms,
        });
        Ok(())
    }

    /// One round over the held frames, oldest first: `send` gets each frame
    /// with its port and what it waits for and takes it (`Ok`) once the neighbour is
    /// known, or gives it back (`Err`); a frame given back that has waited
    /// more than the hold time goes to `expire`, the others stay. Returns
    /// how many were sent.
    pub fn retry(
        &mut self,
        now_ms: u64,
        mut send: impl FnMut(T, u16, WaitingFor) -> Result<(), T>,
        mut expire: impl FnMut(T),
    ) -> usize {
        let mut sent = 0;
        for _ in 0..self.held.len() {
            let Some(h) = self.held.pop_front() else {
                break;
            };
            match send(h.frame, h.port, h.waiting) {
                Ok(()) => sent += 1,
                Err(frame) if now_ms.saturating_sub(h.since_ms) > self.hold_ms => expire(frame),
                Err(frame) => self.held.push_back(Held { frame, ..h }),
            }
        }
        sent
    }

    /// Empties the queue (shutdown); returns how many frames it held.
    pub fn clear(&mut self) -> usize {
        let n = self.held.len();
        self.held.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOP: WaitingFor = WaitingFor::Ipv4(Ipv4Addr::new(10, 2, 0, 21));
    const HOP6: WaitingFor = WaitingFor::ServerV6(3);

    #[test]
    fn a_full_queue_gives_the_frame_back() {
        let mut q = HoldQueue::new(2, 1000);
        assert_eq!(q.hold(1, 0, HOP, 0), Ok(()));
        assert_eq!(q.hold(2, 0, HOP, 0), Ok(()));
        assert_eq!(q.hold(3, 0, HOP, 0), Err(3));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn resolved_frames_leave_in_order_with_their_port_and_hop() {
        let mut q = HoldQueue::default();
        q.hold("a", 1, HOP, 0).unwrap();
        q.hold("b", 2, HOP6, 0).unwrap();
        let mut out = Vec::new();
        let sent = q.retry(
            10,
            |f, port, hop| {
                out.push((f, port, hop));
                Ok(())
            },
            |_| panic!("nothing expires"),
        );
        assert_eq!(sent, 2);
        assert_eq!(out, [("a", 1, HOP), ("b", 2, HOP6)]);
        assert!(q.is_empty());
    }

    #[test]
    fn unresolved_frames_wait_the_hold_time_then_expire() {
        let mut q = HoldQueue::new(HOLD_MAX, HOLD_MS);
        q.hold(7, 0, HOP, 1_000).unwrap();
        let mut expired = Vec::new();
        // Exactly the hold time: still waiting.
        q.retry(1_000 + HOLD_MS, |f, _, _| Err(f), |f| expired.push(f));
        assert_eq!((q.len(), expired.len()), (1, 0));
        // One millisecond more: dropped.
        q.retry(1_001 + HOLD_MS, |f, _, _| Err(f), |f| expired.push(f));
        assert_eq!((q.len(), expired.as_slice()), (0, &[7][..]));
    }

    #[test]
    fn clear_counts_what_was_held() {
        let mut q = HoldQueue::new(4, 10);
        q.hold((), 0, HOP, 0).unwrap();
        q.hold((), 0, HOP, 0).unwrap();
        assert_eq!(q.clear(), 2);
        assert!(q.is_empty());
    }
}
