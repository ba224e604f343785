#include "bench/inputs.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <unordered_set>

#include "core/generators.h"
#include "core/mla_cache.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace dsa::bench {

std::unique_ptr<AttentionPattern> make_pattern(const CaseSpec& c, std::int64_t keys, std::uint64_t seed) {
  if (c.generator != "structured") return nullptr;
  return std::make_unique<AttentionPattern>(c.pattern, keys, derive_seed(seed, "pattern"));
}

void fill_normal(std::span<float> out, double stddev, std::uint64_t seed) {
  constexpr std::int64_t kChunk = 1 << 16;
  const auto n = static_cast<std::int64_t>(out.size());
  parallel_for((n + kChunk - 1) / kChunk, [&](std::int64_t b) {
    Rng rng(derive_seed(seed, "chunk", static_cast<std::uint64_t>(b)));
    const std::int64_t lo = b * kChunk, hi = std::min(n, lo + kChunk);
    rng.fill_normal(out.subspan(static_cast<std::size_t>(lo), static_cast<std::size_t>(hi - lo)), 0.0, stddev);
  });
}

HostTensor<float> make_indexer_keys(const CaseSpec& c, const AttentionPattern* pattern, std::int64_t keys,
                                    std::uint64_t space_seed, std::uint64_t noise_seed) {
  const int D = c.index_head_dim;
  HostTensor<float> k({keys, D});
  // The indexer's logits have no softmax; its "logit scale" is 1 and the noise level
  // only sets how far the planted structure stands out.
  fill_normal(k.span(), noise_stddev(D, 1.0, c.pattern.noise_logit), derive_seed(noise_seed, "indexer-k"));
  if (pattern) {
    // The rope half comes FIRST in the indexer's head vectors (dsa-spec.md section 3).
    PatternSpace(*pattern, D / 2, 1.0, derive_seed(space_seed, "indexer-space")).plant_keys(k.data(), keys, D, 0);
  }
  return k;
}

void make_indexer_queries(const CaseSpec& c, const AttentionPattern* pattern, std::int64_t queries,
                          std::int64_t offset, std::uint64_t space_seed, std::uint64_t noise_seed,
                          HostTensor<float>& q, HostTensor<float>& w) {
  const int H = c.index_heads, D = c.index_head_dim;
  q = HostTensor<float>({queries, H, D});
  w = HostTensor<float>({queries, H});
  fill_normal(q.span(), noise_stddev(D, 1.0, c.pattern.noise_logit), derive_seed(noise_seed, "indexer-q"));
  if (pattern) {
    const PatternSpace space(*pattern, D / 2, 1.0, derive_seed(space_seed, "indexer-space"));
    const auto gains = head_gains(H, derive_seed(space_seed, "indexer-gains"));
    for (std::int64_t t = 0; t < queries; ++t)
      for (int h = 0; h < H; ++h) space.plant_query(&q(t, h, 0), 0, offset + t, gains[h]);
  }
  // Head weights: (W_w x) * H^-0.5, with the softmax scale D^-0.5 folded in, in fp32.
  // Structured inputs use positive weights so the planted keys rank high; Gaussian
  // ones have both signs, as an untrained projection would.
  Rng rng(derive_seed(noise_seed, "indexer-w"));
  const float fold = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H))) *
                     static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  for (float& x : w.span()) {
    const double g = rng.normal();
    x = static_cast<float>(pattern ? 0.25 + std::fabs(g) : g) * fold;
  }
}

IndexerData make_indexer_data(const CaseSpec& c, std::uint64_t seed) {
  IndexerData d;
  d.shape = IndexerShape{c.queries, c.context, c.index_heads, c.index_head_dim, c.resolved_query_offset(), c.causal};
  auto pattern = make_pattern(c, c.context, seed);
  d.raw.k = make_indexer_keys(c, pattern.get(), c.context, seed, seed);
  make_indexer_queries(c, pattern.get(), c.queries, d.shape.query_offset, seed, seed, d.raw.q, d.raw.w);
  d.ops = prepare_indexer_operands(d.raw.q, d.raw.k, d.raw.w, c.dtype, c.hadamard);
  return d;
}

TopkData make_topk_data(const CaseSpec& c, std::uint64_t seed) {
  TopkData d;
  d.k = c.topk;
  d.ends = key_ends(c.queries, c.resolved_query_offset(), c.context, c.causal);
  d.scores = HostTensor<float>({c.queries, c.context});
  Rng rng(derive_seed(seed, "topk-scores"));
  for (std::int64_t t = 0; t < c.queries; ++t) {
    float* row = &d.scores(t, 0);
    for (std::int64_t s = 0; s < c.context; ++s) {
      float v;
      if (c.generator == "gaussian") {
        v = static_cast<float>(rng.normal());
      } else if (c.generator == "ties") {
        // ReLU-like rows: most scores exactly zero, half of them -0 (a sum of
        // negative-weighted zeros is -0; it must tie with +0).
        v = rng.uniform() < c.tie_fraction ? (rng.uniform() < 0.5 ? -0.0f : 0.0f)
                                           : static_cast<float>(std::fabs(rng.normal()));
      } else if (c.generator == "zeros") {
        v = rng.uniform() < 0.5 ? -0.0f : 0.0f;
      } else {  // lowbits: 1.0 plus 0..15 units in the last place: heavy ties, tiny gaps
        const auto ulps = static_cast<int>(rng.below(16));
        v = 1.0f;
        for (int i = 0; i < ulps; ++i) v = std::nextafter(v, 2.0f);
      }
      row[s] = v;
    }
  }
  return d;
}

HostTensor<float> make_attention_keys(const CaseSpec& c, const AttentionPattern* pattern, int d_qk, int rope,
                                      std::int64_t keys, double sd, double scale, std::uint64_t space_seed,
                                      std::uint64_t noise_seed) {
  HostTensor<float> kv({keys, d_qk});
  fill_normal(kv.span(), sd, derive_seed(noise_seed, "attention-k"));
  if (pattern)
    PatternSpace(*pattern, rope, scale, derive_seed(space_seed, "attention-space")).plant_keys(kv.data(), keys, d_qk, d_qk - rope);
  round_in_place(kv.span(), c.dtype);
  return kv;
}

HostTensor<float> make_attention_queries(const CaseSpec& c, const AttentionPattern* pattern, int heads, int d_qk,
                                         int rope, std::int64_t queries, std::int64_t offset, double sd, double scale,
                                         std::uint64_t space_seed, std::uint64_t noise_seed) {
  HostTensor<float> q({queries, heads, d_qk});
  fill_normal(q.span(), sd, derive_seed(noise_seed, "attention-q"));
  if (pattern) {
    const PatternSpace space(*pattern, rope, scale, derive_seed(space_seed, "attention-space"));
    const auto gains = head_gains(heads, derive_seed(space_seed, "attention-gains"));
    for (std::int64_t t = 0; t < queries; ++t)
      for (int h = 0; h < heads; ++h) space.plant_query(&q(t, h, 0), d_qk - rope, offset + t, gains[h]);
  }
  round_in_place(q.span(), c.dtype);
  return q;
}

HostTensor<std::int32_t> make_sparse_indices(std::span<const std::int64_t> ends, std::int64_t keys, std::int64_t k,
                                             double invalid_fraction, std::int64_t empty_rows, std::uint64_t seed) {
  const auto T = static_cast<std::int64_t>(ends.size());
  HostTensor<std::int32_t> idx({T, k}, -1);
  Rng rng(derive_seed(seed, "sparse-indices"));
  std::unordered_set<std::int64_t> chosen;
  for (std::int64_t t = 0; t < T; ++t) {
    const std::int64_t end = ends[t], n = std::min(k, end);
    // Floyd's algorithm: n distinct values from [0, end) in O(n).
    chosen.clear();
    for (std::int64_t j = end - n; j < end; ++j) {
      const auto r = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(j + 1)));
      chosen.insert(chosen.count(r) ? j : r);
    }
    std::vector<std::int64_t> row(chosen.begin(), chosen.end());
    std::sort(row.begin(), row.end());
    for (std::int64_t j = 0; j < n; ++j) idx(t, j) = static_cast<std::int32_t>(row[j]);
    // Invalid slots alternate between -1 and an index past the cache: a kernel must
    // skip both (the second catches bounds checks that only test for -1).
    const auto past_end = [&](std::int64_t j) {
      return static_cast<std::int32_t>(std::min<std::int64_t>(keys + j, 2147483647));
    };
    bool flip = false;
    for (std::int64_t j = 0; j < k; ++j)
      if (invalid_fraction > 0 && rng.uniform() < invalid_fraction) {
        idx(t, j) = flip ? past_end(j) : -1;
        flip = !flip;
      }
    if (t < empty_rows)
      for (std::int64_t j = 0; j < k; ++j) idx(t, j) = (j % 2) ? -1 : past_end(j);
  }
  return idx;
}

AttentionData make_attention_data(const CaseSpec& c, std::uint64_t seed) {
  AttentionData d;
  const double scale = c.resolved_scale();
  const bool sparse = c.op == Op::sparse_attention;
  // The sparse op has no causal offset of its own: its indices say what each query
  // sees. They are drawn from the causal prefix of the last `queries` positions.
  const std::int64_t offset = sparse ? std::max<std::int64_t>(c.context - c.queries, 0) : c.resolved_query_offset();
  d.shape = AttentionShape{c.queries, c.context, c.heads, c.d_qk, c.d_v, scale, offset};
  auto pattern = make_pattern(c, c.context, seed);
  const double sd = noise_stddev(c.d_qk, scale, c.pattern.noise_logit);
  d.q = make_attention_queries(c, pattern.get(), c.heads, c.d_qk, c.qk_rope, c.queries, offset, sd, scale, seed, seed);
  if (c.op == Op::dense_attention_mha) {
    const int H = c.heads;
    // Per-head keys; MLA's rope key is shared by all heads, so every head's key gets
    // the same planted part (one [S, d_qk] block, copied into each head).
    const HostTensor<float> shared = make_attention_keys(c, pattern.get(), c.d_qk, c.qk_rope, c.context, sd, scale, seed, seed);
    d.k = HostTensor<float>({c.context, H, c.d_qk});
    fill_normal(d.k.span(), sd, derive_seed(seed, "mha-k"));
    parallel_chunks(c.context, 256, [&](std::int64_t lo, std::int64_t hi) {  // 0.5 G values at 64K
      for (std::int64_t s = lo; s < hi; ++s)
        for (int h = 0; h < H; ++h)
          for (int j = c.d_qk - c.qk_rope; j < c.d_qk; ++j) d.k(s, h, j) = shared(s, j);
    });
    d.v = HostTensor<float>({c.context, H, c.d_v});
    fill_normal(d.v.span(), 1.0, derive_seed(seed, "mha-v"));
    round_in_place(d.k.span(), c.dtype);
    round_in_place(d.v.span(), c.dtype);
  } else {
    d.kv = make_attention_keys(c, pattern.get(), c.d_qk, c.qk_rope, c.context, sd, scale, seed, seed);
    if (c.kv_cache_dtype == DType::fp8_e4m3) round_through_fp8_mla(d.kv.data(), c.context, c.d_v, c.d_qk - c.d_v);
    if (sparse) {
      const auto ends = key_ends(c.queries, offset, c.context, true);
      d.indices = make_sparse_indices(ends, c.context, c.topk, c.invalid_fraction, c.empty_rows, seed);
    }
  }
  return d;
}

}  // namespace dsa::bench
