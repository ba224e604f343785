// Work accounting (dsa-spec.md section 7): what a TFLOPS or GB/s figure divides.
// Only work actually done counts: causal pairs, valid indices, unique cache entries.
// Bytes are counted at the storage width of the case's dtype (what a kernel with
// that storage moves), each input read once and each output written once.
#pragma once

#include <cstdint>
#include <span>

#include <nlohmann/json_fwd.hpp>

#include "core/dtype.h"
#include "core/op_shapes.h"
#include "core/tensor.h"

namespace dsa::bench {

struct Work {
  double flop = 0;
  double bytes = 0;
  std::int64_t pairs = 0;  // (query, key) pairs attended or scored
  Work& operator+=(const Work& o) {
    flop += o.flop;
    bytes += o.bytes;
    pairs += o.pairs;
    return *this;
  }
};

nlohmann::json to_json(const Work& w);
// flop / s and bytes / s of a measured median time.
nlohmann::json throughput_json(const Work& w, double seconds);

// 2 * H_I * D_I per causal pair.
Work indexer_work(const IndexerShape& sh, DType dtype);
// Reads every valid score, writes every valid index; no floating-point work.
Work topk_work(std::span<const std::int64_t> ends, std::int64_t k);
// 2 * H * (d_qk + d_v) per valid index; cache bytes = unique valid entries.
// MQA-mode ops: q and out in `dtype`, the latent cache in `cache_dtype` (the case's
// dtype, or fp8_e4m3 for the 656-byte FP8 rows).
Work sparse_attention_work(const AttentionShape& sh, const HostTensor<std::int32_t>& indices, DType dtype,
                           DType cache_dtype);
Work dense_mqa_work(const AttentionShape& sh, DType dtype, DType cache_dtype);
Work dense_mha_work(const AttentionShape& sh, DType dtype);

// Cache bytes per token per layer (dsa-spec.md section 5).
std::int64_t mla_cache_bytes_per_token(int kv_rank, int qk_rope, DType dtype);
std::int64_t indexer_cache_bytes_per_token(int head_dim, DType dtype);

}  // namespace dsa::bench
