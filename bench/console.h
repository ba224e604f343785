// What the runner prints: progress on stderr while it runs (case i of N, elapsed,
// ETA), and a summary table on stdout at the end.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/case_spec.h"

namespace dsa::bench {

// Rough floating-point work of a case (all modes, all points), used only to weight
// the ETA so that a long sweep is not estimated like a small op.
double estimated_work(const CaseSpec& c);

// A case still running `heartbeat_s` seconds after it began says so on stderr, with what
// it is doing (its last phase() or detail()), again at 2, 4, 8... times that (at most 30
// minutes apart): a case of hours (a CPU reference at 128K, a hung kernel) otherwise
// showed nothing after its "[i/N] name ..." line. 0: no such lines.
class Progress {
 public:
  Progress(const std::vector<CaseSpec>& cases, bool enabled, double heartbeat_s = 60);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // A case an earlier process of the run finished: left out of the ETA's work.
  void skip(std::size_t i);
  void begin(std::size_t i);
  // A line about the running case; also its phase from now on.
  void detail(const std::string& msg);
  // What the running case does now, printed only in a "still running" line.
  void phase(const std::string& what);
  void end(std::size_t i, const nlohmann::json& record);

 private:
  void heartbeat_loop();

  const std::vector<CaseSpec>& cases_;
  bool enabled_;
  double heartbeat_s_;
  double start_ = 0, total_ = 0, done_ = 0;
  std::size_t current_ = 0;
  // Shared with the heartbeat thread.
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false, running_ = false;
  double case_start_ = 0, next_beat_ = 0;
  std::string phase_;
  std::thread heartbeat_;
};

std::string format_seconds(double s);
// One line per case, then a table per dsa_vs_dense sweep, then the totals.
std::string summary_table(const nlohmann::json& results);
// A one-line description of a case's shape, for `list` and the summary.
std::string case_shape(const CaseSpec& c);

}  // namespace dsa::bench
