//! A cache prefetch hint for the dataplane.
//!
//! The pipeline looks up millions of user sessions; each lookup is a few
//! dependent cache misses. Asking for every packet's lines at the start of a
//! burst lets the misses overlap instead of queueing one behind the other.
//! `prefetcht0` is a pure hint, but Rust only offers it through an unsafe
//! intrinsic (the portable `core::hint::prefetch_read` is not stable, and
//! `_mm_prefetch` takes a raw pointer, so it stays unsafe on Rust 1.95 even
//! with SSE enabled). The same instruction as DPDK's `rte_prefetch0`,
//! without a call into C so it inlines into the loop.
//!
//! A crate of its own, apart from `dpdk-ffi` (which re-exports it), so the
//! dataplane's benchmarks prefetch exactly as the appliance does while
//! `cargo test -p dataplane` builds on a machine without DPDK. Besides
//! `dpdk-ffi`, the only crate with `unsafe` code: one block, below.

/// Cache line size assumed for stepping through an object.
const LINE: usize = 64;

/// Asks the CPU to bring every cache line `value` occupies into every cache
/// level. Never faults, never changes what a later load returns; a no-op on
/// targets other than x86-64.
#[inline(always)]
pub fn prefetch_read<T>(value: &T) {
    let start = (value as *const T).cast::<u8>();
    let end = start as usize + std::mem::size_of::<T>().max(1);
    // Each line the object overlaps, once: from the line of its first byte
    // up to the line of its last.
    let mut line = start.wrapping_sub(start as usize % LINE);
    while (line as usize) < end {
        prefetch_line(line);
        line = line.wrapping_add(LINE);
    }
}

#[inline(always)]
fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` only hints the cache: it does not dereference the
    // address architecturally and cannot fault. Every address passed here
    // is the start of a cache line that a live object overlaps (see
    // `prefetch_read`). SSE is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_objects_of_any_size_and_alignment_changes_nothing() {
        let bytes: Vec<u8> = (0..=255).collect();
        for start in 0..64 {
            let piece: &[u8; 120] = bytes[start..start + 120].try_into().unwrap();
            prefetch_read(piece);
            prefetch_read(&bytes[start]);
        }
        prefetch_read(&());
        assert!(bytes.iter().enumerate().all(|(i, b)| usize::from(*b) == i));
    }

    #[test]
    fn prefetching_changes_nothing() {
        let values = vec![7u64; 4096];
        for value in values.iter().step_by(8) {
            prefetch_read(value);
        }
        assert!(values.iter().all(|v| *v == 7));
    }
}
