// Random numbers on aie. The aie generator is a CPU (mt19937) generator tagged with
// the aie device; the random kernels run CPU ATen on a CPU alias of the aie tensor
// with a CPU generator that carries the aie generator's state. So torch.randn,
// dropout and friends on aie follow torch.aie.manual_seed, and give exactly the CPU
// numbers for the same seed. (The boxed CPU fallback would use the CPU default
// generator instead and ignore the aie seed.)
#include "csrc/device/rng.h"
#include "csrc/runtime/write_epochs.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/multinomial.h>
#include <ATen/ops/native_dropout_native.h>
#include <ATen/ops/normal.h>
#include <ATen/ops/randperm.h>
#include <c10/core/GeneratorImpl.h>
#include <torch/library.h>

#include <array>
#include <mutex>

#include "csrc/runtime/memory_view.h"
#include "csrc/device/device.h"

namespace torch_aie {

namespace {

class AieGenerator final : public at::CPUGeneratorImpl {
 public:
  explicit AieGenerator(c10::DeviceIndex index, uint64_t seed) : at::CPUGeneratorImpl(seed) {
    device_ = aie_device(index);
    key_set_ = c10::DispatchKeySet(c10::DispatchKey::PrivateUse1);
  }

  // check_generator<AieGenerator> accepts only generators of this device type.
  static c10::DeviceType device_type() {
    return c10::DeviceType::PrivateUse1;
  }

 private:
  // CPUGeneratorImpl's clone would lose the aie device.
  AieGenerator* clone_impl() const override {
    auto* copy = new AieGenerator(device_.index(), c10::default_rng_seed_val);
    copy->set_state(*get_state());
    return copy;
  }
};

void copy_engine(at::CPUGeneratorImpl& from, at::CPUGeneratorImpl& to) {
  to.set_engine(from.engine());
  to.set_next_float_normal_sample(from.next_float_normal_sample());
  to.set_next_double_normal_sample(from.next_double_normal_sample());
}

// Runs `fn(cpu_generator)` with a CPU generator carrying the state of `gen` (or of
// the current device's default aie generator), then stores the advanced state back.
template <typename Fn>
void with_cpu_generator(const std::optional<at::Generator>& gen, Fn&& fn) {
  at::Generator aie_gen =
      gen.has_value() && gen->defined() ? *gen : default_generator(current_device());
  auto* aie = at::check_generator<AieGenerator>(aie_gen);
  at::Generator cpu_gen = at::detail::createCPUGenerator();
  auto* cpu = at::check_generator<at::CPUGeneratorImpl>(cpu_gen);
  std::lock_guard<std::mutex> lock(aie_gen.mutex());
  copy_engine(*aie, *cpu);
  fn(cpu_gen);
  copy_engine(*cpu, *aie);
}

// Fills `self` in place with `fill(host view, cpu_generator)`.
template <typename Fill>
at::Tensor& fill_random(at::Tensor& self, const std::optional<at::Generator>& gen, Fill&& fill) {
  if (self.numel() == 0) {
    return self;
  }
  at::Tensor alias = runtime::host_view(self);
  with_cpu_generator(gen, [&](const at::Generator& cpu_gen) { fill(alias, cpu_gen); });
  runtime::note_write(self.storage());
  return self;
}

// Computes a new tensor on the CPU and moves it to `device`.
template <typename Compute>
at::Tensor compute_random(c10::Device device, const std::optional<at::Generator>& gen, Compute&& compute) {
  at::Tensor result;
  with_cpu_generator(gen, [&](const at::Generator& cpu_gen) { result = compute(cpu_gen); });
  return result.to(device);
}

using Gen = std::optional<at::Generator>;

at::Tensor& normal_(at::Tensor& self, double mean, double std, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.normal_(mean, std, g); });
}

at::Tensor& uniform_(at::Tensor& self, double from, double to, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.uniform_(from, to, g); });
}

at::Tensor& bernoulli_float_(at::Tensor& self, double p, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.bernoulli_(p, g); });
}

at::Tensor& bernoulli_tensor_(at::Tensor& self, const at::Tensor& p, Gen gen) {
  const at::Tensor p_cpu = runtime::host_view(p);
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.bernoulli_(p_cpu, g); });
}

at::Tensor& random_(at::Tensor& self, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.random_(g); });
}

at::Tensor& random_from_(at::Tensor& self, int64_t from, std::optional<int64_t> to, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.random_(from, to, g); });
}

at::Tensor& random_to_(at::Tensor& self, int64_t to, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.random_(to, g); });
}

at::Tensor& exponential_(at::Tensor& self, double lambd, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.exponential_(lambd, g); });
}

at::Tensor& log_normal_(at::Tensor& self, double mean, double std, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.log_normal_(mean, std, g); });
}

at::Tensor& cauchy_(at::Tensor& self, double median, double sigma, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.cauchy_(median, sigma, g); });
}

at::Tensor& geometric_(at::Tensor& self, double p, Gen gen) {
  return fill_random(self, gen, [&](at::Tensor& t, const at::Generator& g) { t.geometric_(p, g); });
}

at::Tensor multinomial(const at::Tensor& self, int64_t num_samples, bool replacement, Gen gen) {
  const at::Tensor probs = runtime::host_view(self);
  return compute_random(self.device(), gen, [&](const at::Generator& g) {
    return at::multinomial(probs, num_samples, replacement, g);
  });
}

at::Tensor normal_tensor_float(const at::Tensor& mean, double std, Gen gen) {
  const at::Tensor m = runtime::host_view(mean);
  return compute_random(mean.device(), gen, [&](const at::Generator& g) { return at::normal(m, std, g); });
}

at::Tensor normal_float_tensor(double mean, const at::Tensor& std, Gen gen) {
  const at::Tensor s = runtime::host_view(std);
  return compute_random(std.device(), gen, [&](const at::Generator& g) { return at::normal(mean, s, g); });
}

at::Tensor normal_tensor_tensor(const at::Tensor& mean, const at::Tensor& std, Gen gen) {
  const at::Tensor m = runtime::host_view(mean);
  const at::Tensor s = runtime::host_view(std);
  const c10::Device device = mean.is_privateuseone() ? mean.device() : std.device();
  return compute_random(device, gen, [&](const at::Generator& g) { return at::normal(m, s, g); });
}

at::Tensor& randperm_out(int64_t n, Gen gen, at::Tensor& out) {
  TORCH_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  const at::Tensor perm = compute_random(out.device(), gen, [&](const at::Generator& g) {
    return at::randperm(n, g, out.options().device(c10::DeviceType::CPU));
  });
  out.resize_({n});
  out.copy_(perm);
  return out;
}

// ATen's CPU dropout draws its mask with bernoulli_ on the input's device, which
// lands in bernoulli_float_ above; the arithmetic goes through the dispatcher.
std::tuple<at::Tensor, at::Tensor> native_dropout(const at::Tensor& input, double p, std::optional<bool> train) {
  return at::native::native_dropout_cpu(input, p, train);
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("normal_", &normal_);
  m.impl("uniform_", &uniform_);
  m.impl("bernoulli_.float", &bernoulli_float_);
  m.impl("bernoulli_.Tensor", &bernoulli_tensor_);
  m.impl("random_", &random_);
  m.impl("random_.from", &random_from_);
  m.impl("random_.to", &random_to_);
  m.impl("exponential_", &exponential_);
  m.impl("log_normal_", &log_normal_);
  m.impl("cauchy_", &cauchy_);
  m.impl("geometric_", &geometric_);
  m.impl("multinomial", &multinomial);
  m.impl("normal.Tensor_float", &normal_tensor_float);
  m.impl("normal.float_Tensor", &normal_float_tensor);
  m.impl("normal.Tensor_Tensor", &normal_tensor_tensor);
  m.impl("randperm.generator_out", &randperm_out);
  m.impl("native_dropout", &native_dropout);
}

// ---- control ops (torch.ops._aie.*), behind torch.aie.manual_seed etc. ---------

void manual_seed(int64_t seed, int64_t device) {
  at::Generator gen = default_generator(check_device_index(device));
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(static_cast<uint64_t>(seed));
}

int64_t seed(int64_t device) {
  at::Generator gen = default_generator(check_device_index(device));
  std::lock_guard<std::mutex> lock(gen.mutex());
  return static_cast<int64_t>(gen.seed());
}

int64_t initial_seed(int64_t device) {
  at::Generator gen = default_generator(check_device_index(device));
  std::lock_guard<std::mutex> lock(gen.mutex());
  return static_cast<int64_t>(gen.current_seed());
}

at::Tensor get_rng_state(int64_t device) {
  at::Generator gen = default_generator(check_device_index(device));
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_rng_state(const at::Tensor& state, int64_t device) {
  TORCH_CHECK(state.is_cpu(), "aie RNG state must be a cpu ByteTensor, got one on ", state.device());
  at::Generator gen = default_generator(check_device_index(device));
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("manual_seed(int seed, int device=-1) -> ()", &manual_seed);
  m.def("seed(int device=-1) -> int", &seed);
  m.def("initial_seed(int device=-1) -> int", &initial_seed);
  m.def("get_rng_state(int device=-1) -> Tensor", &get_rng_state);
  m.def("set_rng_state(Tensor state, int device=-1) -> ()", &set_rng_state);
}

}  // namespace

const at::Generator& default_generator(c10::DeviceIndex index) {
  // Never destroyed: generators may be used while statics are torn down.
  static auto* generators = [] {
    auto* gens = new std::array<at::Generator, kDeviceCount>();
    for (c10::DeviceIndex i = 0; i < kDeviceCount; ++i) {
      (*gens)[i] = at::make_generator<AieGenerator>(i, c10::default_rng_seed_val);
    }
    return gens;
  }();
  return (*generators)[check_device_index(index)];
}

at::Generator new_generator(c10::DeviceIndex index) {
  return at::make_generator<AieGenerator>(check_device_index(index), c10::default_rng_seed_val);
}

}  // namespace torch_aie
