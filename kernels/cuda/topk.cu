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
// The row is read five times; for rows that fit in L2 the later passes hit L2.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/topk.h"

#include <cub/block/block_scan.cuh>

#include "core/trace.h"

namespace dsa::cuda {

namespace {

// 512 threads: at 1024 the 64-register cap made the 64-bit block scan spill.
constexpr int kThreads = 512;

// Larger score -> larger key; -0 == +0; NaN below -inf (the reference's order).
__device__ __forceinline__ std::uint32_t rank_key(float f) {
  if (f != f) return 0u;
  if (f == 0.0f) f = 0.0f;
  const std::uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__global__ void __launch_bounds__(kThreads) topk_kernel(TopkLaunch p) {
  using Scan = cub::BlockScan<unsigned long long, kThreads>;
  __shared__ typename Scan::TempStorage scan_tmp;
  __shared__ unsigned int hist[256];
  __shared__ std::uint32_t s_prefix, s_mask;
  __shared__ long long s_remaining;
  __shared__ unsigned long long s_base;  // (gt count << 32) | eq count before the chunk

  const std::int64_t row = blockIdx.x;
  const float* x = p.scores + row * p.cols;
  std::int32_t* out = p.indices + row * p.k;
  const std::int64_t end = p.ends[row];
  const std::int64_t n = end < p.k ? end : p.k;
  const int tid = threadIdx.x;

  if (n == end) {  // every valid position is selected
    for (std::int64_t s = tid; s < p.k; s += kThreads) out[s] = s < end ? static_cast<std::int32_t>(s) : -1;
    return;
  }

  if (tid == 0) { s_prefix = 0; s_mask = 0; s_remaining = n; s_base = 0; }
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = tid; i < 256; i += kThreads) hist[i] = 0;
    __syncthreads();
    const std::uint32_t prefix = s_prefix, mask = s_mask;
    for (std::int64_t s = tid; s < end; s += kThreads) {
      const std::uint32_t key = rank_key(x[s]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xFFu], 1u);
    }
    __syncthreads();
    if (tid == 0) {  // 256 bins: a serial walk from the top is cheap next to the pass
      long long rem = s_remaining;
      int b = 255;
      for (; b > 0 && static_cast<long long>(hist[b]) < rem; --b) rem -= hist[b];
      s_remaining = rem;
      s_prefix = prefix | (static_cast<std::uint32_t>(b) << shift);
      s_mask = mask | (0xFFu << shift);
    }
    __syncthreads();
  }
  const std::uint32_t threshold = s_prefix;
  const long long remaining = s_remaining;

  // Position-ordered selection, one chunk of kThreads positions at a time.
  for (std::int64_t c0 = 0; c0 < end; c0 += kThreads) {
    const std::int64_t s = c0 + tid;
    std::uint32_t key = 0;
    bool gt = false, eq = false;
    if (s < end) {
      key = rank_key(x[s]);
      gt = key > threshold;
      eq = key == threshold;
    }
    const unsigned long long mine = (static_cast<unsigned long long>(gt) << 32) | static_cast<unsigned long long>(eq);
    unsigned long long before = 0, total = 0;
    Scan(scan_tmp).ExclusiveSum(mine, before, total);
    const unsigned long long base = s_base;
    const long long gt_before = static_cast<long long>((base >> 32) + (before >> 32));
    const long long eq_before = static_cast<long long>((base & 0xFFFFFFFFull) + (before & 0xFFFFFFFFull));
    if (gt) out[gt_before + (eq_before < remaining ? eq_before : remaining)] = static_cast<std::int32_t>(s);
    else if (eq && eq_before < remaining) out[gt_before + eq_before] = static_cast<std::int32_t>(s);
    __syncthreads();  // everyone has read s_base and scan_tmp before they change
    if (tid == 0) s_base = base + total;
    __syncthreads();
  }
  for (std::int64_t j = n + tid; j < p.k; j += kThreads) out[j] = -1;
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
