//! Deterministic 64-bit hashing for steering decisions.
//!
//! Every tier-1 stage, on every core of every appliance, must map a session
//! to the same gateway, so the hash behind Maglev and the pinned map must give
//! the same value in every process, on every machine and in every build. std's
//! `RandomState` is seeded per process and `DefaultHasher` makes no stability
//! promise, so neither can be used. These functions are plain integer
//! arithmetic with fixed constants (a splitmix64-style finalizer, wrapping
//! multiplies, shifts and xors): no randomness, no dependence on pointer width
//! or byte order (byte input is read little-endian explicitly).
//!
//! They are fast and mix well, but they are not keyed against adversaries: a
//! seed separates uses (offset versus skip, steering versus pinned-map radix),
//! it is not a secret.

/// Odd constant derived from the golden ratio, used to spread seeds and
/// counters before mixing.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Bijective finalizer (splitmix64 style): every input bit affects every
/// output bit with probability close to one half.
#[inline]
pub const fn mix64(value: u64) -> u64 {
    let mut x = value;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// SplitMix64's output step: [`mix64`] of `value` plus the golden gamma, so
/// 0 does not map to 0 (server selection's hash, `tier2::select`).
#[inline]
pub const fn splitmix64(value: u64) -> u64 {
    mix64(value.wrapping_add(GOLDEN_GAMMA))
}

/// Hashes one 64-bit integer under `seed`. Different seeds give independent
/// looking functions.
#[inline]
pub const fn hash_u64(value: u64, seed: u64) -> u64 {
    mix64(value ^ mix64(seed.wrapping_add(GOLDEN_GAMMA)))
}

/// Hashes one 32-bit integer under `seed` (the value is zero-extended, so
/// `hash_u32(v, s) == hash_u64(v as u64, s)`).
#[inline]
pub const fn hash_u32(value: u32, seed: u64) -> u64 {
    hash_u64(value as u64, seed)
}

/// Hashes a byte string under `seed`.
///
/// The bytes are consumed as little-endian 64-bit words (the last one padded
/// with zeros) and the length is folded in at the end, so keys that differ
/// only by trailing zero bytes still hash differently. Meant for small keys
/// (a few words); the cost is one mix per 8 bytes.
pub fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut state = mix64(seed.wrapping_add(GOLDEN_GAMMA));
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        state = absorb(state, u64::from_le_bytes(word));
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        state = absorb(state, u64::from_le_bytes(word));
    }
    mix64(state ^ (bytes.len() as u64).wrapping_mul(GOLDEN_GAMMA))
}

/// Folds one word into the running state. The rotate keeps the step
/// order-sensitive (`ab` and `ba` differ) before the bijective mix.
#[inline]
fn absorb(state: u64, word: u64) -> u64 {
    mix64(state.rotate_left(23) ^ word).wrapping_add(GOLDEN_GAMMA)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned outputs: if any of these change, appliances built from
    /// different versions would steer the same session to different
    /// gateways. Change them only together with a deliberate format change.
    #[test]
    fn outputs_are_pinned_across_builds_and_platforms() {
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(0), mix64(GOLDEN_GAMMA));
        assert_eq!(hash_u64(0, 0), 0x4821_8226_ff3c_d4bf);
        assert_eq!(hash_u64(0x0a00_0001, 7), 0xb997_5839_ac77_9b67);
        assert_eq!(hash_u32(0x0a00_0001, 7), hash_u64(0x0a00_0001, 7));
        assert_eq!(hash_bytes(b"", 0), 0x4821_8226_ff3c_d4bf);
        assert_eq!(hash_bytes(b"tandem", 1), 0xfd10_9b18_c63f_3ab1);
        assert_eq!(hash_bytes(b"0123456789abcdef!", 2), 0xdc26_0298_e190_5a25);
    }

    #[test]
    fn seeds_separate_functions() {
        let same_value_different_seed = (0..1000u64)
            .filter(|v| hash_u64(*v, 1) == hash_u64(*v, 2))
            .count();
        assert_eq!(same_value_different_seed, 0);
        assert_ne!(hash_bytes(b"abc", 1), hash_bytes(b"abc", 2));
    }

    #[test]
    fn byte_hash_sees_length_order_and_every_byte() {
        assert_ne!(hash_bytes(b"a", 0), hash_bytes(b"a\0", 0));
        assert_ne!(hash_bytes(b"", 0), hash_bytes(b"\0", 0));
        assert_ne!(
            hash_bytes(b"aaaaaaaabbbbbbbb", 0),
            hash_bytes(b"bbbbbbbbaaaaaaaa", 0)
        );
        let base = *b"0123456789abcdefghij";
        let reference = hash_bytes(&base, 9);
        for index in 0..base.len() {
            let mut changed = base;
            changed[index] ^= 0x01;
            assert_ne!(hash_bytes(&changed, 9), reference, "byte {index}");
        }
    }

    /// Flipping one input bit should flip about half of the output bits.
    /// Averaged over a fixed set of inputs, so the result is deterministic.
    #[test]
    fn single_bit_flips_avalanche() {
        let mut flipped_bits = 0u64;
        let mut trials = 0u64;
        for value in 0..64u64 {
            let input = value.wrapping_mul(0x0123_4567_89ab_cdef);
            let reference = hash_u64(input, 3);
            for bit in 0..64 {
                flipped_bits +=
                    u64::from((reference ^ hash_u64(input ^ (1 << bit), 3)).count_ones());
                trials += 1;
            }
        }
        let average = flipped_bits as f64 / trials as f64;
        assert!((30.0..34.0).contains(&average), "average {average}");
    }

    #[test]
    fn low_bits_of_sequential_keys_are_uniform() {
        let mut buckets = [0u32; 16];
        for address in 0..16_000u64 {
            buckets[(hash_u64(0x0a00_0000 + address, 5) & 15) as usize] += 1;
        }
        for count in buckets {
            assert!((900..1100).contains(&count), "{buckets:?}");
        }
    }
}
