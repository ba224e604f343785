#include "reference/attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "reference/common.h"

namespace dsa::ref {

double model_softmax_scale() {
  const double m = 0.1 * std::log(40.0) + 1.0;
  return m * m / std::sqrt(128.0 + 64.0);
}

namespace {

// One query head over an explicit key list. key(i) / value(i) return row pointers;
// `n` keys in all. Two passes: exact max, then the normalised sum, all in fp64.
// `mag`, when given, receives sum_s p_s |v_s| / sum_s p_s per value column.
template <class KeyFn, class ValFn>
void attend(const float* q, int d_qk, int d_v, double scale, std::int64_t n, KeyFn key, ValFn value,
            float* out, float* lse, float* mag, std::vector<double>& logits, std::vector<double>& acc) {
  if (n == 0) {
    std::fill(out, out + d_v, 0.0f);
    if (mag) std::fill(mag, mag + d_v, 0.0f);
    *lse = -std::numeric_limits<float>::infinity();
    return;
  }
  logits.resize(static_cast<std::size_t>(n));
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n; ++i) {
    logits[i] = scale * dot_f64(q, key(i), d_qk);
    m = std::max(m, logits[i]);
  }
  acc.assign(static_cast<std::size_t>(mag ? 2 * d_v : d_v), 0.0);
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double p = std::exp(logits[i] - m);
    sum += p;
    const float* v = value(i);
    for (int d = 0; d < d_v; ++d) acc[d] += p * v[d];
    if (mag)
      for (int d = 0; d < d_v; ++d) acc[d_v + d] += p * std::fabs(static_cast<double>(v[d]));
  }
  for (int d = 0; d < d_v; ++d) out[d] = static_cast<float>(acc[d] / sum);
  if (mag)
    for (int d = 0; d < d_v; ++d) mag[d] = static_cast<float>(acc[d_v + d] / sum);
  *lse = static_cast<float>(m + std::log(sum));
}

// Allocates out [T, H, d_v] and lse [T, H] and calls f(t, h, logits, acc) for every
// (query, head) pair in parallel, with scratch buffers of its own.
template <class F>
void for_each_query_head(const AttentionShape& sh, HostTensor<float>& out, HostTensor<float>& lse,
                         HostTensor<float>* mag, F f) {
  out = HostTensor<float>({sh.queries, sh.heads, sh.d_v});
  lse = HostTensor<float>({sh.queries, sh.heads});
  if (mag) *mag = HostTensor<float>({sh.queries, sh.heads, sh.d_v});
  parallel_for(sh.queries * sh.heads, [&](std::int64_t th) {
    std::vector<double> logits, acc;
    f(th / sh.heads, static_cast<int>(th % sh.heads), logits, acc);
  });
}

void check_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv) {
  require(sh.scale > 0, "attention: softmax scale must be set (> 0)");
  require(sh.d_v <= sh.d_qk, "attention: MQA mode needs d_v <= d_qk (value = leading part of the key)");
  require(q.shape() == Shape({sh.queries, sh.heads, sh.d_qk}), "attention: q shape " + q.shape().str());
  require(kv.shape() == Shape({sh.keys, sh.d_qk}), "attention: kv shape " + kv.shape().str());
}

}  // namespace

void sparse_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
                const HostTensor<std::int32_t>& indices, HostTensor<float>& out, HostTensor<float>& lse,
                HostTensor<float>* magnitude) {
  check_mqa(sh, q, kv);
  require(indices.shape().rank == 2 && indices.size(0) == sh.queries, "sparse_mqa: indices must be [T, K]");
  const std::int64_t K = indices.size(1);
  for_each_query_head(sh, out, lse, magnitude, [&](std::int64_t t, int h, std::vector<double>& logits, std::vector<double>& acc) {
    std::vector<const float*> rows;
    for (std::int64_t j = 0; j < K; ++j) {
      const std::int32_t s = indices(t, j);
      if (s >= 0 && s < sh.keys) rows.push_back(&kv(s, 0));
    }
    auto row = [&](std::int64_t i) { return rows[i]; };
    attend(&q(t, h, 0), sh.d_qk, sh.d_v, sh.scale, static_cast<std::int64_t>(rows.size()), row, row,
           &out(t, h, 0), &lse(t, h),
           magnitude ? &(*magnitude)(t, h, 0) : nullptr, logits, acc);
  });
}

void dense_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
               HostTensor<float>& out, HostTensor<float>& lse, HostTensor<float>* magnitude) {
  check_mqa(sh, q, kv);
  for_each_query_head(sh, out, lse, magnitude, [&](std::int64_t t, int h, std::vector<double>& logits, std::vector<double>& acc) {
    auto row = [&](std::int64_t s) { return &kv(s, 0); };
    attend(&q(t, h, 0), sh.d_qk, sh.d_v, sh.scale, key_end(t, sh.query_offset, sh.keys, true), row, row,
           &out(t, h, 0), &lse(t, h),
           magnitude ? &(*magnitude)(t, h, 0) : nullptr, logits, acc);
  });
}

void dense_mha(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& k,
               const HostTensor<float>& v, HostTensor<float>& out, HostTensor<float>& lse,
               HostTensor<float>* magnitude) {
  require(sh.scale > 0, "dense_mha: softmax scale must be set (> 0)");
  require(q.shape() == Shape({sh.queries, sh.heads, sh.d_qk}), "dense_mha: q shape " + q.shape().str());
  require(k.shape() == Shape({sh.keys, sh.heads, sh.d_qk}), "dense_mha: k shape " + k.shape().str());
  require(v.shape() == Shape({sh.keys, sh.heads, sh.d_v}), "dense_mha: v shape " + v.shape().str());
  for_each_query_head(sh, out, lse, magnitude, [&](std::int64_t t, int h, std::vector<double>& logits, std::vector<double>& acc) {
    attend(&q(t, h, 0), sh.d_qk, sh.d_v, sh.scale, key_end(t, sh.query_offset, sh.keys, true),
           [&](std::int64_t s) { return &k(s, h, 0); }, [&](std::int64_t s) { return &v(s, h, 0); },
           &out(t, h, 0), &lse(t, h),
           magnitude ? &(*magnitude)(t, h, 0) : nullptr, logits, acc);
  });
}

void mqa_logits_row(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
                    std::int64_t t, int h, std::vector<double>& logits) {
  const std::int64_t end = key_end(t, sh.query_offset, sh.keys, true);
  logits.resize(static_cast<std::size_t>(end));
  for (std::int64_t s = 0; s < end; ++s) logits[s] = sh.scale * dot_f64(&q(t, h, 0), &kv(s, 0), sh.d_qk);
}

}  // namespace dsa::ref
