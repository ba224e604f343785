// Lightning indexer on Hopper's warpgroup MMA (wgmma, sm_90a), FP8 at the real shape
// only (64 heads x 128 dims). On the H100 the mma.sync indexer (indexer.cu) reached 137
// TFLOP/s: its e4m3 mma.sync runs as f16 HMMA on sm_90 (no QMMA in the SASS), and only
// wgmma (QGMMA) reaches the FP8 tensor-core rate.
//
// Block: one warpgroup (128 threads), a tile of 128 keys and 8 queries. For each query
// the 64 x 128 score block Q_t (64 heads x 128 dims) * K_tile^T is four
// wgmma.m64n128k32 (one per 32 dims), A = Q_t and B = K_tile both read from shared
// memory in the 128-byte-swizzled K-major layout the tensor cores expect (rows of 128
// bytes, 16-byte chunk c of row r stored at chunk c ^ (r % 8), tiles 1024-byte aligned).
// The accumulators then hold, per thread, rows 16 w + g and 16 w + g + 8 of its warp w,
// columns 8 j + 2 tq + {0, 1} (j < 16): the same fragment shape as mma.sync's, so the
// epilogue is the one of indexer.cu (ReLU, the per-head weight, a sum over heads by
// shuffles and over the 4 warps through shared memory in a fixed order).
//
// NOT YET RUN ON A GPU (written 2026-11-22 after the session's GPU time was spent).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/indexer.h"

#include <cstdint>

#include "core/trace.h"
#include "kernels/cuda/indexer_common.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace dsa::cuda {

namespace {

constexpr int kHeads = 64, kDim = 128;   // one wgmma M = 64 rows: the heads of one query
constexpr int kKeys = 128;               // wgmma N
constexpr int kQueries = 8;              // queries per block sharing the key tile
constexpr int kThreads = 128;            // one warpgroup
constexpr int kRow = kDim;               // bytes per e4m3 row: exactly one 128-byte swizzle span
constexpr std::size_t kKOff = 0;
constexpr std::size_t kQOff = kKOff + static_cast<std::size_t>(kKeys) * kRow;                  // 16 KB
constexpr std::size_t kWOff = kQOff + static_cast<std::size_t>(kQueries) * kHeads * kRow;      // + 64 KB
constexpr std::size_t kScaleOff = kWOff + sizeof(float) * kQueries * kHeads;
constexpr std::size_t kRedOff = kScaleOff + sizeof(float) * kKeys;
constexpr std::size_t kSmem = kRedOff + sizeof(float) * 4 * kKeys + 1024;  // + slack to align the base to 1024

// The K-major, 128-byte-swizzled tile at `tile` (rows of exactly 128 bytes): the
// leading offset is unused, 8-row groups are 1024 bytes apart.
__device__ __forceinline__ std::uint64_t tile_desc(const unsigned char* tile) { return wgmma_desc_sw128(tile, 16, 1024); }

__global__ void __launch_bounds__(kThreads, 1) indexer_wgmma_kernel(IndexerLaunch p) {
  indexer_select_sequence(p, blockIdx.z, kRow);  // this block's sequence of the batch
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x) * kQueries;
  const std::int64_t s0 = static_cast<std::int64_t>(blockIdx.y) * kKeys;
  const int nq = static_cast<int>(min(static_cast<std::int64_t>(kQueries), p.queries - t0));
  const int nb = static_cast<int>(min(static_cast<std::int64_t>(kKeys), p.keys - s0));

  // A tile past every query's causal bound is all -inf: write it and skip the math.
  if (s0 >= indexer_key_end(p, t0 + nq - 1)) {
    for (int i = tid; i < nq * nb; i += kThreads) p.scores[(t0 + i / nb) * p.keys + s0 + i % nb] = DSA_MINUS_INF;
    return;
  }

  extern __shared__ unsigned char smem_raw[];
  const auto raw = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  unsigned char* base = smem_raw + ((1024 - (raw & 1023)) & 1023);  // the swizzle repeats every 1024 bytes
  unsigned char* ks = base + kKOff;
  unsigned char* qs = base + kQOff;
  float* wq = reinterpret_cast<float*>(base + kWOff);
  float* kscale = reinterpret_cast<float*>(base + kScaleOff);
  float* red = reinterpret_cast<float*>(base + kRedOff);

  // Global -> shared by cp.async, 16 bytes at a time, into the swizzled layout: all of a
  // thread's copies are in flight together (a load-then-store loop waits out the memory
  // latency once per chunk). Key rows past the tile are zero-filled without a read.
  constexpr int kChunks = kRow / 16;
  const auto* kg = static_cast<const unsigned char*>(p.k);
  for (int i = tid; i < kKeys * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    cp_async16(ks + sw128_offset(r, c), kg + (s0 + (r < nb ? r : 0)) * kRow + c * 16, r < nb ? 16 : 0);
  }
  const auto* qg = static_cast<const unsigned char*>(p.q);
  // Only the block's nq queries: the MMAs never read the tiles of the others (a decode
  // block has one query of 8).
  for (int i = tid; i < nq * kHeads * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks, qi = r / kHeads;  // row r = head r % 64 of query qi
    cp_async16(qs + sw128_offset(r, c), qg + ((t0 + qi) * kHeads + r % kHeads) * kRow + c * 16, 16);  // tile qi at qi * 8 KB
  }
  cp_async_commit();
  for (int i = tid; i < kQueries * kHeads; i += kThreads) {
    const int qi = i / kHeads;
    const std::int64_t idx = (t0 + qi) * kHeads + i % kHeads;
    wq[i] = qi < nq ? p.w[idx] * p.q_scale[idx] : 0.0f;  // the q scale folds into the weight
  }
  for (int j = tid; j < kKeys; j += kThreads) kscale[j] = j < nb ? p.k_scale[s0 + j] : 1.0f;
  cp_async_wait<0>();
  // The tensor cores read shared memory through the async proxy: order this thread's
  // copies before them; the barrier then makes everyone's visible.
  fence_proxy_async();
  __syncthreads();

  const std::uint64_t desc_k = tile_desc(ks);
  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  for (int qi = 0; qi < nq; ++qi) {
    const std::int64_t t = t0 + qi;
    const int valid = static_cast<int>(max(static_cast<std::int64_t>(0), min(static_cast<std::int64_t>(nb), indexer_key_end(p, t) - s0)));
    if (valid > 0) {  // the same for every thread of the block
      const std::uint64_t desc_q = tile_desc(qs + static_cast<std::size_t>(qi) * kHeads * kRow);
      fence_operands(acc);
      wgmma_fence();
#pragma unroll
      for (int k = 0; k < kDim / 32; ++k)  // 32 bytes of K per step: the start address moves 2 x 16 B
        wgmma_m64n128k32_e4m3(acc, desc_q + 2 * k, desc_k + 2 * k, k > 0 ? 1 : 0);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(acc);
      // Rows g and g + 8 of this warp's 16 heads: weight, ReLU, then the sum over the 8
      // row groups with shuffles; lanes 0..3 hold the warp's sums for columns 8 j + 2 tq + e.
      const float w_lo = wq[qi * kHeads + warp * 16 + g], w_hi = wq[qi * kHeads + warp * 16 + g + 8];
#pragma unroll
      for (int j = 0; j < kKeys / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float v = w_lo * fmaxf(acc[4 * j + e], 0.0f) + w_hi * fmaxf(acc[4 * j + 2 + e], 0.0f);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 4);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 8);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 16);
          if (g == 0) red[warp * kKeys + 8 * j + 2 * tq + e] = v;
        }
      }
    }
    __syncthreads();
    // The 4 warps' partials in a fixed order, the key's FP8 scale, the causal mask;
    // 128 consecutive floats per query (coalesced).
    for (int j = tid; j < nb; j += kThreads) {
      float out = DSA_MINUS_INF;
      if (j < valid) out = (((red[j] + red[kKeys + j]) + red[2 * kKeys + j]) + red[3 * kKeys + j]) * kscale[j];
      p.scores[t * p.keys + s0 + j] = out;
    }
    __syncthreads();
  }
}

}  // namespace

std::optional<std::string> indexer_wgmma_unsupported(int heads, int head_dim, std::int64_t keys, bool fp8, int batch) {
  if (!fp8) return "FP8 operands only (the bf16 indexer is cuda.indexer.mma)";
  if (heads != kHeads || head_dim != kDim)
    return "built for 64 heads x 128 dims (got " + std::to_string(heads) + " x " + std::to_string(head_dim) + ")";
  if (batch < 1 || batch > 65535) return "batch must be in [1, 65535] (grid.z)";
  if ((keys + kKeys - 1) / kKeys > 65535) return "more than 8,388,480 keys (grid.y limit)";
  return std::nullopt;
}

void launch_indexer_wgmma(const IndexerLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("indexer.fp8.wgmma");
  if (auto why = indexer_wgmma_unsupported(p.heads, p.head_dim, p.keys, p.fp8, p.batch))
    throw CudaError("launch_indexer_wgmma: " + *why);
  if (p.queries == 0 || p.keys == 0) return;
  DSA_CUDA_CHECK(cudaFuncSetAttribute(indexer_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
  const dim3 grid(static_cast<unsigned>((p.queries + kQueries - 1) / kQueries),
                  static_cast<unsigned>((p.keys + kKeys - 1) / kKeys), static_cast<unsigned>(p.batch));
  indexer_wgmma_kernel<<<grid, kThreads, kSmem, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace dsa::cuda
