// MQA-mode attention (sparse MLA and the dense decode baseline) on warpgroup MMA with
// the two warpgroups taking turns ("seesaw" order, as described in FlashMLA's
// 2025-04-22 deep-dive), bf16 cache only. Same grid, splits and outputs as the
// lock-step kernel (attention_mqa_wgmma.cu), which measured 334 TFLOP/s in sparse
// prefill but 894 GB/s (216 TFLOP/s of work) in dense decode on the H100, against
// the 2,090 GB/s the dense decode target asks: there both warpgroups compute half of
// one tile's scores (m64n32k16, re-reading all of Q from shared memory per 32 keys),
// then wait for each other twice per tile, so the tensor cores idle through every
// softmax and barrier.
//
// Here each warpgroup computes the scores of its own 64-key tile (m64n64k16 over all
// 576 columns): warpgroup 0 tile A, warpgroup 1 tile B of each round of two tiles. O
// stays split by value columns (warpgroup w owns 256 w .. 256 w + 255). Per round, with
// m the running row maximum both warpgroups keep (log2 domain):
//   wg0: S_A = Q K_A^T; mA = max(m, rowmax S_A);     wg1: S_B = Q K_B^T
//        P_A = exp2(S_A - mA) -> wg1 (with mA)
//        O_L = O_L a0 + P_A V_A,L                    wg1: O_R = O_R a0 + P_A V_A,R, and
//                                                         while it runs: mB = max(mA,
//                                                         rowmax S_B), P_B = exp2(S_B - mB)
//                                                         -> wg0 (with mB); O_R *= a1
//   wg0: O_L = O_L a1 + P_B V_B,L                    wg1: O_R += P_B V_B,R
// with a0 = exp2(m - mA), a1 = exp2(mA - mB); each warpgroup keeps the row sum of its
// own P (rescaled the same way) and the two meet at the end. One warpgroup's softmax
// runs while the other's products (or its own P_A V_A,R) run, and no step waits for
// both warpgroups at once. (FlashMLA's 2025-04-22 deep-dive describes a "seesaw"
// order of this kind; this one lets wg1 take P_A before mB is known, so tile A is
// done with half-way through the round.)
//
// Shared memory: Q 64 x 576 bf16 (72 KB) and the two key tiles (72 KB each), all
// 128-byte swizzled as in the lock-step kernel (216 KB of 227). No room for a third
// tile, so the next round's tiles load into the same two buffers, each part as soon as
// its last reader is done: tile A's blocks 0-3 (value columns 0-255) after wg0's
// P_A V_A,L, blocks 4-8 after wg1's P_A V_A,R (mid-round); tile B's blocks 4-7 after
// wg1's P_B V_B,R, the rest after wg0's P_B V_B,L (end of round). Each part is loaded
// by the warpgroup that frees it (cp.async, two threads per row) and completes an
// mbarrier, so a reader waits for exactly the blocks it needs; wg1 computes S_B
// starting with blocks 4-7, which arrive first. P of a tile is written into its block
// 8 (columns 512-575, which only the scores read), so no shared memory is spent on P.
//
// Hand-offs between the warpgroups use named barriers (the producer arrives and goes
// on, the consumer syncs): kBarMax0 (mA and P_A), kBarMax1 (mB and P_B), kBarAFree (wg0
// is past P_A V_A,L: wg1 may refill tile A's block 8), kBarBFree (wg1 is past
// P_B V_B,R: wg0 may refill tile B's block 8). Every producer arrival of round r + 1
// comes after its consumer's sync of round r (each chain passes through the other
// warpgroup), so no barrier is ever two rounds ahead.
//
// The hand-offs (named barriers, mbarrier phases, which part of which tile is read while
// another is refilled or overwritten by P) are model-checked over every interleaving of
// the warps by tests/models/seesaw_handoffs.pml (spin; ctest seesaw_handoffs_model),
// which found that warpgroup 0 wrote P_A before all its warps' S_A were done reading
// block 8: a change to a hand-off here needs the same change there.
//
// Written without a GPU on 2026-11-23 (sixth session): not yet run. Listed after the
// lock-step kernel in the registry, so nothing picks it until it has been validated.
#include "kernels/cuda/attention.h"

#include <cuda_bf16.h>

#include <string>
#include <type_traits>

#include "core/trace.h"
#include "kernels/cuda/attention_mqa_common.cuh"
#include "kernels/cuda/attention_mqa_wgmma.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/phase_clock.cuh"
#include "kernels/cuda/sync.cuh"
#include "kernels/cuda/tma.h"
#include "kernels/cuda/wgmma.cuh"

namespace dsa::cuda {

namespace {

using namespace mqa_wgmma;

constexpr int kPBlock = kDqk / 64 - 1;     // block 8 (the rope columns): P once the scores are done
constexpr int kRowBytes = kDqk * 2;

constexpr std::size_t kQOff = 0;
constexpr std::size_t kAOff = kTileBytes;
constexpr std::size_t kBOff = 2 * kTileBytes;
constexpr std::size_t kBarOff = 3 * kTileBytes;                         // 4 mbarriers
constexpr std::size_t kMaxOff = kBarOff + 4 * sizeof(std::uint64_t);    // mA [64], mB [64]
constexpr std::size_t kSumOff = kMaxOff + 2 * 64 * sizeof(float);       // row sums [2 warpgroups][64]
constexpr std::size_t kKeyOff = kSumOff + 2 * 64 * sizeof(float);       // key of each row of A, B [2][64]
constexpr std::size_t kSmem = kKeyOff + 2 * 64 * sizeof(int) + 1024;   // + slack to align the base to 1024
static_assert(kSmem <= 232448, "Hopper's 227 KB of shared memory per block");

// Named barriers (0 is __syncthreads); kBarWg + w is warpgroup w's own.
enum : int { kBarMax0 = 1, kBarMax1 = 2, kBarAFree = 3, kBarBFree = 4, kBarWg = 5 };
// The mbarriers: one per part of a tile that one warpgroup loads.
enum : int { kALo = 0, kAHi = 1, kBLo = 2, kBHi = 3 };
// The 64-column blocks of each part (bit c = block c).
constexpr unsigned kALoBlocks = 0x00Fu;  // A 0-3: wg0, after its P_A V_A,L
constexpr unsigned kAHiBlocks = 0x1F0u;  // A 4-8: wg1, after its P_A V_A,R and wg0's P_A V_A,L
constexpr unsigned kBHiBlocks = 0x0F0u;  // B 4-7: wg1, after its P_B V_B,R
constexpr unsigned kBLoBlocks = 0x10Fu;  // B 0-3 and 8: wg0, after its P_B V_B,L and wg1's P_B V_B,R

// Starts the copy of blocks kBlocks of key tile `step` (row i / 2 of the tile from
// this warpgroup's thread i, alternate 16-byte units from the two threads of a row),
// records each row's key in `keys` when given, and arrives on `bar` once the copies
// have landed. Rows without a key (and every row of a step at or past b_end) are
// zero-filled without reading the cache.
template <unsigned kBlocks, bool kSparse>
__device__ __forceinline__ void load_part(const MqaLaunch& p, std::int64_t t, std::int64_t kv_base, std::int64_t slots,
                                          std::int64_t step, std::int64_t b_end, unsigned char* tile,
                                          std::uint64_t* bar, int* keys) {
  const int i = threadIdx.x & 127, row = i >> 1, half = i & 1;
  const int s = step < b_end ? mqa_wgmma::key_of<kSparse>(p, t, slots, step, row) : -1;
  if (keys != nullptr && half == 0) keys[row] = s;
  const int bytes = s >= 0 ? 16 : 0;
  const auto* src = static_cast<const unsigned char*>(p.kv) + (kv_base + (s >= 0 ? s : 0)) * kRowBytes;
#pragma unroll
  for (int c = 0; c < kDqk / 64; ++c)
    if ((kBlocks >> c) & 1u)
#pragma unroll
      for (int u = half; u < 8; u += 2) cp_async16(tile + tile_offset(row, c * 8 + u), src + (c * 8 + u) * 16, bytes);
  cp_async_commit();
  mbar_arrive_on_cp_async(bar);
}

// load_part through the tensor memory accelerator (kTma: dense caches, whose tiles are
// consecutive cache rows; FlashMLA's decode kernel loads its 64 x 576 blocks so, as
// 9 boxes of 64 x 64): thread 0 of the warpgroup announces the part's bytes on `bar` and
// starts one box copy per 64-column block (rows step * 64 .. of sequence `seq`), and
// the key of each row is recorded as load_part does. The map ends at the launch's last
// causal end: rows past it arrive as zeros, so a cache's unused rows are never read;
// rows before it that this block does not attend are real cache rows (finite), masked
// by their -1 key. Only called with rounds > 0, so b_end > 0.
template <unsigned kBlocks>
__device__ __forceinline__ void load_part_tma(const MqaLaunch& p, std::int64_t t, std::int64_t seq, std::int64_t slots,
                                              std::int64_t step, std::int64_t b_end, unsigned char* tile,
                                              std::uint64_t* bar, int* keys, const CUtensorMap* tmap) {
  const int i = threadIdx.x & 127, row = i >> 1, half = i & 1;
  if (keys != nullptr && half == 0) keys[row] = step < b_end ? mqa_wgmma::key_of<false>(p, t, slots, step, row) : -1;
  if (i == 0) {
    // An empty step (an odd last tile B) loads the block's last real step again, masked
    // by its -1 keys, rather than a box wholly outside the map.
    const auto y = static_cast<int>((step < b_end ? step : b_end - 1) * kKeys);
    mbar_arrive_expect_tx(bar, static_cast<std::uint32_t>(__popc(kBlocks) * kBlockBytes));
#pragma unroll
    for (int c = 0; c < kDqk / 64; ++c)
      if ((kBlocks >> c) & 1u) tma_load_3d(tile + c * kBlockBytes, tmap, c * 64, y, static_cast<int>(seq), bar);
  }
}

// S (+)= Q K^T over the 64-column blocks c in [c0, c1) of the tile (4 wgmma each).
__device__ __forceinline__ void score_blocks(float (&s)[32], std::uint64_t desc_q, std::uint64_t desc_k, int c0, int c1,
                                             bool first) {
#pragma unroll
  for (int c = c0; c < c1; ++c)
#pragma unroll
    for (int k = 0; k < 4; ++k) {  // 16 columns (32 bytes) per wgmma: +2 in the address field
      const std::uint64_t step = static_cast<std::uint64_t>((c * kBlockBytes + k * 32) >> 4);
      wgmma_m64n64k16_bf16(s, desc_q + step, desc_k + step, (first && c == c0 && k == 0) ? 0 : 1);
    }
}

// P = exp2(S - base) in place; returns this thread's share of the row sums.
__device__ __forceinline__ float2 exponentiate(float (&s)[32], float base_lo, float base_hi) {
  float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    s[4 * j] = exp2f(s[4 * j] - base_lo);
    s[4 * j + 1] = exp2f(s[4 * j + 1] - base_lo);
    s[4 * j + 2] = exp2f(s[4 * j + 2] - base_hi);
    s[4 * j + 3] = exp2f(s[4 * j + 3] - base_hi);
    sum_lo += s[4 * j] + s[4 * j + 1];
    sum_hi += s[4 * j + 2] + s[4 * j + 3];
  }
  return make_float2(sum_lo, sum_hi);
}

// P (bf16) into block 8 of the tile, the layout of a K-major A operand: keys
// 8 j + 2 tq + {0, 1} of rows lo / hi are 16-byte unit j of the row, bytes 4 tq.
__device__ __forceinline__ void write_p(unsigned char* tile, const float (&s)[32], int row_lo, int row_hi, int tq) {
  unsigned char* pt = tile + kPBlock * kBlockBytes;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    *reinterpret_cast<std::uint32_t*>(pt + sw128_offset(row_lo, j) + 4 * tq) = pack_bf16x2(s[4 * j], s[4 * j + 1]);
    *reinterpret_cast<std::uint32_t*>(pt + sw128_offset(row_hi, j) + 4 * tq) = pack_bf16x2(s[4 * j + 2], s[4 * j + 3]);
  }
}

// kTma: dense only, the key tiles by TMA (load_part_tma) instead of cp.async. kPhases:
// thread 0 of each warpgroup times its phases (SeesawPhase, attention.h).
template <bool kSparse, bool kTma = false, bool kPhases = false>
__global__ void __launch_bounds__(kThreads, 1)
    mqa_seesaw_kernel(MqaLaunch p, const __grid_constant__ CUtensorMap tmap, unsigned long long* sink) {
  static_assert(!(kSparse && kTma), "TMA boxes need consecutive rows: dense caches only");
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_aligned_1024(smem_raw);
  unsigned char* qs = base + kQOff;
  unsigned char* ta = base + kAOff;
  unsigned char* tb = base + kBOff;
  auto* bars = reinterpret_cast<std::uint64_t*>(base + kBarOff);
  float* xmax = reinterpret_cast<float*>(base + kMaxOff);  // [0, 64): mA, [64, 128): mB
  float* red_sum = reinterpret_cast<float*>(base + kSumOff);
  int* keys_a = reinterpret_cast<int*>(base + kKeyOff);
  int* keys_b = keys_a + kKeys;

  const int groups = p.heads / kHeads;
  const std::int64_t t = blockIdx.x / groups;
  const int h0 = static_cast<int>(blockIdx.x % groups) * kHeads;
  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31, tq = lane & 3;
  const int row_lo = 16 * warp + (lane >> 2), row_hi = row_lo + 8;  // this thread's accumulator rows (heads)

  const MqaBlockKeys range = mqa_block_keys<kKeys>(p, t);
  const std::int64_t kv_base = range.kv_base, slots = range.slots, b_first = range.b_first, b_end = range.b_end;
  const std::int64_t rounds = b_end > b_first ? (b_end - b_first + 1) / 2 : 0;  // an odd last tile B is empty
  const std::int64_t seq = p.seq_queries > 0 ? t / p.seq_queries : 0;  // the map's third coordinate
  const auto load = [&](auto blocks, std::int64_t step, unsigned char* tile, int bar, int* keys) {
    if constexpr (kTma)
      load_part_tma<decltype(blocks)::value>(p, t, seq, slots, step, b_end, tile, &bars[bar], keys, &tmap);
    else
      load_part<decltype(blocks)::value, kSparse>(p, t, kv_base, slots, step, b_end, tile, &bars[bar], keys);
  };
  using ALo = std::integral_constant<unsigned, kALoBlocks>;
  using AHi = std::integral_constant<unsigned, kAHiBlocks>;
  using BLo = std::integral_constant<unsigned, kBLoBlocks>;
  using BHi = std::integral_constant<unsigned, kBHiBlocks>;

  if (tid == 0) {
    for (int i = 0; i < 4; ++i) mbar_init(&bars[i], kTma ? 1 : 128);  // TMA: one arrival with the bytes
    if constexpr (kTma) fence_mbarrier_init();
  }
  __syncthreads();
  if (rounds > 0) {  // Q (head rows h0 ..), then round 0's tiles, each part from the warpgroup that will refill it
    const int lrow = tid >> 2, lpart = tid & 3;
    const auto* qg = reinterpret_cast<const unsigned char*>(p.q) + (t * p.heads + h0 + lrow) * kRowBytes;
    for (int u = lpart; u < kUnits; u += 4) cp_async16(qs + tile_offset(lrow, u), qg + u * 16, 16);
    cp_async_commit();
    if (wg == 0) {
      load(ALo{}, b_first, ta, kALo, keys_a);
      load(BLo{}, b_first + 1, tb, kBLo, nullptr);
    } else {
      load(AHi{}, b_first, ta, kAHi, nullptr);
      load(BHi{}, b_first + 1, tb, kBHi, keys_b);
    }
    if constexpr (kTma) cp_async_wait<0>();  // Q has landed; the tiles complete their mbarriers
    else cp_async_wait<2>();
    fence_proxy_async();
  }
  __syncthreads();

  float acc[128];  // O: rows row_lo / row_hi, value columns 256 wg + 8 j + 2 tq + {0, 1}
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
  float m_lo = DSA_MINUS_INF, m_hi = DSA_MINUS_INF;  // running maxima (log2 domain), equal in both warpgroups
  float l_lo = 0.0f, l_hi = 0.0f;                     // row sums of this warpgroup's own P, this thread's share
  const float sl2 = p.scale * kLog2e;
  const std::uint64_t desc_q = wgmma_desc_sw128(qs, 16, 1024);
  const std::uint64_t desc_a = wgmma_desc_sw128(ta, 16, 1024), desc_b = wgmma_desc_sw128(tb, 16, 1024);

  PhaseClock<kPhases> clock(sink, (tid & 127) == 0);
  for (std::int64_t r = 0; r < rounds; ++r) {
    const auto parity = static_cast<std::uint32_t>(r & 1);
    const std::int64_t next_a = b_first + 2 * r + 2;  // the next round's tiles, if any
    const bool more = r + 1 < rounds;
    float s[32] = {};  // overwritten: the first wgmma does not accumulate
    if (wg == 0) {
      // S_A, blocks 0-3 as soon as they are in, then 4-8.
      mbar_wait(&bars[kALo], parity);
      clock.lap(seesaw_wg0_wait_a);
      fence_proxy_async();  // cp.async wrote through the generic proxy; wgmma reads through the async one
      fence_operands(s);
      wgmma_fence();
      score_blocks(s, desc_q, desc_a, 0, 4, true);
      mbar_wait(&bars[kAHi], parity);
      fence_proxy_async();
      wgmma_fence();  // the wait loop sits between the products of one accumulator
      score_blocks(s, desc_q, desc_a, 4, kDqk / 64, false);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(s);
      clock.lap(seesaw_wg0_scores_a);
      const float2 mx = mask_and_max(s, keys_a, sl2, tq);
      const OnlineStep a_lo = online_step(m_lo, mx.x), a_hi = online_step(m_hi, mx.y);  // m = mA
      if (tq == 0) {
        xmax[row_lo] = m_lo;
        xmax[row_hi] = m_hi;
      }
      const float2 sum = exponentiate(s, a_lo.base, a_hi.base);
      // P_A goes where tile A's rope columns were, which every warp's share of S_A reads
      // as its B operand: a warp's wgmma wait covers its own share only, so no warp may
      // write P_A before all four are done reading (warpgroup 1 has kBarMax0 here).
      bar_sync(kBarWg, 128);
      write_p(ta, s, row_lo, row_hi, tq);
      l_lo = l_lo * a_lo.alpha + sum.x;
      l_hi = l_hi * a_hi.alpha + sum.y;
      scale_accumulator_rows(acc, a_lo.alpha, a_hi.alpha);
      fence_proxy_async();
      bar_arrive(kBarMax0, kThreads);  // mA and P_A, for warpgroup 1
      bar_sync(kBarWg, 128);           // all of P_A is written
      clock.lap(seesaw_wg0_softmax_a);
      add_pv(acc, ta + kPBlock * kBlockBytes, ta);  // O_L += P_A V_A,L
      clock.lap(seesaw_wg0_pv_a);
      if (more) {
        bar_sync(kBarWg, 128);            // every warp is past it: A's blocks 0-3 are free
        bar_arrive(kBarAFree, kThreads);  // ... and its block 8 (P_A) as far as warpgroup 0 goes
        load(ALo{}, next_a, ta, kALo, keys_a);
      }
      clock.lap(seesaw_wg0_refill_a);
      bar_sync(kBarMax1, kThreads);  // mB and P_B from warpgroup 1
      clock.lap(seesaw_wg0_wait_max_b);
      const OnlineStep b_lo = online_step(m_lo, xmax[64 + row_lo]), b_hi = online_step(m_hi, xmax[64 + row_hi]);
      l_lo *= b_lo.alpha;
      l_hi *= b_hi.alpha;
      scale_accumulator_rows(acc, b_lo.alpha, b_hi.alpha);
      mbar_wait(&bars[kBLo], parity);
      fence_proxy_async();
      add_pv(acc, tb + kPBlock * kBlockBytes, tb);  // O_L += P_B V_B,L
      clock.lap(seesaw_wg0_pv_b);
      if (more) {
        bar_sync(kBarBFree, kThreads);  // every warp of both is past its P_B V_B: B's blocks 0-3 and 8 are free
        load(BLo{}, next_a + 1, tb, kBLo, nullptr);
      }
      clock.lap(seesaw_wg0_refill_b);
    } else {
      // S_B, blocks 4-7 first (loaded earlier in the previous round), then 0-3 and 8.
      mbar_wait(&bars[kBHi], parity);
      clock.lap(seesaw_wg1_wait_b);
      fence_proxy_async();
      fence_operands(s);
      wgmma_fence();
      score_blocks(s, desc_q, desc_b, 4, 8, true);
      mbar_wait(&bars[kBLo], parity);
      fence_proxy_async();
      wgmma_fence();
      score_blocks(s, desc_q, desc_b, 0, 4, false);
      score_blocks(s, desc_q, desc_b, 8, kDqk / 64, false);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(s);
      clock.lap(seesaw_wg1_scores_b);
      bar_sync(kBarMax0, kThreads);  // mA and P_A from warpgroup 0
      clock.lap(seesaw_wg1_wait_max_a);
      // keys_b after a barrier of all of warpgroup 1: its rows were recorded at the end of
      // the last round by other threads, and the tile's mbarrier (a cp.async arrival) is
      // not documented to order plain shared-memory stores before it. The same barrier has
      // every warp of warpgroup 1 done reading tile B's block 8 (S_B) before any writes
      // P_B there.
      const float2 mx = mask_and_max(s, keys_b, sl2, tq);
      const OnlineStep a_lo = online_step(m_lo, xmax[row_lo]), a_hi = online_step(m_hi, xmax[row_hi]);  // m = mA
      scale_accumulator_rows(acc, a_lo.alpha, a_hi.alpha);
      mbar_wait(&bars[kAHi], parity);
      fence_proxy_async();
      // O_R += P_A V_A,R, issued; the softmax of S_B runs while it does.
      issue_pv(acc, ta + kPBlock * kBlockBytes, ta + 4 * kBlockBytes);
      const OnlineStep b_lo = online_step(m_lo, mx.x), b_hi = online_step(m_hi, mx.y);  // m = mB
      if (tq == 0) {
        xmax[64 + row_lo] = m_lo;
        xmax[64 + row_hi] = m_hi;
      }
      const float2 sum = exponentiate(s, b_lo.base, b_hi.base);
      write_p(tb, s, row_lo, row_hi, tq);
      l_lo = l_lo * (a_lo.alpha * b_lo.alpha) + sum.x;
      l_hi = l_hi * (a_hi.alpha * b_hi.alpha) + sum.y;
      fence_proxy_async();
      bar_arrive(kBarMax1, kThreads);  // mB and P_B, for warpgroup 0
      wgmma_wait_all();
      fence_operands(acc);
      scale_accumulator_rows(acc, b_lo.alpha, b_hi.alpha);
      clock.lap(seesaw_wg1_pv_a_softmax_b);
      bar_sync(kBarWg + 1, 128);  // all of P_B is written; every warp is past P_A V_A,R
      if (more) {
        bar_sync(kBarAFree, kThreads);  // warpgroup 0 is past P_A V_A,L: A's blocks 4-8 are free
        load(AHi{}, next_a, ta, kAHi, nullptr);
      }
      clock.lap(seesaw_wg1_free_a);
      add_pv(acc, tb + kPBlock * kBlockBytes, tb + 4 * kBlockBytes);  // O_R += P_B V_B,R
      clock.lap(seesaw_wg1_pv_b);
      if (more) {
        bar_sync(kBarWg + 1, 128);  // every warp is past it: B's blocks 4-7 are free
        bar_arrive(kBarBFree, kThreads);
        load(BHi{}, next_a + 1, tb, kBHi, keys_b);
      }
      clock.lap(seesaw_wg1_refill_b);
    }
  }

  store_rows(p, t, h0, acc, m_lo, m_hi, l_lo, l_hi, red_sum, wg, row_lo, row_hi, tq);
  clock.lap(wg == 0 ? seesaw_wg0_epilogue : seesaw_wg1_epilogue);
  if (wg == 0) {  // once per block: the rounds and the block
    clock.count(seesaw_event_rounds, static_cast<unsigned long long>(rounds));
    clock.count(seesaw_event_blocks, 1);
  }
  clock.done();
}

template <bool kSparse, bool kTma = false, bool kPhases = false>
void launch_typed(const MqaLaunch& p, cudaStream_t stream) {
  CUtensorMap map{};  // unused without kTma
  if constexpr (kTma) map = mqa_dense_cache_map(p, kKeys, "launch_mqa_seesaw_tma");
  launch_grid(mqa_seesaw_kernel<kSparse, kTma, kPhases>, kSmem, p, stream, map, kPhases ? phase_sink() : nullptr);
}

}  // namespace

std::optional<std::string> mqa_seesaw_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse,
                                                  bool fp8_cache) {
  if (fp8_cache) return "bf16 cache only (the FP8 rows' staging area does not fit beside two key tiles)";
  return mqa_wgmma_unsupported(heads, d_qk, d_v, topk, sparse);
}

namespace {

template <bool kTma, bool kPhases>
void launch_checked(const MqaLaunch& p, cudaStream_t stream, const char* who) {
  if (kTma && p.indices) throw CudaError(std::string(who) + ": dense attention only (TMA boxes need consecutive rows)");
  if (auto why = mqa_seesaw_unsupported(p.heads, p.d_qk, p.d_v, p.topk, p.indices != nullptr, p.fp8_cache))
    throw CudaError(std::string(who) + ": " + *why);
  if (auto why = mqa_launch_problem(p)) throw CudaError(std::string(who) + ": " + *why);
  if (p.queries == 0) return;
  if constexpr (kTma) launch_typed<false, true, kPhases>(p, stream);
  else if (p.indices) launch_typed<true, false, kPhases>(p, stream);
  else launch_typed<false, false, kPhases>(p, stream);
}

}  // namespace

void launch_mqa_seesaw(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE(p.indices ? "sparse_mqa.bf16.seesaw" : "dense_mqa.bf16.seesaw");
  launch_checked<false, false>(p, stream, "launch_mqa_seesaw");
}

void launch_mqa_seesaw_tma(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mqa.bf16.seesaw_tma");
  launch_checked<true, false>(p, stream, "launch_mqa_seesaw_tma");
}

void launch_mqa_seesaw_phases(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("mqa.seesaw.phases");
  launch_checked<false, true>(p, stream, "launch_mqa_seesaw_phases");
}

void launch_mqa_seesaw_tma_phases(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mqa.seesaw_tma.phases");
  launch_checked<true, true>(p, stream, "launch_mqa_seesaw_tma_phases");
}

}  // namespace dsa::cuda
