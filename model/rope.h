// Rotary position embedding as DeepSeek-V3.2-Exp applies it (dsa-spec.md sections 1-3).
// Frequencies: theta^(-2i/d), with YaRN's correction when the config has it: frequencies
// below the [beta_slow, beta_fast] rotation band are divided by `factor`, those above it
// are kept, and a linear ramp blends the band between.
// Two layouts, and the difference matters (a first public release used the wrong one
// for the indexer and lost up to 20 points on long-context evaluations):
//   interleaved (MLA's q_rope and k_rope): pairs (x[2i], x[2i+1]);
//   half-split  (the indexer's rope part): pairs (x[i], x[i + d/2]).
#pragma once

#include <cstdint>
#include <vector>

#include "model/config.h"

namespace dsa::model {

// The d/2 frequencies for a rope dimension d.
std::vector<double> rope_frequencies(const ModelConfig& c, int d);

// Rotates the d values at x in place for absolute position `pos`.
void rope_interleaved(float* x, int d, std::int64_t pos, const std::vector<double>& freqs);
void rope_half_split(float* x, int d, std::int64_t pos, const std::vector<double>& freqs);

}  // namespace dsa::model
