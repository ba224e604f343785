// Score rows that stress a top-k kernel, shared by the GPU tests (test_cuda_kernels.cpp)
// and the SIMT emulator's (test_simt_topk.cpp), so both check the same inputs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "kernels/cuda/topk.h"

namespace dsa::test {

enum TopkRowKind : int {
  topk_gaussian,      // N(0, 1)
  topk_signed_zeros,  // every score +0 or -0: one tie across the row
  topk_low_bits,      // 1.0 and its next 3 floats: scores that differ in their lowest bits
  topk_mostly_zero,   // 97% zeros, the rest |N(0, 1)|
  topk_nan_inf,       // NaN, -inf and +inf among N(0, 1)
  topk_coarse,        // N(0, 1) rounded to 1/8: hundreds tie at a 64K row's 2048th score
};

struct TopkRowCase {
  const char* name;
  std::int64_t rows, cols, k;
  TopkRowKind kind;
  friend void PrintTo(const TopkRowCase& c, std::ostream* os) { *os << c.name; }
};

inline HostTensor<float> topk_scores(const TopkRowCase& c) {
  HostTensor<float> scores({c.rows, c.cols});
  Rng rng(derive_seed(11, c.name));
  for (float& x : scores.span()) {
    switch (c.kind) {
      case topk_gaussian: x = static_cast<float>(rng.normal()); break;
      case topk_signed_zeros: x = rng.uniform() < 0.5 ? -0.0f : 0.0f; break;
      case topk_low_bits: {
        x = 1.0f;
        for (auto n = rng.below(4); n > 0; --n) x = std::nextafter(x, 2.0f);
        break;
      }
      case topk_mostly_zero: x = rng.uniform() < 0.97 ? 0.0f : static_cast<float>(std::fabs(rng.normal())); break;
      case topk_coarse: x = static_cast<float>(std::round(rng.normal() * 8.0) / 8.0); break;
      case topk_nan_inf: {
        const double u = rng.uniform();
        x = u < 0.1 ? NAN : u < 0.2 ? -INFINITY : u < 0.25 ? INFINITY : static_cast<float>(rng.normal());
      }
    }
  }
  return scores;
}

// Rows with every interesting valid length in turn: exactly k, k - 1, k + 1, all columns.
inline std::vector<std::int64_t> topk_row_ends(const TopkRowCase& c) {
  std::vector<std::int64_t> ends(static_cast<std::size_t>(c.rows));
  const std::int64_t kk = std::min(c.k, c.cols);
  const std::int64_t choices[] = {kk, std::max<std::int64_t>(kk - 1, 0), std::min(c.k + 1, c.cols), c.cols};
  for (std::int64_t r = 0; r < c.rows; ++r) ends[static_cast<std::size_t>(r)] = choices[r % 4];
  return ends;
}

// Rows the sampled kernels' sample (topk_sample_plan) misjudges both ways, so they must
// come out exact through their fallback: row 0's sampled positions hold its best scores
// (too few keys reach the bound), row 1's its worst (far more than the buffer reach it),
// row 2 is ordinary.
inline HostTensor<float> topk_rows_the_sample_misjudges(std::int64_t cols, std::int64_t k) {
  const cuda::TopkSamplePlan plan = cuda::topk_sample_plan(cols, k);
  std::vector<char> sampled(static_cast<std::size_t>(cols), 0);
  const std::int64_t runs = plan.samples / cuda::kTopkSampleRun;
  for (std::int64_t r = 0; r < runs; ++r)
    for (std::int64_t e = 0; e < cuda::kTopkSampleRun; ++e) sampled[static_cast<std::size_t>(r * cols / runs + e)] = 1;
  HostTensor<float> scores({3, cols});
  Rng rng(derive_seed(12, "sample-misjudges"));
  for (std::int64_t s = 0; s < cols; ++s) {
    const auto u = static_cast<float>(rng.uniform());
    const bool in = sampled[static_cast<std::size_t>(s)] != 0;
    scores(0, s) = in ? 10.0f + u : u;
    scores(1, s) = in ? -10.0f - u : u;
    scores(2, s) = static_cast<float>(rng.normal());
  }
  return scores;
}

}  // namespace dsa::test
