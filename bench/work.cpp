#include "bench/work.h"

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsa::bench {

nlohmann::json to_json(const Work& w) { return {{"flop", w.flop}, {"bytes", w.bytes}, {"pairs", w.pairs}}; }

nlohmann::json throughput_json(const Work& w, double seconds) {
  if (!(seconds > 0)) return nullptr;
  return {{"gflops", w.flop / seconds * 1e-9}, {"gbps", w.bytes / seconds * 1e-9}};
}

namespace {
double b(DType t) { return static_cast<double>(dtype_bytes(t)); }
std::int64_t sum_ends(std::int64_t T, std::int64_t offset, std::int64_t S, bool causal) {
  std::int64_t s = 0;
  for (std::int64_t t = 0; t < T; ++t) s += key_end(t, offset, S, causal);
  return s;
}
std::int64_t max_end(std::int64_t T, std::int64_t offset, std::int64_t S, bool causal) {
  return T == 0 ? 0 : key_end(T - 1, offset, S, causal);
}
}  // namespace

Work indexer_work(const IndexerShape& sh, DType dtype) {
  Work w;
  w.pairs = sum_ends(sh.queries, sh.query_offset, sh.keys, sh.causal);
  w.flop = 2.0 * sh.heads * sh.head_dim * static_cast<double>(w.pairs);
  const double scale_bytes = dtype == DType::fp8_e4m3 ? 4.0 : 0.0;  // one fp32 scale per 128 values
  const double q = static_cast<double>(sh.queries) * sh.heads * (sh.head_dim * b(dtype) + scale_bytes);
  const double k = static_cast<double>(max_end(sh.queries, sh.query_offset, sh.keys, sh.causal)) *
                   (sh.head_dim * b(dtype) + scale_bytes);
  const double weights = static_cast<double>(sh.queries) * sh.heads * 4.0;
  w.bytes = q + k + weights + 4.0 * static_cast<double>(w.pairs);
  return w;
}

Work topk_work(std::span<const std::int64_t> ends, std::int64_t k) {
  Work w;
  std::int64_t selected = 0;
  for (std::int64_t e : ends) {
    w.pairs += e;
    selected += std::min(k, e);
  }
  w.bytes = 4.0 * static_cast<double>(w.pairs + selected);
  return w;
}

// Shared by the attention ops: 2 * H * (d_qk + d_v) FLOP per attended pair; bytes are
// q, whatever the keys cost (`key_bytes`), the output and the fp32 lse.
Work attention_work(const AttentionShape& sh, DType dtype, std::int64_t pairs, double key_bytes) {
  Work w;
  w.pairs = pairs;
  w.flop = 2.0 * sh.heads * (sh.d_qk + sh.d_v) * static_cast<double>(pairs);
  const double TH = static_cast<double>(sh.queries) * sh.heads;
  w.bytes = TH * sh.d_qk * b(dtype) + key_bytes + TH * sh.d_v * b(dtype) + TH * 4.0;
  return w;
}

// Bytes of one latent-cache row of an MQA-mode op: value part d_v, rope d_qk - d_v.
double kv_row_bytes(const AttentionShape& sh, DType cache_dtype) {
  return static_cast<double>(mla_cache_bytes_per_token(sh.d_v, sh.d_qk - sh.d_v, cache_dtype));
}

Work sparse_attention_work(const AttentionShape& sh, const HostTensor<std::int32_t>& indices, DType dtype,
                           DType cache_dtype) {
  std::vector<char> used(static_cast<std::size_t>(sh.keys), 0);
  std::int64_t pairs = 0, unique = 0;
  for (std::int32_t s : indices.span())
    if (s >= 0 && s < sh.keys) {
      ++pairs;
      if (!used[s]) { used[s] = 1; ++unique; }
    }
  // Each valid index is read; each distinct cache row is fetched once.
  return attention_work(sh, dtype, pairs, 4.0 * static_cast<double>(pairs) + static_cast<double>(unique) * kv_row_bytes(sh, cache_dtype));
}

Work dense_mqa_work(const AttentionShape& sh, DType dtype, DType cache_dtype) {
  const double keys = static_cast<double>(max_end(sh.queries, sh.query_offset, sh.keys, true));
  return attention_work(sh, dtype, sum_ends(sh.queries, sh.query_offset, sh.keys, true), keys * kv_row_bytes(sh, cache_dtype));
}

Work dense_mha_work(const AttentionShape& sh, DType dtype) {
  const double keys = static_cast<double>(max_end(sh.queries, sh.query_offset, sh.keys, true));
  return attention_work(sh, dtype, sum_ends(sh.queries, sh.query_offset, sh.keys, true),
                        keys * sh.heads * (sh.d_qk + sh.d_v) * b(dtype));
}

std::int64_t mla_cache_bytes_per_token(int kv_rank, int qk_rope, DType dtype) {
  if (dtype == DType::fp8_e4m3)  // FlashMLA layout: rank e4m3 values, one fp32 scale per 128, bf16 rope
    return kv_rank + 4 * ((kv_rank + 127) / 128) + 2 * qk_rope;
  return static_cast<std::int64_t>(kv_rank + qk_rope) * static_cast<std::int64_t>(dtype_bytes(dtype));
}

std::int64_t indexer_cache_bytes_per_token(int head_dim, DType dtype) {
  if (dtype == DType::fp8_e4m3) return head_dim + 4 * ((head_dim + 127) / 128);
  return static_cast<std::int64_t>(head_dim) * static_cast<std::int64_t>(dtype_bytes(dtype));
}

}  // namespace dsa::bench
