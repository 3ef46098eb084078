// block_cache.hpp — where tensor storage comes from. Small buffers come from the C
// allocator; buffers of 64 KiB and more are kept on free and handed out again, because
// faulting in fresh pages costs more than the op itself (measured here: ~1 GB/s for
// first-touch pages against ~40 GB/s for reused ones), and an LLM step allocates the same
// big activations and logits every time. Large blocks are 2 MiB aligned and advised as
// huge pages, which makes first touch ~5× cheaper where transparent huge pages are on.
#pragma once
#include <cstddef>

namespace xla::detail {

// Returns memory of at least n bytes, 16-byte aligned below 64 KiB and 64-byte aligned
// above (never null: throws Status::OOM);
// *capacity receives the size to pass back to release_block.
void* acquire_block(size_t n, size_t* capacity);
void release_block(void* p, size_t capacity);

// Whether acquire_block put a block of this capacity on huge pages (the large ones do).
bool on_huge_pages(size_t capacity);
// Memory of at least n bytes, 2 MiB aligned and advised as huge pages whatever n is (for
// weights gathered into one block; see move_to_huge_pages). Released with release_block.
void* acquire_huge_block(size_t n, size_t* capacity);

}  // namespace xla::detail

namespace xla {
// Frees the cached blocks (memory kept for reuse) back to the system; returns the bytes freed.
size_t release_cached_memory();
}  // namespace xla
