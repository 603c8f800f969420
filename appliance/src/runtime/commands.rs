//! A control command a worker is answering, a few thousand slots per loop
//! iteration (`dataplane::pipeline::scan`), so that `ctl sessions`,
//! `ctl user-sessions` or ending a failed server's user sessions
//! (`on_down: Reset`) on a loaded appliance do not stop forwarding while
//! the whole user-session table is walked.

use super::worker::WorkerCmd;
use crossbeam::channel::Sender;
use dataplane::event::{Event, EventSink};
use dataplane::pipeline::inspect::UserSessionInfo;
use dataplane::pipeline::scan::{Scan, ScanJob, ScanResult, SessionTotals};
use dataplane::pipeline::Worker;

/// Slab slots a worker looks at per loop iteration for a control command:
/// at 1M live user sessions a step took 0.05 ms of CPU (median) and 0.36 ms
/// at most (`cargo bench -p dataplane --bench scan`), so a walk adds well
/// under a millisecond to any loop iteration.
pub const SCAN_BUDGET: u32 = 4096;

/// The event ring as a control command sees it: a push that finds it full
/// loses the event (the worker never waits), and [`EventSink::room`] keeps a
/// quarter of the ring for the packet path, so ending user sessions stops
/// there and goes on once the control plane has drained it.
pub struct ScanSink<'a>(&'a mut rtrb::Producer<Event>);

impl<'a> ScanSink<'a> {
    pub fn new(ring: &'a mut rtrb::Producer<Event>) -> ScanSink<'a> {
        ScanSink(ring)
    }
}

impl EventSink for ScanSink<'_> {
    fn push(&mut self, e: Event) -> bool {
        self.0.push(e).is_ok()
    }

    fn room(&self) -> usize {
        let keep = self.0.buffer().capacity() / 4;
        self.0.slots().saturating_sub(keep)
    }
}

enum Reply {
    List(Sender<Vec<UserSessionInfo>>),
    Totals(Sender<Vec<SessionTotals>>),
    Ended(Sender<usize>),
}

/// A command in progress on one worker.
pub struct ActiveCommand {
    scan: Scan,
    reply: Reply,
}

impl ActiveCommand {
    pub fn new(cmd: WorkerCmd) -> ActiveCommand {
        let (job, reply) = match cmd {
            WorkerCmd::Dump {
                filter,
                limit,
                reply,
            } => (ScanJob::List { filter, limit }, Reply::List(reply)),
            WorkerCmd::Totals { reply } => (ScanJob::Totals, Reply::Totals(reply)),
            WorkerCmd::End {
                filter,
                reason,
                reply,
            } => (ScanJob::End { filter, reason }, Reply::Ended(reply)),
        };
        ActiveCommand {
            scan: Scan::new(job),
            reply,
        }
    }

    /// One step of at most `budget` slots; `true` when the walk is done and
    /// [`ActiveCommand::answer`] has the answer to send.
    pub fn step<E: EventSink>(
        &mut self,
        w: &mut Worker,
        budget: u32,
        now_ms: u64,
        ev: &mut E,
    ) -> bool {
        w.advance_scan(&mut self.scan, budget, now_ms, ev)
    }

    /// Sends the answer of a finished scan (a requester that gave up is
    /// not an error).
    pub fn answer(self) {
        match (self.reply, self.scan.into_result()) {
            (Reply::List(tx), ScanResult::List(v)) => {
                let _ = tx.send(v);
            }
            (Reply::Totals(tx), ScanResult::Totals(maps)) => {
                // As they are: the control plane adds them up.
                let _ = tx.send(maps);
            }
            (Reply::Ended(tx), ScanResult::Ended(n)) => {
                let _ = tx.send(n);
            }
            // `new` pairs each reply with its job's result.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_the_ring_is_kept_for_the_packet_path() {
        let (mut tx, mut rx) = rtrb::RingBuffer::new(8);
        let ev = || Event::SessionActive { session_id: 1 };
        assert_eq!(ScanSink::new(&mut tx).room(), 6);
        for _ in 0..6 {
            assert!(ScanSink::new(&mut tx).push(ev()));
        }
        assert_eq!(ScanSink::new(&mut tx).room(), 0, "6 of 8 used: stop");
        assert!(rx.pop().is_ok());
        assert_eq!(ScanSink::new(&mut tx).room(), 1, "drained one");
    }
}
