// What the runner prints: progress on stderr while it runs (case i of N, elapsed,
// ETA), and a summary table on stdout at the end.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/case_spec.h"

namespace dsa::bench {

// Rough floating-point work of a case (all modes, all points), used only to weight
// the ETA so that a long sweep is not estimated like a small op.
double estimated_work(const CaseSpec& c);

class Progress {
 public:
  Progress(const std::vector<CaseSpec>& cases, bool enabled);
  // A case an earlier process of the run finished: left out of the ETA's work.
  void skip(std::size_t i);
  void begin(std::size_t i);
  void detail(const std::string& msg) const;
  void end(std::size_t i, const nlohmann::json& record);

 private:
  const std::vector<CaseSpec>& cases_;
  bool enabled_;
  double start_ = 0, total_ = 0, done_ = 0;
  std::size_t current_ = 0;
};

std::string format_seconds(double s);
// One line per case, then a table per dsa_vs_dense sweep, then the totals.
std::string summary_table(const nlohmann::json& results);
// A one-line description of a case's shape, for `list` and the summary.
std::string case_shape(const CaseSpec& c);

}  // namespace dsa::bench
