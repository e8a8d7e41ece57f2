// The kernel-family seam inside the host emulator: a family is one set of kernels
// for one class of numerics (the float family: bf16 operands, fp32 accumulation;
// an int8 family: int8 operands, int32 accumulation, requantising epilogue). The
// emulator backend hands each job to the first registered family, in priority
// order, that serves it. A family registers itself from its own file, so adding
// one edits no list (docs/ARCHITECTURE.md, "Adding a kernel family").
#pragma once
#include <memory>
#include <string>

#include "csrc/runtime/conv_backend.h"

namespace torch_aie::runtime {

class KernelFamily {
 public:
  virtual ~KernelFamily() = default;
  virtual const char* name() const = 0;
  // Higher runs first among families serving a job (e.g. a native-bf16 family above the float one).
  virtual int priority() const = 0;
  // The ConvBackend methods, for the jobs this family serves ("" from why_not).
  virtual std::string why_not(const ConvJob& job) const = 0;
  virtual std::string pack_key(const ConvJob& job) const = 0;
  virtual std::shared_ptr<const PackedOperand> pack(const ConvJob& job, const at::Tensor& host_weight) const = 0;
  virtual void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const = 0;
  virtual std::string describe(const ConvJob& job) const = 0;
  // Whether run() applies ConvIO::input_scale itself (in its staging); otherwise the
  // backend multiplies the input by it first, as ATen does.
  virtual bool fuses_input_scale(const ConvJob&) const { return false; }
};

void register_kernel_family(const KernelFamily& family);
struct KernelFamilyRegistration {
  explicit KernelFamilyRegistration(const KernelFamily& f) { register_kernel_family(f); }
};

// The family that runs `job`, or null with every family's reason in `why`.
const KernelFamily* family_for(const ConvJob& job, std::string* why);

}  // namespace torch_aie::runtime
