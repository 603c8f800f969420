//! SYN cookies: the initial sequence number the SYN proxy answers a
//! terminal's SYN with, so that no state is kept until the terminal's ACK
//! proves it owns its address.
//!
//! A cookie is 32 bits: the parity of the key epoch (1 bit), an index into
//! [`MSS_TABLE`] (2 bits) and 29 bits of a keyed hash (SipHash-1-3 with a
//! random key) of the 4-tuple, the terminal's ISN, the MSS index and the
//! epoch. Each worker has its own keys; a fresh random key is drawn when an
//! epoch of [`EPOCH_MS`] begins, and the key of the previous epoch is kept,
//! so a cookie is accepted for at least one and at most two epochs
//! (≤ 64 s). Guessing a cookie for a forged source takes 2^29 tries per
//! 4-tuple and key.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

/// MSS values a cookie can carry (RFC 4987 and Linux use a similar table):
/// the largest one not above the terminal's MSS is encoded.
pub const MSS_TABLE: [u16; 4] = [536, 1220, 1440, 1460];

/// Lifetime of one cookie key, ms.
pub const EPOCH_MS: u64 = 32_000;

const HASH_MASK: u32 = (1 << 29) - 1;

/// What a cookie is bound to: the terminal's SYN as it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CookieTuple {
    pub client_ip: Ipv4Addr,
    pub client_port: u16,
    pub vip: Ipv4Addr,
    pub vip_port: u16,
    /// The sequence number of the terminal's SYN.
    pub client_isn: u32,
}

#[derive(Clone, Debug)]
struct Key {
    epoch: u64,
    secret: RandomState,
}

/// One worker's cookie keys (the current and the previous epoch's).
#[derive(Clone, Debug)]
pub struct SynCookies {
    keys: [Key; 2],
}

impl Default for SynCookies {
    fn default() -> Self {
        SynCookies::new()
    }
}

/// Index of the MSS table entry a terminal announcing `mss` gets (the
/// largest not above it; the smallest when it announced none or less).
#[inline]
pub fn mss_index(mss: Option<u16>) -> u8 {
    let m = mss.unwrap_or(MSS_TABLE[0]);
    MSS_TABLE.iter().rposition(|&t| t <= m).unwrap_or(0) as u8
}

impl SynCookies {
    /// Keys drawn from the process's random source (no epoch yet: the
    /// first cookie draws the key of its epoch).
    pub fn new() -> SynCookies {
        SynCookies {
            keys: [
                Key {
                    epoch: u64::MAX,
                    secret: RandomState::new(),
                },
                Key {
                    epoch: u64::MAX,
                    secret: RandomState::new(),
                },
            ],
        }
    }

    #[inline]
    fn hash(secret: &RandomState, t: &CookieTuple, mss_ix: u8, epoch: u64) -> u32 {
        let words = (
            (u64::from(u32::from(t.client_ip)) << 32) | u64::from(u32::from(t.vip)),
            (u64::from(t.client_port) << 48)
                | (u64::from(t.vip_port) << 32)
                | u64::from(t.client_isn),
            (epoch << 2) | u64::from(mss_ix),
        );
        (secret.hash_one(words) as u32) & HASH_MASK
    }

    /// Draws the key of `now_ms`'s epoch if it is not there yet (at most
    /// once per epoch: cheap on every other call).
    #[inline]
    fn rotate(&mut self, now_ms: u64) -> u64 {
        let epoch = now_ms / EPOCH_MS;
        let slot = &mut self.keys[(epoch & 1) as usize];
        if slot.epoch != epoch {
            *slot = Key {
                epoch,
                secret: RandomState::new(),
            };
        }
        epoch
    }

    /// The cookie (our ISN) for a SYN of `t` whose terminal announced MSS
    /// index `mss_ix` (see [`mss_index`]).
    pub fn encode(&mut self, t: &CookieTuple, mss_ix: u8, now_ms: u64) -> u32 {
        let epoch = self.rotate(now_ms);
        let mss_ix = mss_ix & 3;
        let key = &self.keys[(epoch & 1) as usize];
        ((epoch as u32 & 1) << 31)
            | (u32::from(mss_ix) << 29)
            | Self::hash(&key.secret, t, mss_ix, epoch)
    }

    /// Checks the cookie a terminal's ACK returns (its ack number minus
    /// one) for `t`; gives the MSS index it encodes when the cookie is ours
    /// and not older than the previous epoch.
    pub fn verify(&mut self, t: &CookieTuple, cookie: u32, now_ms: u64) -> Option<u8> {
        let now_epoch = self.rotate(now_ms);
        let key = &self.keys[(cookie >> 31) as usize];
        if key.epoch != now_epoch && key.epoch.wrapping_add(1) != now_epoch {
            return None;
        }
        let mss_ix = ((cookie >> 29) & 3) as u8;
        (Self::hash(&key.secret, t, mss_ix, key.epoch) == cookie & HASH_MASK).then_some(mss_ix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tuple(seed: u32) -> CookieTuple {
        CookieTuple {
            client_ip: Ipv4Addr::from(0x0a08_0000 | (seed & 0xffff)),
            client_port: (seed >> 3) as u16 | 1024,
            vip: Ipv4Addr::new(10, 9, 0, 1),
            vip_port: 80,
            client_isn: seed.wrapping_mul(2_654_435_761),
        }
    }

    #[test]
    fn mss_index_picks_the_largest_entry_not_above() {
        assert_eq!(mss_index(None), 0);
        assert_eq!(mss_index(Some(100)), 0);
        assert_eq!(mss_index(Some(1219)), 0);
        assert_eq!(mss_index(Some(1220)), 1);
        assert_eq!(mss_index(Some(1460)), 3);
        assert_eq!(mss_index(Some(9000)), 3);
    }

    #[test]
    fn cookie_expires_after_two_epochs() {
        let mut c = SynCookies::new();
        let t = tuple(7);
        let now = 5 * EPOCH_MS + 100;
        let k = c.encode(&t, 2, now);
        assert_eq!(c.verify(&t, k, now), Some(2));
        assert_eq!(c.verify(&t, k, now + EPOCH_MS), Some(2), "previous epoch");
        assert_eq!(c.verify(&t, k, now + 2 * EPOCH_MS), None, "too old");
        // Coming back later does not revive it: its key was replaced.
        assert_eq!(c.verify(&t, k, now + 3 * EPOCH_MS), None);
    }

    #[test]
    fn another_workers_cookie_is_refused() {
        let (mut a, mut b) = (SynCookies::new(), SynCookies::new());
        let t = tuple(9);
        let k = a.encode(&t, 3, 1000);
        assert_eq!(b.verify(&t, k, 1000), None);
    }

    proptest! {
        #[test]
        fn round_trip_and_any_change_refused(
            seed in any::<u32>(),
            mss_ix in 0u8..4,
            now in 0u64..1 << 40,
            later in 0u64..EPOCH_MS,
            flip in 0u32..32,
            field in 0usize..5,
        ) {
            let mut c = SynCookies::new();
            let t = tuple(seed);
            let k = c.encode(&t, mss_ix, now);
            prop_assert_eq!(c.verify(&t, k, now + later), Some(mss_ix));
            // A changed cookie bit: refused (except a flip of the MSS bits,
            // which changes the hash input too, so it is refused as well).
            prop_assert_eq!(c.verify(&t, k ^ (1 << flip), now), None);
            // The same cookie for another 4-tuple or ISN: refused.
            let mut u = t;
            match field {
                0 => u.client_ip = Ipv4Addr::from(u32::from(u.client_ip) ^ 1),
                1 => u.client_port ^= 1,
                2 => u.vip = Ipv4Addr::from(u32::from(u.vip) ^ 0x100),
                3 => u.vip_port ^= 2,
                _ => u.client_isn = u.client_isn.wrapping_add(1),
            }
            prop_assert_eq!(c.verify(&u, k, now), None);
        }
    }
}
