// Top-k with several blocks per row (kernels/cuda/topk_split.cu): for decode's few long
// rows, where one block per row leaves the GPU idle. Same contract and output as
// launch_topk (kernels/cuda/topk.h), bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "kernels/cuda/topk.h"

namespace dsa::cuda {

// The one-block kernel's arguments plus the split and its workspace.
struct TopkSplitLaunch : TopkLaunch {
  int blocks = 1;  // blocks per row (topk_split_blocks)
  // Workspace: topk_split_hist_words(rows) counters (zeroed by the launch) and
  // rows * blocks 64-bit counts.
  unsigned int* hist = nullptr;
  unsigned long long* counts = nullptr;
};

// Blocks per row that fill `sm_count` SMs about twice over, slices of at least 2048
// positions, at most 1024 blocks per row.
int topk_split_blocks(std::int64_t rows, std::int64_t cols, int sm_count);
std::size_t topk_split_hist_words(std::int64_t rows);
// Why a launch cannot take these sizes, checked before touching the device.
std::optional<std::string> topk_split_unsupported(std::int64_t rows, std::int64_t cols, int blocks);

void launch_topk_split(const TopkSplitLaunch& p, cudaStream_t stream);

}  // namespace dsa::cuda
