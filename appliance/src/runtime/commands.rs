//! A control command a worker is answering, a few thousand slots per loop
//! iteration (`dataplane::pipeline::scan`), so that `ctl sessions`,
//! `ctl user-sessions` or `ctl session delete` on a loaded appliance do not
//! stop forwarding while the whole user-session table is walked.

use super::worker::WorkerCmd;
use crossbeam::channel::Sender;
use dataplane::event::EventSink;
use dataplane::pipeline::inspect::UserSessionInfo;
use dataplane::pipeline::scan::{Scan, ScanJob, ScanResult};
use dataplane::pipeline::Worker;

/// Slab slots a worker looks at per loop iteration for a control command:
/// about 20-60 µs of work on this kind of machine, well below a burst's
/// worth of time at line rate for the NIC's receive ring.
pub const SCAN_BUDGET: u32 = 4096;

enum Reply {
    List(Sender<Vec<UserSessionInfo>>),
    Totals(Sender<Vec<(u64, u64, u64, u64)>>),
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

    /// One step of at most `budget` slots; `true` when the answer is sent.
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
            (Reply::Totals(tx), ScanResult::Totals(t)) => {
                let _ = tx.send(t.into_iter().map(|(s, (n, u, d))| (s, n, u, d)).collect());
            }
            (Reply::Ended(tx), ScanResult::Ended(n)) => {
                let _ = tx.send(n);
            }
            // `new` pairs each reply with its job's result.
            _ => {}
        }
    }
}
