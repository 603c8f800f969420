//! TCP window tracking over random connections: whatever the ISNs (so also
//! across the 2^32 wrap), window scales and segment sizes, a real transfer
//! stays in window in both directions, and a RST with a random sequence
//! number outside the reachable band is refused and changes nothing.

use proptest::prelude::*;

use crate::tier2::flow_state::{Direction, TcpFlags};
use crate::tier2::window::{Segment, TcpWindow};

fn flags(syn: bool, ack: bool, fin: bool, rst: bool) -> TcpFlags {
    TcpFlags::of(syn, ack, fin, rst)
}

fn seg(seq: u32, ack: u32, window: u16, payload: u32, f: TcpFlags) -> Segment {
    Segment {
        seq,
        ack,
        window,
        payload,
        flags: f,
        window_scale: None,
    }
}

proptest! {
    #[test]
    fn real_transfers_stay_in_window_and_blind_resets_do_not(
        c_isn in any::<u32>(),
        s_isn in any::<u32>(),
        scale in proptest::option::of(0u8..=14),
        // (payload of a server segment, acknowledge after it?)
        burst in proptest::collection::vec((1u32..=1448, any::<bool>()), 1..200),
        blind in any::<u32>(),
    ) {
        let mut w = TcpWindow::UNSEEN;
        let mut syn = seg(c_isn, 0, 65535, 0, flags(true, false, false, false));
        syn.window_scale = scale;
        prop_assert!(w.track(Direction::ToServer, &syn));
        let mut syn_ack = seg(s_isn, c_isn.wrapping_add(1), 65535, 0, flags(true, true, false, false));
        syn_ack.window_scale = scale;
        prop_assert!(w.track(Direction::ToClient, &syn_ack));
        let c = c_isn.wrapping_add(1);
        let mut s = s_isn.wrapping_add(1);
        let mut acked = s;
        let ack = flags(false, true, false, false);
        prop_assert!(w.track(Direction::ToServer, &seg(c, s, 65535, 0, ack)));
        for (len, ack_now) in burst {
            // The server never has more than the terminal's window
            // (65535 unscaled) unacknowledged.
            if s.wrapping_sub(acked) + len > 65535 {
                prop_assert!(w.track(Direction::ToServer, &seg(c, s, 65535, 0, ack)));
                acked = s;
            }
            prop_assert!(w.track(Direction::ToClient, &seg(s, c, 65535, len, ack)));
            s = s.wrapping_add(len);
            if ack_now {
                prop_assert!(w.track(Direction::ToServer, &seg(c, s, 65535, 0, ack)));
                acked = s;
            }
        }
        prop_assert_eq!(w.end(Direction::ToClient), s);
        // A blind RST from the server's side: refused unless it happens to
        // fall within the largest window either way of the server's end.
        let bound = 65536u32 << scale.unwrap_or(0);
        let distance = blind.wrapping_sub(s) as i32;
        let reachable = distance.unsigned_abs() <= bound;
        let before = w;
        let rst = seg(blind, 0, 0, 0, flags(false, false, false, true));
        let took = w.track(Direction::ToClient, &rst);
        if !reachable {
            prop_assert!(!took, "blind RST {blind} accepted at end {s}");
            prop_assert_eq!(w, before);
        }
        // The real one is accepted.
        prop_assert!(w.track(Direction::ToClient, &seg(s, c, 0, 0, flags(false, true, false, true))));
    }
}
