#include <algorithm>
#include <limits>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/cpu/cpu_ops.h"

namespace dsa::cpu {

namespace {
// 64 keys per block: a transposed block of 64 x 128 fp32 keys (32 KiB) stays in L1/L2
// while every head of up to 8 queries uses it, and the inner loop runs over keys,
// which the compiler vectorises without reordering any sum.
constexpr int kKeyBlock = 64;
constexpr int kQueryBlock = 8;
}  // namespace

void indexer_scores(const IndexerShape& sh, const HostTensor<float>& q, const HostTensor<float>& k,
                    const HostTensor<float>& w, HostTensor<float>& scores) {
  require(q.shape() == Shape({sh.queries, sh.heads, sh.head_dim}), "cpu indexer: q shape " + q.shape().str());
  require(k.shape() == Shape({sh.keys, sh.head_dim}), "cpu indexer: k shape " + k.shape().str());
  require(w.shape() == Shape({sh.queries, sh.heads}), "cpu indexer: w shape " + w.shape().str());
  require(scores.shape() == Shape({sh.queries, sh.keys}), "cpu indexer: scores shape " + scores.shape().str());
  const std::int64_t kblocks = (sh.keys + kKeyBlock - 1) / kKeyBlock;
  const std::int64_t qblocks = (sh.queries + kQueryBlock - 1) / kQueryBlock;
  const int D = sh.head_dim;
  // Tasks are (query block, key block) pairs so that one decode query still uses
  // every thread, and a prefill chunk transposes each key block once per 8 queries.
  parallel_for(qblocks * kblocks, [&](std::int64_t task) {
    const std::int64_t t0 = (task / kblocks) * kQueryBlock, t1 = std::min(sh.queries, t0 + kQueryBlock);
    const std::int64_t s0 = (task % kblocks) * kKeyBlock, s1 = std::min(sh.keys, s0 + kKeyBlock);
    // The block's keys that any of its queries may see.
    const int nb_max = static_cast<int>(std::clamp<std::int64_t>(key_end(t1 - 1, sh.query_offset, sh.keys, sh.causal) - s0, 0, s1 - s0));
    std::vector<float> kt(static_cast<std::size_t>(D) * kKeyBlock);  // kt[d][j] = k[s0 + j][d]
    for (int j = 0; j < nb_max; ++j)
      for (int d = 0; d < D; ++d) kt[static_cast<std::size_t>(d) * kKeyBlock + j] = k(s0 + j, d);
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t end = key_end(t, sh.query_offset, sh.keys, sh.causal);
      const int nb = static_cast<int>(std::clamp<std::int64_t>(end - s0, 0, s1 - s0));
      float* out = &scores(t, 0);
      for (std::int64_t s = s0 + nb; s < s1; ++s) out[s] = -std::numeric_limits<float>::infinity();
      if (nb == 0) continue;
      float acc[kKeyBlock] = {};
      float dot[kKeyBlock];
      for (int h = 0; h < sh.heads; ++h) {
        const float* qh = &q(t, h, 0);
        std::fill(dot, dot + nb, 0.0f);
        for (int d = 0; d < D; ++d) {
          const float qd = qh[d];
          const float* row = &kt[static_cast<std::size_t>(d) * kKeyBlock];
          for (int j = 0; j < nb; ++j) dot[j] += qd * row[j];
        }
        const float wh = w(t, h);
        for (int j = 0; j < nb; ++j) acc[j] += wh * std::max(dot[j], 0.0f);
      }
      std::copy(acc, acc + nb, out + s0);
    }
  });
}

}  // namespace dsa::cpu
