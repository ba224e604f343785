// Dense MHA-mode causal prefill (the V3.1-Terminus baseline), FlashAttention-2 style:
// one block per (64 queries, head), 4 warps of 16 query rows each. Per step of 64
// keys: K and V tiles arrive by cp.async into a double buffer (the next tile loads
// while this one computes), S = Q K^T on the tensor cores, the online softmax runs in
// registers (a row's 4 owner lanes agree on its max through two shuffles), and P is
// re-packed from the S accumulators straight into A fragments for O += P V, so P
// never touches shared memory. Blocks are issued longest-first (the causal triangle's
// far end) so the short ones fill in the tail.
#include "kernels/cuda/attention.h"

#include "core/trace.h"
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/mma.cuh"

namespace dsa::cuda {

namespace {

constexpr int kRowsPerBlock = 64;
constexpr int kKeys = 64;
constexpr int kThreads = 128;
constexpr int kRowPad = 16;
constexpr float kLog2e = 1.4426950408889634f;

template <int DQK, int DV>
struct MhaLayout {
  static constexpr int kQRow = DQK * 2 + kRowPad;
  static constexpr int kVRow = DV * 2 + kRowPad;
  static constexpr int kQChunks = DQK * 2 / 16, kVChunks = DV * 2 / 16;
  static constexpr std::size_t q_bytes = static_cast<std::size_t>(kRowsPerBlock) * kQRow;
  static constexpr std::size_t k_bytes = static_cast<std::size_t>(kKeys) * kQRow;
  static constexpr std::size_t v_bytes = static_cast<std::size_t>(kKeys) * kVRow;
  static constexpr std::size_t bytes = q_bytes + 2 * (k_bytes + v_bytes);
};

// Rows from `limit` on (beyond the causal end of the block's last query) are
// zero-filled, not read: a cache may hold anything there (NaN included), and a masked
// probability of 0 times NaN would still poison P * V.
template <int DQK, int DV>
__device__ __forceinline__ void load_kv_tile(const MhaLaunch& p, int h, std::int64_t s0, std::int64_t limit,
                                             unsigned char* ks, unsigned char* vs) {
  using L = MhaLayout<DQK, DV>;
  const auto* kg = reinterpret_cast<const unsigned char*>(p.k);
  const auto* vg = reinterpret_cast<const unsigned char*>(p.v);
  for (int i = threadIdx.x; i < kKeys * (L::kQChunks + L::kVChunks); i += kThreads) {
    const int r = i / (L::kQChunks + L::kVChunks), c = i % (L::kQChunks + L::kVChunks);
    const std::int64_t s = s0 + r;
    const bool in = s < limit;
    const std::int64_t row = (in ? s : 0) * p.heads + h;  // a valid address even when zero-filling
    if (c < L::kQChunks) cp_async16(ks + r * L::kQRow + c * 16, kg + row * (DQK * 2) + c * 16, in ? 16 : 0);
    else cp_async16(vs + r * L::kVRow + (c - L::kQChunks) * 16, vg + row * (DV * 2) + (c - L::kQChunks) * 16, in ? 16 : 0);
  }
}

template <int DQK, int DV>
__global__ void __launch_bounds__(kThreads) mha_kernel(MhaLaunch p) {
  using L = MhaLayout<DQK, DV>;
  constexpr int kTiles = DV / 8;
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char* qs = smem;
  // Buffer b: K at stage(b), V right after it (pointer arithmetic, not an array the
  // compiler would put on the stack when indexed by the loop counter).
  auto stage = [&](int b) { return smem + L::q_bytes + static_cast<std::size_t>(b) * (L::k_bytes + L::v_bytes); };

  const int h = blockIdx.y;
  const std::int64_t t0 = static_cast<std::int64_t>(gridDim.x - 1 - blockIdx.x) * kRowsPerBlock;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const std::int64_t t_last = min(p.queries, t0 + kRowsPerBlock) - 1;
  const std::int64_t key_limit = causal_end(t_last, p.query_offset, p.keys);
  const std::int64_t nkb = (key_limit + kKeys - 1) / kKeys;

  if (nkb > 0) load_kv_tile<DQK, DV>(p, h, 0, key_limit, stage(0), stage(0) + L::k_bytes);
  cp_async_commit();
  const auto* qg = reinterpret_cast<const unsigned char*>(p.q);
  for (int i = tid; i < kRowsPerBlock * L::kQChunks; i += kThreads) {
    const int r = i / L::kQChunks, c = i % L::kQChunks;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (t0 + r < p.queries) v = *reinterpret_cast<const uint4*>(qg + ((t0 + r) * p.heads + h) * (DQK * 2) + c * 16);
    *reinterpret_cast<uint4*>(qs + r * L::kQRow + c * 16) = v;
  }

  const std::int64_t t_lo = t0 + warp * 16 + g, t_hi = t_lo + 8;
  const std::int64_t end_lo = t_lo < p.queries ? causal_end(t_lo, p.query_offset, p.keys) : 0;
  const std::int64_t end_hi = t_hi < p.queries ? causal_end(t_hi, p.query_offset, p.keys) : 0;
  const float sl2 = p.scale * kLog2e;
  float o[kTiles][4];
#pragma unroll
  for (int n = 0; n < kTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m_lo = DSA_MINUS_INF, m_hi = DSA_MINUS_INF, l_lo = 0.0f, l_hi = 0.0f;
  const unsigned char* a_lo = qs + (warp * 16 + g) * L::kQRow;
  const unsigned char* a_hi = a_lo + 8 * L::kQRow;

  for (std::int64_t kb = 0; kb < nkb; ++kb) {
    const int buf = static_cast<int>(kb & 1);
    if (kb + 1 < nkb) load_kv_tile<DQK, DV>(p, h, (kb + 1) * kKeys, key_limit, stage(buf ^ 1), stage(buf ^ 1) + L::k_bytes);
    cp_async_commit();
    cp_async_wait<1>();  // all but the newest group: this step's tile has landed
    __syncthreads();
    const unsigned char* ks = stage(buf);
    const unsigned char* vs = ks + L::k_bytes;

    float s[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int k = 0; k < DQK * 2; k += 32) {
      const std::uint32_t a[4] = {ld32(a_lo + k + 4 * tq), ld32(a_hi + k + 4 * tq), ld32(a_lo + k + 16 + 4 * tq),
                                  ld32(a_hi + k + 16 + 4 * tq)};
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
        const unsigned char* b = ks + (8 * n + g) * L::kQRow + k;
        mma_bf16(s[n], a, ld32(b + 4 * tq), ld32(b + 16 + 4 * tq));
      }
    }

    // Scale into log2 units, mask beyond each row's causal end, and update the
    // running max; the 4 lanes of a quad hold one row and agree through shuffles.
    const std::int64_t s0 = kb * kKeys;
    float mx_lo = DSA_MINUS_INF, mx_hi = DSA_MINUS_INF;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const std::int64_t col = s0 + 8 * n + 2 * tq + e;
        s[n][e] = col < end_lo ? s[n][e] * sl2 : DSA_MINUS_INF;
        s[n][2 + e] = col < end_hi ? s[n][2 + e] * sl2 : DSA_MINUS_INF;
        mx_lo = fmaxf(mx_lo, s[n][e]);
        mx_hi = fmaxf(mx_hi, s[n][2 + e]);
      }
    const OnlineStep st_lo = online_step(m_lo, quad_max(mx_lo)), st_hi = online_step(m_hi, quad_max(mx_hi));
    const float base_lo = st_lo.base, base_hi = st_hi.base, al_lo = st_lo.alpha, al_hi = st_hi.alpha;
    float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      s[n][0] = exp2f(s[n][0] - base_lo);
      s[n][1] = exp2f(s[n][1] - base_lo);
      s[n][2] = exp2f(s[n][2] - base_hi);
      s[n][3] = exp2f(s[n][3] - base_hi);
      sum_lo += s[n][0] + s[n][1];
      sum_hi += s[n][2] + s[n][3];
    }
    l_lo = l_lo * al_lo + sum_lo;  // per-lane partial sums: the quad adds them at the end
    l_hi = l_hi * al_hi + sum_hi;
#pragma unroll
    for (int n = 0; n < kTiles; ++n) {
      o[n][0] *= al_lo;
      o[n][1] *= al_lo;
      o[n][2] *= al_hi;
      o[n][3] *= al_hi;
    }

    // O += P V. The C fragment of S for keys 16j .. 16j + 15 (tiles 2j, 2j + 1) is
    // element for element the A fragment of P for that k-step.
#pragma unroll
    for (int j = 0; j < kKeys / 16; ++j) {
      const std::uint32_t a[4] = {pack_bf16x2(s[2 * j][0], s[2 * j][1]), pack_bf16x2(s[2 * j][2], s[2 * j][3]),
                                  pack_bf16x2(s[2 * j + 1][0], s[2 * j + 1][1]),
                                  pack_bf16x2(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
      for (int n = 0; n < kTiles; n += 2) {
        std::uint32_t b[4];
        load_v_fragments(b, vs, L::kVRow, 16 * j, 8 * n, lane);
        mma_bf16(o[n], a, b[0], b[1]);
        mma_bf16(o[n + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // everyone is done with this buffer before it is refilled
  }
  cp_async_wait<0>();

  store_mha_rows<DV>(p, h, t_lo, t_hi, reinterpret_cast<const float(&)[DV / 2]>(o), m_lo, m_hi, quad_sum(l_lo),
                     quad_sum(l_hi), tq);
}

template <int DQK, int DV>
void launch_typed(dim3 grid, const MhaLaunch& p, cudaStream_t stream) {
  using L = MhaLayout<DQK, DV>;
  DSA_CUDA_CHECK(cudaFuncSetAttribute(mha_kernel<DQK, DV>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(L::bytes)));
  mha_kernel<DQK, DV><<<grid, kThreads, L::bytes, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::optional<std::string> mha_unsupported(int heads, int d_qk, int d_v) {
  if (heads <= 0 || heads > 65535) return "heads must be in [1, 65535] (grid.y)";
  if (!(d_qk == 192 && d_v == 128) && !(d_qk == 48 && d_v == 32))
    return "built for d_qk / d_v 192 / 128 (the model) and 48 / 32 (dsa-tiny), not " + std::to_string(d_qk) + " / " +
           std::to_string(d_v);
  return std::nullopt;
}

std::optional<std::string> mha_launch_problem(const MhaLaunch& p, int rows_per_block) {
  if (!(p.scale > 0.0f)) return "softmax scale must be set (> 0)";
  if ((p.queries + rows_per_block - 1) / rows_per_block > 0x7FFFFFFFll) return "too many queries for grid.x";
  return std::nullopt;
}

void launch_mha(const MhaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("dense_mha.bf16");
  if (auto why = mha_unsupported(p.heads, p.d_qk, p.d_v)) throw CudaError("launch_mha: " + *why);
  if (auto why = mha_launch_problem(p, kRowsPerBlock)) throw CudaError("launch_mha: " + *why);
  if (p.queries == 0) return;
  const std::int64_t qblocks = (p.queries + kRowsPerBlock - 1) / kRowsPerBlock;
  const dim3 grid(static_cast<unsigned>(qblocks), static_cast<unsigned>(p.heads));
  if (p.d_qk == 192) launch_typed<192, 128>(grid, p, stream);
  else launch_typed<48, 32>(grid, p, stream);
}

}  // namespace dsa::cuda
