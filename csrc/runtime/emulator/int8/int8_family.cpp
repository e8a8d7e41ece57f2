// The int8 kernel family: int8/uint8 activations, int8 weights, int32 accumulation
// and the requantising (SRS) epilogue of job.epilogue.requant, output int8/uint8.
// Serves Numerics::Int8 jobs; the convolution itself is int8_conv.cpp, the kernels
// aie_kernels/int8/ (docs/ARCHITECTURE.md, "Adding a kernel family").
#include <memory>
#include <sstream>

#include "csrc/runtime/emulator/int8/int8_conv.h"
#include "csrc/runtime/emulator/kernel_family.h"

namespace torch_aie::runtime {

namespace {

namespace q = aie_kernels::qs8;

bool int8_dtype(c10::ScalarType t) { return t == c10::ScalarType::Char || t == c10::ScalarType::Byte; }

class Int8Family final : public KernelFamily {
 public:
  const char* name() const override { return "int8"; }
  // Disjoint from the float family (dtypes differ), so the order only matters for messages.
  int priority() const override { return 10; }

  std::string why_not(const ConvJob& job) const override {
    if (job.numerics != Numerics::Int8) return std::string("serves int8 numerics, not ") + numerics_name(job.numerics);
    if (!int8_dtype(job.input_dtype) || job.weight_dtype != c10::ScalarType::Char || !int8_dtype(job.output_dtype))
      return "int8 jobs take int8/uint8 activations, int8 weights and an int8/uint8 output";
    if (!job.epilogue.requant) return "int8 jobs need a requantisation (multiplier, shift)";
    if (job.epilogue.activation != Activation::None)
      return std::string("int8 jobs clamp in the requantisation; no fused ") + activation_name(job.epilogue.activation);
    const auto& rq = *job.epilogue.requant;
    if (int64_t(rq.multiplier.size()) != job.shape.OC || int64_t(rq.shift.size()) != job.shape.OC)
      return "int8 jobs need one multiplier and shift per output channel";
    return "";
  }

  std::string pack_key(const ConvJob& job) const override {
    std::ostringstream os;
    os << algorithm_name(job.algorithm) << "/g" << job.shape.groups << "/run" << reduction_run(job.shape, job.algorithm);
    return os.str();
  }

  std::shared_ptr<const PackedOperand> pack(const ConvJob& job, const at::Tensor& host_weight) const override {
    const at::Tensor w = host_weight.contiguous();
    return std::make_shared<const QPackedWeights>(pack_qweights(w.const_data_ptr<int8_t>(), job.shape, job.algorithm));
  }

  void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const override {
    const auto* w = dynamic_cast<const QPackedWeights*>(&weights);
    TORCH_CHECK(w, "host_emulator int8 family: packed weights were made by another family or backend");
    at::Tensor bias;  // keeps a contiguous copy of the bias alive for the run
    emulate_qconv(job.shape, *w, io.input, requant_args(job, io, bias), output_view(io.output), qs8_kernels());
  }

  std::string describe(const ConvJob& job) const override {
    (void)job;
    return std::string("emulated with the int8 kernels (") + q::qisa_name(qs8_kernels().isa) + ")";
  }

 private:
  // Pointers into job, io and `bias`, which outlive the run.
  static QRequantArgs requant_args(const ConvJob& job, const ConvIO& io, at::Tensor& bias) {
    const RequantDesc& d = *job.epilogue.requant;
    QRequantArgs rq;
    if (job.epilogue.bias) {
      bias = io.bias.contiguous();
      rq.bias = bias.const_data_ptr<int32_t>();
    }
    rq.multiplier = d.multiplier.data();
    rq.shift = d.shift.data();
    rq.rounding = static_cast<q::QRound>(static_cast<int>(d.rounding));
    rq.zero_point = d.out_zero_point;
    rq.out_min = d.out_min;
    rq.out_max = d.out_max;
    rq.out_u8 = job.output_dtype == c10::ScalarType::Byte;
    if (io.skip.defined()) {
      TORCH_CHECK(io.skip.strides() == io.output.strides(),
                  "host_emulator int8 family: the skip input must have the output's strides");
      rq.skip = static_cast<const uint8_t*>(io.skip.const_data_ptr());
      rq.skip_u8 = io.skip.scalar_type() == c10::ScalarType::Byte;
      rq.skip_multiplier = d.skip_multiplier;
      rq.skip_shift = d.skip_shift;
    }
    return rq;
  }

  static QOutputView output_view(const at::Tensor& o) {
    return QOutputView{static_cast<uint8_t*>(o.data_ptr()), o.stride(0), o.stride(1), o.stride(2), o.stride(3)};
  }
};

const Int8Family g_family;
const KernelFamilyRegistration g_registration(g_family);

}  // namespace

}  // namespace torch_aie::runtime
