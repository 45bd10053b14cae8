//! Proves the hot path allocates nothing: a counting global allocator (per thread, so parallel
//! tests do not interfere) around decoding the whole DMA feed with a warmed-up decoder.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates every call to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn decoding_the_dma_feed_allocates_nothing() {
    let Some(data) = super::common::dma_stream() else {
        return;
    };
    let mut decoder = ais::Decoder::new();
    let before = allocations();
    let mut n_ok = 0usize;
    // Byte chunks of an awkward size, so partial lines are carried between chunks too.
    for chunk in data.chunks(1000) {
        for (_, result) in decoder.feed(chunk) {
            n_ok += usize::from(result.is_ok());
        }
    }
    for line in data.split(|b| *b == b'\n') {
        n_ok += usize::from(matches!(decoder.decode_line(line), Some((_, Ok(_)))));
    }
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "decoder allocated {} times",
        after - before
    );
    assert!(n_ok > 8000, "{n_ok}");
    // The counter does count.
    let v: Vec<u8> = Vec::with_capacity(16);
    assert!(allocations() > after, "{}", v.capacity());
}
