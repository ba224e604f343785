// MQA-mode attention (sparse MLA and the dense decode baseline) on Hopper's warpgroup
// MMA, at the model's shape (d_qk 576, d_v 512). The mma.sync kernel
// (attention_mqa.cu) reached 127 TFLOP/s in sparse prefill and 109-129 in FP8 decode on
// the H100 (targets 300 and 200), and dense decode at 13% of the copy bandwidth
// (target 70%): it loads each key tile through registers with no overlap, and mma.sync
// tops out far below wgmma on sm_90.
//
// Block: one token x 64 heads (one wgmma M) x a split of its keys; two warpgroups.
// Shared memory (all 128-byte swizzled, see wgmma.cuh): Q 64 x 576 bf16 (72 KB), two
// key tiles of 64 x 576 (72 KB each), P 64 x 64 bf16 (8 KB). A 576-column row is 9
// blocks of 64 columns; block c of a 64-row tile holds 64 rows x 128 bytes (8 KB).
// Per step of 64 keys:
//   1. the tile arrived (cp.async, issued one step ahead into the other buffer;
//      invalid slots are zero-filled without reading the cache). FP8 cache: the raw
//      656-byte rows arrive in the second buffer instead and are dequantised into the
//      first, as the mma.sync kernel does it (e4m3 x power-of-two scale is exact in
//      bf16), so the next step's rows can already be in flight;
//   2. S = Q K^T: warpgroup w computes keys 32 w .. 32 w + 31 for all 64 heads (36
//      wgmma m64n32k16, A = Q and B = the key rows, both K-major);
//   3. online softmax: each warpgroup's row maxima meet in shared memory, both take
//      the same new maximum, rescale their accumulators and write their half of P
//      (bf16) into the P tile;
//   4. O += P V: warpgroup w owns value columns 256 w .. 256 w + 255 (4 wgmma
//      m64n256k16 with A = P, K-major, and B = the same key tile read MN-major:
//      the value of key k, column n, sits at row k, column n of the tile, which is the
//      transposed operand's canonical layout with 64-column blocks 8 KB apart).
// Row sums stay per warpgroup (both scale by the same factors) and meet once at the
// end. Split-KV partials and the merge are those of the mma.sync kernel.
//
// First run on an H100 on 2026-11-23, correct at once: 334 TFLOP/s at the 4096 x 64K
// sparse prefill, 196 at the batch-64 FP8 decode.
#include "kernels/cuda/attention.h"

#include <cuda_bf16.h>

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

constexpr int kFp8Row = kFp8MlaRow<kDqk, kDv>;      // 656
constexpr int kFp8Units = kFp8Row / 16;             // 41
constexpr int kLoadersPerRow = kThreads / kKeys;    // 4 threads copy one row
static_assert(kFp8Row % 16 == 0 && kKeys * kFp8Row <= kTileBytes, "raw FP8 rows fit a tile buffer");

constexpr std::size_t kQOff = 0;
constexpr std::size_t kKOff = kTileBytes;                    // two key tiles
constexpr std::size_t kPOff = kKOff + 2 * kTileBytes;        // P: 64 rows x 128 bytes
constexpr std::size_t kMaxOff = kPOff + kBlockBytes;         // row maxima [2 warpgroups][64]
constexpr std::size_t kSumOff = kMaxOff + 2 * 64 * sizeof(float);
constexpr std::size_t kIdxOff = kSumOff + 2 * 64 * sizeof(float);  // key of each tile row [2 buffers][64]
constexpr std::size_t kBarOff = kIdxOff + 2 * 64 * sizeof(int);       // kTma: an mbarrier per key tile
constexpr std::size_t kSmem = kBarOff + 2 * sizeof(std::uint64_t) + 1024;  // + slack to align the base to 1024
static_assert(kSmem <= 232448, "Hopper's 227 KB of shared memory per block");

// The FP8 rows of one key step in registers, from their load (at the start of the step
// before theirs) to their dequantisation into a bf16 tile (at its end): thread (row r,
// part q of 4) holds 16-byte chunks q, q + 4, .. of the row's 512 e4m3 codes, rope
// chunks q and q + 4, and the row's 4 scales (44 registers). Rows without a key hold
// zeros, which dequantise to zeros: nothing of the cache is read for them.
struct Fp8Rows {
  uint4 codes[8];
  uint4 rope[2];
  float4 scales;
};

__device__ __forceinline__ Fp8Rows load_fp8_rows(const void* kv, std::int64_t row, bool valid, int q) {
  Fp8Rows r;
  const auto* src = static_cast<const unsigned char*>(kv) + row * kFp8Row;
  const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
  for (int j = 0; j < 8; ++j) r.codes[j] = valid ? *reinterpret_cast<const uint4*>(src + (q + 4 * j) * 16) : zero;
#pragma unroll
  for (int j = 0; j < 2; ++j)
    r.rope[j] = valid ? *reinterpret_cast<const uint4*>(src + kDv + 16 + (q + 4 * j) * 16) : zero;
  r.scales = valid ? *reinterpret_cast<const float4*>(src + kDv) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  return r;
}

// Row r's chunks into a bf16 tile: code chunk c = q + 4 j (columns 16 c ..) is tile
// units 2 c and 2 c + 1 with the scale of columns 128 (c / 8) .., i.e. scale j / 2
// (q < 4); rope chunk q + 4 j is unit 64 + q + 4 j. The conversion is key_chunk_bf16's.
__device__ __forceinline__ void store_fp8_rows(unsigned char* tile, const Fp8Rows& r, int row, int q) {
  const float scale[4] = {r.scales.x, r.scales.y, r.scales.z, r.scales.w};
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int c = q + 4 * j;
    const RawKeyChunk lo{make_uint4(r.codes[j].x, r.codes[j].y, 0, 0), scale[j / 2]};
    const RawKeyChunk hi{make_uint4(r.codes[j].z, r.codes[j].w, 0, 0), scale[j / 2]};
    *reinterpret_cast<uint4*>(tile + tile_offset(row, 2 * c)) = key_chunk_bf16<kDqk, kDv, true>(lo, 2 * c);
    *reinterpret_cast<uint4*>(tile + tile_offset(row, 2 * c + 1)) = key_chunk_bf16<kDqk, kDv, true>(hi, 2 * c + 1);
  }
#pragma unroll
  for (int j = 0; j < 2; ++j) *reinterpret_cast<uint4*>(tile + tile_offset(row, kDv / 8 + q + 4 * j)) = r.rope[j];
}

// kTma (dense, bf16 cache): each key tile arrives as 9 TMA boxes of 64 x 64 started by
// thread 0 (kernels/cuda/tma.h's map: rows past the launch's last causal end arrive as
// zeros) and completes an mbarrier per tile buffer, instead of 4,608 16-byte cp.async
// from all threads.
// kFp8Regs (FP8 cache only): the rows of step s + 1 are loaded into registers at the
// start of step s and dequantised into the other tile at its end, so their memory
// latency hides under a whole step and each step has one barrier; the staged path
// (cp.async into tile 1, dequantised after the step's first barrier, then a second
// one) can only start the next step's copies after that dequantisation.
template <bool kFp8, bool kSparse, bool kPhases = false, bool kFp8Regs = false, bool kTma = false>
__global__ void __launch_bounds__(kThreads, 1)
    mqa_wgmma_kernel(MqaLaunch p, unsigned long long* sink, const __grid_constant__ CUtensorMap tmap) {
  static_assert(kFp8 || !kFp8Regs, "register staging is for FP8 rows");
  static_assert(!kTma || (!kFp8 && !kSparse), "TMA boxes are consecutive bf16 rows: dense bf16 caches only");
  constexpr bool kStaged = kFp8 && !kFp8Regs;  // FP8 rows staged raw in tile 1
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_aligned_1024(smem_raw);
  unsigned char* qs = base + kQOff;
  unsigned char* ps = base + kPOff;
  float* red_max = reinterpret_cast<float*>(base + kMaxOff);
  float* red_sum = reinterpret_cast<float*>(base + kSumOff);
  int* tile_keys = reinterpret_cast<int*>(base + kIdxOff);
  const auto key_tile = [&](int buf) { return base + kKOff + static_cast<std::size_t>(buf) * kTileBytes; };
  auto* tile_bars = reinterpret_cast<std::uint64_t*>(base + kBarOff);
  if constexpr (kTma) {
    if (threadIdx.x == 0) {
      mbar_init(&tile_bars[0], 1);
      mbar_init(&tile_bars[1], 1);
      fence_mbarrier_init();
    }
    __syncthreads();
  }

  const int groups = p.heads / kHeads;
  const std::int64_t t = blockIdx.x / groups;
  const int h0 = static_cast<int>(blockIdx.x % groups) * kHeads;
  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const int row_lo = 16 * warp + g, row_hi = row_lo + 8;  // this thread's accumulator rows (heads)
  const int lrow = tid / kLoadersPerRow, lpart = tid % kLoadersPerRow;  // the row this thread copies

  const MqaBlockKeys range = mqa_block_keys<kKeys>(p, t);
  const std::int64_t kv_base = range.kv_base, slots = range.slots, b_first = range.b_first, b_end = range.b_end;

  // Starts the copy of step blk's rows (bf16: into key tile `buf`; FP8: the raw rows
  // into key tile 1, the staging area) and records which key each row holds.
  const auto issue = [&](std::int64_t blk, int buf) {
    const int s = key_of<kSparse>(p, t, slots, blk, lrow);
    if (lpart == 0) tile_keys[buf * kKeys + lrow] = s;
    if constexpr (kTma) {
      if (tid == 0) {
        const int seq = static_cast<int>(p.seq_queries > 0 ? t / p.seq_queries : 0);
        mbar_arrive_expect_tx(&tile_bars[buf], static_cast<std::uint32_t>(kTileBytes));
#pragma unroll
        for (int c = 0; c < kDqk / 64; ++c)
          tma_load_3d(key_tile(buf) + c * kBlockBytes, &tmap, c * 64, static_cast<int>(blk * kKeys), seq,
                      &tile_bars[buf]);
      }
      cp_async_commit();  // the prologue's Q copies (cp.async) form a group the loop waits for
      return;
    }
    const int bytes = s >= 0 ? 16 : 0;
    const std::int64_t row = kv_base + (s >= 0 ? s : 0);
    if constexpr (!kFp8) {
      const auto* src = static_cast<const unsigned char*>(p.kv) + row * (kDqk * 2);
      unsigned char* dst = key_tile(buf);
#pragma unroll 6
      for (int u = lpart; u < kUnits; u += kLoadersPerRow) cp_async16(dst + tile_offset(lrow, u), src + u * 16, bytes);
    } else {
      const auto* src = static_cast<const unsigned char*>(p.kv) + row * kFp8Row;
      unsigned char* dst = key_tile(1) + lrow * kFp8Row;
      for (int u = lpart; u < kFp8Units; u += kLoadersPerRow) cp_async16(dst + u * 16, src + u * 16, bytes);
    }
    cp_async_commit();
  };

  float acc[128];  // O: rows row_lo / row_hi, value columns 256 wg + 8 j + 2 tq + {0, 1}
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
  float m_lo = DSA_MINUS_INF, m_hi = DSA_MINUS_INF;  // running maxima (log2 domain)
  float l_lo = 0.0f, l_hi = 0.0f;                     // this thread's share of the row sums
  const float sl2 = p.scale * kLog2e;

  // kFp8Regs: step blk's rows into registers, and which key each row holds.
  const auto load_rows = [&](std::int64_t blk, int buf) {
    const int s = key_of<kSparse>(p, t, slots, blk, lrow);
    if (lpart == 0) tile_keys[buf * kKeys + lrow] = s;
    return load_fp8_rows(p.kv, kv_base + (s >= 0 ? s : 0), s >= 0, lpart);
  };

  if (b_first < b_end) {  // Q (head rows h0 ..) and the first step's keys, one group
    const auto* qg = reinterpret_cast<const unsigned char*>(p.q) + (t * p.heads + h0 + lrow) * (kDqk * 2);
    for (int u = lpart; u < kUnits; u += kLoadersPerRow) cp_async16(qs + tile_offset(lrow, u), qg + u * 16, 16);
    if constexpr (kFp8Regs) {
      cp_async_commit();
      store_fp8_rows(key_tile(0), load_rows(b_first, 0), lrow, lpart);
    } else {
      issue(b_first, 0);
    }
  }

  const std::uint64_t desc_q = wgmma_desc_sw128(qs, 16, 1024);
  PhaseClock<kPhases> clock(sink, (tid & 127) == 0);  // kPhases: thread 0 of each warpgroup times the phases
  for (std::int64_t blk = b_first; blk < b_end; ++blk) {
    const int buf = static_cast<int>((blk - b_first) & 1);
    cp_async_wait<0>();
    if constexpr (kTma) mbar_wait(&tile_bars[buf], static_cast<std::uint32_t>(((blk - b_first) >> 1) & 1));
    clock.lap(mqa_phase_load);
    fence_proxy_async();  // cp.async wrote through the generic proxy; wgmma reads through the async one
    __syncthreads();      // the step's rows are everyone's; the previous step is finished everywhere
    clock.lap(mqa_phase_barrier);
    unsigned char* kt = key_tile(kStaged ? 0 : buf);
    if constexpr (kStaged) {
      const unsigned char* staged = key_tile(1);
      for (int u = lpart; u < kUnits; u += kLoadersPerRow)
        *reinterpret_cast<uint4*>(kt + tile_offset(lrow, u)) = key_chunk<kDqk, kDv, true>(staged, lrow, u);
      fence_proxy_async();
      __syncthreads();  // the tile is complete and the staging area free
      clock.lap(mqa_phase_dequant);
    }
    [[maybe_unused]] Fp8Rows next;
    if constexpr (kFp8Regs) {
      if (blk + 1 < b_end) next = load_rows(blk + 1, buf ^ 1);
    } else {
      if (blk + 1 < b_end) issue(blk + 1, buf ^ 1);
    }
    clock.lap(mqa_phase_issue);

    // 2. S = Q K^T for this warpgroup's 32 keys (rows 32 wg .. of the tile).
    float s[16] = {};  // overwritten: the first wgmma does not accumulate
    const std::uint64_t desc_k = wgmma_desc_sw128(kt + wg * 32 * 128, 16, 1024);
    fence_operands(s);
    wgmma_fence();
#pragma unroll
    for (int c = 0; c < kDqk / 64; ++c)
#pragma unroll
      for (int k = 0; k < 4; ++k) {  // 16 columns (32 bytes) per wgmma: +2 in the address field
        const std::uint64_t step = static_cast<std::uint64_t>((c * kBlockBytes + k * 32) >> 4);
        wgmma_m64n32k16_bf16(s, desc_q + step, desc_k + step, (c | k) != 0 ? 1 : 0);
      }
    wgmma_commit();
    wgmma_wait_all();
    fence_operands(s);
    clock.lap(mqa_phase_scores);

    // 3. Online softmax. Column 8 j + 2 tq + e of this warpgroup's S is key 32 wg + that.
    const float2 mine = mask_and_max(s, tile_keys + buf * kKeys + 32 * wg, sl2, tq);
    // Both warpgroups take the same maximum, so their rescaling agrees.
    const float2 mx = across_warpgroups(mine.x, mine.y, red_max, wg, row_lo, row_hi, tq,
                                        [](float a, float b) { return fmaxf(a, b); });
    const OnlineStep st_lo = online_step(m_lo, mx.x);
    const OnlineStep st_hi = online_step(m_hi, mx.y);
    const float base_lo = st_lo.base, base_hi = st_hi.base, alpha_lo = st_lo.alpha, alpha_hi = st_hi.alpha;
    float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float p0 = exp2f(s[4 * j] - base_lo), p1 = exp2f(s[4 * j + 1] - base_lo);
      const float p2 = exp2f(s[4 * j + 2] - base_hi), p3 = exp2f(s[4 * j + 3] - base_hi);
      sum_lo += p0 + p1;
      sum_hi += p2 + p3;
      // Keys 32 wg + 8 j + 2 tq + {0, 1}: 16-byte unit 4 wg + j of the P row, bytes 4 tq.
      *reinterpret_cast<std::uint32_t*>(ps + sw128_offset(row_lo, 4 * wg + j) + 4 * tq) = pack_bf16x2(p0, p1);
      *reinterpret_cast<std::uint32_t*>(ps + sw128_offset(row_hi, 4 * wg + j) + 4 * tq) = pack_bf16x2(p2, p3);
    }
    l_lo = l_lo * alpha_lo + sum_lo;
    l_hi = l_hi * alpha_hi + sum_hi;
    scale_accumulator_rows(acc, alpha_lo, alpha_hi);
    fence_proxy_async();
    __syncthreads();  // both halves of P are written
    clock.lap(mqa_phase_softmax);

    // 4. O += P V: this warpgroup's 256 value columns = column blocks 4 wg .. 4 wg + 3.
    add_pv(acc, ps, kt + 4 * wg * kBlockBytes);
    clock.lap(mqa_phase_pv);
    if constexpr (kFp8Regs) {
      // The other tile was last read by the step before this one, which every thread
      // finished before this step's first barrier; the next step's barrier publishes it.
      if (blk + 1 < b_end) {
        store_fp8_rows(key_tile(buf ^ 1), next, lrow, lpart);
        fence_proxy_async();
      }
      clock.lap(mqa_phase_dequant);
    }
  }

  store_rows(p, t, h0, acc, m_lo, m_hi, l_lo, l_hi, red_sum, wg, row_lo, row_hi, tq);
  clock.lap(mqa_phase_epilogue);
  clock.count(mqa_event_tiles, static_cast<unsigned long long>(b_end > b_first ? b_end - b_first : 0));
  clock.done();
}

template <bool kFp8, bool kSparse, bool kPhases = false, bool kFp8Regs = false, bool kTma = false>
void launch_typed(const MqaLaunch& p, cudaStream_t stream) {
  CUtensorMap map{};  // unused without kTma
  if constexpr (kTma) map = mqa_dense_cache_map(p, kKeys, "launch_mqa_wgmma_tma");
  launch_grid(mqa_wgmma_kernel<kFp8, kSparse, kPhases, kFp8Regs, kTma>, kSmem, p, stream,
              kPhases ? phase_sink() : nullptr, map);
}

}  // namespace

std::optional<std::string> mqa_wgmma_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse) {
  if (d_qk != kDqk || d_v != kDv)
    return "built for the model's d_qk / d_v 576 / 512, not " + std::to_string(d_qk) + " / " + std::to_string(d_v);
  if (heads <= 0 || heads % kHeads != 0) return "heads must be a multiple of 64 (got " + std::to_string(heads) + ")";
  if (sparse && topk <= 0) return "top-k must be positive";
  return std::nullopt;
}

namespace {

// How a launch brings its key rows in: cp.async (bf16 or staged FP8), FP8 rows in
// registers a step ahead, or TMA boxes (dense bf16).
enum class Form { plain, fp8_regs, tma };

template <Form kForm, bool kPhases>
void launch_form(const MqaLaunch& p, cudaStream_t stream, const char* who) {
  const bool sparse = p.indices != nullptr;
  std::optional<std::string> why;
  if constexpr (kForm == Form::fp8_regs)
    why = mqa_wgmma_fp8regs_unsupported(p.heads, p.d_qk, p.d_v, p.topk, sparse, p.fp8_cache);
  else if constexpr (kForm == Form::tma)
    why = mqa_wgmma_tma_unsupported(p.heads, p.d_qk, p.d_v, sparse, p.fp8_cache);
  else
    why = mqa_wgmma_unsupported(p.heads, p.d_qk, p.d_v, p.topk, sparse);
  if (why) throw CudaError(std::string(who) + ": " + *why);
  if (auto problem = mqa_launch_problem(p)) throw CudaError(std::string(who) + ": " + *problem);
  if (p.queries == 0) return;
  if constexpr (kForm == Form::tma) {
    launch_typed<false, false, kPhases, false, true>(p, stream);
  } else if constexpr (kForm == Form::fp8_regs) {
    if (sparse) launch_typed<true, true, kPhases, true>(p, stream);
    else launch_typed<true, false, kPhases, true>(p, stream);
  } else if (sparse) {
    if (p.fp8_cache) launch_typed<true, true, kPhases>(p, stream);
    else launch_typed<false, true, kPhases>(p, stream);
  } else {
    if (p.fp8_cache) launch_typed<true, false, kPhases>(p, stream);
    else launch_typed<false, false, kPhases>(p, stream);
  }
}

}  // namespace

void launch_mqa_wgmma(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE(p.indices ? (p.fp8_cache ? "sparse_mqa.fp8.wgmma" : "sparse_mqa.bf16.wgmma")
                            : (p.fp8_cache ? "dense_mqa.fp8.wgmma" : "dense_mqa.bf16.wgmma"));
  launch_form<Form::plain, false>(p, stream, "launch_mqa_wgmma");
}

void launch_mqa_wgmma_phases(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("mqa.wgmma.phases");
  launch_form<Form::plain, true>(p, stream, "launch_mqa_wgmma_phases");
}

std::optional<std::string> mqa_wgmma_fp8regs_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse,
                                                         bool fp8_cache) {
  if (!fp8_cache) return "FP8 cache only (a bf16 cache goes by cp.async straight into the tiles)";
  return mqa_wgmma_unsupported(heads, d_qk, d_v, topk, sparse);
}

void launch_mqa_wgmma_fp8regs(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE(p.indices ? "sparse_mqa.fp8.wgmma_fp8reg" : "dense_mqa.fp8.wgmma_fp8reg");
  launch_form<Form::fp8_regs, false>(p, stream, "launch_mqa_wgmma_fp8regs");
}

void launch_mqa_wgmma_fp8regs_phases(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("mqa.wgmma_fp8reg.phases");
  launch_form<Form::fp8_regs, true>(p, stream, "launch_mqa_wgmma_fp8regs_phases");
}

std::optional<std::string> mqa_wgmma_tma_unsupported(int heads, int d_qk, int d_v, bool sparse, bool fp8_cache) {
  if (sparse) return "dense attention only (a TMA box is consecutive cache rows)";
  if (fp8_cache) return "bf16 cache only";
  return mqa_wgmma_unsupported(heads, d_qk, d_v, 0, false);
}

void launch_mqa_wgmma_tma(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mqa.bf16.wgmma_tma");
  launch_form<Form::tma, false>(p, stream, "launch_mqa_wgmma_tma");
}

void launch_mqa_wgmma_tma_phases(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mqa.bf16.wgmma_tma.phases");
  launch_form<Form::tma, true>(p, stream, "launch_mqa_wgmma_tma_phases");
}

}  // namespace dsa::cuda
