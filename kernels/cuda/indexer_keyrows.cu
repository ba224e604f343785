// Lightning indexer on Hopper's warpgroup MMA with the keys as the MMA's rows, FP8 at the
// real shape only (64 heads x 128 dims), for decode and prefill shapes alike.
//
// Why a second wgmma kernel: cuda.indexer.wgmma makes the heads the MMA's rows (M) and
// the keys its columns (N), so the sum over heads runs across the warpgroup's threads:
// 28 shuffles per thread, query and key tile, partials through shared memory and two
// barriers per store phase ("the reduction taking about as long as the MMAs": 599
// TFLOP/s, 40% of the FP8 ceiling, at the 4096 x 64K prefill). In decode, a block holds
// one sequence's 1-2 queries in its 8 query slots and one 16 KB key tile in flight: in
// the H100's batch-64 decode sweep (2026-11-23) the indexer was DSA's largest stage from
// 32K on (373 of 639 us at 64K), streaming the keys at 1.53 TB/s, half the copy ceiling.
//
// Here D (64 keys x 128) = K_half (64 keys x 128 dims) * Q_pair^T, where the pair's 128
// rows are the 64 heads of two queries (a missing query's rows are zeros). A thread
// holds 2 key rows x 32 head columns of D (wgmma.cuh), so the ReLU, the head weights and
// the sum over its 16 heads of each query stay in its registers; the 4 lanes of a key row
// then add theirs with 2 shuffles (all 4 get the same bits: each sum is the same two
// pairwise adds in commuted order), and lane tq writes one of the row pair's 2 x 2
// scores straight to memory. Per 128-key tile: 2 (halves) x pairs units of four
// wgmma.m64n128k32, two accumulator sets, so one unit's MMAs run while the previous
// unit is reduced.
//
// A block (one warpgroup) holds a group of up to 8 queries (kPairs pairs) and walks a
// run of key tiles of one sequence through a ring of kStages cp.async stages: 1 or 2
// pairs (decode's 1-4 queries) with 4 stages (48 KB in flight), 4 pairs (Q 64 KB) with
// 2. Where the (sequence, group) units are fewer than the GPU's block slots (decode, a
// 512-query prefill chunk) the runs are sized so all blocks are one wave; where they
// outnumber them (the 4096-query target) runs of up to 16 tiles in many waves, as the
// prefill kernel does, so the causal triangle's long and short groups balance
// (indexer_keyrows_tiles_per_block). Written without a GPU on
// 2026-12-05: not yet run.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/indexer.h"

#include <algorithm>
#include <cstdint>

#include "core/trace.h"
#include "kernels/cuda/indexer_common.cuh"
#include "kernels/cuda/indexer_wgmma.cuh"
#include "kernels/cuda/phase_clock.cuh"
#include "kernels/cuda_device.h"

namespace dsa::cuda {

namespace {

using namespace indexer_wgmma;

constexpr int kMaxPairs = 4;  // 8 queries per block
static_assert(kKeys == kKeyrowsTileKeys, "indexer.h's tile size is the kernel's");
constexpr int kMaxRunTiles = 16;  // prefill's runs (many query groups): as cuda.indexer.wgmma

// Shared memory of a block with kPairs query pairs and kStages key tiles: Q, the ring,
// the folded weights, 1 KB of slack to align the base to 1024.
template <int kPairs, int kStages>
struct Layout {
  static constexpr std::size_t kQBytes = static_cast<std::size_t>(2 * kPairs) * kHeads * kRow;
  static constexpr std::size_t kKOff = kQBytes;
  static constexpr std::size_t kWOff = kKOff + kStages * kTile;
  static constexpr std::size_t kSmem = kWOff + sizeof(float) * 2 * kPairs * kHeads + 1024;
  static_assert(2 * (kSmem + 1024) <= 228 * 1024, "two blocks per SM");
};

// One unit's scores: D = the key rows [64 half, + 64) of the tile starting at s0 against
// the group's queries 2 pair and 2 pair + 1 (columns [0, 64) and [64, 128) of D). `wq`
// holds the pair's 128 folded weights (w * q_scale), column for column; `t0` is the
// group's first query, `nq` its query count.
__device__ __forceinline__ void store_unit(const float (&acc)[64], const float* wq, const IndexerLaunch& p,
                                           std::int64_t t0, int nq, std::int64_t s0, int half, int pair, int warp,
                                           int lane) {
  const int tq = lane & 3;
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
  int qi, key;
  keyrows_slot(half, pair, warp, lane, qi, key);
  const std::int64_t s = s0 + key;
  if (qi < nq && s < p.keys) {
    const std::int64_t t = t0 + qi;
    p.scores[t * p.keys + s] = s < indexer_key_end(p, t) ? sum * p.k_scale[s] : DSA_MINUS_INF;
  }
}

// kPhases: thread 0 of each block adds each phase's cycles to `sink` (phase_clock.cuh).
template <int kPairs, int kStages, bool kPhases = false>
__global__ void __launch_bounds__(kThreads, 2) indexer_keyrows_kernel(IndexerLaunch p, std::int64_t run,
                                                                      unsigned long long* sink) {
  using L = Layout<kPairs, kStages>;
  constexpr int kGroup = 2 * kPairs;  // queries per block
  indexer_select_sequence(p, blockIdx.z, kRow);  // this block's sequence of the batch
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  PhaseClock<kPhases> clock(sink, tid == 0);
  const std::int64_t t0 = static_cast<std::int64_t>(blockIdx.y) * kGroup;
  const int nq = static_cast<int>(min(static_cast<std::int64_t>(kGroup), p.queries - t0));
  // Keys past the group's last causal bound are -inf for all its queries: written (by
  // the group's blocks in turn), never multiplied.
  const std::int64_t live_tiles = keyrows_live_tiles(p, t0, nq);
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * kThreads;
  for (std::int64_t s = live_tiles * kKeys + blockIdx.x * kThreads + tid; s < p.keys; s += stride)
    for (int qi = 0; qi < nq; ++qi) p.scores[(t0 + qi) * p.keys + s] = DSA_MINUS_INF;
  const std::int64_t first = blockIdx.x * run;
  const std::int64_t count = min(run, live_tiles - first);
  if (count <= 0) return;

  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_aligned_1024(smem_raw);
  unsigned char* qs = base;
  unsigned char* ks = base + L::kKOff;
  float* wq = reinterpret_cast<float*>(base + L::kWOff);

  // The group's Q rows (row r = head r % 64 of query r / 64; a missing query's rows
  // zero-filled), then the ring's first tiles, one commit group per tile (Q with the
  // first), so the wait below counts tiles.
  constexpr int kChunks = kRow / 16;
  const auto* qg = static_cast<const unsigned char*>(p.q) + t0 * kHeads * kRow;
  for (int i = tid; i < kGroup * kHeads * kChunks; i += kThreads) {
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
  for (int i = tid; i < kGroup * kHeads; i += kThreads) {  // [query][head], as p.w
    const std::int64_t idx = t0 * kHeads + i;
    wq[i] = i / kHeads < nq ? p.w[idx] * p.q_scale[idx] : 0.0f;  // the q scale folds into the weight
  }

  const auto desc_q = [&](int pair) { return tile_desc(qs + static_cast<std::size_t>(pair) * 2 * kHeads * kRow); };
  float acc_a[64], acc_b[64];  // a: the tile's first 64 keys, b: the other 64, of one pair
  clock.lap(keyrows_phase_prologue);
  for (std::int64_t i = 0; i < count; ++i) {
    cp_async_wait<kStages - 2>();  // tile i (and Q) have landed for this thread
    clock.lap(keyrows_phase_load);
    // The tensor cores read shared memory through the async proxy: order this thread's
    // copies (and the weights' stores) before them; the barrier makes everyone's
    // visible, and says every warp's MMAs of tile i - 1 are done (each waited for its
    // own), so that tile's stage can be refilled.
    fence_proxy_async();
    __syncthreads();
    clock.lap(keyrows_phase_barrier);
    if (i + kStages - 1 < count) {
      const std::int64_t t = first + i + kStages - 1;
      load_key_tile(ks + ((i + kStages - 1) % kStages) * kTile, kg, t * kKeys, tile_keys(t), tid);
    }
    cp_async_commit();
    clock.lap(keyrows_phase_issue);

    const unsigned char* tile = ks + (i % kStages) * kTile;
    const std::int64_t s0 = (first + i) * kKeys;
    const std::uint64_t desc_lo = tile_desc(tile), desc_hi = tile_desc(tile + 64 * kRow);
    // Units (half 0, pair 0), (1, 0), (0, 1), (1, 1), ...: each unit's MMAs run while the
    // one before it is reduced.
    issue_scores(acc_a, true, desc_lo, desc_q(0));
#pragma unroll
    for (int pair = 0; pair < kPairs; ++pair) {
      issue_scores(acc_b, true, desc_hi, desc_q(pair));
      wgmma_wait<1>();
      fence_operands(acc_a);
      store_unit(acc_a, wq + pair * 2 * kHeads, p, t0, nq, s0, 0, pair, warp, lane);
      if (pair + 1 < kPairs) {
        issue_scores(acc_a, true, desc_lo, desc_q(pair + 1));
        wgmma_wait<1>();
      } else {
        wgmma_wait<0>();
      }
      fence_operands(acc_b);
      store_unit(acc_b, wq + pair * 2 * kHeads, p, t0, nq, s0, 1, pair, warp, lane);
    }
    clock.lap(keyrows_phase_units);
  }
  clock.count(keyrows_event_tiles, static_cast<unsigned long long>(count));
  clock.done();
  cp_async_wait<0>();
}

template <int kPairs, int kStages, bool kPhases>
void launch_shape(const IndexerLaunch& p, cudaStream_t stream) {
  using L = Layout<kPairs, kStages>;
  auto* kernel = indexer_keyrows_kernel<kPairs, kStages, kPhases>;
  DSA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(L::kSmem)));
  // Blocks resident on the whole GPU, asked once per instantiation: the launcher runs
  // inside the timed interval (between the CUDA events), so no per-launch query.
  static const std::int64_t slots = [kernel] {
    int per_sm = 0;
    DSA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, L::kSmem));
    return static_cast<std::int64_t>(std::max(per_sm, 1)) * cuda_sm_count();
  }();
  const KeyrowsGrid g = indexer_keyrows_grid(p, slots);
  if (g.chunks > 0x7FFFFFFFll) throw CudaError("launch_indexer_keyrows: more key runs than the grid holds");
  kernel<<<dim3(static_cast<unsigned>(g.chunks), static_cast<unsigned>(g.groups), static_cast<unsigned>(p.batch)),
           kThreads, L::kSmem, stream>>>(p, g.run, kPhases ? phase_sink() : nullptr);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::int64_t indexer_keyrows_tiles_per_block(std::int64_t sequences_x_groups, std::int64_t live_tiles, std::int64_t block_slots) {
  const std::int64_t units = std::max<std::int64_t>(sequences_x_groups, 1);
  if (units >= block_slots)  // prefill (or a batch beyond the slots): short runs, many waves, balanced
    return std::max<std::int64_t>(1, std::min<std::int64_t>(live_tiles, kMaxRunTiles));
  // Decode: every block streams through its own ring, so one wave of blocks keeps the
  // memory system busy, and a second, partial wave would leave most SMs idle while it
  // runs. So the units share the slots: floor(slots / units) runs each, of equal length.
  const std::int64_t runs = block_slots / units;
  return std::max<std::int64_t>(1, (live_tiles + runs - 1) / runs);
}

KeyrowsGrid indexer_keyrows_grid(const IndexerLaunch& p, std::int64_t block_slots) {
  KeyrowsGrid g;
  const std::int64_t group = 2 * keyrows_pairs(p.queries);
  g.groups = (p.queries + group - 1) / group;
  // The last group reaches furthest: its live tiles bound every group's.
  const std::int64_t live_tiles = p.queries > 0 ? keyrows_live_tiles(p, 0, p.queries) : 0;
  g.run = p.key_tiles_per_block > 0 ? p.key_tiles_per_block
                                    : indexer_keyrows_tiles_per_block(g.groups * p.batch, live_tiles, block_slots);
  g.chunks = std::max<std::int64_t>(1, (live_tiles + g.run - 1) / g.run);
  return g;
}

std::optional<std::string> indexer_keyrows_unsupported(int heads, int head_dim, std::int64_t queries, bool fp8, int batch) {
  if (!fp8) return "FP8 operands only";
  if (heads != kHeads || head_dim != kDim)
    return "built for 64 heads x 128 dims (got " + std::to_string(heads) + " x " + std::to_string(head_dim) + ")";
  if (batch < 1 || batch > 65535) return "batch must be in [1, 65535] (grid.z)";
  if ((queries + 2 * kMaxPairs - 1) / (2 * kMaxPairs) > 65535)
    return "more than " + std::to_string(65535 * 2 * kMaxPairs) + " queries per sequence (grid.y)";
  return std::nullopt;
}

namespace {

template <bool kPhases>
void launch_keyrows(const IndexerLaunch& p, cudaStream_t stream, const char* who) {
  if (auto why = indexer_keyrows_unsupported(p.heads, p.head_dim, p.queries, p.fp8, p.batch))
    throw CudaError(std::string(who) + ": " + *why);
  if (p.queries == 0 || p.keys == 0) return;
  switch (keyrows_pairs(p.queries)) {
    case 1: launch_shape<1, 4, kPhases>(p, stream); break;  // decode: one pair, 3 tiles in flight
    case 2: launch_shape<2, 4, kPhases>(p, stream); break;  // decode of 3-4 tokens
    default: launch_shape<4, 2, kPhases>(p, stream);        // prefill: Q of 8 queries (64 KB) leaves room for 2 tiles
  }
}

}  // namespace

void launch_indexer_keyrows(const IndexerLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("indexer.fp8.keyrows");
  launch_keyrows<false>(p, stream, "launch_indexer_keyrows");
}

void launch_indexer_keyrows_phases(const IndexerLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("indexer.fp8.keyrows.phases");
  launch_keyrows<true>(p, stream, "launch_indexer_keyrows_phases");
}

}  // namespace dsa::cuda
