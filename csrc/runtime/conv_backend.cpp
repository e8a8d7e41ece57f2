// The conv-backend registry.
#include "csrc/runtime/conv_backend.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace torch_aie::runtime {

namespace {

constexpr const char* kDefaultBackend = "host_emulator";

struct Registry {
  std::mutex mutex;
  std::vector<const ConvBackend*> backends;
  std::atomic<const ConvBackend*> active{nullptr};

  const ConvBackend* find(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const ConvBackend* b : backends)
      if (name == b->name()) return b;
    return nullptr;
  }
};

Registry& registry() {
  static Registry* r = new Registry();  // leaked: used by static destructors of other files
  return *r;
}

std::string names_list() {
  std::string out;
  for (const auto& n : conv_backend_names()) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

const ConvBackend& by_name(const std::string& name, const char* what) {
  const ConvBackend* b = registry().find(name);
  TORCH_CHECK_VALUE(b, what, " '", name, "' is not a registered conv backend (registered: ", names_list(), ")");
  return *b;
}

}  // namespace

void register_conv_backend(const ConvBackend& backend) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const ConvBackend* b : r.backends)
    TORCH_CHECK(std::string(b->name()) != backend.name(), "conv backend '", backend.name(),
                "' registered twice");
  r.backends.push_back(&backend);
}

const ConvBackend& conv_backend() {
  auto& r = registry();
  if (const ConvBackend* b = r.active.load(std::memory_order_acquire)) return *b;
  const char* env = std::getenv("TORCH_AIE_CONV_BACKEND");
  const ConvBackend& b = env && *env ? by_name(env, "TORCH_AIE_CONV_BACKEND") : by_name(kDefaultBackend, "default");
  const ConvBackend* expected = nullptr;
  r.active.compare_exchange_strong(expected, &b);
  return *r.active.load();
}

void set_conv_backend(const std::string& name) {
  registry().active.store(&by_name(name, "conv backend"), std::memory_order_release);
}

std::vector<std::string> conv_backend_names() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> out;
  for (const ConvBackend* b : r.backends) out.push_back(b->name());
  return out;
}

}  // namespace torch_aie::runtime
