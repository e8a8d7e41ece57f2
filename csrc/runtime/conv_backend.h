// The conv-backend seam: everything the ops layer may ask of whatever executes a
// convolution (the host emulator today, an XRT/NPU backend later). The ops layer
// (forward path, planner, weight cache) talks only to this interface; staging,
// host layouts, ISAs and device buffers stay behind it. docs/ARCHITECTURE.md,
// "Seams: backend".
#pragma once
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

// Weights in a backend's own packed form; opaque to everyone else. Immutable once
// built, shared by the weight cache across calls and threads.
class PackedOperand {
 public:
  virtual ~PackedOperand() = default;
  virtual size_t bytes() const = 0;  // what the cache budget charges
};

// Host views of one call's tensors (CPU tensors over the device memory).
struct ConvIO {
  at::Tensor input;   // [N][C][H][W], any strides, job.input_dtype
  at::Tensor bias;    // [OC], or undefined when !job.epilogue.bias
  at::Tensor output;  // [N][OC][OH][OW], job.output_dtype, written in place
  at::Tensor skip;    // residual added before the activation, shaped like output; undefined: none
  // [N or 1][C][1][1], job.input_dtype: the conv reads input * input_scale (a squeeze-
  // excite gate), each product as ATen's mul gives it; undefined: none.
  at::Tensor input_scale;
};

class ConvBackend {
 public:
  virtual ~ConvBackend() = default;
  // Stable name: part of the weight cache key and of messages.
  virtual const char* name() const = 0;
  // "" if this backend can run `job`; otherwise why not (it then runs on the CPU).
  virtual std::string why_not(const ConvJob& job) const = 0;
  // Everything the packed form of a job's weights depends on beyond the weight
  // tensor itself: jobs with equal keys can share one packed form.
  virtual std::string pack_key(const ConvJob& job) const = 0;
  // Packs `host_weight` ([OC][C/groups][KH][KW], job.weight_dtype, a CPU view).
  virtual std::shared_ptr<const PackedOperand> pack(const ConvJob& job, const at::Tensor& host_weight) const = 0;
  // Runs `job` with weights from pack() of a job with the same pack_key.
  virtual void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const = 0;
  // How this backend runs `job`, for explain_conv (e.g. "emulated as pixel-row tiles").
  virtual std::string describe(const ConvJob& job) const = 0;
};

// Backends register themselves once (a static ConvBackendRegistration in their own
// file), so adding one edits no list.
void register_conv_backend(const ConvBackend& backend);
struct ConvBackendRegistration {
  explicit ConvBackendRegistration(const ConvBackend& b) { register_conv_backend(b); }
};

// The backend conv calls use: "host_emulator" unless set_conv_backend() or the
// environment variable TORCH_AIE_CONV_BACKEND names another registered one.
const ConvBackend& conv_backend();
void set_conv_backend(const std::string& name);
std::vector<std::string> conv_backend_names();

}  // namespace torch_aie::runtime
