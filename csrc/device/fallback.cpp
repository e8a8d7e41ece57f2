// The boxed CPU fallback: any aten op without an aie kernel runs its CPU kernel. Device
// memory is host memory (in the emulator, and on XDNA, whose NPU buffers are host-mapped
// DRAM), so the CPU kernel runs directly on CPU aliases of the aie tensors, without the
// copy-in/copy-out of at::native::cpu_fallback: in-place ops and out= arguments write
// the aie memory itself, and only fresh results are copied into new aie tensors. Every
// such call is counted per op; the fallback mode decides whether it is silent, warns
// once per op, or raises, so users can find and forbid hidden host work.

#include <ATen/EmptyTensor.h>
#include <ATen/core/Tensor.h>
#include <ATen/native/TensorFactories.h>
#include <ATen/record_function.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/zeros.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/StorageImpl.h>
#include <c10/core/TensorImpl.h>
#include <c10/util/Exception.h>
#include <c10/util/SmallVector.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "csrc/device/fallback_memory.h"
#include "csrc/device/fallback_table.h"
#include "csrc/runtime/write_epochs.h"
#include "csrc/device/device.h"
#include "csrc/device/quantized_refusal.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie {


namespace {

// The CPU kernel sees only CPU tensors (the aie ones' aliases), so it would happily
// add a cpu tensor to an aie one. Refuse, as CUDA does; 0-dim cpu tensors are scalars and allowed,
// and so are cpu index lists (Tensor?[] arguments), as for CUDA indexing.
void check_same_device(const c10::OperatorHandle& op, const torch::jit::Stack& stack, size_t num_args) {
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
      c10::toString(op.operator_name()),
      ", which has no aie kernel; move the cpu tensor with .to('aie'))");
}

// ---- zero-copy fallback ------------------------------------------------------------

// The CPU aliases of one fallback call: runtime::HostViews, resizable, so that views
// of one aie storage share one CPU storage (CPU ATen's overlap checks apply) and a CPU
// kernel that grows an out= argument gets fresh CPU memory, detected afterwards through
// Entry::intact().
using Aliases = runtime::HostViews;

bool is_aie(const at::Tensor& t) {
  return t.defined() && t.is_privateuseone();
}

bool is_write(const c10::AliasInfo* info) {
  return info != nullptr && info->isWrite();
}

// ---- ZeroTensors -------------------------------------------------------------------
// Forward AD gives every input without a tangent a ZeroTensor tangent: a tensor with the
// ZeroTensor dispatch key and no memory (null data pointer). ATen's ZeroTensor fallback
// materialises them before most kernels, but factories and redispatches can still hand
// one to the CPU fallback, which must never alias its null memory.

// An aie ZeroTensor, as ATen's _efficientzerotensor makes CPU and CUDA ones: no memory,
// dispatch keys PrivateUse1 + ZeroTensor.
at::Tensor aie_zero_tensor(c10::IntArrayRef size, c10::ScalarType dtype, c10::DeviceIndex index) {
  // The storage keeps a pointer to its allocator: one per device, never destroyed.
  static std::array<at::native::ZeroTensorAllocator*, kDeviceCount> allocators = [] {
    std::array<at::native::ZeroTensorAllocator*, kDeviceCount> all{};
    for (c10::DeviceIndex i = 0; i < kDeviceCount; ++i) {
      all[i] = new at::native::ZeroTensorAllocator(aie_device(i));
    }
    return all;
  }();
  const auto keys = c10::DispatchKeySet(c10::DispatchKey::PrivateUse1) |
      c10::DispatchKeySet(c10::DispatchKey::ZeroTensor);
  return at::detail::empty_generic(size, allocators[index], keys, dtype, std::nullopt);
}

at::Tensor efficientzerotensor(
    c10::IntArrayRef size,
    std::optional<c10::ScalarType> dtype,
    std::optional<c10::Layout> layout,
    std::optional<c10::Device> device,
    std::optional<bool> pin_memory) {
  TORCH_CHECK(layout.value_or(c10::kStrided) == c10::kStrided, "aie ZeroTensors are strided, got layout ", *layout);
  TORCH_CHECK(!pin_memory.value_or(false), "aie tensors cannot be pinned");
  const c10::DeviceIndex index = check_device_index(device && device->has_index() ? device->index() : -1);
  return aie_zero_tensor(size, dtype.value_or(c10::get_default_dtype_as_scalartype()), index);
}

// What the CPU kernel sees for a ZeroTensor argument: real zeros (one element, expanded),
// as ATen's ZeroTensor fallback gives kernels. ZeroTensors are immutable.
at::Tensor materialised_zeros(const std::string& op_name, const at::Tensor& t, bool write) {
  TORCH_CHECK(
      !write,
      "ZeroTensors are immutable. Please use the materialized zero tensor obtained using .clone() "
      "if you want a mutable tensor (in ",
      op_name,
      ")");
  return at::zeros({}, t.options().device(c10::kCPU)).expand(t.sizes());
}

// An aie argument the CPU kernel may write (in-place self, out=), and its alias.
struct Written {
  at::Tensor original;
  at::Tensor alias;
  const c10::StorageImpl* alias_storage;
};

// After the CPU kernel: a written alias still over the aie memory with the original's
// geometry needs nothing. One the kernel re-strided within its memory (resize_output of
// a too-big out=, as_strided_) makes the aie tensor take the same geometry; one the
// kernel moved to new CPU memory (it grew) resizes the aie tensor (its own resize_, so
// the aie allocator provides the memory) and copies the result in, as cpu_fallback does.
void write_back(const Written& w, const Aliases& aliases) {
  const at::Tensor& a = w.alias;
  const at::Tensor& o = w.original;
  const c10::StorageImpl* now = a.storage().unsafeGetStorageImpl();
  const Aliases::Entry* entry = aliases.find(now);
  const bool in_place = now == w.alias_storage && entry != nullptr && entry->intact();
  if (in_place && a.storage_offset() == o.storage_offset() && a.sizes().equals(o.sizes()) &&
      a.strides().equals(o.strides())) {
    return;
  }
  if (in_place) {
    o.set_(o.storage(), a.storage_offset(), a.sizes(), a.strides());
    return;
  }
  o.resize_(a.sizes());
  if (a.is_non_overlapping_and_dense() && !a.strides().equals(o.strides())) {
    o.set_(o.storage(), o.storage_offset(), a.sizes(), a.strides());  // keep its memory format
  }
  if (o.numel() > 0) {
    runtime::host_view(o).copy_(a);
  }
}

// A result that shares memory with an aie input becomes an aie tensor over the same
// storage: a view stays a view.
at::Tensor aie_view(const c10::Storage& aie, const at::Tensor& cpu) {
  auto impl = c10::make_intrusive<c10::TensorImpl>(
      c10::Storage(aie), c10::DispatchKeySet(c10::DispatchKey::PrivateUse1), cpu.dtype());
  impl->set_sizes_and_strides(cpu.sizes(), cpu.strides(), cpu.storage_offset());
  at::Tensor view(std::move(impl));
  view._set_conj(cpu.is_conj());
  view._set_neg(cpu.is_neg());
  return view;
}

// A fresh CPU result copied into a new aie tensor: with its strides (memory format) when
// it is non-overlapping and dense, in one memcpy; contiguous otherwise.
at::Tensor copy_to_aie(const at::Tensor& cpu, c10::Device device) {
  const auto options = cpu.options().device(device);
  if (cpu.is_non_overlapping_and_dense()) {
    at::Tensor out = at::empty_strided(cpu.sizes(), cpu.strides(), options);
    if (cpu.numel() > 0) {
      std::memcpy(out.data_ptr(), cpu.const_data_ptr(), cpu.numel() * cpu.element_size());
    }
    out._set_conj(cpu.is_conj());
    out._set_neg(cpu.is_neg());
    return out;
  }
  at::Tensor out = at::empty(cpu.sizes(), options);
  if (out.numel() > 0) {
    runtime::host_view(out).copy_(cpu);
  }
  return out;
}

// A fresh CPU result as an aie tensor: its memory adopted when the kernel allocated it
// in device memory, `cpu` is its sole owner (fallback_memory.h) and it is dense (so it
// keeps its strides, as a copy would), else copied.
// Counted, so that tests and users can see copies that remain.
std::atomic<int64_t> results_adopted{0}, results_copied{0}, bytes_copied{0};

at::Tensor fresh_to_aie(at::Tensor cpu, c10::Device device) {
  // A quantized CPU result (e.g. quantize_per_tensor of an aie tensor) has no aie form.
  if (cpu.is_quantized()) refuse_quantized_tensor("a quantized result of the CPU fallback");
  if (cpu.use_count() == 1 && cpu.has_storage() && cpu.is_non_overlapping_and_dense()) {
    if (std::optional<c10::Storage> adopted = adopt_device_memory(cpu.storage(), 1, device)) {
      results_adopted.fetch_add(1, std::memory_order_relaxed);
      return aie_view(*adopted, cpu);
    }
  }
  if (cpu.numel() > 0) {  // an empty result has nothing to copy
    results_copied.fetch_add(1, std::memory_order_relaxed);
    bytes_copied.fetch_add(cpu.numel() * cpu.element_size(), std::memory_order_relaxed);
  }
  return copy_to_aie(cpu, device);
}

bool returns_written_argument(const c10::FunctionSchema& schema) {
  for (const c10::Argument& r : schema.returns())
    if (is_write(r.alias_info())) return true;
  return false;
}

// Runs `cpu_op` (whose arguments are on the stack) on the CPU, counted as `counted_as`,
// on CPU aliases of its aie arguments; its results replace them on the stack.
void run_on_cpu(const c10::OperatorHandle& counted_as, const c10::OperatorHandle& cpu_op,
                torch::jit::Stack* stack) {
  const c10::FunctionSchema& schema = cpu_op.schema();
  const auto& arg_schemas = schema.arguments();
  const size_t num_args = arg_schemas.size();
  // Built only where needed (errors, profiler ranges): a string per call costs.
  auto name = [&] { return c10::toString(counted_as.operator_name()); };
  check_same_device(counted_as, *stack, num_args);
  count_fallback_op(counted_as);
  // A torch.profiler range per fallback call, named like the aie ops' ranges
  // (csrc/ops/profile_range.h), so traces and torch_aie.profile() show what stays
  // on the CPU. Free when no profiler runs (RecordFunction's own check).
  at::RecordFunction range(at::RecordScope::FUNCTION);
  if (range.isActive()) range.before(std::string_view("aie::cpu_fallback[" + name() + "]"));

  const size_t args_begin = stack->size() - num_args;
  // The caller's arguments, for results that alias a written argument (in-place and
  // out= ops only: copying every call's arguments cost a vector and its refcounts).
  std::vector<c10::IValue> originals;
  if (returns_written_argument(schema)) originals.assign(stack->begin() + args_begin, stack->end());
  Aliases aliases(/*resizable=*/true);
  c10::SmallVector<Written, 2> written;
  std::optional<c10::Device> target;  // where fresh results go
  std::optional<c10::Device> device_arg;

  auto swap_in = [&](const at::Tensor& t, bool write) -> at::Tensor {
    if (!is_aie(t)) {
      return t;
    }
    if (!target) {
      target = t.device();
    }
    if (t._is_zerotensor()) {
      return materialised_zeros(name(), t, write);
    }
    TORCH_CHECK(t.has_storage(), "the aie CPU fallback needs tensors with storage");
    at::Tensor alias = aliases.view(t);
    if (write) {
      written.push_back(Written{t, alias, alias.storage().unsafeGetStorageImpl()});
    }
    return alias;
  };

  for (size_t i = 0; i < num_args; ++i) {
    c10::IValue& arg = (*stack)[args_begin + i];
    const bool write = is_write(arg_schemas[i].alias_info());
    if (arg.isTensor()) {
      arg = swap_in(arg.toTensor(), write);
    } else if (arg.isTensorList()) {
      const c10::List<at::Tensor> list = arg.toTensorList();
      c10::List<at::Tensor> cpu;
      cpu.reserve(list.size());
      for (const at::Tensor& t : list) {
        cpu.push_back(swap_in(t, write));
      }
      arg = std::move(cpu);
    } else if (arg.isOptionalTensorList()) {
      const c10::List<std::optional<at::Tensor>> list = arg.toOptionalTensorList();
      c10::List<std::optional<at::Tensor>> cpu;
      cpu.reserve(list.size());
      for (const std::optional<at::Tensor>& t : list) {
        cpu.push_back(t ? std::optional<at::Tensor>(swap_in(*t, write)) : std::nullopt);
      }
      arg = std::move(cpu);
    } else if (arg.isDevice()) {
      // A factory's device= decides where its results go; its CPU kernel makes CPU ones.
      device_arg = arg.toDevice();
      if (device_arg->is_privateuseone()) {
        arg = c10::IValue(c10::Device(c10::DeviceType::CPU));
      }
    }
  }
  if (device_arg) {
    target = device_arg;
  }

  {
    const CpuAllocationsInDeviceMemory in_device_memory;  // fresh results need no copy
    cpu_op.redispatchBoxed(c10::DispatchKeySet(c10::DispatchKey::CPU), stack);
  }

  for (const Written& w : written) {
    write_back(w, aliases);
    runtime::note_write(w.original.storage());  // inference tensors' stand-in for _version
  }

  const auto& return_schemas = schema.returns();
  const size_t num_returns = return_schemas.size();
  const size_t returns_begin = stack->size() - num_returns;
  auto to_aie = [&](at::Tensor cpu, const c10::AliasInfo* info) -> at::Tensor {
    if (!cpu.defined() || !cpu.is_cpu()) {
      return cpu;
    }
    // Never let an alias (which does not own its memory) escape.
    if (cpu.has_storage()) {
      if (const Aliases::Entry* e = aliases.find(cpu.storage().unsafeGetStorageImpl())) {
        TORCH_CHECK(
            e->intact(),
            name(),
            " returned a view of an aie argument whose memory its CPU kernel replaced; "
            "it needs an aie kernel");
        return aie_view(e->device, cpu);
      }
    }
    if (!target || !target->is_privateuseone()) {
      return cpu;  // a factory asked for cpu results
    }
    if (cpu._is_zerotensor()) {
      return aie_zero_tensor(cpu.sizes(), cpu.scalar_type(), check_device_index(target->index()));
    }
    // A view op whose CPU result does not share its input's memory (it copied, or the
    // input was a cpu tensor) cannot alias the aie input: refuse rather than copy.
    TORCH_CHECK(
        info == nullptr,
        "The operator ",
        schema.operator_name(),
        " appears to be a view operator, but it has no implementation for the backend \"",
        *target,
        "\" and its CPU kernel's result does not share memory with its aie input, so it "
        "cannot run through the CPU fallback.");
    return fresh_to_aie(std::move(cpu), *target);
  };

  for (size_t r = 0; r < num_returns; ++r) {
    c10::IValue& ret = (*stack)[returns_begin + r];
    const c10::AliasInfo* info = return_schemas[r].alias_info();
    if (is_write(info)) {
      // In-place and out= ops return the argument they wrote: the caller's own tensor.
      bool found = false;
      for (size_t i = 0; i < num_args && !found; ++i) {
        const c10::AliasInfo* arg_info = arg_schemas[i].alias_info();
        if (arg_info != nullptr && *arg_info == *info &&
            (originals[i].isTensor() || originals[i].isTensorList())) {
          ret = originals[i];
          found = true;
        }
      }
      TORCH_CHECK(
          found,
          "The operator ",
          schema.operator_name(),
          " appears to have invalid alias information. Found a return tensor argument with "
          "a mismatched mutable alias: ",
          return_schemas[r]);
    } else if (ret.isTensor()) {
      ret = to_aie(std::move(ret).toTensor(), info);  // moved: sole owner unless shared
    } else if (ret.isTensorList()) {
      c10::List<at::Tensor> list = std::move(ret).toTensorList();
      c10::List<at::Tensor> out;
      out.reserve(list.size());
      for (size_t i = 0; i < list.size(); ++i) {
        out.push_back(to_aie(list.use_count() == 1 ? list.extract(i) : list.get(i), info));
      }
      ret = std::move(out);
    }
  }
}

void aie_cpu_fallback(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  run_on_cpu(op, op, stack);
}

c10::OperatorHandle find_op(const char* name, const char* overload = "") {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
}

// native_batch_norm updates running_mean and running_var in place, but its schema
// does not mark them as written. The aliases see the writes anyway, but the schema of
// its twin _native_batch_norm_legit (same arguments) says so, which keeps the fallback
// honest should it ever have to copy them back.
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
    run_on_cpu(op, with_stats, stack);
  } else if (!has_mean && !has_var) {
    stack->erase(args + kRunningMean, args + kRunningMean + 2);
    run_on_cpu(op, without_stats, stack);
  } else {
    run_on_cpu(op, op, stack);  // ATen rejects the mix itself
  }
}

TORCH_LIBRARY_IMPL(_, PrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&aie_cpu_fallback>());
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("native_batch_norm", torch::CppFunction::makeFromBoxedFunction<&native_batch_norm_twin>());
  m.impl("_efficientzerotensor", &efficientzerotensor);
  // These have a CPU kernel and a CompositeExplicitAutograd decomposition, which a
  // backend without its own kernel gets instead of the fallback: layer_norm became
  // batch_norm over a reshaped input plus mul and add (4.6x the CPU kernel's time).
  // One fallback call runs the CPU kernel itself.
  for (const char* op : {"native_layer_norm", "native_group_norm"}) {
    m.impl(op, torch::CppFunction::makeFromBoxedFunction<&aie_cpu_fallback>());
  }
}

// Structured ops (add, mul, sigmoid, mean, ...) have one kernel, the out= overload; a
// backend without its own kernels gets "default backend" wrappers for their functional
// and in-place overloads, which run the meta function, allocate the result on aie and
// call the out= overload, so each call took two dispatches and two TensorIterator
// set-ups (about 0.7 us of a 1 us overhead). Their CPU overloads do it in one; the
// fresh results are born in device memory (fallback_memory.h). Runs once, after the
// library is loaded, so the ops torch_aie has kernels for are known and kept.
int64_t route_structured_ops_to_cpu() {
  static int64_t routed = [] {
    static auto* lib = new torch::Library(torch::Library::IMPL, "aten", c10::DispatchKey::PrivateUse1,
                                          __FILE__, __LINE__);
    int64_t n = 0;
    for (const c10::OperatorName& name : c10::Dispatcher::singleton().getAllOpNames()) {
      if (name.name.rfind("aten::", 0) != 0) continue;
      const std::optional<c10::OperatorHandle> op = c10::Dispatcher::singleton().findOp(name);
      if (!op || !op->hasKernelForDispatchKey(c10::DispatchKey::CompositeExplicitAutogradNonFunctional) ||
          !op->hasKernelForDispatchKey(c10::DispatchKey::CPU) ||
          op->hasKernelForDispatchKey(c10::DispatchKey::PrivateUse1)) {
        continue;
      }
      lib->impl(c10::toString(name).substr(6).c_str(),
                torch::CppFunction::makeFromBoxedFunction<&aie_cpu_fallback>());
      ++n;
    }
    return n;
  }();
  return routed;
}


// ---- control ops (torch.ops._aie.*) -------------------------------------------

void reset_fallback_counts() {
  reset_fallback_table();
  results_adopted = results_copied = bytes_copied = 0;
}

std::vector<int64_t> fallback_result_counts() {
  return {results_adopted.load(), results_copied.load(), bytes_copied.load()};
}

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("reset_fallback_counts() -> ()", &reset_fallback_counts);
  m.def("route_structured_ops_to_cpu() -> int", &route_structured_ops_to_cpu);
  m.def("fallback_result_counts() -> int[]", &fallback_result_counts);
  // For op families whose aie kernels send some calls to the host (convolutions): they
  // are counted in fallback_stats() and obey the fallback mode like any other fallback.
  m.def("note_host_op(str op, str reason) -> ()", [](c10::string_view op, c10::string_view reason) {
    count_fallback(std::string(op), std::string(reason));
  });
}

}  // namespace

}  // namespace torch_aie
