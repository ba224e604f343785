// Top-k selection per row of index scores (dsa-spec.md section 3).
//
// The tie rule (the project's definition; peers select among ties by arrival order
// and so differ from run to run):
//   * keys are ranked by score, larger first;
//   * equal scores rank by position, smaller position first; +0 and -0 are equal;
//   * NaN ranks below every number, -inf included;
//   * row t selects its min(k, end[t]) best keys among positions [0, end[t]).
// Output row t lists the selected positions in increasing order, then -1 padding
// up to k. Listing by position (not by score) makes the output a pure function of
// the selected set, so comparing two implementations is an exact array comparison.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace dsa::ref {

// True when key a (score sa) ranks strictly before key b (score sb) under the rule above.
bool topk_ranks_before(float sa, std::int64_t a, float sb, std::int64_t b);

// scores [T, S]; ends[t] in [0, S]; indices [T, k] (resized here).
void topk(const HostTensor<float>& scores, std::span<const std::int64_t> ends, std::int64_t k,
          HostTensor<std::int32_t>& indices);

}  // namespace dsa::ref
