// Device pieces both MQA-mode kernels share (attention_mqa.cu with mma.sync,
// attention_mqa_wgmma.cu with warpgroup MMA): which keys a token sees, reading a key
// row as bf16 from either cache format, and the split-KV merge.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/mma.cuh"

namespace dsa::cuda {

// Bytes of one FP8 cache row (dsa-spec.md section 5): DV e4m3 codes, one fp32 scale per
// 128 of them, the rope part in bf16. 656 for the model.
template <int DQK, int DV>
inline constexpr int kFp8MlaRow = DV + 4 * (DV / 128) + 2 * (DQK - DV);

// Key slots of token t (its position in its sequence: t_seq): sparse, the K index
// slots; dense, the causal prefix.
__device__ __forceinline__ std::int64_t slots_of(const MqaLaunch& p, std::int64_t t_seq) {
  return p.indices ? p.topk : causal_end(t_seq, p.query_offset, p.keys);
}

// The keys this block attends over: token t's sequence in a decode batch (its cache rows
// start at kv_base), its key slots, and the block's share [b_first, b_end) of the
// slots' steps of kKeys (split y of p.splits).
struct MqaBlockKeys {
  std::int64_t kv_base, slots, b_first, b_end;
};
template <int kKeys>
__device__ __forceinline__ MqaBlockKeys mqa_block_keys(const MqaLaunch& p, std::int64_t t) {
  MqaBlockKeys r;
  const std::int64_t t_seq = p.seq_queries > 0 ? t % p.seq_queries : t;
  r.kv_base = p.seq_queries > 0 ? t / p.seq_queries * p.keys : 0;
  r.slots = slots_of(p, t_seq);
  const std::int64_t steps = (r.slots + kKeys - 1) / kKeys;
  const std::int64_t per = (steps + p.splits - 1) / p.splits;
  r.b_first = blockIdx.y * per;
  r.b_end = min(steps, r.b_first + per);
  return r;
}

// Chunk c (16 bytes of bf16) of key row `idx`, in two halves so a caller can issue the
// loads of several chunks before converting any (each load then waits in parallel):
// load_key_chunk reads what the chunk needs (bf16: its 16 bytes; FP8: 8 e4m3 codes and
// the scale of their 128-value tile, or 16 bytes of the bf16 rope part), and
// key_chunk_bf16 turns that into 8 bf16 values (e4m3 code x power-of-two scale is exact
// in bf16).
struct RawKeyChunk {
  uint4 bits;   // bf16 chunk, rope chunk, or the codes in .x / .y
  float scale;  // FP8 latent chunks
};

template <int DQK, int DV, bool kFp8>
__device__ __forceinline__ RawKeyChunk load_key_chunk(const void* kv, std::int64_t idx, int c) {
  if constexpr (!kFp8) {
    return {*reinterpret_cast<const uint4*>(static_cast<const unsigned char*>(kv) + idx * (DQK * 2) + c * 16), 0.0f};
  } else {
    const unsigned char* row = static_cast<const unsigned char*>(kv) + idx * kFp8MlaRow<DQK, DV>;
    if (c >= DV / 8) return {*reinterpret_cast<const uint4*>(row + DV + 4 * (DV / 128) + (c - DV / 8) * 16), 0.0f};
    const uint2 codes = *reinterpret_cast<const uint2*>(row + c * 8);
    return {make_uint4(codes.x, codes.y, 0, 0), *reinterpret_cast<const float*>(row + DV + 4 * (c * 8 / 128))};
  }
}

template <int DQK, int DV, bool kFp8>
__device__ __forceinline__ uint4 key_chunk_bf16(const RawKeyChunk& raw, int c) {
  if (!kFp8 || c >= DV / 8) return raw.bits;
  std::uint32_t out[4];
  const std::uint32_t words[2] = {raw.bits.x, raw.bits.y};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const auto pair = static_cast<__nv_fp8x2_storage_t>(words[i / 2] >> (16 * (i % 2)));
    const __half2 h(__nv_cvt_fp8x2_to_halfraw2(pair, __NV_E4M3));
    const float2 f = __half22float2(h);
    out[i] = pack_bf16x2(f.x * raw.scale, f.y * raw.scale);
  }
  return make_uint4(out[0], out[1], out[2], out[3]);
}

template <int DQK, int DV, bool kFp8>
__device__ __forceinline__ uint4 key_chunk(const void* kv, std::int64_t idx, int c) {
  return key_chunk_bf16<DQK, DV, kFp8>(load_key_chunk<DQK, DV, kFp8>(kv, idx, c), c);
}

// Merge the splits of one (token, head): weights exp(lse_i - max), fixed order. The
// splits are read 8 at a time, every load of a batch issued before any is used, with no
// branch on the weight (an empty split wrote zeros and lse -inf, so it adds exactly 0;
// past the last split, zeros with weight 0 too). Until 2026-11-23 the loop skipped
// empty splits and so read one split after another: an estimated 0.5 us (two L2 round
// trips) per split, about 30 us of a 66-split dense decode at 64K (85 us in all on the
// H100); not yet measured.
template <int DV>
__global__ void __launch_bounds__(128) mqa_combine(MqaLaunch p) {
  constexpr int kBatch = 8, kPer = DV / 128;
  const std::int64_t th = blockIdx.x, rows = p.queries * p.heads;
  const float* part_lse = p.workspace + static_cast<std::int64_t>(p.splits) * rows * DV;
  const auto lse_of = [&](int i) { return i < p.splits ? part_lse[i * rows + th] : DSA_MINUS_INF; };
  float mx = DSA_MINUS_INF;
  for (int i0 = 0; i0 < p.splits; i0 += kBatch) {
    float l[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) l[b] = lse_of(i0 + b);
#pragma unroll
    for (int b = 0; b < kBatch; ++b) mx = fmaxf(mx, l[b]);
  }
  float o[kPer] = {};
  float wsum = 0.0f;
  if (mx != DSA_MINUS_INF) {
    for (int i0 = 0; i0 < p.splits; i0 += kBatch) {
      float l[kBatch], v[kBatch][kPer];
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const int i = i0 + b;
        l[b] = lse_of(i);
        const float* src = p.workspace + (i * rows + th) * DV;
#pragma unroll
        for (int j = 0; j < kPer; ++j) v[b][j] = i < p.splits ? src[threadIdx.x + 128 * j] : 0.0f;
      }
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const float w = expf(l[b] - mx);  // 0 for an empty split or one past the last
        wsum += w;
#pragma unroll
        for (int j = 0; j < kPer; ++j) o[j] += w * v[b][j];
      }
    }
  }
  const float inv = wsum > 0.0f ? 1.0f / wsum : 0.0f;
#pragma unroll
  for (int j = 0; j < kPer; ++j) {
    const __nv_bfloat16 bits = __float2bfloat16_rn(o[j] * inv);
    p.out[th * DV + threadIdx.x + 128 * j] = *reinterpret_cast<const std::uint16_t*>(&bits);
  }
  if (threadIdx.x == 0) p.lse[th] = wsum > 0.0f ? mx + logf(wsum) : DSA_MINUS_INF;
}

}  // namespace dsa::cuda
