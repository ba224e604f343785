// Included first (-include) in every kernel source the SIMT emulator compiles with the
// host compiler (after translate.py has rewritten its launches and shared-memory
// declarations): CUDA's device keywords, built-in variables and intrinsics, mapped onto
// the scheduler (scheduler.h). Only what the emulated kernels use is here; a kernel
// using more fails to compile, which says what to add.
#pragma once

#include <cuda_runtime.h>
#include <math.h>  // device code's fmaxf, exp2f, log2f: the C library's here

#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <type_traits>

#include "scheduler.h"
#include "tensor_core.h"

// The project's headers take their emulator branches (kernels/cuda/mma.cuh, wgmma.cuh,
// sync.cuh) where the GPU's take inline PTX.
#define DSA_SIMT 1

// cuda_runtime.h, read by a host compiler, defines these as attributes it ignores.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#undef __launch_bounds__
#undef __restrict__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#undef __grid_constant__
#define __grid_constant__
// translate.py has rewritten every __shared__ declaration; one left over is an error.
#define __shared__ static_assert(false, "a __shared__ declaration translate.py did not rewrite");

namespace simt::detail {

inline uint3 to_uint3(const Dim& d) { return make_uint3(d.x, d.y, d.z); }
inline dim3 to_dim3(const Dim& d) { return dim3(d.x, d.y, d.z); }

template <class T>
std::uint64_t bits_of(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp operands of up to 8 bytes");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

template <class T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace simt::detail

#define threadIdx (::simt::detail::to_uint3(::simt::here().thread))
#define blockIdx (::simt::detail::to_uint3(::simt::here().block))
#define blockDim (::simt::detail::to_dim3(::simt::here().block_dim))
#define gridDim (::simt::detail::to_dim3(::simt::here().grid_dim))

inline void __syncthreads() { ::simt::block_barrier(); }
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu) { ::simt::warp_exchange(::simt::WarpOp::sync, mask, 0, 0, 32); }
// Blocks run one at a time and a thread runs until it waits: every store is seen.
inline void __threadfence() {}
inline void __threadfence_block() {}

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  return ::simt::detail::from_bits<T>(
      ::simt::warp_exchange(::simt::WarpOp::shfl_idx, mask, ::simt::detail::bits_of(v), src, width));
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::simt::detail::from_bits<T>(::simt::warp_exchange(::simt::WarpOp::shfl_up, mask, ::simt::detail::bits_of(v),
                                                            static_cast<int>(delta), width));
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::simt::detail::from_bits<T>(::simt::warp_exchange(::simt::WarpOp::shfl_down, mask, ::simt::detail::bits_of(v),
                                                            static_cast<int>(delta), width));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::simt::detail::from_bits<T>(
      ::simt::warp_exchange(::simt::WarpOp::shfl_xor, mask, ::simt::detail::bits_of(v), lane_mask, width));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return static_cast<unsigned>(::simt::warp_exchange(::simt::WarpOp::ballot, mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) {
  return static_cast<int>(::simt::warp_exchange(::simt::WarpOp::all, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) {
  return static_cast<int>(::simt::warp_exchange(::simt::WarpOp::any, mask, pred != 0, 0, 32));
}
template <class T>
unsigned __match_any_sync(unsigned mask, T v) {
  return static_cast<unsigned>(::simt::warp_exchange(::simt::WarpOp::match_any, mask, ::simt::detail::bits_of(v), 0, 32));
}

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline unsigned __float_as_uint(float f) { return ::simt::detail::from_bits<unsigned>(::simt::detail::bits_of(f)); }
inline float __uint_as_float(unsigned u) { return ::simt::detail::from_bits<float>(::simt::detail::bits_of(u)); }
inline int __float_as_int(float f) { return ::simt::detail::from_bits<int>(::simt::detail::bits_of(f)); }
inline float __int_as_float(int i) { return ::simt::detail::from_bits<float>(::simt::detail::bits_of(i)); }

// Cache-hinted loads: a plain load here.
template <class T>
T __ldg(const T* p) { return *p; }
template <class T>
T __ldcg(const T* p) { return *p; }
template <class T>
T __ldcs(const T* p) { return *p; }

// Atomics: threads switch only at barriers and warp operations, so a read-modify-write
// is never interleaved.
namespace simt::detail {
template <class T, class Op>
T read_modify_write(T* p, Op op) {
  const T old = *p;
  *p = op(old);
  return old;
}
}  // namespace simt::detail

template <class T>
T atomicAdd(T* p, T v) { return ::simt::detail::read_modify_write(p, [v](T o) { return static_cast<T>(o + v); }); }
template <class T>
T atomicOr(T* p, T v) { return ::simt::detail::read_modify_write(p, [v](T o) { return static_cast<T>(o | v); }); }
template <class T>
T atomicAnd(T* p, T v) { return ::simt::detail::read_modify_write(p, [v](T o) { return static_cast<T>(o & v); }); }
template <class T>
T atomicMax(T* p, T v) { return ::simt::detail::read_modify_write(p, [v](T o) { return v > o ? v : o; }); }
template <class T>
T atomicMin(T* p, T v) { return ::simt::detail::read_modify_write(p, [v](T o) { return v < o ? v : o; }); }
template <class T>
T atomicExch(T* p, T v) { return ::simt::detail::read_modify_write(p, [v](T) { return v; }); }
template <class T>
T atomicCAS(T* p, T compare, T v) {
  return ::simt::detail::read_modify_write(p, [compare, v](T o) { return o == compare ? v : o; });
}

inline std::size_t __cvta_generic_to_shared(const void* p) { return ::simt::shared_offset(p); }
[[noreturn]] inline void __trap() { ::simt::fail("__trap"); }

inline long long clock64() {
  static long long ticks = 0;
  return ++ticks;
}

// CUDA's integer min and max for device code (the host's are std::min and std::max).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }

// The runtime's typed form (cuda_runtime.h declares it for nvcc only).
template <class... Params>
cudaError_t cudaFuncSetAttribute(void (*kernel)(Params...), cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}

namespace simt {

// Block-shared storage for one __shared__ declaration (translate.py): `T` may be an
// array type; the bytes are the block's, filled at its start.
template <class T>
T& shared_var(int id) {
  return *static_cast<T*>(block_shared(id, sizeof(T), alignof(T)));
}

template <class T>
T* dynamic_shared_as() {
  return static_cast<T*>(dynamic_shared());
}

// The launch limits a GPU checks (kernel_launch.cpp): dynamic shared memory within the
// kernel's opt-in (cudaFuncSetAttribute), within the device's 227 KB.
std::string check_launch(const void* kernel, std::size_t dynamic_bytes);
void set_launch_error(const std::string& why);

// `kernel<<<grid, block, smem, stream>>>(args...)`, as translate.py rewrites it.
template <class... Params>
struct Launcher {
  void (*kernel)(Params...);
  dim3 grid, block;
  std::size_t smem;

  template <class... Args>
  void operator()(Args&&... args) const {
    const std::string refused = check_launch(reinterpret_cast<const void*>(kernel), smem);
    if (!refused.empty()) return set_launch_error(refused);
    // Each thread gets its own copy of the arguments, as kernel parameters are.
    auto bound = [k = kernel, a = std::make_tuple(static_cast<Params>(args)...)]() { std::apply(k, a); };
    set_launch_error(run_grid(Dim{grid.x, grid.y, grid.z}, Dim{block.x, block.y, block.z}, smem, bound));
  }
};

template <class... Params>
Launcher<Params...> launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem = 0, cudaStream_t = nullptr) {
  return Launcher<Params...>{kernel, grid, block, smem};
}

}  // namespace simt
