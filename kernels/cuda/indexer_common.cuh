// Device helpers the indexer kernels share (indexer.cu, indexer_wgmma.cu, indexer_keyrows.cu).
#pragma once

#include <cstdint>

#include "kernels/cuda/indexer.h"

namespace dsa::cuda {

// Points p at sequence `b` of a decode batch (blocks of the same shape, back to back);
// `row_bytes` is one q or k row (head_dim codes or bf16 values).
__device__ __forceinline__ void indexer_select_sequence(IndexerLaunch& p, std::int64_t b, int row_bytes) {
  if (b == 0) return;
  const std::int64_t qh = p.queries * p.heads;
  p.q = static_cast<const unsigned char*>(p.q) + b * qh * row_bytes;
  p.k = static_cast<const unsigned char*>(p.k) + b * p.keys * row_bytes;
  p.w += b * qh;
  if (p.fp8) {
    p.q_scale += b * qh;
    p.k_scale += b * p.keys;
  }
  p.scores += b * p.queries * p.keys;
}

}  // namespace dsa::cuda
