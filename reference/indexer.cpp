#include "reference/indexer.h"

#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "reference/common.h"

namespace dsa::ref {

void indexer_scores(const IndexerShape& sh, const HostTensor<float>& q, const HostTensor<float>& k,
                    const HostTensor<float>& w, HostTensor<float>& scores) {
  require(q.shape() == Shape({sh.queries, sh.heads, sh.head_dim}), "indexer_scores: q shape " + q.shape().str());
  require(k.shape() == Shape({sh.keys, sh.head_dim}), "indexer_scores: k shape " + k.shape().str());
  require(w.shape() == Shape({sh.queries, sh.heads}), "indexer_scores: w shape " + w.shape().str());
  scores = HostTensor<float>({sh.queries, sh.keys}, -std::numeric_limits<float>::infinity());
  parallel_for(sh.queries, [&](std::int64_t t) {
    const std::int64_t end = key_end(t, sh.query_offset, sh.keys, sh.causal);
    for (std::int64_t s = 0; s < end; ++s) {
      double acc = 0;
      for (int h = 0; h < sh.heads; ++h) {
        const double dot = dot_f64(&q(t, h, 0), &k(s, 0), sh.head_dim);
        acc += static_cast<double>(w(t, h)) * std::max(dot, 0.0);
      }
      scores(t, s) = static_cast<float>(acc);
    }
  });
}

}  // namespace dsa::ref
