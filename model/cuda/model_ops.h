// The small GPU ops of the model's forward (everything besides the matrix products and
// the attention kernels): norms, RoPE, activations, conversions, the indexer's
// Hadamard + FP8 quantisation, cache writes and MoE gathers. Each mirrors the CPU
// forward's arithmetic (model/forward.cpp) so the two can be compared.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dsa::model::cuda_ops {

// y[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w, rows of d; row r of x starts at
// r * in_stride, of y at r * out_stride (x and y may alias with equal strides).
void rms_norm(const float* x, float* y, std::int64_t rows, int d, int in_stride, int out_stride, const float* w, float eps,
              cudaStream_t s);
// The indexer's key norm: (x - mean) * rsqrt(var + 1e-6) * w + b, rows of d, in place.
void layer_norm(float* x, std::int64_t rows, int d, const float* w, const float* b, cudaStream_t s);
// RoPE on `vecs` vectors per token of n tokens at positions p0 + token: vector v of
// token r starts at x + (r * vecs + v) * stride + offset and d dims are rotated, as
// pairs (2i, 2i + 1) (interleaved) or (i, i + d/2) (half-split); freqs [d/2] fp64.
void rope(float* x, std::int64_t n, int vecs, int stride, int offset, int d, std::int64_t p0, const double* freqs,
          bool interleaved, cudaStream_t s);
// fp32 -> bf16 bits, n values; rows of `cols` read with a stride of `src_stride` and
// written with `dst_stride` (both in elements).
void to_bf16(const float* x, std::uint16_t* y, std::int64_t rows, int cols, int src_stride, int dst_stride, cudaStream_t s);
// g = silu(g) * u, n values.
void swiglu(float* g, const float* u, std::int64_t n, cudaStream_t s);
// x += y, n values.
void add(float* x, const float* y, std::int64_t n, cudaStream_t s);
// x *= a, n values.
void scale(float* x, float a, std::int64_t n, cudaStream_t s);
// ends[i] = min(keys, offset + i + 1), i < n: the causal key ends of n queries at
// positions offset, offset + 1, ... (what top-k reads), made on the device so a layer
// needs no host copy and no wait for it.
void causal_ends(std::int64_t* ends, std::int64_t n, std::int64_t offset, std::int64_t keys, cudaStream_t s);
// Hadamard rotation (scale 1/sqrt(d), fp64 inside) then FP8 e4m3 with one power-of-two
// scale per row: rows [n, d] fp32 -> codes [n, d], scales [n]. d a power of two <= 1024.
void hadamard_fp8(const float* x, std::int64_t rows, int d, std::uint8_t* codes, float* scales, cudaStream_t s);
// The absorbed MQA query as bf16 [n, H, rank + rope]: the rank part from `latent_q`
// [n, H, rank] fp32, the rope part from q [n, H, nope + rope] fp32.
void assemble_absorbed(const float* latent_q, const float* q, std::uint16_t* out, std::int64_t n, int heads, int rank,
                       int nope, int rope, cudaStream_t s);
// MHA-mode K and V from the latent cache: kvb [S, H, nope + dv] bf16 (c_kv W_kvb^T),
// k_rope = latent rows' last `rope` values (bf16 [S, rank + rope]) ->
// k [S, H, nope + rope] and v [S, H, dv] in bf16.
void expand_kv(const std::uint16_t* kvb, const std::uint16_t* latent, std::uint16_t* k, std::uint16_t* v, std::int64_t S,
               int heads, int nope, int rope, int dv, int rank, cudaStream_t s);
// FP8 latent rows [S, row_bytes] -> bf16 rows [S, rank + rope] (for the dense prefill).
void unpack_fp8_latent(const std::uint8_t* rows, std::int64_t S, int rank, int rope, std::uint16_t* out, cudaStream_t s);
// out[i] = x[index[i]] rows of d (gather), and x[index[i]] += w[i] * y[i] (scatter-add,
// in the order given: one expert at a time, so the sums are deterministic).
void gather_rows(const float* x, const std::int32_t* index, std::int64_t m, int d, float* out, cudaStream_t s);
void scatter_add_rows(float* x, const std::int32_t* index, const float* w, const float* y, std::int64_t m, int d,
                      cudaStream_t s);

}  // namespace dsa::model::cuda_ops
