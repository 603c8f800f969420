//! TCP sequence tracking of a user session: which segments are in window.
//!
//! The gateway is a full NAT, so every segment of a connection passes
//! through it in both directions. That lets it check a segment's sequence
//! and acknowledgement numbers against what each side has really sent, the
//! way Linux conntrack does (after Guido van Rooij, "Real Stateful TCP
//! Packet Filtering in IP Filter") and in the spirit of RFC 5961: a blind
//! attacker who does not see the traffic cannot guess numbers that pass,
//! so a spoofed RST or FIN cannot end a connection and a spoofed segment
//! cannot claim to be the terminal.
//!
//! Per side the tracker keeps only what it needs (10 bytes for both sides):
//! the highest sequence end that side has sent, the largest window it has
//! advertised (rounded up to a power of two, at least 64 KiB), and the
//! window scale it announced in its SYN. A segment from sender S to
//! receiver R is in window when
//!
//! * its sequence range ends no earlier than `S.end - R.maxwin` and starts
//!   no later than `S.end + R.maxwin` (R accepts nothing outside its
//!   window, and S cannot have more than R's window in flight), and
//! * if it carries an ACK, the acknowledgement is no later than `R.end`
//!   (nobody acknowledges data that was never sent) and no earlier than
//!   `R.end - S.maxwin` (R cannot have more than S's window in flight).
//!
//! All comparisons are modulo 2^32 (sequence numbers wrap). Windows larger
//! than 2^30 do not exist (RFC 7323), so the bounds never reach half the
//! sequence space. Only in-window segments move the tracked ends.

use crate::tier2::flow_state::{Direction, TcpFlags};

/// The fields of one TCP segment the tracker reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub seq: u32,
    pub ack: u32,
    /// The raw 16-bit window field.
    pub window: u16,
    /// Payload bytes (SYN and FIN not included).
    pub payload: u32,
    pub flags: TcpFlags,
    /// Window scale option of a SYN (`None` when absent or not a SYN).
    pub window_scale: Option<u8>,
}

impl Segment {
    /// Sequence number just after this segment (SYN and FIN count one).
    #[inline]
    pub fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.payload)
            .wrapping_add(u32::from(self.flags.syn()))
            .wrapping_add(u32::from(self.flags.fin()))
    }
}

/// Window scale of a side that announced none.
const NO_SCALE: u8 = 15;
/// Largest window scale (RFC 7323 2.3).
const MAX_SCALE: u8 = 14;
/// Smallest window bound: 64 KiB, as conntrack's `MAXACKWINDOW` floor, so
/// small advertised windows do not make the check brittle.
const MIN_WIN_LOG2: u8 = 16;
/// Largest window bound (2^30, RFC 7323).
const MAX_WIN_LOG2: u8 = 30;

/// Bytes of a packed [`TcpWindow`].
pub const PACKED_LEN: usize = 10;

/// Sequence tracking of both sides of one TCP user session (stored packed
/// in 10 bytes).
/// Index 0 is the terminal (client), 1 the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpWindow {
    /// Highest sequence end each side has sent.
    end: [u32; 2],
    /// Per side, as stored ([`pack`](Self::pack)): in the high nibble log2
    /// of the bound on the side's advertised window less 15 (0: that side
    /// has sent nothing yet; see [`max_window`](Self::max_window)), in the low
    /// nibble the window scale it announced in its SYN, `NO_SCALE` if none.
    /// Kept packed: the established path decodes only the nibbles it
    /// reads, and storing the window back is a copy.
    meta: [u8; 2],
}

/// `a` is before `b` in sequence space.
#[inline]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `ceil(log2(bytes))`, clamped to the bounds above.
#[inline]
fn win_log2_of(bytes: u64) -> u8 {
    let log = if bytes <= 1 {
        0
    } else {
        64 - (bytes - 1).leading_zeros()
    };
    (log as u8).clamp(MIN_WIN_LOG2, MAX_WIN_LOG2)
}

#[inline]
fn side(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

impl TcpWindow {
    /// Nothing seen from either side.
    pub const UNSEEN: TcpWindow = TcpWindow {
        end: [0; 2],
        meta: [NO_SCALE; 2],
    };

    /// The 10 bytes [`super::path_guard::PathGuard`] stores: both ends, then
    /// per side a byte of `(win_log2 - 15) << 4 | scale` (0 in the high
    /// nibble: unseen).
    #[inline]
    pub fn pack(&self) -> [u8; PACKED_LEN] {
        let mut out = [0u8; PACKED_LEN];
        out[0..4].copy_from_slice(&self.end[0].to_ne_bytes());
        out[4..8].copy_from_slice(&self.end[1].to_ne_bytes());
        out[8..10].copy_from_slice(&self.meta);
        out
    }

    /// The inverse of [`pack`](Self::pack).
    #[inline]
    pub fn unpack(b: &[u8; PACKED_LEN]) -> TcpWindow {
        let word = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        TcpWindow {
            end: [word(0), word(4)],
            meta: [b[8], b[9]],
        }
    }

    /// Whether side `s` has sent anything that was tracked.
    #[inline]
    fn seen(&self, s: usize) -> bool {
        self.meta[s] >= 0x10
    }

    /// Window scale side `s` announced in its SYN, `NO_SCALE` if none.
    #[inline]
    fn scale(&self, s: usize) -> u8 {
        self.meta[s] & 0x0f
    }

    /// Whether the sender of `dir` has sent anything that was tracked.
    #[inline]
    pub fn has_seen(&self, dir: Direction) -> bool {
        self.seen(side(dir))
    }

    /// Highest sequence end the sender of `dir` has sent (0 if unseen).
    #[inline]
    pub fn end(&self, dir: Direction) -> u32 {
        self.end[side(dir)]
    }

    /// Bound on the window side `s` advertises; 64 KiB until it is known.
    #[inline]
    fn max_window(&self, s: usize) -> u32 {
        // Unseen (0) gives 15: the floor of 16 covers it.
        1u32 << ((self.meta[s] >> 4) + (MIN_WIN_LOG2 - 1)).max(MIN_WIN_LOG2)
    }

    /// Scale applied to the window field of side `s` outside SYNs: only
    /// when both SYNs carried the option.
    #[inline]
    fn scale_of(&self, s: usize) -> u8 {
        if self.scale(0) == NO_SCALE || self.scale(1) == NO_SCALE {
            0
        } else {
            self.scale(s)
        }
    }

    /// Checks a segment travelling `dir`; if it is in window, records it
    /// (sequence end, window) and returns true. An out-of-window segment
    /// changes nothing.
    ///
    /// The first segment a side sends must be a SYN (the terminal's opens
    /// the session; the server's SYN-ACK must acknowledge the terminal's
    /// SYN exactly). Before the server has answered, the only other
    /// segment accepted from it is a RST acknowledging that SYN (RFC 793:
    /// a refused connection).
    #[inline(always)]
    pub fn track(&mut self, dir: Direction, seg: &Segment) -> bool {
        let s = side(dir);
        let r = 1 - s;
        if !self.seen(s) {
            return self.first_from(s, seg);
        }
        let receiver_win = self.max_window(r);
        let end = self.end[s];
        let seg_end = seg.end();
        // Starts no later than S.end + R.maxwin; ends no earlier than
        // S.end - R.maxwin.
        if before(end.wrapping_add(receiver_win), seg.seq)
            || before(seg_end, end.wrapping_sub(receiver_win))
        {
            return false;
        }
        if seg.flags.ack() && self.seen(r) {
            let r_end = self.end[r];
            if before(r_end, seg.ack) || before(seg.ack, r_end.wrapping_sub(self.max_window(s))) {
                return false;
            }
        }
        if seg.flags.syn() && seg_end != end {
            // A later SYN must repeat the first (a retransmission). A
            // reused 4-tuple is handled before tracking: it opens a new
            // user session.
            return false;
        }
        if before(end, seg_end) {
            self.end[s] = seg_end;
        }
        let scale = if seg.flags.syn() { 0 } else { self.scale_of(s) };
        self.widen(s, u64::from(seg.window) << scale);
        true
    }

    /// The first segment from side `s`.
    #[inline]
    fn first_from(&mut self, s: usize, seg: &Segment) -> bool {
        if s == 1 {
            // The server: its SYN-ACK or RST must acknowledge the SYN.
            let acks_syn = seg.flags.ack() && self.seen(0) && seg.ack == self.end[0];
            if !acks_syn {
                return false;
            }
            if seg.flags.rst() {
                return true;
            }
            if !seg.flags.syn() {
                return false;
            }
        } else if !seg.flags.syn() || seg.flags.ack() || seg.flags.rst() {
            return false;
        }
        self.end[s] = seg.end();
        let scale = seg.window_scale.map_or(NO_SCALE, |w| w.min(MAX_SCALE));
        self.meta[s] = (self.meta[s] & 0xf0) | scale;
        self.widen(s, u64::from(seg.window));
        true
    }

    /// Raises the window bound of side `s` to cover `bytes`.
    #[inline]
    fn widen(&mut self, s: usize, bytes: u64) {
        // 1 to 15 in the high nibble (the bound is at least 2^16).
        let stored = win_log2_of(bytes) - (MIN_WIN_LOG2 - 1);
        if stored > self.meta[s] >> 4 {
            self.meta[s] = (stored << 4) | (self.meta[s] & 0x0f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{ToClient, ToServer};

    fn flags(syn: bool, ack: bool, fin: bool, rst: bool) -> TcpFlags {
        TcpFlags::of(syn, ack, fin, rst)
    }

    fn seg(seq: u32, ack: u32, payload: u32, f: TcpFlags) -> Segment {
        Segment {
            seq,
            ack,
            window: 65535,
            payload,
            flags: f,
            window_scale: None,
        }
    }

    /// A window after a handshake of client ISN `c` and server ISN `s`.
    fn established(c: u32, s: u32) -> TcpWindow {
        let mut w = TcpWindow::UNSEEN;
        assert!(w.track(ToServer, &seg(c, 0, 0, flags(true, false, false, false))));
        assert!(w.track(
            ToClient,
            &seg(s, c.wrapping_add(1), 0, flags(true, true, false, false))
        ));
        assert!(w.track(
            ToServer,
            &seg(
                c.wrapping_add(1),
                s.wrapping_add(1),
                0,
                flags(false, true, false, false)
            )
        ));
        w
    }

    #[test]
    fn packs_into_ten_bytes_and_back() {
        let mut w = TcpWindow::UNSEEN;
        assert_eq!(TcpWindow::unpack(&w.pack()), w);
        let mut syn = seg(u32::MAX - 5, 0, 0, flags(true, false, false, false));
        syn.window_scale = Some(14);
        syn.window = 65535;
        assert!(w.track(ToServer, &syn));
        assert_eq!(TcpWindow::unpack(&w.pack()), w);
        let mut syn_ack = seg(77, u32::MAX - 4, 0, flags(true, true, false, false));
        syn_ack.window_scale = Some(3);
        assert!(w.track(ToClient, &syn_ack));
        let mut big = seg(u32::MAX - 4, 78, 0, flags(false, true, false, false));
        big.window = 65535;
        assert!(w.track(ToServer, &big));
        assert_eq!(w.max_window(0), 1 << 30);
        assert_eq!(TcpWindow::unpack(&w.pack()), w);
    }

    #[test]
    fn handshake_learns_both_isns() {
        let w = established(1000, 5000);
        assert_eq!(w.end(ToServer), 1001);
        assert_eq!(w.end(ToClient), 5001);
        assert!(w.has_seen(ToClient));
    }

    #[test]
    fn syn_ack_must_acknowledge_the_syn() {
        let mut w = TcpWindow::UNSEEN;
        assert!(w.track(ToServer, &seg(1000, 0, 0, flags(true, false, false, false))));
        assert!(!w.track(ToClient, &seg(7, 1234, 0, flags(true, true, false, false))));
        assert!(!w.has_seen(ToClient));
        // A RST refusing the SYN must acknowledge it too.
        assert!(!w.track(ToClient, &seg(0, 99, 0, flags(false, true, false, true))));
        assert!(w.track(ToClient, &seg(0, 1001, 0, flags(false, true, false, true))));
    }

    #[test]
    fn out_of_window_rst_and_fin_are_refused_in_window_ones_accepted() {
        let mut w = established(1000, 5000);
        let rst = flags(false, false, false, true);
        // Blind guesses far from the real numbers.
        assert!(!w.track(ToServer, &seg(1000 + (1 << 30), 0, 0, rst)));
        assert!(!w.track(ToClient, &seg(5000u32.wrapping_sub(1 << 20), 0, 0, rst)));
        let fin_ack = flags(false, true, true, false);
        assert!(!w.track(ToClient, &seg(1 << 31, 1001, 0, fin_ack)));
        // Right sequence, acknowledging data never sent.
        assert!(!w.track(ToClient, &seg(5001, 1001 + (1 << 24), 0, fin_ack)));
        assert_eq!(w.end(ToClient), 5001);
        // The real ones.
        assert!(w.track(ToClient, &seg(5001, 1001, 0, fin_ack)));
        assert_eq!(w.end(ToClient), 5002);
        assert!(w.track(ToServer, &seg(1001, 0, 0, rst)));
    }

    #[test]
    fn data_moves_the_window_and_old_data_stays_in_window() {
        let mut w = established(1000, 5000);
        let ack = flags(false, true, false, false);
        let mut seq = 5001u32;
        // 40 full segments: within the terminal's 64 KiB window.
        for _ in 0..40 {
            assert!(w.track(ToClient, &seg(seq, 1001, 1448, ack)));
            seq = seq.wrapping_add(1448);
        }
        assert_eq!(w.end(ToClient), seq);
        // The terminal acknowledges what it got so far.
        assert!(w.track(ToServer, &seg(1001, seq - 20 * 1448, 0, ack)));
        // A retransmission of older data is still in window.
        assert!(w.track(ToClient, &seg(seq - 10 * 1448, 1001, 1448, ack)));
        assert_eq!(w.end(ToClient), seq);
        // More than a window behind is nobody's acknowledgement.
        assert!(!w.track(ToServer, &seg(1001, seq.wrapping_sub(50 * 1448), 0, ack)));
        // Nor is one of data never sent.
        assert!(!w.track(ToServer, &seg(1001, seq + 1, 0, ack)));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let c = u32::MAX - 10;
        let s = u32::MAX - 3000;
        let mut w = established(c, s);
        let ack = flags(false, true, false, false);
        let mut seq = s.wrapping_add(1);
        for _ in 0..10 {
            assert!(w.track(ToClient, &seg(seq, c.wrapping_add(1), 1000, ack)));
            seq = seq.wrapping_add(1000);
        }
        assert!(seq < 10_000, "crossed zero: {seq}");
        assert_eq!(w.end(ToClient), seq);
        assert!(w.track(ToServer, &seg(c.wrapping_add(1), seq, 0, ack)));
        // A RST after the wrap, in window.
        assert!(w.track(
            ToClient,
            &seg(seq, c.wrapping_add(1), 0, flags(false, true, false, true))
        ));
        // One half the sequence space away is not.
        assert!(!w.track(
            ToClient,
            &seg(
                seq.wrapping_add(1 << 31),
                0,
                0,
                flags(false, false, false, true)
            )
        ));
    }

    #[test]
    fn window_scale_widens_the_bound() {
        let mut w = TcpWindow::UNSEEN;
        let mut syn = seg(1000, 0, 0, flags(true, false, false, false));
        syn.window_scale = Some(7);
        assert!(w.track(ToServer, &syn));
        let mut syn_ack = seg(5000, 1001, 0, flags(true, true, false, false));
        syn_ack.window_scale = Some(7);
        assert!(w.track(ToClient, &syn_ack));
        // The terminal advertises 65535 << 7 (8 MiB).
        let ack = flags(false, true, false, false);
        assert!(w.track(ToServer, &seg(1001, 5001, 0, ack)));
        // The server may then have 6 MB in flight.
        let mut seq = 5001u32;
        for _ in 0..4000 {
            assert!(w.track(ToClient, &seg(seq, 1001, 1448, ack)));
            seq = seq.wrapping_add(1448);
        }
        // A terminal ACK 5.5 MB behind is still its own.
        assert!(w.track(ToServer, &seg(1001, seq - 3800 * 1448, 0, ack)));
        // Without scaling the same gap would not pass.
        let mut plain = established(1000, 5000);
        let mut seq = 5001u32;
        for _ in 0..4000 {
            assert!(plain.track(ToClient, &seg(seq, 1001, 1448, ack)));
            seq = seq.wrapping_add(1448);
        }
        assert!(!plain.track(ToServer, &seg(1001, seq - 3800 * 1448, 0, ack)));
    }
}
