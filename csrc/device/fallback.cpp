// The boxed CPU fallback: any aten op without an aie kernel runs CPU ATen on copies
// of its aie inputs and its results come back to aie. Every such call is counted
// per op; the fallback mode decides whether it is silent, warns once per op, or
// raises, so users can find and forbid hidden host round trips.

#include <ATen/core/Tensor.h>
#include <ATen/native/CPUFallback.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace torch_aie {

// Records one CPU fallback under the current mode: counts it, warns once per op in
// "warn" mode, or raises naming the op in "raise" mode. Thread-safe; never takes the GIL.
void count_fallback(const std::string& op_name);

namespace {

enum class Mode : int { kSilent = 0, kWarn = 1, kRaise = 2 };
constexpr std::array<const char*, 3> kModeNames = {"silent", "warn", "raise"};

std::atomic<Mode> current_mode{Mode::kSilent};

class FallbackTable {
 public:
  // Counts one call; true if `op` has not been warned about since the last reset.
  bool add(const std::string& op) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_[op];
    return warned_.insert(op).second;
  }

  std::vector<std::pair<std::string, int64_t>> snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::pair<std::string, int64_t>> rows(counts_.begin(), counts_.end());
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  void reset_counts() {
    std::lock_guard<std::mutex> lock(mutex_);
    counts_.clear();
    warned_.clear();
  }

  // Entering "warn" mode warns afresh about every op.
  void reset_warnings() {
    std::lock_guard<std::mutex> lock(mutex_);
    warned_.clear();
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, int64_t> counts_;
  std::unordered_set<std::string> warned_;
};

// Never destroyed: ops may still run while statics are torn down.
FallbackTable& table() {
  static auto* instance = new FallbackTable();
  return *instance;
}

std::optional<Mode> parse_mode(std::string_view name) {
  for (size_t i = 0; i < kModeNames.size(); ++i) {
    if (name == kModeNames[i]) {
      return static_cast<Mode>(i);
    }
  }
  return std::nullopt;
}

// cpu_fallback moves every tensor to the CPU, so it would happily add a cpu tensor
// to an aie one. Refuse, as CUDA does; 0-dim cpu tensors are scalars and allowed,
// and so are cpu index lists (Tensor?[] arguments), as for CUDA indexing.
void check_same_device(const std::string& op_name, const torch::jit::Stack& stack, size_t num_args) {
  std::optional<c10::Device> aie;
  std::optional<c10::Device> cpu;
  auto note = [&](const at::Tensor& t) {
    if (!t.defined()) {
      return;
    }
    if (t.is_privateuseone()) {
      aie = t.device();
    } else if (t.is_cpu() && t.dim() > 0) {
      cpu = t.device();
    }
  };
  for (const c10::IValue& arg : torch::jit::last(stack, num_args)) {
    if (arg.isTensor()) {
      note(arg.toTensor());
    } else if (arg.isTensorList()) {
      for (const at::Tensor& t : arg.toTensorVector()) {
        note(t);
      }
    }
  }
  TORCH_CHECK(
      !(aie && cpu),
      "Expected all tensors to be on the same device, but found at least two devices, ",
      *aie,
      " and ",
      *cpu,
      "! (in ",
      op_name,
      ", which has no aie kernel; move the cpu tensor with .to('aie'))");
}

// Runs `cpu_op` (whose arguments are on the stack) on the CPU, counted as `name`.
void run_on_cpu(const std::string& name, const c10::OperatorHandle& cpu_op, torch::jit::Stack* stack) {
  check_same_device(name, *stack, cpu_op.schema().arguments().size());
  count_fallback(name);
  // A view op run on a CPU copy would silently stop aliasing its input.
  at::native::cpu_fallback(cpu_op, stack, /*error_on_views=*/true);
}

void aie_cpu_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  run_on_cpu(c10::toString(op.operator_name()), op, stack);
}

c10::OperatorHandle find_op(const char* name, const char* overload = "") {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
}

// native_batch_norm updates running_mean and running_var in place, but its schema
// does not mark them as written, so cpu_fallback would not copy the CPU updates
// back. Its twin _native_batch_norm_legit takes the same arguments and says so.
void native_batch_norm_twin(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  static const c10::OperatorHandle with_stats = find_op("aten::_native_batch_norm_legit");
  static const c10::OperatorHandle without_stats =
      find_op("aten::_native_batch_norm_legit", "no_stats");
  constexpr size_t kNumArgs = 8;  // input, weight, bias, running_mean, running_var, training, ...
  constexpr size_t kRunningMean = 3;
  auto args = stack->end() - kNumArgs;
  const bool has_mean = !args[kRunningMean].isNone();
  const bool has_var = !args[kRunningMean + 1].isNone();
  if (has_mean && has_var) {
    run_on_cpu("aten::native_batch_norm", with_stats, stack);
  } else if (!has_mean && !has_var) {
    stack->erase(args + kRunningMean, args + kRunningMean + 2);
    run_on_cpu("aten::native_batch_norm", without_stats, stack);
  } else {
    run_on_cpu("aten::native_batch_norm", op, stack);  // ATen rejects the mix itself
  }
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&aie_cpu_fallback>());
}

// No autocast policy yet: under torch.autocast("aie") ops run in their input dtypes
// instead of failing for want of an AutocastPrivateUse1 kernel.
TORCH_LIBRARY_IMPL(_, AutocastPrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("native_batch_norm", torch::CppFunction::makeFromBoxedFunction<&native_batch_norm_twin>());
}

// ---- control ops (torch.ops._aie.*) -------------------------------------------

std::tuple<std::vector<std::string>, std::vector<int64_t>> fallback_counts() {
  std::vector<std::string> names;
  std::vector<int64_t> counts;
  for (auto& [name, count] : table().snapshot()) {
    names.push_back(std::move(name));
    counts.push_back(count);
  }
  return {std::move(names), std::move(counts)};
}

void reset_fallback_counts() {
  table().reset_counts();
}

void set_fallback_mode(const std::string& name) {
  const std::optional<Mode> mode = parse_mode(name);
  TORCH_CHECK(mode, "unknown aie fallback mode '", name, "'; expected 'silent', 'warn' or 'raise'");
  if (*mode == Mode::kWarn) {
    table().reset_warnings();
  }
  current_mode.store(*mode);
}

std::string get_fallback_mode() {
  return kModeNames[static_cast<size_t>(current_mode.load())];
}

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("fallback_counts() -> (str[], int[])", &fallback_counts);
  m.def("reset_fallback_counts() -> ()", &reset_fallback_counts);
  m.def("set_fallback_mode(str mode) -> ()", &set_fallback_mode);
  m.def("get_fallback_mode() -> str", &get_fallback_mode);
}

}  // namespace

void count_fallback(const std::string& op_name) {
  const Mode mode = current_mode.load();
  TORCH_CHECK(
      mode != Mode::kRaise,
      op_name,
      " has no aie kernel and would run on the CPU, which the aie fallback mode 'raise' "
      "forbids (torch_aie.set_fallback_mode('silent') or 'warn' allows it)");
  const bool first = table().add(op_name);
  if (mode == Mode::kWarn && first) {
    TORCH_WARN(
        op_name,
        " has no aie kernel: it runs on the CPU, with its aie inputs copied to the host "
        "and its results copied back (warned once per op; "
        "torch_aie.set_fallback_mode('silent') hides this)");
  }
}

}  // namespace torch_aie
