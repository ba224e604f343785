// Plain parameter structs of the DSA ops, shared by the reference, the CPU and CUDA
// kernels and the runner, plus the causal rule every op uses.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace dsa {

// Lightning indexer: q [T, H_I, D_I], k [S, D_I], w [T, H_I] -> scores [T, S].
struct IndexerShape {
  std::int64_t queries = 0;       // T
  std::int64_t keys = 0;          // S
  int heads = 64;                 // H_I
  int head_dim = 128;             // D_I
  std::int64_t query_offset = 0;  // absolute position of query row 0
  bool causal = true;
};

// Attention in MQA mode (q [T,H,d_qk], kv [S,d_qk], value = kv[:, :d_v]) or MHA mode
// (q [T,H,d_qk], k [S,H,d_qk], v [S,H,d_v]).
struct AttentionShape {
  std::int64_t queries = 0;       // T
  std::int64_t keys = 0;          // S (cache length)
  int heads = 128;                // H
  int d_qk = 576;                 // MQA: 512 latent + 64 rope; MHA: 128 nope + 64 rope
  int d_v = 512;                  // MQA: 512; MHA: 128
  double scale = 0.0;             // softmax scale; must be set (> 0)
  std::int64_t query_offset = 0;  // absolute position of query row 0 (dense ops)
};

// Number of keys query row t may see: keys [0, end). Causal: the query at absolute
// position p = query_offset + t sees keys 0..p, bounded by the keys present.
// This offset is what makes a chunk of queries at positions [p0, p0+n) exact.
inline std::int64_t key_end(std::int64_t t, std::int64_t query_offset, std::int64_t keys, bool causal) {
  if (!causal) return keys;
  return std::clamp<std::int64_t>(query_offset + t + 1, 0, keys);
}

inline std::vector<std::int64_t> key_ends(std::int64_t queries, std::int64_t query_offset,
                                          std::int64_t keys, bool causal) {
  std::vector<std::int64_t> e(static_cast<std::size_t>(queries));
  for (std::int64_t t = 0; t < queries; ++t) e[t] = key_end(t, query_offset, keys, causal);
  return e;
}

}  // namespace dsa
