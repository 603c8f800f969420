//! A worker lcore's poll loop, in the manner of DPDK's l3fwd: receive a
//! burst from each queue it polls and from each handoff ring aimed at it,
//! run the pipeline on every frame, transmit per port on its own tx queue,
//! run bounded timer work, and back off when idle.

use super::commands::{ActiveCommand, ScanSink, SCAN_BUDGET};
use super::frame::MbufFrame;
use super::handoff::{HandoffIn, HandoffOut};
use super::patient_sink::PatientSink;
use crate::clock::Clock;
use crossbeam::channel::Sender;
use crossbeam::queue::ArrayQueue;
use dataplane::counters::DropReason;
use dataplane::event::EndReason;
use dataplane::event::{Event, EventSink};
use dataplane::pipeline::hold::HoldQueue;
use dataplane::pipeline::inspect::{Filter, UserSessionInfo};
use dataplane::pipeline::{FrameRecord, Ingress, Verdict, Worker, PREFETCH_MAX};
use dataplane::prefetch::Prefetch;
use dpdk_ffi::{Burst, Mbuf, Mempool, RxQueue, TxQueue, BURST_MAX};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timer entries examined per loop iteration (bounded work per tick).
const TIMER_BUDGET: usize = 64;

/// Events go to a bounded single-producer ring (one per worker, drained by
/// the control plane); a full ring loses the event
/// (the pipeline counts it).
pub struct QueueSink<'a>(pub &'a mut rtrb::Producer<Event>);

impl EventSink for QueueSink<'_> {
    #[inline]
    fn push(&mut self, e: Event) -> bool {
        self.0.push(e).is_ok()
    }
}

/// What the control plane asks of a worker (between bursts).
pub enum WorkerCmd {
    /// List user sessions.
    Dump {
        filter: Filter,
        limit: usize,
        reply: Sender<Vec<UserSessionInfo>>,
    },
    /// Per-session totals of live user sessions (partial maps, to add up).
    Totals {
        reply: Sender<Vec<dataplane::pipeline::scan::SessionTotals>>,
    },
    /// End user sessions now, with accounting.
    End {
        filter: Filter,
        reason: EndReason,
        reply: Sender<usize>,
    },
}

/// Everything a worker lcore owns besides its pipeline.
pub struct WorkerIo {
    /// The rx queues this worker polls (only it holds them).
    pub polls: Vec<RxQueue>,
    /// This worker's tx queue on every port, by config port index.
    pub tx: Vec<TxQueue>,
    /// DPDK port id → config port index (u16::MAX: not ours).
    pub port_index: Vec<u16>,
    /// Handoff rings to each other worker (None for itself), carrying
    /// each frame's record.
    pub ring_out: Vec<Option<HandoffOut>>,
    /// Handoff rings from the other workers.
    pub ring_in: Vec<HandoffIn>,
    pub events: rtrb::Producer<Event>,
    pub commands: Arc<ArrayQueue<WorkerCmd>>,
    pub stop: Arc<AtomicBool>,
    /// Workers that have stopped handing frames to others (shutdown barrier).
    pub stopped: Arc<AtomicUsize>,
    /// Workers that have queued the final records of all their user
    /// sessions (the control plane drains the rings until then).
    pub finished: Arc<AtomicUsize>,
    pub n_workers: usize,
    pub busy_poll: bool,
    pub max_sleep_us: u32,
    pub clock: Clock,
    /// For the frames a packet may leave besides its own
    /// (`Worker::take_extra`).
    pub pool: Mempool,
}

struct Outputs {
    tx: Vec<Burst>,
    handoff: Vec<Burst>,
    /// The records of the frames in `handoff` (same indexes), carried with
    /// them so the receiving worker does not parse them again.
    handoff_records: Vec<[FrameRecord; BURST_MAX]>,
    /// Frames waiting for their next hop's MAC address (the dataplane's
    /// hold policy: how many, how long).
    held: HoldQueue<Mbuf>,
}

impl Outputs {
    /// Sends held frames whose neighbour is now known; drops the ones that
    /// waited too long.
    fn retry_held(&mut self, io: &mut WorkerIo, w: &Worker, now_ms: u64) {
        let tx = &mut self.tx;
        self.held.retry(
            now_ms,
            |mut m, port, waiting| {
                if !w.complete_held(&mut MbufFrame(&mut m), port, waiting) {
                    return Err(m);
                }
                let p = usize::from(port);
                if p < tx.len() {
                    if tx[p].is_full() {
                        flush_tx(io, w, &mut tx[p], p);
                    }
                    if tx[p].push(m).is_err() {
                        w.counters().count_drop(DropReason::TxFull);
                    }
                }
                Ok(())
            },
            |_| w.counters().count_drop(DropReason::NeighbourMiss),
        );
    }
}

/// Sends what `b` holds on port `p`; what the port does not take is
/// dropped and counted.
fn flush_tx(io: &mut WorkerIo, w: &Worker, b: &mut Burst, p: usize) {
    if b.is_empty() {
        return;
    }
    io.tx[p].tx_burst(b);
    if !b.is_empty() {
        w.counters().drop_n(DropReason::TxFull, b.len() as u64);
        b.clear();
    }
}

impl Outputs {
    fn flush_port(&mut self, io: &mut WorkerIo, w: &Worker, p: usize) {
        flush_tx(io, w, &mut self.tx[p], p);
    }

    /// Queues `m` on port `p`'s tx burst (sent when full or at the end of
    /// the loop); `no_route` for an unknown port, `tx_full` when the queue
    /// refuses it.
    #[inline]
    fn push_tx(&mut self, io: &mut WorkerIo, w: &Worker, p: usize, m: Mbuf) {
        if p >= self.tx.len() {
            w.counters().count_drop(DropReason::NoRoute);
            return;
        }
        if self.tx[p].is_full() {
            self.flush_port(io, w, p);
        }
        if self.tx[p].push(m).is_err() {
            w.counters().count_drop(DropReason::TxFull);
        }
    }

    fn flush_ring(&mut self, io: &mut WorkerIo, w: &Worker, t: usize) {
        let b = &mut self.handoff[t];
        if b.is_empty() {
            return;
        }
        if let Some(ring) = io.ring_out[t].as_mut() {
            ring.send(b, &self.handoff_records[t]);
        }
        if !b.is_empty() {
            w.counters()
                .drop_n(DropReason::HandoffRingFull, b.len() as u64);
            b.clear();
        }
    }

    fn flush_all(&mut self, io: &mut WorkerIo, w: &Worker) {
        for p in 0..self.tx.len() {
            self.flush_port(io, w, p);
        }
        for t in 0..self.handoff.len() {
            self.flush_ring(io, w, t);
        }
    }
}

#[inline]
fn handle(
    io: &mut WorkerIo,
    w: &mut Worker,
    out: &mut Outputs,
    mut m: Mbuf,
    ingress: Ingress,
    record: &FrameRecord,
    now_ms: u64,
) {
    let in_port = io
        .port_index
        .get(usize::from(m.port()))
        .copied()
        .unwrap_or(u16::MAX);
    if !m.is_contiguous() {
        w.counters().count_drop(DropReason::MultiSegment);
        return;
    }
    let v = {
        let mut sink = QueueSink(&mut io.events);
        let mut f = MbufFrame(&mut m);
        w.process_recorded(&mut f, record, ingress, in_port, now_ms, &mut sink)
    };
    match v {
        Verdict::Forward(p) => {
            out.push_tx(io, w, usize::from(p), m);
            // The later pieces of a fragmented NAT64 answer, in order.
            while let Some((p, m)) = w
                .take_extra()
                .map(|(p, bytes)| (usize::from(p), Mbuf::from_bytes(&io.pool, bytes)))
            {
                send_extra(io, w, out, p, m);
            }
        }
        Verdict::Handoff(t) => {
            let t = usize::from(t);
            if t >= out.handoff.len() || io.ring_out[t].is_none() {
                w.counters().count_drop(DropReason::NoGateway);
                return;
            }
            if out.handoff[t].is_full() {
                out.flush_ring(io, w, t);
            }
            if let Some(slot) = out.handoff_records[t].get_mut(out.handoff[t].len()) {
                *slot = record.carried();
            }
            if out.handoff[t].push(m).is_err() {
                w.counters().count_drop(DropReason::HandoffRingFull);
            }
        }
        Verdict::Hold { .. } | Verdict::HoldV6 { .. } => {
            let Some((port, waiting)) = v.held() else {
                return;
            };
            if out.held.hold(m, port, waiting, now_ms).is_err() {
                w.counters().count_drop(DropReason::NeighbourMiss);
            }
        }
        Verdict::Drop(_) | Verdict::Consumed => {}
    }
}

/// Sends a frame a packet left besides its own (a later IPv6 fragment of
/// a NAT64 answer), copied into `m`, right after it on port `p`; counted
/// `no_mbuf` when the pool was empty.
#[cold]
#[inline(never)]
fn send_extra(io: &mut WorkerIo, w: &Worker, out: &mut Outputs, p: usize, m: Option<Mbuf>) {
    match m {
        Some(m) => out.push_tx(io, w, p, m),
        None => w.counters().count_drop(DropReason::NoMbuf),
    }
}

/// The CPU's prefetch instruction, for the pipeline's first pass.
struct CpuPrefetch;

impl Prefetch for CpuPrefetch {
    #[inline(always)]
    fn read<T>(&self, value: &T) {
        dpdk_ffi::prefetch_read(value);
    }
}

/// Asks for the session state of every frame of a burst before the first
/// is processed, so their cache misses overlap, and keeps what it read of
/// each frame in `records` (the pipeline does not parse them again).
#[inline]
fn prefetch(io: &WorkerIo, w: &Worker, rx: &Burst, records: &mut [FrameRecord]) {
    if rx.is_empty() {
        return;
    }
    let frames = rx.iter().map(|m| {
        let in_port = io
            .port_index
            .get(usize::from(m.port()))
            .copied()
            .unwrap_or(u16::MAX);
        (m.data(), in_port)
    });
    w.prefetch_records(frames, &CpuPrefetch, records);
}

/// The loop; returns when `stop` is set. Live user sessions are then ended
/// with final accounting records.
pub fn run(mut io: WorkerIo, mut w: Worker) -> i32 {
    let mut out = Outputs {
        tx: (0..io.tx.len()).map(|_| Burst::new()).collect(),
        handoff: (0..io.ring_out.len()).map(|_| Burst::new()).collect(),
        handoff_records: vec![[FrameRecord::UNREAD; BURST_MAX]; io.ring_out.len()],
        held: HoldQueue::default(),
    };
    let mut rx = Burst::new();
    // What the prefetch pass read of each frame of the burst.
    let mut records = [FrameRecord::default(); PREFETCH_MAX];
    let mut idle_rounds: u32 = 0;
    let mut loops: u32 = 0;
    let capacity: usize = io.ring_in.iter().map(|r| r.capacity()).sum();
    w.counters().ring_capacity.set(capacity as u64);
    let mut active: Option<ActiveCommand> = None;
    while !io.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        w.begin_burst();
        let now_ms = io.clock.now_ms();
        let mut work = 0usize;
        for i in 0..io.polls.len() {
            let n = io.polls[i].rx_burst(&mut rx);
            work += n;
            prefetch(&io, &w, &rx, &mut records);
            for (i, m) in rx.drain(..).enumerate() {
                let record = records.get(i).unwrap_or(&FrameRecord::UNREAD);
                handle(&mut io, &mut w, &mut out, m, Ingress::Port, record, now_ms);
            }
        }
        for i in 0..io.ring_in.len() {
            // The frames come with the records the sending worker made.
            let n = io.ring_in[i].receive(&mut rx, &mut records);
            work += n;
            w.prefetch_carried(&mut records[..n.min(PREFETCH_MAX)], &CpuPrefetch);
            for (i, m) in rx.drain(..).enumerate() {
                let record = records.get(i).unwrap_or(&FrameRecord::UNREAD);
                handle(
                    &mut io,
                    &mut w,
                    &mut out,
                    m,
                    Ingress::Handoff,
                    record,
                    now_ms,
                );
            }
        }
        if !out.held.is_empty() {
            out.retry_held(&mut io, &w, now_ms);
        }
        out.flush_all(&mut io, &w);
        work += w.run_timers_prefetched(
            now_ms,
            TIMER_BUDGET,
            &mut QueueSink(&mut io.events),
            &CpuPrefetch,
        );
        // A control command is answered a little per iteration (ending
        // user sessions pauses while the event ring is nearly full: the
        // control plane drains it while it waits for the answer).
        if active.is_none() {
            active = io.commands.pop().map(ActiveCommand::new);
        }
        if let Some(cmd) = active.as_mut() {
            work += 1;
            if cmd.step(
                &mut w,
                SCAN_BUDGET,
                now_ms,
                &mut ScanSink::new(&mut io.events),
            ) {
                if let Some(done) = active.take() {
                    done.answer();
                }
            }
        }
        loops = loops.wrapping_add(1);
        if loops & 1023 == 0 {
            let backlog: usize = io.ring_in.iter().map(|r| r.count()).sum();
            w.counters().ring_occupancy.set(backlog as u64);
        }

        // The busy part of the iteration (the back-off sleep below is not).
        w.counters()
            .loop_times
            .record(started.elapsed().as_nanos() as u64);
        if work > 0 {
            idle_rounds = 0;
            w.counters().busy_polls.inc();
        } else {
            w.counters().idle_polls.inc();
            if !io.busy_poll {
                idle_rounds = idle_rounds.saturating_add(1);
                if idle_rounds > 8 {
                    let us = (1u32 << (idle_rounds - 8).min(10)).min(io.max_sleep_us.max(1));
                    std::thread::sleep(Duration::from_micros(u64::from(us)));
                }
            }
        }
    }
    // A command still in progress is finished in one go, so its requester
    // gets an answer; records of user sessions it ends wait for room like
    // the final ones below.
    if let Some(mut cmd) = active.take() {
        let now_ms = io.clock.now_ms();
        while !cmd.step(
            &mut w,
            u32::MAX,
            now_ms,
            &mut PatientSink::new(&mut io.events),
        ) {}
        cmd.answer();
    }
    // Stop: send what is queued, then drain what the others hand us until
    // every worker has stopped handing frames over; each frame left is
    // counted as dropped at shutdown.
    out.flush_all(&mut io, &w);
    let held = out.held.clear() as u64;
    w.counters().drop_n(DropReason::Shutdown, held);
    io.stopped.fetch_add(1, Ordering::AcqRel);
    loop {
        let all_stopped = io.stopped.load(Ordering::Acquire) >= io.n_workers;
        for i in 0..io.ring_in.len() {
            loop {
                let n = io.ring_in[i].receive(&mut rx, &mut records);
                if n == 0 {
                    break;
                }
                w.counters().drop_n(DropReason::Shutdown, n as u64);
                rx.clear();
            }
        }
        if all_stopped {
            break;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    // Final records: one per live user session, many more than the ring
    // holds; the control plane drains it meanwhile (see PatientSink).
    let now_ms = io.clock.now_ms();
    w.end_all(now_ms, &mut PatientSink::new(&mut io.events));
    io.finished.fetch_add(1, Ordering::AcqRel);
    out.flush_all(&mut io, &w);
    0
}
