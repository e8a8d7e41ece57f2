// Emulated NPU memory as the rest of csrc/device sees it. The PrivateUse1 device
// allocator is the caching pool (caching_pool.h) over a raw memory provider
// (memory_provider.h); pin_memory() uses the pinned host allocator
// (pinned_allocator.cpp); settings and statistics are in allocator_control.cpp.
#pragma once

#include <c10/core/Allocator.h>

namespace torch_aie {

// True when `ptr` points into a live block of emulated device memory (not a cached,
// freed one).
bool is_device_ptr(const void* ptr);

// Host memory handed out for pin_memory(); there is no DMA here, so "pinned" only
// means "allocated by this allocator", which is what is_pinned() reports.
c10::Allocator* pinned_host_allocator();
bool is_pinned_host_ptr(const void* ptr);

}  // namespace torch_aie
