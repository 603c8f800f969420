//! Sequence splicing of a proxied connection: the terminal was given the
//! cookie as the server's ISN, the server chose its own, so every segment
//! from the server has `delta = cookie - server ISN` added to its sequence
//! number and every segment from the terminal has it taken from its
//! acknowledgement number. The terminal's own sequence space is passed
//! through unchanged (the SYN to the server carries the terminal's ISN).
//! SACK blocks would need the same shift; SACK is never negotiated on a
//! proxied connection (see `segments`), so there are none.
//!
//! Each shift is one 32-bit field with an incremental checksum update
//! (RFC 1624); `tcp` is the TCP header of a segment whose header length was
//! already checked (at least 20 bytes).

use crate::wire::checksum::update32;

#[inline]
fn rd32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Sequence and acknowledgement numbers of the TCP header at `at`.
#[inline]
pub fn seq_ack(b: &[u8], at: usize) -> (u32, u32) {
    match b.get(at..at + 12) {
        Some(h) => (rd32(h, 4), rd32(h, 8)),
        None => (0, 0),
    }
}

#[inline]
fn shift(tcp: &mut [u8], at: usize, new: impl FnOnce(u32) -> u32) {
    let Some(h) = tcp.get_mut(..20) else {
        return;
    };
    let old = rd32(h, at);
    let new = new(old);
    h[at..at + 4].copy_from_slice(&new.to_be_bytes());
    let c = update32(u16::from_be_bytes([h[16], h[17]]), old, new);
    h[16..18].copy_from_slice(&c.to_be_bytes());
}

/// Rewrites the sequence number to `new(old)`. Also used by the PROXY
/// protocol (`pipeline/proxy_protocol`), which moves the other side's
/// numbers.
#[inline]
pub fn map_seq(tcp: &mut [u8], new: impl FnOnce(u32) -> u32) {
    shift(tcp, 4, new);
}

/// Rewrites the acknowledgement number to `new(old)`, only when the ACK
/// flag is set: the field means nothing otherwise and is passed as it came.
#[inline]
pub fn map_ack(tcp: &mut [u8], new: impl FnOnce(u32) -> u32) {
    if tcp.get(13).is_some_and(|f| f & 0x10 != 0) {
        shift(tcp, 8, new);
    }
}

/// Server → terminal: `seq += delta`.
#[inline]
pub fn to_client(tcp: &mut [u8], delta: u32) {
    map_seq(tcp, |s| s.wrapping_add(delta));
}

/// Terminal → server: `ack -= delta` (only with the ACK flag).
#[inline]
pub fn to_server(tcp: &mut [u8], delta: u32) {
    map_ack(tcp, |a| a.wrapping_sub(delta));
}
