#include "model/cuda/model_ops.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "kernels/cuda/cuda_check.h"

namespace dsa::model::cuda_ops {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(std::int64_t n, int per_block = kThreads) {
  return static_cast<unsigned>((n + per_block - 1) / per_block);
}

__device__ __forceinline__ std::uint16_t bf16_bits(float v) {
  const __nv_bfloat16 b = __float2bfloat16_rn(v);
  return *reinterpret_cast<const std::uint16_t*>(&b);
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024) in fp64.
__device__ double block_sum(double v) {
  __shared__ double partial[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();  // `partial` may still be read from a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  double total = 0;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) total += partial[i];
  return total;
}

__global__ void rms_norm_kernel(const float* x, float* y, int d, int in_stride, int out_stride, const float* w,
                                float eps) {
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * in_stride;
  float* yr = y + static_cast<std::int64_t>(blockIdx.x) * out_stride;
  double ss = 0;
  for (int i = threadIdx.x; i < d; i += blockDim.x) ss += static_cast<double>(xr[i]) * xr[i];
  ss = block_sum(ss);
  const double inv = 1.0 / sqrt(ss / d + static_cast<double>(eps));
  for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] = static_cast<float>(xr[i] * inv * w[i]);
}

__global__ void layer_norm_kernel(float* x, int d, const float* w, const float* b) {
  float* xr = x + static_cast<std::int64_t>(blockIdx.x) * d;
  double s = 0;
  for (int i = threadIdx.x; i < d; i += blockDim.x) s += xr[i];
  const double mean = block_sum(s) / d;
  double v = 0;
  for (int i = threadIdx.x; i < d; i += blockDim.x) v += (xr[i] - mean) * (xr[i] - mean);
  const double inv = 1.0 / sqrt(block_sum(v) / d + 1e-6);
  for (int i = threadIdx.x; i < d; i += blockDim.x) xr[i] = static_cast<float>((xr[i] - mean) * inv * w[i] + b[i]);
}

__global__ void rope_kernel(float* x, std::int64_t n, int vecs, int stride, int offset, int d, std::int64_t p0,
                            const double* freqs, bool interleaved) {
  const int half = d / 2;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * vecs * half) return;
  const int pair = static_cast<int>(i % half);
  const std::int64_t vec = i / half, token = vec / vecs;
  float* v = x + vec * stride + offset;
  float& a = v[interleaved ? 2 * pair : pair];
  float& b = v[interleaved ? 2 * pair + 1 : pair + half];
  const double angle = static_cast<double>(p0 + token) * freqs[pair];
  const double cs = cos(angle), sn = sin(angle), xa = a, xb = b;
  a = static_cast<float>(xa * cs - xb * sn);
  b = static_cast<float>(xa * sn + xb * cs);
}

__global__ void to_bf16_kernel(const float* x, std::uint16_t* y, std::int64_t rows, int cols, int ss, int ds) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const std::int64_t r = i / cols, c = i % cols;
  y[r * ds + c] = bf16_bits(x[r * ss + c]);
}

__global__ void swiglu_kernel(float* g, const float* u, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void add_kernel(float* x, const float* y, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void scale_kernel(float* x, float a, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}

__global__ void causal_ends_kernel(std::int64_t* ends, std::int64_t n, std::int64_t offset, std::int64_t keys) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) ends[i] = min(keys, offset + i + 1);
}

// One block of d threads per row: fp64 fast Walsh-Hadamard transform in shared
// memory, then the row's power-of-two scale (core/quant.h's rule) and e4m3 codes.
__global__ void hadamard_fp8_kernel(const float* x, int d, std::uint8_t* codes, float* scales) {
  extern __shared__ double v[];
  const std::int64_t r = blockIdx.x;
  const int i = threadIdx.x;
  v[i] = x[r * d + i];
  __syncthreads();
  for (int h = 1; h < d; h <<= 1) {
    double out = 0;
    if ((i & h) == 0) out = v[i] + v[i + h];
    else out = v[i - h] - v[i];
    __syncthreads();
    v[i] = out;
    __syncthreads();
  }
  const float rotated = static_cast<float>(v[i] * (1.0 / sqrt(static_cast<double>(d))));
  __syncthreads();
  // amax over the row, reusing the shared buffer.
  float* amax = reinterpret_cast<float*>(v);
  amax[i] = fabsf(rotated);
  __syncthreads();
  for (int h = d / 2; h > 0; h >>= 1) {
    if (i < h) amax[i] = fmaxf(amax[i], amax[i + h]);
    __syncthreads();
  }
  const float t = fmaxf(amax[0], 1e-4f) / 448.0f;
  int e = 0;
  const float f = frexpf(t, &e);
  const float s = ldexpf(1.0f, f == 0.5f ? e - 1 : e);
  codes[r * d + i] = __nv_cvt_float_to_fp8(fminf(fmaxf(rotated / s, -448.0f), 448.0f), __NV_SATFINITE, __NV_E4M3);
  if (i == 0) scales[r] = s;
}

__global__ void assemble_absorbed_kernel(const float* lq, const float* q, std::uint16_t* out, std::int64_t n, int H,
                                         int rank, int nope, int rope) {
  const int dl = rank + rope;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * H * dl) return;
  const std::int64_t th = i / dl;
  const int c = static_cast<int>(i % dl);
  const float v = c < rank ? lq[th * rank + c] : q[th * (nope + rope) + nope + (c - rank)];
  out[i] = bf16_bits(v);
}

__global__ void expand_kv_kernel(const std::uint16_t* kvb, const std::uint16_t* latent, std::uint16_t* k, std::uint16_t* v,
                                 std::int64_t S, int H, int nope, int rope, int dv, int rank) {
  const int dqk = nope + rope, w = dqk + dv;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= S * H * w) return;
  const std::int64_t sh = i / w, s = sh / H;
  const int c = static_cast<int>(i % w);
  const std::uint16_t* src = kvb + sh * (nope + dv);
  if (c < nope) k[sh * dqk + c] = src[c];
  else if (c < dqk) k[sh * dqk + c] = latent[s * (rank + rope) + rank + (c - nope)];
  else v[sh * dv + (c - dqk)] = src[nope + (c - dqk)];
}

__global__ void unpack_fp8_latent_kernel(const std::uint8_t* rows, std::int64_t S, int rank, int rope,
                                         std::uint16_t* out) {
  const int dl = rank + rope, row_bytes = rank + 4 * (rank / 128) + 2 * rope;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= S * dl) return;
  const std::int64_t s = i / dl;
  const int c = static_cast<int>(i % dl);
  const std::uint8_t* row = rows + s * row_bytes;
  if (c < rank) {
    const float scale = reinterpret_cast<const float*>(row + rank)[c / 128];
    const __half h(__nv_cvt_fp8_to_halfraw(row[c], __NV_E4M3));
    out[i] = bf16_bits(__half2float(h) * scale);
  } else {
    out[i] = reinterpret_cast<const std::uint16_t*>(row + rank + 4 * (rank / 128))[c - rank];
  }
}

__global__ void gather_rows_kernel(const float* x, const std::int32_t* index, std::int64_t m, int d, float* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < m * d) out[i] = x[static_cast<std::int64_t>(index[i / d]) * d + i % d];
}

__global__ void scatter_add_rows_kernel(float* x, const std::int32_t* index, const float* w, const float* y,
                                        std::int64_t m, int d) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < m * d) x[static_cast<std::int64_t>(index[i / d]) * d + i % d] += w[i / d] * y[i];
}

}  // namespace

#define DSA_LAUNCH(kernel, grid, block, smem, stream, ...)        \
  do {                                                            \
    if ((grid) > 0) kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__); \
    DSA_CUDA_CHECK_LAUNCH();                                      \
  } while (0)

void rms_norm(const float* x, float* y, std::int64_t rows, int d, int in_stride, int out_stride, const float* w, float eps,
              cudaStream_t s) {
  DSA_LAUNCH(rms_norm_kernel, static_cast<unsigned>(rows), kThreads, 0, s, x, y, d, in_stride, out_stride, w, eps);
}

void layer_norm(float* x, std::int64_t rows, int d, const float* w, const float* b, cudaStream_t s) {
  DSA_LAUNCH(layer_norm_kernel, static_cast<unsigned>(rows), 128, 0, s, x, d, w, b);
}

void rope(float* x, std::int64_t n, int vecs, int stride, int offset, int d, std::int64_t p0, const double* freqs,
          bool interleaved, cudaStream_t s) {
  DSA_LAUNCH(rope_kernel, blocks_for(n * vecs * (d / 2)), kThreads, 0, s, x, n, vecs, stride, offset, d, p0, freqs,
             interleaved);
}

void to_bf16(const float* x, std::uint16_t* y, std::int64_t rows, int cols, int src_stride, int dst_stride, cudaStream_t s) {
  DSA_LAUNCH(to_bf16_kernel, blocks_for(rows * cols), kThreads, 0, s, x, y, rows, cols, src_stride, dst_stride);
}

void swiglu(float* g, const float* u, std::int64_t n, cudaStream_t s) {
  DSA_LAUNCH(swiglu_kernel, blocks_for(n), kThreads, 0, s, g, u, n);
}

void add(float* x, const float* y, std::int64_t n, cudaStream_t s) { DSA_LAUNCH(add_kernel, blocks_for(n), kThreads, 0, s, x, y, n); }

void scale(float* x, float a, std::int64_t n, cudaStream_t s) { DSA_LAUNCH(scale_kernel, blocks_for(n), kThreads, 0, s, x, a, n); }

void causal_ends(std::int64_t* ends, std::int64_t n, std::int64_t offset, std::int64_t keys, cudaStream_t s) {
  DSA_LAUNCH(causal_ends_kernel, blocks_for(n), kThreads, 0, s, ends, n, offset, keys);
}

void hadamard_fp8(const float* x, std::int64_t rows, int d, std::uint8_t* codes, float* scales, cudaStream_t s) {
  if (d < 1 || d > 1024 || (d & (d - 1)) != 0) throw CudaError("hadamard_fp8: d must be a power of two <= 1024");
  DSA_LAUNCH(hadamard_fp8_kernel, static_cast<unsigned>(rows), d, sizeof(double) * d, s, x, d, codes, scales);
}

void assemble_absorbed(const float* latent_q, const float* q, std::uint16_t* out, std::int64_t n, int heads, int rank,
                       int nope, int rope, cudaStream_t s) {
  DSA_LAUNCH(assemble_absorbed_kernel, blocks_for(n * heads * (rank + rope)), kThreads, 0, s, latent_q, q, out, n, heads,
             rank, nope, rope);
}

void expand_kv(const std::uint16_t* kvb, const std::uint16_t* latent, std::uint16_t* k, std::uint16_t* v, std::int64_t S,
               int heads, int nope, int rope, int dv, int rank, cudaStream_t s) {
  DSA_LAUNCH(expand_kv_kernel, blocks_for(S * heads * (nope + rope + dv)), kThreads, 0, s, kvb, latent, k, v, S, heads,
             nope, rope, dv, rank);
}

void unpack_fp8_latent(const std::uint8_t* rows, std::int64_t S, int rank, int rope, std::uint16_t* out, cudaStream_t s) {
  DSA_LAUNCH(unpack_fp8_latent_kernel, blocks_for(S * (rank + rope)), kThreads, 0, s, rows, S, rank, rope, out);
}

void gather_rows(const float* x, const std::int32_t* index, std::int64_t m, int d, float* out, cudaStream_t s) {
  DSA_LAUNCH(gather_rows_kernel, blocks_for(m * d), kThreads, 0, s, x, index, m, d, out);
}

void scatter_add_rows(float* x, const std::int32_t* index, const float* w, const float* y, std::int64_t m, int d,
                      cudaStream_t s) {
  DSA_LAUNCH(scatter_add_rows_kernel, blocks_for(m * d), kThreads, 0, s, x, index, w, y, m, d);
}

}  // namespace dsa::model::cuda_ops
