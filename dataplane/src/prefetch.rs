//! How the pipeline asks for memory before it needs it.
//!
//! The dataplane is sans-IO and free of unsafe code, so it cannot issue a
//! prefetch instruction itself; whoever drives it passes a [`Prefetch`]
//! (the appliance passes one that executes `prefetcht0`). The pipeline only
//! calls it with references to its own tables, so a hint is always aimed at
//! memory the next stage reads. Tests pass [`NoPrefetch`]: a hint cannot
//! change any result, only how long it takes.

/// A cache hint: bring the lines holding `value` (all of them, however
/// many `T` spans) closer.
pub trait Prefetch {
    fn read<T>(&self, value: &T);
}

/// Hints nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPrefetch;

impl Prefetch for NoPrefetch {
    #[inline(always)]
    fn read<T>(&self, _value: &T) {}
}
