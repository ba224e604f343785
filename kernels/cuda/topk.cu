// Radix select, one block of 512 threads per row, exact for any number of ties:
//  1. Four passes over the row build 256-bin histograms of an order-preserving key,
//     8 bits at a time from the top, restricted to the keys matching the prefix found
//     so far. Each pass narrows the threshold key T (the k-th largest) and how many
//     keys equal to T are still needed (`remaining`). Histograms count exactly, so
//     there is no candidate buffer that could overflow when most scores tie (the bug
//     seen in peers at 256K columns).
//  2. One pass in position order: a block-wide scan counts, for every position, the
//     keys > T and the keys == T before it; a key > T goes to slot gt + min(eq,
//     remaining), a key == T among the first `remaining` to slot gt + eq. The output
//     is therefore in increasing position order with ties broken by position, which is
//     the reference's rule, and identical on every run (no atomics decide anything).
// The row is read five times; for rows that fit in L2 the later passes hit L2. Both
// steps live in topk_common.cuh, shared with the sampled kernel (topk_sample.cu), which
// falls back to them.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/topk.h"
#include "kernels/cuda/topk_common.cuh"

#include "core/trace.h"

namespace dsa::cuda {

namespace {

using namespace topk_detail;

// 512 threads: at 1024 the 64-register cap made the 64-bit block scan spill.
constexpr int kThreads = 512;

__global__ void __launch_bounds__(kThreads, 2) topk_kernel(TopkLaunch p) {
  __shared__ RadixShared radix;
  __shared__ OrderShared<kThreads> order;
  const std::int64_t row = blockIdx.x;
  std::int32_t* out = p.indices + row * p.k;
  const std::int64_t end = p.ends[row];
  const std::int64_t n = end < p.k ? end : p.k;
  if (n == end || n == 0) return write_all_positions<kThreads>(n, p.k, out);  // nothing to choose
  select_row_exact<kThreads>(p.scores + row * p.cols, end, n, out, radix, order);
  pad_from<kThreads>(n, p.k, out);
}

}  // namespace

void launch_topk(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.radix");
  if (p.rows == 0) return;
  if (p.cols > 0xFFFFFFFFll) throw CudaError("launch_topk: rows longer than 2^32 columns");
  topk_kernel<<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace dsa::cuda
