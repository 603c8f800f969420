//! Budgeted walks over the user-session table (`pipeline::scan`): a walk
//! done a few slots at a time gives the same answer as one done at once, and
//! ending user sessions that way writes their records and frees their ports.

use super::*;
use crate::event::{EndReason, RecordKind};
use crate::pipeline::inspect::Filter;
use crate::pipeline::scan::{Scan, ScanJob, ScanResult};

/// A second terminal.
const UE_B: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 101);

/// A lab with `n` user sessions from two terminals (even `i` from UE, odd
/// from UE_B) on one worker.
fn lab_with(n: u16) -> Lab {
    let mut lab = Lab::with(1, 1 << 10, SessionKeyMode::SourceIp, PORT_RANGE);
    for i in 0..n {
        let src = if i % 2 == 0 { UE } else { UE_B };
        let (v, _) = lab.up(ACC, &syn(src, 41000 + i, VIP, 80));
        assert!(matches!(v, Verdict::Forward(_)), "{v:?}");
    }
    assert_eq!(lab.live(), u32::from(n));
    lab
}

fn sid(ip: Ipv4Addr) -> u64 {
    crate::tier1::session_id(SessionKeyMode::SourceIp, ip, None, None)
        .unwrap()
        .0
}

/// Advances `scan` by `budget` slots per step; returns the steps taken.
fn run_in_steps(lab: &mut Lab, scan: &mut Scan, budget: u32) -> usize {
    let mut steps = 0;
    let now = lab.now;
    loop {
        steps += 1;
        if lab.workers[0].advance_scan(scan, budget, now, &mut lab.events) {
            return steps;
        }
        assert!(steps <= 10_000, "scan never ends");
    }
}

#[test]
fn a_walk_in_small_steps_lists_what_a_walk_at_once_lists() {
    let mut lab = lab_with(100);
    let capacity = lab.workers[0].table().capacity();
    let whole = match lab.workers[0].run_scan(
        ScanJob::List {
            filter: Filter::default(),
            limit: 10_000,
        },
        lab.now,
        &mut lab.events,
    ) {
        ScanResult::List(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(whole.len(), 100);
    let mut scan = Scan::new(ScanJob::List {
        filter: Filter::default(),
        limit: 10_000,
    });
    let steps = run_in_steps(&mut lab, &mut scan, 16);
    assert_eq!(steps, capacity.div_ceil(16) as usize, "16 slots per step");
    let ScanResult::List(stepped) = scan.into_result() else {
        panic!("not a list")
    };
    assert_eq!(stepped, whole);
}

#[test]
fn a_listing_stops_at_its_limit_and_honours_the_filter() {
    let mut lab = lab_with(40);
    let mut scan = Scan::new(ScanJob::List {
        filter: Filter {
            session_id: Some(sid(UE_B)),
            ..Filter::default()
        },
        limit: 7,
    });
    run_in_steps(&mut lab, &mut scan, 3);
    let ScanResult::List(v) = scan.into_result() else {
        panic!("not a list")
    };
    assert_eq!(v.len(), 7);
    assert!(v.iter().all(|u| u.terminal.0 == UE_B));
}

#[test]
fn totals_per_mobile_session_add_up() {
    let mut lab = lab_with(30);
    let mut scan = Scan::new(ScanJob::Totals);
    run_in_steps(&mut lab, &mut scan, 5);
    let ScanResult::Totals(maps) = scan.into_result() else {
        panic!("not totals")
    };
    assert_eq!(maps.len(), 1, "two sessions fit in one map");
    let t = &maps[0];
    assert_eq!(t.len(), 2);
    assert_eq!(t[&sid(UE)].0, 15);
    assert_eq!(t[&sid(UE_B)].0, 15);
    assert!(t[&sid(UE)].1 > 0, "bytes up counted");
}

#[test]
fn ending_in_steps_writes_every_record_and_frees_every_port() {
    let mut lab = lab_with(50);
    lab.events.clear();
    let mut scan = Scan::new(ScanJob::End {
        filter: Filter {
            session_id: Some(sid(UE)),
            ..Filter::default()
        },
        reason: EndReason::Admin,
    });
    run_in_steps(&mut lab, &mut scan, 8);
    let ScanResult::Ended(n) = scan.into_result() else {
        panic!("not an end")
    };
    assert_eq!(n, 25);
    assert_eq!(lab.live(), 25, "the other terminal's user sessions stay");
    let acc = lab.accounting();
    assert_eq!(acc.len(), 25);
    assert!(acc.iter().all(|a| a.kind == RecordKind::Final
        && a.end_reason == EndReason::Admin
        && a.terminal_ip == UE));
    let p = lab.workers[0].port_allocator().stats(0).unwrap();
    assert_eq!(p.in_use, 25);
}

#[test]
fn user_sessions_created_behind_the_cursor_are_not_seen_and_nothing_is_seen_twice() {
    let mut lab = lab_with(20);
    let mut scan = Scan::new(ScanJob::List {
        filter: Filter::default(),
        limit: 10_000,
    });
    let now = lab.now;
    // Past the slots the first 20 user sessions took.
    let capacity = lab.workers[0].table().capacity();
    assert!(!lab.workers[0].advance_scan(&mut scan, 64, now, &mut lab.events));
    assert!(scan.cursor() < capacity);
    // A new user session lands in a free slot (behind the cursor: the slab
    // reuses freed slots first, and the first free ones follow the 20).
    lab.up(ACC, &syn(UE, 42000, VIP, 80));
    run_in_steps(&mut lab, &mut scan, 64);
    let ScanResult::List(v) = scan.into_result() else {
        panic!("not a list")
    };
    let mut ports: Vec<u16> = v.iter().map(|u| u.terminal.1).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), v.len(), "no user session twice");
    assert_eq!(
        v.len(),
        20,
        "the one created behind the cursor is not listed"
    );
}

/// An event ring of `cap` slots: `room` is what is left, a push into a full
/// one is refused (and the pipeline counts the event lost).
struct SmallRing {
    cap: usize,
    events: Vec<Event>,
}

impl crate::event::EventSink for SmallRing {
    fn push(&mut self, e: Event) -> bool {
        if self.events.len() >= self.cap {
            return false;
        }
        self.events.push(e);
        true
    }

    fn room(&self) -> usize {
        self.cap - self.events.len()
    }
}

#[test]
fn ending_pauses_while_the_ring_is_full_and_loses_no_record() {
    let mut lab = lab_with(50);
    let lost_before = lab.workers[0].counters().events_lost.get();
    let mut ring = SmallRing {
        cap: 4,
        events: Vec::new(),
    };
    let mut scan = Scan::new(ScanJob::End {
        filter: Filter::default(),
        reason: EndReason::Admin,
    });
    let now = lab.now;
    let mut records = Vec::new();
    let mut steps = 0;
    while !lab.workers[0].advance_scan(&mut scan, 4096, now, &mut ring) {
        steps += 1;
        assert!(steps < 1000, "the walk never ends");
        // A full ring and nobody draining: the walk stays where it is.
        let cursor = scan.cursor();
        let live = lab.live();
        assert!(!lab.workers[0].advance_scan(&mut scan, 4096, now, &mut ring));
        assert_eq!((scan.cursor(), lab.live()), (cursor, live), "paused");
        // The control plane drains the ring.
        records.append(&mut ring.events);
    }
    records.append(&mut ring.events);
    let ScanResult::Ended(n) = scan.into_result() else {
        panic!("not an end")
    };
    assert_eq!(n, 50);
    assert_eq!(lab.live(), 0);
    assert!(steps >= 50 / 4, "4 records per step at most: {steps}");
    let finals = records
        .iter()
        .filter(|e| matches!(e, Event::Accounting(a) if a.kind == RecordKind::Final))
        .count();
    assert_eq!(finals, 50, "one final record per user session");
    assert_eq!(
        lab.workers[0].counters().events_lost.get(),
        lost_before,
        "no event lost"
    );
}

#[test]
fn an_end_step_is_bounded_by_its_budget() {
    let mut lab = lab_with(200);
    lab.events.clear();
    let mut scan = Scan::new(ScanJob::End {
        filter: Filter::default(),
        reason: EndReason::Admin,
    });
    let now = lab.now;
    let budget = 170;
    assert!(!lab.workers[0].advance_scan(&mut scan, budget, now, &mut lab.events));
    let ended = 200 - lab.live();
    // Each user session ended costs its slot and REMOVE_COST more.
    let most = budget.div_ceil(1 + crate::pipeline::scan::REMOVE_COST);
    assert!(ended >= 1 && ended <= most, "{ended} ended in one step");
}

#[test]
fn ending_in_one_go_does_not_pause_for_room() {
    let mut lab = lab_with(10);
    // Claims no room but takes every push (like the shutdown's patient
    // sink, which waits for room itself).
    struct Patient(Vec<Event>);
    impl crate::event::EventSink for Patient {
        fn push(&mut self, e: Event) -> bool {
            self.0.push(e);
            true
        }
        fn room(&self) -> usize {
            0
        }
    }
    let mut sink = Patient(Vec::new());
    let now = lab.now;
    assert_eq!(lab.workers[0].end_all(now, &mut sink), 10);
    assert_eq!(lab.live(), 0);
    assert_eq!(
        sink.0
            .iter()
            .filter(|e| matches!(e, Event::Accounting(_)))
            .count(),
        10
    );
}

#[test]
fn totals_of_many_sessions_come_in_maps_that_never_grow_and_add_up() {
    use crate::pipeline::scan::TOTALS_CHUNK;
    let sessions = TOTALS_CHUNK as u32 + 100;
    let mut lab = Lab::with(1, 1 << 16, SessionKeyMode::SourceIp, PORT_RANGE);
    for i in 0..sessions {
        // Terminals 10.9.x.y, two user sessions each.
        let src = Ipv4Addr::from(0x0a09_0000 + i);
        for port in [41000, 41001] {
            let (v, _) = lab.up(ACC, &syn(src, port, VIP, 80));
            assert!(matches!(v, Verdict::Forward(_)), "{v:?}");
        }
    }
    let mut scan = Scan::new(ScanJob::Totals);
    run_in_steps(&mut lab, &mut scan, 4096);
    let ScanResult::Totals(maps) = scan.into_result() else {
        panic!("not totals")
    };
    assert!(maps.len() >= 2, "more sessions than one map holds");
    assert!(maps.iter().all(|m| m.len() <= TOTALS_CHUNK));
    let mut sum: hashbrown::HashMap<u64, u64> = hashbrown::HashMap::new();
    for (s, (n, _, _)) in maps.iter().flatten() {
        *sum.entry(*s).or_default() += n;
    }
    assert_eq!(sum.len(), sessions as usize);
    assert!(sum.values().all(|&n| n == 2), "two user sessions each");
}
