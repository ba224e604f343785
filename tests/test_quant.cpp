// Block quantisation with power-of-two scales (dsa-spec.md section 3) and the
// Hadamard rotation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "core/dtype.h"
#include "core/hadamard.h"
#include "core/quant.h"
#include "core/rng.h"

namespace dsa {
namespace {

TEST(Ue8m0Scale, HandCheckedValues) {
  EXPECT_EQ(ue8m0_scale_for_amax(448.0f), 1.0f);      // log2(1) = 0 exactly
  EXPECT_EQ(ue8m0_scale_for_amax(449.0f), 2.0f);      // just above: next power
  EXPECT_EQ(ue8m0_scale_for_amax(224.0f), 0.5f);
  EXPECT_EQ(ue8m0_scale_for_amax(1.0f), 0x1p-8f);     // 1/448 = 2^-8.81 -> 2^-8
  EXPECT_EQ(ue8m0_scale_for_amax(0.0f), 0x1p-22f);    // floor 1e-4: 2^-22.09 -> 2^-22
  EXPECT_EQ(ue8m0_scale_for_amax(3.0f), 0x1p-7f);
}

TEST(Fp8Blocks, QuantisesAndDequantisesAHandCheckedBlock) {
  const std::vector<float> x = {1.0f, -0.5f, 0.25f, 3.0f};
  std::vector<std::uint8_t> codes(4);
  std::vector<float> scales(1), back(4);
  quantize_fp8_blocks(x, 4, codes, scales);
  EXPECT_EQ(scales[0], 0x1p-7f);  // amax 3 -> 3/448 = 2^-7.22 -> 2^-7
  EXPECT_EQ(codes[0], 0x70);      // 128 = 2^7
  EXPECT_EQ(codes[1], 0xE8);      // -64
  EXPECT_EQ(codes[2], 0x60);      // 32
  EXPECT_EQ(codes[3], 0x7C);      // 384 = 2^8 * 1.5
  dequantize_fp8_blocks(codes, scales, 4, back);
  EXPECT_EQ(back, x);  // all exactly representable
}

TEST(Fp8Blocks, OneScalePerBlockAndBoundedError) {
  Rng rng(7);
  std::vector<float> x(300);
  rng.fill_normal(x, 0, 3);
  x[5] = 900.0f;  // an outlier in the first block only
  std::vector<float> q = x;
  fake_quantize_fp8_blocks(q, 128);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t lo = i / 128 * 128, hi = std::min(x.size(), lo + 128);
    float amax = 0;
    for (std::size_t j = lo; j < hi; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float s = ue8m0_scale_for_amax(amax);
    // Values fit in [-448 s, 448 s]; the error is at most half a quantum of e4m3,
    // whose quantum is 2^-9 s in the subnormal range and 2^-3 of the value above it.
    EXPECT_LE(std::fabs(q[i]), 448.0f * s);
    const float bound = std::max(0x1p-10f * s, std::fabs(x[i]) * 0x1p-4f);
    EXPECT_LE(std::fabs(q[i] - x[i]), bound) << i;
  }
}

TEST(Hadamard, IsOrthonormalAndPreservesDots) {
  Rng rng(3);
  std::vector<float> a(128), b(128);
  rng.fill_normal(a);
  rng.fill_normal(b);
  double dot = 0, na = 0;
  for (int i = 0; i < 128; ++i) { dot += a[i] * b[i]; na += a[i] * a[i]; }
  std::vector<float> ra = a, rb = b;
  hadamard_rotate(ra, 128);
  hadamard_rotate(rb, 128);
  double rdot = 0, rna = 0;
  for (int i = 0; i < 128; ++i) { rdot += ra[i] * rb[i]; rna += ra[i] * ra[i]; }
  EXPECT_NEAR(rdot, dot, 1e-4 * std::sqrt(na) * 12);
  EXPECT_NEAR(rna, na, 1e-5 * na);
  // Applying it twice is the identity (H is symmetric and orthonormal).
  hadamard_rotate(ra, 128);
  for (int i = 0; i < 128; ++i) EXPECT_NEAR(ra[i], a[i], 1e-5);
  // A spike spreads evenly: e_0 -> all entries 1/sqrt(128).
  std::vector<float> e(128, 0.0f);
  e[0] = 1.0f;
  hadamard_rotate(e, 128);
  for (float v : e) EXPECT_FLOAT_EQ(v, 1.0f / std::sqrt(128.0f));
}

// Arrays of many vectors or blocks are split over the threads: every vector and block
// must come out as it does alone (sizes past several tasks, the last one partial).
TEST(Hadamard, ManyVectorsEachAsAlone) {
  Rng rng(5);
  std::vector<float> x(128 * 1000 + 128 * 37);
  rng.fill_normal(x);
  std::vector<float> all = x;
  hadamard_rotate(all, 128);
  std::vector<std::size_t> starts;
  for (std::size_t g = 0; g < x.size(); g += 128 * 97) starts.push_back(g);
  starts.push_back(x.size() - 128);  // in the last, partial task
  for (const std::size_t g : starts) {
    std::vector<float> one(x.begin() + static_cast<std::ptrdiff_t>(g), x.begin() + static_cast<std::ptrdiff_t>(g + 128));
    hadamard_rotate(one, 128);
    for (std::size_t i = 0; i < 128; ++i) ASSERT_EQ(all[g + i], one[i]) << g + i;
  }
}

TEST(Fp8Blocks, ManyBlocksEachAsAlone) {
  Rng rng(6);
  std::vector<float> x(128 * 2000 + 77);  // the last block partial
  rng.fill_normal(x, 0.0, 3.0);
  std::vector<std::uint8_t> codes(x.size());
  std::vector<float> scales((x.size() + 127) / 128), back(x.size());
  quantize_fp8_blocks(x, 128, codes, scales);
  dequantize_fp8_blocks(codes, scales, 128, back);
  for (std::size_t b = 0; b < scales.size(); ++b) {
    const std::size_t lo = b * 128, n = std::min<std::size_t>(128, x.size() - lo);
    std::vector<std::uint8_t> c(n);
    float s = 0;
    quantize_fp8_blocks(std::span<const float>(x).subspan(lo, n), 128, c, std::span<float>(&s, 1));
    ASSERT_EQ(scales[b], s) << b;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(codes[lo + i], c[i]) << lo + i;
      ASSERT_EQ(back[lo + i], e4m3_bits_to_float(c[i]) * s) << lo + i;
    }
  }
}

TEST(Hadamard, RejectsBadSizes) {
  std::vector<float> x(96);
  EXPECT_THROW(hadamard_rotate(x, 96), std::invalid_argument);
  EXPECT_THROW(hadamard_rotate(x, 64), std::invalid_argument);
}

}  // namespace
}  // namespace dsa
