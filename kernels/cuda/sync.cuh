// Synchronisation between warpgroups of one block, beyond __syncthreads (device code,
// sm_90): named barriers for one warpgroup handing data to another without stopping
// itself, and shared-memory mbarriers that complete when a set of threads' cp.async
// copies (or one thread's bulk tensor copies, TMA) have landed, so the thread that
// waits for a tile need not be the one that loaded it.
#pragma once

#include <cstdint>

namespace dsa::cuda {

// Named barrier `id` (1-15; 0 is __syncthreads) over `threads` threads (a multiple of
// 32). bar_arrive counts this thread in and goes on; bar_sync counts it in and waits
// until all have. A producer warpgroup arrives after writing, the consumer syncs
// before reading: the barrier orders the producer's earlier shared-memory writes
// before the consumer's later reads.
#if defined(DSA_SIMT)  // the CPU emulator (tests/simt/): the same operations, blocking where they wait
__device__ __forceinline__ void bar_sync(int id, int threads) { ::simt::named_barrier(id, threads, true); }
__device__ __forceinline__ void bar_arrive(int id, int threads) { ::simt::named_barrier(id, threads, false); }
__device__ __forceinline__ std::uint32_t smem_addr(const void* p) { return ::simt::shared_offset(p); }
__device__ __forceinline__ void mbar_init(std::uint64_t* bar, std::uint32_t count) { ::simt::mbarrier_init(smem_addr(bar), count); }
__device__ __forceinline__ void fence_mbarrier_init() { ::simt::mbarrier_init_fence(); }
__device__ __forceinline__ void mbar_arrive_on_cp_async(std::uint64_t* bar) { ::simt::cp_async_arrive(smem_addr(bar)); }
__device__ __forceinline__ void mbar_arrive_expect_tx(std::uint64_t* bar, std::uint32_t bytes) {
  ::simt::mbarrier_arrive(smem_addr(bar), bytes);
}
__device__ __forceinline__ void tma_load_3d(void* dst, const void* tmap, int x, int y, int z, std::uint64_t* bar) {
  ::simt::tma_load_3d(dst, tmap, x, y, z, smem_addr(bar));
}
__device__ __forceinline__ bool mbar_try_wait(std::uint32_t bar_addr, std::uint32_t parity) {
  return ::simt::mbarrier_try_wait(bar_addr, parity);
}
__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, std::uint32_t parity) {
  ::simt::mbarrier_wait(smem_addr(bar), parity);
}
#else
__device__ __forceinline__ void bar_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// A shared-memory barrier (8 bytes, 8-byte aligned) expecting `count` arrivals per
// phase. Initialise from one thread, then __syncthreads before anyone uses it.
__device__ __forceinline__ void mbar_init(std::uint64_t* bar, std::uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}

// Makes the initialised mbarriers visible to the async proxy (the TMA unit that
// completes their transactions); from the initialising thread, before the barrier that
// publishes them.
__device__ __forceinline__ void fence_mbarrier_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

// Counts this thread in on `bar` once every cp.async it has issued so far has landed
// (.noinc: the arrival is one of the `count` the barrier was initialised with).
__device__ __forceinline__ void mbar_arrive_on_cp_async(std::uint64_t* bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(smem_addr(bar)) : "memory");
}

// Counts this thread in on `bar` and adds `bytes` to the transactions the phase waits
// for (the bulk copies that name `bar` complete them as their bytes land).
__device__ __forceinline__ void mbar_arrive_expect_tx(std::uint64_t* bar, std::uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}

// One box of a 3-D tensor map (TMA) at element coordinates (x, y, z) into shared memory
// at `dst`, completing `bytes` (the whole box, out-of-bounds elements as zeros) on
// `bar`. `tmap` is the address of a __grid_constant__ kernel parameter; `dst` holds
// the swizzle the map names (128-byte swizzle: 1024-byte aligned).
__device__ __forceinline__ void tma_load_3d(void* dst, const void* tmap, int x, int y, int z, std::uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];\n" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<std::uint64_t>(tmap)), "r"(x), "r"(y), "r"(z), "r"(smem_addr(bar))
      : "memory");
}

// Waits until the phase of `bar` with this parity has completed (phase n has parity
// n & 1). The waiter must not fall two phases behind: nothing may complete phase n + 1
// before every waiter for phase n has seen it. A wait of more than about 10 s (2^34
// cycles) traps: a kernel whose hand-offs are wrong then fails its launch with an error
// instead of hanging the process.
__device__ __forceinline__ bool mbar_try_wait(std::uint32_t bar_addr, std::uint32_t parity) {
  std::uint32_t done = 0;
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n"
      "}\n"
      : "=r"(done)
      : "r"(bar_addr), "r"(parity)
      : "memory");
  return done != 0;
}
__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, std::uint32_t parity) {
  const std::uint32_t a = smem_addr(bar);
  if (mbar_try_wait(a, parity)) return;
  const long long start = clock64();
  while (!mbar_try_wait(a, parity))
    if (clock64() - start > (1ll << 34)) __trap();
}

#endif

}  // namespace dsa::cuda
