// The lightning indexer on the GPU (dsa-spec.md section 3):
//   scores[t, s] = k_scale[s] * sum_h (w[t,h] * q_scale[t,h]) * ReLU(q[t,h,:] . k[s,:])
// for s < key_end(t), -inf for masked s, with q and k as FP8 e4m3 codes (and their
// power-of-two scales) or as bf16. Since the scales are positive, this equals the
// reference's sum_h w * ReLU(q' . k') on the dequantised operands.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <optional>
#include <string>

namespace dsa::cuda {

struct IndexerLaunch {
  const void* q = nullptr;           // [T, H, D]: e4m3 codes (fp8) or bf16 bits
  const float* q_scale = nullptr;    // [T, H], fp8 only
  const void* k = nullptr;           // [S, D]
  const float* k_scale = nullptr;    // [S], fp8 only
  const float* w = nullptr;          // [T, H], fp32, constants folded in
  float* scores = nullptr;           // [T, S]
  std::int64_t queries = 0, keys = 0;
  int heads = 0, head_dim = 0;
  std::int64_t query_offset = 0;
  bool causal = true;
  bool fp8 = true;
  // Sequences of a decode batch, each with its own keys: q, q_scale, w, k, k_scale and
  // scores hold `batch` blocks back to back, each of the shape above (grid.z).
  int batch = 1;
  // The wgmma kernels' 128-key tiles per block (cuda.indexer.wgmma: 1 to 16); 0: chosen
  // from the grid size (indexer_wgmma_tiles_per_block, indexer_keyrows_tiles_per_block).
  // Set by tests to walk long runs on small shapes.
  int key_tiles_per_block = 0;
};

// nullopt when the kernel handles the shape, else the reason.
std::optional<std::string> indexer_unsupported(int heads, int head_dim, std::int64_t keys, bool fp8, int batch = 1);

void launch_indexer(const IndexerLaunch& p, cudaStream_t stream);

// The same scores from warpgroup MMAs (kernels/cuda/indexer_wgmma.cu): FP8, 64 heads x
// 128 dims only.
std::optional<std::string> indexer_wgmma_unsupported(int heads, int head_dim, std::int64_t keys, bool fp8, int batch = 1);
void launch_indexer_wgmma(const IndexerLaunch& p, cudaStream_t stream);
// How many 128-key tiles one block of that kernel walks (1 to 16): enough blocks for
// several waves of two per SM, and the fewest reloads of the block's queries.
int indexer_wgmma_tiles_per_block(std::int64_t query_groups, std::int64_t key_tiles, int sm_count);

// The same scores from warpgroup MMAs with the keys as the MMA's rows and two queries'
// heads as its columns, so the sum over heads stays in registers; blocks of up to 8
// queries walk runs of key tiles through a ring of cp.async stages
// (kernels/cuda/indexer_keyrows.cu): FP8, 64 heads x 128 dims only. Not yet run on a GPU.
std::optional<std::string> indexer_keyrows_unsupported(int heads, int head_dim, std::int64_t queries, bool fp8,
                                                       int batch = 1);
void launch_indexer_keyrows(const IndexerLaunch& p, cudaStream_t stream);
// How many 128-key tiles one block of that kernel walks. Fewer (sequence, query group)
// units than `block_slots` (blocks per SM x SMs; decode): runs of equal length, so all
// the blocks are one wave; otherwise (prefill) runs of at most 16 tiles, many waves.
std::int64_t indexer_keyrows_tiles_per_block(std::int64_t sequences_x_groups, std::int64_t live_tiles,
                                             std::int64_t block_slots);

}  // namespace dsa::cuda
