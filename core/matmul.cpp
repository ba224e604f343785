#include "core/matmul.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"

namespace dsa {

namespace {

// Few rows (decode steps, a token routed to an expert): transposing W would cost as
// much as the product, so each output is a dot product of two contiguous rows, with
// eight fixed partial sums that the compiler vectorises and that keep the order fixed.
void matmul_nt_few_rows(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y, std::int64_t ldy,
                        std::int64_t M, std::int64_t N, std::int64_t K) {
  constexpr std::int64_t kCols = 64;  // outputs per task
  parallel_for((N + kCols - 1) / kCols, [&](std::int64_t b) {
    for (std::int64_t n = b * kCols; n < std::min(N, (b + 1) * kCols); ++n) {
      const float* wr = w + n * ldw;
      for (std::int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * ldx;
        float acc[8] = {};
        std::int64_t k = 0;
        for (; k + 8 <= K; k += 8)
          for (int j = 0; j < 8; ++j) acc[j] += xr[k + j] * wr[k + j];
        float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; k < K; ++k) sum += xr[k] * wr[k];
        y[m * ldy + n] = sum;
      }
    }
  });
}

}  // namespace

void matmul_nt(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y, std::int64_t ldy,
               std::int64_t M, std::int64_t N, std::int64_t K) {
  if (M <= 4) {
    matmul_nt_few_rows(x, ldx, w, ldw, y, ldy, M, N, K);
    return;
  }
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
