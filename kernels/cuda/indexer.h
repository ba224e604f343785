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

#ifdef __CUDACC__
#define DSA_INDEXER_HOST_DEVICE __host__ __device__
#else
#define DSA_INDEXER_HOST_DEVICE
#endif

// Keys query t may see: [0, end). (On the host too: launchers size their grids by it.)
DSA_INDEXER_HOST_DEVICE inline std::int64_t indexer_key_end(const IndexerLaunch& p, std::int64_t t) {
  if (!p.causal) return p.keys;
  const std::int64_t e = p.query_offset + t + 1;
  return e < 0 ? 0 : (e > p.keys ? p.keys : e);
}

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
// The same kernel with a clock per phase (kernels/cuda/phase_clock.cuh): thread 0 of each
// block adds the cycles of each phase to phase_sink() (phases.h), in the order of
// KeyrowsPhase; the events are KeyrowsEvent. Same scores. For the micro-benchmarks'
// phase tables, never picked by the registry.
void launch_indexer_keyrows_phases(const IndexerLaunch& p, cudaStream_t stream);
enum KeyrowsPhase : int {
  keyrows_phase_prologue,  // the -inf of keys no query reaches, the first copies, the weights (once per block)
  keyrows_phase_load,      // waiting for this thread's copies of the tile
  keyrows_phase_barrier,   // the barrier that makes every thread's copies visible
  keyrows_phase_issue,     // starting the copies of the tile kStages - 1 ahead
  keyrows_phase_units,     // the MMAs and the in-register sums over heads, overlapped, and the stores
  keyrows_phase_count
};
inline constexpr const char* kKeyrowsPhaseNames[keyrows_phase_count] = {"prologue", "load", "barrier", "issue", "units"};
enum KeyrowsEvent : int { keyrows_event_tiles };
// How many 128-key tiles one block of that kernel walks. Fewer (sequence, query group)
// units than `block_slots` (blocks per SM x SMs; decode): runs of equal length, so all
// the blocks are one wave; otherwise (prefill) runs of at most 16 tiles, many waves.
std::int64_t indexer_keyrows_tiles_per_block(std::int64_t sequences_x_groups, std::int64_t live_tiles,
                                             std::int64_t block_slots);

// How that kernel lays out a launch and its work, shared by the kernel, its launcher and
// the host test that checks every score is written exactly once.
constexpr int kKeyrowsTileKeys = 128;  // keys per tile
// Query pairs per block: one for decode's 1-2 queries, two for 3-4, four otherwise.
DSA_INDEXER_HOST_DEVICE inline int keyrows_pairs(std::int64_t queries) { return queries <= 2 ? 1 : queries <= 4 ? 2 : 4; }
// Key tiles the queries [t0, t0 + n) need: up to the last one's causal end.
DSA_INDEXER_HOST_DEVICE inline std::int64_t keyrows_live_tiles(const IndexerLaunch& p, std::int64_t t0, std::int64_t n) {
  return (indexer_key_end(p, t0 + n - 1) + kKeyrowsTileKeys - 1) / kKeyrowsTileKeys;
}
// The score lane `lane` of warp `warp` writes for the unit (half, pair) of a tile: the
// group's query `qi` and the key at `key` within the tile. The accumulator of a
// wgmma.m64n128 holds row 16 warp + g (+ 8) and columns 8 j + 2 tq (+ 1) in lane 4 g + tq
// (wgmma.cuh); after the 4 lanes of a row add their sums, lane tq keeps (row lo, first
// query), (hi, first), (lo, second), (hi, second) for tq = 0..3.
DSA_INDEXER_HOST_DEVICE inline void keyrows_slot(int half, int pair, int warp, int lane, int& qi, int& key) {
  const int g = lane >> 2, tq = lane & 3;
  qi = 2 * pair + (tq >> 1);
  key = 64 * half + 16 * warp + g + 8 * (tq & 1);
}
struct KeyrowsGrid {
  std::int64_t groups = 0;  // query groups of 2 x keyrows_pairs (grid.y)
  std::int64_t run = 1;     // key tiles per block
  std::int64_t chunks = 1;  // key runs per group (grid.x): at least one, which writes the -inf of keys no query reaches
};
// The launch for `p` on a GPU with `block_slots` resident blocks (blocks per SM x SMs).
KeyrowsGrid indexer_keyrows_grid(const IndexerLaunch& p, std::int64_t block_slots);

}  // namespace dsa::cuda
