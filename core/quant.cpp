#include "core/quant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"

namespace dsa {

namespace {
constexpr std::int64_t kBlocksPerTask = 512;  // blocks (of 128 values, typically) per thread task
}  // namespace

float ue8m0_scale_for_amax(float amax) {
  const float v = std::max(amax, kFp8ScaleAmaxFloor) / kFp8E4m3Max;  // fp32 on purpose
  // ceil(log2(v)) without libm's log2 rounding: v = f * 2^e with f in [0.5, 1);
  // v is an exact power of two iff f == 0.5, in which case log2(v) = e - 1.
  int e = 0;
  const float f = std::frexp(v, &e);
  const int c = (f == 0.5f) ? e - 1 : e;
  return std::ldexp(1.0f, c);
}

void quantize_fp8_blocks(std::span<const float> x, std::size_t block,
                         std::span<std::uint8_t> codes, std::span<float> scales) {
  if (block == 0) throw std::invalid_argument("quantize_fp8_blocks: block must be > 0");
  const std::size_t nblocks = (x.size() + block - 1) / block;
  if (codes.size() < x.size() || scales.size() < nblocks)
    throw std::invalid_argument("quantize_fp8_blocks: output spans too small");
  // Blocks are independent: spread over the threads (caches of a decode batch).
  parallel_chunks(static_cast<std::int64_t>(nblocks), kBlocksPerTask, [&](std::int64_t b0, std::int64_t b1) {
    for (auto b = static_cast<std::size_t>(b0); b < static_cast<std::size_t>(b1); ++b) {
      const std::size_t lo = b * block, hi = std::min(x.size(), lo + block);
      float amax = 0.0f;
      for (std::size_t i = lo; i < hi; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float s = ue8m0_scale_for_amax(amax);
      scales[b] = s;
      for (std::size_t i = lo; i < hi; ++i) {
        const float v = std::clamp(x[i] / s, -kFp8E4m3Max, kFp8E4m3Max);
        codes[i] = float_to_e4m3_bits(v);
      }
    }
  });
}

void dequantize_fp8_blocks(std::span<const std::uint8_t> codes, std::span<const float> scales,
                           std::size_t block, std::span<float> out) {
  if (block == 0) throw std::invalid_argument("dequantize_fp8_blocks: block must be > 0");
  if (out.size() < codes.size() || scales.size() < (codes.size() + block - 1) / block)
    throw std::invalid_argument("dequantize_fp8_blocks: spans too small");
  parallel_chunks(static_cast<std::int64_t>(codes.size()), kBlocksPerTask * static_cast<std::int64_t>(block),
                  [&](std::int64_t lo, std::int64_t hi) {
                    for (auto i = static_cast<std::size_t>(lo); i < static_cast<std::size_t>(hi); ++i)
                      out[i] = e4m3_bits_to_float(codes[i]) * scales[i / block];
                  });
}

void fake_quantize_fp8_blocks(std::span<float> x, std::size_t block) {
  std::vector<std::uint8_t> codes(x.size());
  std::vector<float> scales((x.size() + block - 1) / block);
  quantize_fp8_blocks(x, block, codes, scales);
  dequantize_fp8_blocks(codes, scales, block, x);
}

}  // namespace dsa
