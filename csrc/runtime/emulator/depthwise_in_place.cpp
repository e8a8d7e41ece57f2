// Pixel-row depthwise convs on bfloat16 channels-last tensors, read in place: no
// staged copy of the input. A task is a run of output rows, each done in chunks of
// kChunk pixels. A channels-last tensor's taps are at fixed element offsets from a
// window's first pixel, as in a staged image, so the window kernel reads the tensor
// itself; where a chunk's windows reach into the padding, a WindowClip has it take
// zeros there. Convs the window kernel has no form for (dilated rows, planar outputs,
// other window shapes) run the pointer-form kernel, whose border chunks copy their
// windows into a small zero-filled patch first. Either way every element sees the
// staged path's FMA chain on the same values (the padding's zeros included), so the
// bits are the staged path's. A dense channels-last fp32 input of one-pass bf16
// numerics is first rounded to bf16 bits, unpadded (half the bytes of the fp32
// staging), and then read the same way: the same values, so the same bits again.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

namespace {

constexpr int kChunk = aie_kernels::kChunkPixels;  // output pixels per kernel call

// A bfloat16 image [N][C][H][W] whose channels are contiguous (element strides).
struct Bf16Image {
  const uint16_t* x;
  int64_t sN, sH, sW;
};

// Where a conv's windows are: the input image's strides, and the patch a border
// chunk's windows are copied into.
struct Windows {
  const uint16_t* x;
  int64_t sN, sH, sW;
  std::vector<int64_t> taps;        // tap offsets from a window's first pixel, in the tensor
  std::vector<int64_t> rows;        // kernel row offsets from it (the window kernel's form)
  int64_t patch_w;                  // patch pixels per kernel row: a full chunk's windows
  std::vector<int64_t> patch_taps;  // the same offsets within the patch

  Windows(const ConvShape& s, const Bf16Image& in)
      : x(in.x), sN(in.sN), sH(in.sH), sW(in.sW), patch_w((kChunk - 1) * s.stride_w + (s.KW - 1) * s.dil_w + 1) {
    for (int64_t kh = 0; kh < s.KH; ++kh) rows.push_back(kh * s.dil_h * sH);
    for (int64_t kh = 0; kh < s.KH; ++kh)
      for (int64_t kw = 0; kw < s.KW; ++kw) {
        taps.push_back(kh * s.dil_h * sH + kw * s.dil_w * sW);
        patch_taps.push_back((kh * patch_w + kw * s.dil_w) * s.C);  // one patch row per kernel row
      }
  }
};

// Copies the windows of output pixels (n, oh, ow0 ..) into `patch` ([KH][patch_w][C],
// zeros where they reach into the padding). Only the padding is zeroed, and a row's
// pixels are one copy when the tensor's are contiguous (a dense channels-last tensor).
void fill_patch(const ConvShape& s, const Windows& win, int64_t n, int64_t oh, int64_t ow0, uint16_t* patch) {
  const int64_t row = win.patch_w * s.C, iw0 = ow0 * s.stride_w - s.pad_w;
  const int64_t p0 = std::clamp<int64_t>(-iw0, 0, win.patch_w), p1 = std::clamp<int64_t>(s.W - iw0, p0, win.patch_w);
  for (int64_t kh = 0; kh < s.KH; ++kh) {
    uint16_t* dst = patch + kh * row;
    const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dil_h;
    if (ih < 0 || ih >= s.H) {
      std::memset(dst, 0, row * sizeof(uint16_t));
      continue;
    }
    std::memset(dst, 0, p0 * s.C * sizeof(uint16_t));
    std::memset(dst + p1 * s.C, 0, (win.patch_w - p1) * s.C * sizeof(uint16_t));
    const uint16_t* src = win.x + n * win.sN + ih * win.sH + (iw0 + p0) * win.sW;  // the first pixel inside
    if (win.sW == s.C)
      std::memcpy(dst + p0 * s.C, src, (p1 - p0) * s.C * sizeof(uint16_t));
    else
      for (int64_t p = p0; p < p1; ++p) std::memcpy(dst + p * s.C, src + (p - p0) * win.sW, s.C * sizeof(uint16_t));
  }
}

// One conv's state for its tasks.
struct InPlaceConv {
  const ConvShape& s;
  const Windows win;
  const float* w;  // [tap][channel]
  const Epilogue& epi;
  const OutputView& out;
  int64_t first_in, last_in;  // output columns whose windows are inside the image horizontally

  InPlaceConv(const ConvShape& shape, const Bf16Image& x, const float* weights, const Epilogue& e,
              const OutputView& o)
      : s(shape), win(shape, x), w(weights), epi(e), out(o) {
    first_in = std::min(s.OW, aie_kernels::ceil_div(s.pad_w, s.stride_w));
    const int64_t reach = s.W - 1 + s.pad_w - (s.KW - 1) * s.dil_w;  // pad_w + the last window start inside
    last_in = reach < 0 ? first_in : std::clamp(reach / s.stride_w + 1, first_in, s.OW);
  }

  // The part of chunk (oh, ow0)'s windows inside the image (undilated rows: the window
  // kernel's form).
  aie_kernels::WindowClip clip(int64_t oh, int64_t ow0) const {
    const int64_t span = (kChunk - 1) * s.stride_w + s.KW, iw0 = ow0 * s.stride_w - s.pad_w;
    const int64_t ih0 = oh * s.stride_h - s.pad_h;
    int64_t row_first = 0, row_last = s.KH;
    while (row_first < s.KH && ih0 + row_first * s.dil_h < 0) ++row_first;
    while (row_last > row_first && ih0 + (row_last - 1) * s.dil_h >= s.H) --row_last;
    const int64_t first = std::clamp<int64_t>(-iw0, 0, span), last = std::clamp<int64_t>(s.W - iw0, first, span);
    return {static_cast<int>(first), static_cast<int>(last), static_cast<int>(row_first), static_cast<int>(row_last)};
  }

  // Output row r (image r / OH, row r % OH), kChunk pixels per kernel call.
  void output_row(int64_t r) const {
    const auto& kt = host_kernels();
    const int64_t n = r / s.OH, oh = r % s.OH, ih0 = oh * s.stride_h - s.pad_h;
    const bool rows_in = ih0 >= 0 && ih0 + (s.KH - 1) * s.dil_h < s.H;
    float* c = thread_buffer<float>(kTileC, kChunk * s.C);
    uint16_t* patch = thread_buffer<uint16_t>(kRowTmp, s.KH * win.patch_w * s.C);
    for (int64_t ow0 = 0; ow0 < s.OW; ow0 += kChunk) {
      const int np = static_cast<int>(std::min<int64_t>(kChunk, s.OW - ow0));
      // Whether all the windows the kernel reads lie inside the image (it reads a whole
      // chunk's, also for a short last chunk), and where the chunk's first one starts:
      // outside the tensor for a border chunk, whose outside pixels are clipped.
      const bool inside = rows_in && np == kChunk && ow0 >= first_in && ow0 + np <= last_in;
      const uint16_t* origin = win.x + n * win.sN + ih0 * win.sH + (ow0 * s.stride_w - s.pad_w) * win.sW;
      char* dst = static_cast<char*>(out.data) + (n * out.sN + oh * out.sH + ow0 * out.sW) * out.esize();
      const aie_kernels::DepthwiseOut o{dst, out.sW, s.C, epi.bias, epi.act, epi.residual_for(out, dst), out.bf16()};
      // Undilated windows into a channels-last output: the fused window kernel.
      const aie_kernels::WindowClip cl = inside ? aie_kernels::WindowClip{} : clip(oh, ow0);
      if (s.dil_w == 1 && out.sC == 1 &&
          kt.depthwise_bf16_rows(origin, win.rows.data(), static_cast<int>(s.KH), static_cast<int>(s.KW),
                                 static_cast<int>(s.stride_w), win.sW, w, o, np, inside ? nullptr : &cl))
        continue;
      if (!inside) fill_patch(s, win, n, oh, ow0, patch);
      const uint16_t* base = inside ? origin : patch;
      const int64_t pix_stride = inside ? win.sW : s.C;
      const uint16_t* pix[kChunk];
      for (int j = 0; j < np; ++j) pix[j] = base + j * s.stride_w * pix_stride;
      kt.depthwise_bf16(pix, np, inside ? win.taps.data() : win.patch_taps.data(), static_cast<int>(s.taps()), s.C,
                        w, c, s.C);
      kt.epilogue(c, s.C, np, s.C, epi.bias, epi.act, o.res, dst, out.bf16(), out.sW, out.sC);
    }
  }
};

// Runs the conv on `x` (windows read in place) with the packed weights' one pass.
void run_in_place(const ConvShape& s, const PackedWeights& w, const Bf16Image& x, const Epilogue& epi,
                  const OutputView& out) {
  const auto passes = passes_for(w.numerics);
  TORCH_CHECK(passes.size() == 1, "emulate_depthwise_in_place: one pass expected");
  if (s.M() == 0 || s.C == 0) return;
  const InPlaceConv conv(s, x, w.for_group(passes[0].b, 0), epi, out);
  // A task is a run of consecutive output rows, so that the input rows neighbouring
  // outputs share stay in its thread's caches (rows dealt one at a time went to both
  // threads in turn, and each read every input row from memory).
  const int64_t rows = s.N * s.OH;
  const int64_t per_task = std::max<int64_t>(1, rows / (8 * at::get_num_threads()));
  run_tasks(aie_kernels::ceil_div(rows, per_task), [&](int64_t t) {
    for (int64_t r = t * per_task; r < std::min(rows, (t + 1) * per_task); ++r) conv.output_row(r);
  });
}

// Elements per rounding task of the staging pass.
constexpr int64_t kRoundGrain = int64_t(1) << 16;

}  // namespace

bool depthwise_in_place(const ConvShape& s, const at::Tensor& x, Numerics numerics) {
  // Every row width: on narrow rows most chunks are border chunks, and even when they
  // copied patches (before WindowClip) that beat staging the image in fp32 (2026-12-07,
  // Zen 4, 2 threads, MobileNetV2 b8's (576,14,14) 3x3: 0.34 ms staged, 0.23-0.36 ms in
  // place; (192,28,28): 0.44-0.61 against 0.26 ms).
  if (x.dim() != 4 || x.stride(1) != 1) return false;
  if (numerics == Numerics::Bf16Tensor) return x.scalar_type() == at::kBFloat16;
  // fp32, one bf16 pass: staged as bits first. (672,14,14) 5x5, 2 threads: 0.161 ms
  // through the fp32 staging and the pointer-form kernel (2026-12-07, Zen 4).
  return numerics == Numerics::Bf16 && x.scalar_type() == at::kFloat &&
         x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

void emulate_depthwise_in_place(const ConvShape& s, const PackedWeights& w, const at::Tensor& x,
                                const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(depthwise_in_place(s, x, w.numerics),
              "emulate_depthwise_in_place: needs a bf16 channels-last input, or a dense channels-last fp32 one of "
              "bf16 numerics");
  if (x.scalar_type() == at::kBFloat16) {
    const auto* bits = reinterpret_cast<const uint16_t*>(x.const_data_ptr());
    return run_in_place(s, w, Bf16Image{bits, x.stride(0), x.stride(2), x.stride(3)}, epi, out);
  }
  // Dense channels-last: the elements in memory order are the pixels' channels.
  const int64_t n = x.numel();
  uint16_t* bits = thread_buffer<uint16_t>(kStaged0, std::max<int64_t>(n, 1));
  const float* src = x.const_data_ptr<float>();
  const auto& kt = host_kernels();
  const aie_kernels::Rounding mode = passes_for(w.numerics)[0].a;
  at::parallel_for(0, n, kRoundGrain, [&](int64_t b, int64_t e) { kt.round_bits(src + b, bits + b, e - b, mode); });
  run_in_place(s, w, Bf16Image{bits, s.H * s.W * s.C, s.W * s.C, s.C}, epi, out);
}

}  // namespace torch_aie::runtime
