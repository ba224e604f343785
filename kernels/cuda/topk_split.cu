// Top-k with several blocks per row, for the few long rows of decode (one 128K row at
// batch 1 keeps one SM busy in the one-block-per-row kernel: 292 us on an H100, more
// than the sparse attention it feeds). Same result as topk.cu, bit for bit: the
// reference's tie rule, positions in increasing order, -1 padding.
//
// A row of valid length `end` is cut into `blocks` slices; kernels in stream order:
//   1. three histogram passes over the order-preserving key, digits of 11, 11 and 10
//      bits from the top. Each block counts its slice (the keys matching the prefix
//      found so far) in shared memory, warp-aggregated so ties do not serialise, and
//      adds its counts into the row's global histogram of that pass. Every block of
//      the next pass derives the prefix itself from the finished histograms (a
//      block-wide scan from the top bin), so no kernel writes per-row state;
//   2. count: after the third pass the threshold key T (the k-th largest) and
//      `remaining` (how many keys equal to T are taken) are known; each block counts
//      its keys > T and == T;
//   3. write: each block adds the counts of the slices before it, then writes its
//      selected positions in position order (a block scan per chunk): a key > T to
//      slot gt + min(eq, remaining), a key == T among the first `remaining` to gt + eq.
// Counts are integers added with atomics, so the result does not depend on timing.
// Rows with end <= k take every valid position: only the write kernel touches them.
#include "kernels/cuda/topk_split.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <algorithm>

#include "core/trace.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/topk_common.cuh"

namespace dsa::cuda {

namespace {

using topk_detail::OrderShared;
using topk_detail::rank_key;
using topk_detail::Threshold;
using topk_detail::write_selected_in_order;

constexpr int kThreads = 512;
constexpr int kBins0 = 2048, kBins1 = 2048, kBins2 = 1024;
constexpr int kShift0 = 21, kShift1 = 10, kShift2 = 0;
constexpr int kHistPerRow = kBins0 + kBins1 + kBins2;

using Scan = cub::BlockScan<unsigned long long, kThreads>;

struct RowState {
  std::uint32_t prefix = 0, mask = 0;
  long long remaining = 0;  // how many of the keys matching the prefix are still to take
};

struct Shared {
  typename Scan::TempStorage scan;
  unsigned int hist[kBins0];
  int bin;
  long long rem;
  unsigned long long base;
};

// The bin of a finished histogram (`bins` counts, global) that holds the st.remaining-th
// largest matching key, walking from the top; narrows st to it. Called by all threads.
template <int kBins>
__device__ void narrow(const unsigned int* hist, int shift, RowState& st, Shared& sh) {
  constexpr int kPer = kBins / kThreads;
  // Thread t holds bins from the top down: item i is bin kBins - 1 - (t * kPer + i).
  unsigned long long c[kPer], incl[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) c[i] = hist[kBins - 1 - (threadIdx.x * kPer + i)];
  Scan(sh.scan).InclusiveSum(c, incl);
  const auto rem = static_cast<unsigned long long>(st.remaining);
#pragma unroll
  for (int i = 0; i < kPer; ++i)
    if (incl[i] - c[i] < rem && rem <= incl[i]) {  // exactly one bin qualifies
      sh.bin = kBins - 1 - (threadIdx.x * kPer + i);
      sh.rem = static_cast<long long>(rem - (incl[i] - c[i]));
    }
  __syncthreads();
  st.prefix |= static_cast<std::uint32_t>(sh.bin) << shift;
  st.mask |= static_cast<std::uint32_t>(kBins - 1) << shift;
  st.remaining = sh.rem;
  __syncthreads();  // sh.bin / sh.rem and the scan storage are reused next
}

struct Slice {
  std::int64_t row, first, last, end, n;  // positions [first, last) of a row with `end` valid, n selected
  int index;
  // No selection to make: every valid position is taken (n == end), or none (k == 0).
  __device__ bool trivial() const { return n == end || n == 0; }
};

__device__ __forceinline__ Slice slice_of(const TopkSplitLaunch& p) {
  Slice s;
  s.row = blockIdx.x / p.blocks;
  s.index = static_cast<int>(blockIdx.x % p.blocks);
  s.end = p.ends[s.row];
  s.n = s.end < p.k ? s.end : p.k;
  const std::int64_t per = (s.end + p.blocks - 1) / p.blocks;
  const std::int64_t first = s.index * per, last = first + per;
  s.first = first < s.end ? first : s.end;
  s.last = last < s.end ? last : s.end;
  return s;
}

__device__ __forceinline__ unsigned int* row_hist(const TopkSplitLaunch& p, std::int64_t row) {
  return p.hist + row * kHistPerRow;
}

// The state after `passes` finished histogram passes.
__device__ RowState state_after(const TopkSplitLaunch& p, const Slice& s, int passes, Shared& sh) {
  RowState st;
  st.remaining = s.n;
  const unsigned int* h = row_hist(p, s.row);
  if (passes > 0) narrow<kBins0>(h, kShift0, st, sh);
  if (passes > 1) narrow<kBins1>(h + kBins0, kShift1, st, sh);
  if (passes > 2) narrow<kBins2>(h + kBins0 + kBins1, kShift2, st, sh);
  return st;
}

template <int kPass>
__global__ void __launch_bounds__(kThreads) topk_hist_kernel(TopkSplitLaunch p) {
  constexpr int kBins = kPass == 0 ? kBins0 : kPass == 1 ? kBins1 : kBins2;
  constexpr int kShift = kPass == 0 ? kShift0 : kPass == 1 ? kShift1 : kShift2;
  constexpr int kOffset = kPass == 0 ? 0 : kPass == 1 ? kBins0 : kBins0 + kBins1;
  __shared__ Shared sh;
  const Slice s = slice_of(p);
  if (s.trivial()) return;
  const RowState st = state_after(p, s, kPass, sh);
  for (int i = threadIdx.x; i < kBins; i += kThreads) sh.hist[i] = 0;
  __syncthreads();
  const float* x = p.scores + s.row * p.cols;
  const int lane = threadIdx.x & 31;
  for (std::int64_t c0 = s.first; c0 < s.last; c0 += kThreads) {
    const std::int64_t pos = c0 + threadIdx.x;
    int bin = -1;
    if (pos < s.last) {
      const std::uint32_t key = rank_key(x[pos]);
      if ((key & st.mask) == st.prefix) bin = static_cast<int>((key >> kShift) & (kBins - 1));
    }
    // One atomic per distinct bin per warp: a row of ties does not serialise 32-fold.
    const unsigned int peers = __match_any_sync(0xFFFFFFFFu, bin);
    if (bin >= 0 && lane == __ffs(peers) - 1) atomicAdd(&sh.hist[bin], static_cast<unsigned int>(__popc(peers)));
  }
  __syncthreads();
  unsigned int* g = row_hist(p, s.row) + kOffset;
  for (int i = threadIdx.x; i < kBins; i += kThreads)
    if (sh.hist[i]) atomicAdd(&g[i], sh.hist[i]);
}

__global__ void __launch_bounds__(kThreads) topk_count_kernel(TopkSplitLaunch p) {
  using Reduce = cub::BlockReduce<unsigned long long, kThreads>;
  __shared__ Shared sh;
  __shared__ typename Reduce::TempStorage red;
  const Slice s = slice_of(p);
  if (s.trivial()) return;
  const RowState st = state_after(p, s, 3, sh);
  const float* x = p.scores + s.row * p.cols;
  unsigned long long mine = 0;  // (keys > T) << 32 | keys == T
  for (std::int64_t pos = s.first + threadIdx.x; pos < s.last; pos += kThreads) {
    const std::uint32_t key = rank_key(x[pos]);
    mine += key > st.prefix ? (1ull << 32) : key == st.prefix ? 1ull : 0ull;
  }
  const unsigned long long total = Reduce(red).Sum(mine);
  if (threadIdx.x == 0) p.counts[blockIdx.x] = total;
}

__global__ void __launch_bounds__(kThreads, 1) topk_write_kernel(TopkSplitLaunch p) {
  using Reduce = cub::BlockReduce<unsigned long long, kThreads>;
  __shared__ Shared sh;
  __shared__ typename Reduce::TempStorage red;
  __shared__ OrderShared<kThreads> order;
  const Slice s = slice_of(p);
  std::int32_t* out = p.indices + s.row * p.k;
  if (s.index == 0)
    for (std::int64_t j = s.n + threadIdx.x; j < p.k; j += kThreads) out[j] = -1;
  if (s.trivial()) {
    if (s.n == s.end)
      for (std::int64_t pos = s.first + threadIdx.x; pos < s.last; pos += kThreads) out[pos] = static_cast<std::int32_t>(pos);
    return;
  }
  const RowState st = state_after(p, s, 3, sh);
  // Counts of the slices before this one (the count kernel's, in row order), then the
  // slice's own selected positions in order, after theirs.
  unsigned long long before = 0;
  const unsigned long long* row_counts = p.counts + s.row * p.blocks;
  for (int j = threadIdx.x; j < s.index; j += kThreads) before += row_counts[j];
  before = Reduce(red).Sum(before);  // valid in thread 0: shared through sh.base
  if (threadIdx.x == 0) sh.base = before;
  __syncthreads();
  const float* x = p.scores + s.row * p.cols + s.first;
  write_selected_in_order<kThreads>([x](std::int64_t i) { return rank_key(x[i]); },
                                    [&s](std::int64_t i) { return static_cast<std::int32_t>(s.first + i); },
                                    s.last - s.first, Threshold{st.prefix, st.remaining}, out, order, sh.base);
}

}  // namespace

int topk_split_blocks(std::int64_t rows, std::int64_t cols, int sm_count) {
  if (rows <= 0 || cols <= 0) return 1;
  // Two blocks per SM over the whole launch, but no slice under kMinSlice positions
  // (below that the passes' fixed costs dominate).
  constexpr std::int64_t kMinSlice = 2048;
  const std::int64_t want = (2LL * std::max(sm_count, 1) + rows - 1) / rows;
  const std::int64_t most = std::max<std::int64_t>(1, cols / kMinSlice);
  return static_cast<int>(std::clamp<std::int64_t>(want, 1, std::min<std::int64_t>(most, 1024)));
}

std::size_t topk_split_hist_words(std::int64_t rows) { return static_cast<std::size_t>(rows) * kHistPerRow; }

std::optional<std::string> topk_split_unsupported(std::int64_t rows, std::int64_t cols, int blocks) {
  if (cols > 0xFFFFFFFFll) return "rows longer than 2^32 columns";
  if (blocks < 1) return "blocks per row must be at least 1";
  if (rows * blocks > 0x7FFFFFFFll) return "rows x blocks exceeds the grid";
  return std::nullopt;
}

void launch_topk_split(const TopkSplitLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.split");
  if (auto why = topk_split_unsupported(p.rows, p.cols, p.blocks)) throw CudaError("launch_topk_split: " + *why);
  if (!p.hist || !p.counts) throw CudaError("launch_topk_split: the workspace (hist, counts) must be given");
  if (p.rows == 0) return;
  DSA_CUDA_CHECK(cudaMemsetAsync(p.hist, 0, topk_split_hist_words(p.rows) * sizeof(unsigned int), stream));
  const auto grid = static_cast<unsigned>(p.rows * p.blocks);
  topk_hist_kernel<0><<<grid, kThreads, 0, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
  topk_hist_kernel<1><<<grid, kThreads, 0, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
  topk_hist_kernel<2><<<grid, kThreads, 0, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
  topk_count_kernel<<<grid, kThreads, 0, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
  topk_write_kernel<<<grid, kThreads, 0, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace dsa::cuda
