// Tensor-core building blocks shared by the kernels (device code only).
//
// mma.sync fragments (PTX ISA, m16n8k16 for 16-bit and m16n8k32 for 8-bit types):
// lane = 4 * g + tq. A holds rows g and g + 8, B column g, C rows g / g + 8 at
// columns 2 * tq + {0, 1}. For both types one 32-byte step along k gives each lane
// the 4 bytes at offset 4 * tq (registers a0, a1, b0) and at 16 + 4 * tq (a2, a3,
// b1) of its rows, so a row-major A tile and a row-major [n][k] B tile (keys as
// rows) load with plain 32-bit shared-memory reads.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace dsa::cuda {

#define DSA_MINUS_INF __int_as_float(0xff800000)

__device__ __forceinline__ std::uint32_t ld32(const unsigned char* p) {
  return *reinterpret_cast<const std::uint32_t*>(p);
}

// C += A * B, fp32 accumulators; A 16 x 16 and B 16 x 8 in bf16.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
#if defined(DSA_SIMT)  // the CPU emulator (tests/simt/tensor_core.h)
  ::simt::mma_m16n8k16_bf16(c, a, b0, b1);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// C += A * B, fp32 accumulators; A 16 x 32 and B 32 x 8 in e4m3.
__device__ __forceinline__ void mma_e4m3(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
#if defined(DSA_SIMT)
  ::simt::mma_m16n8k32_e4m3(c, a, b0, b1);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// Four 8x8 bf16 matrices, transposed on the way in: lane L gives the row address of
// row L % 8 of matrix L / 8 and receives, per matrix i, elements [2 tq][g] and
// [2 tq + 1][g] in r[i]. For a value tile stored [key][dim] this is exactly the B
// fragment of P * V (B[k = key][n = dim]) without a transposed copy.
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* row_addr) {
#if defined(DSA_SIMT)
  ::simt::ldmatrix_x4_trans(r, row_addr);
#else
  const auto a = static_cast<std::uint32_t>(__cvta_generic_to_shared(row_addr));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
#endif
}

// Two floats as packed bf16 (round to nearest even), the low half first.
__device__ __forceinline__ std::uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

// The B fragments of P * V for two adjacent n8 tiles (dims d0 .. d0 + 15) and the
// 16 keys k0 .. k0 + 15 of a [key][dim] bf16 tile with `stride` bytes per row:
// b[0], b[1] for the tile at d0 and b[2], b[3] for the tile at d0 + 8.
__device__ __forceinline__ void load_v_fragments(std::uint32_t (&b)[4], const unsigned char* tile, int stride,
                                                 int k0, int d0, int lane) {
  const int m = lane >> 3, r = lane & 7;
  const unsigned char* p = tile + (k0 + (m & 1) * 8 + r) * stride + (d0 + (m >> 1) * 8) * 2;
  ldmatrix_x4_trans(b, p);
}

// Max and sum over the 4 lanes that hold one accumulator row (lanes 4 g .. 4 g + 3).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xFFFFFFFFu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xFFFFFFFFu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 1);
  return x + __shfl_xor_sync(0xFFFFFFFFu, x, 2);
}

// One step of the online softmax for a row: the running maximum m (log2 domain) meets
// this step's maximum mx and becomes the larger. `base` is what the step's exponents
// subtract, `alpha` rescales what was accumulated before. A row with no valid key yet
// keeps base 0 and alpha 1 (exp2 of -inf - -inf would be NaN).
struct OnlineStep {
  float base, alpha;
};
__device__ __forceinline__ OnlineStep online_step(float& m, float mx) {
  const float mn = fmaxf(m, mx);
  const OnlineStep s{mn == DSA_MINUS_INF ? 0.0f : mn, mn == DSA_MINUS_INF ? 1.0f : exp2f(m - mn)};
  m = mn;
  return s;
}

// 16 bytes global -> shared without passing through registers; src_bytes 0 writes zeros
// (and reads nothing).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
#if defined(DSA_SIMT)
  ::simt::cp_async16(dst, src, src_bytes);
#else
  const auto d = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
#endif
}
#if defined(DSA_SIMT)
__device__ __forceinline__ void cp_async_commit() { ::simt::cp_async_commit(); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { ::simt::cp_async_wait(N); }
#else
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }
#endif

}  // namespace dsa::cuda
