// Lightning indexer with tensor cores (mma.sync): for each query t the product
// Q_t [H x D] * K_tile^T [D x 64] runs on the tensor cores, then ReLU, the per-head
// weights and the sum over heads are applied to the accumulators in registers.
//
// Block: H/16 warps (each owns 16 heads), a tile of 64 keys held in shared memory,
// and up to 4 queries that reuse the tile (K is read from global memory once per
// 4 queries instead of once per query). Grid: x = query blocks, y = key tiles, so
// token counts above 65,535 fit (grid.x allows 2^31 - 1).
//
// Fragment layouts: see kernels/cuda/mma.cuh.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/indexer.h"

#include <algorithm>

#include "core/trace.h"
#include "kernels/cuda/indexer_common.cuh"
#include "kernels/cuda/mma.cuh"

namespace dsa::cuda {

namespace {

constexpr int kKeysPerBlock = 64;
constexpr int kQueriesPerBlock = 4;
constexpr int kRowPad = 16;       // bytes: rows 16 B apart in bank terms -> conflict-free fragment loads
constexpr int kMaxHeads = 128;    // 8 warps
constexpr std::size_t kMaxSmem = 227 * 1024;  // Hopper's opt-in limit per block

__host__ __device__ inline int row_bytes(int head_dim, bool fp8) { return head_dim * (fp8 ? 1 : 2); }

// Heads are processed in groups of 16 (one warp each); a head count that is not a
// multiple of 16 is padded with zero rows of zero weight, which add nothing.
__host__ __device__ inline int padded_heads(int heads) { return (heads + 15) / 16 * 16; }

std::size_t smem_bytes(int heads, int head_dim, bool fp8) {
  const std::size_t stride = static_cast<std::size_t>(row_bytes(head_dim, fp8) + kRowPad);
  const int hp = padded_heads(heads), warps = hp / 16;
  return stride * kKeysPerBlock + stride * kQueriesPerBlock * hp +
         sizeof(float) * (kQueriesPerBlock * hp + kKeysPerBlock + warps * kKeysPerBlock);
}


template <bool kFp8>
__global__ void __launch_bounds__(kMaxHeads / 16 * 32) indexer_kernel(IndexerLaunch p) {
  indexer_select_sequence(p, blockIdx.z, row_bytes(p.head_dim, kFp8));  // this block's sequence of the batch
  const int H = p.heads, Hp = padded_heads(H), rb = row_bytes(p.head_dim, kFp8), stride = rb + kRowPad;
  const int warps = Hp / 16, nthreads = warps * 32;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x) * kQueriesPerBlock;
  const std::int64_t s0 = static_cast<std::int64_t>(blockIdx.y) * kKeysPerBlock;
  const int nq = static_cast<int>(min(static_cast<std::int64_t>(kQueriesPerBlock), p.queries - t0));
  const int nb = static_cast<int>(min(static_cast<std::int64_t>(kKeysPerBlock), p.keys - s0));

  // A tile past every query's causal bound is all -inf: write it and skip the math.
  if (s0 >= indexer_key_end(p, t0 + nq - 1)) {
    for (int i = tid; i < nq * nb; i += nthreads)
      p.scores[(t0 + i / nb) * p.keys + s0 + i % nb] = DSA_MINUS_INF;
    return;
  }

  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char* ks = smem;                                          // [64][stride]
  unsigned char* qs = ks + kKeysPerBlock * stride;                   // [4 * Hp][stride]
  float* wq = reinterpret_cast<float*>(qs + kQueriesPerBlock * Hp * stride);  // [4][Hp]
  float* kscale = wq + kQueriesPerBlock * Hp;                        // [64]
  float* red = kscale + kKeysPerBlock;                               // [warps][64]

  // Global -> shared by cp.async in 16-byte chunks, all of a thread's copies in flight
  // at once (the load-then-store loop this replaces waited out the memory latency once
  // per chunk, 20 times per block at 64 heads: the 137 TFLOP/s measured on the H100);
  // rows past the tile or the queries are zero-filled without a read.
  const int chunks = rb / 16;
  const auto* kg = static_cast<const unsigned char*>(p.k);
  for (int i = tid; i < kKeysPerBlock * chunks; i += nthreads) {
    const int r = i / chunks, c = i % chunks;
    cp_async16(ks + r * stride + c * 16, kg + (s0 + (r < nb ? r : 0)) * rb + c * 16, r < nb ? 16 : 0);
  }
  const auto* qg = static_cast<const unsigned char*>(p.q);
  // Only the block's nq queries (a decode block has one): the MMAs read no other tile.
  for (int i = tid; i < nq * Hp * chunks; i += nthreads) {
    const int r = i / chunks, c = i % chunks, qi = r / Hp, h = r % Hp;
    const bool live = h < H;  // padded heads are zero rows
    cp_async16(qs + r * stride + c * 16, qg + (live ? (t0 + qi) * H + h : 0) * rb + c * 16, live ? 16 : 0);
  }
  cp_async_commit();
  for (int i = tid; i < kQueriesPerBlock * Hp; i += nthreads) {
    const int qi = i / Hp, h = i % Hp;
    float v = 0.0f;
    if (qi < nq && h < H) {
      const std::int64_t idx = (t0 + qi) * H + h;
      v = p.w[idx] * (kFp8 ? p.q_scale[idx] : 1.0f);  // the q scale folds into the weight
    }
    wq[i] = v;
  }
  for (int j = tid; j < kKeysPerBlock; j += nthreads) kscale[j] = (kFp8 && j < nb) ? p.k_scale[s0 + j] : 1.0f;
  cp_async_wait<0>();
  __syncthreads();

  for (int qi = 0; qi < nq; ++qi) {
    const std::int64_t t = t0 + qi;
    const int valid = static_cast<int>(max(static_cast<std::int64_t>(0), min(static_cast<std::int64_t>(nb), indexer_key_end(p, t) - s0)));
    if (valid > 0) {  // the same for every thread of the block
      float acc[kKeysPerBlock / 8][4];
#pragma unroll
      for (int n = 0; n < kKeysPerBlock / 8; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
      const unsigned char* a_lo = qs + (qi * Hp + warp * 16 + g) * stride;
      const unsigned char* a_hi = a_lo + 8 * stride;
      for (int kb = 0; kb < rb; kb += 32) {
        const std::uint32_t a[4] = {ld32(a_lo + kb + 4 * tq), ld32(a_hi + kb + 4 * tq), ld32(a_lo + kb + 16 + 4 * tq),
                                    ld32(a_hi + kb + 16 + 4 * tq)};
#pragma unroll
        for (int n = 0; n < kKeysPerBlock / 8; ++n) {
          const unsigned char* brow = ks + (n * 8 + g) * stride + kb;
          const std::uint32_t b[2] = {ld32(brow + 4 * tq), ld32(brow + 16 + 4 * tq)};
          if constexpr (kFp8) mma_e4m3(acc[n], a, b[0], b[1]);
          else mma_bf16(acc[n], a, b[0], b[1]);
        }
      }
      // Rows g and g + 8 of this warp's 16 heads: weight, ReLU, then sum over the
      // 8 row groups (lanes that differ in bits 2..4) with shuffles; lanes 0..3 end
      // with the warp's partial sums for columns 8n + 2tq + {0, 1}.
      const float w_lo = wq[qi * Hp + warp * 16 + g], w_hi = wq[qi * Hp + warp * 16 + g + 8];
#pragma unroll
      for (int n = 0; n < kKeysPerBlock / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float v = w_lo * fmaxf(acc[n][e], 0.0f) + w_hi * fmaxf(acc[n][2 + e], 0.0f);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 4);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 8);
          v += __shfl_xor_sync(0xFFFFFFFFu, v, 16);
          if (g == 0) red[warp * kKeysPerBlock + n * 8 + 2 * tq + e] = v;
        }
      }
    }
    __syncthreads();
    // Sum the warps' partials in a fixed order (deterministic), scale by the key's
    // FP8 scale, mask, and write 64 consecutive floats (coalesced).
    for (int j = tid; j < nb; j += nthreads) {
      float out = DSA_MINUS_INF;
      if (j < valid) {
        float sum = 0.0f;
        for (int wi = 0; wi < warps; ++wi) sum += red[wi * kKeysPerBlock + j];
        out = sum * kscale[j];
      }
      p.scores[t * p.keys + s0 + j] = out;
    }
    __syncthreads();
  }
}

}  // namespace

std::optional<std::string> indexer_unsupported(int heads, int head_dim, std::int64_t keys, bool fp8, int batch) {
  if (batch < 1 || batch > 65535) return "batch must be in [1, 65535] (grid.z)";
  if (heads < 1 || heads > kMaxHeads) return "heads must be in [1, 128] (got " + std::to_string(heads) + ")";
  if (head_dim % 32 != 0) return "head_dim must be a multiple of 32 (got " + std::to_string(head_dim) + ")";
  if ((keys + kKeysPerBlock - 1) / kKeysPerBlock > 65535) return "more than 4,194,240 keys (grid.y limit)";
  if (smem_bytes(heads, head_dim, fp8) > kMaxSmem) return "the tiles need more shared memory than 227 KiB";
  return std::nullopt;
}

void launch_indexer(const IndexerLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE(p.fp8 ? "indexer.fp8" : "indexer.bf16");
  if (auto why = indexer_unsupported(p.heads, p.head_dim, p.keys, p.fp8, p.batch)) throw CudaError("launch_indexer: " + *why);
  if (p.queries == 0 || p.keys == 0) return;
  const std::size_t smem = smem_bytes(p.heads, p.head_dim, p.fp8);
  const dim3 grid(static_cast<unsigned>((p.queries + kQueriesPerBlock - 1) / kQueriesPerBlock),
                  static_cast<unsigned>((p.keys + kKeysPerBlock - 1) / kKeysPerBlock), static_cast<unsigned>(p.batch));
  const dim3 block(static_cast<unsigned>(padded_heads(p.heads) / 16 * 32));
  if (p.fp8) {
    DSA_CUDA_CHECK(cudaFuncSetAttribute(indexer_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    indexer_kernel<true><<<grid, block, smem, stream>>>(p);
  } else {
    DSA_CUDA_CHECK(cudaFuncSetAttribute(indexer_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    indexer_kernel<false><<<grid, block, smem, stream>>>(p);
  }
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace dsa::cuda
