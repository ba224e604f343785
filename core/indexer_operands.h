// The lightning indexer's operands as a kernel sees them, and the rotation and
// quantisation that produce them (dsa-spec.md section 3). Shared by the reference,
// every implementation and the runner, so all of them see the same numbers.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/tensor.h"

namespace dsa {

// The operands as an indexer kernel sees them. `q`, `k` hold the values after the
// optional Hadamard rotation and after rounding to `dtype` (for fp8: dequantised,
// i.e. code * scale, which is exact in fp32 because the scale is a power of two).
// For fp8 the codes and scales are kept too: they are what a kernel reads.
struct IndexerOperands {
  DType dtype = DType::f32;
  bool hadamard = false;
  HostTensor<float> q;             // [T, H, D]
  HostTensor<float> k;             // [S, D]
  HostTensor<float> w;             // [T, H] head weights, fp32, all constants folded in
  HostTensor<std::uint8_t> q_codes;  // fp8 only: [T, H, D]
  HostTensor<float> q_scales;        // fp8 only: [T, H]   one per 128-value head vector
  HostTensor<std::uint8_t> k_codes;  // fp8 only: [S, D]
  HostTensor<float> k_scales;        // fp8 only: [S]      one per token
};

// Rotates (optionally) and quantises raw q [T,H,D], k [S,D] to `dtype` (fp32, bf16 or
// fp8 with one ue8m0 scale per head vector of q and per token of k). `w` is copied.
IndexerOperands prepare_indexer_operands(const HostTensor<float>& q, const HostTensor<float>& k,
                                         const HostTensor<float>& w, DType dtype, bool hadamard);

}  // namespace dsa
