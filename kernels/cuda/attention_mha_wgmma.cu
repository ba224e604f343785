// Dense MHA-mode causal prefill (the V3.1-Terminus baseline) on Hopper's warpgroup MMA,
// at the model's shape (d_qk 192, d_v 128). The FA2-style mma.sync kernel
// (attention_mha.cu) reached 159 TFLOP/s on the H100 against a target of 350: a weak
// dense baseline inflates every speed-up the harness reports, so the baseline gets
// the same class of kernel as the sparse side.
//
// Block: 128 queries x 1 head, two warpgroups of 64 query rows each (one wgmma M);
// each warpgroup owns its rows entirely (no exchange between them). Shared memory,
// 128-byte swizzled (wgmma.cuh): Q 128 x 192 bf16 (48 KB) and a double buffer of K
// 128 x 192 (48 KB) + V 128 x 128 (32 KB) per step of 128 keys. Per step:
//   1. the next step's K and V rows start by cp.async (rows past the block's causal
//      end are zero-filled, never read: a cache may hold NaN there);
//   2. S = Q K^T: 12 wgmma m64n128k16 (A = the warpgroup's 64 Q rows, B = the key
//      rows, both K-major);
//   3. online softmax in registers (a row's 4 lanes agree through two shuffles), the
//      causal mask per row;
//   4. O += P V: P never leaves the registers: the S accumulator of keys 16 k ..
//      16 k + 15 is, element for element, the A fragment of that k-step (as in the
//      mma.sync kernel), so 8 wgmma m64n128k16 take A from registers and B = the V
//      tile read MN-major (64-column blocks 16 KB apart).
// Blocks run longest-first (the causal triangle's far end).
//
// First run on an H100 on 2026-11-23: 310 TFLOP/s at the 4096 x 64K prefill, then 331
// (target 350). In those steps the tensor cores wait out every softmax. kOverlap
// (cuda.dense_mha.overlap) issues step kb's S together with step kb - 1's P V and
// runs the softmax of S while P V does, rescaling O only once P V is done (the order
// of FlashAttention-3's intra-warpgroup pipelining): K is then needed one step before
// V, so each step loads K of the next step and V of this one, and one barrier per step
// suffices. An earlier blind attempt (P V left running under the next step's barrier,
// awaited with wait_group 1 after S was issued) made ptxas serialise the wgmmas
// (C7514/C7515: O was rescaled while its product ran); this order compiles without
// that warning (196 registers, no spills). Written without a GPU on 2026-11-23 (sixth
// session): not yet run.
#include "kernels/cuda/attention.h"

#include "core/trace.h"
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/phase_clock.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace dsa::cuda {

namespace {

constexpr int kDqk = 192, kDv = 128;
constexpr int kRows = 128;   // queries per block: two warpgroups x 64
constexpr int kKeys = 128;   // keys per step
constexpr int kThreads = 256;
constexpr int kQUnits = kDqk * 2 / 16;  // 16-byte units per Q or K row: 24
constexpr int kVUnits = kDv * 2 / 16;   // per V row: 16
constexpr int kBlock = 128 * 128;       // one 64-column block of a 128-row tile: 16 KB
constexpr int kQBytes = kBlock * (kDqk / 64);  // 48 KB (K tiles alike)
constexpr int kVBytes = kBlock * (kDv / 64);   // 32 KB
constexpr int kStageBytes = kQBytes + kVBytes;
constexpr std::size_t kSmem = kQBytes + 2 * static_cast<std::size_t>(kStageBytes) + 1024;  // + alignment slack
static_assert(kSmem <= 232448, "Hopper's 227 KB of shared memory per block");
constexpr float kLog2e = 1.4426950408889634f;

// Byte offset of 16-byte unit u of row r in a swizzled 128-row tile.
__device__ __forceinline__ int tile_offset(int r, int u) { return (u >> 3) * kBlock + sw128_offset(r, u & 7); }

// Keys [s0, s0 + kKeys) of head h into a stage (K rows into ks when kK, V rows into vs
// when kV); rows from `limit` on are zero-filled.
template <bool kK = true, bool kV = true>
__device__ __forceinline__ void load_stage(const MhaLaunch& p, int h, std::int64_t s0, std::int64_t limit,
                                           unsigned char* ks, unsigned char* vs) {
  const auto* kg = reinterpret_cast<const unsigned char*>(p.k);
  const auto* vg = reinterpret_cast<const unsigned char*>(p.v);
  constexpr int kFirst = kK ? 0 : kQUnits, kUnits = kQUnits + (kV ? kVUnits : 0) - kFirst;
  for (int i = threadIdx.x; i < kKeys * kUnits; i += kThreads) {
    const int r = i / kUnits, u = kFirst + i % kUnits;
    const std::int64_t s = s0 + r;
    const bool in = s < limit;
    const std::int64_t row = (in ? s : 0) * p.heads + h;  // a valid address even when zero-filling
    if (u < kQUnits) cp_async16(ks + tile_offset(r, u), kg + row * (kDqk * 2) + u * 16, in ? 16 : 0);
    else cp_async16(vs + tile_offset(r, u - kQUnits), vg + row * (kDv * 2) + (u - kQUnits) * 16, in ? 16 : 0);
  }
}

// S (+)= Q K^T for this warpgroup's 64 rows over the 128 keys of a K tile (12 wgmma,
// A = Q rows, B = key rows, both K-major); issued, not awaited.
__device__ __forceinline__ void issue_scores(float (&s)[64], std::uint64_t desc_q, const unsigned char* ks) {
  const std::uint64_t desc_k = wgmma_desc_sw128(ks, 16, 1024);
#pragma unroll
  for (int k = 0; k < kDqk / 16; ++k) {  // 16 columns = 32 bytes per wgmma, 4 per 64-column block
    const auto step = static_cast<std::uint64_t>(((k >> 2) * kBlock + (k & 3) * 32) >> 4);
    wgmma_m64n128k16_bf16(s, desc_q + step, desc_k + step, k > 0 ? 1 : 0);
  }
}

// O += P V over a V tile: P from registers (the A fragments of the 8 k-steps of 16
// keys), V read MN-major (64-column blocks 16 KB apart); issued, not awaited.
__device__ __forceinline__ void issue_pv(float (&o)[64], const std::uint32_t (&a)[8][4], const unsigned char* vs) {
  const std::uint64_t desc_v = wgmma_desc_sw128(vs, kBlock, 1024);
#pragma unroll
  for (int k = 0; k < kKeys / 16; ++k)  // 16 keys = 16 rows of V = 2 KB per k-step
    wgmma_m64n128k16_bf16_rs_bt(o, a[k], desc_v + static_cast<std::uint64_t>((k * 16 * 128) >> 4), 1);
}

// The online softmax of one step's S (raw scores of keys s0 .. s0 + 127 for rows lo / hi,
// whose causal ends are end_lo / end_hi): masks past each row's end (only the steps
// that reach it: the diagonal ones), moves the running maxima (log2 units: the scale,
// positive, is folded into each exponent's FMA), adds the rows' sums and writes P as
// the A fragments of the P V product. Returns the factors that rescale O.
__device__ __forceinline__ float2 softmax_to_p(float (&s)[64], std::uint32_t (&a)[8][4], std::int64_t s0,
                                               std::int64_t end_lo, std::int64_t end_hi, float sl2, float& m_lo,
                                               float& m_hi, float& l_lo, float& l_hi, int tq) {
  if (s0 + kKeys > end_lo || s0 + kKeys > end_hi) {
    const int lim_lo = static_cast<int>(max(static_cast<std::int64_t>(0), min(end_lo - s0, static_cast<std::int64_t>(kKeys))));
    const int lim_hi = static_cast<int>(max(static_cast<std::int64_t>(0), min(end_hi - s0, static_cast<std::int64_t>(kKeys))));
#pragma unroll
    for (int j = 0; j < 16; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = 8 * j + 2 * tq + e;
        if (col >= lim_lo) s[4 * j + e] = DSA_MINUS_INF;
        if (col >= lim_hi) s[4 * j + 2 + e] = DSA_MINUS_INF;
      }
  }
  float mx_lo = DSA_MINUS_INF, mx_hi = DSA_MINUS_INF;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    mx_lo = fmaxf(mx_lo, fmaxf(s[4 * j], s[4 * j + 1]));
    mx_hi = fmaxf(mx_hi, fmaxf(s[4 * j + 2], s[4 * j + 3]));
  }
  const OnlineStep st_lo = online_step(m_lo, quad_max(mx_lo) * sl2), st_hi = online_step(m_hi, quad_max(mx_hi) * sl2);
  const float base_lo = st_lo.base, base_hi = st_hi.base;
  float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const float p0 = exp2f(fmaf(s[4 * j], sl2, -base_lo)), p1 = exp2f(fmaf(s[4 * j + 1], sl2, -base_lo));
    const float p2 = exp2f(fmaf(s[4 * j + 2], sl2, -base_hi)), p3 = exp2f(fmaf(s[4 * j + 3], sl2, -base_hi));
    sum_lo += p0 + p1;
    sum_hi += p2 + p3;
    // Keys 8 j ..: k-step j / 2; the first 8 keys of a step are a[0] / a[1], the next a[2] / a[3].
    a[j >> 1][(j & 1) * 2] = pack_bf16x2(p0, p1);
    a[j >> 1][(j & 1) * 2 + 1] = pack_bf16x2(p2, p3);
  }
  l_lo = l_lo * st_lo.alpha + sum_lo;  // per-lane partial sums: the quad adds them at the end
  l_hi = l_hi * st_hi.alpha + sum_hi;
  return make_float2(st_lo.alpha, st_hi.alpha);
}

template <bool kOverlap, bool kPhases = false>
__global__ void __launch_bounds__(kThreads, 1) mha_wgmma_kernel(MhaLaunch p, unsigned long long* sink) {
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = smem_aligned_1024(smem_raw);
  unsigned char* qs = base;
  const auto stage = [&](int b) { return base + kQBytes + static_cast<std::size_t>(b) * kStageBytes; };

  const int h = blockIdx.y;
  const std::int64_t t0 = static_cast<std::int64_t>(gridDim.x - 1 - blockIdx.x) * kRows;
  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const std::int64_t t_last = min(p.queries, t0 + kRows) - 1;
  const std::int64_t key_limit = causal_end(t_last, p.query_offset, p.keys);
  const std::int64_t steps = (key_limit + kKeys - 1) / kKeys;

  // Q rows t0 .. t0 + 127 (zero past the last query) and the first step, one group.
  const auto* qg = reinterpret_cast<const unsigned char*>(p.q);
  for (int i = tid; i < kRows * kQUnits; i += kThreads) {
    const int r = i / kQUnits, u = i % kQUnits;
    const bool in = t0 + r < p.queries;
    cp_async16(qs + tile_offset(r, u), qg + ((in ? t0 + r : 0) * p.heads + h) * (kDqk * 2) + u * 16, in ? 16 : 0);
  }
  if (steps > 0) load_stage<true, !kOverlap>(p, h, 0, key_limit, stage(0), stage(0) + kQBytes);  // overlap: V comes later
  cp_async_commit();

  // This thread's accumulator rows: 16 warp + g and + 8 of its warpgroup's 64.
  const std::int64_t t_lo = t0 + 64 * wg + 16 * warp + g, t_hi = t_lo + 8;
  const std::int64_t end_lo = t_lo < p.queries ? causal_end(t_lo, p.query_offset, p.keys) : 0;
  const std::int64_t end_hi = t_hi < p.queries ? causal_end(t_hi, p.query_offset, p.keys) : 0;
  const float sl2 = p.scale * kLog2e;
  float o[64];  // columns 8 j + 2 tq + {0, 1}, j < 16
#pragma unroll
  for (int i = 0; i < 64; ++i) o[i] = 0.0f;
  float m_lo = DSA_MINUS_INF, m_hi = DSA_MINUS_INF, l_lo = 0.0f, l_hi = 0.0f;
  const std::uint64_t desc_q = wgmma_desc_sw128(qs + 64 * wg * 128, 16, 1024);

  PhaseClock<kPhases> clock(sink, (tid & 127) == 0);  // kPhases: thread 0 of each warpgroup times the phases
  if constexpr (!kOverlap) {
    for (std::int64_t kb = 0; kb < steps; ++kb) {
      const int buf = static_cast<int>(kb & 1);
      if (kb + 1 < steps) load_stage(p, h, (kb + 1) * kKeys, key_limit, stage(buf ^ 1), stage(buf ^ 1) + kQBytes);
      cp_async_commit();
      clock.lap(mha_phase_issue);
      cp_async_wait<1>();   // all but the newest group: this step's rows (and Q) have landed
      clock.lap(mha_phase_load);
      fence_proxy_async();  // cp.async wrote through the generic proxy; wgmma reads through the async one
      __syncthreads();
      clock.lap(mha_phase_barrier);
      float s[64] = {};  // overwritten: the first wgmma does not accumulate
      fence_operands(s);
      wgmma_fence();
      issue_scores(s, desc_q, stage(buf));
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(s);
      clock.lap(mha_phase_scores);
      std::uint32_t a[8][4];
      const float2 alpha = softmax_to_p(s, a, kb * kKeys, end_lo, end_hi, sl2, m_lo, m_hi, l_lo, l_hi, tq);
      scale_accumulator_rows(o, alpha.x, alpha.y);
      clock.lap(mha_phase_softmax);
      fence_operands(o);
      wgmma_fence();
      issue_pv(o, a, stage(buf) + kQBytes);
      wgmma_commit();
      wgmma_wait_all();
      fence_operands(o);
      clock.lap(mha_phase_pv);
      __syncthreads();  // everyone is done with this stage before it is refilled
      clock.lap(mha_phase_end_barrier);
    }
    clock.count(mha_event_steps, static_cast<unsigned long long>(steps));
  } else if (steps > 0) {
    // Step kb issues S_kb and the previous step's P V together; the softmax of S_kb runs
    // while P V does, and O is rescaled once P V is done. So K and V of a step are
    // needed one step apart: the loads of step kb bring K of step kb + 1 and V of step
    // kb (its stage's V was last read by step kb - 2's P V, its K by step kb - 1's S).
    std::uint32_t a[8][4];  // P of the previous step, the A operand of the P V in flight
    for (std::int64_t kb = 0; kb < steps; ++kb) {
      const int buf = static_cast<int>(kb & 1);
      cp_async_wait<0>();   // K of this step (and V of the previous one) have landed
      fence_proxy_async();
      __syncthreads();      // ... everywhere, and step kb - 1's products are done everywhere
      if (kb + 1 < steps) load_stage<true, false>(p, h, (kb + 1) * kKeys, key_limit, stage(buf ^ 1), nullptr);
      load_stage<false, true>(p, h, kb * kKeys, key_limit, nullptr, stage(buf) + kQBytes);
      cp_async_commit();
      float s[64] = {};
      fence_operands(s);
      fence_operands(o);
      wgmma_fence();
      issue_scores(s, desc_q, stage(buf));
      wgmma_commit();
      if (kb > 0) {
        issue_pv(o, a, stage(buf ^ 1) + kQBytes);
        wgmma_commit();
        wgmma_wait<1>();  // S has landed; P V still runs
      } else {
        wgmma_wait_all();
      }
      fence_operands(s);
      std::uint32_t a_next[8][4];
      const float2 alpha = softmax_to_p(s, a_next, kb * kKeys, end_lo, end_hi, sl2, m_lo, m_hi, l_lo, l_hi, tq);
      wgmma_wait_all();
      fence_operands(o);
      scale_accumulator_rows(o, alpha.x, alpha.y);
#pragma unroll
      for (int k = 0; k < 8; ++k)
#pragma unroll
        for (int e = 0; e < 4; ++e) a[k][e] = a_next[k][e];
    }
    cp_async_wait<0>();  // V of the last step
    fence_proxy_async();
    __syncthreads();
    fence_operands(o);
    wgmma_fence();
    issue_pv(o, a, stage(static_cast<int>((steps - 1) & 1)) + kQBytes);
    wgmma_commit();
    wgmma_wait_all();
    fence_operands(o);
  }
  cp_async_wait<0>();

  store_mha_rows<kDv>(p, h, t_lo, t_hi, o, m_lo, m_hi, quad_sum(l_lo), quad_sum(l_hi), tq);
  clock.lap(mha_phase_epilogue);
  clock.done();
}

}  // namespace

std::optional<std::string> mha_wgmma_unsupported(int heads, int d_qk, int d_v) {
  if (d_qk != kDqk || d_v != kDv)
    return "built for the model's d_qk / d_v 192 / 128, not " + std::to_string(d_qk) + " / " + std::to_string(d_v);
  return mha_unsupported(heads, d_qk, d_v);  // the head count against the grid, as for the mma.sync kernel
}

namespace {

template <bool kOverlap, bool kPhases = false>
void launch_typed(const MhaLaunch& p, cudaStream_t stream, const char* who) {
  if (auto why = mha_wgmma_unsupported(p.heads, p.d_qk, p.d_v)) throw CudaError(std::string(who) + ": " + *why);
  if (auto why = mha_launch_problem(p, kRows)) throw CudaError(std::string(who) + ": " + *why);
  if (p.queries == 0) return;
  const std::int64_t qblocks = (p.queries + kRows - 1) / kRows;
  auto* kernel = mha_wgmma_kernel<kOverlap, kPhases>;
  DSA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
  kernel<<<dim3(static_cast<unsigned>(qblocks), static_cast<unsigned>(p.heads)), kThreads, kSmem, stream>>>(p, kPhases ? phase_sink() : nullptr);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_mha_wgmma(const MhaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mha.bf16.wgmma");
  launch_typed<false>(p, stream, "launch_mha_wgmma");
}

void launch_mha_wgmma_phases(const MhaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mha.bf16.wgmma.phases");
  launch_typed<false, true>(p, stream, "launch_mha_wgmma_phases");
}

void launch_mha_overlap(const MhaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mha.bf16.overlap");
  launch_typed<true>(p, stream, "launch_mha_overlap");
}

}  // namespace dsa::cuda
