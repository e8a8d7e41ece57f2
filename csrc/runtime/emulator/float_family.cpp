// The float kernel family: bf16-valued operands in fp32 storage, fp32
// accumulation, bias + ReLU epilogue, output fp32 or rounded once to bf16. Serves
// float32 tensors (bf16 / bf16x3 passes) and bfloat16 tensors, in either host
// layout (host_layout.h).
#include <algorithm>
#include <memory>
#include <sstream>

#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/emulator/kernel_family.h"
#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

namespace {

static_assert(static_cast<int>(Activation::ReLU) == static_cast<int>(aie_kernels::Activation::Relu) &&
                  static_cast<int>(Activation::ReLU6) == static_cast<int>(aie_kernels::Activation::Relu6) &&
                  static_cast<int>(Activation::Hardswish) == static_cast<int>(aie_kernels::Activation::Hardswish) &&
                  static_cast<int>(Activation::SiLU) == static_cast<int>(aie_kernels::Activation::Silu) &&
                  static_cast<int>(Activation::GELU) == static_cast<int>(aie_kernels::Activation::Gelu),
              "runtime and kernel activation enums must list the activations in one order");

bool float_dtype(c10::ScalarType t) { return t == c10::ScalarType::Float || t == c10::ScalarType::BFloat16; }

HostLayout layout_of(const ConvJob& job) { return choose_host_layout(job.shape, job.algorithm, job.channels_last); }

// A depthwise conv's input, staged whole as NHWC fp32, outgrows the last-level cache at
// large batches (MobileNetV2 b8's 96x112x112 layer: 38.5 MB, which then ran at a third
// of CPU bf16's speed): such convs stage and run a few images at a time. An output
// depends on its own image only, so the split never changes a result.
constexpr int64_t kStagedImagesBytes = int64_t(8) << 20;

int64_t images_per_staging(const ConvJob& job) {
  const ConvShape& s = job.shape;
  if (job.algorithm != ConvAlgorithm::Depthwise || s.N <= 1) return s.N;
  const int64_t image = static_cast<int64_t>(staged_roundings(job.numerics).size()) * s.Hp() * s.Wp() * s.C *
                        static_cast<int64_t>(sizeof(float));
  return std::clamp<int64_t>(kStagedImagesBytes / std::max<int64_t>(image, 1), 1, s.N);
}

ConvIO images(const ConvIO& io, int64_t n0, int64_t count) {
  ConvIO part = io;
  part.input = io.input.narrow(0, n0, count);
  part.output = io.output.narrow(0, n0, count);
  if (io.skip.defined()) part.skip = io.skip.narrow(0, n0, count);
  return part;
}

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
    // A bf16 input read in place stages nothing; an fp32 one is staged (as bits) first.
    const bool unstaged = in_place(job, io) && io.input.scalar_type() == at::kBFloat16;
    const int64_t per = unstaged ? job.shape.N : images_per_staging(job);
    if (per < job.shape.N) {
      for (int64_t n0 = 0; n0 < job.shape.N; n0 += per) {
        ConvJob part = job;
        part.shape.N = std::min(per, job.shape.N - n0);
        run_images(part, *w, images(io, n0, part.shape.N));
      }
      return;
    }
    run_images(job, *w, io);
  }


  std::string describe(const ConvJob& job) const override {
    return std::string("emulated as ") + host_layout_name(layout_of(job)) + " tiles, fp32 FMAs on bf16 values (" +
           aie_kernels::isa_name(aie_kernels::detect_host_isa()) + ")";
  }

 private:
  static bool in_place(const ConvJob& job, const ConvIO& io) {
    return job.algorithm == ConvAlgorithm::Depthwise && layout_of(job) == HostLayout::PixelRows &&
           depthwise_in_place(job.shape, io.input, job.numerics);
  }

  void run_images(const ConvJob& job, const PackedWeights& w, const ConvIO& io) const {
    std::vector<float> bias;  // the fp32 bias the epilogue reads where it widens one, alive until the conv ends
    const Epilogue epi = epilogue_for(job, io, bias);
    const OutputView ov = output_view(io.output);
    if (in_place(job, io)) return emulate_depthwise_in_place(job.shape, w, io.input, epi, ov);
    if (job.algorithm == ConvAlgorithm::Depthwise && layout_of(job) == HostLayout::PixelRows &&
        depthwise_streams(job.shape, io.input))
      return emulate_depthwise_streamed(job.shape, w, io.input, epi, ov);
    const StagedInput staged = stage_input(io.input, job.shape, job.numerics, layout_of(job));
    emulate_conv(job.shape, w, staged, epi, ov);
  }
};

const FloatFamily g_family;
const KernelFamilyRegistration g_registration(g_family);

}  // namespace

}  // namespace torch_aie::runtime
