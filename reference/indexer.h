// The lightning indexer of DeepSeek-V3.2-Exp (dsa-spec.md section 3), on the CPU.
#pragma once

#include <cstdint>

#include "core/indexer_operands.h"
#include "core/op_shapes.h"
#include "core/tensor.h"

namespace dsa::ref {

// Index scores, fp64 accumulation, written as fp32:
//   I[t, s] = sum_h w[t, h] * ReLU( q[t, h, :] . k[s, :] )   for s < key_end(t)
//   I[t, s] = -inf                                             for masked s
// `w` is used as given: the caller folds 64^-0.5, 128^-0.5 (and nothing else: q's
// fp8 scale is already inside the dequantised q) into it, in fp32.
void indexer_scores(const IndexerShape& shape, const HostTensor<float>& q, const HostTensor<float>& k,
                    const HostTensor<float>& w, HostTensor<float>& scores);

}  // namespace dsa::ref
