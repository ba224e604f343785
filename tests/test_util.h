// Helpers shared by the tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
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

// `text` with 1 to 3 random edits of the kinds that break a JSON document's structure or
// its values: a character changed to one of JSON's own, a span replaced by up to 22
// digits (minus-signed half the time: values past every integer type), a span deleted,
// a span doubled. For tests that a parser rejects damaged input with its own error.
inline std::string damage_text(std::string text, Rng& rng) {
  static constexpr char kChars[] = "0123456789[]{},:\"-e. tfnaxz";
  const int edits = 1 + static_cast<int>(rng.below(3));
  for (int e = 0; e < edits && !text.empty(); ++e) {
    const auto at = static_cast<std::size_t>(rng.below(text.size()));
    const auto span = std::min<std::size_t>(1 + rng.below(12), text.size() - at);
    switch (rng.below(4)) {
      case 0: text[at] = kChars[rng.below(sizeof kChars - 1)]; break;
      case 1: {
        std::string digits(1 + rng.below(22), '0');
        for (auto& ch : digits) ch = static_cast<char>('0' + rng.below(10));
        text.replace(at, std::min<std::size_t>(span, 4), (rng.below(2) ? "-" : "") + digits);
        break;
      }
      case 2: text.erase(at, span); break;
      default: text.insert(at, text.substr(at, span));
    }
  }
  return text;
}

}  // namespace dsa::test
