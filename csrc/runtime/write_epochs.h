// Write epochs of device buffers, for tensors that have no version counter.
//
// Inference tensors (made under torch.inference_mode()) carry no version counter, so
// the weight cache cannot see in-place writes to them through `_version`. Instead,
// every kernel that writes aie memory reports the written storage here, and a storage
// that something watches (the weight cache, for a packed inference weight) gets a new
// epoch after each write. The reporting paths (docs/ARCHITECTURE.md, "weight cache"):
// the CPU fallback's in-place and out= arguments, the aie kernels of copy_, fill_,
// zero_ and the random in-place fills, and torch.autograd.graph.increment_version,
// which torch.compile'd graphs call for the inputs they mutate.
#pragma once

#include <c10/core/Storage.h>

#include <cstdint>

namespace torch_aie::runtime {

// The current epoch of `storage`'s memory; the first call starts watching it. Epochs
// are unique over the process (one counter), so a storage that died and whose address
// was reused can never show an epoch an older cache entry recorded.
uint64_t write_epoch(const c10::Storage& storage);

// Called after every write to aie memory: a watched storage gets a new epoch. Cheap
// (one atomic load) while nothing is watched.
void note_write(const c10::Storage& storage);

}  // namespace torch_aie::runtime
