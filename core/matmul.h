// The fp32 matrix product of the CPU side (the CPU model's projections, expanding a
// latent cache for inputs, the emulated cuBLAS), in the layout of a Linear layer:
// Y[M, N] = X[M, K] * W[N, K]^T. Every output is summed in one fixed order (matmul.cpp),
// so a row's result has the same bits whatever M, the other rows or the thread count.
#pragma once

#include <cstdint>

namespace dsa {

// Row strides are given so callers can write into a slice of a wider tensor.
void matmul_nt(const float* x, std::int64_t ldx, const float* w, std::int64_t ldw, float* y, std::int64_t ldy,
               std::int64_t M, std::int64_t N, std::int64_t K);

}  // namespace dsa
