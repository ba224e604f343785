// Device pieces every attention kernel shares (attention_mha*.cu, attention_mqa*.cu via
// attention_mqa_common.cuh): the causal key bound and the MHA kernels' epilogue.
#pragma once

#include <cstdint>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/mma.cuh"

namespace dsa::cuda {

// Keys a causal query at position offset + t sees: [0, causal_end).
__device__ __forceinline__ std::int64_t causal_end(std::int64_t t, std::int64_t offset, std::int64_t keys) {
  const std::int64_t e = offset + t + 1;
  return e < 0 ? 0 : (e > keys ? keys : e);
}

// The MHA epilogue: this thread's two accumulator rows (queries t_lo and t_hi of head h;
// o in fragment order, o[4 j .. 4 j + 3] = columns 8 j + 2 tq + {0, 1} of rows lo, hi)
// normalised by the rows' sums l (already added over the row's 4 lanes) and written as
// bf16, and the log-sum-exp (natural log; -inf for a row without a key) from lane tq 0.
// Rows past the last query are not written.
template <int DV>
__device__ __forceinline__ void store_mha_rows(const MhaLaunch& p, int h, std::int64_t t_lo, std::int64_t t_hi,
                                               const float (&o)[DV / 2], float m_lo, float m_hi, float l_lo,
                                               float l_hi, int tq) {
  constexpr float kLn2 = 0.6931471805599453f;
  const float inv_lo = l_lo > 0.0f ? 1.0f / l_lo : 0.0f, inv_hi = l_hi > 0.0f ? 1.0f / l_hi : 0.0f;
#pragma unroll
  for (int j = 0; j < DV / 8; ++j) {
    const int d = 8 * j + 2 * tq;
    if (t_lo < p.queries)
      *reinterpret_cast<std::uint32_t*>(p.out + (t_lo * p.heads + h) * DV + d) = pack_bf16x2(o[4 * j] * inv_lo, o[4 * j + 1] * inv_lo);
    if (t_hi < p.queries)
      *reinterpret_cast<std::uint32_t*>(p.out + (t_hi * p.heads + h) * DV + d) =
          pack_bf16x2(o[4 * j + 2] * inv_hi, o[4 * j + 3] * inv_hi);
  }
  if (tq == 0) {
    if (t_lo < p.queries) p.lse[t_lo * p.heads + h] = l_lo > 0.0f ? (m_lo + log2f(l_lo)) * kLn2 : DSA_MINUS_INF;
    if (t_hi < p.queries) p.lse[t_hi * p.heads + h] = l_hi > 0.0f ? (m_hi + log2f(l_hi)) * kLn2 : DSA_MINUS_INF;
  }
}

}  // namespace dsa::cuda
