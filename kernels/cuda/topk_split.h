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
// Whether the split kernel is the one to pick for `rows` rows of `cols` scores. On the
// H100 (2026-11-23; suites/topk-rows.json, rows ending at 128K) it took 33 us for 1 row
// against 82 us for the sampled kernel (one block per row leaves the GPU idle), but 90
// against 83 us for 16 rows and 230 against 93 for 64; in the decode sweep at batch 1
// it lost at a 4K context (the whole DSA step 65 against 50 us) and won from 32K (67
// against 72 us; 83 against 136 at 128K). So: up to 8 rows of at least 32K.
inline bool topk_split_first_for(std::int64_t rows, std::int64_t cols) {
  return rows >= 1 && rows <= 8 && cols >= 32768;
}

std::optional<std::string> topk_split_unsupported(std::int64_t rows, std::int64_t cols, int blocks);

void launch_topk_split(const TopkSplitLaunch& p, cudaStream_t stream);

}  // namespace dsa::cuda
