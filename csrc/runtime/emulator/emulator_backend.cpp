// The host emulator as a ConvBackend: the default backend, always built. It hands
// each job to a kernel family (kernel_family.h); every host-side choice (host
// layout, staging, the ISA's kernel table) stays inside the families, so the ops
// layer sees only the ConvBackend interface.
#include <ATen/ops/mul.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "csrc/runtime/emulator/kernel_family.h"

namespace torch_aie::runtime {

namespace {

struct Families {
  std::mutex mutex;
  std::vector<const KernelFamily*> list;  // by descending priority
};

Families& families() {
  static Families* f = new Families();  // leaked: families register from static initialisers
  return *f;
}

const KernelFamily& family_or_throw(const ConvJob& job) {
  std::string why;
  const KernelFamily* f = family_for(job, &why);
  TORCH_CHECK(f, "host_emulator cannot run this conv: ", why);
  return *f;
}

class HostEmulatorBackend final : public ConvBackend {
 public:
  const char* name() const override { return "host_emulator"; }

  std::string why_not(const ConvJob& job) const override {
    std::string why;
    return family_for(job, &why) ? "" : why;
  }

  std::string pack_key(const ConvJob& job) const override {
    const KernelFamily& f = family_or_throw(job);
    return std::string(f.name()) + ':' + f.pack_key(job);
  }

  std::shared_ptr<const PackedOperand> pack(const ConvJob& job, const at::Tensor& host_weight) const override {
    return family_or_throw(job).pack(job, host_weight);
  }

  void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const override {
    const KernelFamily& family = family_or_throw(job);
    if (!io.input_scale.defined() || family.fuses_input_scale(job)) return family.run(job, weights, io);
    ConvIO scaled = io;  // the product ATen's mul gives, then the conv on it
    scaled.input = at::mul(io.input, io.input_scale);
    scaled.input_scale = at::Tensor();
    family.run(job, weights, scaled);
  }

  std::string describe(const ConvJob& job) const override { return family_or_throw(job).describe(job); }
};

const HostEmulatorBackend g_backend;
const ConvBackendRegistration g_registration(g_backend);

}  // namespace

void register_kernel_family(const KernelFamily& family) {
  auto& f = families();
  std::lock_guard<std::mutex> lock(f.mutex);
  auto at = std::find_if(f.list.begin(), f.list.end(),
                         [&](const KernelFamily* g) { return g->priority() < family.priority(); });
  f.list.insert(at, &family);
}

const KernelFamily* family_for(const ConvJob& job, std::string* why) {
  auto& f = families();
  std::lock_guard<std::mutex> lock(f.mutex);
  std::string reasons;
  for (const KernelFamily* family : f.list) {
    const std::string w = family->why_not(job);
    if (w.empty()) return family;
    reasons += (reasons.empty() ? "" : "; ") + std::string(family->name()) + ": " + w;
  }
  if (why) *why = reasons.empty() ? "no kernel family registered" : reasons;
  return nullptr;
}

}  // namespace torch_aie::runtime
