// The native-bf16 kernel family (bf16_family.h): bf16-stored operands on the host's
// bf16 dot-product units, fp32 accumulation, bias + ReLU epilogue, output fp32 or
// rounded once to bf16. Serves the GEMM-family convs of float32 (bf16 / bf16x3
// passes) and bfloat16 tensors where the host has AVX512-BF16 or AMX-BF16; ranks
// above the float family, which keeps depthwise convs and hosts without bf16 units.
#include "csrc/runtime/emulator/bf16_family.h"

#include <memory>
#include <sstream>
#include <vector>

#include "csrc/runtime/emulator/kernel_family.h"
#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

using aie_kernels::kB16NR;
using aie_kernels::kB16RowBlock;

const aie_kernels::Bf16Gemm* native_bf16_gemm() {
  static const aie_kernels::Bf16Gemm* g = [] {
    const auto isa = aie_kernels::detect_host_isa();
    return static_cast<int>(isa) >= static_cast<int>(aie_kernels::Isa::Avx512Bf16) ? aie_kernels::bf16_gemm(isa)
                                                                                    : nullptr;
  }();
  return g;
}

const aie_kernels::Bf16Gemm& bf16_gemm_for(int min_exp_a, int min_exp_b) {
  const aie_kernels::Bf16Gemm* native = native_bf16_gemm();
  TORCH_CHECK(native, "bf16 GEMM: this host has no native bf16 dot products");
  return aie_kernels::bf16_products_normal(min_exp_a, min_exp_b) ? *native
                                                                  : *aie_kernels::bf16_gemm(aie_kernels::Isa::Avx512);
}

int64_t bf16_k_depth() {
  const aie_kernels::Bf16Gemm* native = native_bf16_gemm();
  return native ? native->k_depth : aie_kernels::kB16KChunk;
}

bool bf16_direct_applies(const ConvShape& s) {
  return s.Cg() % bf16_k_depth() == 0 && s.stride_h == 1 && s.stride_w == 1;
}

HostLayout choose_bf16_layout(const ConvShape& s, bool channels_last) {
  return channels_last || (bf16_direct_applies(s) && s.taps() > 1) ? HostLayout::PixelRows : HostLayout::ChannelRows;
}

Bf16PackedWeights pack_weights_bf16(const float* w, const ConvShape& s, Numerics numerics, HostLayout layout,
                                    const aie_kernels::KernelTable& kt) {
  Bf16PackedWeights pw;
  pw.numerics = numerics;
  pw.layout = layout;
  pw.groups = s.groups;
  pw.ocg = s.OCg();
  pw.k = s.K();
  pw.kp = aie_kernels::bf16_k_padded(pw.k, bf16_k_depth());
  const std::vector<float> ordered = to_tap_major(w, s);
  const bool rows = layout == HostLayout::ChannelRows;
  const int64_t padded_oc = aie_kernels::round_up(pw.ocg, rows ? kB16RowBlock : kB16NR);
  pw.group_stride = padded_oc * pw.kp;
  std::vector<const uint16_t*> row_ptr(pw.ocg);
  const int64_t zero = 0;
  std::vector<uint16_t> rounded(ordered.size());
  for (const Pass& p : passes_for(numerics)) {
    const int r = static_cast<int>(p.b);
    auto& dst = pw.variants[r];
    if (!dst.empty() || ordered.empty()) continue;
    kt.round_bits(ordered.data(), rounded.data(), static_cast<int64_t>(ordered.size()), p.b);
    pw.min_exp[r] = kt.min_exponent(rounded.data(), static_cast<int64_t>(rounded.size()));
    dst.reset(c10::ScalarType::BFloat16, pw.group_stride * s.groups);
    for (int64_t g = 0; g < s.groups; ++g) {
      const uint16_t* src = rounded.data() + g * pw.ocg * pw.k;
      uint16_t* out = reinterpret_cast<uint16_t*>(dst.data<c10::BFloat16>()) + g * pw.group_stride;
      if (!rows) {
        aie_kernels::pack_b_vnni(src, pw.ocg, pw.k, pw.kp, out);
        continue;
      }
      for (int64_t i = 0; i < pw.ocg; ++i) row_ptr[i] = src + i * pw.k;
      aie_kernels::pack_a_rows_bf16(row_ptr.data(), static_cast<int>(pw.ocg), static_cast<int>(padded_oc), &zero, 1,
                                    pw.k, pw.kp, out);
    }
  }
  return pw;
}

namespace {

bool float_dtype(c10::ScalarType t) { return t == c10::ScalarType::Float || t == c10::ScalarType::BFloat16; }

HostLayout layout_of(const ConvJob& job) { return choose_bf16_layout(job.shape, job.channels_last); }

const char* units() {
  return aie_kernels::detect_host_isa() == aie_kernels::Isa::AmxBf16 ? "amx_bf16 tiles" : "avx512_bf16 vdpbf16ps";
}

class Bf16Family final : public KernelFamily {
 public:
  const char* name() const override { return "native_bf16"; }
  int priority() const override { return 10; }

  std::string why_not(const ConvJob& job) const override {
    if (!native_bf16_gemm())
      return std::string("host lacks avx512_bf16 (") + aie_kernels::isa_name(aie_kernels::detect_host_isa()) + ")";
    if (job.algorithm == ConvAlgorithm::Depthwise) return "depthwise convs have no bf16 dot-product form";
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
    return std::make_shared<const Bf16PackedWeights>(
        pack_weights_bf16(w.const_data_ptr<float>(), job.shape, job.numerics, layout_of(job), host_kernels()));
  }

  void run(const ConvJob& job, const PackedOperand& weights, const ConvIO& io) const override {
    const auto* w = dynamic_cast<const Bf16PackedWeights*>(&weights);
    TORCH_CHECK(w, "host_emulator native_bf16 family: packed weights were made by another family or backend");
    if (job.shape.M() == 0 || job.shape.OC == 0) return;
    const HostLayout layout = layout_of(job);
    TORCH_CHECK(w->layout == layout, "host_emulator native_bf16 family: weights packed for ",
                host_layout_name(w->layout), " tiles, the conv runs as ", host_layout_name(layout), " tiles");
    std::vector<float> scale;  // [N][C] fp32 (bf16 values are exact in fp32)
    if (io.input_scale.defined()) {
      const at::Tensor sc = io.input_scale.to(at::kFloat).expand({job.shape.N, job.shape.C, 1, 1}).contiguous();
      scale.assign(sc.const_data_ptr<float>(), sc.const_data_ptr<float>() + sc.numel());
    }
    const Bf16StagedInput staged =
        stage_input_bf16(io.input, job.shape, job.numerics, layout, scale.empty() ? nullptr : scale.data());
    std::vector<float> bias;  // the fp32 bias the epilogue reads where it widens one, alive until the conv ends
    const Epilogue epi = epilogue_for(job, io, bias);
    const OutputView ov = output_view(io.output);
    if (layout == HostLayout::ChannelRows)
      emulate_bf16_channel_rows(job.shape, *w, staged, epi, ov);
    else
      emulate_bf16_pixel_rows(job.shape, *w, staged, epi, ov);
  }

  std::string describe(const ConvJob& job) const override {
    return std::string("emulated as ") + host_layout_name(layout_of(job)) + " tiles, bf16 dot products (" + units() +
           ")";
  }

  // Pixel-row staging multiplies as it rounds (stage_input_bf16).
  bool fuses_input_scale(const ConvJob& job) const override { return layout_of(job) == HostLayout::PixelRows; }
};

const Bf16Family g_family;
const KernelFamilyRegistration g_registration(g_family);

}  // namespace

}  // namespace torch_aie::runtime
