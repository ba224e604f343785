// Orthonormal Walsh-Hadamard rotation (Sylvester order), as DeepSeek-V3.2-Exp applies
// to the indexer's q and k before FP8 quantisation: y = H x / sqrt(n), n a power of two.
// H is symmetric and (H/sqrt(n))^2 = I, so rotating both sides of a dot product leaves
// it unchanged in exact arithmetic; it only spreads outliers so FP8 loses less.
#pragma once

#include <span>

namespace dsa {

// Rotates each consecutive group of n values in place (x.size() must be a multiple of n).
void hadamard_rotate(std::span<float> x, std::size_t n);

}  // namespace dsa
