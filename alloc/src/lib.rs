//! The server's global allocator: mimalloc, asked for a plain block wherever a plain block
//! is aligned enough.
//!
//! The `mimalloc` crate's allocator passes every allocation to `mi_malloc_aligned`, whose
//! checks and three nested calls cost about 48 instructions a block, about 25 more than
//! `mi_malloc`'s path (callgrind, `scripts/instructions.sh`). A sign-in allocates about 490
//! blocks, a token read about 47, nearly all of them aligned to 16 bytes or less. mimalloc's
//! own rule (`mi_malloc_is_naturally_aligned` in its `alloc-aligned.c`) is that a block of
//! `size` bytes from `mi_malloc` is aligned to any `align` of at most 16 (`MI_MAX_ALIGN_SIZE`)
//! and at most `size`; std's allocator for glibc makes the same choice with `malloc`. So those
//! go to `mi_malloc`, `mi_zalloc` and `mi_realloc`, and only the rest to the aligned calls.
//! Measured: a flow 622.5–624.9 k instructions → 609.2 k, a token read 34.2–34.4 k → 33.0 k.
//!
//! This is the one crate of tokenbridge's own with unsafe code (a global allocator is an
//! unsafe trait); the others forbid it.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use libmimalloc_sys as mi;

/// The largest alignment every block `mi_malloc` returns has, when the block is at least that
/// large (mimalloc's `MI_MAX_ALIGN_SIZE`).
const PLAIN_ALIGN: usize = 16;

/// mimalloc as the global allocator (see the crate's documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocator;

/// Whether a plain block of `size` bytes is aligned to `align`.
#[inline]
fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

/// Whether `block` is aligned to `align`, or null (no memory: passed on as it is). Always so
/// for a plain block under `plain`'s rule in the mimalloc this crate builds; checked anyway
/// (two instructions) as mimalloc's own aligned path checks it, since a build of mimalloc with
/// its `debug` features may place a guarded block just before a guard page, at no alignment.
/// A block that is not goes back, and the aligned call makes another.
#[inline]
fn aligned_or_null(block: *mut c_void, align: usize) -> bool {
    (block as usize) & (align - 1) == 0
}

/// A new block for `layout`, zeroed if asked: a plain one where it is aligned enough, else
/// an aligned one. Null when there is no memory, as `GlobalAlloc` answers.
#[inline]
fn fresh(layout: Layout, zeroed: bool) -> *mut u8 {
    let (size, align) = (layout.size(), layout.align());
    if plain(align, size) {
        // SAFETY: any size may be asked for; a null answer is passed on as the trait says.
        let block = unsafe {
            if zeroed {
                mi::mi_zalloc(size)
            } else {
                mi::mi_malloc(size)
            }
        };
        if aligned_or_null(block, align) {
            return block.cast();
        }
        // SAFETY: a block mimalloc just made, given back.
        unsafe { mi::mi_free(block) };
    }
    // SAFETY: `align` is a power of two (a `Layout`'s always is).
    unsafe {
        if zeroed {
            mi::mi_zalloc_aligned(size, align)
        } else {
            mi::mi_malloc_aligned(size, align)
        }
    }
    .cast()
}

// SAFETY: every block comes from mimalloc, aligned as `layout` asks: by the aligned calls, or
// by the plain ones only where mimalloc guarantees that alignment (`plain`). Every block is
// given back to mimalloc (`mi_free`, `mi_realloc*`), which finds its size itself.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        fresh(layout, false)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        fresh(layout, true)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller gives back a block this allocator made, so one of mimalloc's.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        let mut block = ptr.cast::<c_void>();
        if plain(align, new_size) {
            // SAFETY: `ptr` is one of mimalloc's blocks (the caller's promise). A block kept in
            // place keeps its address, aligned as `layout` asked; one that moves is a plain block
            // of `new_size` bytes, aligned enough (`plain`), which the check below confirms.
            block = unsafe { mi::mi_realloc(block, new_size) };
            if aligned_or_null(block, align) {
                return block.cast();
            }
        }
        // SAFETY: `block` is one of mimalloc's blocks holding the caller's bytes (moved by the
        // plain call above if it was misaligned), and `align` a power of two.
        unsafe { mi::mi_realloc_aligned(block, new_size, align) }.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From one byte to a large block, with the sizes whose blocks are not a power of two
    /// (24 → 32, 40 and 48 → 48, 52 — a small hash table's shape at 16 — → 64).
    const SIZES: [usize; 19] = [
        1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 40, 48, 52, 56, 80, 100, 1000, 5000, 70_000,
    ];
    const ALIGNS: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, 4096];
    /// Blocks of one layout made at once: enough to land on several blocks of one page.
    const EACH: usize = 24;

    fn aligned(ptr: *mut u8, align: usize) -> bool {
        !ptr.is_null() && (ptr as usize).is_multiple_of(align)
    }

    #[test]
    fn every_block_is_as_aligned_as_its_layout_asks_and_keeps_what_is_written() {
        let allocator = Allocator;
        for size in SIZES {
            for align in ALIGNS {
                let layout = Layout::from_size_align(size, align).expect("a valid layout");
                let mut blocks = [core::ptr::null_mut::<u8>(); EACH];
                for (n, block) in blocks.iter_mut().enumerate() {
                    // SAFETY: a layout of non-zero size.
                    let ptr = unsafe { allocator.alloc(layout) };
                    assert!(aligned(ptr, align), "size {size}, align {align}: {ptr:p}");
                    // SAFETY: the block has `size` bytes.
                    unsafe { ptr.write_bytes(n as u8, size) };
                    *block = ptr;
                }
                for (n, &ptr) in blocks.iter().enumerate() {
                    // SAFETY: each block has `size` bytes, written above.
                    let bytes = unsafe { core::slice::from_raw_parts(ptr, size) };
                    assert!(
                        bytes.iter().all(|&b| b == n as u8),
                        "size {size}, align {align}"
                    );
                    // SAFETY: made by this allocator with this layout.
                    unsafe { allocator.dealloc(ptr, layout) };
                }
            }
        }
    }

    #[test]
    fn a_zeroed_block_is_zero_and_aligned() {
        let allocator = Allocator;
        for size in SIZES {
            for align in ALIGNS {
                let layout = Layout::from_size_align(size, align).expect("a valid layout");
                let mut blocks = [core::ptr::null_mut::<u8>(); EACH];
                for block in &mut blocks {
                    // SAFETY: a layout of non-zero size.
                    let ptr = unsafe { allocator.alloc_zeroed(layout) };
                    assert!(aligned(ptr, align), "size {size}, align {align}: {ptr:p}");
                    // SAFETY: the block has `size` bytes.
                    let bytes = unsafe { core::slice::from_raw_parts(ptr, size) };
                    assert!(bytes.iter().all(|&b| b == 0), "size {size}, align {align}");
                    // SAFETY: the block has `size` bytes; dirtied for whichever block reuses it.
                    unsafe { ptr.write_bytes(0xff, size) };
                    *block = ptr;
                }
                for ptr in blocks {
                    // SAFETY: made by this allocator with this layout.
                    unsafe { allocator.dealloc(ptr, layout) };
                }
            }
        }
    }

    #[test]
    fn a_block_grown_or_shrunk_keeps_its_alignment_and_its_bytes() {
        let allocator = Allocator;
        for from in SIZES {
            for to in SIZES {
                for align in ALIGNS {
                    let layout = Layout::from_size_align(from, align).expect("a valid layout");
                    // SAFETY: a layout of non-zero size.
                    let ptr = unsafe { allocator.alloc(layout) };
                    // SAFETY: the block has `from` bytes.
                    unsafe { ptr.write_bytes(0xa5, from) };
                    // SAFETY: made by this allocator with `layout`; `to` is not zero and,
                    // rounded up to `align`, far below `isize::MAX`.
                    let moved = unsafe { allocator.realloc(ptr, layout, to) };
                    assert!(
                        aligned(moved, align),
                        "{from} → {to} bytes, align {align}: {moved:p}"
                    );
                    let kept = from.min(to);
                    // SAFETY: the block has at least `kept` bytes, carried over.
                    let bytes = unsafe { core::slice::from_raw_parts(moved, kept) };
                    assert!(
                        bytes.iter().all(|&b| b == 0xa5),
                        "{from} → {to}, align {align}"
                    );
                    let new_layout = Layout::from_size_align(to, align).expect("a valid layout");
                    // SAFETY: the block now has the new layout.
                    unsafe { allocator.dealloc(moved, new_layout) };
                }
            }
        }
    }

    #[test]
    fn a_huge_block_is_aligned_and_keeps_its_ends_when_it_grows_or_shrinks() {
        const HUGE: usize = 20 << 20;
        let allocator = Allocator;
        for align in ALIGNS {
            let layout = Layout::from_size_align(HUGE, align).expect("a valid layout");
            // SAFETY: a layout of non-zero size.
            let ptr = unsafe { allocator.alloc(layout) };
            assert!(aligned(ptr, align), "align {align}: {ptr:p}");
            // SAFETY: the block has `HUGE` bytes.
            unsafe {
                ptr.write(1);
                ptr.add(HUGE - 1).write(2);
            }
            // SAFETY: made with `layout`; the new size is not zero.
            let grown = unsafe { allocator.realloc(ptr, layout, HUGE + (1 << 20)) };
            assert!(aligned(grown, align), "align {align}: {grown:p}");
            // SAFETY: the block has at least `HUGE` bytes, carried over.
            let ends = unsafe { (grown.read(), grown.add(HUGE - 1).read()) };
            assert_eq!(ends, (1, 2));
            let grown_layout =
                Layout::from_size_align(HUGE + (1 << 20), align).expect("a valid layout");
            // SAFETY: made with `grown_layout`; the new size is not zero.
            let shrunk = unsafe { allocator.realloc(grown, grown_layout, 100) };
            assert!(aligned(shrunk, align), "align {align}: {shrunk:p}");
            // SAFETY: the block has at least one byte, carried over.
            let first = unsafe { shrunk.read() };
            assert_eq!(first, 1);
            let small = Layout::from_size_align(100, align).expect("a valid layout");
            // SAFETY: the block now has the layout `small`.
            unsafe { allocator.dealloc(shrunk, small) };
        }
    }
}
