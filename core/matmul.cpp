#include "core/matmul.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"

namespace dsa {

void matmul_nt(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y, std::int64_t ldy,
               std::int64_t M, std::int64_t N, std::int64_t K) {
  // W^T is materialised once as [K, N] so the inner loop runs along N over
  // contiguous memory and vectorises without reordering any sum.
  std::vector<float> wt(static_cast<std::size_t>(K * N));
  parallel_for(N, [&](std::int64_t n) {
    for (std::int64_t k = 0; k < K; ++k) wt[static_cast<std::size_t>(k * N + n)] = w[n * ldw + k];
  });
  // Blocks of 8 rows share each pass over W^T, which keeps it in cache longer.
  constexpr std::int64_t kRows = 8;
  parallel_for((M + kRows - 1) / kRows, [&](std::int64_t b) {
    const std::int64_t m0 = b * kRows, m1 = std::min(M, m0 + kRows);
    for (std::int64_t m = m0; m < m1; ++m) std::fill(y + m * ldy, y + m * ldy + N, 0.0f);
    for (std::int64_t k = 0; k < K; ++k) {
      const float* wrow = &wt[static_cast<std::size_t>(k * N)];
      for (std::int64_t m = m0; m < m1; ++m) {
        const float a = x[m * ldx + k];
        float* yrow = y + m * ldy;
        for (std::int64_t n = 0; n < N; ++n) yrow[n] += a * wrow[n];
      }
    }
  });
}

}  // namespace dsa
