// Top-k as three kernels over all the rows of a launch, so that streaming the scores
// keeps every SM busy however long one row's selection takes.
//
// Why: the sampled kernel (topk_sample.cu) reads a row about once, but one 512-thread
// block does all of a row's work, one block per SM. On the H100 (2026-11-23) a row of
// 64K took about 50 us of which the streaming should be about 11: 256 rows of 64K ran in
// 110 us and 512 in 206 (target 90, twice one read of the scores at the copy bandwidth).
// The rest is select phases that wait on barriers and shared memory while the SM's
// memory pipes idle, and per-row latency that only more rows in flight would hide. Here
// the three jobs are apart, each with the parallelism it needs:
//   1. bound (one 256-thread block per row, several per SM): the sampled kernel's plan
//      and sample (topk_sample_plan), and the sample's rank-th largest key to 16 bits: a
//      key `lo` that about 2n of the row's keys reach;
//   2. filter (one 256-thread block per 8192 positions of a row, 32 KB of scores each,
//      all its loads in flight at once): every key >= lo is appended to the row's
//      candidate list in global memory (one atomic per warp); the list's order depends
//      on timing, its contents do not;
//   3. select (one 512-thread block per row): if at least n and at most 8192 candidates
//      were found, every key of the row's top n is among them; the exact radix threshold
//      T over them (topk_common.cuh), then a bit per row position in shared memory:
//      keys > T, and the lowest-positioned keys == T that the threshold takes (the
//      reference's tie rule), are set; the bits are read out in position order, which
//      is the output's. Otherwise (the sample misjudged, masses of ties, k above a
//      quarter of the buffer) the row takes the exact passes over global memory.
// No step depends on timing: the output is the reference's, bit for bit. The three
// kernels run inside one launch (one timed interval); rows beyond 1024 go in rounds,
// which bounds the workspace at 64 MB. Written without a GPU on 2026-12-05: not yet run.
//
// The fused form (cuda.topk.filter_fused, 2026-12-06, not yet run either) folds 3 into
// 2: each filter block counts itself done after its candidates are stored, and the
// row's last block to finish runs the select with its 256 threads. The selects then
// overlap other rows' streaming instead of waiting for the whole filter pass, and the
// third launch and its wave of 512-thread blocks are gone.
#include "kernels/cuda/topk_filter.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/trace.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/topk_common.cuh"

namespace dsa::cuda {

namespace {

using namespace topk_detail;

constexpr int kCap = static_cast<int>(kTopkSampleCapacity);  // candidates per row, as the sampled kernel's buffer
constexpr int kBoundThreads = 256;
constexpr int kFilterThreads = 256;
constexpr int kFilterLoads = static_cast<int>(kTopkFilterSlice / (kFilterThreads * kVec));  // float4 per thread
static_assert(kFilterLoads * kVec == 32, "a thread's 32 positions: one bit each in a 32-bit mask");
constexpr int kSelectThreads = 512;
constexpr unsigned kFull = 0xFFFFFFFFu;

// The workspace of a round of `rows` rows: a bound and two counts per row, then kCap
// candidate keys and positions per row.
struct Work {
  std::uint32_t* bound;
  unsigned int* found;  // keys >= bound (the first kCap stored)
  unsigned int* done;   // the fused form: the row's filter blocks that have finished
  std::uint32_t* key;   // [rows, kCap]
  std::int32_t* pos;    // [rows, kCap]
};

// Byte offsets of that workspace for a round of `rows` rows: the one layout both the
// size the caller allocates and the pointers the kernels get come from.
struct WorkLayout {
  std::size_t found, done, keys, pos, bytes;
};

WorkLayout work_layout(std::int64_t rows) {
  const auto r = static_cast<std::size_t>(rows);
  WorkLayout l;
  l.found = sizeof(std::uint32_t) * r;
  l.done = 2 * sizeof(std::uint32_t) * r;
  l.keys = (3 * sizeof(std::uint32_t) * r + 255) / 256 * 256;
  l.pos = l.keys + sizeof(std::uint32_t) * kCap * r;
  l.bytes = l.pos + sizeof(std::int32_t) * kCap * r;
  return l;
}

Work work_of(void* ws, std::int64_t rows) {
  auto* base = static_cast<unsigned char*>(ws);
  const WorkLayout l = work_layout(rows);
  return {reinterpret_cast<std::uint32_t*>(base), reinterpret_cast<unsigned int*>(base + l.found),
          reinterpret_cast<unsigned int*>(base + l.done), reinterpret_cast<std::uint32_t*>(base + l.keys),
          reinterpret_cast<std::int32_t*>(base + l.pos)};
}

// One round: rows [r0, r0 + rows) of the launch, with the pointers moved to r0.
struct Round {
  const float* scores;
  const std::int64_t* ends;
  std::int32_t* indices;
  std::int64_t rows, cols, k;
  Work w;
};

__global__ void __launch_bounds__(kBoundThreads) topk_filter_bound_kernel(Round r) {
  __shared__ RadixShared radix;
  __shared__ std::uint32_t sample[kCap];  // plan.samples <= kCap
  const std::int64_t row = blockIdx.x;
  const std::int64_t end = r.ends[row];
  const TopkSamplePlan plan = topk_sample_plan(end, r.k);
  if (threadIdx.x == 0) {
    r.w.found[row] = 0;
    r.w.done[row] = 0;
    r.w.bound[row] = 0;  // a row that fits the buffer (collect_all) keeps every key: all are >= 0
  }
  if (plan.mode != TopkSamplePlan::sample) return;
  load_sample<kBoundThreads>(r.scores + row * r.cols, end, plan, sample);
  // radix_threshold's first barrier comes after every thread's sample stores.
  const auto at = [&](std::int64_t i) { return sample[i]; };
  // Two 8-bit passes: the key to 16 bits (sign, exponent, 7 mantissa bits), its low bits
  // zero, so a bound under the exact one by under 1% of the score: a few more candidates.
  const Threshold lo = radix_threshold<kBoundThreads, decltype(at), 2>(at, plan.samples, plan.rank, radix);
  if (threadIdx.x == 0) r.w.bound[row] = lo.key;
}

__device__ __forceinline__ float component(const float4& f, int e) { return e == 0 ? f.x : e == 1 ? f.y : e == 2 ? f.z : f.w; }

__device__ __forceinline__ bool filtered(TopkSamplePlan::Mode m) {
  return m == TopkSamplePlan::sample || m == TopkSamplePlan::collect_all;
}

// Appends every key >= the row's bound among positions [s0, s0 + kTopkFilterSlice) of
// the row (before `end`) to its candidate list. Called by all kFilterThreads threads.
__device__ __forceinline__ void collect_slice(const Round& r, std::int64_t row, std::int64_t s0, std::int64_t end) {
  const int tid = threadIdx.x, lane = tid & 31;
  const float* x = r.scores + row * r.cols;
  const bool vec = (reinterpret_cast<std::uintptr_t>(x) & 15u) == 0;  // rows of a multiple of 4 columns
  // Load j of thread t: positions s0 + (j * kFilterThreads + t) * kVec + [0, kVec), so
  // each warp-wide load reads 512 contiguous bytes; all are in flight before any is used.
  const auto position = [&](int j) { return s0 + (static_cast<std::int64_t>(j) * kFilterThreads + tid) * kVec; };
  float4 f[kFilterLoads];
#pragma unroll
  for (int j = 0; j < kFilterLoads; ++j) f[j] = load_quad(x, position(j), end, vec);
  const std::uint32_t lo = r.w.bound[row];
  unsigned hits = 0;  // bit j * kVec + e: position(j) + e is a candidate
#pragma unroll
  for (int j = 0; j < kFilterLoads; ++j)
#pragma unroll
    for (int e = 0; e < kVec; ++e)
      if (position(j) + e < end && rank_key(component(f[j], e)) >= lo) hits |= 1u << (j * kVec + e);
  // The warp's hits in one block of the row's list: an inclusive scan of the lanes'
  // counts, one atomic by the last lane.
  const int mine = __popc(hits);
  int incl = mine;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int v = __shfl_up_sync(kFull, incl, d);
    if (lane >= d) incl += v;
  }
  unsigned base = 0;
  if (lane == 31 && incl > 0) base = atomicAdd(&r.w.found[row], static_cast<unsigned>(incl));
  base = __shfl_sync(kFull, base, 31);
  unsigned at = base + static_cast<unsigned>(incl - mine);
  std::uint32_t* keys = r.w.key + row * kCap;
  std::int32_t* pos = r.w.pos + row * kCap;
#pragma unroll
  for (int j = 0; j < kFilterLoads; ++j)
#pragma unroll
    for (int e = 0; e < kVec; ++e)
      if (hits & (1u << (j * kVec + e))) {
        if (at < static_cast<unsigned>(kCap)) {  // beyond: counted only (the row goes the exact way)
          keys[at] = rank_key(component(f[j], e));
          pos[at] = static_cast<std::int32_t>(position(j) + e);
        }
        ++at;
      }
}

// Block b covers positions [b % slices * kTopkFilterSlice, + kTopkFilterSlice) of row
// b / slices. Every block of a row finds the same mode, so a block leaves whole.
__global__ void __launch_bounds__(kFilterThreads, 4) topk_filter_collect_kernel(Round r, std::int64_t slices) {
  const std::int64_t row = blockIdx.x / slices;
  const std::int64_t s0 = blockIdx.x % slices * kTopkFilterSlice;
  const std::int64_t end = r.ends[row];
  if (s0 >= end || !filtered(topk_sample_plan(end, r.k).mode)) return;
  collect_slice(r, row, s0, end);
}

template <int kThreads>
struct SelectShared {
  RadixShared radix;
  OrderShared<kThreads> order;
  unsigned int ties;  // candidates whose key is T
  long long cut;      // the last position of a key == T that is taken
};

// Thread t owns the bitmap words [t * per, + per) (within `words`); returns the set bits
// in the words before its own, and its own count in `mine`. Called by every thread; the
// caller synchronises before sh.scan is used again.
template <int kThreads>
__device__ unsigned long long bits_before(const std::uint32_t* bits, int words, int per, unsigned long long& mine,
                                          OrderShared<kThreads>& sh) {
  const int w0 = static_cast<int>(threadIdx.x) * per, w1 = min(words, w0 + per);
  mine = 0;
  for (int w = w0; w < w1; ++w) mine += static_cast<unsigned long long>(__popc(bits[w]));
  unsigned long long before = 0, total = 0;
  cub::BlockScan<unsigned long long, kThreads>(sh.scan).ExclusiveSum(mine, before, total);
  return before;
}

__device__ __forceinline__ void set_bit(std::uint32_t* bits, std::int32_t s) { atomicOr(&bits[s >> 5], 1u << (s & 31)); }

// The position of the r-th (1-based) set bit of word w.
__device__ __forceinline__ long long nth_bit(std::uint32_t word, int w, unsigned long long r) {
  for (unsigned long long q = 1; q < r; ++q) word &= word - 1;
  return 32LL * w + (__ffs(static_cast<int>(word)) - 1);
}

// The top n of a row (its first n positions as -1 padding beyond) from its candidate
// list, or by the exact passes where the list does not hold them all (fewer than n
// candidates: the sample misjudged; more than kCap: masses of ties; or no list: rows
// the filter does not take). The list is read through L2 (__ldcg): in the fused form
// other blocks of this launch wrote it. Dynamic shared memory `dyn`: kCap candidate
// keys, then one bit per position of the row. Called by all kThreads threads.
template <int kThreads>
__device__ void select_row(const Round& r, std::int64_t row, std::int64_t end, std::int64_t n, bool listed,
                           std::int32_t* out, std::uint32_t* dyn, SelectShared<kThreads>& sh) {
  const int tid = threadIdx.x, lane = tid & 31;
  std::uint32_t* keys = dyn;
  std::uint32_t* bits = dyn + kCap;
  const std::int64_t found = listed ? static_cast<std::int64_t>(__ldcg(&r.w.found[row])) : -1;
  if (found < n || found > kCap) {
    select_row_exact<kThreads>(r.scores + row * r.cols, end, n, out, sh.radix, sh.order);
    return pad_from<kThreads>(n, r.k, out);
  }
  const auto nc = static_cast<int>(found);
  const std::uint32_t* ck = r.w.key + row * kCap;
  const std::int32_t* cp = r.w.pos + row * kCap;
  for (int i = tid; i < nc; i += kThreads) keys[i] = __ldcg(ck + i);
  const auto words = static_cast<int>((end + 31) / 32);
  const int per = (words + kThreads - 1) / kThreads;
  for (int w = tid; w < words; w += kThreads) bits[w] = 0;
  if (tid == 0) {
    sh.ties = 0;
    sh.cut = end;  // every key == T taken, unless found otherwise below
  }
  // radix_threshold's first barrier comes after these stores; it ends synchronised.
  const auto key_at = [&](std::int64_t i) { return keys[i]; };
  const Threshold t = radix_threshold<kThreads>(key_at, nc, n, sh.radix);

  // The list's order depends on timing, so "the first t.remaining keys == T" must be
  // taken by position: when fewer than all of them are taken, find the position of the
  // t.remaining-th in position order (the cut).
  unsigned ties = 0;
  for (int i = tid; i < nc; i += kThreads) ties += keys[i] == t.key ? 1u : 0u;
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) ties += __shfl_xor_sync(kFull, ties, d);
  if (lane == 0 && ties > 0) atomicAdd(&sh.ties, ties);
  __syncthreads();
  if (static_cast<long long>(sh.ties) > t.remaining) {  // the same branch in every thread
    for (int i = tid; i < nc; i += kThreads)
      if (keys[i] == t.key) set_bit(bits, __ldcg(cp + i));
    __syncthreads();
    unsigned long long mine = 0;
    const unsigned long long before = bits_before<kThreads>(bits, words, per, mine, sh.order);
    const auto want = static_cast<unsigned long long>(t.remaining);
    if (before < want && want <= before + mine) {  // exactly one thread holds the want-th bit
      unsigned long long acc = before;
      for (int w = tid * per;; ++w) {
        const auto c = static_cast<unsigned long long>(__popc(bits[w]));
        if (acc + c >= want) {
          sh.cut = nth_bit(bits[w], w, want - acc);
          break;
        }
        acc += c;
      }
    }
    __syncthreads();  // the cut is known, the scan storage free
    for (int w = tid; w < words; w += kThreads) bits[w] = 0;
    __syncthreads();
  }
  const long long cut = sh.cut;
  for (int i = tid; i < nc; i += kThreads) {
    const std::uint32_t key = keys[i];
    if (key > t.key || key == t.key) {
      const std::int32_t pos = __ldcg(cp + i);
      if (key > t.key || pos <= cut) set_bit(bits, pos);
    }
  }
  __syncthreads();
  // Exactly n bits are set; each thread writes the positions of its words in order after
  // the bits of the words before them.
  unsigned long long mine = 0;
  auto o = static_cast<std::int64_t>(bits_before<kThreads>(bits, words, per, mine, sh.order));
  const int w0 = tid * per, w1 = min(words, w0 + per);
  for (int w = w0; w < w1; ++w)
    for (std::uint32_t b = bits[w]; b != 0; b &= b - 1) out[o++] = static_cast<std::int32_t>(32 * w + __ffs(static_cast<int>(b)) - 1);
  pad_from<kThreads>(n, r.k, out);
}

__global__ void __launch_bounds__(kSelectThreads, 2) topk_filter_select_kernel(Round r) {
  __shared__ SelectShared<kSelectThreads> sh;
  extern __shared__ std::uint32_t dyn[];
  const std::int64_t row = blockIdx.x;
  const std::int64_t end = r.ends[row];
  const std::int64_t n = end < r.k ? end : r.k;
  std::int32_t* out = r.indices + row * r.k;
  const TopkSamplePlan::Mode mode = topk_sample_plan(end, r.k).mode;
  if (mode == TopkSamplePlan::take_all) return write_all_positions<kSelectThreads>(n, r.k, out);
  select_row<kSelectThreads>(r, row, end, n, filtered(mode), out, dyn, sh);
}

// The fused form: the filter kernel's blocks, of which each row's last to finish
// selects. Blocks wholly past a row's end take no part (the row has ceil(end / slice)).
// Rows the filter does not take are the first block's alone.
__global__ void __launch_bounds__(kFilterThreads, 4) topk_filter_fused_kernel(Round r, std::int64_t slices) {
  __shared__ SelectShared<kFilterThreads> sh;
  __shared__ int last;
  extern __shared__ std::uint32_t dyn[];
  const std::int64_t row = blockIdx.x / slices;
  const std::int64_t s0 = blockIdx.x % slices * kTopkFilterSlice;
  const std::int64_t end = r.ends[row];
  const std::int64_t n = end < r.k ? end : r.k;
  std::int32_t* out = r.indices + row * r.k;
  const TopkSamplePlan::Mode mode = topk_sample_plan(end, r.k).mode;
  if (!filtered(mode)) {
    if (s0 != 0) return;
    if (mode == TopkSamplePlan::take_all) return write_all_positions<kFilterThreads>(n, r.k, out);
    return select_row<kFilterThreads>(r, row, end, n, false, out, dyn, sh);
  }
  if (s0 >= end) return;
  collect_slice(r, row, s0, end);
  // Release: every thread's candidate stores (and its share of the count) reach the
  // device before the block counts itself done; the last block's loads come after.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const auto blocks = static_cast<unsigned>(topk_filter_row_blocks(end));
    last = atomicAdd(&r.w.done[row], 1u) == blocks - 1 ? 1 : 0;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  select_row<kFilterThreads>(r, row, end, n, true, out, dyn, sh);
}

std::size_t select_smem_bytes(std::int64_t cols) {
  return sizeof(std::uint32_t) * (static_cast<std::size_t>(kCap) + static_cast<std::size_t>((cols + 31) / 32));
}

// The select kernel may use the shared memory of the longest rows it takes, allowed once
// per process (the harness runs on one device): the launcher runs inside the interval
// the CUDA events time, so no per-launch attribute call.
void allow_select_smem() {
  static const bool allowed = [] {
    const int most = static_cast<int>(select_smem_bytes(kTopkFilterMaxCols));
    DSA_CUDA_CHECK(cudaFuncSetAttribute(topk_filter_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, most));
    DSA_CUDA_CHECK(cudaFuncSetAttribute(topk_filter_fused_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, most));
    return true;
  }();
  (void)allowed;
}

}  // namespace

std::size_t topk_filter_workspace_bytes(std::int64_t rows) {
  return work_layout(std::clamp<std::int64_t>(rows, 1, kTopkFilterRowsPerRound)).bytes;
}

std::optional<std::string> topk_filter_unsupported(std::int64_t cols) {
  if (cols > kTopkFilterMaxCols)
    return "rows longer than " + std::to_string(kTopkFilterMaxCols) +
           " columns (the select kernel holds a bit per position of the row in shared memory)";
  return std::nullopt;
}

namespace {

// stages: 1 to 3 of the three kernels, or 0 for the fused form (bound, then filter and
// select in one kernel).
void launch_rounds(const TopkFilterLaunch& p, int stages, cudaStream_t stream, const char* who) {
  if (auto why = topk_filter_unsupported(p.cols)) throw CudaError(std::string(who) + ": " + *why);
  if (p.rows == 0) return;
  if (p.workspace == nullptr) throw CudaError(std::string(who) + ": the workspace must be given");
  const std::int64_t slices = std::max<std::int64_t>(1, (p.cols + kTopkFilterSlice - 1) / kTopkFilterSlice);
  const std::size_t smem = select_smem_bytes(p.cols);
  allow_select_smem();
  const Work w = work_of(p.workspace, std::min(p.rows, kTopkFilterRowsPerRound));
  for (std::int64_t r0 = 0; r0 < p.rows; r0 += kTopkFilterRowsPerRound) {
    const Round r{p.scores + r0 * p.cols, p.ends + r0, p.indices + r0 * p.k,
                  std::min(kTopkFilterRowsPerRound, p.rows - r0), p.cols, p.k, w};
    const auto blocks = static_cast<unsigned>(r.rows);
    topk_filter_bound_kernel<<<blocks, kBoundThreads, 0, stream>>>(r);
    DSA_CUDA_CHECK_LAUNCH();
    if (stages == 0) {
      topk_filter_fused_kernel<<<static_cast<unsigned>(r.rows * slices), kFilterThreads, smem, stream>>>(r, slices);
      DSA_CUDA_CHECK_LAUNCH();
      continue;
    }
    if (stages < 2) continue;
    topk_filter_collect_kernel<<<static_cast<unsigned>(r.rows * slices), kFilterThreads, 0, stream>>>(r, slices);
    DSA_CUDA_CHECK_LAUNCH();
    if (stages < 3) continue;
    topk_filter_select_kernel<<<blocks, kSelectThreads, smem, stream>>>(r);
    DSA_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void launch_topk_filter(const TopkFilterLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.filter");
  launch_rounds(p, 3, stream, "launch_topk_filter");
}

void launch_topk_filter_fused(const TopkFilterLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.filter_fused");
  launch_rounds(p, 0, stream, "launch_topk_filter_fused");
}

void launch_topk_filter_stages(const TopkFilterLaunch& p, int stages, cudaStream_t stream) {
  DSA_TRACE_RANGE("topk.filter.stages");
  launch_rounds(p, std::clamp(stages, 1, 3), stream, "launch_topk_filter_stages");
}

}  // namespace dsa::cuda
