//! `generate_into` never allocates: a counting global allocator watches
//! 100,000 calls (this file is its own test binary, so the allocator sees
//! only this test).

use nickpool_server::generator::{Charset, Dictionary, Generator, Seed};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract; we pass it on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `realloc`'s contract; we pass it on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(generator: &mut Generator, calls: usize) -> usize {
    let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN];
    let mut bytes = 0;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..calls {
        bytes += generator.generate_into(&mut buf);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(bytes > calls * 6, "nicknames were written");
    after - before
}

/// One test only: the counter is global, and a second test running in
/// parallel would allocate into the measurement.
#[test]
fn generate_into_never_allocates() {
    // Guard the guard: a counter that never moves would prove nothing.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    drop(std::hint::black_box(vec![1u8; 10]));
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);

    let dict = Arc::new(Dictionary::embedded());
    let mut words = Generator::new(Arc::clone(&dict), Seed::Fixed(1), 0);
    assert_eq!(allocations_during(&mut words, 100_000), 0);
    // Blocked combinations are redrawn in place, without allocating either.
    assert!(words.redraws() > 0 || allocations_during(&mut words, 1_000_000) == 0);
    let chars = Arc::new(Dictionary::for_charset(Charset::Tgh, dict.safety().clone()));
    let mut chars = Generator::new(chars, Seed::Fixed(1), 0);
    assert_eq!(allocations_during(&mut chars, 100_000), 0);
}
