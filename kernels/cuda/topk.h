// Top-k on the GPU under the reference's tie rule (reference/topk.h): per row, the
// min(k, end) best positions in increasing order, then -1 padding.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dsa::cuda {

struct TopkLaunch {
  const float* scores = nullptr;        // [rows, cols]
  const std::int64_t* ends = nullptr;   // [rows], each in [0, cols]
  std::int32_t* indices = nullptr;      // [rows, k]
  std::int64_t rows = 0, cols = 0, k = 0;
};

void launch_topk(const TopkLaunch& p, cudaStream_t stream);

}  // namespace dsa::cuda
