// Number formats against hand-checked values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/dtype.h"

namespace dsa {
namespace {

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16_bits(1.0f), 0x3F80);
  // 1 + 2^-8 sits exactly between 0x3F80 and 0x3F81: ties go to the even one.
  EXPECT_EQ(float_to_bf16_bits(1.0f + 0x1p-8f), 0x3F80);
  // 1 + 3 * 2^-8 sits between 0x3F81 and 0x3F82: the even one is 0x3F82.
  EXPECT_EQ(float_to_bf16_bits(1.0f + 3 * 0x1p-8f), 0x3F82);
  // Just above the tie rounds up.
  EXPECT_EQ(float_to_bf16_bits(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  EXPECT_EQ(float_to_bf16_bits(-2.5f), 0xC020);
  EXPECT_FLOAT_EQ(bf16_bits_to_float(0x4049), 3.140625f);
}

TEST(Bf16, SpecialValues) {
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(float_to_bf16_bits(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_TRUE(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  // A NaN whose payload sits only in the dropped bits must stay NaN, not become inf.
  EXPECT_TRUE(std::isnan(bf16_bits_to_float(float_to_bf16_bits(std::bit_cast<float>(0x7F800001u)))));
  // The largest float rounds up to inf under round-to-nearest.
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(float_to_bf16_bits(-0.0f), 0x8000);
}

TEST(Fp8E4m3, HandCheckedValues) {
  EXPECT_EQ(float_to_e4m3_bits(1.0f), 0x38);
  EXPECT_EQ(float_to_e4m3_bits(-2.0f), 0xC0);
  EXPECT_EQ(float_to_e4m3_bits(448.0f), 0x7E);
  EXPECT_EQ(float_to_e4m3_bits(240.0f), 0x77);
  EXPECT_EQ(float_to_e4m3_bits(0x1p-6f), 0x08);  // smallest normal
  EXPECT_EQ(float_to_e4m3_bits(0x1p-9f), 0x01);  // smallest subnormal
  EXPECT_EQ(float_to_e4m3_bits(0.0f), 0x00);
  EXPECT_EQ(float_to_e4m3_bits(-0.0f), 0x80);
  EXPECT_FLOAT_EQ(e4m3_bits_to_float(0x01), 0.001953125f);
  EXPECT_FLOAT_EQ(e4m3_bits_to_float(0x7E), 448.0f);
  EXPECT_FLOAT_EQ(e4m3_bits_to_float(0xD3), -11.0f);  // -(2^3 * 1.375)
}

TEST(Fp8E4m3, TiesGoToEven) {
  EXPECT_EQ(float_to_e4m3_bits(1.0625f), 0x38);   // between 1.0 (m=0) and 1.125 (m=1)
  EXPECT_EQ(float_to_e4m3_bits(1.1875f), 0x3A);   // between 1.125 (m=1) and 1.25 (m=2)
  EXPECT_EQ(float_to_e4m3_bits(17.0f), 0x58);     // between 16 and 18 -> 16
  EXPECT_EQ(float_to_e4m3_bits(19.0f), 0x5A);     // between 18 and 20 -> 20
  EXPECT_EQ(float_to_e4m3_bits(0x1p-10f), 0x00);  // half the smallest subnormal -> 0
  EXPECT_EQ(float_to_e4m3_bits(1.5f * 0x1p-9f), 0x02);
  // Rounding up out of the subnormal range lands on the smallest normal.
  EXPECT_EQ(float_to_e4m3_bits(7.75f * 0x1p-9f), 0x08);
}

TEST(Fp8E4m3, SaturatesAndKeepsNan) {
  EXPECT_EQ(float_to_e4m3_bits(464.0f), 0x7E);  // halfway to the (absent) 480
  EXPECT_EQ(float_to_e4m3_bits(1000.0f), 0x7E);
  EXPECT_EQ(float_to_e4m3_bits(-1000.0f), 0xFE);
  EXPECT_EQ(float_to_e4m3_bits(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(float_to_e4m3_bits(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_TRUE(std::isnan(e4m3_bits_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_bits_to_float(0xFF)));
}

TEST(Fp8E4m3, EveryCodeRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7F) == 0x7F) continue;  // NaN
    const float v = e4m3_bits_to_float(static_cast<std::uint8_t>(b));
    EXPECT_EQ(float_to_e4m3_bits(v), b) << "code " << b << " value " << v;
  }
}

TEST(Fp8E4m3, RoundsToTheNearestCode) {
  // Against a brute-force search over all finite codes (ties checked above).
  for (float x = -500.0f; x <= 500.0f; x += 0.37f) {
    float best = 0;
    for (int b = 0; b < 256; ++b) {
      const float v = e4m3_bits_to_float(static_cast<std::uint8_t>(b));
      if (!std::isnan(v) && std::fabs(v - x) < std::fabs(best - x)) best = v;
    }
    EXPECT_EQ(round_to_e4m3(x), best) << x;
  }
}

// The array conversions (threads, chunks of 65,536) give what the scalar ones give, at
// every element: a length that is no multiple of the chunk, NaN and infinities included.
TEST(Dtype, ArrayConversionsMatchTheScalarOnes) {
  std::vector<float> x(3 * 65536 + 123);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::ldexp(static_cast<float>(i % 1001) - 500.0f, static_cast<int>(i % 37) - 18) / 7.0f;
  x[5] = std::numeric_limits<float>::quiet_NaN();
  x[70000] = -std::numeric_limits<float>::infinity();
  x.back() = 1e30f;
  std::vector<std::uint16_t> bits(x.size());
  to_bf16_bits(x, bits);
  std::vector<float> back(x.size());
  from_bf16_bits(bits, back);
  std::vector<float> fp8 = x;
  round_in_place(fp8, DType::fp8_e4m3);
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(bits[i], float_to_bf16_bits(x[i])) << i;
    const float b = bf16_bits_to_float(bits[i]);
    ASSERT_TRUE(std::isnan(b) ? std::isnan(back[i]) : back[i] == b) << i;
    const float e = round_to_e4m3(x[i]);
    ASSERT_TRUE(std::isnan(e) ? std::isnan(fp8[i]) : fp8[i] == e) << i;
  }
  std::vector<std::uint16_t> short_bits(x.size() - 1);
  EXPECT_THROW(to_bf16_bits(x, short_bits), std::invalid_argument);
}

TEST(Dtype, NamesAndWidths) {
  EXPECT_EQ(dtype_bytes(DType::fp8_e4m3), 1u);
  EXPECT_EQ(dtype_bytes(DType::bf16), 2u);
  EXPECT_EQ(*parse_dtype("fp8"), DType::fp8_e4m3);
  EXPECT_FALSE(parse_dtype("fp16").has_value());
}

}  // namespace
}  // namespace dsa
