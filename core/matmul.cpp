#include "core/matmul.h"

#include <algorithm>
#include <cstring>

#include "core/parallel.h"

namespace dsa {

namespace {

// Every output is the dot product of a row of X and a row of W, both contiguous, summed
// in one fixed order whatever M, N or the thread count: eight running partial sums
// (element k goes to sum k mod 8) over the first K - K % 8 elements, folded pairwise,
// then the remaining elements one by one. So a row's product does not depend on the
// rows beside it: a decode step (one row) gets the bits a prefill gives that row.
//
// The eight partial sums are one 8-lane vector; a tile of kRows rows of X by kCols rows
// of W keeps its kRows x kCols vectors in registers over the whole of K, so each load
// of X or W feeds several products (the old form streamed rows of Y through the cache
// once per k, memory-bound). GCC lowers the vector type to the target's registers:
// two SSE registers a vector in the portable build, one AVX register in the avx2
// clone. Neither clone fuses the multiply and add (no FMA in either target, and
// CMake sets -ffp-contract=off for this file), so both give the same bits.
using v8 = float __attribute__((vector_size(32)));

template <int R, int C>
[[gnu::always_inline]] inline void tile(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y,
                                        std::int64_t ldy, std::int64_t K) {
  v8 acc[R][C] = {};
  std::int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    // Loads by memcpy (rows need not be aligned); no function passes a vector by value,
    // which would tie the portable clone's calling convention to AVX.
    v8 xv[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) std::memcpy(&xv[r], x + r * ldx + k, sizeof(v8));
#pragma GCC unroll 2
    for (int c = 0; c < C; ++c) {
      v8 wv;
      std::memcpy(&wv, w + c * ldw + k, sizeof wv);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][c] += xv[r] * wv;
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      const v8& a = acc[r][c];
      float sum = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
      for (std::int64_t j = k; j < K; ++j) sum += x[r * ldx + j] * w[c * ldw + j];
      y[r * ldy + c] = sum;
    }
}

constexpr int kRows = 4, kCols = 2;  // 8 accumulators: half the AVX registers

template <int R>
[[gnu::always_inline]] inline void row_block(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y,
                                             std::int64_t ldy, std::int64_t N, std::int64_t K) {
  std::int64_t n = 0;
  for (; n + kCols <= N; n += kCols) tile<R, kCols>(x, ldx, w + n * ldw, ldw, y + n, ldy, K);
  for (; n < N; ++n) tile<R, 1>(x, ldx, w + n * ldw, ldw, y + n, ldy, K);
}

// Y[0:M, 0:N] for one task: blocks of kRows rows of X (kept in L1) against every row of
// the task's slice of W (kept in L2).
__attribute__((target_clones("avx2", "default"))) void product_block(const float* x, std::int64_t ldx, const float* w,
                                                                     std::int64_t ldw, float* y, std::int64_t ldy,
                                                                     std::int64_t M, std::int64_t N, std::int64_t K) {
  std::int64_t m = 0;
  for (; m + kRows <= M; m += kRows) row_block<kRows>(x + m * ldx, ldx, w, ldw, y + m * ldy, ldy, N, K);
  switch (M - m) {
    case 3: row_block<3>(x + m * ldx, ldx, w, ldw, y + m * ldy, ldy, N, K); break;
    case 2: row_block<2>(x + m * ldx, ldx, w, ldw, y + m * ldy, ldy, N, K); break;
    case 1: row_block<1>(x + m * ldx, ldx, w, ldw, y + m * ldy, ldy, N, K); break;
    default: break;
  }
}

}  // namespace

void matmul_nt(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y, std::int64_t ldy,
               std::int64_t M, std::int64_t N, std::int64_t K) {
  if (M <= 0 || N <= 0) return;
  // Tasks are slices of W of about 128 KB (at least 8 rows) by runs of 64 rows of X: a
  // slice stays in L2 while the run's row blocks pass over it, and both dimensions
  // give the threads work, so a decode step (one row) and a narrow product (few rows
  // of W) are spread as well as a prefill.
  const std::int64_t w_rows = std::max<std::int64_t>(8, (128 << 10) / (4 * std::max<std::int64_t>(K, 1))) / kCols * kCols;
  const std::int64_t x_rows = 64;
  const std::int64_t slices = (N + w_rows - 1) / w_rows, runs = (M + x_rows - 1) / x_rows;
  parallel_for(slices * runs, [&](std::int64_t t) {
    const std::int64_t n0 = t / runs * w_rows, m0 = t % runs * x_rows;
    product_block(x + m0 * ldx, ldx, w + n0 * ldw, ldw, y + m0 * ldy + n0, ldy, std::min(x_rows, M - m0),
                  std::min(w_rows, N - n0), K);
  });
}

}  // namespace dsa
