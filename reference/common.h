// Small helpers shared by the reference ops.
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/op_shapes.h"

namespace dsa::ref {

using dsa::key_end;
using dsa::key_ends;
using dsa::require;

// fp32 inputs, fp64 accumulation. Four independent partial sums keep the
// floating-point pipeline busy; the order is fixed, so the result is reproducible.
inline double dot_f64(const float* a, const float* b, std::int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += static_cast<double>(a[i]) * b[i];
    s1 += static_cast<double>(a[i + 1]) * b[i + 1];
    s2 += static_cast<double>(a[i + 2]) * b[i + 2];
    s3 += static_cast<double>(a[i + 3]) * b[i + 3];
  }
  for (; i < n; ++i) s0 += static_cast<double>(a[i]) * b[i];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace dsa::ref
