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
    each_line(start, std::mem::size_of::<T>(), prefetch_line);
}

/// Calls `visit` with one address in each cache line the `size` bytes from
/// `start` overlap (at least one byte), once per line.
#[inline(always)]
fn each_line(start: *const u8, size: usize, mut visit: impl FnMut(*const u8)) {
    let size = size.max(1);
    if size <= LINE {
        // At most two lines: those of its first and its last byte (a
        // prefetch brings in the whole line of any address in it). `size`
        // is a constant, so this is straight-line code.
        visit(start);
        let last = start.wrapping_add(size - 1);
        if last as usize / LINE != start as usize / LINE {
            visit(last);
        }
        return;
    }
    let end = start as usize + size;
    // Each line the object overlaps, once: from the line of its first byte
    // up to the line of its last.
    let mut line = start.wrapping_sub(start as usize % LINE);
    while (line as usize) < end {
        visit(line);
        line = line.wrapping_add(LINE);
    }
}

#[inline(always)]
fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` only hints the cache: it does not dereference the
    // address architecturally and cannot fault. Every address passed here
    // is a byte of a live object or the start of a cache line that one
    // overlaps (see `prefetch_read`). SSE is part of the x86-64 baseline.
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

    /// Every line an object overlaps is visited once, and no other line.
    #[test]
    fn each_line_an_object_overlaps_once() {
        let bytes = [0u8; 512];
        let base = bytes.as_ptr();
        for offset in 0..128 {
            for size in [0usize, 1, 2, 16, 63, 64, 65, 120, 128, 200] {
                let start = base.wrapping_add(offset);
                let mut seen = Vec::new();
                each_line(start, size, |at| seen.push(at as usize / LINE));
                let first = start as usize / LINE;
                let last = (start as usize + size.max(1) - 1) / LINE;
                let want: Vec<usize> = (first..=last).collect();
                assert_eq!(seen, want, "offset {offset}, size {size}");
            }
        }
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
