// The CPU backend: fp32 implementations of every DSA op, written the way the GPU
// kernels work (blocked, online softmax, radix selection) and checked against the
// fp64 reference/ like any other implementation. Outputs are pre-allocated by the
// caller with the right shape (as a kernel's would be), so timing excludes allocation.
#pragma once

#include <cstdint>
#include <span>

#include "core/dtype.h"
#include "core/op_shapes.h"
#include "core/tensor.h"

namespace dsa::cpu {

// scores [T, S] fp32; masked positions are written as -inf.
void indexer_scores(const IndexerShape& sh, const HostTensor<float>& q, const HostTensor<float>& k,
                    const HostTensor<float>& w, HostTensor<float>& scores);

// Radix select: one histogram pass per 8 bits of an order-preserving key, then
// one pass that emits positions in increasing order. Exact under the reference's
// tie rule for any number of ties (there is no fixed-size tie buffer to overflow).
// indices [T, k]; ends[t] valid columns of row t.
void topk_radix(const HostTensor<float>& scores, std::span<const std::int64_t> ends,
                HostTensor<std::int32_t>& indices);

// Attention with fp32 online (flash-style) softmax over blocks of keys; outputs
// rounded to `out_dtype` (fp32 or bf16); lse in fp32, natural log, -inf for no keys.
void sparse_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
                const HostTensor<std::int32_t>& indices, HostTensor<float>& out, HostTensor<float>& lse,
                DType out_dtype);
void dense_mqa(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& kv,
               HostTensor<float>& out, HostTensor<float>& lse, DType out_dtype);
void dense_mha(const AttentionShape& sh, const HostTensor<float>& q, const HostTensor<float>& k,
               const HostTensor<float>& v, HostTensor<float>& out, HostTensor<float>& lse, DType out_dtype);

}  // namespace dsa::cpu
