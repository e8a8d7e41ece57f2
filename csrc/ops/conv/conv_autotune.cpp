// cuDNN-benchmark-style autotuning (off by default): on first sight of a shape,
// time every algorithm that applies (and fits the array) and keep the fastest.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <sstream>

#include "csrc/ops/conv/conv_forward.h"
#include "csrc/ops/conv/conv_paths.h"

namespace torch_aie::conv {

namespace {

std::mutex g_tune_mutex;
std::map<std::string, ConvAlgorithm> g_tuned;
std::atomic<bool> g_autotune{false};

std::string tune_key(const ConvParams& p) {
  const auto& s = p.shape;
  std::ostringstream os;
  os << s.N << ',' << s.C << ',' << s.H << ',' << s.W << ',' << s.OC << ',' << s.KH << ',' << s.KW
     << ',' << s.stride_h << ',' << s.stride_w << ',' << s.pad_h << ',' << s.pad_w << ',' << s.dil_h
     << ',' << s.dil_w << ',' << s.groups << ',' << p.dtype << ',' << p.channels_last << ','
     << precision_name(precision()) << ',' << array_name() << ',' << runtime::conv_backend().name();
  return os.str();
}

}  // namespace

std::optional<ConvAlgorithm> autotuned(const ConvArgs& a, const ConvParams& p) {
  const std::string key = tune_key(p);
  {
    std::lock_guard<std::mutex> lock(g_tune_mutex);
    auto it = g_tuned.find(key);
    if (it != g_tuned.end()) return it->second;
  }
  std::optional<ConvAlgorithm> best;
  double best_s = 0;
  for (int i = 0; i < runtime::kNumAlgorithms; ++i) {
    const auto alg = static_cast<ConvAlgorithm>(i);
    const ConvDecision d = decide(p, alg, false, a.bias && a.bias->defined());
    if (!d.on_npu || d.algorithm != alg) continue;
    run_on_npu(a, p, d, false);  // packs the weights, warms caches
    double t = 1e30;
    for (int r = 0; r < 2; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      run_on_npu(a, p, d, false);
      t = std::min(t, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!best || t < best_s) {
      best = alg;
      best_s = t;
    }
  }
  if (best) {
    std::lock_guard<std::mutex> lock(g_tune_mutex);
    g_tuned.emplace(key, *best);
  }
  return best;
}

void set_autotune(bool on) { g_autotune = on; }
bool autotune_enabled() { return g_autotune; }
int64_t autotuned_shapes() {
  std::lock_guard<std::mutex> lock(g_tune_mutex);
  return static_cast<int64_t>(g_tuned.size());
}
void clear_autotune() {
  std::lock_guard<std::mutex> lock(g_tune_mutex);
  g_tuned.clear();
}

}  // namespace torch_aie::conv
