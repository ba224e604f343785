// Seeded input generators.
//
// "gaussian": i.i.d. normal entries, scaled so that a random (query, key) logit has a
// chosen standard deviation (noise_logit): softmax is then neither flat nor one-hot.
//
// "structured": the same noise plus the patterns trained attention shows, planted in
// the positional (rope) dimensions of both the attention space and the indexer space,
// at the same positions, so that the indexer "knows" what attention will need (as a
// trained indexer approximately does):
//   * sink:   key 0 gets a large logit from every query;
//   * local:  a boost at distance 0 that decays over about `local_window` positions
//             (a sum of cosines of the distance with random frequencies below
//             pi / local_window; no exact period, so no aliasing at long range);
//   * needles: a few keys at random positions, each sought by a share of the
//             queries after it with a large logit.
// Each head scales the planted query parts by its own gain in [0.5, 1.5].
// What is NOT modelled: the noise part of the indexer is independent of the noise
// part of attention, so the indexer finds the diffuse attention mass only by chance.
// Accuracy figures from this generator are therefore conservative for that share.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace dsa {

struct PatternSpec {
  double noise_logit = 1.0;          // std of the random part of a logit
  double sink_logit = 10.0;          // added logit of key 0
  double local_logit = 8.0;          // added logit at distance 0
  std::int64_t local_window = 128;   // positions over which the local boost decays
  int needles = 8;                   // planted keys
  double needle_logit = 10.0;        // added logit for a query seeking the needle
  double needle_query_fraction = 0.5;  // share of later queries that seek each needle
};

// Standard deviation for q and k entries that gives noise_logit as the std of
// logit_scale * (q . k) over `dim` dimensions. logit_scale is the factor between q.k
// and the logit: the softmax scale for attention, 1 for the indexer.
double noise_stddev(int dim, double logit_scale, double noise_logit);

// The choices shared by every space of one case: needle positions and which query
// seeks which needle (decided per absolute query position, so chunked and unchunked
// generation agree).
class AttentionPattern {
 public:
  AttentionPattern(const PatternSpec& spec, std::int64_t keys, std::uint64_t seed);

  const PatternSpec& spec() const { return spec_; }
  std::uint64_t seed() const { return seed_; }
  const std::vector<std::int64_t>& needle_positions() const { return needle_pos_; }
  bool seeks(std::int64_t query_pos, int needle) const;

 private:
  PatternSpec spec_;
  std::uint64_t seed_;
  std::vector<std::int64_t> needle_pos_;
};

// The pattern laid into one vector space: random directions (sink, needles) and
// phases of its own, local frequencies shared with every other space of the pattern.
class PatternSpace {
 public:
  // rope_dim: how many positional dimensions carry the pattern (a multiple of 4):
  // the first half holds the local code, the second half the sink and needle
  // directions (orthonormal), so at most rope_dim / 2 - 1 needles fit.
  PatternSpace(const AttentionPattern& pattern, int rope_dim, double logit_scale, std::uint64_t space_seed);

  // Adds the planted key features to rows [0, n) of `keys` (row stride `stride`),
  // into dims [rope0, rope0 + rope_dim) of each row; row s is the key at position s.
  void plant_keys(float* keys, std::int64_t n, std::int64_t stride, int rope0) const;
  // Adds the planted features of the query at absolute position `pos`, scaled by
  // `gain`, into dims [rope0, rope0 + rope_dim) of one query vector.
  void plant_query(float* q, int rope0, std::int64_t pos, double gain) const;

 private:
  const AttentionPattern& pattern_;
  int rope_dim_;
  double logit_scale_;
  std::vector<double> freq_, phase_;  // local code: rope_dim/4 (frequency, phase) pairs
  std::vector<double> sink_;          // unit vector in the event half of the rope dims
  std::vector<std::vector<double>> needle_;
};

// The most needles a space with `rope_dim` positional dims can hold.
std::int64_t max_needles(int rope_dim);

// Per-head gains in [0.5, 1.5] for the planted query features.
std::vector<double> head_gains(int heads, std::uint64_t seed);

}  // namespace dsa
