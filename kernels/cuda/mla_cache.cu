// The FP8 latent-cache writer (dsa-spec.md section 5): one warp per row. Each
// 128-value tile gets the power-of-two scale of core/quant.h, computed exactly as the
// CPU does (fp32 amax / 448, ceil(log2) through frexp), and codes rounded to nearest
// even with saturation, so the bytes equal pack_fp8_mla_row's.
#include "kernels/cuda/attention.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "core/trace.h"
#include "kernels/cuda/cuda_check.h"

namespace dsa::cuda {

namespace {

constexpr int kTile = 128;
constexpr int kRowsPerBlock = 8;

__device__ __forceinline__ float ue8m0_scale(float amax) {
  const float v = fmaxf(amax, 1e-4f) / 448.0f;
  int e = 0;
  const float f = frexpf(v, &e);
  return ldexpf(1.0f, f == 0.5f ? e - 1 : e);
}

__global__ void __launch_bounds__(32 * kRowsPerBlock) pack_fp8_mla_kernel(const float* rows, std::int64_t n,
                                                                          int kv_rank, int rope, std::uint8_t* out) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (r >= n) return;
  const int lane = threadIdx.x & 31, tiles = kv_rank / kTile;
  const float* src = rows + r * (kv_rank + rope);
  std::uint8_t* dst = out + r * (kv_rank + 4 * tiles + 2 * rope);
  for (int tile = 0; tile < tiles; ++tile) {
    float amax = 0.0f;
    for (int i = lane; i < kTile; i += 32) amax = fmaxf(amax, fabsf(src[tile * kTile + i]));
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
    const float s = ue8m0_scale(amax);
    for (int i = lane; i < kTile; i += 32) {
      const float v = fminf(fmaxf(src[tile * kTile + i] / s, -448.0f), 448.0f);
      dst[tile * kTile + i] = __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
    }
    if (lane == 0) reinterpret_cast<float*>(dst + kv_rank)[tile] = s;
  }
  for (int i = lane; i < rope; i += 32) {
    const __nv_bfloat16 b = __float2bfloat16_rn(src[kv_rank + i]);
    reinterpret_cast<std::uint16_t*>(dst + kv_rank + 4 * tiles)[i] = *reinterpret_cast<const std::uint16_t*>(&b);
  }
}

}  // namespace

void launch_pack_fp8_mla(const float* rows, std::int64_t n, int kv_rank, int rope, std::uint8_t* out, cudaStream_t stream) {
  DSA_TRACE_RANGE("pack_fp8_mla");
  if (kv_rank <= 0 || kv_rank % kTile != 0 || rope < 0 || rope % 2 != 0)
    throw CudaError("launch_pack_fp8_mla: kv_rank must be a positive multiple of 128 and rope even");
  if (n == 0) return;
  const std::int64_t blocks = (n + kRowsPerBlock - 1) / kRowsPerBlock;
  pack_fp8_mla_kernel<<<static_cast<unsigned>(blocks), 32 * kRowsPerBlock, 0, stream>>>(rows, n, kv_rank, rope, out);
  DSA_CUDA_CHECK_LAUNCH();
}

}  // namespace dsa::cuda
