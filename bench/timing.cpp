#include "bench/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <nlohmann/json.hpp>

namespace dsa::bench {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

namespace {
// Linear interpolation between order statistics (the common "type 7" quantile).
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}
}  // namespace

TimingStats summarize(std::vector<double> samples) {
  TimingStats t;
  t.samples = std::move(samples);
  if (t.samples.empty()) return t;
  std::vector<double> s = t.samples;
  std::sort(s.begin(), s.end());
  t.min = s.front();
  t.max = s.back();
  t.median = quantile(s, 0.5);
  t.q1 = quantile(s, 0.25);
  t.q3 = quantile(s, 0.75);
  t.iqr = t.q3 - t.q1;
  double sum = 0;
  for (double x : s) sum += x;
  t.mean = sum / static_cast<double>(s.size());
  double var = 0;
  for (double x : s) var += (x - t.mean) * (x - t.mean);
  var = s.size() > 1 ? var / static_cast<double>(s.size() - 1) : 0;
  t.rel_spread = t.mean > 0 ? std::sqrt(var) / t.mean : 0;
  return t;
}

namespace {
// The sampling loop of measure() and measure_interleaved(), for one thing or several timed
// turn about (the order reversed every other round): warm-ups, then rounds of one sample
// each until every side has min_samples and meets the spread target, or max_samples rounds,
// or max_seconds per side. Each side's `converged` says whether its own spread met it.
std::vector<TimingStats> measure_turns(const TimingSettings& st,
                                       const std::vector<const std::function<double()>*>& sides) {
  const double start = now_seconds();
  for (int i = 0; i < st.warmup; ++i)
    for (const auto* f : sides) (*f)();
  const std::size_t k = sides.size();
  std::vector<std::vector<double>> samples(k);
  const double t0 = now_seconds();
  for (int round = 0;; ++round) {
    // Alternate which goes first: a spell that starts between two falls on each as often.
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t s = round % 2 == 0 ? j : k - 1 - j;
      samples[s].push_back((*sides[s])());
    }
    const auto n = static_cast<int>(samples[0].size());
    if (n >= st.min_samples) {
      const bool converged = std::all_of(samples.begin(), samples.end(), [&](const std::vector<double>& v) {
        return summarize(v).rel_spread <= st.target_rel_spread;
      });
      if (converged || n >= st.max_samples || now_seconds() - t0 >= static_cast<double>(k) * st.max_seconds) break;
    }
  }
  std::vector<TimingStats> out;
  for (auto& v : samples) {
    TimingStats t = summarize(std::move(v));
    t.warmup = st.warmup;
    t.converged = t.rel_spread <= st.target_rel_spread;
    t.wall_seconds = now_seconds() - start;  // with several sides, theirs together
    out.push_back(std::move(t));
  }
  return out;
}
}  // namespace

TimingStats measure(const TimingSettings& st, const std::function<double()>& sample) {
  return measure_turns(st, {&sample})[0];
}

TimingPair measure_interleaved(const TimingSettings& st, const std::function<double()>& a,
                               const std::function<double()>& b) {
  std::vector<TimingStats> t = measure_turns(st, {&a, &b});
  return {std::move(t[0]), std::move(t[1])};
}

nlohmann::json to_json(const TimingStats& t) {
  return {{"samples_s", t.samples},  {"count", t.samples.size()}, {"warmup", t.warmup},
          {"median_s", t.median},    {"min_s", t.min},             {"max_s", t.max},
          {"mean_s", t.mean},        {"q1_s", t.q1},               {"q3_s", t.q3},
          {"iqr_s", t.iqr},          {"rel_spread", t.rel_spread}, {"converged", t.converged},
          {"wall_s", t.wall_seconds}};
}

}  // namespace dsa::bench
