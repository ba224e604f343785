#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/cpu/cpu_ops.h"

namespace dsa::cpu {

namespace {

// Maps a score to an unsigned key whose order is the ranking order of the reference
// tie rule: larger score -> larger key, -0 and +0 the same key, NaN below -inf.
inline std::uint32_t rank_key(float f) {
  if (std::isnan(f)) return 0;
  if (f == 0.0f) f = 0.0f;  // canonical +0: -0 must tie with +0
  const auto u = std::bit_cast<std::uint32_t>(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

void select_row(const float* row, std::int64_t end, std::int64_t k, std::int32_t* out,
                std::vector<std::uint32_t>& keys) {
  const std::int64_t n = std::min(k, end);
  std::int64_t written = 0;
  if (n == end) {  // everything valid is selected; no ranking needed
    for (std::int64_t s = 0; s < end; ++s) out[written++] = static_cast<std::int32_t>(s);
  } else if (n > 0) {
    keys.resize(static_cast<std::size_t>(end));
    for (std::int64_t s = 0; s < end; ++s) keys[s] = rank_key(row[s]);
    // Find the n-th largest key, 8 bits at a time from the top. `remaining` is how
    // many keys we still need from those matching the prefix found so far.
    std::uint32_t prefix = 0, mask = 0;
    std::int64_t remaining = n;
    for (int shift = 24; shift >= 0; shift -= 8) {
      std::int64_t hist[256] = {};
      for (std::int64_t s = 0; s < end; ++s)
        if ((keys[s] & mask) == prefix) ++hist[(keys[s] >> shift) & 0xFFu];
      int b = 255;
      for (; b > 0 && hist[b] < remaining; --b) remaining -= hist[b];
      prefix |= static_cast<std::uint32_t>(b) << shift;
      mask |= 0xFFu << shift;
    }
    // prefix is now the threshold key: take every larger key, and the first
    // `remaining` keys equal to it in position order (the tie rule).
    for (std::int64_t s = 0; s < end; ++s) {
      const std::uint32_t key = keys[s];
      if (key > prefix || (key == prefix && remaining-- > 0)) out[written++] = static_cast<std::int32_t>(s);
    }
  }
  std::fill(out + written, out + k, -1);
}

}  // namespace

void topk_radix(const HostTensor<float>& scores, std::span<const std::int64_t> ends,
                HostTensor<std::int32_t>& indices) {
  require(scores.shape().rank == 2 && indices.shape().rank == 2 && indices.size(0) == scores.size(0),
          "cpu topk: scores [T, S] and indices [T, k] expected");
  const std::int64_t T = scores.size(0), S = scores.size(1), k = indices.size(1);
  require(static_cast<std::int64_t>(ends.size()) == T, "cpu topk: one end per row needed");
  require(k >= 1, "cpu topk: k must be >= 1");
  for (std::int64_t e : ends) require(e >= 0 && e <= S, "cpu topk: row end out of range");
  parallel_for(T, [&](std::int64_t t) {
    thread_local std::vector<std::uint32_t> keys;
    select_row(&scores(t, 0), ends[t], k, &indices(t, 0), keys);
  });
}

}  // namespace dsa::cpu
