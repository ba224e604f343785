#include "bench/checks.h"

#include <cmath>
#include <sstream>

#include "core/metrics.h"

namespace dsa::bench {

void Checks::add(const std::string& name, bool pass, nlohmann::json value, nlohmann::json limit,
                 const std::string& detail) {
  nlohmann::json c = {{"name", name}, {"pass", pass}, {"value", std::move(value)}, {"limit", std::move(limit)}};
  if (!detail.empty()) c["detail"] = detail;
  checks_.push_back(std::move(c));
}

void Checks::compare_output(const std::string& label, std::span<const float> x, std::span<const float> ref,
                            const std::vector<std::int64_t>& shape, double abs, double rel, double cos_limit,
                            double min_pass_fraction, std::span<const float> allowance) {
  const StructureReport st = compare_structure(x, ref);
  add(label + ".structure", st.ok(), st.mismatches, 0,
      st.ok() ? "" : "NaN/inf positions differ; first at " + unravel_index(st.first_mismatch, shape));
  metrics_[label]["nonfinite_in_reference"] = st.ref_nan + st.ref_posinf + st.ref_neginf;
  if (!st.ok()) {
    add(label + ".values", false, nullptr, nullptr, "not compared: structure differs");
    return;
  }
  const ValueReport v = compare_values(x, ref, abs, rel, allowance);
  nlohmann::json& m = metrics_[label];
  m["compared"] = v.compared;
  m["rel_l2"] = v.rel_l2;
  m["cos_diff"] = v.cos_diff;
  m["max_abs"] = v.max_abs;
  m["max_abs_at"] = unravel_index(v.max_abs_index, shape);
  m["pass_fraction"] = v.pass_fraction;
  m["abs_tol"] = abs;
  m["rel_tol"] = rel;
  if (!allowance.empty()) m["passed_by_allowance"] = v.helped;
  std::ostringstream why;
  if (v.failures)
    why << v.failures << " of " << v.compared << " elements outside abs " << abs << " / rel " << rel
        << (allowance.empty() ? "" : " (+ allowance)") << "; first at " << unravel_index(v.first_failure, shape) << " ("
        << x[v.first_failure] << " vs " << ref[v.first_failure]
        << (allowance.empty() ? "" : ", allowance " + std::to_string(allowance[v.first_failure])) << ")";
  add(label + ".within_tolerance", v.pass_fraction >= min_pass_fraction, v.pass_fraction,
      {{"min", min_pass_fraction}}, why.str());
  add(label + ".cos_diff", v.cos_diff <= cos_limit, v.cos_diff, {{"max", cos_limit}}, "");
}

void Checks::compare_attention(const std::string& label, std::span<const float> x, std::span<const float> ref,
                               std::span<const float> magnitude, const std::vector<std::int64_t>& shape,
                               const Tolerance& tol) {
  std::vector<float> allowance(magnitude.size());
  for (std::size_t i = 0; i < magnitude.size(); ++i) allowance[i] = static_cast<float>(tol.p_round * magnitude[i]);
  compare_output(label, x, ref, shape, tol.abs, tol.rel, tol.cos_diff, tol.min_pass_fraction, allowance);
  metrics_[label]["p_round"] = tol.p_round;
}

void Checks::compare_lse(const std::string& label, std::span<const float> x, std::span<const float> ref,
                         const std::vector<std::int64_t>& shape, double rel) {
  const StructureReport st = compare_structure(x, ref);
  add(label + ".structure", st.ok(), st.mismatches, 0,
      st.ok() ? "" : "-inf/NaN positions differ; first at " + unravel_index(st.first_mismatch, shape));
  if (!st.ok()) return;
  // An lse near 0 would make a purely relative bound meaningless; 1e-6 absolute
  // covers that without loosening anything at the magnitudes that occur.
  const ValueReport v = compare_values(x, ref, 1e-6, rel);
  metrics_[label] = {{"max_abs", v.max_abs}, {"max_abs_at", unravel_index(v.max_abs_index, shape)},
                     {"rel_tol", rel}, {"failures", v.failures}};
  std::ostringstream why;
  if (v.failures) why << v.failures << " values outside rel " << rel << "; first at " << unravel_index(v.first_failure, shape);
  add(label + ".within_tolerance", v.failures == 0, v.pass_fraction, {{"min", 1.0}}, why.str());
}

void Checks::compare_indices(const std::string& label, const HostTensor<std::int32_t>& x,
                             const HostTensor<std::int32_t>& ref) {
  if (!(x.shape() == ref.shape())) {
    add(label + ".identical", false, nullptr, nullptr, "shapes differ: " + x.shape().str() + " vs " + ref.shape().str());
    return;
  }
  std::int64_t diff_rows = 0, first = -1;
  const std::int64_t T = x.size(0), K = x.size(1);
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t j = 0; j < K; ++j)
      if (x(t, j) != ref(t, j)) {
        ++diff_rows;
        if (first < 0) first = t;
        break;
      }
  std::string detail;
  if (diff_rows) {
    std::vector<std::int32_t> a(&x(first, 0), &x(first, 0) + K), b(&ref(first, 0), &ref(first, 0) + K);
    std::ostringstream ss;
    ss << diff_rows << " of " << T << " rows differ; first row " << first << " (recall of the reference set "
       << set_recall(a, b) << ")";
    detail = ss.str();
  }
  add(label + ".identical", diff_rows == 0, diff_rows, 0, detail);
  metrics_[label]["rows_differing"] = diff_rows;
}

void Checks::at_most(const std::string& name, double value, double limit, const std::string& detail) {
  add(name, value <= limit, value, {{"max", limit}}, detail);
}

void Checks::metric(const std::string& group, const std::string& key, nlohmann::json value) {
  metrics_[group][key] = std::move(value);
}

bool Checks::passed() const {
  for (const auto& c : checks_)
    if (!c["pass"].get<bool>()) return false;
  return true;
}

std::string Checks::first_failure() const {
  for (const auto& c : checks_)
    if (!c["pass"].get<bool>()) {
      std::string s = c["name"].get<std::string>();
      if (c.contains("detail")) s += ": " + c["detail"].get<std::string>();
      else s += ": " + c["value"].dump() + " (limit " + c["limit"].dump() + ")";
      return s;
    }
  return "";
}

nlohmann::json Checks::to_json() const { return {{"checks", checks_}, {"metrics", metrics_}}; }

}  // namespace dsa::bench
