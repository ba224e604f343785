#include "core/hadamard.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"

namespace dsa {

void hadamard_rotate(std::span<float> x, std::size_t n) {
  if (n == 0 || (n & (n - 1)) != 0) throw std::invalid_argument("hadamard_rotate: n must be a power of two");
  if (x.size() % n != 0) throw std::invalid_argument("hadamard_rotate: size not a multiple of n");
  const double scale = 1.0 / std::sqrt(static_cast<double>(n));
  // Vectors are independent: spread over the threads (an indexer key cache per sequence
  // of a decode batch reaches a billion values).
  const auto groups = static_cast<std::int64_t>(x.size() / n);
  parallel_chunks(groups, std::max<std::int64_t>(1, 4096 / static_cast<std::int64_t>(n)), [&](std::int64_t g0, std::int64_t g1) {
    std::vector<double> v(n);
    for (auto g = static_cast<std::size_t>(g0) * n; g < static_cast<std::size_t>(g1) * n; g += n) {
      // Fast transform in fp64 so the rotation adds no error beyond the final rounding.
      for (std::size_t i = 0; i < n; ++i) v[i] = x[g + i];
      for (std::size_t h = 1; h < n; h <<= 1)
        for (std::size_t i = 0; i < n; i += 2 * h)
          for (std::size_t j = i; j < i + h; ++j) {
            const double a = v[j], b = v[j + h];
            v[j] = a + b;
            v[j + h] = a - b;
          }
      for (std::size_t i = 0; i < n; ++i) x[g + i] = static_cast<float>(v[i] * scale);
    }
  });
}

}  // namespace dsa
