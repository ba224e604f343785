// Top-k, one block per row, reading the row about once instead of five times. The
// radix kernel (topk.cu) streams the row from memory in each of its four histogram
// passes and its write: for 512 rows of 64K (prefill) that is 5 x 134 MB, 504 us on an
// H100, where the target is two reads' worth (90 us). Here, per row (plan: topk.h):
//   1. sample: 1 key in 16, in runs of 8 neighbours (whole 32-byte sectors), into
//      shared memory; the exact radix threshold of the sample at a rank a few
//      deviations above its expected share of the top n gives a key `lo` that about
//      2n keys of the row reach;
//   2. collect: one pass over the row (16-byte loads, four in flight per thread, 8192 positions per block step)
//      keeps every position with key >= lo, in position order, in shared memory
//      (up to kTopkSampleCapacity of them; the rest are only counted);
//   3. select: if at least n and at most the capacity were found, every one of the row's
//      top n is among them (all others rank below lo), so the exact threshold and the
//      position-ordered write (topk_common.cuh) run on the candidates alone.
// Otherwise (a sample that misjudged, or masses of ties at lo) the row takes the exact
// passes over global memory, as topk.cu does. Either way the output is the reference's,
// bit for bit, and no step depends on timing. Rows of at most 8192 are collected whole.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/phase_clock.cuh"
#include "kernels/cuda/topk.h"
#include "kernels/cuda/topk_common.cuh"

#include <cstdint>
#include <string>

#include "core/trace.h"

namespace dsa::cuda {

namespace {

using namespace topk_detail;

constexpr int kSub = 4;  // loads in flight per thread per step
constexpr int kCap = static_cast<int>(kTopkSampleCapacity);
constexpr std::size_t kDynamicBytes = 2 * sizeof(std::uint32_t) * kCap;  // keys, then positions

struct Buffers {
  std::uint32_t* key;  // the sample first, then the candidates' keys
  std::int32_t* pos;   // the candidates' positions
};

// One pass over positions [0, end): each with key >= lo is stored in position order in
// b (the first kCap of them). Returns how many there are, stored or not. kPrefetch: the
// next step's loads are issued before this step's scan and barriers, so the row keeps
// streaming through them (16 more registers per thread).
template <int kThreads, bool kPrefetch>
__device__ std::int64_t collect(const float* x, std::int64_t end, std::uint32_t lo, Buffers b,
                                OrderShared<kThreads>& sh) {
  using Scan = cub::BlockScan<unsigned long long, kThreads>;
  constexpr std::int64_t kStep = static_cast<std::int64_t>(kThreads) * kVec * kSub;
  const int tid = threadIdx.x;
  // Rows are 16-byte aligned when the column count is a multiple of 4 (the real shapes).
  const bool vec = (reinterpret_cast<std::uintptr_t>(x) & 15u) == 0;
  if (tid == 0) sh.base = 0;
  __syncthreads();
  // Load j of thread t covers positions s0 + (j * kThreads + t) * kVec + [0, kVec):
  // each load instruction of a warp reads 512 contiguous bytes.
  const auto position = [&](std::int64_t s0, int j) { return s0 + (static_cast<std::int64_t>(j) * kThreads + tid) * kVec; };
  float4 ahead[kSub];
  if constexpr (kPrefetch) {
#pragma unroll
    for (int j = 0; j < kSub; ++j) ahead[j] = load_quad(x, position(0, j), end, vec);
  }
  for (std::int64_t s0 = 0; s0 < end; s0 += kStep) {
    std::uint32_t key[kSub][kVec];
    unsigned hits = 0;  // bit j * kVec + e: that position is a candidate
#pragma unroll
    for (int j = 0; j < kSub; ++j) {
      const std::int64_t s = position(s0, j);
      float4 f;
      if constexpr (kPrefetch) {
        f = ahead[j];
        if (s0 + kStep < end) ahead[j] = load_quad(x, position(s0 + kStep, j), end, vec);
      } else {
        f = load_quad(x, s, end, vec);
      }
      key[j][0] = s < end ? rank_key(f.x) : 0u;
      key[j][1] = s + 1 < end ? rank_key(f.y) : 0u;
      key[j][2] = s + 2 < end ? rank_key(f.z) : 0u;
      key[j][3] = s + 3 < end ? rank_key(f.w) : 0u;
#pragma unroll
      for (int e = 0; e < kVec; ++e)
        if (s + e < end && key[j][e] >= lo) hits |= 1u << (j * kVec + e);
    }
    // One scan for the whole step: load j's count in bits [16 j, 16 j + 16). A field
    // sums at most kThreads * kVec (<= 2048) hits, so fields never carry into each other.
    unsigned long long mine = 0;
#pragma unroll
    for (int j = 0; j < kSub; ++j)
      mine |= static_cast<unsigned long long>(__popc((hits >> (j * kVec)) & 0xFu)) << (16 * j);
    unsigned long long before = 0, total = 0;
    Scan(sh.scan).ExclusiveSum(mine, before, total);
    const unsigned long long base = sh.base;
    unsigned long long earlier_loads = 0;  // hits of the step's loads before load j
#pragma unroll
    for (int j = 0; j < kSub; ++j) {
      unsigned long long at = base + earlier_loads + ((before >> (16 * j)) & 0xFFFFull);
      const std::int64_t s = position(s0, j);
#pragma unroll
      for (int e = 0; e < kVec; ++e)
        if (hits & (1u << (j * kVec + e))) {
          if (at < static_cast<unsigned long long>(kCap)) {
            b.key[at] = key[j][e];
            b.pos[at] = static_cast<std::int32_t>(s + e);
          }
          ++at;
        }
      earlier_loads += (total >> (16 * j)) & 0xFFFFull;
    }
    __syncthreads();  // everyone has read sh.base and the scan storage
    if (tid == 0) sh.base = base + earlier_loads;
    __syncthreads();
  }
  const auto found = static_cast<std::int64_t>(sh.base);
  __syncthreads();  // read before the next user of sh resets it
  return found;
}

// kThreads x kBlocksPerSm: 512 x 1 (cuda.topk.sample), or 256 x 3 (cuda.topk.sample256):
// one row's select phases (threshold passes over the sample and the candidates, the
// ordered write), which wait on barriers and shared memory rather than on DRAM, overlap
// other rows' streaming on the same SM. kSamplePasses: 8-bit passes for the sample's
// bound; 2 resolve it to the top 16 bits of the key (sign, exponent, 7 mantissa bits),
// which lowers it by under 1% of the score and adds a few candidates, for half the passes.
// kMatchAny false (cuda.topk.sample_atomics): the radix passes over the sample and the
// candidates count with plain shared atomics (radix_threshold).
template <int kThreads, int kBlocksPerSm, int kSamplePasses, bool kPrefetch, bool kPhases = false, bool kMatchAny = true>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm) topk_sample_kernel(TopkLaunch p, unsigned long long* sink) {
  static_assert(kThreads * kVec <= 0xFFFF, "a step's per-load hit counts fit 16 bits");
  __shared__ RadixShared radix;
  __shared__ OrderShared<kThreads> order;
  extern __shared__ std::uint32_t dynamic[];
  const Buffers b{dynamic, reinterpret_cast<std::int32_t*>(dynamic + kCap)};

  const std::int64_t row = blockIdx.x;
  const float* x = p.scores + row * p.cols;
  std::int32_t* out = p.indices + row * p.k;
  const std::int64_t end = p.ends[row];
  const std::int64_t n = end < p.k ? end : p.k;
  const TopkSamplePlan plan = topk_sample_plan(end, p.k);
  if (plan.mode == TopkSamplePlan::take_all) return write_all_positions<kThreads>(n, p.k, out);

  PhaseClock<kPhases> clock(sink, threadIdx.x == 0);  // kPhases: thread 0 times each phase, barrier to barrier
  std::int64_t found = -1;  // candidates collected; -1: none (the exact way)
  if (plan.mode == TopkSamplePlan::collect_all) {
    found = collect<kThreads, kPrefetch>(x, end, 0u, b, order);  // every key is >= 0
    clock.lap_synced(topk_phase_collect);
    clock.count(topk_event_whole_rows, 1);
  } else if (plan.mode == TopkSamplePlan::sample) {
    load_sample<kThreads>(x, end, plan, b.key);
    clock.lap_synced(topk_phase_sample);
    const auto sample_key = [&](std::int64_t i) { return b.key[i]; };
    const Threshold lo =
        radix_threshold<kThreads, decltype(sample_key), kSamplePasses, kMatchAny>(sample_key, plan.samples, plan.rank, radix);
    clock.lap_synced(topk_phase_bound);
    found = collect<kThreads, kPrefetch>(x, end, lo.key, b, order);
    clock.lap_synced(topk_phase_collect);
  }
  if (found >= n && found <= kCap) {
    const auto key_at = [&](std::int64_t i) { return b.key[i]; };
    const Threshold t = radix_threshold<kThreads, decltype(key_at), 4, kMatchAny>(key_at, found, n, radix);
    clock.lap_synced(topk_phase_threshold);
    write_selected_in_order<kThreads>(key_at, [&](std::int64_t i) { return b.pos[i]; }, found, t, out, order);
    clock.count(topk_event_candidates, static_cast<unsigned long long>(found));
  } else {
    select_row_exact<kThreads>(x, end, n, out, radix, order);
    clock.count(topk_event_exact_rows, 1);
  }
  pad_from<kThreads>(n, p.k, out);
  clock.lap_synced(found >= n && found <= kCap ? topk_phase_write : topk_phase_exact);
  clock.count(topk_event_rows, 1);
  clock.done();
}

}  // namespace

namespace {

template <int kThreads, int kBlocksPerSm, int kSamplePasses, bool kPrefetch, bool kPhases = false, bool kMatchAny = true>
void launch_sampled(const TopkLaunch& p, cudaStream_t stream, const char* who) {
  if (p.rows == 0) return;
  if (p.cols > 0xFFFFFFFFll) throw CudaError(std::string(who) + ": rows longer than 2^32 columns");
  if (p.rows > 0x7FFFFFFFll) throw CudaError(std::string(who) + ": more rows than the grid holds (2^31 - 1)");
  auto* kernel = topk_sample_kernel<kThreads, kBlocksPerSm, kSamplePasses, kPrefetch, kPhases, kMatchAny>;
  // Above the default 48 KB of dynamic shared memory: opt in (per device, so each launch).
  DSA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kDynamicBytes)));
  kernel<<<static_cast<unsigned>(p.rows), kThreads, kDynamicBytes, stream>>>(p, kPhases ? phase_sink() : nullptr);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_topk_sample(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.sample");
  launch_sampled<512, 1, 4, false>(p, stream, "launch_topk_sample");
}

void launch_topk_sample_phases(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.sample.phases");
  launch_sampled<512, 1, 4, false, true>(p, stream, "launch_topk_sample_phases");
}

void launch_topk_sample_atomics(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.sample_atomics");
  launch_sampled<512, 1, 4, false, false, false>(p, stream, "launch_topk_sample_atomics");
}

void launch_topk_sample_atomics_phases(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.sample_atomics.phases");
  launch_sampled<512, 1, 4, false, true, false>(p, stream, "launch_topk_sample_atomics_phases");
}

void launch_topk_sample_atomics_prefetch(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.sample_atomics_prefetch");
  launch_sampled<512, 1, 2, true, false, false>(p, stream, "launch_topk_sample_atomics_prefetch");
}

void launch_topk_sample256(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.sample256");
  launch_sampled<256, 3, 2, true>(p, stream, "launch_topk_sample256");
}

void launch_topk_sample_prefetch(const TopkLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.sample_prefetch");
  launch_sampled<512, 1, 2, true>(p, stream, "launch_topk_sample_prefetch");
}

}  // namespace dsa::cuda
