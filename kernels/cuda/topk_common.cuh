// Device pieces the top-k kernels share (topk.cu, topk_sample.cu, topk_split.cu,
// topk_filter.cu): the order-preserving key, an exact radix threshold over any list of
// keys, the row sample and vector loads, and the position-ordered write under the
// reference's tie rule (reference/topk.h).
#pragma once

#include <cub/block/block_scan.cuh>

#include <cstdint>

#include "kernels/cuda/topk.h"

namespace dsa::cuda::topk_detail {

// The order-preserving key of a score (topk.h).
__device__ __forceinline__ std::uint32_t rank_key(float f) { return topk_rank_key(f); }

// The `want`-th largest key T of a list and how many keys equal to T are taken
// (`remaining`, >= 1): the selected set is every key > T plus the first `remaining`
// keys == T in list order.
struct Threshold {
  std::uint32_t key = 0;
  long long remaining = 0;
};

struct RadixShared {
  unsigned int hist[256];
  std::uint32_t prefix, mask;
  long long remaining;
};

// Warp 0 finds the bin holding the sh.remaining-th largest key of a finished 256-bin
// histogram (bins counted from the top) and narrows sh to it. Each lane holds 8 bins,
// a warp scan adds them up, and the one lane whose range holds the count walks its 8:
// the same bin as a serial walk from bin 255 that stops at bin 0 at the latest, in
// about a tenth of the time (the serial walk was ~100 dependent shared-memory reads).
__device__ __forceinline__ void narrow_to_bin(RadixShared& sh, int shift) {
  const int lane = static_cast<int>(threadIdx.x);
  unsigned int c[8];
  unsigned long long mine = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    c[i] = sh.hist[255 - 8 * lane - i];
    mine += c[i];
  }
  unsigned long long incl = mine;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const unsigned long long v = __shfl_up_sync(0xFFFFFFFFu, incl, d);
    if (lane >= d) incl += v;
  }
  const unsigned long long before = incl - mine;  // keys in the bins above this lane's
  const long long rem = sh.remaining;
  const std::uint32_t prefix = sh.prefix, mask = sh.mask;
  __syncwarp();  // every lane has read sh before one lane writes it
  const auto want = static_cast<unsigned long long>(rem);
  if (before < want && (want <= incl || lane == 31)) {
    unsigned long long acc = before;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int bin = 255 - 8 * lane - i;
      if (acc + c[i] >= want || bin == 0) {
        sh.remaining = rem - static_cast<long long>(acc);
        sh.prefix = prefix | (static_cast<std::uint32_t>(bin) << shift);
        sh.mask = mask | (0xFFu << shift);
        break;
      }
      acc += c[i];
    }
  }
}

// Four exact 8-bit histogram passes from the top, each restricted to the keys matching
// the prefix found so far. With kPasses < 4 only the top 8 kPasses bits are resolved:
// the key returned is the exact threshold's with its low bits zero, a lower bound that
// every key >= the exact threshold reaches (`remaining` then means nothing): enough
// where only a bound is wanted (the sampled kernel's candidate bound). Histograms count exactly: no buffer can overflow however
// many keys tie, and equal bins within a warp are added with one atomic, so a row of
// ties does not serialise. key_at(i) for i in [0, count); 1 <= want <= count. Called by
// every thread of the block; ends with the block synchronised, so `sh` may be reused.
// kMatchAny false: no __match_any_sync. A warp whose lanes all name one bin (a row of
// ties) still adds them with one vote and one atomic of 32; other keys take a
// shared-memory atomic each, so lanes that share a bin serialise only within that
// instruction. __match_any_sync is a slow instruction, issued 4 times per
// thread per 2,048 keys per pass: on the H100 one 128K row took 82 us in the sampled
// kernel, about 25 of them streaming, and its 8 radix passes are suspected of most of
// the rest (a reading to be checked against the phase clocks).
template <int kThreads, class KeyAt, int kPasses = 4, bool kMatchAny = true>
__device__ Threshold radix_threshold(KeyAt key_at, std::int64_t count, long long want, RadixShared& sh) {
  static_assert(kPasses >= 1 && kPasses <= 4, "one to four 8-bit passes");
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  if (tid == 0) {
    sh.prefix = 0;
    sh.mask = 0;
    sh.remaining = want;
  }
  for (int shift = 24; shift >= 32 - 8 * kPasses; shift -= 8) {
    for (int i = tid; i < 256; i += kThreads) sh.hist[i] = 0;
    __syncthreads();
    const std::uint32_t prefix = sh.prefix, mask = sh.mask;
    // kUnroll keys per thread are read before any is counted, so their loads wait in
    // parallel; the trip count is uniform, so whole warps reach the match.
    constexpr int kUnroll = 4;
    for (std::int64_t s0 = 0; s0 < count; s0 += static_cast<std::int64_t>(kThreads) * kUnroll) {
      std::uint32_t key[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const std::int64_t s = s0 + u * kThreads + tid;
        key[u] = s < count ? key_at(s) : 0u;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        int bin = -1;
        if (s0 + u * kThreads + tid < count && (key[u] & mask) == prefix) bin = static_cast<int>((key[u] >> shift) & 0xFFu);
        if constexpr (kMatchAny) {
          const unsigned int peers = __match_any_sync(0xFFFFFFFFu, bin);
          if (bin >= 0 && lane == __ffs(peers) - 1) atomicAdd(&sh.hist[bin], static_cast<unsigned int>(__popc(peers)));
        } else if (__all_sync(0xFFFFFFFFu, bin == __shfl_sync(0xFFFFFFFFu, bin, 0))) {
          if (bin >= 0 && lane == 0) atomicAdd(&sh.hist[bin], 32u);  // a warp of ties: one atomic
        } else if (bin >= 0) {
          atomicAdd(&sh.hist[bin], 1u);
        }
      }
    }
    __syncthreads();
    if (tid < 32) narrow_to_bin(sh, shift);
    __syncthreads();
  }
  const Threshold t{sh.prefix, sh.remaining};
  __syncthreads();  // every thread has read sh before a caller writes it again
  return t;
}

template <int kThreads>
struct OrderShared {
  typename cub::BlockScan<unsigned long long, kThreads>::TempStorage scan;
  unsigned long long base;  // (gt count << 32) | eq count before the chunk
};

// Writes the selected positions of a list in list order, which must be position order:
// item i (key key_at(i), position pos_at(i)) is selected when its key > T, or == T and
// among the first t.remaining such. A key > T goes to slot gt + min(eq, remaining), a
// selected key == T to gt + eq, where gt and eq count the keys > T and == T before it:
// the output is in increasing position order, identical on every run. Each thread
// takes kItems consecutive items per block step (their loads in flight together, one
// block scan per kThreads * kItems items). `start`: (keys > T) << 32 | keys == T that
// come before the list (a slice of a row after others: the split kernel); the same
// value in every thread.
template <int kThreads, class KeyAt, class PosAt>
__device__ void write_selected_in_order(KeyAt key_at, PosAt pos_at, std::int64_t count, Threshold t,
                                        std::int32_t* out, OrderShared<kThreads>& sh, unsigned long long start = 0) {
  using Scan = cub::BlockScan<unsigned long long, kThreads>;
  constexpr int kItems = 8;
  const int tid = threadIdx.x;
  __syncthreads();  // every thread is done with what the caller last did with sh
  if (tid == 0) sh.base = start;
  __syncthreads();
  for (std::int64_t c0 = 0; c0 < count; c0 += static_cast<std::int64_t>(kThreads) * kItems) {
    const std::int64_t i0 = c0 + static_cast<std::int64_t>(tid) * kItems;
    std::uint32_t key[kItems];
#pragma unroll
    for (int j = 0; j < kItems; ++j) key[j] = i0 + j < count ? key_at(i0 + j) : 0u;
    unsigned long long mine = 0;  // (keys > T) << 32 | keys == T among this thread's items
#pragma unroll
    for (int j = 0; j < kItems; ++j)
      if (i0 + j < count) mine += key[j] > t.key ? (1ull << 32) : key[j] == t.key ? 1ull : 0ull;
    unsigned long long before = 0, total = 0;
    Scan(sh.scan).ExclusiveSum(mine, before, total);
    const unsigned long long base = sh.base;
    long long gt = static_cast<long long>((base >> 32) + (before >> 32));
    long long eq = static_cast<long long>((base & 0xFFFFFFFFull) + (before & 0xFFFFFFFFull));
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      if (i0 + j >= count) break;
      if (key[j] > t.key) {
        out[gt + (eq < t.remaining ? eq : t.remaining)] = pos_at(i0 + j);
        ++gt;
      } else if (key[j] == t.key) {
        if (eq < t.remaining) out[gt + eq] = pos_at(i0 + j);
        ++eq;
      }
    }
    __syncthreads();  // everyone has read sh.base and the scan storage before they change
    if (tid == 0) sh.base = base + total;
    __syncthreads();
  }
}

// The sampled keys of a row into key[0, plan.samples) (topk_sample_plan): run r covers
// positions [r * end / runs, + kTopkSampleRun), spread evenly over the row. Eight loads
// per thread are issued before any is stored, so a row waits out the memory latency
// once per 8 x kThreads samples.
template <int kThreads>
__device__ void load_sample(const float* x, std::int64_t end, const TopkSamplePlan& plan, std::uint32_t* key) {
  constexpr int kBatch = 8;
  const std::int64_t runs = plan.samples / kTopkSampleRun;
  for (std::int64_t i0 = threadIdx.x; i0 < plan.samples; i0 += kBatch * kThreads) {
    float v[kBatch];
#pragma unroll
    for (int j = 0; j < kBatch; ++j) {
      const std::int64_t i = i0 + j * kThreads;
      v[j] = i < plan.samples ? x[i / kTopkSampleRun * end / runs + i % kTopkSampleRun] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kBatch; ++j)
      if (i0 + j * kThreads < plan.samples) key[i0 + j * kThreads] = rank_key(v[j]);
  }
}

constexpr int kVec = 4;  // scores per float4 load

// Four positions from s on as a float4 (zeros past `end`: their keys are not used);
// `vec`: the row is 16-byte aligned.
__device__ __forceinline__ float4 load_quad(const float* x, std::int64_t s, std::int64_t end, bool vec) {
  if (vec && s + kVec <= end) return *reinterpret_cast<const float4*>(x + s);
  float4 f = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  if (s < end) f.x = x[s];
  if (s + 1 < end) f.y = x[s + 1];
  if (s + 2 < end) f.z = x[s + 2];
  if (s + 3 < end) f.w = x[s + 3];
  return f;
}

// Rows with nothing to choose (end <= k, or k == 0): positions [0, n), then -1.
template <int kThreads>
__device__ void write_all_positions(std::int64_t n, std::int64_t k, std::int32_t* out) {
  for (std::int64_t s = threadIdx.x; s < k; s += kThreads) out[s] = s < n ? static_cast<std::int32_t>(s) : -1;
}

template <int kThreads>
__device__ void pad_from(std::int64_t n, std::int64_t k, std::int32_t* out) {
  for (std::int64_t j = n + threadIdx.x; j < k; j += kThreads) out[j] = -1;
}

// The exact selection of one row straight from global memory: five reads of the row
// (four histogram passes and the write), for any number of ties.
template <int kThreads>
__device__ void select_row_exact(const float* x, std::int64_t end, std::int64_t n, std::int32_t* out,
                                 RadixShared& radix, OrderShared<kThreads>& order) {
  const auto key_at = [x](std::int64_t s) { return rank_key(x[s]); };
  const Threshold t = radix_threshold<kThreads>(key_at, end, n, radix);
  write_selected_in_order<kThreads>(key_at, [](std::int64_t s) { return static_cast<std::int32_t>(s); }, end, t, out,
                                    order);
}

}  // namespace dsa::cuda::topk_detail
