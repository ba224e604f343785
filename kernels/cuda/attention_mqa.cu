// MQA-mode attention (sparse MLA, and the dense decode baseline): one block per
// (token, group of 64 heads, split of the keys). All heads of a token attend over the
// same keys, so a step gathers 64 key rows once into shared memory and every head of
// the group uses them; that is what makes MLA decode compute-dense.
//
// One step over 64 keys, 16 warps:
//   1. the step's key rows, by index (sparse) or position (dense), -> shared memory
//      as bf16 (FP8 rows are dequantised on the way: e4m3 code * power-of-two scale
//      is exact in bf16); invalid slots become zero rows, never read from the cache;
//   2. S = Q K^T on the tensor cores: warp w owns heads 16 (w % 4) .. + 15 and keys
//      16 (w / 4) .. + 15, over all d_qk; scaled by scale * log2(e), -inf where invalid;
//   3. online softmax per head row (8 threads per row): running max and sum in fp32,
//      P in bf16, and the factor that rescales earlier accumulators;
//   4. O += P V on the tensor cores: warp w owns heads 16 (w % 4) .. and value columns
//      d_v / 4 * (w / 4) ..; V fragments come straight from the key rows (value = the
//      first d_v entries) through ldmatrix.trans.
// With split-KV, each block writes its normalised partial output and log-sum-exp to
// the workspace and mqa_combine merges them; otherwise the block writes the result.
#include "kernels/cuda/attention.h"

#include <cuda_fp8.h>

#include <algorithm>

#include "core/trace.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/attention_mqa_common.cuh"
#include "kernels/cuda/mma.cuh"

namespace dsa::cuda {

namespace {

constexpr int kHeadsPerBlock = 64;  // four m16 tiles
constexpr int kKeys = 64;           // keys per step
constexpr int kWarps = 16;
constexpr int kThreads = kWarps * 32;
constexpr int kRowPad = 16;          // bytes: rows 4 banks apart -> conflict-free fragment loads
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int kMinKeyBlocksPerSplit = 2;  // a split also loads Q: keep that cost amortised
constexpr int kFp8LoadBatch = 3;          // FP8 key chunks loaded before any is converted

template <int DQK, int DV>
struct MqaLayout {
  static_assert(DV % 128 == 0 && DQK > DV && (DQK - DV) % 8 == 0, "MQA layout");
  static constexpr int kRow = DQK * 2 + kRowPad;       // bytes per q or key row
  static constexpr int kChunks = DQK * 2 / 16;         // 16-byte chunks per bf16 row
  static constexpr int kSStride = kKeys + 4;           // floats per score row
  static constexpr int kPStride = kKeys * 2 + 16;      // bytes per probability row (bf16)
  static constexpr int kTiles = DV / 4 / 8;            // n8 tiles of output per warp
  static constexpr int kFp8Row = kFp8MlaRow<DQK, DV>;
  static constexpr std::size_t q_off = 0;
  static constexpr std::size_t k_off = q_off + static_cast<std::size_t>(kHeadsPerBlock) * kRow;
  static constexpr std::size_t s_off = k_off + static_cast<std::size_t>(kKeys) * kRow;
  static constexpr std::size_t p_off = s_off + sizeof(float) * kHeadsPerBlock * kSStride;
  static constexpr std::size_t stat_off = p_off + static_cast<std::size_t>(kHeadsPerBlock) * kPStride;
  static constexpr std::size_t idx_off = stat_off + sizeof(float) * 3 * kHeadsPerBlock;
  static constexpr std::size_t bytes = idx_off + sizeof(int) * kKeys;
  static_assert(kFp8Row % 4 == 0, "FP8 rows keep their fp32 scales aligned");
};

template <int DQK, int DV, bool kFp8, bool kSparse>
__global__ void __launch_bounds__(kThreads, 1) mqa_kernel(MqaLaunch p) {
  using L = MqaLayout<DQK, DV>;
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char* qs = smem + L::q_off;
  unsigned char* ks = smem + L::k_off;
  float* ss = reinterpret_cast<float*>(smem + L::s_off);
  unsigned char* ps = smem + L::p_off;
  float* m_run = reinterpret_cast<float*>(smem + L::stat_off);
  float* l_run = m_run + kHeadsPerBlock;
  float* alpha = l_run + kHeadsPerBlock;
  int* idx = reinterpret_cast<int*>(smem + L::idx_off);

  // Heads come in groups of 64; in a last, partial group the missing heads are zero
  // query rows whose results are never written.
  const int groups = (p.heads + kHeadsPerBlock - 1) / kHeadsPerBlock;
  const std::int64_t t = blockIdx.x / groups;
  const int h0 = static_cast<int>(blockIdx.x % groups) * kHeadsPerBlock;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, tq = lane & 3;
  const int mt = warp & 3, part = warp >> 2;

  const MqaBlockKeys range = mqa_block_keys<kKeys>(p, t);
  const std::int64_t kv_base = range.kv_base, slots = range.slots, b_first = range.b_first, b_end = range.b_end;

  const auto* qg = reinterpret_cast<const unsigned char*>(p.q) + (t * p.heads + h0) * (DQK * 2);
  for (int i = tid; i < kHeadsPerBlock * L::kChunks; i += kThreads) {  // waited for with the first keys
    const int r = i / L::kChunks, c = i % L::kChunks;
    const bool live = h0 + r < p.heads;
    cp_async16(qs + r * L::kRow + c * 16, qg + (live ? r : 0) * (DQK * 2) + c * 16, live ? 16 : 0);
  }
  if (tid < kHeadsPerBlock) {
    m_run[tid] = DSA_MINUS_INF;
    l_run[tid] = 0.0f;
  }
  float acc[L::kTiles][4];
#pragma unroll
  for (int n = 0; n < L::kTiles; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
  const float sl2 = p.scale * kLog2e;

  for (std::int64_t blk = b_first; blk < b_end; ++blk) {
    __syncthreads();  // the previous step is done with idx, ks and ps
    if (tid < kKeys) {
      const std::int64_t slot = blk * kKeys + tid;
      int s = -1;
      if constexpr (kSparse) {
        if (slot < p.topk) {
          const std::int32_t v = p.indices[t * p.topk + slot];
          if (v >= 0 && v < p.keys) s = v;
        }
      } else {
        if (slot < slots) s = static_cast<int>(slot);
      }
      idx[tid] = s;
    }
    __syncthreads();
    if constexpr (!kFp8) {
      // cp.async: all of a thread's chunks in flight at once (a load-then-store loop waits
      // out the memory latency once per chunk); invalid slots zero-filled without a read.
      const auto* kv = static_cast<const unsigned char*>(p.kv);
      for (int i = tid; i < kKeys * L::kChunks; i += kThreads) {
        const int r = i / L::kChunks, c = i % L::kChunks, s = idx[r];
        cp_async16(ks + r * L::kRow + c * 16, kv + (kv_base + (s >= 0 ? s : 0)) * (DQK * 2) + c * 16, s >= 0 ? 16 : 0);
      }
    } else {
      // FP8 rows are dequantised on the way, a batch of loads at a time, then their
      // conversions (all 9 chunks at once spilled at the 128-register bound).
      constexpr int kBatch = kFp8LoadBatch;
      for (int i0 = tid; i0 < kKeys * L::kChunks; i0 += kBatch * kThreads) {
        RawKeyChunk raw[kBatch];
#pragma unroll
        for (int j = 0; j < kBatch; ++j) {
          const int i = i0 + j * kThreads, r = i / L::kChunks, c = i % L::kChunks;
          raw[j] = {make_uint4(0, 0, 0, 0), 0.0f};  // an invalid slot: a zero row
          if (i < kKeys * L::kChunks && idx[r] >= 0) raw[j] = load_key_chunk<DQK, DV, kFp8>(p.kv, kv_base + idx[r], c);
        }
#pragma unroll
        for (int j = 0; j < kBatch; ++j) {
          const int i = i0 + j * kThreads, r = i / L::kChunks, c = i % L::kChunks;
          if (i < kKeys * L::kChunks)
            *reinterpret_cast<uint4*>(ks + r * L::kRow + c * 16) = key_chunk_bf16<DQK, DV, kFp8>(raw[j], c);
        }
      }
    }
    cp_async_commit();
    cp_async_wait<0>();  // this step's key rows (bf16) and, on the first step, Q
    __syncthreads();

    {  // 2. scores of 16 heads x 16 keys per warp
      float c[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
      const unsigned char* a_lo = qs + (mt * 16 + g) * L::kRow;
      const unsigned char* a_hi = a_lo + 8 * L::kRow;
      const int n0 = part * 16;
#pragma unroll 2
      for (int kb = 0; kb < DQK * 2; kb += 32) {
        const std::uint32_t a[4] = {ld32(a_lo + kb + 4 * tq), ld32(a_hi + kb + 4 * tq), ld32(a_lo + kb + 16 + 4 * tq),
                                    ld32(a_hi + kb + 16 + 4 * tq)};
#pragma unroll
        for (int n = 0; n < 2; ++n) {
          const unsigned char* b = ks + (n0 + 8 * n + g) * L::kRow + kb;
          mma_bf16(c[n], a, ld32(b + 4 * tq), ld32(b + 16 + 4 * tq));
        }
      }
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int col = n0 + 8 * n + 2 * tq + e;
          const bool valid = idx[col] >= 0;
          ss[(mt * 16 + g) * L::kSStride + col] = valid ? c[n][e] * sl2 : DSA_MINUS_INF;
          ss[(mt * 16 + g + 8) * L::kSStride + col] = valid ? c[n][2 + e] * sl2 : DSA_MINUS_INF;
        }
    }
    __syncthreads();

    {  // 3. online softmax: 8 threads per head row, 8 keys each
      const int r = tid >> 3, seg = tid & 7;
      const float m_old = m_run[r];
      float v[8], mx = DSA_MINUS_INF;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        v[i] = ss[r * L::kSStride + seg * 8 + i];
        mx = fmaxf(mx, v[i]);
      }
      mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 2));
      mx = fmaxf(mx, __shfl_xor_sync(0xFFFFFFFFu, mx, 4));
      float m_new = m_old;
      const OnlineStep step = online_step(m_new, mx);
      const float base = step.base, a = step.alpha;
      float sum = 0.0f;
      std::uint32_t packed[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float p0 = exp2f(v[2 * i] - base), p1 = exp2f(v[2 * i + 1] - base);
        sum += p0 + p1;
        packed[i] = pack_bf16x2(p0, p1);
      }
      *reinterpret_cast<uint4*>(ps + r * L::kPStride + seg * 16) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
      sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 1);
      sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 2);
      sum += __shfl_xor_sync(0xFFFFFFFFu, sum, 4);
      if (seg == 0) {
        m_run[r] = m_new;
        l_run[r] = l_run[r] * a + sum;
        alpha[r] = a;
      }
    }
    __syncthreads();

    {  // 4. O = alpha * O + P V for 16 heads x d_v / 4 columns per warp
      const float a_lo = alpha[mt * 16 + g], a_hi = alpha[mt * 16 + g + 8];
#pragma unroll
      for (int n = 0; n < L::kTiles; ++n) {
        acc[n][0] *= a_lo;
        acc[n][1] *= a_lo;
        acc[n][2] *= a_hi;
        acc[n][3] *= a_hi;
      }
      const int d0 = part * (DV / 4);
#pragma unroll
      for (int kk = 0; kk < kKeys; kk += 16) {
        const unsigned char* p_lo = ps + (mt * 16 + g) * L::kPStride + kk * 2;
        const unsigned char* p_hi = p_lo + 8 * L::kPStride;
        const std::uint32_t a[4] = {ld32(p_lo + 4 * tq), ld32(p_hi + 4 * tq), ld32(p_lo + 16 + 4 * tq),
                                    ld32(p_hi + 16 + 4 * tq)};
#pragma unroll
        for (int n = 0; n < L::kTiles; n += 2) {
          std::uint32_t b[4];
          load_v_fragments(b, ks, L::kRow, kk, d0 + 8 * n, lane);
          mma_bf16(acc[n], a, b[0], b[1]);
          mma_bf16(acc[n + 1], a, b[2], b[3]);
        }
      }
    }
  }
  cp_async_wait<0>();  // a split without keys never waited for its Q copies
  __syncthreads();

  // Normalise and write: the final result, or this split's partial.
  const int r_lo = mt * 16 + g, r_hi = r_lo + 8;
  const float l_lo = l_run[r_lo], l_hi = l_run[r_hi];
  const float inv_lo = l_lo > 0.0f ? 1.0f / l_lo : 0.0f, inv_hi = l_hi > 0.0f ? 1.0f / l_hi : 0.0f;
  const int d0 = part * (DV / 4);
  const std::int64_t row_lo = t * p.heads + h0 + r_lo, row_hi = row_lo + 8;
  const int live = min(kHeadsPerBlock, p.heads - h0);  // heads of this group that exist
  const bool live_lo = r_lo < live, live_hi = r_hi < live;
  if (p.splits == 1) {
#pragma unroll
    for (int n = 0; n < L::kTiles; ++n) {
      const int d = d0 + 8 * n + 2 * tq;
      if (live_lo)
        *reinterpret_cast<std::uint32_t*>(p.out + row_lo * DV + d) = pack_bf16x2(acc[n][0] * inv_lo, acc[n][1] * inv_lo);
      if (live_hi)
        *reinterpret_cast<std::uint32_t*>(p.out + row_hi * DV + d) = pack_bf16x2(acc[n][2] * inv_hi, acc[n][3] * inv_hi);
    }
  } else {
    float* part_out = p.workspace + static_cast<std::int64_t>(blockIdx.y) * p.queries * p.heads * DV;
#pragma unroll
    for (int n = 0; n < L::kTiles; ++n) {
      const int d = d0 + 8 * n + 2 * tq;
      if (live_lo)
        *reinterpret_cast<float2*>(part_out + row_lo * DV + d) = make_float2(acc[n][0] * inv_lo, acc[n][1] * inv_lo);
      if (live_hi)
        *reinterpret_cast<float2*>(part_out + row_hi * DV + d) = make_float2(acc[n][2] * inv_hi, acc[n][3] * inv_hi);
    }
  }
  if (tid < live) {
    const float l = l_run[tid];
    const float lse = l > 0.0f ? (m_run[tid] + log2f(l)) * kLn2 : DSA_MINUS_INF;
    if (p.splits == 1) {
      p.lse[t * p.heads + h0 + tid] = lse;
    } else {
      float* part_lse = p.workspace + static_cast<std::int64_t>(p.splits) * p.queries * p.heads * DV;
      part_lse[static_cast<std::int64_t>(blockIdx.y) * p.queries * p.heads + t * p.heads + h0 + tid] = lse;
    }
  }
}

int head_groups(int heads) { return (heads + kHeadsPerBlock - 1) / kHeadsPerBlock; }

template <int DQK, int DV, bool kFp8, bool kSparse>
void launch_typed(const MqaLaunch& p, cudaStream_t stream) {
  using L = MqaLayout<DQK, DV>;
  auto* kernel = mqa_kernel<DQK, DV, kFp8, kSparse>;
  DSA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(L::bytes)));
  const dim3 grid(static_cast<unsigned>(p.queries * head_groups(p.heads)), static_cast<unsigned>(p.splits));
  kernel<<<grid, kThreads, L::bytes, stream>>>(p);
  DSA_CUDA_CHECK_LAUNCH();
  if (p.splits > 1) {
    mqa_combine<DV><<<static_cast<unsigned>(p.queries * p.heads), 128, 0, stream>>>(p);
    DSA_CUDA_CHECK_LAUNCH();
  }
}

std::int64_t max_key_blocks(const MqaLaunch& p) {
  const std::int64_t per_seq = p.seq_queries > 0 ? p.seq_queries : p.queries;
  const std::int64_t slots = p.indices ? p.topk : std::clamp<std::int64_t>(p.query_offset + per_seq, 0, p.keys);
  return (slots + kKeys - 1) / kKeys;
}

}  // namespace

std::optional<std::string> mqa_unsupported(int heads, int d_qk, int d_v, std::int64_t topk, bool sparse, bool fp8_cache) {
  if (heads <= 0) return "heads must be positive (got " + std::to_string(heads) + ")";
  const bool real = d_qk == 576 && d_v == 512, tiny = d_qk == 144 && d_v == 128;
  if (!real && !tiny)
    return "built for d_qk / d_v 576 / 512 (the model) and 144 / 128 (dsa-tiny), not " + std::to_string(d_qk) + " / " +
           std::to_string(d_v);
  if (fp8_cache && !real) return "the FP8 cache rows are read for d_qk 576 / d_v 512 only (16-byte aligned rows)";
  if (sparse && topk <= 0) return "top-k must be positive";
  return std::nullopt;
}

std::optional<std::string> mqa_launch_problem(const MqaLaunch& p) {
  if (!(p.scale > 0.0f)) return "softmax scale must be set (> 0)";
  if (p.splits < 1 || p.splits > 65535) return "splits must be in [1, 65535]";
  if (p.splits > 1 && !p.workspace) return "split-KV needs the workspace";
  if (p.queries * head_groups(p.heads) > 0x7FFFFFFFll) return "too many tokens for grid.x";
  if (p.seq_queries < 0 || (p.seq_queries > 0 && p.queries % p.seq_queries != 0))
    return "queries must be a whole number of sequences of seq_queries";
  return std::nullopt;
}

int mqa_choose_splits(const MqaLaunch& p, int sm_count) {
  const std::int64_t base = p.queries * head_groups(p.heads);
  if (base <= 0 || base >= sm_count) return 1;
  const std::int64_t want = (sm_count + base - 1) / base;
  const std::int64_t most = std::max<std::int64_t>(1, max_key_blocks(p) / kMinKeyBlocksPerSplit);
  return static_cast<int>(std::clamp<std::int64_t>(want, 1, std::min<std::int64_t>(most, 65535)));
}

std::size_t mqa_workspace_floats(const MqaLaunch& p) {
  if (p.splits <= 1) return 0;
  return static_cast<std::size_t>(p.splits) * static_cast<std::size_t>(p.queries * p.heads) *
         static_cast<std::size_t>(p.d_v + 1);
}

void launch_mqa(const MqaLaunch& p, cudaStream_t stream) {
  DSA_TRACE_RANGE(p.indices ? (p.fp8_cache ? "sparse_mqa.fp8" : "sparse_mqa.bf16")
                            : (p.fp8_cache ? "dense_mqa.fp8" : "dense_mqa.bf16"));
  if (auto why = mqa_unsupported(p.heads, p.d_qk, p.d_v, p.topk, p.indices != nullptr, p.fp8_cache))
    throw CudaError("launch_mqa: " + *why);
  if (auto why = mqa_launch_problem(p)) throw CudaError("launch_mqa: " + *why);
  if (p.queries == 0) return;
  if (p.d_qk == 144) {  // dsa-tiny's shapes (bf16 cache only)
    if (p.indices) launch_typed<144, 128, false, true>(p, stream);
    else launch_typed<144, 128, false, false>(p, stream);
  } else if (p.indices) {
    if (p.fp8_cache) launch_typed<576, 512, true, true>(p, stream);
    else launch_typed<576, 512, false, true>(p, stream);
  } else {
    if (p.fp8_cache) launch_typed<576, 512, true, false>(p, stream);
    else launch_typed<576, 512, false, false>(p, stream);
  }
}

}  // namespace dsa::cuda
