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

// Two measurements taken turn about (the same loop as measure(), over both), for two
// things timed to be compared with each other (a sweep point's dense baseline and DSA
// pipeline): warm-ups a, b, ...; then samples in pairs, a b, b a, a b, ..., so that whatever the machine does meanwhile (a GPU clock that
// drops as it warms, a shared CPU whose speed wanders) falls on both alike and their ratio
// holds. Both sides get the same number of samples: pairs until both have min_samples and
// both spreads meet the target, or max_samples pairs, or twice max_seconds (each side's
// budget as if measured alone). Each side's `converged` says whether its own spread met it.
struct TimingPair {
  TimingStats a, b;
};
TimingPair measure_interleaved(const TimingSettings& settings, const std::function<double()>& a,
                               const std::function<double()>& b);

// Seconds since an arbitrary epoch (steady clock).
double now_seconds();

nlohmann::json to_json(const TimingStats& t);

}  // namespace dsa::bench
