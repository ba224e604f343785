// A plain fp32 matrix product for set-up work on the CPU (expanding a latent cache,
// absorbing queries), in the layout of a Linear layer: Y[M, N] = X[M, K] * W[N, K]^T.
// Not a timed kernel; it only has to be fast enough that input generation stays
// small next to what it feeds.
#pragma once

#include <cstdint>

namespace dsa {

// Row strides are given so callers can write into a slice of a wider tensor.
void matmul_nt(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y, std::int64_t ldy,
               std::int64_t M, std::int64_t N, std::int64_t K);

}  // namespace dsa
