// The CPU matrix product (core/matmul.h): right values on every shape its tiles split
// unevenly, strides honoured, and one fixed summation order, so a row's product has the
// same bits alone (a decode step), beside other rows (a prefill) and on any thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/matmul.h"
#include "core/parallel.h"

namespace dsa {
namespace {

struct Operands {
  std::int64_t M, N, K;
  std::vector<float> x, w;
};

Operands random_operands(std::int64_t M, std::int64_t N, std::int64_t K, unsigned seed) {
  Operands o{M, N, K, std::vector<float>(static_cast<std::size_t>(M * K)), std::vector<float>(static_cast<std::size_t>(N * K))};
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  for (float& v : o.x) v = d(rng);
  for (float& v : o.w) v = d(rng);
  return o;
}

std::vector<float> product(const Operands& o) {
  std::vector<float> y(static_cast<std::size_t>(o.M * o.N));
  matmul_nt(o.x.data(), o.K, o.w.data(), o.K, y.data(), o.N, o.M, o.N, o.K);
  return y;
}

// The order matmul.cpp documents, written out one element at a time.
float documented_order(const float* x, const float* w, std::int64_t K) {
  float part[8] = {};
  std::int64_t k = 0;
  for (; k + 8 <= K; k += 8)
    for (int j = 0; j < 8; ++j) part[j] += x[k + j] * w[k + j];
  float sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; k < K; ++k) sum += x[k] * w[k];
  return sum;
}

// Shapes that leave remainders in every tile dimension (4 rows, 2 columns, 8 of K) and
// in the task split (64 rows of X, 128 KB of W), and K below one vector.
const std::int64_t kShapes[][3] = {{1, 1, 1},    {1, 3, 7},     {3, 5, 8},       {4, 2, 9},
                                   {5, 7, 13},   {65, 33, 100}, {130, 300, 257}, {7, 4100, 8},
                                   {9, 9, 4099}, {2, 2, 0}};

TEST(Matmul, EqualsTheDocumentedOrderOnUnevenShapes) {
  for (const auto& s : kShapes) {
    const Operands o = random_operands(s[0], s[1], s[2], 1);
    const std::vector<float> y = product(o);
    std::int64_t differ = 0;
    for (std::int64_t m = 0; m < o.M; ++m)
      for (std::int64_t n = 0; n < o.N; ++n)
        differ += y[static_cast<std::size_t>(m * o.N + n)] != documented_order(o.x.data() + m * o.K, o.w.data() + n * o.K, o.K);
    EXPECT_EQ(differ, 0) << "M " << o.M << " N " << o.N << " K " << o.K;
  }
}

// Against a double-precision product: catches a wrong index that the order check, which
// shares the operands' layout with the code, could share too.
TEST(Matmul, IsCloseToADoubleProduct) {
  for (const auto& s : kShapes) {
    const Operands o = random_operands(s[0], s[1], s[2], 2);
    const std::vector<float> y = product(o);
    double worst = 0;
    for (std::int64_t m = 0; m < o.M; ++m)
      for (std::int64_t n = 0; n < o.N; ++n) {
        double exact = 0, magnitude = 0;
        for (std::int64_t k = 0; k < o.K; ++k) {
          exact += static_cast<double>(o.x[m * o.K + k]) * o.w[n * o.K + k];
          magnitude += std::abs(static_cast<double>(o.x[m * o.K + k]) * o.w[n * o.K + k]);
        }
        worst = std::max(worst, std::abs(y[static_cast<std::size_t>(m * o.N + n)] - exact) / (magnitude + 1e-30));
      }
    EXPECT_LT(worst, 1e-5) << "M " << o.M << " N " << o.N << " K " << o.K;
  }
}

// Row strides: X rows read from a wider array, Y written into columns [2, 2 + N) of a
// wider one, the columns around them untouched.
TEST(Matmul, ReadsAndWritesThroughRowStrides) {
  const std::int64_t M = 6, N = 5, K = 19, ldx = K + 3, ldy = N + 4;
  const Operands o = random_operands(M, N, K, 3);
  std::vector<float> xs(static_cast<std::size_t>(M * ldx), NAN), ys(static_cast<std::size_t>(M * ldy), -7.0f);
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t k = 0; k < K; ++k) xs[static_cast<std::size_t>(m * ldx + k)] = o.x[static_cast<std::size_t>(m * K + k)];
  matmul_nt(xs.data(), ldx, o.w.data(), K, ys.data() + 2, ldy, M, N, K);
  const std::vector<float> y = product(o);
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t c = 0; c < ldy; ++c) {
      const float got = ys[static_cast<std::size_t>(m * ldy + c)];
      if (c >= 2 && c < 2 + N)
        EXPECT_EQ(got, y[static_cast<std::size_t>(m * N + c - 2)]) << "row " << m << " column " << c - 2;
      else
        EXPECT_EQ(got, -7.0f) << "row " << m << " column " << c << " is outside Y";
    }
}

// Each row alone, rows in threes, and one thread: the bits of the whole product.
TEST(Matmul, ARowsBitsDoNotDependOnTheRowsBesideItOrTheThreads) {
  const Operands o = random_operands(70, 260, 300, 4);
  const std::vector<float> whole = product(o);
  std::vector<float> alone(whole.size()), threes(whole.size());
  for (std::int64_t m = 0; m < o.M; ++m)
    matmul_nt(&o.x[m * o.K], o.K, o.w.data(), o.K, &alone[m * o.N], o.N, 1, o.N, o.K);
  for (std::int64_t m = 0; m < o.M; m += 3)
    matmul_nt(&o.x[m * o.K], o.K, o.w.data(), o.K, &threes[m * o.N], o.N, std::min<std::int64_t>(3, o.M - m), o.N, o.K);
  const int threads = max_threads();
  set_max_threads(1);
  const std::vector<float> one_thread = product(o);
  set_max_threads(threads);
  EXPECT_EQ(alone, whole);
  EXPECT_EQ(threes, whole);
  EXPECT_EQ(one_thread, whole);
}

}  // namespace
}  // namespace dsa
