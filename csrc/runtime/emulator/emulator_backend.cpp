// The host emulator as a ConvBackend: the default backend, always built. It owns
// every host-side choice (the host layout, staging, the ISA's kernel table); the
// ops layer sees only the ConvBackend interface.
#include <ATen/ops/empty.h>

#include <memory>
#include <sstream>

#include "csrc/runtime/conv_backend.h"
#include "csrc/runtime/emulator/emulator.h"

namespace torch_aie::runtime {

namespace {

static_assert(static_cast<int>(Activation::ReLU) == static_cast<int>(aie_kernels::Activation::Relu) &&
                  static_cast<int>(Activation::ReLU6) == static_cast<int>(aie_kernels::Activation::Relu6) &&
                  static_cast<int>(Activation::Hardswish) == static_cast<int>(aie_kernels::Activation::Hardswish) &&
                  static_cast<int>(Activation::SiLU) == static_cast<int>(aie_kernels::Activation::Silu),
              "runtime and kernel activation enums must list the activations in one order");

bool float_family(c10::ScalarType t) { return t == c10::ScalarType::Float || t == c10::ScalarType::BFloat16; }

class HostEmulatorBackend final : public ConvBackend {
 public:
  const char* name() const override { return "host_emulator"; }

  std::string why_not(const ConvJob& job) const override {
    if (!float_family(job.input_dtype) || job.weight_dtype != job.input_dtype ||
        job.output_dtype != job.input_dtype)
      return "the host emulator's kernels take float32 or bfloat16 tensors of one dtype";
    if (numerics_info(job.numerics).tensor_dtype != job.input_dtype)
      return std::string("numerics ") + numerics_name(job.numerics) + " does not serve " +
             dtype_name(job.input_dtype) + " tensors";
    return "";
  }

  std::string pack_key(const ConvJob& job) const override {
    std::ostringstream os;
    os << algorithm_name(job.algorithm) << '/' << numerics_name(job.numerics) << '/'
       << host_layout_name(layout(job)) << "/g" << job.shape.groups;
    return os.str();
  }

  std::shared_ptr<const PackedOperand> pack(const ConvJob& job, const at::Tensor& host_weight) const override {
    // fp32 holds bf16 values exactly, so one packer serves both tensor dtypes.
    const at::Tensor w = host_weight.to(at::kFloat).contiguous();
    return std::make_shared<const PackedWeights>(pack_weights(w.const_data_ptr<float>(), job.shape, job.algorithm,
                                                              job.numerics, layout(job), host_kernels()));
  }

  void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const override {
    const auto* w = dynamic_cast<const PackedWeights*>(&weights);
    TORCH_CHECK(w, "host_emulator: packed weights were made by another backend");
    const StagedInput staged = stage_input(io.input, job.shape, job.numerics, layout(job));
    at::Tensor bias;
    Epilogue epi;
    // runtime::Activation and aie_kernels::Activation list the same activations in one order.
    epi.act = static_cast<aie_kernels::Activation>(static_cast<int>(job.epilogue.activation));
    if (io.skip.defined()) {  // read at the output's offsets: the ops layer lays it out so
      TORCH_CHECK(io.skip.sizes().equals(io.output.sizes()) && io.skip.strides().equals(io.output.strides()) &&
                      (io.skip.scalar_type() == at::kFloat || io.skip.scalar_type() == at::kBFloat16),
                  "host_emulator: the residual must have the output's sizes and strides, float32 or bfloat16");
      epi.residual = io.skip.const_data_ptr();
      epi.residual_bf16 = io.skip.scalar_type() == at::kBFloat16;
    }
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
