//! The timer wheel against a model of armed deadlines: nothing fires early,
//! nothing fires more than one tick late once `advance` has passed it with
//! enough budget, budgets hold, re-arming and disarming work.

use std::collections::HashMap;

use proptest::prelude::*;

use crate::tier2::timer::TimerWheel;

const CAPACITY: u32 = 24;
const TICK_MS: u64 = 100;
/// 16 slots: one revolution is 1.6 s, delays go well past it.
const SLOTS: u32 = 16;

#[derive(Clone, Debug)]
enum Op {
    Arm {
        idx: u32,
        delay: u64,
    },
    Disarm {
        idx: u32,
    },
    /// `budget: None` means unlimited; `rearm_delay` is used for indices the
    /// callback decides to keep (those with `idx % 3 == 0`).
    Advance {
        dt: u64,
        budget: Option<usize>,
        rearm_delay: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..CAPACITY, 0..5000u64).prop_map(|(idx, delay)| Op::Arm { idx, delay }),
        1 => (0..CAPACITY + 1).prop_map(|idx| Op::Disarm { idx }),
        4 => (0..700u64, prop::option::weighted(0.5, 0..6usize), 1..3000u64)
            .prop_map(|(dt, budget, rearm_delay)| Op::Advance { dt, budget, rearm_delay }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn wheel_matches_model(start in 0..1_000_000u64, ops in prop::collection::vec(op(), 1..1500)) {
        let mut w = TimerWheel::new(CAPACITY, TICK_MS, SLOTS, start);
        let mut now = start;
        let mut model: HashMap<u32, u64> = HashMap::new();
        for op in ops {
            match op {
                Op::Arm { idx, delay } => {
                    prop_assert!(w.arm(idx, now + delay));
                    model.insert(idx, now + delay);
                }
                Op::Disarm { idx } => {
                    prop_assert_eq!(w.disarm(idx), model.remove(&idx).is_some());
                }
                Op::Advance { dt, budget, rearm_delay } => {
                    now += dt;
                    let mut calls = 0usize;
                    let mut failure: Option<String> = None;
                    let fired = w.advance(now, budget.unwrap_or(usize::MAX), |idx| {
                        calls += 1;
                        match model.get(&idx) {
                            None => failure = Some(format!("{idx} fired but is not armed")),
                            Some(&d) if d > now => {
                                failure = Some(format!("{idx} fired at {now}, deadline {d}"))
                            }
                            Some(_) => {}
                        }
                        if idx % 3 == 0 {
                            model.insert(idx, now + rearm_delay);
                            Some(now + rearm_delay)
                        } else {
                            model.remove(&idx);
                            None
                        }
                    });
                    prop_assert_eq!(failure, None);
                    prop_assert_eq!(fired, calls);
                    if let Some(b) = budget {
                        prop_assert!(calls <= b, "{} callbacks over budget {}", calls, b);
                    } else {
                        for (&idx, &d) in &model {
                            prop_assert!(d + TICK_MS > now, "{} due at {} still armed at {}", idx, d, now);
                        }
                    }
                }
            }
            prop_assert_eq!(w.len() as usize, model.len());
            for idx in 0..CAPACITY {
                prop_assert_eq!(w.is_armed(idx), model.contains_key(&idx));
                if let Some(&d) = model.get(&idx) {
                    prop_assert_eq!(w.deadline_of(idx), Some(d));
                }
            }
        }
    }
}
