// Top-k as three kernels over all rows at once (kernels/cuda/topk_filter.cu): a bound
// per row from a sample, a filter pass with many blocks per row that streams the scores
// once, and a select per row over the few candidates. Same contract and output as
// launch_topk (kernels/cuda/topk.h), bit for bit. Not yet run on a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "kernels/cuda/topk.h"

namespace dsa::cuda {

// The one-block kernel's arguments plus a workspace of topk_filter_workspace_bytes(rows)
// bytes (nothing in it needs clearing: the launch initialises what it reads), for either form.
struct TopkFilterLaunch : TopkLaunch {
  void* workspace = nullptr;
};

// Rows the kernels take per round: larger launches run in rounds of this many rows, so
// the workspace stays at most this many rows' worth (64 KB a row).
constexpr std::int64_t kTopkFilterRowsPerRound = 1024;
// Positions one block of the filter pass streams (32 KB of scores).
constexpr std::int64_t kTopkFilterSlice = 8192;
// The select kernel holds a bit per position of the row in shared memory: rows up to
// this many columns (128 KB of bits).
constexpr std::int64_t kTopkFilterMaxCols = 1 << 20;

// The filter blocks that take part in a row whose scores end at `end`: the grid has
// ceil(cols / slice) a row, and those starting at or past `end` leave at once. In the
// fused form the block that brings the row's count of finished blocks to this selects.
DSA_TOPK_HOST_DEVICE inline std::int64_t topk_filter_row_blocks(std::int64_t end) {
  return (end + kTopkFilterSlice - 1) / kTopkFilterSlice;
}

std::size_t topk_filter_workspace_bytes(std::int64_t rows);
// Why a launch cannot take rows of `cols` columns, checked before touching the device.
std::optional<std::string> topk_filter_unsupported(std::int64_t cols);

void launch_topk_filter(const TopkFilterLaunch& p, cudaStream_t stream);
// The same with the filter and select kernels fused: each row's last filter block to
// finish selects (cuda.topk.filter_fused). Same workspace, same output. Not yet run.
void launch_topk_filter_fused(const TopkFilterLaunch& p, cudaStream_t stream);
// Only the first `stages` of its three kernels (1: bound, 2: and filter, 3: all), for
// the micro-benchmark that times each by difference; with fewer than 3 the indices are
// not written.
void launch_topk_filter_stages(const TopkFilterLaunch& p, int stages, cudaStream_t stream);

}  // namespace dsa::cuda
