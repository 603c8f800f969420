//! NAT64 fragments a server's packet that does not fit the terminal's port
//! once translated and that the server let the network fragment (DF
//! clear): RFC 7915 4.1 ("the translator MUST ensure that the packet does
//! not exceed the path MTU on the IPv6 side"), in IPv6 fragments.
//!
//! The pipeline sends one frame per frame received; this is the one place
//! it sends more. The first piece leaves in the received frame as usual;
//! the later ones are built in the worker's spare frames
//! ([`Worker::take_extra`]), which the caller (the appliance's worker
//! loop, the test labs) sends right after it on the port named, in order.
//! Two pieces cover any packet a default mbuf can hold at any IPv6 MTU
//! (1280 and up: 2 × 1232 bytes of payload); a jumbo server port
//! (`mempool.data_room` raised) can bring up to [`MAX_PIECES`]. A piece
//! over 2 034 bytes (a spare frame's room: a jumbo access port) is not
//! made: the packet is dropped `nat64_too_big`.
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

/// The most fragments one packet leaves in: enough for the largest
/// packet the translation buffer holds (`nat64::BUFFER_LEN`, 16 KiB) at
/// IPv6's smallest MTU (1 232 bytes of data a piece).
pub const MAX_PIECES: usize = 14;

/// Splits the IPv6 packet `buf[..n]`, as `translate_4to6` writes one (the
/// fixed header, maybe a fragment header, the payload), into fragments of
/// at most `max` bytes, at most `max_pieces` of them: the first stays in
/// `buf`, each later one is written by `piece` (its fixed and fragment
/// headers, then its data), in order. Returns the first's length and how
/// many later ones there are. `ident` identifies the datagram when the
/// packet has no fragment header yet. None, writing nothing, when one
/// piece is enough, more than `max_pieces` would be needed, or `buf` has
/// no room for the fragment header.
pub(crate) fn split_v6(
    buf: &mut [u8],
    n: usize,
    (max, max_pieces): (usize, usize),
    ident: u32,
    mut piece: impl FnMut(&[u8; HEADERS], &[u8]),
) -> Option<(usize, usize)> {
    let next = *buf.get(6)?;
    let fragmented = next == NEXT_FRAGMENT;
    // The data after the headers the pieces get, once the packet has its
    // fragment header.
    let data = if fragmented {
        n.checked_sub(HEADERS)?
    } else {
        n.checked_sub(IPV6_HEADER_LEN)?
    };
    let per = (max.checked_sub(HEADERS)? / 8) * 8;
    if per == 0 || data <= per || data.div_ceil(per) > max_pieces {
        return None;
    }
    if !fragmented && buf.len() < n + FRAGMENT_HEADER_LEN {
        return None;
    }
    let (upper, offset, more, ident) = if fragmented {
        let h = buf.get(IPV6_HEADER_LEN..HEADERS)?;
        let field = u16::from_be_bytes([h[2], h[3]]);
        let id = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        (h[0], field >> 3, field & 1, id)
    } else {
        // Room for a fragment header between the header and the payload.
        buf.copy_within(IPV6_HEADER_LEN..n, HEADERS);
        (next, 0, 0, ident)
    };
    let headers = |h: &mut [u8], len: usize, field: u16| {
        h[4..6].copy_from_slice(&((FRAGMENT_HEADER_LEN + len) as u16).to_be_bytes());
        h[6] = NEXT_FRAGMENT;
        h[IPV6_HEADER_LEN] = upper;
        h[IPV6_HEADER_LEN + 1] = 0;
        h[IPV6_HEADER_LEN + 2..IPV6_HEADER_LEN + 4].copy_from_slice(&field.to_be_bytes());
        h[IPV6_HEADER_LEN + 4..HEADERS].copy_from_slice(&ident.to_be_bytes());
    };
    let mut h = [0u8; HEADERS];
    h[..IPV6_HEADER_LEN].copy_from_slice(buf.get(..IPV6_HEADER_LEN)?);
    let body = buf.get(HEADERS..HEADERS + data)?;
    let mut later = 0;
    for (k, chunk) in body.chunks(per).enumerate().skip(1) {
        // Offsets count in 8-byte units from the packet's own.
        let at = offset + ((k * per) / 8) as u16;
        let last = (k + 1) * per >= data;
        headers(&mut h, chunk.len(), at << 3 | if last { more } else { 1 });
        piece(&h, chunk);
        later += 1;
    }
    headers(buf, per, offset << 3 | 1);
    Some((HEADERS + per, later))
}

impl Worker {
    /// The frames the last packet left besides its own (the later pieces
    /// of a fragmented NAT64 answer, `nat64_split.rs`) and the port they
    /// leave on, one a call, in order, then None: the caller sends each
    /// right after that packet.
    pub fn take_extra(&mut self) -> Option<(u16, &[u8])> {
        let port = self.extra_port?;
        let Some(f) = self
            .extras
            .get(self.extra_next)
            .filter(|_| self.extra_next < self.extra_ready)
        else {
            self.extra_port = None;
            return None;
        };
        self.extra_next += 1;
        Some((port, f.bytes()))
    }

    /// Sends the translated IPv6 packet of `n` bytes in the translation
    /// buffer to the terminal along `path` in fragments of at most `max`
    /// bytes (`ident`: the server's IPv4 identification, for a whole
    /// datagram): the later pieces in the spare frames, each sent along the
    /// same path, the first in `f`.
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
        self.extra_port = None;
        self.extra_ready = 0;
        self.extra_next = 0;
        // A piece must fit a spare frame, with its Ethernet header.
        if max > VecFrame::CAPACITY - IP {
            return TOO_BIG;
        }
        let mut extras = std::mem::take(&mut self.extras);
        let mut eth = [0u8; IP];
        eth[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let room = extras.len() + 1;
        let pieces = match self.nat64_buf.get_mut(IP..) {
            Some(buf) => {
                let mut spare = extras.iter_mut();
                split_v6(buf, n, (max, room), ident, |h, data| {
                    if let Some(frame) = spare.next() {
                        frame.reset_from(&[&eth, h, data]);
                    }
                })
            }
            None => None,
        };
        let Some((n1, later)) = pieces else {
            self.extras = extras;
            return TOO_BIG;
        };
        let mut port = None;
        for extra in extras.iter_mut().take(later) {
            match self.send_to_client(extra, path, now_ms, ev) {
                Verdict::Forward(p) => port = Some(p),
                other => {
                    self.extras = extras;
                    return other;
                }
            }
        }
        self.extras = extras;
        let verdict = self.send_v6_to_client(f, n1, path, now_ms, ev);
        if matches!(verdict, Verdict::Forward(_)) {
            self.extra_port = port;
            self.extra_ready = later;
            self.counters.nat64_fragmented.inc();
        }
        verdict
    }
}
