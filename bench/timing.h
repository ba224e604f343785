// Honest timing on the CPU: warm-up runs, then samples until the relative spread
// (stddev / mean) falls under the target, or the time budget or the sample cap is
// reached, never fewer than min_samples. Every sample is kept.
#pragma once

#include <functional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "bench/case_spec.h"

namespace dsa::bench {

struct TimingStats {
  std::vector<double> samples;  // seconds, in the order taken
  int warmup = 0;
  double median = 0, min = 0, max = 0, mean = 0, q1 = 0, q3 = 0, iqr = 0;
  double rel_spread = 0;        // stddev / mean
  bool converged = false;       // true when the spread target was met
  double wall_seconds = 0;      // measuring time, warm-up included
};

TimingStats summarize(std::vector<double> samples);

// Calls `sample` (which runs the work once and returns its duration in seconds)
// warmup times untimed, then repeatedly per the settings.
TimingStats measure(const TimingSettings& settings, const std::function<double()>& sample);

// Seconds since an arbitrary epoch (steady clock).
double now_seconds();

nlohmann::json to_json(const TimingStats& t);

}  // namespace dsa::bench
