//! Criterion benchmarks of one worker's pipeline on in-memory frames, one
//! core, bursts of 32 (issue 8):
//!
//! * `established/pipeline/N`: data segments of N live user sessions,
//!   picked at random, through the prefetch pass, tier-1 steering, the
//!   tier-2 lookup and the rewrite, as the appliance's worker loop runs
//!   them. `established/no_prefetch/N` is the same without the prefetch
//!   pass (what it gains). `established/copy_only/N` is the part of that
//!   which only copies the prepared frames into the burst buffers
//!   (subtract it).
//! * `proxy_v2/{plain,proxied}/N`: the established path of a service
//!   without and with `proxy_protocol: V2` (issue 15), data segments past
//!   the terminal's first byte after the server acknowledged the header
//!   (the proxied ones get their sequence number shifted).
//! * `new_sessions/live_L`: every frame a fresh 5-tuple (a SYN), with the
//!   timer wheel expiring old user sessions as in the worker loop, so the
//!   table holds about L live user sessions (steady state).
//! * `expiry/per_session`: one idle user session expired (timer wheel,
//!   table removal, port to quarantine, final accounting record).
//! * `fabric/encapsulate/N`, `fabric/decap_tier2/N` (issue 12): the data
//!   segments of `established/pipeline/N` across the cluster fabric. The
//!   tier-1 unit steers each to a gateway on another appliance and wraps
//!   it in Geneve; the gateway appliance takes the wrapped frames on its
//!   fabric port, checks and strips the outer headers and runs tier 2.
//!   Their sum is the cross-appliance cost of a packet, against
//!   `established/pipeline/N` (both tiers on one worker).
//! * `nat64/established/N` (issue 14): the data segments of
//!   `established/pipeline/N` sent by IPv6 terminals (one /64 each) to the
//!   web VIP through the NAT64 prefix (`64:ff9b::10.9.0.1`), translated to
//!   IPv4 toward the servers; compare with `established/pipeline/N`.
//! * `nat66/established/N` (issue 14): the same IPv6 terminals' segments
//!   to an IPv6 VIP served by IPv6 servers (IPv6 → IPv6 full NAT).
//!
//! Throughput is in elements = packets (or expiries): ns per packet is
//! 1000 / (Melem/s). The 10M case needs about 3 GiB and a minute of set-up:
//! set `TANDEM_BENCH_10M=1`. A filter argument (`cargo bench --bench
//! pipeline -- established`) also skips the set-up of the other groups.

mod lab;

use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use dataplane::frame::Frame;
use dataplane::tier2::{Quarantine, Timeouts};
use lab::{
    addrs_for, check_translated, write_data, write_data6, write_data_at, write_syn, FabricPair,
    FramePool, Lab, Rng, Setup, BURST,
};
use std::time::{Duration, Instant};

/// Prepared frames of the established benchmark (random sessions).
const POOL: u64 = 1 << 20;
/// Flows per terminal in the established benchmark.
const FLOWS_PER_TERMINAL: u64 = 8;

fn label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Whether a benchmark id passes the filter given on the command line (so
/// filtered-out groups skip their set-up too).
fn selected(id: &str) -> bool {
    const TAKES_VALUE: [&str; 12] = [
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--measurement-time",
        "--warm-up-time",
        "--sample-size",
        "--profile-time",
        "--output-format",
        "--color",
        "--noise-threshold",
        "--significance-level",
        "--nresamples",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if TAKES_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()))
}

fn established(c: &mut Criterion) {
    let mut sizes = vec![1_000u64, 1_000_000];
    if std::env::var_os("TANDEM_BENCH_10M").is_some() {
        sizes.push(10_000_000);
    }
    let mut g = c.benchmark_group("established");
    g.throughput(Throughput::Elements(BURST as u64));
    for n in sizes {
        let id = label(n);
        if !["pipeline", "no_prefetch", "copy_only"]
            .iter()
            .any(|b| selected(&format!("established/{b}/{id}")))
        {
            continue;
        }
        let setup = Setup::for_sessions(n);
        let mut lab = Lab::new(&setup);
        lab.pin_terminals(n.div_ceil(FLOWS_PER_TERMINAL));
        lab.open(0, n, FLOWS_PER_TERMINAL);
        assert_eq!(u64::from(lab.worker.table().len()), n);
        let mut rng = Rng(n);
        let picks = if n <= POOL {
            rng.permutation(n)
        } else {
            (0..POOL).map(|_| rng.next_u64() % n).collect()
        };
        let pool = FramePool::new(picks.iter().copied(), |s, out| {
            write_data(s, FLOWS_PER_TERMINAL, out)
        });
        let mut cursor = 0;
        // A fast wrong answer must not pass: check a burst field by field.
        assert_eq!(lab.burst(&pool, &mut cursor), BURST);
        for f in &lab.frames {
            check_translated(f.bytes(), setup.gateway_addrs);
        }
        let dropped = lab.dropped();
        g.bench_function(BenchmarkId::new("pipeline", &id), |b| {
            b.iter(|| black_box(lab.burst(&pool, &mut cursor)))
        });
        assert_eq!(lab.dropped(), dropped, "drops while measuring");
        assert_eq!(u64::from(lab.worker.table().len()), n, "no session added");
        lab.prefetch = false;
        g.bench_function(BenchmarkId::new("no_prefetch", &id), |b| {
            b.iter(|| black_box(lab.burst(&pool, &mut cursor)))
        });
        lab.prefetch = true;
        assert_eq!(lab.dropped(), dropped, "drops while measuring");
        g.bench_function(BenchmarkId::new("copy_only", &id), |b| {
            b.iter(|| {
                lab.copy_burst(&pool, &mut cursor);
                black_box(&lab.frames);
            })
        });
    }
    g.finish();
}

/// The established path with and without the PROXY protocol: same
/// sessions, same frames (sequence number 1101, past the first byte, so
/// the proxied ones are shifted, not given a header), each session's
/// server having acknowledged a segment (for the proxied ones: the header).
fn proxy_v2(c: &mut Criterion) {
    let mut g = c.benchmark_group("proxy_v2");
    g.throughput(Throughput::Elements(BURST as u64));
    for n in [1_000u64, 1_000_000] {
        let id = label(n);
        for kind in ["plain", "proxied"] {
            if !selected(&format!("proxy_v2/{kind}/{id}")) {
                continue;
            }
            let setup = Setup::for_sessions(n);
            let mut lab = Lab::new(&setup);
            if kind == "proxied" {
                lab.proxy_protocol();
            }
            lab.pin_terminals(n.div_ceil(FLOWS_PER_TERMINAL));
            lab.open(0, n, FLOWS_PER_TERMINAL);
            // Both kinds see the same traffic before the measurement.
            lab.acknowledge_headers(n, FLOWS_PER_TERMINAL);
            let picks = Rng(n).permutation(n.min(POOL));
            let pool = FramePool::new(picks.iter().copied(), |s, out| {
                write_data_at(s, FLOWS_PER_TERMINAL, 1101, out)
            });
            let mut cursor = 0;
            assert_eq!(lab.burst(&pool, &mut cursor), BURST);
            for f in &lab.frames {
                check_translated(f.bytes(), setup.gateway_addrs);
                let seq = u32::from_be_bytes([
                    f.bytes()[38],
                    f.bytes()[39],
                    f.bytes()[40],
                    f.bytes()[41],
                ]);
                let want = if kind == "proxied" { 1101 + 39 } else { 1101 };
                assert_eq!(seq, want, "{kind}: sequence number toward the server");
            }
            let dropped = lab.dropped();
            g.bench_function(BenchmarkId::new(kind, &id), |b| {
                b.iter(|| black_box(lab.burst(&pool, &mut cursor)))
            });
            assert_eq!(lab.dropped(), dropped, "drops while measuring");
        }
    }
    g.finish();
}

/// The established NAT64 path: IPv6 terminals' data segments translated
/// to IPv4 (same sessions, servers and payload as `established`).
fn nat64(c: &mut Criterion) {
    let mut g = c.benchmark_group("nat64");
    g.throughput(Throughput::Elements(BURST as u64));
    for n in [1_000u64, 1_000_000] {
        let id = label(n);
        if !selected(&format!("nat64/established/{id}")) {
            continue;
        }
        let setup = Setup::for_sessions(n);
        let mut lab = Lab::nat64(&setup);
        lab.pin_terminals6(n.div_ceil(FLOWS_PER_TERMINAL));
        lab.open6(0, n, FLOWS_PER_TERMINAL);
        assert_eq!(u64::from(lab.worker.table().len()), n);
        let picks = Rng(n).permutation(n.min(POOL));
        let pool = FramePool::new(picks.iter().copied(), |s, out| {
            write_data6(s, FLOWS_PER_TERMINAL, out)
        });
        let mut cursor = 0;
        assert_eq!(lab.burst(&pool, &mut cursor), BURST);
        for f in &lab.frames {
            check_translated(f.bytes(), setup.gateway_addrs);
        }
        let dropped = lab.dropped();
        g.bench_function(BenchmarkId::new("established", &id), |b| {
            b.iter(|| black_box(lab.burst(&pool, &mut cursor)))
        });
        assert_eq!(lab.dropped(), dropped, "drops while measuring");
    }
    g.finish();
}

/// The established IPv6 → IPv6 full-NAT path: IPv6 terminals' data
/// segments to an IPv6 VIP, rewritten toward IPv6 servers (same terminals
/// and payload as `nat64`).
fn nat66(c: &mut Criterion) {
    let mut g = c.benchmark_group("nat66");
    g.throughput(Throughput::Elements(BURST as u64));
    for n in [1_000u64, 1_000_000] {
        let id = label(n);
        if !selected(&format!("nat66/established/{id}")) {
            continue;
        }
        let setup = Setup::for_sessions(n);
        let mut lab = Lab::nat66(&setup);
        let ends = lab.open66(n, FLOWS_PER_TERMINAL);
        let gateways: std::collections::HashSet<_> = ends.iter().map(|e| e.1 .0).collect();
        assert_eq!(u64::from(lab.worker.table().len()), n);
        let picks = Rng(n).permutation(n.min(POOL));
        let pool = FramePool::new(picks.iter().copied(), |s, out| {
            lab::nat66::write_data66(s, FLOWS_PER_TERMINAL, out)
        });
        let mut cursor = 0;
        assert_eq!(lab.burst(&pool, &mut cursor), BURST);
        for f in &lab.frames {
            lab::nat66::check_rewritten(f.bytes(), |a| gateways.contains(&a));
        }
        let dropped = lab.dropped();
        g.bench_function(BenchmarkId::new("established", &id), |b| {
            b.iter(|| black_box(lab.burst(&pool, &mut cursor)))
        });
        assert_eq!(lab.dropped(), dropped, "drops while measuring");
    }
    g.finish();
}

/// New user sessions per simulated millisecond: the clock advances by one
/// millisecond every this many new sessions.
const NEW_PER_MS: u64 = 100;

/// One burst of fresh SYNs at the simulated time `sent` gives, then the
/// timer work the worker loop does after a burst.
#[inline]
fn churn_step(lab: &mut Lab, pool: &FramePool, cursor: &mut usize, sent: &mut u64) -> usize {
    lab.now = lab::START_MS + *sent / NEW_PER_MS;
    let forwarded = lab.burst(pool, cursor);
    *sent += BURST as u64;
    let now = lab.now;
    lab.worker
        .run_timers_prefetched(now, 64, &mut lab.sink, &lab::CpuPrefetch);
    forwarded
}

fn new_sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_sessions");
    g.throughput(Throughput::Elements(BURST as u64));
    for live in [10_000u64, 1_000_000] {
        let id = format!("live_{}", label(live));
        if !selected(&format!("new_sessions/{id}")) {
            continue;
        }
        // Idle timeout such that `live` user sessions are alive at once; the
        // appliance's 60 s TCP port quarantine holds NEW_PER_MS * 60_000
        // more ports.
        let timeout_ms = live / NEW_PER_MS;
        let quarantine = Quarantine {
            tcp_ms: 60_000,
            other_ms: 1_000,
        };
        let setup = Setup {
            // Expiry runs a wheel tick (100 ms) behind the deadlines.
            capacity: (live * 2 + NEW_PER_MS * 300) as u32,
            gateway_addrs: addrs_for(live * 2, NEW_PER_MS * (quarantine.tcp_ms + 1_000)),
            timeouts: Timeouts {
                tcp_syn_ms: timeout_ms,
                ..Timeouts::default()
            },
            quarantine,
        };
        let flows_per_terminal = 64;
        // Distinct 5-tuples: a tuple comes round again only after its
        // user session has expired, so every SYN opens a new one.
        let distinct = (live * 5 / 2).max(1 << 16);
        let mut lab = Lab::new(&setup);
        lab.pin_terminals(distinct.div_ceil(flows_per_terminal));
        let pool = FramePool::new(0..distinct, |s, out| write_syn(s, flows_per_terminal, out));
        let mut cursor = 0;
        let mut sent = 0u64;
        // Warm up to the steady state: the table full at `live`, released
        // ports back from quarantine.
        let warm = (live * 2).max(NEW_PER_MS * (quarantine.tcp_ms + 2_000));
        while sent < warm {
            assert_eq!(churn_step(&mut lab, &pool, &mut cursor, &mut sent), BURST);
        }
        for f in &lab.frames {
            check_translated(f.bytes(), setup.gateway_addrs);
        }
        g.bench_function(&id, |b| {
            b.iter(|| black_box(churn_step(&mut lab, &pool, &mut cursor, &mut sent)))
        });
        let created = lab.worker.counters().user_sessions_created.get();
        assert_eq!(lab.dropped(), 0, "no drops (ports and table suffice)");
        assert_eq!(created, sent, "every frame opened a new user session");
        let live_now = u64::from(lab.worker.table().len());
        assert!(
            live_now <= live + live / 5 + NEW_PER_MS * 200,
            "expiry keeps up: {live_now} live"
        );
        eprintln!(
            "new_sessions/{id}: {sent} opened, {} expired, {live_now} live at the end",
            lab.worker.counters().user_sessions_expired.get()
        );
    }
    g.finish();
}

fn expiry(c: &mut Criterion) {
    if !selected("expiry/per_session") {
        return;
    }
    let mut g = c.benchmark_group("expiry");
    g.throughput(Throughput::Elements(1));
    g.sampling_mode(SamplingMode::Flat);
    // Up to BATCH user sessions are opened (not timed), the clock jumps past
    // their timeout, and the timed part expires them all.
    const BATCH: u64 = 1 << 18;
    let timeouts = Timeouts::default();
    let setup = Setup {
        capacity: BATCH as u32,
        // Each batch's ports wait 60 s in quarantine; a batch every ~10 s.
        gateway_addrs: addrs_for(BATCH * 8, 0),
        timeouts,
        quarantine: Quarantine {
            tcp_ms: 60_000,
            other_ms: 1_000,
        },
    };
    let flows_per_terminal = 64;
    let mut lab = Lab::new(&setup);
    let mut next = 0u64;
    g.bench_function("per_session", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut remaining = iters;
            while remaining > 0 {
                let batch = remaining.min(BATCH);
                lab.open(next, batch, flows_per_terminal);
                next += batch;
                lab.now += timeouts.tcp_syn_ms + 200;
                let counters = std::sync::Arc::clone(lab.worker.counters());
                let target = counters.user_sessions_expired.get() + batch;
                let now = lab.now;
                let t0 = Instant::now();
                while counters.user_sessions_expired.get() < target {
                    lab.worker.run_timers(now, 64, &mut lab.sink);
                }
                timed += t0.elapsed();
                assert!(lab.worker.table().is_empty());
                remaining -= batch;
            }
            timed
        })
    });
    assert_eq!(lab.dropped(), 0);
    assert_eq!(
        lab.sink.accounting, next,
        "one final record per user session"
    );
    g.finish();
}

fn fabric(c: &mut Criterion) {
    let mut g = c.benchmark_group("fabric");
    g.throughput(Throughput::Elements(BURST as u64));
    for n in [1_000u64, 1_000_000] {
        let id = label(n);
        if !["encapsulate", "decap_tier2"]
            .iter()
            .any(|b| selected(&format!("fabric/{b}/{id}")))
        {
            continue;
        }
        let setup = Setup::for_sessions(n);
        let mut rng = Rng(n);
        let picks: Vec<u64> = if n <= POOL {
            rng.permutation(n)
        } else {
            (0..POOL).map(|_| rng.next_u64() % n).collect()
        };
        let FabricPair {
            mut tier1,
            mut gateway,
            plain,
            wrapped,
        } = FabricPair::new(&setup, n, FLOWS_PER_TERMINAL, &picks);
        let (mut at1, mut at2) = (0, 0);
        assert_eq!(tier1.burst(&plain, &mut at1), BURST);
        assert_eq!(gateway.burst(&wrapped, &mut at2), BURST);
        // A fast wrong answer must not pass: the gateway's output, checked.
        for f in &gateway.frames {
            check_translated(f.bytes(), setup.gateway_addrs);
        }
        let dropped = (tier1.dropped(), gateway.dropped());
        g.bench_function(BenchmarkId::new("encapsulate", &id), |b| {
            b.iter(|| black_box(tier1.burst(&plain, &mut at1)))
        });
        g.bench_function(BenchmarkId::new("decap_tier2", &id), |b| {
            b.iter(|| black_box(gateway.burst(&wrapped, &mut at2)))
        });
        assert_eq!(
            (tier1.dropped(), gateway.dropped()),
            dropped,
            "drops while measuring"
        );
        assert_eq!(
            u64::from(gateway.worker.table().len()),
            n,
            "no session added"
        );
        assert_eq!(
            tier1.worker.table().len(),
            0,
            "tier 1 holds no user session"
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = established, proxy_v2, new_sessions, expiry, fabric, nat64, nat66
}
criterion_main!(benches);
