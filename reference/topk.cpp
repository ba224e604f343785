#include "reference/topk.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/parallel.h"
#include "reference/common.h"

namespace dsa::ref {

bool topk_ranks_before(float sa, std::int64_t a, float sb, std::int64_t b) {
  const bool na = std::isnan(sa), nb = std::isnan(sb);
  if (na != nb) return nb;          // a number ranks before NaN
  if (!na && sa != sb) return sa > sb;  // +0 == -0 falls through to the position rule
  return a < b;
}

void topk(const HostTensor<float>& scores, std::span<const std::int64_t> ends, std::int64_t k,
          HostTensor<std::int32_t>& indices) {
  require(scores.shape().rank == 2, "topk: scores must be [T, S]");
  const std::int64_t T = scores.size(0), S = scores.size(1);
  require(static_cast<std::int64_t>(ends.size()) == T, "topk: one end per row needed");
  require(k >= 1, "topk: k must be >= 1");
  indices = HostTensor<std::int32_t>({T, k}, -1);
  parallel_for(T, [&](std::int64_t t) {
    const std::int64_t end = ends[t];
    require(end >= 0 && end <= S, "topk: row end out of range");
    const float* row = &scores(t, 0);
    std::vector<std::int32_t> pos(static_cast<std::size_t>(end));
    std::iota(pos.begin(), pos.end(), 0);
    const std::int64_t n = std::min(k, end);
    // Partition so the first n positions are the n best under the strict total order.
    std::nth_element(pos.begin(), pos.begin() + n, pos.end(), [&](std::int32_t a, std::int32_t b) {
      return topk_ranks_before(row[a], a, row[b], b);
    });
    std::sort(pos.begin(), pos.begin() + n);
    std::copy(pos.begin(), pos.begin() + n, &indices(t, 0));
  });
}

}  // namespace dsa::ref
