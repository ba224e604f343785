// Lightning indexer on Hopper's warpgroup MMA (wgmma, sm_90a), FP8 at the real shape
// only (64 heads x 128 dims). The mma.sync indexer (indexer.cu) reaches about 135
// TFLOP/s on the H100: its e4m3 mma.sync runs as f16 HMMA on sm_90 (no QMMA in the
// SASS), and only wgmma (QGMMA) reaches the FP8 tensor-core rate.
//
// Block: one warpgroup (128 threads), 8 queries whose Q tiles stay in shared memory
// while the block walks a run of 128-key tiles (`tiles` of them; cp.async brings tile
// i + 1 while tile i is multiplied), so the 64 KB of Q is read once per run, not once
// per key tile. For each query the 64 x 128 score block Q_t (64 heads x 128 dims) *
// K_tile^T is four wgmma.m64n128k32 (one per 32 dims), A and B both read from shared
// memory in the 128-byte-swizzled K-major layout (16-byte chunk c of row r stored at
// chunk c ^ (r % 8), tiles 1024-byte aligned). Two accumulator sets: the MMAs of query
// i + 1 run while the threads reduce query i (ReLU, the per-head weight, the sum over
// heads), the reduction taking about as long as the MMAs.
//
// The sum over heads: a thread holds rows 16 w + g and 16 w + g + 8 of its warp w,
// columns 8 j + 2 tq + e (j < 16, e < 2) (the mma.sync fragment shape). It folds its two
// rows, then the 8 lanes of a column group halve their 32 values three times by
// exchanging halves (28 shuffles instead of 96 for shuffling every value down), leaving
// lane g with 4 sums; the 4 warps' partials add in a fixed order in the store phase, so
// the scores are the same on every run.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/indexer.h"

#include <cstdint>

#include "core/trace.h"
#include "kernels/cuda/indexer_common.cuh"
#include "kernels/cuda/indexer_wgmma.cuh"
#include "kernels/cuda_device.h"

namespace dsa::cuda {

namespace {

using namespace indexer_wgmma;

constexpr int kQueries = 8;              // queries per block sharing each key tile
constexpr int kHalf = kQueries / 2;      // queries per store phase (the partials' buffer)
constexpr int kMaxTiles = 16;            // key tiles per block at most (2,048 keys)
constexpr std::size_t kQOff = 0;
constexpr std::size_t kKOff = kQOff + static_cast<std::size_t>(kQueries) * kHeads * kRow;  // Q: 64 KB
constexpr std::size_t kWOff = kKOff + 2 * kTile;                                          // K: 2 x 16 KB
constexpr std::size_t kRedOff = kWOff + sizeof(float) * kQueries * kHeads;
constexpr std::size_t kSmem = kRedOff + sizeof(float) * kHalf * 4 * kKeys + 1024;  // + slack to align the base to 1024
static_assert(2 * (kSmem + 1024) <= 228 * 1024, "two blocks per SM");

// One step of the sum over a column group's 8 lanes: values [0, kHalf) and
// [kHalf, 2 kHalf) are two halves; the lane whose bit kHalf is set keeps the upper one,
// its partner (that bit clear) the lower, each adding the other's copy.
template <int kHalfN>
__device__ __forceinline__ void exchange_halves(float (&v)[32], int lane) {
  const bool upper = (lane & kHalfN) != 0;
#pragma unroll
  for (int i = 0; i < kHalfN; ++i) {
    const float send = upper ? v[i] : v[i + kHalfN];
    const float keep = upper ? v[i + kHalfN] : v[i];
    v[i] = keep + __shfl_xor_sync(0xFFFFFFFFu, send, kHalfN);
  }
}

// This warp's sum over its 16 heads of w * ReLU(score) for the tile's 128 keys, into
// red[warp * kKeys + key]; see the file comment for the exchange of halves.
__device__ __forceinline__ void reduce_heads(const float (&acc)[64], float w_lo, float w_hi, float* red, int warp, int lane) {
  float v[32];
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e)
      v[2 * j + e] = w_lo * fmaxf(acc[4 * j + e], 0.0f) + w_hi * fmaxf(acc[4 * j + 2 + e], 0.0f);
  // Value n of lane g stands for column 8 (n / 2) + 2 tq + n % 2. Each step keeps the
  // half selected by one bit of g and adds the partner's copy of it.
  exchange_halves<16>(v, lane);
  exchange_halves<8>(v, lane);
  exchange_halves<4>(v, lane);
  // Lane g now holds values 4 g + i (i < 4): columns 16 g + 8 (i / 2) + 2 tq + i % 2.
  const int g = lane >> 2, tq = lane & 3;
#pragma unroll
  for (int i = 0; i < 4; ++i) red[warp * kKeys + 16 * g + 8 * (i / 2) + 2 * tq + (i % 2)] = v[i];
}

__global__ void __launch_bounds__(kThreads, 2) indexer_wgmma_kernel(IndexerLaunch p, int tiles) {
  indexer_select_sequence(p, blockIdx.z, kRow);  // this block's sequence of the batch
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2;
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.x) * kQueries;
  const int nq = static_cast<int>(min(static_cast<std::int64_t>(kQueries), p.queries - t0));
  const std::int64_t n_tiles = (p.keys + kKeys - 1) / kKeys;
  const std::int64_t tile_begin = static_cast<std::int64_t>(blockIdx.y) * tiles;
  const std::int64_t tile_end = min(tile_begin + tiles, n_tiles);
  // Tiles past every query's causal bound are all -inf: written, never multiplied.
  const std::int64_t live_end = min(tile_end, (indexer_key_end(p, t0 + nq - 1) + kKeys - 1) / kKeys);
  for (std::int64_t s = max(live_end, tile_begin) * kKeys + tid; s < min(tile_end * kKeys, p.keys); s += kThreads)
    for (int qi = 0; qi < nq; ++qi) p.scores[(t0 + qi) * p.keys + s] = DSA_MINUS_INF;
  if (live_end <= tile_begin) return;

  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_aligned_1024(smem_raw);
  unsigned char* qs = base + kQOff;
  unsigned char* ks = base + kKOff;
  float* wq = reinterpret_cast<float*>(base + kWOff);
  float* red = reinterpret_cast<float*>(base + kRedOff);

  // The block's nq queries' tiles once (no MMA reads the others': a decode block has
  // one query of 8, and filling 7 empty tiles cost 3.5 key tiles' worth of stores), the
  // first key tile, the folded weights.
  constexpr int kChunks = kRow / 16;
  const auto* qg = static_cast<const unsigned char*>(p.q);
  for (int i = tid; i < nq * kHeads * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks, qi = r / kHeads;  // row r = head r % 64 of query qi
    cp_async16(qs + sw128_offset(r, c), qg + ((t0 + qi) * kHeads + r % kHeads) * kRow + c * 16, 16);  // tile qi at qi * 8 KB
  }
  const auto* kg = static_cast<const unsigned char*>(p.k);
  load_key_tile(ks, kg, tile_begin * kKeys, static_cast<int>(min(static_cast<std::int64_t>(kKeys), p.keys - tile_begin * kKeys)), tid);
  cp_async_commit();
  for (int i = tid; i < kQueries * kHeads; i += kThreads) {
    const int qi = i / kHeads;
    const std::int64_t idx = (t0 + qi) * kHeads + i % kHeads;
    wq[i] = qi < nq ? p.w[idx] * p.q_scale[idx] : 0.0f;  // the q scale folds into the weight
  }

  float acc_a[64], acc_b[64];
  for (std::int64_t tile = tile_begin; tile < live_end; ++tile) {
    const int buf = static_cast<int>(tile - tile_begin) & 1;
    const std::int64_t s0 = tile * kKeys;
    const int nb = static_cast<int>(min(static_cast<std::int64_t>(kKeys), p.keys - s0));
    if (tile + 1 < live_end)  // the next tile's copy runs under this tile's MMAs
      load_key_tile(ks + (buf ^ 1) * kTile, kg, s0 + kKeys, static_cast<int>(min(static_cast<std::int64_t>(kKeys), p.keys - s0 - kKeys)), tid);
    cp_async_commit();
    cp_async_wait<1>();
    // The tensor cores read shared memory through the async proxy: order this thread's
    // copies (and the weights' stores) before them; the barrier makes everyone's visible.
    fence_proxy_async();
    __syncthreads();

    const std::uint64_t desc_k = tile_desc(ks + buf * kTile);
    const auto desc_q = [&](int qi) { return tile_desc(qs + static_cast<std::size_t>(qi) * kHeads * kRow); };
    // Query qi takes part in this tile when it has a key here (block-uniform).
    const auto active = [&](int qi) { return qi < nq && indexer_key_end(p, t0 + qi) > s0; };
    issue_scores(acc_a, active(0), desc_q(0), desc_k);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
#pragma unroll
      for (int pair = 0; pair < kHalf; pair += 2) {
        const int qa = half * kHalf + pair, qb = qa + 1;
        issue_scores(acc_b, active(qb), desc_q(qb), desc_k);
        wgmma_wait<1>();  // query qa's MMAs are done, qb's still run
        fence_operands(acc_a);
        if (active(qa))
          reduce_heads(acc_a, wq[qa * kHeads + warp * 16 + g], wq[qa * kHeads + warp * 16 + g + 8], red + pair * 4 * kKeys, warp, lane);
        if (qb + 1 < kQueries) {
          issue_scores(acc_a, active(qb + 1), desc_q(qb + 1), desc_k);
          wgmma_wait<1>();
        } else {
          wgmma_wait<0>();
        }
        fence_operands(acc_b);
        if (active(qb))
          reduce_heads(acc_b, wq[qb * kHeads + warp * 16 + g], wq[qb * kHeads + warp * 16 + g + 8], red + (pair + 1) * 4 * kKeys, warp, lane);
      }
      __syncthreads();
      // The 4 warps' partials in a fixed order, the key's FP8 scale, the causal mask;
      // 128 consecutive floats per query (coalesced).
      for (int i = tid; i < kHalf * kKeys; i += kThreads) {
        const int qh = i / kKeys, j = i % kKeys, qi = half * kHalf + qh;
        if (qi >= nq || j >= nb) continue;
        const std::int64_t t = t0 + qi;
        const float* r = red + qh * 4 * kKeys;
        float out = DSA_MINUS_INF;
        if (s0 + j < indexer_key_end(p, t)) out = (((r[j] + r[kKeys + j]) + r[2 * kKeys + j]) + r[3 * kKeys + j]) * p.k_scale[s0 + j];
        p.scores[t * p.keys + s0 + j] = out;
      }
      __syncthreads();  // the partials are read before the next half (or tile) writes them
    }
  }
  cp_async_wait<0>();
}

}  // namespace

int indexer_wgmma_tiles_per_block(std::int64_t query_groups, std::int64_t key_tiles, int sm_count) {
  // Enough blocks for several waves of two per SM (the 2,048-key runs of the prefill
  // shape give thousands); decode's few queries get one tile per block.
  const std::int64_t want_blocks = 8LL * 2 * (sm_count > 0 ? sm_count : 1);
  const std::int64_t t = query_groups * key_tiles / want_blocks;
  return static_cast<int>(t < 1 ? 1 : (t > kMaxTiles ? kMaxTiles : t));
}

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
  const std::int64_t groups = (p.queries + kQueries - 1) / kQueries, key_tiles = (p.keys + kKeys - 1) / kKeys;
  const int tiles = p.key_tiles_per_block > 0 ? min(p.key_tiles_per_block, kMaxTiles)
                                              : indexer_wgmma_tiles_per_block(groups * p.batch, key_tiles, cuda_sm_count());
  const dim3 grid(static_cast<unsigned>(groups), static_cast<unsigned>((key_tiles + tiles - 1) / tiles),
                  static_cast<unsigned>(p.batch));
  indexer_wgmma_kernel<<<grid, kThreads, kSmem, stream>>>(p, tiles);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace dsa::cuda
