//! The atomics the ring is built on. Under `--cfg loom` they are loom's
//! model-checked types, so the loom tests exercise the real algorithm; in
//! every other build they are `core`'s.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Called in retry loops: a pause hint on hardware, a scheduling point for
/// loom (which must see every retry to explore interleavings).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}
