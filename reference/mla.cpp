#include "reference/mla.h"

#include "core/parallel.h"
#include "reference/common.h"

namespace dsa::ref {

AbsorbedWeights split_kv_b(const HostTensor<float>& w_kvb, const MlaDims& d) {
  require(w_kvb.shape() == Shape({static_cast<std::int64_t>(d.heads) * (d.qk_nope + d.v_head), d.kv_rank}),
          "split_kv_b: W_kvb shape " + w_kvb.shape().str());
  AbsorbedWeights w{HostTensor<float>({d.heads, d.qk_nope, d.kv_rank}),
                    HostTensor<float>({d.heads, d.v_head, d.kv_rank})};
  for (int h = 0; h < d.heads; ++h) {
    const std::int64_t base = static_cast<std::int64_t>(h) * (d.qk_nope + d.v_head);
    for (int i = 0; i < d.qk_nope; ++i)
      for (int r = 0; r < d.kv_rank; ++r) w.w_uk(h, i, r) = w_kvb(base + i, r);
    for (int i = 0; i < d.v_head; ++i)
      for (int r = 0; r < d.kv_rank; ++r) w.w_uv(h, i, r) = w_kvb(base + d.qk_nope + i, r);
  }
  return w;
}

HostTensor<float> absorb_query(const HostTensor<float>& q, const AbsorbedWeights& w, const MlaDims& d) {
  const std::int64_t T = q.size(0);
  require(q.shape() == Shape({T, d.heads, d.qk_nope + d.qk_rope}), "absorb_query: q shape " + q.shape().str());
  HostTensor<float> out({T, d.heads, d.kv_rank + d.qk_rope});
  parallel_for(T * d.heads, [&](std::int64_t th) {
    const std::int64_t t = th / d.heads;
    const int h = static_cast<int>(th % d.heads);
    for (int r = 0; r < d.kv_rank; ++r) {  // (W_UK_h^T q_nope)[r] = sum_i W_UK_h[i, r] q_nope[i]
      double acc = 0;
      for (int i = 0; i < d.qk_nope; ++i) acc += static_cast<double>(w.w_uk(h, i, r)) * q(t, h, i);
      out(t, h, r) = static_cast<float>(acc);
    }
    for (int j = 0; j < d.qk_rope; ++j) out(t, h, d.kv_rank + j) = q(t, h, d.qk_nope + j);
  });
  return out;
}

void expand_latent_cache(const HostTensor<float>& cache, const AbsorbedWeights& w, const MlaDims& d,
                         HostTensor<float>& k, HostTensor<float>& v) {
  const std::int64_t S = cache.size(0);
  require(cache.shape() == Shape({S, d.kv_rank + d.qk_rope}), "expand_latent_cache: cache shape " + cache.shape().str());
  k = HostTensor<float>({S, d.heads, d.qk_nope + d.qk_rope});
  v = HostTensor<float>({S, d.heads, d.v_head});
  parallel_for(S, [&](std::int64_t s) {
    const float* c = &cache(s, 0);
    for (int h = 0; h < d.heads; ++h) {
      for (int i = 0; i < d.qk_nope; ++i) k(s, h, i) = static_cast<float>(dot_f64(&w.w_uk(h, i, 0), c, d.kv_rank));
      for (int j = 0; j < d.qk_rope; ++j) k(s, h, d.qk_nope + j) = cache(s, d.kv_rank + j);
      for (int i = 0; i < d.v_head; ++i) v(s, h, i) = static_cast<float>(dot_f64(&w.w_uv(h, i, 0), c, d.kv_rank));
    }
  });
}

HostTensor<float> project_latent_output(const HostTensor<float>& o, const AbsorbedWeights& w, const MlaDims& d) {
  const std::int64_t T = o.size(0);
  require(o.shape() == Shape({T, d.heads, d.kv_rank}), "project_latent_output: o shape " + o.shape().str());
  HostTensor<float> out({T, d.heads, d.v_head});
  parallel_for(T * d.heads, [&](std::int64_t th) {
    const std::int64_t t = th / d.heads;
    const int h = static_cast<int>(th % d.heads);
    for (int i = 0; i < d.v_head; ++i)
      out(t, h, i) = static_cast<float>(dot_f64(&w.w_uv(h, i, 0), &o(t, h, 0), d.kv_rank));
  });
  return out;
}

}  // namespace dsa::ref
