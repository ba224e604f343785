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

// Byte offset of 16-byte chunk c of row r in a 128-byte-swizzled tile.
__device__ __forceinline__ int swizzled(int r, int c) { return r * kRow + ((c ^ (r & 7)) << 4); }

// The wgmma descriptor of a K-major, 128-byte-swizzled tile at `tile` (shared memory,
// 1024-byte aligned): start address, leading offset 1 (unused for this layout), stride
// 1024 bytes between groups of 8 rows, swizzle mode 1 (128 bytes) in bits 62-63.
__device__ __forceinline__ std::uint64_t tile_desc(const unsigned char* tile) {
  const auto a = static_cast<std::uint32_t>(__cvta_generic_to_shared(tile));
  return static_cast<std::uint64_t>((a & 0x3FFFF) >> 4) | (std::uint64_t{1} << 16) |
         (std::uint64_t{1024 >> 4} << 32) | (std::uint64_t{1} << 62);
}

// D (64 x 128, fp32, in registers) = (accumulate ? D : 0) + A (64 x 32, e4m3) * B
// (32 x 128, e4m3), A and B read by the tensor cores from shared memory through their
// descriptors. The whole warpgroup issues it; it runs asynchronously until wgmma_wait.
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], std::uint64_t desc_a, std::uint64_t desc_b,
                                                       int accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1;\n"
      "}\n"
      :
        "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

// Keeps the compiler from moving accumulator reads or writes across the asynchronous
// MMA: each register becomes an operand of an empty volatile asm at this point.
__device__ __forceinline__ void fence_operands(float (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}


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

  // Global -> shared, 16 bytes per thread and step, into the swizzled layout; rows past
  // the tile or the queries are zero.
  constexpr int kChunks = kRow / 16;
  const auto* kg = static_cast<const unsigned char*>(p.k);
  for (int i = tid; i < kKeys * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < nb) v = *reinterpret_cast<const uint4*>(kg + (s0 + r) * kRow + c * 16);
    *reinterpret_cast<uint4*>(ks + swizzled(r, c)) = v;
  }
  const auto* qg = static_cast<const unsigned char*>(p.q);
  for (int i = tid; i < kQueries * kHeads * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks, qi = r / kHeads;  // row r = head r % 64 of query qi
    uint4 v = make_uint4(0, 0, 0, 0);
    if (qi < nq) v = *reinterpret_cast<const uint4*>(qg + ((t0 + qi) * kHeads + r % kHeads) * kRow + c * 16);
    *reinterpret_cast<uint4*>(qs + swizzled(r, c)) = v;  // query qi's tile starts at qi * 8 KB
  }
  for (int i = tid; i < kQueries * kHeads; i += kThreads) {
    const int qi = i / kHeads;
    const std::int64_t idx = (t0 + qi) * kHeads + i % kHeads;
    wq[i] = qi < nq ? p.w[idx] * p.q_scale[idx] : 0.0f;  // the q scale folds into the weight
  }
  for (int j = tid; j < kKeys; j += kThreads) kscale[j] = j < nb ? p.k_scale[s0 + j] : 1.0f;
  // The tensor cores read shared memory through the async proxy: order the plain stores
  // above before them.
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
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
      asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
      for (int k = 0; k < kDim / 32; ++k)  // 32 bytes of K per step: the start address moves 2 x 16 B
        wgmma_m64n128k32_e4m3(acc, desc_q + 2 * k, desc_k + 2 * k, k > 0 ? 1 : 0);
      asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
      asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
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
