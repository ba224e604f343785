// Block quantisation to FP8 e4m3 with power-of-two ("ue8m0") scales, exactly as
// DeepSeek-V3.2-Exp quantises the indexer's q and k (docs: dsa-spec.md section 3):
//
//   s     = 2^ceil(log2(max(amax, 1e-4) / 448))     amax over one block of values
//   code  = e4m3(clamp(x / s, -448, 448))            round to nearest even
//   x'    = e4m3_to_float(code) * s                  (exact in fp32: s is a power of two)
//
// amax / 448 is computed in fp32, as the published PyTorch/TileLang code does, so the
// scale is bit-identical to theirs even where the quotient sits next to a power of two.
#pragma once

#include <cstdint>
#include <span>

namespace dsa {

inline constexpr float kFp8ScaleAmaxFloor = 1e-4f;

// The power-of-two scale for a block whose largest magnitude is amax.
float ue8m0_scale_for_amax(float amax);

// Quantises `x` in consecutive blocks of `block` values (the last block may be
// shorter). Writes one code per value and one scale per block.
void quantize_fp8_blocks(std::span<const float> x, std::size_t block,
                         std::span<std::uint8_t> codes, std::span<float> scales);

// codes * scale, block by block.
void dequantize_fp8_blocks(std::span<const std::uint8_t> codes, std::span<const float> scales,
                           std::size_t block, std::span<float> out);

// Quantise then dequantise in place: the values an FP8 kernel effectively sees.
void fake_quantize_fp8_blocks(std::span<float> x, std::size_t block);

}  // namespace dsa
