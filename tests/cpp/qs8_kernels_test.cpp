// The int8 (qs8) kernels: every variant this host runs must equal the scalar reference
// bit for bit (GEMM sums, depthwise sums, SRS epilogue), on random and extreme inputs
// and long reductions; the scalar reference itself is checked against int64 arithmetic
// written here. Variants the host cannot run are printed ("not executed on this host").
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <vector>

#include "aie_kernels/int8/qs8.h"
#include "aie_kernels/tile_shapes.h"

using namespace aie_kernels;
using namespace aie_kernels::qs8;

namespace {

std::vector<QIsa> runnable() {
  std::vector<QIsa> out;
  for (int i = 0; i < kNumQIsa; ++i) {
    const char* why = nullptr;
    if (qs8_can_run(static_cast<QIsa>(i), &why))
      out.push_back(static_cast<QIsa>(i));
    else
      std::printf("qs8 variant not executed on this host: %s (%s)\n", qisa_name(static_cast<QIsa>(i)), why);
  }
  return out;
}

enum class Fill { Random, Max, Min, Mixed };

uint8_t act(std::mt19937& g, Fill f) {
  switch (f) {
    case Fill::Random: return uint8_t(g());
    case Fill::Max: return 0xFF;
    case Fill::Min: return 0x00;
    case Fill::Mixed: return g() & 1 ? 0xFF : 0x00;
  }
  return 0;
}

int8_t wt(std::mt19937& g, Fill f) {
  switch (f) {
    case Fill::Random: return int8_t(g());
    case Fill::Max: return -128;
    case Fill::Min: return 127;
    case Fill::Mixed: return g() & 1 ? -128 : 127;
  }
  return 0;
}

struct GemmCase {
  int64_t kc;
  int ntaps;
  int64_t rows, nblocks;
};

}  // namespace

TEST(Qs8Gemm, ScalarEqualsInt64AndVariantsEqualScalar) {
  const auto isas = runnable();
  const GemmCase cases[] = {{4, 1, 1, 1},   {8, 9, 5, 1},   {60, 1, 16, 3}, {64, 9, 17, 2}, {252, 1, 32, 1},
                            {12, 7, 31, 2}, {1024, 1, 32, 1}, {4096, 1, 9, 1}, {512, 9, 32, 1}};
  std::mt19937 g(42);
  for (const auto& cs : cases) {
    for (Fill f : {Fill::Random, Fill::Max, Fill::Min, Fill::Mixed}) {
      for (uint32_t ax : {0u, 0x80808080u}) {
        const int64_t kreal = cs.ntaps * cs.kc, kp = round_up(kreal, kQKP);
        const int64_t pix_stride = cs.kc + 8, span = cs.rows * pix_stride + cs.ntaps * 3 * pix_stride;
        std::vector<uint8_t> image(span + 64);
        for (auto& v : image) v = act(g, f);
        std::vector<int64_t> off(cs.ntaps);
        for (int t = 0; t < cs.ntaps; ++t) off[t] = t * 3 * pix_stride;
        std::vector<const uint8_t*> rows(cs.rows);
        for (int64_t i = 0; i < cs.rows; ++i) rows[i] = image.data() + i * pix_stride;
        std::vector<int8_t> b(cs.nblocks * kp * kQNR, 0);
        for (int64_t j = 0; j < cs.nblocks; ++j)  // real reduction rows only; the padding stays zero
          for (int64_t k = 0; k < kreal; ++k)
            for (int n = 0; n < kQNR; ++n) b[j * kp * kQNR + (k / kQK) * kQNR * kQK + n * kQK + k % kQK] = wt(g, f);
        const int64_t ldc = cs.nblocks * kQNR;
        std::vector<uint8_t> scratch(kQMB * kp);
        auto run = [&](QIsa isa) {
          std::vector<int32_t> c(cs.rows * ldc, 12345);
          qs8_table(isa).gemm(QGemmArgs{rows.data(), cs.rows, off.data(), cs.ntaps, cs.kc, kp, b.data(),
                                        cs.nblocks, kp * kQNR, c.data(), ldc, scratch.data(), ax});
          return c;
        };
        const auto ref = run(QIsa::Scalar);
        // The scalar kernel against plain int64 sums (no wrap: every sum here fits int32).
        for (int64_t m = 0; m < cs.rows; m += 7)
          for (int64_t n = 0; n < ldc; n += 5) {
            int64_t s = 0;
            for (int t = 0; t < cs.ntaps; ++t)
              for (int64_t p = 0; p < cs.kc; ++p) {
                const int64_t k = t * cs.kc + p;
                const int64_t x = rows[m][off[t] + p] ^ (ax & 0xFF);
                s += x * b[(n / kQNR) * kp * kQNR + (k / kQK) * kQNR * kQK + (n % kQNR) * kQK + k % kQK];
              }
            ASSERT_EQ(ref[m * ldc + n], s) << "scalar kc=" << cs.kc << " taps=" << cs.ntaps << " m=" << m << " n=" << n;
          }
        for (QIsa isa : isas) {
          const auto c = run(isa);
          ASSERT_EQ(c, ref) << qisa_name(isa) << " kc=" << cs.kc << " taps=" << cs.ntaps << " rows=" << cs.rows
                            << " fill=" << int(f) << " xor=" << ax;
        }
      }
    }
  }
}

TEST(Qs8Depthwise, VariantsEqualScalar) {
  const auto isas = runnable();
  std::mt19937 g(7);
  for (int64_t channels : {1, 15, 16, 17, 40, 96, 200}) {
    for (int ntaps : {1, 4, 9, 25}) {
      for (Fill f : {Fill::Random, Fill::Max, Fill::Mixed}) {
        for (uint8_t ax : {uint8_t(0), uint8_t(0x80)}) {
          const int64_t cpad = round_up(channels, 32), npix = 13;
          std::vector<uint8_t> image((npix + ntaps) * cpad + 64);
          for (auto& v : image) v = act(g, f);
          std::vector<int8_t> w(channels * ntaps);
          for (auto& v : w) v = wt(g, f);
          std::vector<int16_t> packed(packed_dw_elems(ntaps, cpad));
          pack_dw_weights(w.data(), channels, ntaps, cpad, packed.data());
          std::vector<int64_t> off(ntaps);
          for (int t = 0; t < ntaps; ++t) off[t] = t * cpad;
          std::vector<const uint8_t*> pix(npix);
          for (int64_t j = 0; j < npix; ++j) pix[j] = image.data() + j * cpad;
          auto run = [&](QIsa isa) {
            std::vector<int32_t> out(npix * cpad, 0);
            qs8_table(isa).depthwise(QDepthwiseArgs{pix.data(), npix, off.data(), ntaps, channels, cpad,
                                                    packed.data(), out.data(), cpad, ax});
            for (int64_t j = 0; j < npix; ++j)  // only real channels are defined
              for (int64_t c = channels; c < cpad; ++c) out[j * cpad + c] = 0;
            return out;
          };
          const auto ref = run(QIsa::Scalar);
          for (int64_t j = 0; j < npix; ++j)
            for (int64_t c = 0; c < channels; ++c) {
              int64_t s = 0;
              for (int t = 0; t < ntaps; ++t) s += int64_t(pix[j][off[t] + c] ^ ax) * w[c * ntaps + t];
              ASSERT_EQ(ref[j * cpad + c], s) << "scalar depthwise c=" << c;
            }
          for (QIsa isa : isas) ASSERT_EQ(run(isa), ref) << qisa_name(isa) << " C=" << channels << " taps=" << ntaps;
        }
      }
    }
  }
}

namespace {

// SRS written independently: floor division with an explicit remainder.
int64_t srs_reference(int64_t v, int64_t s, QRound r) {
  if (s == 0) return v;
  const __int128 d = __int128(1) << s;
  __int128 q = v / d, rem = v % d;
  if (rem < 0) {  // floor
    q -= 1;
    rem += d;
  }
  const __int128 half = d / 2;
  switch (r) {
    case QRound::Floor: break;
    case QRound::PositiveInf: q += rem >= half; break;
    case QRound::SymmetricInf: q += v >= 0 ? rem >= half : rem > half; break;
    case QRound::ConvEven: q += rem > half || (rem == half && (q & 1)); break;
  }
  return static_cast<int64_t>(q);
}

}  // namespace

TEST(Qs8Srs, ScalarMatchesIndependentDefinition) {
  std::mt19937_64 g(3);
  for (int i = 0; i < 200000; ++i) {
    const int64_t s = g() % 63;
    int64_t v = int64_t(g() >> 2) * (g() & 1 ? 1 : -1);  // |v| < 2^62
    if (i % 4 == 0 && s > 0) v = (v >> s << s) + (int64_t(1) << (s - 1)) * (g() & 1 ? 1 : -1);  // exact ties
    if (v > (int64_t(1) << 62) || v < -(int64_t(1) << 62)) continue;  // the domain: |acc * mult| <= 2^62
    for (QRound r : {QRound::Floor, QRound::PositiveInf, QRound::SymmetricInf, QRound::ConvEven})
      ASSERT_EQ(srs(v, s, r), srs_reference(v, s, r)) << "v=" << v << " s=" << s << " mode=" << int(r);
  }
}

TEST(Qs8Requant, VariantsEqualScalar) {
  const auto isas = runnable();
  std::mt19937_64 g(11);
  for (int64_t n : {1, 3, 7, 8, 9, 16, 31, 37, 256}) {
    for (QRound r : {QRound::Floor, QRound::PositiveInf, QRound::SymmetricInf, QRound::ConvEven}) {
      for (int variant = 0; variant < 16; ++variant) {
        // bits: 0 skip, 1 uint8 skip, 2 uint8 output, 3 the dtype's full range as the clamp
        const bool has_skip = variant & 1, skip_u8 = variant & 2, out_u8 = variant & 4, full_range = variant & 8;
        std::vector<int32_t> acc(n), bias(n);
        std::vector<int64_t> mult(n), shift(n), half(n), halfm1(n), sbit(n);
        for (int64_t i = 0; i < n; ++i) {
          acc[i] = int32_t(g());
          bias[i] = i % 5 == 0 ? int32_t(g()) : int32_t(g() % 2001) - 1000;
          mult[i] = i % 7 == 0 ? INT32_MIN : int32_t(g());
          shift[i] = i % 11 == 0 ? 0 : g() % 63;
          half[i] = shift[i] ? int64_t(1) << (shift[i] - 1) : 0;
          halfm1[i] = shift[i] ? half[i] - 1 : 0;
          sbit[i] = shift[i] ? 1 : 0;
        }
        const int64_t lo = out_u8 ? 0 : -128, hi = out_u8 ? 255 : 127;
        const QEpilogue e{bias.data(), mult.data(), shift.data(), half.data(), halfm1.data(), sbit.data(), r,
                          out_u8 ? 128 : -3, full_range ? lo : lo + 1, full_range ? hi : hi - 2, out_u8, has_skip, skip_u8,
                          int64_t(int32_t(g())), int64_t(g() % 40)};
        for (int64_t stride : {1, 3}) {
          std::vector<uint8_t> skip(n * stride + 1);
          for (auto& v : skip) v = uint8_t(g());
          auto run = [&](QIsa isa) {
            std::vector<uint8_t> out(n * stride + 1, 0xA5);
            qs8_table(isa).requant_row(acc.data(), n, 0, e, QStoreRow{out.data(), skip.data(), stride});
            return out;
          };
          const auto ref = run(QIsa::Scalar);
          for (int64_t j = 0; j < n; ++j) {  // the scalar epilogue against the contract, in int64
            const int32_t a = int32_t(uint32_t(acc[j]) + uint32_t(bias[j]));
            int64_t y = srs_reference(int64_t(a) * mult[j], shift[j], r);
            if (has_skip) {
              const int64_t sv = skip_u8 ? int64_t(skip[j * stride]) : int64_t(int8_t(skip[j * stride]));
              y += srs_reference(sv * e.skip_mult, e.skip_shift, r);
            }
            y = std::min(std::max(y + e.zp, e.lo), e.hi);
            ASSERT_EQ(ref[j * stride], uint8_t(y)) << "scalar requant j=" << j;
          }
          for (QIsa isa : isas) {
            ASSERT_EQ(run(isa), ref) << qisa_name(isa) << " n=" << n << " mode=" << int(r) << " variant=" << variant
                                     << " stride=" << stride;
            // The tile form: two rows over the same accumulators (ldc 0) into two outputs.
            std::vector<uint8_t> o1(n * stride + 1, 0xA5), o2(n * stride + 1, 0xA5);
            const QStoreRow rows[2] = {{o1.data(), skip.data(), stride}, {o2.data(), skip.data(), stride}};
            qs8_table(isa).requant_rows(acc.data(), 0, 2, n, 0, e, rows);
            ASSERT_EQ(o1, ref) << qisa_name(isa) << " requant_rows";
            ASSERT_EQ(o2, ref) << qisa_name(isa) << " requant_rows";
          }
        }
      }
    }
  }
}

TEST(Qs8Transpose, MatchesElementwise) {
  std::mt19937 g(13);
  for (int64_t rows : {1, 15, 16, 17, 33, 64}) {
    for (int64_t cols : {1, 16, 31, 56, 57}) {
      const int64_t ss = cols + 5, ds = rows + 3;
      std::vector<uint8_t> src(rows * ss), dst(cols * ds, 0xEE), ref(cols * ds, 0xEE);
      for (auto& v : src) v = uint8_t(g());
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) ref[c * ds + r] = src[r * ss + c];
      transpose_bytes(src.data(), ss, rows, cols, dst.data(), ds);
      ASSERT_EQ(dst, ref) << rows << "x" << cols;
    }
  }
}

TEST(Qs8Table, RefusesVariantsTheHostCannotRun) {
  // A table is built from code compiled for its ISA: one the host lacks is refused by name.
  for (int i = 0; i < kNumQIsa; ++i) {
    const QIsa isa = static_cast<QIsa>(i);
    if (qs8_can_run(isa, nullptr)) {
      EXPECT_NE(qs8_table(isa).gemm, nullptr) << qisa_name(isa);
    } else {
      EXPECT_THROW(qs8_table(isa), std::invalid_argument) << qisa_name(isa);
    }
  }
}
