// Top-k on the GPU under the reference's tie rule (reference/topk.h): per row, the
// min(k, end) best positions in increasing order, then -1 padding.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dsa::cuda {

struct TopkLaunch {
  const float* scores = nullptr;        // [rows, cols]
  const std::int64_t* ends = nullptr;   // [rows], each in [0, cols]
  std::int32_t* indices = nullptr;      // [rows, k]
  std::int64_t rows = 0, cols = 0, k = 0;
};

// One block per row, exact radix select (kernels/cuda/topk.cu).
void launch_topk(const TopkLaunch& p, cudaStream_t stream);

// One block per row that usually reads the row once (kernels/cuda/topk_sample.cu): a
// sample of the row gives a key `lo` that about twice n keys reach; one pass collects
// those candidates into shared memory and the exact selection runs there. When the
// sample misjudges (fewer than n candidates, or more than the buffer holds) the row
// falls back to the exact passes of launch_topk, so the output is the same bit for bit.
void launch_topk_sample(const TopkLaunch& p, cudaStream_t stream);
// The same with 256-thread blocks, three per SM (one row's select phases overlap other
// rows' streaming). Not yet run on a GPU.
void launch_topk_sample256(const TopkLaunch& p, cudaStream_t stream);
// launch_topk_sample's kernel with a clock per phase (kernels/cuda/phase_clock.cuh):
// thread 0 of each block adds the cycles of each phase, barrier to barrier, to
// phase_sink() (phases.h), in the order of TopkSamplePhase; the events are
// TopkSampleEvent. Same output; the extra barriers make it slightly slower. For the
// micro-benchmarks' phase tables, never picked by the registry.
void launch_topk_sample_phases(const TopkLaunch& p, cudaStream_t stream);
enum TopkSamplePhase : int {
  topk_phase_sample,     // the 1-in-16 sample into shared memory
  topk_phase_bound,      // its radix threshold: the candidates' bound
  topk_phase_collect,    // the pass over the row keeping the candidates
  topk_phase_threshold,  // the exact threshold among the candidates
  topk_phase_write,      // the position-ordered write and the padding
  topk_phase_exact,      // a row the sample misjudged: the exact passes over the row
  topk_phase_count
};
inline constexpr const char* kTopkSamplePhaseNames[topk_phase_count] = {"sample", "bound", "collect",
                                                                          "threshold", "write", "exact"};
enum TopkSampleEvent : int { topk_event_rows, topk_event_exact_rows, topk_event_whole_rows, topk_event_candidates };

// The default with its radix passes counting by plain shared-memory atomics instead of
// __match_any_sync (a warp whose lanes all name one bin still adds them with one
// atomic): one change, to tell what that instruction costs. Not yet run on a GPU.
void launch_topk_sample_atomics(const TopkLaunch& p, cudaStream_t stream);
// ... and with the phase clock, as launch_topk_sample_phases.
void launch_topk_sample_atomics_phases(const TopkLaunch& p, cudaStream_t stream);
// sample_atomics and sample_prefetch's changes together (plain atomics, a 2-pass sample
// bound, the collect pass's next loads in flight): if each pays, what both give. Not
// yet run on a GPU.
void launch_topk_sample_atomics_prefetch(const TopkLaunch& p, cudaStream_t stream);
// The default's 512-thread blocks with sample256's other two changes (a 2-pass sample
// bound, the next collect step's loads in flight during this one's scan): tells apart
// what the block shape and what those changes are worth. Not yet run on a GPU.
void launch_topk_sample_prefetch(const TopkLaunch& p, cudaStream_t stream);

#ifdef __CUDACC__
#define DSA_TOPK_HOST_DEVICE __host__ __device__
#else
#define DSA_TOPK_HOST_DEVICE
#endif

// The order-preserving key of a score: larger score -> larger key; -0 == +0; NaN below
// -inf (the reference's order). On the host too, where the sampled kernel's bound is
// checked against realistic rows.
DSA_TOPK_HOST_DEVICE inline std::uint32_t topk_rank_key(float f) {
  if (f != f) return 0u;
  if (f == 0.0f) f = 0.0f;
#ifdef __CUDA_ARCH__
  const std::uint32_t u = __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
#endif
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Candidates the sampled kernel holds in shared memory (key and position: 64 KB).
constexpr std::int64_t kTopkSampleCapacity = 8192;
// The sample is taken in runs of this many consecutive positions (one 32-byte sector).
constexpr std::int64_t kTopkSampleRun = 8;

// How the sampled kernel treats a row of valid length `end`: the same on host and
// device, so the plan can be checked without a GPU.
struct TopkSamplePlan {
  enum Mode { take_all, collect_all, sample, exact };
  Mode mode = take_all;
  std::int64_t samples = 0;  // keys sampled (mode sample): a multiple of kTopkSampleRun
  std::int64_t rank = 0;     // the sample's rank-th largest key is `lo`
};

DSA_TOPK_HOST_DEVICE inline TopkSamplePlan topk_sample_plan(std::int64_t end, std::int64_t k) {
  TopkSamplePlan plan;
  const std::int64_t n = end < k ? end : k;
  if (n == end || n == 0) return plan;  // nothing to choose
  if (end <= kTopkSampleCapacity) {     // the whole row fits: one read
    plan.mode = TopkSamplePlan::collect_all;
    return plan;
  }
  // About 2n candidates must fit with room to spare; larger k goes the exact way.
  if (4 * n > kTopkSampleCapacity) {
    plan.mode = TopkSamplePlan::exact;
    return plan;
  }
  plan.mode = TopkSamplePlan::sample;
  // One key in 16 (at most the buffer, which holds the sample first: rows far beyond
  // 256K get a thinner sample, whose bound lets more keys through than the buffer holds,
  // and mostly go the exact way).
  const std::int64_t m = end / 16 < kTopkSampleCapacity ? end / 16 : kTopkSampleCapacity;
  plan.samples = m / kTopkSampleRun * kTopkSampleRun;
  // e sampled keys are expected among the row's top n. Runs of 8 neighbours move
  // together, so the count varies like 8x a binomial's: 4 of its standard deviations
  // above e (plus 8) make "fewer than n candidates" rare, and for the top 2048 of 64K
  // the expected candidates (about 2.1n) stay 4 deviations under the buffer's 4n.
  const double e = static_cast<double>(n) * static_cast<double>(plan.samples) / static_cast<double>(end);
  auto rank = static_cast<std::int64_t>(std::ceil(e + 4.0 * std::sqrt(8.0 * e) + 8.0));
  plan.rank = rank < 1 ? 1 : rank > plan.samples ? plan.samples : rank;
  return plan;
}

}  // namespace dsa::cuda
