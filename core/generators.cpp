#include "core/generators.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace dsa {

double noise_stddev(int dim, double logit_scale, double noise_logit) {
  // logit = c * sum_d q_d k_d with q_d, k_d ~ N(0, s^2): std = c * s^2 * sqrt(dim).
  return std::sqrt(noise_logit / (logit_scale * std::sqrt(static_cast<double>(dim))));
}

namespace {
std::vector<double> random_unit(Rng& rng, int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  double norm = 0;
  for (double& x : v) { x = rng.normal(); norm += x * x; }
  norm = std::sqrt(norm);
  for (double& x : v) x /= norm;
  return v;
}
}  // namespace

AttentionPattern::AttentionPattern(const PatternSpec& spec, std::int64_t keys, std::uint64_t seed)
    : spec_(spec), seed_(seed) {
  if (spec.local_window < 1) throw std::invalid_argument("pattern: local_window must be >= 1");
  Rng rng(derive_seed(seed, "needle-positions"));
  // Needles avoid key 0 (the sink) and are distinct; fewer when the context is tiny.
  const std::int64_t n = std::min<std::int64_t>(spec.needles, std::max<std::int64_t>(keys - 1, 0));
  while (static_cast<std::int64_t>(needle_pos_.size()) < n) {
    const auto p = static_cast<std::int64_t>(1 + rng.below(static_cast<std::uint64_t>(keys - 1)));
    if (std::find(needle_pos_.begin(), needle_pos_.end(), p) == needle_pos_.end()) needle_pos_.push_back(p);
  }
}

bool AttentionPattern::seeks(std::int64_t query_pos, int needle) const {
  if (needle_pos_[needle] > query_pos) return false;  // causal: a later key cannot be sought
  // A hash of (query position, needle) decides, so the choice does not depend on
  // which other queries were generated in the same call.
  const std::uint64_t h = derive_seed(seed_, "seeks", static_cast<std::uint64_t>(query_pos) * 1024u + needle);
  return static_cast<double>(h >> 11) * 0x1.0p-53 < spec_.needle_query_fraction;
}

std::int64_t max_needles(int rope_dim) { return std::max(0, rope_dim / 2 - 1); }

PatternSpace::PatternSpace(const AttentionPattern& pattern, int rope_dim, double logit_scale, std::uint64_t space_seed)
    : pattern_(pattern), rope_dim_(rope_dim), logit_scale_(logit_scale) {
  if (rope_dim < 4 || rope_dim % 4) throw std::invalid_argument("pattern: rope_dim must be a multiple of 4 and >= 4");
  if (!(logit_scale > 0)) throw std::invalid_argument("pattern: logit_scale must be > 0");
  const auto needles = static_cast<std::int64_t>(pattern.needle_positions().size());
  if (needles > max_needles(rope_dim))
    throw std::invalid_argument("pattern: " + std::to_string(needles) + " needles do not fit in " +
                                std::to_string(rope_dim) + " positional dims (at most " +
                                std::to_string(max_needles(rope_dim)) + ")");
  Rng rng(derive_seed(pattern.seed() ^ space_seed, "directions"));
  // First half of the positional dims: the local code. Second half: the sink and the
  // needles as orthonormal directions. Keeping them apart means no planted part of a
  // query projects onto another planted part of an unrelated key (which would add a
  // large random logit to every key and drown the structure).
  const int pairs = rope_dim / 4;
  // Frequencies come from the pattern's seed alone, so the local profile is the same
  // in every space (attention and indexer agree on "nearby"); phases are per space.
  Rng frng(derive_seed(pattern.seed(), "local-frequencies"));
  const double top = std::numbers::pi / static_cast<double>(pattern.spec().local_window);
  for (int i = 0; i < pairs; ++i) {
    freq_.push_back(top * frng.uniform());
    phase_.push_back(2.0 * std::numbers::pi * rng.uniform());
  }
  // Gram-Schmidt on random vectors of the event half: sink first, then the needles.
  const int half = rope_dim / 2;
  std::vector<std::vector<double>> basis;
  for (std::int64_t j = 0; j <= needles; ++j) {
    std::vector<double> v = random_unit(rng, half);
    for (const auto& b : basis) {
      double dot = 0;
      for (int i = 0; i < half; ++i) dot += v[i] * b[i];
      for (int i = 0; i < half; ++i) v[i] -= dot * b[i];
    }
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    for (double& x : v) x /= norm;
    // Stored as full rope_dim vectors with zeros in the local half.
    std::vector<double> full(static_cast<std::size_t>(rope_dim), 0.0);
    std::copy(v.begin(), v.end(), full.begin() + half);
    basis.push_back(v);
    if (j == 0) sink_ = full;
    else needle_.push_back(full);
  }
}

// Amplitudes: a planted part adds a * b * (u . u) * c to the logit; with a = b =
// sqrt(L / c) and a unit direction u it adds exactly L.
void PatternSpace::plant_keys(float* keys, std::int64_t n, std::int64_t stride, int rope0) const {
  const PatternSpec& sp = pattern_.spec();
  const double c = logit_scale_;
  const double a_loc = std::sqrt(sp.local_logit / c), a_sink = std::sqrt(sp.sink_logit / c),
               a_needle = std::sqrt(sp.needle_logit / c);
  const auto pairs = static_cast<int>(freq_.size());
  const double norm = 1.0 / std::sqrt(static_cast<double>(pairs));
  for (std::int64_t s = 0; s < n; ++s) {
    float* k = keys + s * stride + rope0;
    for (int i = 0; i < pairs; ++i) {
      const double ang = freq_[i] * static_cast<double>(s) + phase_[i];
      k[2 * i] += static_cast<float>(a_loc * norm * std::cos(ang));
      k[2 * i + 1] += static_cast<float>(a_loc * norm * std::sin(ang));
    }
  }
  if (n > 0)
    for (int i = 0; i < rope_dim_; ++i) keys[rope0 + i] += static_cast<float>(a_sink * sink_[i]);
  const auto& pos = pattern_.needle_positions();
  for (std::size_t j = 0; j < pos.size(); ++j) {
    if (pos[j] >= n) continue;
    float* k = keys + pos[j] * stride + rope0;
    for (int i = 0; i < rope_dim_; ++i) k[i] += static_cast<float>(a_needle * needle_[j][i]);
  }
}

void PatternSpace::plant_query(float* q, int rope0, std::int64_t pos, double gain) const {
  const PatternSpec& sp = pattern_.spec();
  const double c = logit_scale_;
  const double a_loc = gain * std::sqrt(sp.local_logit / c), a_sink = gain * std::sqrt(sp.sink_logit / c),
               a_needle = gain * std::sqrt(sp.needle_logit / c);
  const auto pairs = static_cast<int>(freq_.size());
  const double norm = 1.0 / std::sqrt(static_cast<double>(pairs));
  float* r = q + rope0;
  // cos(a)cos(b) + sin(a)sin(b) = cos(a - b): the local part of the logit depends on
  // the distance alone, and is largest at distance 0.
  for (int i = 0; i < pairs; ++i) {
    const double ang = freq_[i] * static_cast<double>(pos) + phase_[i];
    r[2 * i] += static_cast<float>(a_loc * norm * std::cos(ang));
    r[2 * i + 1] += static_cast<float>(a_loc * norm * std::sin(ang));
  }
  for (int i = 0; i < rope_dim_; ++i) r[i] += static_cast<float>(a_sink * sink_[i]);
  for (std::size_t j = 0; j < needle_.size(); ++j)
    if (pattern_.seeks(pos, static_cast<int>(j)))
      for (int i = 0; i < rope_dim_; ++i) r[i] += static_cast<float>(a_needle * needle_[j][i]);
}

std::vector<double> head_gains(int heads, std::uint64_t seed) {
  Rng rng(derive_seed(seed, "head-gains"));
  std::vector<double> g(static_cast<std::size_t>(heads));
  for (double& x : g) x = 0.5 + rng.uniform();
  return g;
}

}  // namespace dsa
