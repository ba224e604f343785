// Helpers shared by the tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/parallel.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace dsa::test {

inline HostTensor<float> random_tensor(Shape s, std::uint64_t seed, double sd = 1.0) {
  HostTensor<float> t(s);
  Rng rng(seed);
  rng.fill_normal(t.span(), 0.0, sd);
  return t;
}

// Element-wise |a - b| <= atol + rtol * |b|, NaN/inf positions equal; reports the first miss.
inline ::testing::AssertionResult all_close(const HostTensor<float>& a, const HostTensor<float>& b, double rtol,
                                            double atol) {
  if (!(a.shape() == b.shape())) return ::testing::AssertionFailure() << "shapes " << a.shape().str() << " vs " << b.shape().str();
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const float x = a.data()[i], y = b.data()[i];
    if (std::isnan(x) || std::isnan(y) || std::isinf(x) || std::isinf(y)) {
      if (!(std::isnan(x) && std::isnan(y)) && x != y)
        return ::testing::AssertionFailure() << "non-finite mismatch at " << i << ": " << x << " vs " << y;
      continue;
    }
    if (std::fabs(x - y) > atol + rtol * std::fabs(y))
      return ::testing::AssertionFailure() << "at flat index " << i << ": " << x << " vs " << y;
  }
  return ::testing::AssertionSuccess();
}

// A scratch path of this test process: ctest runs each test case as its own process,
// often several at once, so shared names would race (one removes what another reads).
inline std::string scratch_path(const std::string& name) {
  const std::filesystem::path d =
      std::filesystem::path(::testing::TempDir()) / ("dsa-tests-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return (d / name).string();
}

// Runs f with a given OpenMP thread count, restoring the previous one.
template <class F>
void with_threads(int n, F&& f) {
  const int before = max_threads();
  set_max_threads(n);
  f();
  set_max_threads(before);
}

}  // namespace dsa::test
