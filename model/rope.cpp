#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace dsa::model {

std::vector<double> rope_frequencies(const ModelConfig& c, int d) {
  std::vector<double> f(static_cast<std::size_t>(d / 2));
  for (int i = 0; i < d / 2; ++i) f[i] = 1.0 / std::pow(c.rope_theta, 2.0 * i / d);
  if (!c.rope.yarn || c.rope.factor <= 1.0) return f;
  // The dimension index at which a frequency completes `rotations` turns over the
  // original context length.
  const auto correction_dim = [&](double rotations) {
    return d * std::log(static_cast<double>(c.rope.original_max_position) / (rotations * 2.0 * std::numbers::pi)) /
           (2.0 * std::log(c.rope_theta));
  };
  const double low = std::max(0.0, std::floor(correction_dim(c.rope.beta_fast)));
  double high = std::min(static_cast<double>(d - 1), std::ceil(correction_dim(c.rope.beta_slow)));
  if (high == low) high += 0.001;
  for (int i = 0; i < d / 2; ++i) {
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    const double smooth = 1.0 - ramp;  // 1: keep the frequency, 0: interpolate it by `factor`
    f[i] = f[i] / c.rope.factor * (1.0 - smooth) + f[i] * smooth;
  }
  return f;
}

namespace {
inline void rotate(float& a, float& b, double angle) {
  const double cs = std::cos(angle), sn = std::sin(angle);
  const double x = a, y = b;
  a = static_cast<float>(x * cs - y * sn);
  b = static_cast<float>(x * sn + y * cs);
}
}  // namespace

void rope_interleaved(float* x, int d, std::int64_t pos, const std::vector<double>& freqs) {
  for (int i = 0; i < d / 2; ++i) rotate(x[2 * i], x[2 * i + 1], static_cast<double>(pos) * freqs[i]);
}

void rope_half_split(float* x, int d, std::int64_t pos, const std::vector<double>& freqs) {
  for (int i = 0; i < d / 2; ++i) rotate(x[i], x[i + d / 2], static_cast<double>(pos) * freqs[i]);
}

}  // namespace dsa::model
