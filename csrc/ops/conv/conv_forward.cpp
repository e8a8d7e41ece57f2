// The aie convolution's entry: normalise, decide (planner + backend, autotune when
// on), then the NPU path or ATen on the host.
#include "csrc/ops/conv/conv_forward.h"

#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "csrc/ops/conv/conv_paths.h"
#include "csrc/ops/profile_range.h"

namespace torch_aie::conv {

namespace {

// Everything decide() reads: the call's geometry, dtype and layout, the epilogue, and
// the settings and backend in force (plan_conv reads no globals; the backend's answer
// depends on the job alone).
struct DecisionKey {
  runtime::ConvShape shape;
  int64_t spatial_dims;
  at::ScalarType dtype;
  bool transposed, servable, channels_last, bias;
  Activation act;
  Precision precision;
  int forced;  // -1: auto
  const runtime::ArrayDesc* array;
  const runtime::ConvBackend* backend;

  bool operator==(const DecisionKey& o) const {
    return std::memcmp(&shape, &o.shape, sizeof(shape)) == 0 && spatial_dims == o.spatial_dims &&
           dtype == o.dtype && transposed == o.transposed && servable == o.servable &&
           channels_last == o.channels_last && bias == o.bias && act == o.act && precision == o.precision &&
           forced == o.forced && array == o.array && backend == o.backend;
  }
};

struct DecisionKeyHash {
  size_t operator()(const DecisionKey& k) const {
    const auto* w = reinterpret_cast<const int64_t*>(&k.shape);
    size_t h = 0;
    for (size_t i = 0; i < sizeof(k.shape) / sizeof(int64_t); ++i) h = h * 1000003u ^ static_cast<size_t>(w[i]);
    const int64_t rest[] = {k.spatial_dims, static_cast<int64_t>(k.dtype), k.transposed, k.servable, k.channels_last,
                            k.bias, static_cast<int64_t>(k.act), static_cast<int64_t>(k.precision), k.forced,
                            reinterpret_cast<int64_t>(k.array), reinterpret_cast<int64_t>(k.backend)};
    for (int64_t v : rest) h = h * 1000003u ^ static_cast<size_t>(v);
    return h;
  }
};

// decide()'s answers per key: a model calls the same few dozen convs again and again,
// and planning each call (the array plan's tile search, the backend's checks, the reason
// strings) cost a batch-1 squeeze-excite 1x1 conv a quarter of its time. Bounded: cleared
// when full.
class DecisionCache {
 public:
  std::shared_ptr<const ConvDecision> get(const DecisionKey& k, const std::function<ConvDecision()>& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = map_.find(k);
      if (it != map_.end()) return it->second;
    }
    auto d = std::make_shared<const ConvDecision>(make());
    std::lock_guard<std::mutex> lock(mutex_);
    if (map_.size() >= kMaxEntries) map_.clear();
    return map_.emplace(k, std::move(d)).first->second;
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  std::mutex mutex_;
  std::unordered_map<DecisionKey, std::shared_ptr<const ConvDecision>, DecisionKeyHash> map_;
};

std::shared_ptr<const ConvDecision> cached_decision(const ConvParams& p, std::optional<ConvAlgorithm> forced,
                                                    Activation act, bool bias) {
  static DecisionCache* cache = new DecisionCache();  // leaked: used until exit
  const PlanSettings settings = plan_settings(forced);
  DecisionKey k{p.shape, p.spatial_dims, p.dtype, p.transposed, p.servable_geometry, p.channels_last, bias, act,
                settings.precision, settings.forced ? static_cast<int>(*settings.forced) : -1, settings.array,
                &runtime::conv_backend()};
  return cache->get(k, [&] { return decide(p, forced, act, bias); });
}

}  // namespace

ConvDecision decide(const ConvParams& p, std::optional<ConvAlgorithm> forced, runtime::Activation act,
                    bool bias) {
  ConvDecision d = plan_conv(p, plan_settings(forced));
  if (!d.on_npu) return d;
  const auto& backend = runtime::conv_backend();
  const std::string why = backend.why_not(make_job(p, d, act, bias));
  if (!why.empty()) {
    d.on_npu = false;
    d.reason = std::string(backend.name()) + ": " + why;
  }
  return d;
}

Activation parse_activation(const std::string& name) {
  for (Activation a : {Activation::None, Activation::ReLU, Activation::ReLU6, Activation::Hardswish,
                       Activation::SiLU, Activation::GELU})
    if (name == runtime::activation_name(a)) return a;
  TORCH_CHECK_VALUE(false, "aie conv: unknown activation '", name,
                    "'; expected 'none', 'relu', 'relu6', 'hardswish', 'silu' or 'gelu'");
}

bool is_channel_gate(const at::Tensor& gate, const at::Tensor& input) {
  if (gate.dim() != input.dim() || input.dim() < 3 || gate.scalar_type() != input.scalar_type() ||
      gate.device() != input.device())
    return false;
  if ((gate.size(0) != 1 && gate.size(0) != input.size(0)) || gate.size(1) != input.size(1)) return false;
  for (int64_t d = 2; d < gate.dim(); ++d)
    if (gate.size(d) != 1) return false;
  return true;
}

at::Tensor conv_forward(const ConvArgs& a, std::optional<ConvAlgorithm> forced, Activation act,
                        const std::optional<at::Tensor>& residual_arg, const at::Tensor& input_scale) {
  TORCH_CHECK(!input_scale.defined() || is_channel_gate(input_scale, a.input),
              "aie conv: input_scale of shape ", input_scale.defined() ? input_scale.sizes() : c10::IntArrayRef{},
              " is not a per-channel gate of the input (", a.input.sizes(), ", ", a.input.scalar_type(), ")");
  const at::Tensor residual = residual_arg && residual_arg->defined() ? *residual_arg : at::Tensor();
  const ConvParams p = normalize(a);
  const bool bias = a.bias && a.bias->defined();
  std::shared_ptr<const ConvDecision> decision = cached_decision(p, forced, act, bias);
  if (decision->on_npu && !forced && !global_algorithm() && autotune_enabled()) {
    if (auto tuned = autotuned(a, p)) {
      ConvDecision t = decide(p, tuned, act, bias);
      t.reason = std::string("autotuned: ") + runtime::algorithm_name(t.algorithm);
      decision = std::make_shared<const ConvDecision>(std::move(t));
    }
  }
  const ConvDecision& d = *decision;
  if (!d.on_npu) {
    note_host_op("aten::convolution", d.reason);
    count_fallback(d.reason);
    ops::CpuFallbackRange range("aten::convolution", d.reason);
    return host_conv(a, act, residual, input_scale);
  }
  count_npu(d.algorithm);
  const auto& s = p.shape;
  ops::NpuOpRange range({p.spatial_dims == 1 ? "conv1d" : "conv2d", runtime::algorithm_name(d.algorithm),
                         d.numerics == runtime::Numerics::Bf16x3 ? "bf16x3" : "bf16", array_name(),
                         d.array_plan, s.macs(), s.M(), s.OCg(), s.K(), s.groups},
                        a.input, a.weight);
  return run_on_npu(a, p, d, act, residual, input_scale);
}

}  // namespace torch_aie::conv
