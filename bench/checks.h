// Collects a case's accuracy checks: structure first (NaN/inf positions, index sets),
// then values with the case's tolerances. Each check has a name, the measured value,
// its limit and a verdict; the metrics behind them are kept for the report.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/case_spec.h"
#include "core/tensor.h"

namespace dsa::bench {

// Outputs are poisoned before a validated run so an element an implementation leaves
// unwritten shows in the checks: NaN for values (a structure mismatch), -2 for indices
// (neither the -1 padding nor a valid index). From every thread: a 128K sweep point's
// scores are 2 GB.
inline void poison(HostTensor<float>& t) {
  host_fill(t.data(), t.span().size(), std::numeric_limits<float>::quiet_NaN());
}
inline void poison(HostTensor<std::int32_t>& t) { host_fill(t.data(), t.span().size(), std::int32_t{-2}); }

class Checks {
 public:
  // A float output: NaN/inf structure must match exactly; then the share of elements
  // within abs-or-rel (plus each element's allowance, if given) must reach
  // min_pass_fraction and cos_diff must stay under cos_limit. Value checks are skipped
  // (and say so) when the structure differs.
  void compare_output(const std::string& label, std::span<const float> x, std::span<const float> ref,
                      const std::vector<std::int64_t>& shape, double abs, double rel, double cos_limit,
                      double min_pass_fraction, std::span<const float> allowance = {});
  // An attention output against the reference, with the case's tolerance and the
  // allowance for rounded probabilities: tol.p_round * magnitude per element
  // (reference/attention.h says what magnitude is).
  void compare_attention(const std::string& label, std::span<const float> x, std::span<const float> ref,
                         std::span<const float> magnitude, const std::vector<std::int64_t>& shape, const Tolerance& tol);
  // Log-sum-exp: -inf positions exactly; finite values within a relative bound.
  void compare_lse(const std::string& label, std::span<const float> x, std::span<const float> ref,
                   const std::vector<std::int64_t>& shape, double rel);
  // Index lists: must be identical element for element (the tie rule makes the
  // output a pure function of the scores).
  void compare_indices(const std::string& label, const HostTensor<std::int32_t>& x,
                       const HostTensor<std::int32_t>& ref);
  // value <= limit.
  void at_most(const std::string& name, double value, double limit, const std::string& detail = "");
  // A metric recorded without a verdict.
  void metric(const std::string& group, const std::string& key, nlohmann::json value);

  bool passed() const;
  bool empty() const { return checks_.empty(); }
  std::string first_failure() const;
  nlohmann::json to_json() const;

 private:
  void add(const std::string& name, bool pass, nlohmann::json value, nlohmann::json limit, const std::string& detail);
  std::vector<nlohmann::json> checks_;
  nlohmann::json metrics_ = nlohmann::json::object();
};

}  // namespace dsa::bench
