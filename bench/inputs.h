// Inputs of each op, made from a case descriptor and a seed. Everything here is
// untimed set-up; the values are rounded to the case's storage dtype so that the
// implementation and the reference see exactly the same numbers.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "bench/case_spec.h"
#include "core/op_shapes.h"
#include "core/tensor.h"
#include "core/indexer_operands.h"

namespace dsa::bench {

// Seeds: `space_seed` fixes the planted structure of one sequence (directions,
// phases, head gains) and must be the same for its keys and all its queries;
// `noise_seed` fixes the random part and may differ per call.

// Raw indexer keys k [S, D] for positions [0, S).
HostTensor<float> make_indexer_keys(const CaseSpec& c, const AttentionPattern* pattern, std::int64_t keys,
                                    std::uint64_t space_seed, std::uint64_t noise_seed);
// Raw indexer queries q [T, H, D] at positions [offset, offset + T) and head weights
// w [T, H] (H^-0.5 * D^-0.5 folded in, fp32).
void make_indexer_queries(const CaseSpec& c, const AttentionPattern* pattern, std::int64_t queries,
                          std::int64_t offset, std::uint64_t space_seed, std::uint64_t noise_seed,
                          HostTensor<float>& q, HostTensor<float>& w);

struct IndexerRaw {
  HostTensor<float> q, k, w;
};

struct IndexerData {
  IndexerShape shape;
  IndexerRaw raw;
  IndexerOperands ops;  // rotated / quantised as the case says
};
IndexerData make_indexer_data(const CaseSpec& c, std::uint64_t seed);

struct TopkData {
  HostTensor<float> scores;
  std::vector<std::int64_t> ends;
  std::int64_t k = 0;
};
TopkData make_topk_data(const CaseSpec& c, std::uint64_t seed);

// Attention key rows kv [S, d_qk] with entries N(0, sd^2) and the pattern planted in
// the last `rope` dims (the positional part), rounded to the case's dtype.
HostTensor<float> make_attention_keys(const CaseSpec& c, const AttentionPattern* pattern, int d_qk, int rope,
                                      std::int64_t keys, double sd, double scale, std::uint64_t space_seed,
                                      std::uint64_t noise_seed);
// Attention queries q [T, H, d_qk] at positions [offset, offset + T), same layout.
HostTensor<float> make_attention_queries(const CaseSpec& c, const AttentionPattern* pattern, int heads, int d_qk,
                                         int rope, std::int64_t queries, std::int64_t offset, double sd, double scale,
                                         std::uint64_t space_seed, std::uint64_t noise_seed);

struct AttentionData {
  AttentionShape shape;
  HostTensor<float> q;
  HostTensor<float> kv;                 // MQA ops
  HostTensor<float> k, v;               // MHA op
  HostTensor<std::int32_t> indices;     // sparse op
};
AttentionData make_attention_data(const CaseSpec& c, std::uint64_t seed);

// Random distinct valid positions per row (min(k, end) of [0, end)), sorted, -1
// padded; then `invalid_fraction` of the slots become invalid (alternately -1 and an
// index >= keys) and the first `empty_rows` rows are made all invalid.
HostTensor<std::int32_t> make_sparse_indices(std::span<const std::int64_t> ends, std::int64_t keys, std::int64_t k,
                                             double invalid_fraction, std::int64_t empty_rows, std::uint64_t seed);

// N(0, sd^2) values, filled in parallel chunks with streams derived from `seed`:
// the same values for any thread count.
void fill_normal(std::span<float> out, double sd, std::uint64_t seed);

// The pattern of a case when its generator is "structured", otherwise none.
std::unique_ptr<AttentionPattern> make_pattern(const CaseSpec& c, std::int64_t keys, std::uint64_t seed);

}  // namespace dsa::bench
