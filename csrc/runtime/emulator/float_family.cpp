// The float kernel family: bf16-valued operands in fp32 storage, fp32
// accumulation, bias + ReLU epilogue, output fp32 or rounded once to bf16. Serves
// float32 tensors (bf16 / bf16x3 passes) and bfloat16 tensors, in either host
// layout (host_layout.h).
#include <memory>
#include <sstream>

#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/emulator/kernel_family.h"

namespace torch_aie::runtime {

namespace {

bool float_dtype(c10::ScalarType t) { return t == c10::ScalarType::Float || t == c10::ScalarType::BFloat16; }

HostLayout layout_of(const ConvJob& job) { return choose_host_layout(job.shape, job.algorithm, job.channels_last); }

class FloatFamily final : public KernelFamily {
 public:
  const char* name() const override { return "float"; }
  int priority() const override { return 0; }

  std::string why_not(const ConvJob& job) const override {
    if (!float_dtype(job.input_dtype) || job.weight_dtype != job.input_dtype || job.output_dtype != job.input_dtype)
      return "takes float32 or bfloat16 input, weight and output of one dtype";
    if (numerics_info(job.numerics).tensor_dtype != job.input_dtype)
      return std::string("numerics ") + numerics_name(job.numerics) + " does not serve " +
             dtype_name(job.input_dtype) + " tensors";
    if (job.epilogue.activation != Activation::None && job.epilogue.activation != Activation::ReLU)
      return std::string("no fused ") + activation_name(job.epilogue.activation);
    return "";
  }

  std::string pack_key(const ConvJob& job) const override {
    std::ostringstream os;
    os << algorithm_name(job.algorithm) << '/' << numerics_name(job.numerics) << '/'
       << host_layout_name(layout_of(job)) << "/g" << job.shape.groups;
    return os.str();
  }

  std::shared_ptr<const PackedOperand> pack(const ConvJob& job, const at::Tensor& host_weight) const override {
    // fp32 holds bf16 values exactly, so one packer serves both tensor dtypes.
    const at::Tensor w = host_weight.to(at::kFloat).contiguous();
    return std::make_shared<const PackedWeights>(
        pack_weights(w.const_data_ptr<float>(), job.shape, job.algorithm, job.numerics, layout_of(job), host_kernels()));
  }

  void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const override {
    const auto* w = dynamic_cast<const PackedWeights*>(&weights);
    TORCH_CHECK(w, "host_emulator float family: packed weights were made by another family or backend");
    TORCH_CHECK(!io.skip.defined(), "host_emulator float family: fused residual inputs are not implemented");
    const StagedInput staged = stage_input(io.input, job.shape, job.numerics, layout_of(job));
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
    return std::string("emulated as ") + host_layout_name(layout_of(job)) + " tiles, fp32 FMAs on bf16 values (" +
           aie_kernels::isa_name(aie_kernels::detect_host_isa()) + ")";
  }
};

const FloatFamily g_family;
const KernelFamilyRegistration g_registration(g_family);

}  // namespace

}  // namespace torch_aie::runtime
