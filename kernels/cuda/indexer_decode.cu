// Lightning indexer for decode shapes (1 to 4 queries per sequence, a batch of sequences
// each over its own key cache) on Hopper's warpgroup MMA, FP8 at the real shape only
// (64 heads x 128 dims).
//
// Why a second kernel: in the H100's batch-64 decode sweep (2026-11-23) the indexer was
// DSA's largest stage from 32K on (373 of 639 us at 64K, 537 of 822 at 96K), streaming
// the keys at 1.53 TB/s, half the copy ceiling. cuda.indexer.wgmma is built for
// prefill: the keys are the MMA's N, a block's 8 query slots share each key tile, and
// the sum over heads (the M rows, spread over the warpgroup) costs 28 shuffles per
// query and tile. A decode block holds one sequence's 1-2 queries and has one 16 KB
// tile in flight, so the SM mostly waits on memory latency.
//
// Here the keys are the MMA's M: D (64 keys x 128) = K_half (64 keys x 128 dims) *
// Q_pair^T, where the pair's 128 rows are the 64 heads of two queries (a missing query's
// rows are zeros). A thread holds 2 key rows x 32 head columns of D (wgmma.cuh), so the
// ReLU, the head weights and the sum over its 16 heads of each query stay in its
// registers; the 4 lanes of a key row then add theirs with 2 shuffles (all 4 get the
// same bits: each sum is the same two pairwise adds in commuted order), and lane tq
// writes one of the row pair's 2 x 2 scores. Per 128-key tile: 2 (halves) x pairs units
// of four wgmma.m64n128k32, two accumulator sets, so one unit's MMAs run while the
// previous unit is reduced.
//
// A block (one warpgroup) walks a run of one sequence's 128-key tiles through a ring of
// kStages cp.async stages: kStages - 1 tiles (48 KB) in flight while one is multiplied,
// two blocks per SM (97 KB of shared memory each). Runs are sized so the whole batch is
// one wave of blocks (indexer_decode_tiles_per_block). Written without a GPU on
// 2026-12-05: not yet run.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/indexer.h"

#include <algorithm>
#include <cstdint>

#include "core/trace.h"
#include "kernels/cuda/indexer_common.cuh"
#include "kernels/cuda/indexer_wgmma.cuh"
#include "kernels/cuda_device.h"

namespace dsa::cuda {

namespace {

using namespace indexer_wgmma;

constexpr int kMaxQueries = kIndexerDecodeMaxQueries;  // two pairs
static_assert(kMaxQueries == 4, "the kernel has one or two query pairs");
constexpr int kStages = 4;      // key tiles in shared memory: kStages - 1 in flight
constexpr std::size_t kQBytes = static_cast<std::size_t>(kMaxQueries) * kHeads * kRow;  // 32 KB
constexpr std::size_t kKOff = kQBytes;
constexpr std::size_t kWOff = kKOff + kStages * kTile;  // + 64 KB
constexpr std::size_t kSmem = kWOff + sizeof(float) * kMaxQueries * kHeads + 1024;  // weights + slack to align to 1024
static_assert(2 * (kSmem + 1024) <= 228 * 1024, "two blocks per SM");

// One unit's scores: D = the key rows [64 half, + 64) of the tile starting at s0 against
// the queries 2 pair and 2 pair + 1 (columns [0, 64) and [64, 128) of D). `wq` holds
// the pair's 128 folded weights (w * q_scale), column for column.
__device__ __forceinline__ void store_unit(const float (&acc)[64], const float* wq, const IndexerLaunch& p,
                                           std::int64_t s0, int half, int pair, int nq, int warp, int lane) {
  const int g = lane >> 2, tq = lane & 3;
  float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // (row lo, query a), (row hi, a), (lo, b), (hi, b)
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    // Columns 8 j + 2 tq + {0, 1}: query a's heads for j < 8, query b's for j >= 8.
    const float2 w = *reinterpret_cast<const float2*>(wq + 8 * j + 2 * tq);
    const int b = j >> 3;
    part[2 * b] += w.x * fmaxf(acc[4 * j], 0.0f) + w.y * fmaxf(acc[4 * j + 1], 0.0f);
    part[2 * b + 1] += w.x * fmaxf(acc[4 * j + 2], 0.0f) + w.y * fmaxf(acc[4 * j + 3], 0.0f);
  }
#pragma unroll
  for (int v = 0; v < 4; ++v) {
    part[v] += __shfl_xor_sync(0xFFFFFFFFu, part[v], 1);
    part[v] += __shfl_xor_sync(0xFFFFFFFFu, part[v], 2);
  }
  const float sum = tq == 0 ? part[0] : tq == 1 ? part[1] : tq == 2 ? part[2] : part[3];
  const int qi = 2 * pair + (tq >> 1);
  const std::int64_t s = s0 + 64 * half + 16 * warp + g + 8 * (tq & 1);
  if (qi < nq && s < p.keys)
    p.scores[qi * p.keys + s] = s < indexer_key_end(p, qi) ? sum * p.k_scale[s] : DSA_MINUS_INF;
}

template <int kPairs>
__global__ void __launch_bounds__(kThreads, 2) indexer_decode_kernel(IndexerLaunch p, std::int64_t run) {
  indexer_select_sequence(p, blockIdx.y, kRow);  // this block's sequence of the batch
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int nq = static_cast<int>(p.queries);  // 1 to 2 kPairs (the launcher checks)
  // Keys past the last query's causal bound are -inf for every query: written (by the
  // sequence's blocks in turn), never multiplied.
  const std::int64_t live_tiles = (indexer_key_end(p, nq - 1) + kKeys - 1) / kKeys;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t s = live_tiles * kKeys + blockIdx.x * kThreads + tid; s < p.keys; s += stride)
    for (int qi = 0; qi < nq; ++qi) p.scores[qi * p.keys + s] = DSA_MINUS_INF;
  const std::int64_t first = blockIdx.x * run;
  const std::int64_t count = min(run, live_tiles - first);
  if (count <= 0) return;

  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_aligned_1024(smem_raw);
  unsigned char* qs = base;
  unsigned char* ks = base + kKOff;
  float* wq = reinterpret_cast<float*>(base + kWOff);

  // The pairs' Q rows (row r = head r % 64 of query r / 64; a missing query's rows
  // zero-filled), then the ring's first tiles, one commit group per tile (Q with the
  // first), so the wait below counts tiles.
  constexpr int kChunks = kRow / 16;
  const auto* qg = static_cast<const unsigned char*>(p.q);
  for (int i = tid; i < 2 * kPairs * kHeads * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const bool in = r / kHeads < nq;
    cp_async16(qs + sw128_offset(r, c), qg + (in ? r : 0) * kRow + c * 16, in ? 16 : 0);
  }
  const auto* kg = static_cast<const unsigned char*>(p.k);
  const auto tile_keys = [&](std::int64_t tile) { return static_cast<int>(min(static_cast<std::int64_t>(kKeys), p.keys - tile * kKeys)); };
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < count) load_key_tile(ks + st * kTile, kg, (first + st) * kKeys, tile_keys(first + st), tid);
    cp_async_commit();
  }
  for (int i = tid; i < 2 * kPairs * kHeads; i += kThreads)  // [query][head], as p.w
    wq[i] = i / kHeads < nq ? p.w[i] * p.q_scale[i] : 0.0f;  // the q scale folds into the weight

  const auto desc_q = [&](int pair) { return tile_desc(qs + static_cast<std::size_t>(pair) * 2 * kHeads * kRow); };
  float acc_a[64], acc_b[64];
  for (std::int64_t i = 0; i < count; ++i) {
    cp_async_wait<kStages - 2>();  // tile i (and Q) have landed for this thread
    // The tensor cores read shared memory through the async proxy: order this thread's
    // copies (and the weights' stores) before them; the barrier makes everyone's
    // visible, and says every warp's MMAs of tile i - 1 are done (each waited for its
    // own), so that tile's stage can be refilled.
    fence_proxy_async();
    __syncthreads();
    if (i + kStages - 1 < count) {
      const std::int64_t t = first + i + kStages - 1;
      load_key_tile(ks + ((i + kStages - 1) % kStages) * kTile, kg, t * kKeys, tile_keys(t), tid);
    }
    cp_async_commit();

    const unsigned char* tile = ks + (i % kStages) * kTile;
    const std::int64_t s0 = (first + i) * kKeys;
    const auto desc_k = [&](int half) { return tile_desc(tile + static_cast<std::size_t>(half) * 64 * kRow); };
    // Units (half, pair): (0, 0), (1, 0)[, (0, 1), (1, 1)], alternating accumulators.
    issue_scores(acc_a, true, desc_k(0), desc_q(0));
    issue_scores(acc_b, true, desc_k(1), desc_q(0));
    wgmma_wait<1>();
    fence_operands(acc_a);
    store_unit(acc_a, wq, p, s0, 0, 0, nq, warp, lane);
    if constexpr (kPairs == 2) {
      issue_scores(acc_a, true, desc_k(0), desc_q(1));
      wgmma_wait<1>();
      fence_operands(acc_b);
      store_unit(acc_b, wq, p, s0, 1, 0, nq, warp, lane);
      issue_scores(acc_b, true, desc_k(1), desc_q(1));
      wgmma_wait<1>();
      fence_operands(acc_a);
      store_unit(acc_a, wq + 2 * kHeads, p, s0, 0, 1, nq, warp, lane);
      wgmma_wait<0>();
      fence_operands(acc_b);
      store_unit(acc_b, wq + 2 * kHeads, p, s0, 1, 1, nq, warp, lane);
    } else {
      wgmma_wait<0>();
      fence_operands(acc_b);
      store_unit(acc_b, wq, p, s0, 1, 0, nq, warp, lane);
    }
  }
  cp_async_wait<0>();
}

template <int kPairs>
void launch_pairs(const IndexerLaunch& p, cudaStream_t stream) {
  auto* kernel = indexer_decode_kernel<kPairs>;
  DSA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
  int per_sm = 0;
  DSA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, kSmem));
  const std::int64_t live_tiles = (indexer_key_end(p, p.queries - 1) + kKeys - 1) / kKeys;
  const std::int64_t run = p.key_tiles_per_block > 0
                               ? p.key_tiles_per_block
                               : indexer_decode_tiles_per_block(p.batch, live_tiles,
                                                                static_cast<std::int64_t>(std::max(per_sm, 1)) * cuda_sm_count());
  // At least one block per sequence: it writes the -inf of keys no query reaches.
  const std::int64_t chunks = std::max<std::int64_t>(1, (live_tiles + run - 1) / run);
  if (chunks > 0x7FFFFFFFll) throw CudaError("launch_indexer_decode: more key runs than the grid holds");
  kernel<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(p.batch)), kThreads, kSmem, stream>>>(p, run);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::int64_t indexer_decode_tiles_per_block(std::int64_t batch, std::int64_t live_tiles, std::int64_t block_slots) {
  // Every block streams through its own ring, so one wave of blocks keeps the memory
  // system busy; a second, partial wave would leave most SMs idle while it runs. So the
  // sequences share the slots: floor(slots / batch) runs each (one when the batch
  // alone fills them), of equal length.
  const std::int64_t runs = std::max<std::int64_t>(1, block_slots / std::max<std::int64_t>(batch, 1));
  return std::max<std::int64_t>(1, (live_tiles + runs - 1) / runs);
}

std::optional<std::string> indexer_decode_unsupported(int heads, int head_dim, std::int64_t queries, bool fp8, int batch) {
  if (!fp8) return "FP8 operands only";
  if (heads != kHeads || head_dim != kDim)
    return "built for 64 heads x 128 dims (got " + std::to_string(heads) + " x " + std::to_string(head_dim) + ")";
  if (queries > kMaxQueries)
    return "decode shapes: at most " + std::to_string(kMaxQueries) + " queries per sequence (got " +
           std::to_string(queries) + "; cuda.indexer.wgmma takes prefill)";
  if (batch < 1 || batch > 65535) return "batch must be in [1, 65535] (grid.y)";
  return std::nullopt;
}

void launch_indexer_decode(const IndexerLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("indexer.fp8.decode");
  if (auto why = indexer_decode_unsupported(p.heads, p.head_dim, p.queries, p.fp8, p.batch))
    throw CudaError("launch_indexer_decode: " + *why);
  if (p.queries == 0 || p.keys == 0) return;
  if (p.queries <= 2) launch_pairs<1>(p, stream);
  else launch_pairs<2>(p, stream);
}

}  // namespace dsa::cuda
