// The attention kernels on the GPU (dsa-spec.md sections 4-6), all with bf16 tensor
// cores (mma.sync m16n8k16, or wgmma in the *_wgmma variants), fp32 softmax statistics
// and online accumulation:
//
//  * MQA mode (sparse MLA and the dense decode baseline): q [T, H, d_qk] bf16 over one
//    latent cache shared by all heads, value = the first d_v entries of each key row.
//    Sparse: keys come from indices [T, K] (-1 or >= keys skipped). Dense: keys
//    [0, key_end(t)) of a causal query at query_offset + t. The cache is bf16
//    [S, d_qk] or the 656-byte FP8 rows of dsa-spec.md section 5. When the grid
//    would leave the GPU idle (decode: few tokens), the keys of each token are
//    split across blocks and a second kernel merges the partial results by their
//    log-sum-exp.
//  * MHA mode (the dense prefill baseline): causal flash attention, q [T, H, 192],
//    k [S, H, 192], v [S, H, 128], with a query offset so a chunk of queries at
//    [p0, p0 + T) over p0 + T keys is exact.
//
// Outputs: out [T, H, d_v] bf16 and lse [T, H] fp32 (natural log; -inf and a zero
// output for a query with no valid key).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace dsa::cuda {

struct MqaLaunch {
  const std::uint16_t* q = nullptr;     // [T, H, d_qk] bf16 bits
  const void* kv = nullptr;             // [S, d_qk] bf16 bits, or [S, 656] FP8 rows
  const std::int32_t* indices = nullptr;  // [T, K]; nullptr: dense causal attention
  std::int64_t topk = 0;                // K
  std::uint16_t* out = nullptr;         // [T, H, d_v] bf16 bits
  float* lse = nullptr;                 // [T, H]
  float* workspace = nullptr;           // split-KV partials: mqa_workspace_floats() floats
  std::int64_t queries = 0, keys = 0;
  int heads = 0, d_qk = 0, d_v = 0;
  float scale = 0.0f;
  std::int64_t query_offset = 0;        // dense: absolute position of query row 0
  bool fp8_cache = false;
  int splits = 1;                       // blocks per (token, head group) along the keys
  // A decode batch: tokens come in sequences of `seq_queries` (0: one sequence), and kv
  // holds each sequence's cache of `keys` rows back to back. Indices and causal bounds
  // are per sequence.
  std::int64_t seq_queries = 0;
};

std::optional<std::string> mqa_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse, bool fp8_cache);
// What is wrong with a launch's scale, splits, workspace, grid or batch (both kernels).
std::optional<std::string> mqa_launch_problem(const MqaLaunch& p);
// Splits that keep `sm_count` SMs busy for this launch (1 when the grid is already full).
int mqa_choose_splits(const MqaLaunch& p, int sm_count);
std::size_t mqa_workspace_floats(const MqaLaunch& p);
void launch_mqa(const MqaLaunch& p, cudaStream_t stream);

// The same attention on Hopper's warpgroup MMA (attention_mqa_wgmma.cu): the model's
// shape only (d_qk 576, d_v 512, heads a multiple of 64), same grid, splits, workspace
// and outputs as launch_mqa.
std::optional<std::string> mqa_wgmma_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse);
void launch_mqa_wgmma(const MqaLaunch& p, cudaStream_t stream);

// The same on warpgroup MMA with the warpgroups taking turns on tiles of their own
// (attention_mqa_seesaw.cu): bf16 cache only, otherwise as launch_mqa_wgmma.
std::optional<std::string> mqa_seesaw_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse,
                                                  bool fp8_cache);
void launch_mqa_seesaw(const MqaLaunch& p, cudaStream_t stream);

struct MhaLaunch {
  const std::uint16_t* q = nullptr;  // [T, H, d_qk] bf16 bits
  const std::uint16_t* k = nullptr;  // [S, H, d_qk]
  const std::uint16_t* v = nullptr;  // [S, H, d_v]
  std::uint16_t* out = nullptr;      // [T, H, d_v]
  float* lse = nullptr;              // [T, H]
  std::int64_t queries = 0, keys = 0;
  int heads = 0, d_qk = 0, d_v = 0;
  float scale = 0.0f;
  std::int64_t query_offset = 0;
};

std::optional<std::string> mha_unsupported(int heads, int d_qk, int d_v);
// What is wrong with a launch's scale or grid for blocks of `rows_per_block` queries.
std::optional<std::string> mha_launch_problem(const MhaLaunch& p, int rows_per_block);
void launch_mha(const MhaLaunch& p, cudaStream_t stream);

// The same prefill on Hopper's warpgroup MMA (attention_mha_wgmma.cu): d_qk 192 /
// d_v 128 only, 128 queries x 1 head per block.
std::optional<std::string> mha_wgmma_unsupported(int heads, int d_qk, int d_v);
void launch_mha_wgmma(const MhaLaunch& p, cudaStream_t stream);
// The same kernel with each step's S issued beside the previous step's P V, so the
// softmax runs under a product (attention_mha_wgmma.cu, kOverlap): same shapes.
void launch_mha_overlap(const MhaLaunch& p, cudaStream_t stream);

// The FP8 latent-cache writer: rows [S, kv_rank + rope] fp32 -> [S, fp8_mla_row_bytes]
// with the project's quantiser (core/quant.h), bit-identical to pack_fp8_mla_row.
void launch_pack_fp8_mla(const float* rows, std::int64_t n, int kv_rank, int rope, std::uint8_t* out,
                         cudaStream_t stream);

}  // namespace dsa::cuda
