// Hopper warpgroup MMA (wgmma, sm_90a) building blocks shared by the wgmma kernels
// (indexer_wgmma.cu, attention_mqa_wgmma.cu). Device code only.
//
// Shared-memory operands are described by a 64-bit descriptor (PTX ISA, "matrix
// descriptor"): start address >> 4 in bits 0-13, leading byte offset >> 4 in 16-29,
// stride byte offset >> 4 in 32-45, swizzle mode in 62-63 (1 = 128-byte swizzle).
// Every tile here uses the 128-byte swizzle: rows of 128 bytes, the 16-byte chunk c of
// row r stored at chunk c ^ (r % 8), groups of 8 rows 1024 bytes apart, tiles 1024-byte
// aligned. For a K-major operand (rows = M or N, 128 bytes of K per row) the stride
// offset is the 1024 bytes between 8-row groups and the leading offset is unused; one
// 32-byte step along K moves the start address by 32 bytes. For an MN-major operand
// (rows = K, 128 bytes = 64 bf16 of N per row; the value tile read "transposed") the
// stride offset is the 1024 bytes between groups of 8 K-rows and the leading offset is
// the distance between blocks of 64 N-columns.
//
// Accumulators (m64nNk*): thread lane = 4 g + tq of warp w in the warpgroup holds rows
// 16 w + g (d[4 j], d[4 j + 1]) and 16 w + g + 8 (d[4 j + 2], d[4 j + 3]) at columns
// 8 j + 2 tq + {0, 1}: the mma.sync fragment shape, repeated along N.
#pragma once

#include <cstdint>

namespace dsa::cuda {

__device__ __forceinline__ std::uint64_t wgmma_desc_sw128(const void* smem, std::uint32_t leading_bytes,
                                                          std::uint32_t stride_bytes) {
  const auto a = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem));
  return static_cast<std::uint64_t>((a & 0x3FFFF) >> 4) | (static_cast<std::uint64_t>((leading_bytes >> 4) & 0x3FFF) << 16) |
         (static_cast<std::uint64_t>((stride_bytes >> 4) & 0x3FFF) << 32) | (std::uint64_t{1} << 62);
}

// The first 1024-byte-aligned address of a dynamic shared-memory buffer (the 128-byte
// swizzle repeats every 1024 bytes, so swizzled tiles start on such a boundary; the
// kernels ask for 1 KB of slack).
__device__ __forceinline__ unsigned char* smem_aligned_1024(unsigned char* smem_raw) {
  const auto raw = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  return smem_raw + ((1024 - (raw & 1023)) & 1023);
}

// Byte offset of 16-byte chunk c of row r in a 128-byte-swizzled tile.
__device__ __forceinline__ int sw128_offset(int r, int c) { return r * 128 + ((c ^ (r & 7)) << 4); }

// Orders this thread's plain shared-memory stores before the tensor cores' reads
// (which go through the async proxy); then a barrier makes them everyone's.
#if defined(DSA_SIMT)  // the CPU emulator (tests/simt/tensor_core.h), which checks each is where it must be
__device__ __forceinline__ void fence_proxy_async() { ::simt::proxy_fence(); }
__device__ __forceinline__ void wgmma_fence() { ::simt::wgmma_fence(); }
__device__ __forceinline__ void wgmma_commit() { ::simt::wgmma_commit(); }
__device__ __forceinline__ void wgmma_wait_all() { ::simt::wgmma_wait(0); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { ::simt::wgmma_wait(N); }
template <int N>
__device__ __forceinline__ void fence_operands(float (&)[N]) {}
#else
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Waits until at most N of this warpgroup's committed groups are still running.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Keeps the compiler from moving accumulator reads or writes across an asynchronous
// MMA: each register becomes an operand of an empty volatile asm at this point.
template <int N>
__device__ __forceinline__ void fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
#endif

// Multiplies accumulator rows 16 w + g by `lo` and 16 w + g + 8 by `hi` (online
// softmax's rescaling of the output when the running maximum grows).
template <int N>
__device__ __forceinline__ void scale_accumulator_rows(float (&d)[N], float lo, float hi) {
#pragma unroll
  for (int j = 0; j < N / 4; ++j) {
    d[4 * j] *= lo;
    d[4 * j + 1] *= lo;
    d[4 * j + 2] *= hi;
    d[4 * j + 3] *= hi;
  }
}

// Eight accumulator registers d[b .. b + 7] as read-write asm operands.
#define DSA_WGMMA_D8(b)                                                                                   \
  "+f"(d[(b)]), "+f"(d[(b) + 1]), "+f"(d[(b) + 2]), "+f"(d[(b) + 3]), "+f"(d[(b) + 4]), "+f"(d[(b) + 5]), \
      "+f"(d[(b) + 6]), "+f"(d[(b) + 7])

// D (64 x 128, fp32) = (accumulate ? D : 0) + A (64 x 32, e4m3) * B (32 x 128, e4m3),
// both K-major in shared memory.
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], std::uint64_t desc_a, std::uint64_t desc_b, int accumulate) {
#if defined(DSA_SIMT)
  ::simt::wgmma_issue(::simt::wgmma_m64n128k32_e4m3, d, desc_a, desc_b, nullptr, accumulate);
#else
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1;\n"
      "}\n"
      :
        DSA_WGMMA_D8(0), DSA_WGMMA_D8(8), DSA_WGMMA_D8(16), DSA_WGMMA_D8(24),
        DSA_WGMMA_D8(32), DSA_WGMMA_D8(40), DSA_WGMMA_D8(48), DSA_WGMMA_D8(56)
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#endif
}

// D (64 x 32, fp32) = (accumulate ? D : 0) + A (64 x 16, bf16) * B (16 x 32, bf16),
// both K-major in shared memory.
__device__ __forceinline__ void wgmma_m64n32k16_bf16(float (&d)[16], std::uint64_t desc_a, std::uint64_t desc_b, int accumulate) {
#if defined(DSA_SIMT)
  ::simt::wgmma_issue(::simt::wgmma_m64n32k16_bf16, d, desc_a, desc_b, nullptr, accumulate);
#else
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
      "%16, %17, p, 1, 1, 0, 0;\n"
      "}\n"
      :
        DSA_WGMMA_D8(0), DSA_WGMMA_D8(8)
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#endif
}

// D (64 x 64, fp32) = (accumulate ? D : 0) + A (64 x 16, bf16) * B (16 x 64, bf16),
// both K-major in shared memory (the seesaw MQA kernel's scores: one whole key tile).
__device__ __forceinline__ void wgmma_m64n64k16_bf16(float (&d)[32], std::uint64_t desc_a, std::uint64_t desc_b, int accumulate) {
#if defined(DSA_SIMT)
  ::simt::wgmma_issue(::simt::wgmma_m64n64k16_bf16, d, desc_a, desc_b, nullptr, accumulate);
#else
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, 0, 0;\n"
      "}\n"
      :
        DSA_WGMMA_D8(0), DSA_WGMMA_D8(8), DSA_WGMMA_D8(16), DSA_WGMMA_D8(24)
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#endif
}

// D (64 x 256, fp32) = (accumulate ? D : 0) + A (64 x 16, bf16, K-major) * B (16 x 256,
// bf16, MN-major: stored [k][n], read transposed).
__device__ __forceinline__ void wgmma_m64n256k16_bf16_bt(float (&d)[128], std::uint64_t desc_a, std::uint64_t desc_b, int accumulate) {
#if defined(DSA_SIMT)
  ::simt::wgmma_issue(::simt::wgmma_m64n256k16_bf16_bt, d, desc_a, desc_b, nullptr, accumulate);
#else
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "
      "%128, %129, p, 1, 1, 0, 1;\n"
      "}\n"
      :
        DSA_WGMMA_D8(0), DSA_WGMMA_D8(8), DSA_WGMMA_D8(16), DSA_WGMMA_D8(24),
        DSA_WGMMA_D8(32), DSA_WGMMA_D8(40), DSA_WGMMA_D8(48), DSA_WGMMA_D8(56),
        DSA_WGMMA_D8(64), DSA_WGMMA_D8(72), DSA_WGMMA_D8(80), DSA_WGMMA_D8(88),
        DSA_WGMMA_D8(96), DSA_WGMMA_D8(104), DSA_WGMMA_D8(112), DSA_WGMMA_D8(120)
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#endif
}

// D (64 x 128, fp32) = (accumulate ? D : 0) + A (64 x 16, bf16) * B (16 x 128, bf16),
// both K-major in shared memory.
__device__ __forceinline__ void wgmma_m64n128k16_bf16(float (&d)[64], std::uint64_t desc_a, std::uint64_t desc_b,
                                                      int accumulate) {
#if defined(DSA_SIMT)
  ::simt::wgmma_issue(::simt::wgmma_m64n128k16_bf16, d, desc_a, desc_b, nullptr, accumulate);
#else
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1, 0, 0;\n"
      "}\n"
      :
        DSA_WGMMA_D8(0), DSA_WGMMA_D8(8), DSA_WGMMA_D8(16), DSA_WGMMA_D8(24),
        DSA_WGMMA_D8(32), DSA_WGMMA_D8(40), DSA_WGMMA_D8(48), DSA_WGMMA_D8(56)
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#endif
}

// D (64 x 128, fp32) = (accumulate ? D : 0) + A (64 x 16, bf16, in registers: the
// mma.sync A fragment of each warp's 16 rows) * B (16 x 128, bf16, MN-major: stored
// [k][n], read transposed).
__device__ __forceinline__ void wgmma_m64n128k16_bf16_rs_bt(float (&d)[64], const std::uint32_t (&a)[4],
                                                            std::uint64_t desc_b, int accumulate) {
#if defined(DSA_SIMT)
  ::simt::wgmma_issue(::simt::wgmma_m64n128k16_bf16_rs_bt, d, 0, desc_b, a, accumulate);
#else
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n"
      "}\n"
      :
        DSA_WGMMA_D8(0), DSA_WGMMA_D8(8), DSA_WGMMA_D8(16), DSA_WGMMA_D8(24),
        DSA_WGMMA_D8(32), DSA_WGMMA_D8(40), DSA_WGMMA_D8(48), DSA_WGMMA_D8(56)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(accumulate));
#endif
}

}  // namespace dsa::cuda
