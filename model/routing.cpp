#include "model/routing.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

namespace dsa::model {

std::vector<std::vector<std::pair<std::int64_t, double>>> route_tokens(const ModelConfig& c, const float* logits,
                                                                       std::int64_t n, const std::vector<float>& bias) {
  const int E = c.routed_experts, G = c.expert_groups, per = E / G;
  std::vector<std::vector<std::pair<std::int64_t, double>>> routed(static_cast<std::size_t>(E));
  for (std::int64_t r = 0; r < n; ++r) {
    // Sigmoid scores; the bias only steers the choice; groups ranked by the sum of
    // their two best biased scores; top experts within the chosen groups; weights are
    // the unbiased scores, normalised, times the scale.
    std::vector<double> s(static_cast<std::size_t>(E)), biased(static_cast<std::size_t>(E));
    for (int e = 0; e < E; ++e) {
      s[e] = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[r * E + e])));
      biased[e] = s[e] + bias[e];
    }
    std::vector<double> gscore(static_cast<std::size_t>(G));
    for (int g = 0; g < G; ++g) {
      std::vector<double> m(biased.begin() + g * per, biased.begin() + (g + 1) * per);
      std::partial_sort(m.begin(), m.begin() + std::min(2, per), m.end(), std::greater<>());
      gscore[g] = m[0] + (per > 1 ? m[1] : 0.0);
    }
    std::vector<int> groups(static_cast<std::size_t>(G));
    std::iota(groups.begin(), groups.end(), 0);
    // Ties go to the smaller index, so routing is deterministic.
    std::stable_sort(groups.begin(), groups.end(), [&](int a, int b) { return gscore[a] > gscore[b]; });
    std::vector<int> cand;
    for (int gi = 0; gi < c.topk_groups; ++gi)
      for (int e = groups[gi] * per; e < (groups[gi] + 1) * per; ++e) cand.push_back(e);
    std::sort(cand.begin(), cand.end());
    std::stable_sort(cand.begin(), cand.end(), [&](int a, int b) { return biased[a] > biased[b]; });
    double sum = 0;
    for (int j = 0; j < c.experts_per_token; ++j) sum += s[cand[j]];
    for (int j = 0; j < c.experts_per_token; ++j) routed[cand[j]].emplace_back(r, s[cand[j]] / sum * c.routed_scaling);
  }
  return routed;
}

}  // namespace dsa::model
