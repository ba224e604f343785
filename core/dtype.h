// Number formats used by DSA: fp32, bf16 and FP8 e4m3 ("e4m3fn": no infinities,
// NaN = S.1111.111, largest finite 448), with round-to-nearest-even conversions.
//
// Values are carried in float arrays throughout the CPU code; a "bf16 tensor" is a
// float array whose every value is exactly representable in bf16. That keeps the
// reference readable while the bytes a kernel would move are still counted at the
// storage width (see dtype_bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace dsa {

enum class DType { f32, bf16, fp8_e4m3, i32, f64 };

std::string_view dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view name);
// Storage bytes per element (fp8: 1, bf16: 2, ...).
std::size_t dtype_bytes(DType t);

// --- bf16 -------------------------------------------------------------------
// Round to nearest, ties to even; NaN stays NaN (quiet), overflow goes to +-inf
// exactly as IEEE rounding of the top 16 bits does.
std::uint16_t float_to_bf16_bits(float x);
float bf16_bits_to_float(std::uint16_t b);
inline float round_to_bf16(float x) { return bf16_bits_to_float(float_to_bf16_bits(x)); }
// Whole arrays (what goes to and comes from a GPU), spread over the threads; `to` has
// the size of `from`.
void to_bf16_bits(std::span<const float> from, std::span<std::uint16_t> to);
void from_bf16_bits(std::span<const std::uint16_t> from, std::span<float> to);

// --- FP8 e4m3 (e4m3fn) --------------------------------------------------------
inline constexpr float kFp8E4m3Max = 448.0f;
// Round to nearest, ties to even, saturating: finite values beyond +-448 become
// +-448 (the "satfinite" behaviour of CUDA's __nv_cvt_float_to_fp8 that quantisers
// rely on); NaN becomes NaN (0x7F with the sign bit); +-inf saturates to +-448.
std::uint8_t float_to_e4m3_bits(float x);
float e4m3_bits_to_float(std::uint8_t b);
inline float round_to_e4m3(float x) { return e4m3_bits_to_float(float_to_e4m3_bits(x)); }

// Round every element in place to the given storage type (f32: no change).
void round_in_place(std::span<float> values, DType storage);

}  // namespace dsa
