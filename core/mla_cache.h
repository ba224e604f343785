// The FP8 latent-cache row of DeepSeek Sparse MLA (FlashMLA's layout, dsa-spec.md
// section 5): for kv_rank 512 and rope 64, 656 bytes per token:
//   [0, 512)    the latent c_kv as e4m3 codes
//   [512, 528)  4 fp32 scales, one per 128 latent values (value = code * scale)
//   [528, 656)  k_rope as 64 bf16 values (not quantised: RoPE needs the precision)
// Scales follow the project's FP8 rule (core/quant.h): 2^ceil(log2(max(amax, 1e-4)/448)).
// Other ranks pack the same way: rank bytes, 4 * rank/128 scale bytes, 2 * rope bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsa {

std::size_t fp8_mla_row_bytes(int kv_rank, int rope);

// row: kv_rank latent values then rope values (the bf16/fp32 cache row layout).
void pack_fp8_mla_row(const float* row, int kv_rank, int rope, std::uint8_t* out);
void unpack_fp8_mla_row(const std::uint8_t* in, int kv_rank, int rope, float* row);

// Replace each of `n` rows by what the FP8 cache stores for it (pack, then unpack).
void round_through_fp8_mla(float* rows, std::int64_t n, int kv_rank, int rope);

}  // namespace dsa
