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

TimingStats measure(const TimingSettings& st, const std::function<double()>& sample) {
  const double start = now_seconds();
  for (int i = 0; i < st.warmup; ++i) sample();
  std::vector<double> samples;
  const double t0 = now_seconds();
  bool converged = false;
  while (true) {
    samples.push_back(sample());
    const auto n = static_cast<int>(samples.size());
    if (n >= st.min_samples) {
      if (summarize(samples).rel_spread <= st.target_rel_spread) { converged = true; break; }
      if (n >= st.max_samples || now_seconds() - t0 >= st.max_seconds) break;
    }
  }
  TimingStats t = summarize(std::move(samples));
  t.warmup = st.warmup;
  t.converged = converged;
  t.wall_seconds = now_seconds() - start;
  return t;
}

TimingPair measure_interleaved(const TimingSettings& st, const std::function<double()>& a,
                               const std::function<double()>& b) {
  const double start = now_seconds();
  for (int i = 0; i < st.warmup; ++i) {
    a();
    b();
  }
  std::vector<double> sa, sb;
  const double t0 = now_seconds();
  for (int i = 0;; ++i) {
    // Alternate which goes first: a spell that starts between the two falls on each as often.
    if (i % 2 == 0) {
      sa.push_back(a());
      sb.push_back(b());
    } else {
      sb.push_back(b());
      sa.push_back(a());
    }
    const auto n = static_cast<int>(sa.size());
    if (n >= st.min_samples) {
      const bool converged = summarize(sa).rel_spread <= st.target_rel_spread &&
                             summarize(sb).rel_spread <= st.target_rel_spread;
      if (converged || n >= st.max_samples || now_seconds() - t0 >= 2 * st.max_seconds) break;
    }
  }
  TimingPair r{summarize(std::move(sa)), summarize(std::move(sb))};
  for (TimingStats* t : {&r.a, &r.b}) {
    t->warmup = st.warmup;
    t->converged = t->rel_spread <= st.target_rel_spread;
    t->wall_seconds = now_seconds() - start;  // the pair's: the two were measured together
  }
  return r;
}

nlohmann::json to_json(const TimingStats& t) {
  return {{"samples_s", t.samples},  {"count", t.samples.size()}, {"warmup", t.warmup},
          {"median_s", t.median},    {"min_s", t.min},             {"max_s", t.max},
          {"mean_s", t.mean},        {"q1_s", t.q1},               {"q3_s", t.q3},
          {"iqr_s", t.iqr},          {"rel_spread", t.rel_spread}, {"converged", t.converged},
          {"wall_s", t.wall_seconds}};
}

}  // namespace dsa::bench
