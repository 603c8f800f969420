//! How long a control command holds a worker (issue 11 item 5): the
//! walks behind `ctl sessions` (per-session totals), `ctl user-sessions
//! --session ID` (a filtered listing) and ending user sessions, timed on a
//! table shaped like `conf/bench.ron`'s (4 194 304 slots, 1M live user
//! sessions of 125 000 terminals), done in one go (what the worker did
//! before `pipeline::scan`) and in steps of `SCAN_BUDGET` slots (what it does
//! now: one step per loop iteration).
//!
//! Each walk and step is timed twice: in the thread's CPU time, which
//! leaves out the time the thread was preempted (this machine is shared),
//! and in wall-clock time, which does not. The longest step in CPU time is
//! the longest over all rounds; wall-clock figures are the best of
//! `ROUNDS` walks.
//!
//!     cargo bench -p dataplane --bench scan
//!     TANDEM_SCAN_SESSIONS=100000 cargo bench -p dataplane --bench scan

mod lab;

use dataplane::event::EndReason;
use dataplane::pipeline::inspect::Filter;
use dataplane::pipeline::scan::{Scan, ScanJob, ScanResult};
use lab::{CountingSink, Lab, Setup};
use rustix::time::{clock_gettime, ClockId};
use std::time::{Duration, Instant};

/// `appliance::runtime::commands::SCAN_BUDGET`.
const SCAN_BUDGET: u32 = 4096;
/// `conf/bench.ron`'s `user_sessions_per_worker`.
const CAPACITY: u32 = 4_194_304;
const FLOWS_PER_TERMINAL: u64 = 8;
const ROUNDS: usize = 5;

/// This thread's CPU time.
fn cpu_now() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Times `f` in CPU time and wall-clock time.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (c, w) = (cpu_now(), Instant::now());
    let r = f();
    (r, cpu_now().saturating_sub(c), w.elapsed())
}

fn job(name: &str, one_terminal: u64) -> ScanJob {
    match name {
        "totals" => ScanJob::Totals,
        "list" => ScanJob::List {
            filter: Filter {
                session_id: Some(one_terminal),
                ..Filter::default()
            },
            limit: 100_000,
        },
        _ => ScanJob::End {
            filter: Filter::default(),
            reason: EndReason::Admin,
        },
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn lab(n: u64) -> Lab {
    let setup = Setup {
        capacity: CAPACITY.max(n as u32),
        ..Setup::for_sessions(n)
    };
    let mut lab = Lab::new(&setup);
    lab.pin_terminals(n.div_ceil(FLOWS_PER_TERMINAL));
    lab.open(0, n, FLOWS_PER_TERMINAL);
    assert_eq!(u64::from(lab.worker.table().len()), n);
    lab
}

/// The longest steps of walks: in CPU time (over all), in wall-clock time
/// (the best walk's), and the count per walk.
#[derive(Default)]
struct Steps {
    cpu_max: Duration,
    /// Every step's CPU time, all rounds.
    cpu_all: Vec<Duration>,
    wall_best: Option<Duration>,
    steps: usize,
}

impl Steps {
    fn walk(&mut self, lab: &mut Lab, job: ScanJob, sink: &mut CountingSink) -> ScanResult {
        let now = lab.now;
        let mut scan = Scan::new(job);
        let mut wall_max = Duration::ZERO;
        self.steps = 0;
        loop {
            let (done, c, w) = timed(|| lab.worker.advance_scan(&mut scan, SCAN_BUDGET, now, sink));
            self.cpu_max = self.cpu_max.max(c);
            self.cpu_all.push(c);
            wall_max = wall_max.max(w);
            self.steps += 1;
            if done {
                break;
            }
        }
        self.wall_best = Some(self.wall_best.map_or(wall_max, |b| b.min(wall_max)));
        scan.into_result()
    }

    fn line(&mut self) -> String {
        self.cpu_all.sort_unstable();
        let at = |q: f64| self.cpu_all[((self.cpu_all.len() - 1) as f64 * q) as usize];
        format!(
            "CPU median {} p99.9 {} longest {}; longest wall {} ({} steps)",
            ms(at(0.5)),
            ms(at(0.999)),
            ms(self.cpu_max),
            ms(self.wall_best.unwrap_or_default()),
            self.steps
        )
    }
}

fn main() {
    let n: u64 = std::env::var("TANDEM_SCAN_SESSIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut lab = lab(n);
    let one_terminal = lab.worker.table().get(0).map_or(0, |e| e.session_id);
    let now = lab.now;
    println!(
        "{n} live user sessions in {} slots, steps of {SCAN_BUDGET} slots",
        lab.worker.table().capacity()
    );
    for name in ["totals", "list"] {
        let (mut cpu, mut wall) = (Duration::MAX, Duration::MAX);
        let mut steps = Steps::default();
        let mut sink = CountingSink::default();
        for _ in 0..ROUNDS {
            let (r, c, w) = timed(|| lab.worker.run_scan(job(name, one_terminal), now, &mut sink));
            std::hint::black_box(r);
            (cpu, wall) = (cpu.min(c), wall.min(w));
            match steps.walk(&mut lab, job(name, one_terminal), &mut sink) {
                ScanResult::Totals(maps) => assert_eq!(
                    maps.iter()
                        .flat_map(|t| t.values())
                        .map(|v| v.0)
                        .sum::<u64>(),
                    n,
                    "every user session counted"
                ),
                ScanResult::List(v) => assert_eq!(v.len() as u64, FLOWS_PER_TERMINAL.min(n)),
                ScanResult::Ended(_) => {}
            }
        }
        println!(
            "{name:>6}: in one go {} CPU, {} wall; in steps: {}",
            ms(cpu),
            ms(wall),
            steps.line()
        );
    }
    // Ending every user session, in one go and in steps (each on a freshly
    // filled table; one round each, filling takes longer than ending).
    let (ended, cpu, wall) = timed(|| {
        lab.worker
            .run_scan(job("end", 0), now, &mut CountingSink::default())
    });
    assert!(matches!(ended, ScanResult::Ended(e) if e as u64 == n));
    let mut lab = self::lab(n);
    let mut steps = Steps::default();
    let ended = steps.walk(&mut lab, job("end", 0), &mut CountingSink::default());
    assert!(matches!(ended, ScanResult::Ended(e) if e as u64 == n));
    println!(
        "{:>6}: in one go {} CPU, {} wall; in steps: {}",
        "end",
        ms(cpu),
        ms(wall),
        steps.line()
    );
}
