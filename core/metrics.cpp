#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_set>

namespace dsa {

namespace {
enum class Kind { finite, nan, posinf, neginf };
Kind kind_of(float v) {
  if (std::isnan(v)) return Kind::nan;
  if (std::isinf(v)) return v > 0 ? Kind::posinf : Kind::neginf;
  return Kind::finite;
}
void check_sizes(std::size_t a, std::size_t b, const char* what) {
  if (a != b) throw std::invalid_argument(std::string(what) + ": sizes differ");
}
}  // namespace

StructureReport compare_structure(std::span<const float> x, std::span<const float> ref) {
  check_sizes(x.size(), ref.size(), "compare_structure");
  StructureReport r;
  r.compared = static_cast<std::int64_t>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const Kind kr = kind_of(ref[i]);
    r.ref_nan += kr == Kind::nan;
    r.ref_posinf += kr == Kind::posinf;
    r.ref_neginf += kr == Kind::neginf;
    if (kind_of(x[i]) != kr) {
      if (r.first_mismatch < 0) r.first_mismatch = static_cast<std::int64_t>(i);
      ++r.mismatches;
    }
  }
  return r;
}

ValueReport compare_values(std::span<const float> x, std::span<const float> ref,
                           double abs_tol, double rel_tol, std::span<const float> allowance) {
  check_sizes(x.size(), ref.size(), "compare_values");
  if (!allowance.empty()) check_sizes(allowance.size(), ref.size(), "compare_values (allowance)");
  ValueReport r;
  double diff2 = 0, ref2 = 0, xy = 0, xx_yy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(ref[i])) continue;
    const double a = x[i], b = ref[i], d = std::fabs(a - b);
    ++r.compared;
    diff2 += (a - b) * (a - b);
    ref2 += b * b;
    xy += a * b;
    xx_yy += a * a + b * b;
    if (d > r.max_abs || r.max_abs_index < 0) {
      r.max_abs = d;
      r.max_abs_index = static_cast<std::int64_t>(i);
    }
    const double bound = std::max(abs_tol, rel_tol * std::fabs(b));
    const double extra = allowance.empty() ? 0.0 : allowance[i];
    if (d > bound + extra) {
      if (r.first_failure < 0) r.first_failure = static_cast<std::int64_t>(i);
      ++r.failures;
    } else if (d > bound) {
      ++r.helped;
    }
  }
  r.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  r.cos_diff = xx_yy > 0 ? 1.0 - 2.0 * xy / xx_yy : 0.0;
  r.pass_fraction = r.compared ? 1.0 - static_cast<double>(r.failures) / static_cast<double>(r.compared) : 1.0;
  return r;
}

double rel_l2(std::span<const float> x, std::span<const float> ref) {
  return compare_values(x, ref, 0.0, 0.0).rel_l2;
}

double cos_diff(std::span<const float> x, std::span<const float> y) {
  return compare_values(x, y, 0.0, 0.0).cos_diff;
}

double set_recall(std::span<const std::int32_t> selected, std::span<const std::int32_t> truth) {
  std::unordered_set<std::int32_t> sel;
  for (std::int32_t s : selected) if (s >= 0) sel.insert(s);
  std::unordered_set<std::int32_t> tru;
  for (std::int32_t t : truth) if (t >= 0) tru.insert(t);
  if (tru.empty()) return 1.0;
  std::size_t hit = 0;
  for (std::int32_t t : tru) hit += sel.count(t);
  return static_cast<double>(hit) / static_cast<double>(tru.size());
}

double attention_mass_recall(std::span<const double> logits, std::span<const std::int32_t> selected) {
  if (logits.empty()) return 1.0;
  const double m = *std::max_element(logits.begin(), logits.end());
  if (!std::isfinite(m)) return std::numeric_limits<double>::quiet_NaN();
  double total = 0;
  for (double l : logits) total += std::exp(l - m);
  std::vector<char> seen(logits.size(), 0);
  double mass = 0;
  for (std::int32_t s : selected) {
    if (s < 0 || static_cast<std::size_t>(s) >= logits.size() || seen[s]) continue;
    seen[s] = 1;
    mass += std::exp(logits[s] - m);
  }
  return mass / total;
}

std::string unravel_index(std::int64_t flat, const std::vector<std::int64_t>& shape) {
  if (flat < 0) return "[]";
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    const std::int64_t d = std::max<std::int64_t>(shape[k], 1);
    idx[k] = flat % d;
    flat /= d;
  }
  std::string s = "[";
  for (std::size_t k = 0; k < idx.size(); ++k) s += (k ? "," : "") + std::to_string(idx[k]);
  return s + "]";
}

}  // namespace dsa
