// Pieces the two warpgroup-MMA MQA kernels share (attention_mqa_wgmma.cu: warpgroups
// split each key tile; attention_mqa_seesaw.cu: each warpgroup takes its own tile):
// the shapes and swizzled tile layout, which cache row a key slot names, the exchange
// of row statistics between the two warpgroups and the epilogue. Both hold O as two
// halves, warpgroup w owning value columns 256 w .. 256 w + 255 of 64 heads.
#pragma once

#include <cstdint>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_mqa_common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace dsa::cuda::mqa_wgmma {

constexpr int kDqk = 576, kDv = 512;
constexpr int kHeads = 64;                             // one wgmma M: a head group
constexpr int kKeys = 64;                              // keys per tile
constexpr int kThreads = 256;                          // two warpgroups
constexpr int kUnits = kDqk * 2 / 16;                  // 16-byte units per bf16 row: 72
constexpr int kBlockBytes = 64 * 128;                  // one 64-column block of a 64-row tile
constexpr int kTileBytes = kBlockBytes * (kDqk / 64);  // 72 KB: Q, or one key tile
static_assert(kHeads == kKeys, "Q and key tiles share one layout");
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Byte offset of 16-byte unit u (of 72) of row r in a swizzled 64-row tile: block u / 8.
__device__ __forceinline__ int tile_offset(int r, int u) { return (u >> 3) * kBlockBytes + sw128_offset(r, u & 7); }

// The cache row (within the sequence) of row `row` of key tile `step` for token t whose
// key slots number `slots`, or -1: sparse, the index if it names a key; dense, the
// position while inside the causal prefix.
template <bool kSparse>
__device__ __forceinline__ int key_of(const MqaLaunch& p, std::int64_t t, std::int64_t slots, std::int64_t step,
                                      int row) {
  const std::int64_t slot = step * kKeys + row;
  if constexpr (kSparse) {
    if (slot < p.topk) {
      const std::int32_t v = p.indices[t * p.topk + slot];
      if (v >= 0 && v < p.keys) return v;
    }
    return -1;
  } else {
    return slot < slots ? static_cast<int>(slot) : -1;
  }
}

// Scales a score accumulator (N registers: keys 8 j + 2 tq + {0, 1} of rows lo / hi)
// to the log2 domain and masks the keys whose tile row holds none (keys[col] < 0);
// returns the maxima of rows lo / hi over this warpgroup's keys (quad-reduced).
template <int N>
__device__ __forceinline__ float2 mask_and_max(float (&s)[N], const int* keys, float sl2, int tq) {
  float mx_lo = DSA_MINUS_INF, mx_hi = DSA_MINUS_INF;
#pragma unroll
  for (int j = 0; j < N / 4; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const bool valid = keys[8 * j + 2 * tq + e] >= 0;
      s[4 * j + e] = valid ? s[4 * j + e] * sl2 : DSA_MINUS_INF;
      s[4 * j + 2 + e] = valid ? s[4 * j + 2 + e] * sl2 : DSA_MINUS_INF;
      mx_lo = fmaxf(mx_lo, s[4 * j + e]);
      mx_hi = fmaxf(mx_hi, s[4 * j + 2 + e]);
    }
  return make_float2(quad_max(mx_lo), quad_max(mx_hi));
}

// O += P V over one 64-key tile for this warpgroup's 256 value columns: P (64 x 64 bf16,
// a swizzled K-major block) at `p_block`, V the four 64-column blocks of the key tile
// from `v_blocks` on, read MN-major (key k, column n at row k, column n: the transposed
// operand's canonical layout, blocks 8 KB apart). issue_pv starts the products (one
// commit group); add_pv also waits for them.
__device__ __forceinline__ void issue_pv(float (&acc)[128], const unsigned char* p_block, const unsigned char* v_blocks) {
  const std::uint64_t desc_p = wgmma_desc_sw128(p_block, 16, 1024);
  const std::uint64_t desc_v = wgmma_desc_sw128(v_blocks, kBlockBytes, 1024);
  fence_operands(acc);
  wgmma_fence();
#pragma unroll
  for (int k = 0; k < kKeys / 16; ++k)  // 16 keys per wgmma: P moves 32 bytes, V 16 rows (2 KB)
    wgmma_m64n256k16_bf16_bt(acc, desc_p + static_cast<std::uint64_t>((k * 32) >> 4),
                             desc_v + static_cast<std::uint64_t>((k * 16 * 128) >> 4), 1);
  wgmma_commit();
}
__device__ __forceinline__ void add_pv(float (&acc)[128], const unsigned char* p_block, const unsigned char* v_blocks) {
  issue_pv(acc, p_block, v_blocks);
  wgmma_wait_all();
  fence_operands(acc);
}

// A per-row statistic of the two warpgroups (each thread's rows row_lo / row_hi, its
// quad already reduced): through red[2 x 64] and a barrier, op(warpgroup 0's, 1's) for
// both rows, the same in every thread of either warpgroup.
template <class Op>
__device__ __forceinline__ float2 across_warpgroups(float lo, float hi, float* red, int wg, int row_lo, int row_hi,
                                                    int tq, Op op) {
  if (tq == 0) {
    red[wg * 64 + row_lo] = lo;
    red[wg * 64 + row_hi] = hi;
  }
  __syncthreads();
  return make_float2(op(red[row_lo], red[64 + row_lo]), op(red[row_hi], red[64 + row_hi]));
}

// The epilogue: this thread's share l_lo / l_hi of the row sums meets the other
// warpgroup's (through red_sum[2 x 64]); O (acc: rows row_lo / row_hi, columns
// 256 wg + 8 j + 2 tq + {0, 1}) is normalised and written as bf16 output, or as fp32
// split-KV partials for mqa_combine; lse from the running maxima (log2 domain, the same
// in both warpgroups) by warpgroup 0.
__device__ __forceinline__ void store_rows(const MqaLaunch& p, std::int64_t t, int h0, const float (&acc)[128],
                                           float m_lo, float m_hi, float l_lo, float l_hi, float* red_sum, int wg,
                                           int row_lo, int row_hi, int tq) {
  const float2 sums = across_warpgroups(quad_sum(l_lo), quad_sum(l_hi), red_sum, wg, row_lo, row_hi, tq,
                                        [](float a, float b) { return a + b; });
  const float sum_lo = sums.x, sum_hi = sums.y;
  const float inv_lo = sum_lo > 0.0f ? 1.0f / sum_lo : 0.0f, inv_hi = sum_hi > 0.0f ? 1.0f / sum_hi : 0.0f;
  const std::int64_t out_lo = t * p.heads + h0 + row_lo, out_hi = out_lo + 8;
  const int d0 = 256 * wg + 2 * tq;
  if (p.splits == 1) {
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      *reinterpret_cast<std::uint32_t*>(p.out + out_lo * kDv + d0 + 8 * j) = pack_bf16x2(acc[4 * j] * inv_lo, acc[4 * j + 1] * inv_lo);
      *reinterpret_cast<std::uint32_t*>(p.out + out_hi * kDv + d0 + 8 * j) =
          pack_bf16x2(acc[4 * j + 2] * inv_hi, acc[4 * j + 3] * inv_hi);
    }
  } else {
    float* part_out = p.workspace + static_cast<std::int64_t>(blockIdx.y) * p.queries * p.heads * kDv;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      *reinterpret_cast<float2*>(part_out + out_lo * kDv + d0 + 8 * j) = make_float2(acc[4 * j] * inv_lo, acc[4 * j + 1] * inv_lo);
      *reinterpret_cast<float2*>(part_out + out_hi * kDv + d0 + 8 * j) =
          make_float2(acc[4 * j + 2] * inv_hi, acc[4 * j + 3] * inv_hi);
    }
  }
  if (wg == 0 && tq == 0) {
    const float lse_lo = sum_lo > 0.0f ? (m_lo + log2f(sum_lo)) * kLn2 : DSA_MINUS_INF;
    const float lse_hi = sum_hi > 0.0f ? (m_hi + log2f(sum_hi)) * kLn2 : DSA_MINUS_INF;
    float* lse = p.lse;
    std::int64_t at = 0;
    if (p.splits > 1) {
      lse = p.workspace + static_cast<std::int64_t>(p.splits) * p.queries * p.heads * kDv;
      at = static_cast<std::int64_t>(blockIdx.y) * p.queries * p.heads;
    }
    lse[at + out_lo] = lse_lo;
    lse[at + out_hi] = lse_hi;
  }
}

// Launches a kernel of either design over the grid both use (token x head group,
// split) with kThreads threads and `smem` bytes of dynamic shared memory (its
// arguments: p, then `extra`), then the split-KV merge when the keys were split.
template <class Kernel, class... Extra>
void launch_grid(Kernel* kernel, std::size_t smem, const MqaLaunch& p, cudaStream_t stream, Extra... extra) {
  DSA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const dim3 grid(static_cast<unsigned>(p.queries * (p.heads / kHeads)), static_cast<unsigned>(p.splits));
  kernel<<<grid, kThreads, smem, stream>>>(p, extra...);
  DSA_CUDA_CHECK_LAUNCH();
  if (p.splits > 1) {
    mqa_combine<kDv><<<static_cast<unsigned>(p.queries * p.heads), 128, 0, stream>>>(p);
    DSA_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace dsa::cuda::mqa_wgmma
