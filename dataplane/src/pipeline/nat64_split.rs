//! NAT64 fragments a server's packet that does not fit the terminal's port
//! once translated and that the server let the network fragment (DF
//! clear): RFC 7915 4.1 ("the translator MUST ensure that the packet does
//! not exceed the path MTU on the IPv6 side"), in IPv6 fragments.
//!
//! The pipeline sends one frame per frame received; this is the one place
//! it sends two. The first piece leaves in the received frame as usual;
//! the second is built in the worker's spare frame ([`Worker::take_extra`]),
//! which the caller (the appliance's worker loop, the test labs) sends
//! right after it on the port named. Two pieces cover any packet a default
//! mbuf can hold at any IPv6 MTU (1280 and up: 2 × 1232 bytes of payload);
//! a packet that would need more, or a second piece over 2 034 bytes (the
//! spare frame's room; jumbo ports), is dropped `nat64_too_big`.
//!
//! A whole IPv4 datagram becomes a fragmented one whose identification is
//! its IPv4 one (RFC 7915 4.1: low 16 bits, the rest zero); an IPv4
//! fragment, already an IPv6 fragment after translation, is cut in two
//! with its identification, offsets counted from its own and the last
//! piece keeping its More Fragments flag. The upper-layer checksum, in the
//! first piece of a whole datagram, covers the whole as before.

use super::l2::ClientPath;
use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::frame::{Frame, VecFrame};
use crate::wire::{ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, FRAGMENT_HEADER_LEN, IPV6_HEADER_LEN};

const IP: usize = ETHERNET_HEADER_LEN;
/// Next header: an IPv6 fragment header.
const NEXT_FRAGMENT: u8 = 44;
/// The IPv6 header and a fragment header.
const HEADERS: usize = IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN;

/// Splits the IPv6 packet `buf[..n]`, as `translate_4to6` writes one (the
/// fixed header, maybe a fragment header, the payload), into two fragments
/// of at most `max` bytes: the first stays in `buf`, the second is written
/// to `second`; returns both lengths. `ident` identifies the datagram when
/// the packet has no fragment header yet. None when two pieces are not
/// enough, or `buf` has no room for the fragment header.
pub(crate) fn split_v6(
    buf: &mut [u8],
    n: usize,
    max: usize,
    ident: u32,
    second: &mut [u8],
) -> Option<(usize, usize)> {
    let next = *buf.get(6)?;
    let (upper, offset, more, ident, end) = if next == NEXT_FRAGMENT {
        let h = buf.get(IPV6_HEADER_LEN..HEADERS)?;
        let field = u16::from_be_bytes([h[2], h[3]]);
        let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        (h[0], field >> 3, field & 1, id, n)
    } else {
        // Room for a fragment header between the header and the payload.
        if buf.len() < n + FRAGMENT_HEADER_LEN || n < IPV6_HEADER_LEN {
            return None;
        }
        buf.copy_within(IPV6_HEADER_LEN..n, HEADERS);
        (next, 0, 0, ident, n + FRAGMENT_HEADER_LEN)
    };
    let data = end.checked_sub(HEADERS)?;
    let first = (max.checked_sub(HEADERS)? / 8) * 8;
    let rest = data.checked_sub(first)?;
    if first == 0 || rest == 0 || HEADERS + rest > max || second.len() < HEADERS + rest {
        return None;
    }
    let write = |p: &mut [u8], len: usize, field: u16| {
        p[4..6].copy_from_slice(&((FRAGMENT_HEADER_LEN + len) as u16).to_be_bytes());
        p[6] = NEXT_FRAGMENT;
        p[IPV6_HEADER_LEN] = upper;
        p[IPV6_HEADER_LEN + 1] = 0;
        p[IPV6_HEADER_LEN + 2..IPV6_HEADER_LEN + 4].copy_from_slice(&field.to_be_bytes());
        p[IPV6_HEADER_LEN + 4..HEADERS].copy_from_slice(&ident.to_be_bytes());
    };
    second[..IPV6_HEADER_LEN].copy_from_slice(&buf[..IPV6_HEADER_LEN]);
    second[HEADERS..HEADERS + rest].copy_from_slice(&buf[HEADERS + first..end]);
    write(second, rest, (offset + (first / 8) as u16) << 3 | more);
    write(buf, first, offset << 3 | 1);
    Some((HEADERS + first, HEADERS + rest))
}

impl Worker {
    /// The frame the last packet left besides its own (the second piece of
    /// a fragmented NAT64 answer, `nat64_split.rs`) and the port it leaves
    /// on, once: the caller sends it right after that packet.
    pub fn take_extra(&mut self) -> Option<(u16, &[u8])> {
        let port = self.extra_port.take()?;
        self.extra.as_ref().map(|f| (port, f.bytes()))
    }

    /// Sends the translated IPv6 packet of `n` bytes in the translation
    /// buffer to the terminal along `path` in two fragments of at most
    /// `max` bytes (`ident`: the server's IPv4 identification, for a whole
    /// datagram): the second into the spare frame, sent along the same
    /// path, the first in `f`.
    #[cold]
    #[inline(never)]
    pub(super) fn send_v6_split<F: Frame, E: EventSink>(
        &mut self,
        f: &mut F,
        (n, max, ident): (usize, usize, u32),
        path: &ClientPath,
        now_ms: u64,
        ev: &mut E,
    ) -> Verdict {
        const TOO_BIG: Verdict = Verdict::Drop(DropReason::Nat64TooBig);
        let Some(mut extra) = self.extra.take() else {
            return TOO_BIG;
        };
        let mut second = [0u8; VecFrame::CAPACITY - IP];
        let pieces = match self.nat64_buf.get_mut(IP..) {
            Some(buf) => split_v6(buf, n, max, ident, &mut second),
            None => None,
        };
        let Some((n1, n2)) = pieces else {
            self.extra = Some(extra);
            return TOO_BIG;
        };
        let mut frame = [0u8; VecFrame::CAPACITY];
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        frame[IP..IP + n2].copy_from_slice(&second[..n2]);
        extra.reset(&frame[..IP + n2]);
        let sent = self.send_to_client(&mut extra, path, now_ms, ev);
        self.extra = Some(extra);
        let Verdict::Forward(port) = sent else {
            return sent;
        };
        let verdict = self.send_v6_to_client(f, n1, path, now_ms, ev);
        if matches!(verdict, Verdict::Forward(_)) {
            self.extra_port = Some(port);
            self.counters.nat64_fragmented.inc();
        }
        verdict
    }
}
