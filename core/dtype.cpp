#include "core/dtype.h"

#include <array>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/parallel.h"

namespace dsa {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "fp32";
    case DType::bf16: return "bf16";
    case DType::fp8_e4m3: return "fp8";
    case DType::i32: return "int32";
    case DType::f64: return "fp64";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "fp32" || name == "f32") return DType::f32;
  if (name == "bf16") return DType::bf16;
  if (name == "fp8" || name == "fp8_e4m3" || name == "e4m3") return DType::fp8_e4m3;
  if (name == "int32" || name == "i32") return DType::i32;
  if (name == "fp64" || name == "f64") return DType::f64;
  return std::nullopt;
}

std::size_t dtype_bytes(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::fp8_e4m3: return 1;
    case DType::i32: return 4;
    case DType::f64: return 8;
  }
  return 0;
}

std::uint16_t float_to_bf16_bits(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  if (std::isnan(x)) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // keep sign, force quiet
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to even;
  // a carry into the exponent is exactly the right rounding (up to inf included).
  std::uint32_t lsb = (u >> 16) & 1u;
  u += 0x7FFFu + lsb;
  return static_cast<std::uint16_t>(u >> 16);
}

float bf16_bits_to_float(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

std::uint8_t float_to_e4m3_bits(float x) {
  const std::uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  if (std::isnan(x)) return sign | 0x7F;
  float a = std::fabs(x);
  if (a >= kFp8E4m3Max) return sign | 0x7E;  // saturate (inf included)
  // Below 2^-6 the format is subnormal with a fixed quantum of 2^-9. The code of a
  // subnormal is its multiple of 2^-9, and 8 * 2^-9 = 2^-6 has code 0x08, which is the
  // smallest normal: so the rounding carry needs no special case.
  if (a < 0x1p-6f) {
    // a / 2^-9 is exact (power-of-two scaling); nearbyint rounds ties to even.
    auto q = static_cast<std::uint32_t>(std::nearbyint(a * 512.0f));
    return sign | static_cast<std::uint8_t>(q);
  }
  int e = std::ilogb(a);                            // a in [2^e, 2^(e+1)), e in [-6, 8]
  float quantum = std::ldexp(1.0f, e - 3);          // 3 mantissa bits
  auto q = static_cast<std::uint32_t>(std::nearbyint(a / quantum));  // in [8, 16]
  if (q == 16) { q = 8; ++e; }                      // rounded up into the next binade
  // e can reach 8 with q up to 14 (448) at most, since a < 448 rounds to <= 448.
  return sign | static_cast<std::uint8_t>(((e + 7) << 3) | (q - 8));
}

namespace {
std::array<float, 256> make_e4m3_table() {
  std::array<float, 256> t{};
  for (int b = 0; b < 256; ++b) {
    const int s = b >> 7, e = (b >> 3) & 0xF, m = b & 7;
    float v;
    if (e == 0xF && m == 7) v = std::numeric_limits<float>::quiet_NaN();
    else if (e == 0) v = std::ldexp(static_cast<float>(m), -9);
    else v = std::ldexp(1.0f + m / 8.0f, e - 7);
    t[b] = s ? -v : v;
  }
  return t;
}
const std::array<float, 256> kE4m3Table = make_e4m3_table();
}  // namespace

float e4m3_bits_to_float(std::uint8_t b) { return kE4m3Table[b]; }

namespace {

constexpr std::int64_t kChunk = std::int64_t{1} << 16;  // elements per task of the array conversions

template <class From, class To, class Convert>
void convert_all(std::span<const From> from, std::span<To> to, Convert convert, const char* who) {
  if (from.size() != to.size()) throw std::invalid_argument(std::string(who) + ": the arrays differ in size");
  parallel_chunks(static_cast<std::int64_t>(from.size()), kChunk, [&](std::int64_t lo, std::int64_t hi) {
    for (auto i = static_cast<std::size_t>(lo); i < static_cast<std::size_t>(hi); ++i) to[i] = convert(from[i]);
  });
}

}  // namespace

// The conversions are passed as lambdas, not function pointers, so each loop has its
// own instantiation and the call inlines (a call through a pointer per element was
// most of the loop: billions of values at the long contexts).
void to_bf16_bits(std::span<const float> from, std::span<std::uint16_t> to) {
  convert_all(from, to, [](float x) { return float_to_bf16_bits(x); }, "to_bf16_bits");
}

void from_bf16_bits(std::span<const std::uint16_t> from, std::span<float> to) {
  convert_all(from, to, [](std::uint16_t b) { return bf16_bits_to_float(b); }, "from_bf16_bits");
}

void round_in_place(std::span<float> values, DType storage) {
  // Inputs reach billions of values (a 128K cache per sequence of a batch of 64).
  const std::span<const float> from(values);
  switch (storage) {
    case DType::f32: return;
    case DType::bf16: return convert_all(from, values, [](float x) { return round_to_bf16(x); }, "round_in_place");
    case DType::fp8_e4m3: return convert_all(from, values, [](float x) { return round_to_e4m3(x); }, "round_in_place");
    default: throw std::invalid_argument("round_in_place: not a floating storage type");
  }
}

}  // namespace dsa
