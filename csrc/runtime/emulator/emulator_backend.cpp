// The host emulator as a ConvBackend: the default backend, always built. It owns
// every host-side choice (the host layout, staging, the ISA's kernel table); the
// ops layer sees only the ConvBackend interface.
#include <ATen/ops/empty.h>

#include <memory>
#include <sstream>

#include "csrc/runtime/conv_backend.h"
#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/emulator/int8_conv.h"

namespace torch_aie::runtime {

namespace {

bool float_family(c10::ScalarType t) { return t == c10::ScalarType::Float || t == c10::ScalarType::BFloat16; }

class HostEmulatorBackend final : public ConvBackend {
 public:
  const char* name() const override { return "host_emulator"; }

  std::string why_not(const ConvJob& job) const override {
    if (job.numerics == Numerics::Int8) return int8_why_not(job);  // the int8 family: int8_conv.cpp
    if (!float_family(job.input_dtype) || job.weight_dtype != job.input_dtype ||
        job.output_dtype != job.input_dtype)
      return "the host emulator's kernels take float32 or bfloat16 tensors of one dtype";
    if (numerics_info(job.numerics).tensor_dtype != job.input_dtype)
      return std::string("numerics ") + numerics_name(job.numerics) + " does not serve " +
             dtype_name(job.input_dtype) + " tensors";
    if (job.epilogue.activation != Activation::None && job.epilogue.activation != Activation::ReLU)
      return std::string("the host emulator has no fused ") + activation_name(job.epilogue.activation);
    return "";
  }

  std::string pack_key(const ConvJob& job) const override {
    if (job.numerics == Numerics::Int8) return int8_pack_key(job);
    std::ostringstream os;
    os << algorithm_name(job.algorithm) << '/' << numerics_name(job.numerics) << '/'
       << host_layout_name(layout(job)) << "/g" << job.shape.groups;
    return os.str();
  }

  std::shared_ptr<const PackedOperand> pack(const ConvJob& job, const at::Tensor& host_weight) const override {
    if (job.numerics == Numerics::Int8) return int8_pack(job, host_weight);
    // fp32 holds bf16 values exactly, so one packer serves both tensor dtypes.
    const at::Tensor w = host_weight.to(at::kFloat).contiguous();
    return std::make_shared<const PackedWeights>(pack_weights(w.const_data_ptr<float>(), job.shape, job.algorithm,
                                                              job.numerics, layout(job), host_kernels()));
  }

  void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const override {
    if (job.numerics == Numerics::Int8) return int8_run(job, weights, io);
    const auto* w = dynamic_cast<const PackedWeights*>(&weights);
    TORCH_CHECK(w, "host_emulator: packed weights were made by another backend");
    TORCH_CHECK(!io.skip.defined(), "host_emulator: fused residual inputs are not implemented");
    const StagedInput staged = stage_input(io.input, job.shape, job.numerics, layout(job));
    at::Tensor bias;
    Epilogue epi;
    epi.relu = job.epilogue.activation == Activation::ReLU;
    if (job.epilogue.bias) {
      bias = io.bias.to(at::kFloat).contiguous();
      epi.bias = bias.const_data_ptr<float>();
    }
    OutputView ov;
    ov.data = io.output.data_ptr();
    ov.dtype = io.output.scalar_type();
    ov.sN = io.output.stride(0);
    ov.sC = io.output.stride(1);
    ov.sH = io.output.stride(2);
    ov.sW = io.output.stride(3);
    emulate_conv(job.shape, *w, staged, epi, ov);
  }

  std::string describe(const ConvJob& job) const override {
    if (job.numerics == Numerics::Int8) return int8_describe(job);
    return std::string("emulated as ") + host_layout_name(layout(job)) + " tiles";
  }

 private:
  static HostLayout layout(const ConvJob& job) {
    return choose_host_layout(job.shape, job.algorithm, job.channels_last);
  }
};

const HostEmulatorBackend g_backend;
const ConvBackendRegistration g_registration(g_backend);

}  // namespace

}  // namespace torch_aie::runtime
