//! Least-load selection spreads sessions in proportion to weight.
//!
//! Minimising load / weight keeps every server within one session of the
//! lowest ratio and never more than one above its share `picks * w / W`.
//! It does not keep every server within one *below* its share when weights
//! differ (weights 6, 8, 5, 5, 4 after 396 picks give the weight-8 server
//! 112 sessions against a share of 113.1), so that is not asserted.

use proptest::prelude::*;

use crate::tier2::select::{least_load, LoadCounters, ServerCandidate};

proptest! {
    #[test]
    fn least_load_fills_servers_in_proportion_to_weight(
        weights in prop::collection::vec(0..10u32, 1..8),
        ineligible in prop::collection::vec(any::<bool>(), 8),
        picks in 0..600u64,
        rotor_start in any::<u32>(),
    ) {
        let mut cands: Vec<ServerCandidate> = weights
            .iter()
            .zip(&ineligible)
            .map(|(&weight, &off)| ServerCandidate { weight, eligible: !off, load: 0 })
            .collect();
        let usable: Vec<usize> = (0..cands.len())
            .filter(|&i| cands[i].eligible && cands[i].weight > 0)
            .collect();
        let mut counters = LoadCounters::new(cands.len());
        let mut rotor = rotor_start;
        for _ in 0..picks {
            let chosen = least_load(&cands, &mut rotor);
            if usable.is_empty() {
                prop_assert_eq!(chosen, None);
                continue;
            }
            let i = chosen.unwrap();
            prop_assert!(usable.contains(&i));
            cands[i].load += 1;
            prop_assert!(counters.inc(i));
        }
        let total_weight: u64 = usable.iter().map(|&i| u64::from(cands[i].weight)).sum();
        // The lowest load per weight, as a fraction min_load / min_weight.
        let (min_load, min_weight) = usable
            .iter()
            .map(|&i| (u128::from(cands[i].load), u128::from(cands[i].weight)))
            .fold((1u128, 0u128), |(bl, bw), (l, w)| if l * bw < bl * w { (l, w) } else { (bl, bw) });
        for (i, c) in cands.iter().enumerate() {
            prop_assert_eq!(c.load, u64::from(counters.get(i)));
            if !usable.contains(&i) {
                prop_assert_eq!(c.load, 0);
                continue;
            }
            let (load, weight) = (u128::from(c.load), u128::from(c.weight));
            // Every server is within one session of the least loaded one's
            // ratio: ratio * weight <= load <= ratio * weight + 1.
            prop_assert!(min_load * weight <= load * min_weight);
            prop_assert!(
                load * min_weight <= min_load * weight + min_weight,
                "server {} weight {} load {} is more than one session above ratio {}/{}",
                i, c.weight, c.load, min_load, min_weight
            );
            // Never more than one session above its weighted share.
            prop_assert!(load * u128::from(total_weight) <= u128::from(picks) * weight + u128::from(total_weight));
        }
        // Equal weights: loads within one of each other, so each is within
        // one of picks / servers.
        if usable.windows(2).all(|p| cands[p[0]].weight == cands[p[1]].weight) && !usable.is_empty() {
            let loads: Vec<u64> = usable.iter().map(|&i| cands[i].load).collect();
            let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
            prop_assert!(hi - lo <= 1, "equal weights, loads {:?}", loads);
        }
    }
}
